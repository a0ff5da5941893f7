"""GLM emissions of the GLM-HMM: history basis, links, log-likelihoods and the Newton M-step.

Neuron n in bin t under state s has the linear predictor
``eta[t, s, n] = b[s, n] + sum_m W[s, n, m] h[t, m]`` where ``h`` is the exp(-k)
history of every neuron (:func:`history`); the observation is Poisson, Gaussian or
Bernoulli with mean ``g(eta)``. Everything over time is computed in chunks of bins so
that memory grows as O(T (S + N)), never O(T S N).

The M-step (:func:`newton_step`) maximises the posterior-weighted log-likelihood (plus an
optional Gaussian prior on W) by damped Newton with a backtracking line search, batched over
states and neurons. With a bias shared across states, the states of one neuron are coupled
only through the bias, and the Newton system is solved exactly by a Schur complement.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LINKS = ("softplus", "sigmoid", "exp", "identity")
EMISSIONS = ("poisson", "gaussian", "bernoulli")
SIGMOID_FLOOR = 1e-8  # the paper's scaled sigmoid: rates in (1e-8, 1)
_BUDGET = 1 << 18  # elements of a temporary per time chunk (small enough to stay in cache)


def history(x: torch.Tensor, n_lags: int) -> torch.Tensor:
    """exp(-k) history of each column over lags 1..n_lags, weights normalised to sum 1.

    ``h[t] = sum_k phi_k x[t - k]`` with ``phi_k = exp(-k) / sum_j exp(-j)``; bins before
    the start of the sequence count as zero.
    """
    k = torch.arange(1, n_lags + 1, dtype=x.dtype, device=x.device)
    phi = torch.exp(-k)
    phi = phi / phi.sum()
    h = torch.zeros_like(x)
    T = x.shape[0]
    for j in range(n_lags):
        lag = j + 1
        if lag < T:
            h[lag:] += phi[j] * x[: T - lag]
    return h


def _log_softplus(eta):
    return torch.where(eta < -30, eta, torch.log(F.softplus(eta)))


def mean(eta: torch.Tensor, link: str) -> torch.Tensor:
    """Mean of the observation, g(eta)."""
    if link == "softplus":
        return F.softplus(eta)
    if link == "sigmoid":
        return (1 - SIGMOID_FLOOR) * torch.sigmoid(eta) + SIGMOID_FLOOR
    if link == "exp":
        return torch.exp(eta)
    return eta


def inverse_link(mu: torch.Tensor, link: str) -> torch.Tensor:
    """eta such that g(eta) = mu (used to start the bias at the mean of the data)."""
    if link == "softplus":
        mu = mu.clamp(min=1e-6)
        return torch.where(mu > 30, mu, torch.log(torch.expm1(mu)))
    if link == "sigmoid":
        p = ((mu - SIGMOID_FLOOR) / (1 - SIGMOID_FLOOR)).clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)
    if link == "exp":
        return torch.log(mu.clamp(min=1e-6))
    return mu


def _log_mean(eta, link):
    if link == "softplus":
        return _log_softplus(eta)
    if link == "sigmoid":
        return torch.log(mean(eta, link))  # the mean is at least SIGMOID_FLOOR: no underflow
    return eta  # exp


def loglik(x, eta, emission: str, link: str, var=None, const: bool = True):
    """Elementwise log-likelihood of observations ``x`` given predictors ``eta``.

    ``const=False`` leaves out the Poisson ``-log x!`` term (it does not depend on eta).
    """
    if emission == "poisson":
        if link == "sigmoid":
            mu = mean(eta, link)
            ll = x * torch.log(mu) - mu
        else:
            ll = x * _log_mean(eta, link) - mean(eta, link)
        return ll - torch.lgamma(x + 1) if const else ll
    if emission == "bernoulli":
        # scaled sigmoid: 1 - g = (1 - floor) * sigmoid(-eta)
        log1m = torch.log1p(torch.tensor(-SIGMOID_FLOOR, dtype=eta.dtype)) + F.logsigmoid(-eta)
        return x * _log_mean(eta, link) + (1 - x) * log1m
    mu = mean(eta, link)
    return -0.5 * (x - mu) ** 2 / var - 0.5 * torch.log(2 * torch.pi * var)


def derivatives(x, eta, emission: str, link: str, var=None):
    """First derivative of the log-likelihood in eta and a non-negative curvature.

    The curvature is minus the second derivative where the log-likelihood is concave
    (Poisson with softplus or exp, Gaussian with identity, Bernoulli with sigmoid up to the
    floor) and the Fisher information otherwise, so that Newton steps always ascend.
    """
    if emission == "poisson" and link == "exp":
        mu = torch.exp(eta)
        return x - mu, mu
    if emission == "poisson" and link == "softplus":
        s = torch.sigmoid(eta)
        r = torch.where(eta < -30, torch.ones_like(eta), s / F.softplus(eta))  # g'/g
        return x * r - s, x * r * (r - 1 + s) + s * (1 - s)
    if link == "identity":
        return (x - eta) / var, torch.ones_like(eta) / var
    mu = mean(eta, link)
    if link == "sigmoid":
        s = torch.sigmoid(eta)
        d = (1 - SIGMOID_FLOOR) * s * (1 - s)
    elif link == "softplus":
        d = torch.sigmoid(eta)
    else:
        d = mu
    if emission == "poisson":
        return d * (x / mu - 1), d * d / mu
    if emission == "bernoulli":
        return d * (x / mu - (1 - x) / (1 - mu)), d * d / (mu * (1 - mu))
    return d * (x - mu) / var, d * d / var


def _chunks(T: int, per_bin: int):
    step = max(256, _BUDGET // max(per_bin, 1))
    for t0 in range(0, T, step):
        yield slice(t0, min(T, t0 + step))


def predictor(H, W, b):
    """eta[t, s, n] for a chunk of bins: (Tc, S, N)."""
    return torch.einsum("tm,snm->tsn", H, W) + b


def log_emissions(X, H, W, b, emission, link, var=None) -> torch.Tensor:
    """log p(x_t | z_t = s) summed over neurons: (T, S)."""
    T = X.shape[0]
    S, N, _ = W.shape
    out = torch.empty(T, S, dtype=X.dtype, device=X.device)
    for sl in _chunks(T, S * N * 4):
        eta = predictor(H[sl], W, b)
        out[sl] = loglik(X[sl, None, :], eta, emission, link, var, const=False).sum(-1)
    if emission == "poisson":
        out -= torch.lgamma(X + 1).sum(-1, keepdim=True)
    return out


def objective(X, H, gamma, W, b, emission, link, var=None) -> torch.Tensor:
    """Posterior-weighted log-likelihood of each (state, neuron), up to a constant: (S, N)."""
    S, N, _ = W.shape
    out = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    for sl in _chunks(X.shape[0], S * N * 4):
        ll = loglik(X[sl, None, :], predictor(H[sl], W, b), emission, link, var, const=False)
        out += (gamma[sl, :, None] * ll).sum(0)
    return out


def gradient(X, H, gamma, W, b, emission, link, var=None):
    """Gradient of :func:`objective` in W (S, N, N) and in b (S, N)."""
    S, N, _ = W.shape
    gW = torch.zeros_like(W)
    gb = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    for sl in _chunks(X.shape[0], S * N * 4):
        d1, _ = derivatives(X[sl, None, :], predictor(H[sl], W, b), emission, link, var)
        r = gamma[sl, :, None] * d1
        gW += torch.einsum("tsn,tm->snm", r, H[sl])
        gb += r.sum(0)
    return gW, gb


def _grad_hess(X, H, gamma, W, b, emission, link, var):
    """Objective, gradient and curvature matrix in theta = [b, W[s, n, :]]: D = N + 1."""
    T = X.shape[0]
    S, N, _ = W.shape
    D = N + 1
    obj = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    g = torch.zeros(S, N, D, dtype=X.dtype, device=X.device)
    Hs_up = torch.zeros(S * N, D * (D + 1) // 2, dtype=X.dtype, device=X.device)
    iu = torch.triu_indices(D, D, device=X.device)
    for sl in _chunks(T, S * N * 6 + iu.shape[1]):
        x = X[sl, None, :]
        eta = predictor(H[sl], W, b)
        gam = gamma[sl, :, None]
        obj += (gam * loglik(x, eta, emission, link, var, const=False)).sum(0)
        d1, c = derivatives(x, eta, emission, link, var)
        Z = torch.cat([torch.ones_like(H[sl, :1]), H[sl]], dim=1)
        g += torch.einsum("tsn,ti->sni", gam * d1, Z)
        # sum_t c_t z_t z_t^T for every (s, n): one GEMM against the upper triangle of the
        # outer products, in float32 (it only steers the step; objective and gradient stay
        # in the working precision and the line search guards every step)
        ZZ = (Z[:, iu[0]] * Z[:, iu[1]]).float()
        Hs_up += ((gam * c).reshape(-1, S * N).T.float() @ ZZ).to(X.dtype)
    Hs = torch.empty(S * N, D, D, dtype=X.dtype, device=X.device)
    Hs[:, iu[0], iu[1]] = Hs_up
    Hs[:, iu[1], iu[0]] = Hs_up
    return obj, g, Hs.reshape(S, N, D, D)


def newton_step(X, H, gamma, W, b, *, emission, link, var=None, share_bias=True,
                prior_mean=None, prior_prec=0.0, max_iter=10, tol=1e-6):
    """Maximise the weighted log-likelihood (+ Gaussian prior) in W and b by damped Newton.

    Parameters
    ----------
    X, H : tensor, shape (T, N)
        Observations and their history.
    gamma : tensor, shape (T, S)
        Posterior weight of each state in each bin.
    W : tensor, shape (S, N, N);  b : tensor, shape (S, N)
        Starting point (rows of ``b`` equal when ``share_bias``).
    prior_mean : tensor, shape (N, N), optional
        Mean of the Gaussian prior on every W[s]; ``prior_prec`` is 1 / sigma0**2.

    Returns
    -------
    W, b : tensors
        The new parameters.
    obj : float
        Objective at the returned parameters (prior included).
    """
    S, N, _ = W.shape
    eye = torch.eye(N, dtype=W.dtype, device=W.device)

    def total(W_, b_, obj_sn):
        if prior_prec:
            obj_sn = obj_sn - 0.5 * prior_prec * ((W_ - prior_mean) ** 2).sum(-1)
        return obj_sn.sum(0) if share_bias else obj_sn

    for _ in range(max_iter):
        obj, g, Hs = _grad_hess(X, H, gamma, W, b, emission, link, var)
        cur = total(W, b, obj)
        gb, gw = g[..., 0], g[..., 1:]
        if prior_prec:
            gw = gw - prior_prec * (W - prior_mean)
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
        dW = sol[..., 0] - sol[..., 1] * db[..., None]
        step = torch.ones_like(cur)
        accepted = torch.zeros_like(cur, dtype=torch.bool)
        W_new, b_new, new = W, b, cur
        for _ in range(12):
            st = step if not share_bias else step.expand(S, N)
            W_try = W + st[..., None] * dW
            b_try = b + st * db
            val = total(W_try, b_try, objective(X, H, gamma, W_try, b_try, emission, link, var))
            # accept a rise, or a change within rounding of the objective
            ok = (val >= cur - 1e-11 * (cur.abs() + 1)) & ~accepted & torch.isfinite(val)
            sel = ok if not share_bias else ok.expand(S, N)
            W_new = torch.where(sel[..., None], W_try, W_new)
            b_new = torch.where(sel, b_try, b_new)
            new = torch.where(ok, val, new)
            accepted |= ok
            if bool(accepted.all()):
                break
            step = torch.where(accepted, step, step / 2)
        moved = torch.maximum((dW * step[..., None]).abs().amax(-1), (db * step).abs())
        W, b = W_new, b_new
        if float(moved.max()) < tol:
            break
    return W, b, float(new.sum())


def update_variance(X, H, gamma, W, b, link, floor):
    """Closed-form Gaussian emission variance of each (state, neuron): (S, N)."""
    S, N, _ = W.shape
    num = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    for sl in _chunks(X.shape[0], S * N * 3):
        res = (X[sl, None, :] - mean(predictor(H[sl], W, b), link)) ** 2
        num += (gamma[sl, :, None] * res).sum(0)
    den = gamma.sum(0)[:, None].clamp(min=1e-12)
    return (num / den).clamp(min=floor)
