"""GLM emissions of the GLM-HMM: history basis, links and log-likelihoods.

Output n (a neuron, or a choice) in bin t under state s has the linear predictor
``eta[t, s, n] = b[s, n] + sum_d W[s, n, d] z[t, d]`` where the features ``z`` are the
exp(-k) history of every neuron (:func:`history`, the coupling inputs) and/or external
covariates; the observation is Poisson, Gaussian or Bernoulli with mean ``g(eta)``.
Biases and weights travel together as ``W1 = [b | W]`` against ``z1 = [1 | z]``.
Everything over time is computed in chunks of bins so that memory grows as
O(T (S + N + D)), never O(T S N). The M-step is in :mod:`.newton`; categorical outputs
in :mod:`.categorical`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LINKS = ("softplus", "sigmoid", "exp", "identity")
EMISSIONS = ("poisson", "gaussian", "bernoulli", "categorical")
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


def fused(x, eta, emission: str, link: str, var=None):
    """:func:`loglik` (without constants) and :func:`derivatives` in one pass, sharing the
    work: ``(ll, d1, curvature)``."""
    if link == "sigmoid" and emission in ("poisson", "bernoulli"):
        f = SIGMOID_FLOOR
        s = torch.sigmoid(eta)
        mu = torch.add(s, f / (1 - f)).mul_(1 - f)  # f + (1 - f) s
        if emission == "poisson":
            # ll = x log mu - mu; with g' = (1 - f) s (1 - s) and q = g' / mu:
            # d1 = (x - mu) q, curvature g'^2 / mu = g' q (the factor 1 - f, 1e-8 away
            # from 1, is left out of g' here)
            ll = torch.log(mu).mul_(x).sub_(mu)
            d = torch.addcmul(s, s, s, value=-1)
            q = d.div_(mu)
            d1 = (x - mu).mul_(q)
            c = q.mul_(q).mul_(mu)
            return ll, d1, c
        one_m = torch.sigmoid(-eta)
        one_m *= 1 - f  # 1 - g, exact in the tail
        ll = torch.where(x > 0, torch.log(mu), math.log1p(-f) + F.logsigmoid(-eta))
        d = s * one_m  # g' = (1 - f) s (1 - s)
        d1 = torch.where(x > 0, d / mu, -d / one_m)
        d *= d
        d /= mu * one_m
        return ll, d1, d
    return (loglik(x, eta, emission, link, var, const=False),
            *derivatives(x, eta, emission, link, var))


def chunks(T: int, per_bin: int, budget: int = _BUDGET):
    """Slices of at most ~``budget / per_bin`` bins covering ``range(T)``."""
    step = max(256, budget // max(per_bin, 1))
    for t0 in range(0, T, step):
        yield slice(t0, min(T, t0 + step))


def join(W, b):
    """``W1 = [b | W]``: (S, N, D + 1)."""
    return torch.cat([b[..., None], W], dim=-1)


def predictor(Z1, W1):
    """eta[t, s, n] for a chunk of bins: ``(Tc, S, N)`` from ``z1`` (Tc, D + 1)."""
    S, N, D1 = W1.shape
    return (Z1 @ W1.reshape(S * N, D1).T).reshape(-1, S, N)


def log_emissions(X, Z1, W1, emission, link, var=None, mask=None, const=None) -> torch.Tensor:
    """log p(x_t | z_t = s) summed over outputs: (T, S).

    ``mask`` (T, N), 1 where observed, leaves missing values out; ``const`` (T,) is the
    part of the log-likelihood that does not depend on the parameters (Poisson
    ``-sum log x!``), added when given.
    """
    T = X.shape[0]
    S, N, _ = W1.shape
    out = torch.empty(T, S, dtype=X.dtype, device=X.device)
    for sl in chunks(T, S * N * 4):
        ll = loglik(X[sl, None, :], predictor(Z1[sl], W1), emission, link, var, const=False)
        if mask is not None:
            ll = ll * mask[sl, None, :]
        out[sl] = ll.sum(-1)
    if const is not None:
        out += const[:, None]
    return out


def poisson_const(X, mask=None) -> torch.Tensor:
    """``-sum_n log x_tn!`` of every bin (observed outputs only): (T,).

    Counts are integers: ``log x!`` comes from a table up to the largest count."""
    top = int(X.max()) if X.numel() else 0
    if top > 1 << 20:
        lg = torch.lgamma(X + 1)
    else:
        table = torch.lgamma(torch.arange(top + 1, dtype=X.dtype, device=X.device) + 1)
        lg = table[X.long()]
    return -(lg if mask is None else lg * mask).sum(-1)


def objective(X, Z1, gamma, W1, emission, link, var=None, mask=None) -> torch.Tensor:
    """Posterior-weighted log-likelihood of each (state, output), up to a constant: (S, N)."""
    S, N, _ = W1.shape
    out = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    for sl in chunks(X.shape[0], S * N * 4):
        ll = loglik(X[sl, None, :], predictor(Z1[sl], W1), emission, link, var, const=False)
        w = gamma[sl, :, None] if mask is None else gamma[sl, :, None] * mask[sl, None, :]
        out += (w * ll).sum(0)
    return out


def gradient(X, Z1, gamma, W1, emission, link, var=None, mask=None):
    """Gradient of :func:`objective` in ``W1 = [b | W]``: (S, N, D + 1)."""
    S, N, _ = W1.shape
    g = torch.zeros_like(W1)
    for sl in chunks(X.shape[0], S * N * 4):
        d1, _ = derivatives(X[sl, None, :], predictor(Z1[sl], W1), emission, link, var)
        w = gamma[sl, :, None] if mask is None else gamma[sl, :, None] * mask[sl, None, :]
        g += torch.einsum("tsn,ti->sni", w * d1, Z1[sl])
    return g


def update_variance(X, Z1, gamma, W1, link, floor, mask=None):
    """Closed-form Gaussian emission variance of each (state, output): (S, N)."""
    S, N, _ = W1.shape
    num = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    den = torch.zeros(S, N, dtype=X.dtype, device=X.device)
    for sl in chunks(X.shape[0], S * N * 3):
        res = (X[sl, None, :] - mean(predictor(Z1[sl], W1), link)) ** 2
        w = gamma[sl, :, None] if mask is None else gamma[sl, :, None] * mask[sl, None, :]
        num += (w * res).sum(0)
        den += w.sum(0).expand(S, N) if mask is None else w.sum(0)
    return (num / den.clamp(min=1e-12)).clamp(min=floor)
