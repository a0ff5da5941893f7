"""Non-negative CP decomposition of a 3-way tensor by HALS, with structured missing entries.

Model: ``X[i, j, k] ~ sum_r A[i, r] B[j, r] C[k, r]`` with ``A, B, C >= 0``, fitted by
least squares over the observed entries, ``W[i, j, k] = M0[i, k] * M1[j, k]`` (``M0``,
``M1`` boolean; the affinity tensor's ``pair_observed`` and ``window_observed``).
Unobserved entries have zero weight: they are neither zeros to fit nor imputed.

Each outer iteration updates A, then B, then C by hierarchical alternating least squares
(HALS: one non-negative column at a time, Cichocki & Phan 2009), with inner sweeps
repeated while they still move the factor (Gillis & Glineur 2012): an inner sweep costs
``n R^2``, the MTTKRP it reuses costs ``I J K R``.

Where the time goes, and why this is faster than :func:`tensorly.decomposition.
non_negative_parafac_hals` on the same tensor:

- two passes over the data per iteration instead of three: ``X_(0) @ (B ⊙ C)`` for A,
  then ``T = X_(0)^T @ A`` once, from which both B's and C's MTTKRPs are small
  contractions (a dimension tree); both are BLAS GEMMs on a view of ``X`` (no unfolding
  copies, no Khatri-Rao product of the large mode);
- the error comes from the Gram matrices and the last MTTKRP (``||X||^2 - 2<X, M> +
  ||M||^2``), without rebuilding the tensor;
- random initialisation (tensorly's default is an SVD of the unfoldings);
- with missing entries the normal equations of a row depend on which of its entries are
  observed: the Grams become ``(n, R, R)`` stacks, built from per-slice Grams in
  ``O((I + J) K R^2)`` because the weights factor as ``M0[i, k] M1[j, k]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import InputError


@dataclass
class CPResult:
    """A fitted non-negative CP model: unit-norm factor columns and their weights."""

    factors: list[np.ndarray]     # [A (I, R), B (J, R), C (K, R)], columns of unit L2 norm
    weights: np.ndarray           # (R,), sorted in decreasing order
    error: float                  # relative error sqrt(sum W (X - M)^2 / sum W X^2)
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_iter: int = 0
    converged: bool = False

    @property
    def rank(self) -> int:
        return int(self.weights.size)

    def full(self) -> np.ndarray:
        """The reconstructed tensor ``sum_r w_r a_r ∘ b_r ∘ c_r``."""
        a, b, c = self.factors
        return np.einsum("ir,jr,kr,r->ijk", a, b, c, self.weights)


def _sweep(f: np.ndarray, m: np.ndarray, g: np.ndarray) -> None:
    """One HALS pass over the columns of ``f`` in place: ``f G ≈ m`` with ``f >= 0``.

    ``g`` is one ``(R, R)`` Gram shared by all rows or one per row ``(n, R, R)``.
    """
    shared = g.ndim == 2
    for r in range(f.shape[1]):
        if shared:
            grr = g[r, r]
            if grr <= 0:
                f[:, r] = 0.0
                continue
            f[:, r] = np.maximum(f[:, r] + (m[:, r] - f @ g[:, r]) / grr, 0.0)
        else:
            grr = g[:, r, r]
            ok = grr > 0
            step = (m[:, r] - np.einsum("ns,ns->n", f, g[:, :, r])) / np.where(ok, grr, 1.0)
            f[:, r] = np.where(ok, np.maximum(f[:, r] + step, 0.0), 0.0)


def _update(f: np.ndarray, m: np.ndarray, g: np.ndarray, inner: int) -> None:
    """Inner HALS sweeps until a sweep moves ``f`` by less than 1 % of the first one."""
    first = None
    for _ in range(inner):
        before = f.copy()
        _sweep(f, m, g)
        delta = float(np.sum((f - before) ** 2))
        if first is None:
            first = delta
        if delta <= 1e-4 * first or delta == 0.0:
            break


def _balance(a, b, c) -> None:
    """Give the three columns of each factor equal norms (in place); keeps HALS well scaled."""
    na, nb, nc = (np.linalg.norm(f, axis=0) for f in (a, b, c))
    lam = na * nb * nc
    ok = lam > 0
    target = np.where(ok, np.cbrt(lam), 0.0)
    for f, nf in ((a, na), (b, nb), (c, nc)):
        f *= np.where(ok & (nf > 0), target / np.where(nf > 0, nf, 1.0), 0.0)


def random_init(shape, rank: int, rng: np.random.Generator, norm: float) -> list[np.ndarray]:
    """Uniform [0, 1) factors scaled so that the model's norm is about ``norm``."""
    factors = [rng.random((n, rank)) for n in shape]
    model = np.sqrt(np.sum(np.prod([f.T @ f for f in factors], axis=0)))
    scale = (norm / model) ** (1.0 / 3.0) if model > 0 else 1.0
    return [f * scale for f in factors]


