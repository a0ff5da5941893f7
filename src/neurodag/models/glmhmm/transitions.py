"""Transitions of the GLM-HMM: stationary (closed form) or driven by inputs (a GLM).

Stationary: the M-step adds a Dirichlet prior to the expected counts, ``pseudocount`` to
every entry (a Dirichlet(alpha) prior per row has ``pseudocount = alpha - 1``; Ashwood et
al. 2022 use alpha = 2) and ``stickiness`` more on the diagonal (ssm's "sticky" kappa).

Input-driven (ssm's ``InputDrivenTransitions``): the probability of moving from state i
to state j into bin t is ``softmax_j(log_P[i, j] + w_j . u_t)``, a baseline matrix plus a
weight vector per destination state acting on the covariates ``u_t``. Its M-step
maximises the expected log-probability of the transitions (per-bin posteriors from the
E-step) plus the same Dirichlet prior on ``softmax(log_P)`` and a ridge ``l2`` on the
weights, a smooth concave problem solved by scipy's L-BFGS-B (gradient in closed form),
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


def input_driven_mstep(xi, U, log_P, weights, *, pseudocount=1.0, stickiness=0.0, l2=1e-2,
                       max_iter=100):
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
    log_P, weights : tensors (the rows of ``log_P`` normalised)
    """
    from scipy.optimize import minimize

    keep = xi.sum((1, 2)) > 0
    xi, U = xi[keep], U[keep]
    departures = xi.sum(-1)  # (T, S): expected departures from each state
    S, M = weights.shape
    n = max(float(xi.sum()), 1.0)
    eye = torch.eye(S, dtype=xi.dtype, device=xi.device)

    def f(theta):
        th = torch.as_tensor(theta, dtype=xi.dtype, device=xi.device)
        lp, w = th[:S * S].reshape(S, S), th[S * S:].reshape(S, M)
        logits = lp[None] + (U @ w.T)[:, None, :]
        lse = torch.logsumexp(logits, dim=-1)
        logp = lp - torch.logsumexp(lp, dim=-1, keepdim=True)
        val = ((xi * logits).sum() - (departures * lse).sum() + pseudocount * logp.sum()
               + stickiness * logp.diagonal().sum() - 0.5 * l2 * (w ** 2).sum())
        G = xi - departures[..., None] * torch.exp(logits - lse[..., None])
        g_lp = G.sum(0) + pseudocount + stickiness * eye - (S * pseudocount + stickiness) \
            * torch.exp(logp)
        g_w = G.sum(1).T @ U - l2 * w
        grad = torch.cat([g_lp.reshape(-1), g_w.reshape(-1)])
        return -float(val) / n, -(grad / n).cpu().numpy()

    x0 = torch.cat([log_P.reshape(-1), weights.reshape(-1)]).cpu().numpy()
    res = minimize(f, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": 1e-9, "ftol": 1e-14})
    th = torch.as_tensor(res.x, dtype=xi.dtype, device=xi.device)
    lp = th[:S * S].reshape(S, S)
    return lp - torch.logsumexp(lp, dim=-1, keepdim=True), th[S * S:].reshape(S, M)
