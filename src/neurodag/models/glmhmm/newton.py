"""The GLM M-step of the GLM-HMM: damped Newton batched over states and outputs.

Maximises, for every state s and output n, the posterior-weighted log-likelihood
``sum_t gamma[t, s] m[t, n] log p(x[t, n] | eta[t, s, n])`` (``m`` the mask of observed
values) plus an optional Gaussian prior on the weights, in ``W1 = [b | W]``. Each Newton
system is (D + 1) x (D + 1) per (state, output), all solved at once (batched Cholesky);
with a bias shared across states, the states of one output are coupled only through the
bias and the system is solved exactly by a Schur complement. A backtracking line search
accepts each (state, output) step separately.

What keeps an EM iteration cheap (its cost is here, not in the E-step): the data are
streamed in chunks of bins small enough to stay in cache, and each chunk is used for all
it can give while it is there.

- *Two passes per iteration*: one at the current parameters gives the objective, the
  gradient and the curvature of every (state, output); one at the line search's trial
  gives the trial objective and the log-emissions of the next E-step (returned, so that
  the E-step needs no pass of its own when every step is accepted).
- *The curvature in one GEMM per chunk*: ``sum_t c[t, s, n] z1_t z1_t^T`` for every state
  and output is one product of ``(gamma c)^T`` with the upper triangles of the outer
  products ``z1_t z1_t^T`` (computed once per fit by :func:`outer_products` when they
  fit in memory), in float32. The curvature only steers the step: the objective and the
  gradient are in the working precision, and the line search guards every step.
"""

from __future__ import annotations

import torch

from .emissions import chunks, fused, loglik, predictor

#: Largest cache of outer products kept for a fit, in bytes.
OUTER_CACHE_BYTES = 256 * 2**20
#: Largest evaluation a line search keeps for the next M-step (log-likelihood in the
#: working precision, derivative and curvature in float32, per bin, state and output).
KEEP_BYTES = 256 * 2**20


def outer_products(Z1: torch.Tensor) -> torch.Tensor | None:
    """Upper triangles of ``z1_t z1_t^T`` of every bin in float32, (K, T) (bins last, so
    that each product is one contiguous row); None if too big."""
    T, D1 = Z1.shape
    K = D1 * (D1 + 1) // 2
    if T * K * 4 > OUTER_CACHE_BYTES:
        return None
    out = torch.empty(K, T, dtype=torch.float32, device=Z1.device)
    Zt = Z1.T.float().contiguous()
    off = 0
    for i in range(D1):  # row i of the upper triangle: z_i * z_j for j >= i
        torch.mul(Zt[i:i + 1], Zt[i:], out=out[off:off + D1 - i])
        off += D1 - i
    return out


def _full(h_up, iu, S, N, D1, dtype):
    Hs = torch.empty(S * N, D1, D1, dtype=dtype, device=h_up.device)
    up = h_up.reshape(S * N, -1).to(dtype)
    Hs[:, iu[0], iu[1]] = up
    Hs[:, iu[1], iu[0]] = up
    return Hs.reshape(S, N, D1, D1)


def _direction(g, Hs, W1, share_bias, prior_mean, prior_prec):
    """Newton direction in ``W1`` from the gradient (S, N, D1) and curvature (S, N, D1, D1)."""
    S, N, D1 = W1.shape
    eye = torch.eye(D1 - 1, dtype=W1.dtype, device=W1.device)
    gb, gw = g[..., 0], g[..., 1:]
    if prior_prec:
        gw = gw - prior_prec * (W1[..., 1:] - prior_mean)
    A = Hs[..., 1:, 1:] + prior_prec * eye
    scale = A.diagonal(dim1=-2, dim2=-1).mean(-1).clamp(min=1.0)[..., None, None]
    L, info = torch.linalg.cholesky_ex(A + 1e-9 * scale * eye)
    if bool((info > 0).any()):
        L = torch.linalg.cholesky(A + 1e-5 * scale * eye)
    hbw, hbb = Hs[..., 1:, 0], Hs[..., 0, 0]
    sol = torch.cholesky_solve(torch.stack([gw, hbw], -1), L)
    if share_bias:
        schur = (hbb - (hbw * sol[..., 1]).sum(-1)).sum(0)
        rhs = (gb - (hbw * sol[..., 0]).sum(-1)).sum(0)
        db = (rhs / (schur + 1e-9 * schur.abs().clamp(min=1.0))).expand(S, N)
    else:
        schur = hbb - (hbw * sol[..., 1]).sum(-1)
        db = (gb - (hbw * sol[..., 0]).sum(-1)) / (schur + 1e-9 * schur.abs().clamp(min=1.0))
    return torch.cat([db[..., None], sol[..., 0] - sol[..., 1] * db[..., None]], -1)


