"""The classic lapse model of psychophysics, the baseline of Ashwood et al. 2022.

``p(right) = gamma + (1 - gamma - lambda) sigmoid(w . u + b)``: a logistic regression with
a rate ``gamma`` of right and ``lambda`` of left lapses (``n_lapse=1``: one rate,
gamma = lambda). Fitted by maximum likelihood with scipy's L-BFGS-B under the bounds of
the reference code (``zashwood/glm-hmm``, ``LapseModel.py``: rates in [0, 0.5], weights in
[-10, 10]), from a few starts (``n_init``, ``random_state``); the best is kept.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from ...errors import InputError


def _stack(X, covariates, mask):
    """Concatenate sessions: choices (n,), design [u, 1] (n, M + 1), observed trials only."""
    Xs = X if isinstance(X, (list, tuple)) else [X]
    Us = covariates if isinstance(covariates, (list, tuple)) else [covariates]
    Ms = mask if isinstance(mask, (list, tuple)) else [mask] if mask is not None else None
    if len(Us) != len(Xs) or (Ms is not None and len(Ms) != len(Xs)):
        raise InputError("lapse model: X, covariates and mask need one entry per session")
    y = np.concatenate([np.ravel(x) for x in Xs]).astype(float)
    U = np.concatenate([np.asarray(u, float).reshape(len(np.ravel(x)), -1)
                        for x, u in zip(Xs, Us, strict=True)])
    keep = np.isfinite(y) if Ms is None else np.concatenate([np.ravel(m) for m in Ms]) > 0
    y, U = y[keep], U[keep]
    if not np.isin(y, (0, 1)).all():
        raise InputError("lapse model: choices must be 0 or 1")
    return y, np.hstack([U, np.ones((U.shape[0], 1))])


class LapseModel:
    """Logistic regression with lapses (scikit-learn API).

    Parameters
    ----------
    n_lapse : {1, 2}
        One lapse rate (gamma = lambda) or two.
    n_init : int
        Starts of the optimiser (weights N(0, 2^2) as in the reference; rates
        0.05 + U(0, 0.03)).
    random_state : int or None

    Attributes
    ----------
    weights_ : ndarray (M,), bias_ : float
    lapse_ : ndarray (2,)
        (gamma, lambda): the rates of right and left lapses.
    loglik_ : float
        Training log-likelihood.
    """

    def __init__(self, n_lapse: int = 1, n_init: int = 5, random_state=None):
        self.n_lapse = n_lapse
        self.n_init = n_init
        self.random_state = random_state

    def _unpack(self, theta, M1):
        w = theta[:M1]
        g = theta[M1:]
        gamma, lam = (g[0], g[0]) if self.n_lapse == 1 else (g[0], g[1])
        return w, gamma, lam

    def _negll(self, theta, y, Z):
        w, gamma, lam = self._unpack(theta, Z.shape[1])
        s = expit(Z @ w)
        p = np.clip(gamma + (1 - gamma - lam) * s, 1e-12, 1 - 1e-12)
        ll = np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))
        r = y / p - (1 - y) / (1 - p)  # dll/dp
        gw = Z.T @ (r * (1 - gamma - lam) * s * (1 - s))
        gg = [np.sum(r * (1 - 2 * s))] if self.n_lapse == 1 else [np.sum(r * (1 - s)),
                                                                  np.sum(r * -s)]
        return -ll, -np.concatenate([gw, gg])

    def fit(self, X, covariates, mask=None):
        """Fit to choices ``X`` (0/1; sessions as lists) given ``covariates`` (the bias is
        the model's own); ``mask`` marks the trials with a choice."""
        if self.n_lapse not in (1, 2):
            raise InputError(f"n_lapse={self.n_lapse!r}: expected 1 or 2")
        y, Z = _stack(X, covariates, mask)
        M1 = Z.shape[1]
        rng = np.random.default_rng(self.random_state)
        bounds = [(-10, 10)] * M1 + [(0, 0.5)] * self.n_lapse
        best = None
        for _ in range(self.n_init):
            x0 = np.concatenate([rng.normal(0, 2, M1),
                                 0.05 + 0.03 * rng.random(self.n_lapse)])
            res = minimize(self._negll, x0, args=(y, Z), jac=True, method="L-BFGS-B",
                           bounds=bounds)
            if best is None or res.fun < best.fun:
                best = res
        w, gamma, lam = self._unpack(best.x, M1)
        self.weights_, self.bias_ = w[:-1].copy(), float(w[-1])
        self.lapse_ = np.array([gamma, lam])
        self.loglik_ = float(-best.fun)
        return self

    def loglik(self, X, covariates, mask=None) -> float:
        """Total log-likelihood of the observed choices."""
        y, Z = _stack(X, covariates, mask)
        theta = np.concatenate([self.weights_, [self.bias_], self.lapse_[:self.n_lapse]])
        return float(-self._negll(theta, y, Z)[0])

    def score(self, X, covariates, mask=None) -> float:
        """Log-likelihood per observed trial."""
        return self.loglik(X, covariates, mask) / _stack(X, covariates, mask)[0].size
