"""Categorical outputs of the GLM-HMM (a multinomial logistic regression per state).

Output n takes one of C classes; in state s its class probabilities are
``softmax([0, eta_1, ..., eta_{C-1}])`` with ``eta_k = W1[s, n, k] . [1, z_t]``: class 0 is
the reference, so that C = 2 is the Bernoulli model with ``p(1) = sigmoid(eta)`` (ssm's
``InputDrivenObservations`` takes the last class as reference; the model is the same up to
the sign of the weights). Parameters ``W1`` have shape (S, N, C - 1, D + 1), biases first.

The M-step is Newton's method per (state, output) on its (C - 1)(D + 1) parameters, the
curvature ``sum_t w_t (diag p_t - p_t p_t^T) (x) z1_t z1_t^T`` built, like the GLM's, from one
GEMM against the upper triangles of ``z1_t z1_t^T`` (:func:`.newton.outer_products`); a
Gaussian prior (precision ``prior_prec``) on the weights,
not the biases; the line search of :func:`.newton.line_search`.
"""

from __future__ import annotations

import torch

from .emissions import chunks
from .newton import line_search


def _log_probs(Z1, W1s):
    """log class probabilities (Tc, ..., C) for W1s of shape (..., K, D1)."""
    eta = torch.einsum("ti,...ki->t...k", Z1, W1s)
    eta = torch.cat([torch.zeros_like(eta[..., :1]), eta], dim=-1)
    return torch.log_softmax(eta, dim=-1)


def _picked(logp, x):
    """log p of the observed class: logp (Tc, ..., N, C), x (Tc, N) labels."""
    idx = x.long()
    idx = idx.reshape(idx.shape[0], *([1] * (logp.dim() - 3)), idx.shape[1], 1)
    return torch.gather(logp, -1, idx.expand(*logp.shape[:-1], 1))[..., 0]


def log_emissions(X, Z1, W1, mask=None) -> torch.Tensor:
    """log p(x_t | z_t = s) summed over outputs: (T, S)."""
    T = X.shape[0]
    S, N, K, _ = W1.shape
    out = torch.empty(T, S, dtype=X.dtype, device=X.device)
    for sl in chunks(T, S * N * (K + 1) * 3):
        ll = _picked(_log_probs(Z1[sl], W1), X[sl])  # (Tc, S, N)
        if mask is not None:
            ll = ll * mask[sl, None, :]
        out[sl] = ll.sum(-1)
    return out


def _state_objective(X, Z1, gamma, W1s, s, mask):
    N = W1s.shape[0]
    obj = torch.zeros(N, dtype=X.dtype, device=X.device)
    for sl in chunks(X.shape[0], N * W1s.shape[1] * 4):
        w = gamma[sl, s, None] if mask is None else gamma[sl, s, None] * mask[sl]
        obj += (w * _picked(_log_probs(Z1[sl], W1s), X[sl])).sum(0)
    return obj


def _state_terms(X, Z1, gamma, W1s, s, mask, zz, iu):
    """Objective (N,), gradient (N, K, D1) and curvature (N, K, K, n_tri) of state s."""
    N, K, D1 = W1s.shape
    obj = torch.zeros(N, dtype=X.dtype, device=X.device)
    g = torch.zeros(N, K, D1, dtype=X.dtype, device=X.device)
    h = torch.zeros(N * K * K, iu.shape[1], dtype=torch.float32, device=X.device)
    for sl in chunks(X.shape[0], N * K * (K + 4) + iu.shape[1]):
        Zc = Z1[sl]
        logp = _log_probs(Zc, W1s)  # (Tc, N, C)
        w = gamma[sl, s, None] if mask is None else gamma[sl, s, None] * mask[sl]  # (Tc, N)
        obj += (w * _picked(logp, X[sl])).sum(0)
        p = torch.exp(logp[..., 1:])  # (Tc, N, K)
        onehot = torch.nn.functional.one_hot(X[sl].long(), K + 1)[..., 1:].to(p.dtype)
        g += torch.einsum("tnk,ti->nki", w[..., None] * (onehot - p), Zc)
        A = torch.diag_embed(p) - p[..., :, None] * p[..., None, :]  # (Tc, N, K, K)
        ZZt = zz[:, sl] if zz is not None else (Zc[:, iu[0]] * Zc[:, iu[1]]).float().T
        h += (ZZt @ (w[..., None, None] * A).reshape(Zc.shape[0], -1).float()).T
    return obj, g, h.reshape(N, K, K, -1)


def newton_step(X, Z1, gamma, W1, *, mask=None, prior_prec=0.0, max_iter=1, tol=1e-6,
                zz=None):
    """Newton steps on the posterior-weighted categorical log-likelihood (+ Gaussian prior).

    Shapes as in :func:`log_emissions`; returns the new ``W1`` and its objective.
    """
    S, N, K, D1 = W1.shape
    P = K * D1
    iu = torch.triu_indices(D1, D1, device=W1.device)
    # the prior acts on the weights, not on the biases (column 0)
    pmask = torch.ones(K, D1, dtype=W1.dtype, device=W1.device)
    pmask[:, 0] = 0

    def penalised(W, obj):
        return obj - 0.5 * prior_prec * ((W * pmask) ** 2).sum((-2, -1)) if prior_prec else obj

    def objectives(W):
        return torch.stack([_state_objective(X, Z1, gamma, W[s], s, mask) for s in range(S)])

    new = None
    for _ in range(max_iter):
        terms = [_state_terms(X, Z1, gamma, W1[s], s, mask, zz, iu) for s in range(S)]
        cur = penalised(W1, torch.stack([t[0] for t in terms]))
        g = torch.stack([t[1] for t in terms]) - prior_prec * W1 * pmask
        tri = torch.stack([t[2] for t in terms]).to(W1.dtype)  # (S, N, K, K, n_tri)
        zz_full = torch.zeros(*tri.shape[:-1], D1, D1, dtype=W1.dtype, device=W1.device)
        zz_full[..., iu[0], iu[1]] = tri
        zz_full[..., iu[1], iu[0]] = tri
        # (S, N, K, K, D1, D1) -> (S, N, K D1, K D1)
        H = zz_full.permute(0, 1, 2, 4, 3, 5).reshape(S, N, P, P)
        H = H + prior_prec * torch.diag_embed(pmask.reshape(-1)).expand(S, N, P, P)
        eye = torch.eye(P, dtype=W1.dtype, device=W1.device)
        scale = H.diagonal(dim1=-2, dim2=-1).mean(-1).clamp(min=1.0)[..., None, None]
        L, info = torch.linalg.cholesky_ex(H + 1e-9 * scale * eye)
        if bool((info > 0).any()):
            L = torch.linalg.cholesky(H + 1e-5 * scale * eye)
        delta = torch.cholesky_solve(g.reshape(S, N, P, 1), L).reshape(S, N, K, D1)
        W1, new, moved, _ = line_search(W1, delta, cur,
                                        lambda W: (penalised(W, objectives(W)), None))
        if moved < tol:
            break
    return W1, float(new.sum())