def can_keep(T: int, S: int, N: int, itemsize: int = 8) -> bool:
    """Whether a line search's evaluation fits :data:`KEEP_BYTES`."""
    return T * S * N * (itemsize + 8) <= KEEP_BYTES


def _terms(X, Z1, gamma, W1, emission, link, var, mask, zz, iu, kept=None):
    """Objective (S, N), gradient (S, N, D1) and upper-triangle curvature (S, N, n_tri,
    float32) at ``W1``, in one pass (from ``kept``, the evaluation of ``W1`` by the last
    line search, when given)."""
    S, N, D1 = W1.shape
    obj = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    g = torch.zeros(S, N, D1, dtype=X.dtype, device=X.device)
    h = torch.zeros(S, N, iu.shape[1], dtype=torch.float32, device=X.device)
    for sl in chunks(X.shape[0], S * N * 8 + iu.shape[1]):
        Zc = Z1[sl]
        if kept is None:
            ll, d1, c = fused(X[sl, None, :], predictor(Zc, W1), emission, link, var)
            if mask is not None:
                m = mask[sl, None, :]
                ll, d1, c = ll * m, d1 * m, c * m
        else:
            ll, d1, c = kept["ll"][sl], kept["d1"][sl], kept["c"][sl]
        w = gamma[sl, :, None]
        obj += (w * ll).sum(0)
        g += ((w * d1).reshape(-1, S * N).T @ Zc).reshape(S, N, D1)
        ZZt = zz[:, sl] if zz is not None else (Zc[:, iu[0]] * Zc[:, iu[1]]).float().T
        h += (ZZt @ (w * c).reshape(-1, S * N).float()).T.reshape(S, N, -1)
    return obj, g, h


def _trial(X, Z1, gamma, W1, emission, link, var, mask, const, keep):
    """Objective (S, N) at a trial ``W1`` and its log-emissions (T, S), in one pass; with
    ``keep``, also the masked log-likelihood, derivative and curvature of every (bin,
    state, output), for the next M-step's :func:`_terms`."""
    T = X.shape[0]
    S, N, _ = W1.shape
    obj = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    log_e = torch.empty(T, S, dtype=X.dtype, device=X.device)
    kept = None
    if keep:
        kept = {"ll": torch.empty(T, S, N, dtype=X.dtype, device=X.device),
                "d1": torch.empty(T, S, N, dtype=torch.float32, device=X.device),
                "c": torch.empty(T, S, N, dtype=torch.float32, device=X.device)}
    for sl in chunks(T, S * N * (8 if keep else 4)):
        eta = predictor(Z1[sl], W1)
        if keep:
            ll, d1, c = fused(X[sl, None, :], eta, emission, link, var)
        else:
            ll = loglik(X[sl, None, :], eta, emission, link, var, const=False)
        if mask is not None:
            m = mask[sl, None, :]
            ll = ll * m
            if keep:
                d1, c = d1 * m, c * m
        obj += (gamma[sl, :, None] * ll).sum(0)
        log_e[sl] = ll.sum(-1)
        if keep:
            kept["ll"][sl], kept["d1"][sl], kept["c"][sl] = ll, d1, c
    if const is not None:
        log_e += const[:, None]
    return obj, log_e, kept


