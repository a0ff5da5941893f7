"""Transitions of the GLM-HMM: stationary (closed form) or driven by inputs (a GLM).

Stationary: the M-step adds a Dirichlet prior to the expected counts, ``pseudocount`` to
every entry (a Dirichlet(alpha) prior per row has ``pseudocount = alpha - 1``; Ashwood et
al. 2022 use alpha = 2) and ``stickiness`` more on the diagonal (ssm's "sticky" kappa).

Input-driven (ssm's ``InputDrivenTransitions``): the probability of moving from state i
to state j into bin t is ``softmax_j(log_P[i, j] + w_j . u_t)``, a baseline matrix plus a
weight vector per destination state acting on the covariates ``u_t``. Its M-step
maximises the expected log-probability of the transitions (per-bin posteriors from the
E-step) plus the same Dirichlet prior on ``softmax(log_P)`` and a ridge ``l2`` on the
weights, a smooth concave problem solved by torch's L-BFGS (strong Wolfe line search),
warm-started from the previous iteration.
"""

from __future__ import annotations

import torch


def stationary_mstep(xi_sum, gamma0, pseudocount: float, stickiness: float = 0.0):
    """Closed-form transition matrix and initial distribution from expected counts."""
    S = xi_sum.shape[0]
    counts = xi_sum + pseudocount + stickiness * torch.eye(S, dtype=xi_sum.dtype,
                                                            device=xi_sum.device)
    start = gamma0.sum(0) + pseudocount
    return counts / counts.sum(1, keepdim=True), start / start.sum()


def log_matrices(log_P, weights, U):
    """Log transition matrix of every bin, (T, S, S), rows normalised."""
    logits = log_P[None] + (U @ weights.T)[:, None, :]
    return logits - torch.logsumexp(logits, dim=-1, keepdim=True)


def matrices(log_P, weights, U):
    """Transition matrix of every bin, (T, S, S)."""
    return torch.exp(log_matrices(log_P, weights, U))


def _prior(log_P, weights, pseudocount, stickiness, l2):
    logp = log_P - torch.logsumexp(log_P, dim=-1, keepdim=True)
    out = pseudocount * logp.sum() + stickiness * logp.diagonal().sum()
    return out - 0.5 * l2 * (weights ** 2).sum()


def input_driven_mstep(xi, U, log_P, weights, *, pseudocount=1.0, stickiness=0.0, l2=1e-2,
                       max_iter=50):
    """Maximise the expected transition log-probability in (log_P, weights).

    Parameters
    ----------
    xi : tensor, shape (T, S, S)
        Expected transitions into every bin (zero at sequence starts).
    U : tensor, shape (T, M)
        Covariates.
    log_P : tensor, shape (S, S);  weights : tensor, shape (S, M)
        Starting point.

    Returns
    -------
    log_P, weights : tensors
    """
    keep = xi.sum((1, 2)) > 0
    xi, U = xi[keep], U[keep]
    from_counts = xi.sum(-1)  # (T, S): expected departures from each state
    lp = log_P.detach().clone().requires_grad_(True)
    w = weights.detach().clone().requires_grad_(True)
    n = max(float(xi.sum()), 1.0)

    def loss():
        logits = lp[None] + (U @ w.T)[:, None, :]
        lse = torch.logsumexp(logits, dim=-1)
        val = (xi * logits).sum() - (from_counts * lse).sum()
        val = val + _prior(lp, w, pseudocount, stickiness, l2)
        return -val / n

    opt = torch.optim.LBFGS([lp, w], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        v = loss()
        v.backward()
        return v

    opt.step(closure)
    with torch.no_grad():
        lp = lp - torch.logsumexp(lp, dim=-1, keepdim=True)  # rows normalised (same model)
    return lp.detach(), w.detach()