def nncp_hals(x: np.ndarray, rank: int, *, m0: np.ndarray | None = None,
              m1: np.ndarray | None = None, n_iter_max: int = 500, tol: float = 1e-6,
              inner: int = 10, init: list[np.ndarray] | None = None,
              random_state: int | np.random.Generator | None = 0) -> CPResult:
    """Fit a rank-``rank`` non-negative CP model to a 3-way tensor by HALS.

    Parameters
    ----------
    x : ndarray, shape (I, J, K)
        Non-negative data; entries with zero weight must be 0.
    rank : int
        Number of factors (>= 1).
    m0, m1 : ndarray of bool, shapes (I, K) and (J, K), optional
        Observed entries: ``x[i, j, k]`` counts iff ``m0[i, k] and m1[j, k]``. None: all.
    n_iter_max : int
        Maximum number of outer iterations.
    tol : float
        Stop when the relative error decreases by less than ``tol`` (relative) in an
        iteration.
    inner : int
        Maximum inner HALS sweeps per factor and iteration.
    init : list of ndarray, optional
        Initial factors; default :func:`random_init` from ``random_state``.
    random_state : int or Generator

    Returns
    -------
    CPResult
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise InputError(f"ntf: expected a 3-way tensor, got {x.ndim} dimensions")
    rank = int(rank)
    if rank < 1:
        raise InputError(f"ntf: rank must be at least 1, got {rank}")
    n_i, n_j, n_k = x.shape
    masked = m0 is not None or m1 is not None
    m0 = np.ones((n_i, n_k)) if m0 is None else np.asarray(m0, dtype=np.float64)
    m1 = np.ones((n_j, n_k)) if m1 is None else np.asarray(m1, dtype=np.float64)
    norm_x2 = float(np.einsum("ijk,ijk->", x, x))
    if norm_x2 <= 0:
        raise InputError("ntf: the affinity tensor is all zeros (no co-varying activity)")
    rng = np.random.default_rng(random_state)
    a, b, c = ([np.array(f, dtype=np.float64, copy=True) for f in init] if init is not None
               else random_init(x.shape, rank, rng, np.sqrt(norm_x2)))
    x0 = x.reshape(n_i, n_j * n_k)           # a view: C order puts (j, k) together
    errors = []
    converged = False
    it = 0
    while it < int(n_iter_max):
        it += 1
        # A: MTTKRP X_(0) (B ⊙ C) with one GEMM on the view
        kr = (b[:, None, :] * c[None, :, :]).reshape(n_j * n_k, rank)
        m_a = x0 @ kr
        if masked:
            # per slice k: (B^T diag(m1[:, k]) B) * c_k c_k^T, mixed per row by m0
            h = np.einsum("jk,jr,js->krs", m1, b, b) * (c[:, :, None] * c[:, None, :])
            g_a = (m0 @ h.reshape(n_k, -1)).reshape(n_i, rank, rank)
        else:
            g_a = (b.T @ b) * (c.T @ c)
        _update(a, m_a, g_a, inner)
        # one more pass over X gives T[j, k, r] = sum_i X[i, j, k] A[i, r]
        t = (x0.T @ a).reshape(n_j, n_k, rank)
        if masked:
            k_a = np.einsum("ik,ir,is->krs", m0, a, a)              # per-slice Grams of A
            g_b = np.einsum("jk,krs,kr,ks->jrs", m1, k_a, c, c)
        else:
            g_b = (a.T @ a) * (c.T @ c)
        _update(b, np.einsum("jkr,kr->jr", t, c), g_b, inner)
        m_c = np.einsum("jkr,jr->kr", t, b)
        if masked:
            l_b = np.einsum("jk,jr,js->krs", m1, b, b)
            g_c = k_a * l_b
        else:
            g_c = (a.T @ a) * (b.T @ b)
        _update(c, m_c, g_c, inner)
        # exact weighted error from the last MTTKRP and Gram (C is not in its own Gram)
        cross = float(np.sum(m_c * c))
        if masked:
            model2 = float(np.einsum("kr,krs,ks->", c, g_c, c))
        else:
            model2 = float(np.sum(g_c * (c.T @ c)))
        err = np.sqrt(max(norm_x2 - 2 * cross + model2, 0.0) / norm_x2)
        errors.append(err)
        _balance(a, b, c)
        if len(errors) > 1 and errors[-2] - err < tol * errors[-2]:
            converged = True
            break
    return _normalized([a, b, c], float(errors[-1]), np.asarray(errors), it, converged)


def _normalized(factors, error, errors, n_iter, converged) -> CPResult:
    norms = [np.linalg.norm(f, axis=0) for f in factors]
    weights = np.prod(norms, axis=0)
    out = [f / np.where(n > 0, n, 1.0) for f, n in zip(factors, norms, strict=True)]
    order = np.argsort(-weights, kind="stable")
    return CPResult(factors=[f[:, order] for f in out], weights=weights[order], error=error,
                    errors=errors, n_iter=n_iter, converged=converged)


def congruence(p: CPResult, q: CPResult) -> tuple[float, np.ndarray, np.ndarray]:
    """Best-match factor congruence of two CP models.

    The congruence of factor r of ``p`` and factor s of ``q`` is the product over modes of
    the cosines of their columns (Tucker's congruence; in [0, 1] for non-negative
    factors). Factors are matched one to one by the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) maximising the total congruence.

    Returns
    -------
    score : float
        Mean congruence of the matched pairs (unmatched factors of the larger model count 0).
    match : ndarray of int
        ``match[r]`` the factor of ``q`` matched to factor r of ``p`` (-1 if none).
    per_factor : ndarray
        Congruence of each factor of ``p`` with its match.
    """
    from scipy.optimize import linear_sum_assignment

    sim = np.ones((p.rank, q.rank))
    for fp, fq in zip(p.factors, q.factors, strict=True):
        sim *= _unit(fp).T @ _unit(fq)
    rows, cols = linear_sum_assignment(-sim)
    match = np.full(p.rank, -1)
    match[rows] = cols
    per = np.zeros(p.rank)
    per[rows] = sim[rows, cols]
    return float(per.sum() / max(p.rank, q.rank)), match, per


def _unit(f: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(f, axis=0)
    return f / np.where(n > 0, n, 1.0)