def newton_step(X, Z1, gamma, W1, *, emission, link, var=None, mask=None, share_bias=True,
                prior_mean=None, prior_prec=0.0, max_iter=10, tol=1e-6, zz=None,
                const=None, kept=None):
    """Maximise the weighted log-likelihood (+ Gaussian prior on W) in ``W1 = [b | W]``.

    Parameters
    ----------
    X : tensor, shape (T, N)
        Observations.
    Z1 : tensor, shape (T, D + 1)
        ``[1 | features]``.
    gamma : tensor, shape (T, S)
        Posterior weight of each state in each bin.
    W1 : tensor, shape (S, N, D + 1)
        Starting point (the bias columns equal across states when ``share_bias``).
    mask : tensor, shape (T, N), optional
        1 where observed, 0 where missing.
    prior_mean : tensor, shape (N, D), optional
        Mean of the Gaussian prior on every W[s] (not on the bias); ``prior_prec`` is
        its precision (1 / sigma**2); zero mean when None.
    zz : tensor, optional
        :func:`outer_products` of ``Z1``.
    const : tensor, shape (T,), optional
        Constant part of each bin's log-likelihood, added to the returned log-emissions.
    kept : dict, optional
        A previous call's evaluation at ``W1`` (its fourth output): the first iteration
        then needs no pass of its own. Pass ``{}`` to ask for one when it fits in memory.

    Returns
    -------
    W1 : tensor
        The new parameters.
    obj : float
        Objective at the returned parameters (prior included).
    log_e : tensor (T, S) or None
        Log-emissions at the returned parameters, when the last line search accepted every
        (state, output) at one trial (else None: the caller computes them).
    kept : dict or None
        The evaluation at the returned parameters (same condition; only when ``kept`` was
        given and it fits :data:`KEEP_BYTES`).
    """
    S, N, D1 = W1.shape
    iu = torch.triu_indices(D1, D1, device=W1.device)
    if prior_prec and prior_mean is None:
        prior_mean = torch.zeros(N, D1 - 1, dtype=W1.dtype, device=W1.device)

    def penalised(W1_, obj_sn):
        if prior_prec:
            obj_sn = obj_sn - 0.5 * prior_prec * ((W1_[..., 1:] - prior_mean) ** 2).sum(-1)
        return obj_sn.sum(0) if share_bias else obj_sn

    keep = kept is not None and can_keep(X.shape[0], S, N, X.element_size())
    prev = kept if kept else None

    def trial(W):
        obj, log_e, e = _trial(X, Z1, gamma, W, emission, link, var, mask, const, keep)
        return penalised(W, obj), (log_e, e)

    new, out = None, None
    for _ in range(max_iter):
        obj, g, h = _terms(X, Z1, gamma, W1, emission, link, var, mask, zz, iu, prev)
        delta = _direction(g, _full(h, iu, S, N, D1, W1.dtype), W1, share_bias, prior_mean,
                           prior_prec)
        W1, new, moved, out = line_search(W1, delta, penalised(W1, obj), trial,
                                          (S, N) if share_bias else None)
        prev = None if out is None else out[1]
        if moved < tol:
            break
    log_e, kept = (None, None) if out is None else out
    return W1, float(new.sum()), log_e, kept


def line_search(W1, delta, cur, evaluate, expand=None, max_halvings: int = 12):
    """Backtracking along ``delta`` for every (state, output) separately.

    ``evaluate(W1)`` returns the objective with the shape of ``cur`` and something computed
    with it (or None); ``expand`` is the (state, output) shape when ``cur`` is per output
    only (a bias shared by the states). Returns the new parameters, their objective, the
    largest accepted move, and the second output of ``evaluate`` when every (state,
    output) was accepted at the same trial (else None).
    """
    def grow(v):
        return v if expand is None else v.expand(*expand)

    tail = (None,) * (delta.dim() - 2)
    step = torch.ones_like(cur)
    accepted = torch.zeros_like(cur, dtype=torch.bool)
    W_new, new, extra = W1, cur, None
    for _ in range(max_halvings):
        W_try = W1 + grow(step)[(...,) + tail] * delta
        val, e = evaluate(W_try)
        # accept a rise, or a change within rounding of the objective
        ok = (val >= cur - 1e-11 * (cur.abs() + 1)) & ~accepted & torch.isfinite(val)
        W_new = torch.where(grow(ok)[(...,) + tail], W_try, W_new)
        new = torch.where(ok, val, new)
        extra = e if bool(ok.all()) else None
        accepted |= ok
        if bool(accepted.all()):
            break
        step = torch.where(accepted, step, step / 2)
    moved = float((delta * grow(step * accepted)[(...,) + tail]).abs().amax())
    return W_new, new, moved, extra
