"""EM for the GLM-HMM: initialisation, E-step and M-step (the engine of :class:`GLMHMM`).

The parameters travel as a dict of tensors:

``W1``
    ``[bias | coupling weights | covariate weights]``, (S, N, 1 + D); categorical outputs
    (S, N, C - 1, 1 + D).
``P`` or ``log_P`` + ``Wt``
    Stationary transition matrix (S, S), or the input-driven baseline (S, S) and weights
    (S, M) (:mod:`.transitions`).
``p0``, ``var``
    Initial distribution (S,); Gaussian emission variances (S, N) or None.

EM starts either from posteriors (``init="kmeans"`` / ``"random"``: the first step is an
M-step) or from parameters (``init="glm"``, Ashwood et al. 2022: a one-state GLM fitted to
all the data, copied to every state with N(0, ``init_noise``^2) noise; or a fitted model,
the global -> per-subject protocol: the first step is an E-step).
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import InputError
from . import categorical, hmm, newton, onehot
from . import emissions as glm
from . import transitions as trans
from .data import kmeans_posteriors


def _observed_mean(data):
    if data.mask is None:
        return data.X.mean(0)
    return (data.X * data.mask).sum(0) / data.mask.sum(0).clamp(min=1)


def init_params(est, data) -> dict:
    """Transitions 0.98 on the diagonal, uniform start, zero weights, biases at the data's
    mean (Gaussian variances at the data's)."""
    S, N, D1 = est.n_states, data.X.shape[1], data.Z1.shape[1]
    dt, dev = data.X.dtype, data.X.device
    P = torch.full((S, S), 0.02 / max(S - 1, 1), dtype=dt, device=dev)
    P.fill_diagonal_(0.98 if S > 1 else 1.0)
    p = {"p0": torch.full((S,), 1.0 / S, dtype=dt, device=dev), "var": None}
    if est.transitions == "input_driven":
        p["log_P"] = torch.log(P)
        p["Wt"] = torch.zeros(S, data.U.shape[1], dtype=dt, device=dev)
    else:
        p["P"] = P
    if est.emission == "categorical":
        C = est.n_classes_
        freq = torch.stack([((data.X == c).to(dt) * (1 if data.mask is None else data.mask))
                            .sum(0) for c in range(C)], -1) + 1.0
        W1 = torch.zeros(S, N, C - 1, D1, dtype=dt, device=dev)
        W1[..., 0] = torch.log(freq[:, 1:] / freq[:, :1])
        p["W1"] = W1
        return p
    mu = _observed_mean(data)
    if est.link == "sigmoid" and est.emission == "poisson":
        mu = mu.clamp(max=0.99)
    W1 = torch.zeros(S, N, D1, dtype=dt, device=dev)
    W1[..., 0] = glm.inverse_link(mu, est.link)
    p["W1"] = W1
    if est.emission == "gaussian":
        x = data.X if data.mask is None else torch.where(data.mask > 0, data.X, mu)
        p["var"] = x.var(0).clamp(min=1e-12).expand(S, N).clone()
    return p


def _segments(data, S, rng):
    labels = []
    for n in data.lengths:
        lab = np.empty(n, dtype=np.int64)
        t = 0
        while t < n:
            d = int(rng.geometric(1 / 50))
            lab[t:t + d] = rng.integers(S)
            t += d
        labels.append(lab)
    return 0.9 * np.eye(S)[np.concatenate(labels)] + 0.1 / S


def initial_posteriors(est, data, rng, how: str) -> torch.Tensor:
    g = (kmeans_posteriors(data, est.n_states, rng) if how == "kmeans"
         else _segments(data, est.n_states, rng))
    return torch.as_tensor(g, dtype=data.X.dtype, device=data.X.device)


def _fit_emissions(est, data, p, gamma, *, max_iter, tol, share_bias, prior, kept=None):
    """One call of the emission M-step (GLM or categorical) on ``p`` in place; returns the
    log-emissions at the new parameters when the M-step computed them (else None)."""
    if est.emission == "categorical":
        p["W1"], _ = categorical.newton_step(
            data.X, data.Z1, gamma, p["W1"], mask=data.mask, prior_prec=float(est.l2),
            max_iter=max_iter, tol=tol, zz=data.zz)
        return None
    prior_mean, prec = prior
    p["W1"], _, log_e, new_kept = newton.newton_step(
        data.X, data.Z1, gamma, p["W1"], emission=est.emission, link=est.link, var=p["var"],
        mask=data.mask, share_bias=share_bias, prior_mean=prior_mean, prior_prec=prec,
        max_iter=max_iter, tol=tol, zz=data.zz, const=data.const, kept=kept)
    if kept is not None:  # carried to the next M-step (emptied when there is none)
        kept.clear()
        kept.update(new_kept or {})
    if est.emission == "gaussian":
        floor = 1e-6 * float(data.X.var(0).mean().clamp(min=1e-12))
        p["var"] = glm.update_variance(data.X, data.Z1, gamma, p["W1"], est.link, floor,
                                       data.mask)
        log_e = None  # computed with the old variances
        if kept is not None:
            kept.clear()
    return log_e


def glm_start(est, data, p, rng) -> None:
    """Ashwood's start: a one-state GLM on all the data, copied to every state with noise."""
    one = {k: (v[:1] if k in ("W1", "var") and v is not None else v) for k, v in p.items()}
    gamma = torch.ones(data.X.shape[0], 1, dtype=data.X.dtype, device=data.X.device)
    _fit_emissions(est, data, one, gamma, max_iter=100, tol=1e-8, share_bias=False,
                   prior=(None, float(est.l2)))
    S = est.n_states
    W1 = one["W1"].expand(S, *one["W1"].shape[1:]).clone()
    noise = torch.as_tensor(rng.normal(0.0, est.init_noise, W1.shape), dtype=W1.dtype,
                            device=W1.device)
    if est.share_bias_:
        noise[..., 0] = 0.0
    p["W1"] = W1 + noise
    if one["var"] is not None:
        p["var"] = one["var"].expand(S, -1).clone()


def params_from(est, model, data) -> dict:
    """Starting parameters copied from a fitted model (the global -> per-subject protocol)."""
    p = model._tensors()
    want = init_params(est, data)
    for k in ("W1", "p0"):
        if p[k].shape != want[k].shape:
            raise InputError(f"init: the starting model's {k} has shape {tuple(p[k].shape)}, "
                             f"this fit needs {tuple(want[k].shape)}")
    if ("log_P" in p) != ("log_P" in want):
        raise InputError("init: the starting model's transitions are "
                         f"{model.transitions!r}, this fit's {est.transitions!r}")
    return p


def transition_matrices(p, data):
    if "log_P" in p:
        return trans.matrices(p["log_P"], p["Wt"], data.U)
    return p["P"]


def emission_loglik(est, data, p) -> torch.Tensor:
    if est.emission == "categorical":
        return categorical.log_emissions(data.X, data.Z1, p["W1"], data.mask)
    return glm.log_emissions(data.X, data.Z1, p["W1"], est.emission, est.link, p["var"],
                             data.mask, data.const)


def estep(est, data, p, lay, *, posteriors: bool = True, log_e=None):
    """Posteriors and log-likelihood (or the log-likelihood alone, a (B,) tensor);
    ``log_e`` the log-emissions of ``p`` when they are known."""
    if log_e is None:
        log_e = emission_loglik(est, data, p)
    P = transition_matrices(p, data)
    if not posteriors:
        return hmm.log_likelihood(log_e, lay, P, p["p0"])
    return hmm.forward_backward(log_e, lay, P, p["p0"], per_bin_xi="log_P" in p)


def mstep(est, data, p, gamma, xi, gamma0, oh, gen, kept=None):
    """One M-step on ``p`` in place (transitions skipped before the first E-step); returns
    the log-emissions at the new parameters when it computed them (else None)."""
    if xi is not None:
        if "log_P" in p:
            start = gamma0.sum(0) + est.pseudocount
            p["p0"] = start / start.sum()
            p["log_P"], p["Wt"] = trans.input_driven_mstep(
                xi, data.U, p["log_P"], p["Wt"], pseudocount=est.pseudocount,
                stickiness=est.stickiness, l2=est.l2)
        else:
            p["P"], p["p0"] = trans.stationary_mstep(xi, gamma0, est.pseudocount,
                                                     est.stickiness)
    if oh is not None:
        onehot.mstep(oh, data.X, data.Z1, gamma, n_steps=est.n_adam_steps, tau=est.tau,
                     generator=gen, emission=est.emission, link=est.link, var=p["var"],
                     l2=est.l2, concentration=est.concentration, mask=data.mask)
        # the E-step uses the expected weights (with the argmax, every connection is
        # "none" at the start and the states would look alike); the fit reports the argmax
        p["W1"] = glm.join(oh.weights("mean"), oh.bias_full().detach().clone())
        return None
    # the Gaussian prior and the ridge combine into one quadratic around prior_mean
    prior = (None, float(est.l2))
    if est.prior == "gaussian":
        p0_prec = 1.0 / est.sigma0**2
        p["prior_mean"] = p["W1"][..., 1:].mean(0)
        prec = p0_prec + est.l2
        prior = (p0_prec * p["prior_mean"] / prec, prec)
    log_e = _fit_emissions(est, data, p, gamma, max_iter=est.newton_iter, tol=1e-4,
                           share_bias=est.share_bias_, prior=prior, kept=kept)
    if est.prior == "gaussian":
        p["prior_mean"] = p["W1"][..., 1:].mean(0)
    return log_e


def run(est, data, seed: int) -> dict:
    """One EM run from the estimator's ``init``; returns params, trace and convergence."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=data.X.device).manual_seed(seed)
    lay = hmm.make_layout(data.lengths, data.X.device, est.chunk)
    if data.zz is None and est.prior != "onehot":
        data.zz = newton.outer_products(data.Z1)
    how = est.init_
    oh = None
    if not isinstance(how, str):
        p = params_from(est, how, data)
    else:
        p = init_params(est, data)
        if how == "glm":
            glm_start(est, data, p, rng)
    if est.prior == "onehot":
        W1 = p["W1"]
        oh = onehot.OneHotState(est.n_states, data.X.shape[1], W1[..., 0],
                                share_bias=est.share_bias_, lr=est.lr, dtype=W1.dtype,
                                device=W1.device)
    n_obs = data.n_obs
    trace, converged, prev = [], False, None
    if how in ("kmeans", "random"):
        gamma, xi, gamma0 = initial_posteriors(est, data, rng, how), None, None
    else:
        gamma, xi, gamma0, ll = estep(est, data, p, lay)
        prev = float(ll.sum())
    kept = {}  # the line search's evaluation, reused by the next M-step
    for _ in range(est.max_iter):
        log_e = mstep(est, data, p, gamma, xi, gamma0, oh, gen, kept)
        gamma, xi, gamma0, ll = estep(est, data, p, lay, log_e=log_e)
        trace.append(float(ll.sum()))
        if prev is not None and abs(trace[-1] - prev) / n_obs < est.tol:
            converged = True
            break
        prev = trace[-1]
    if oh is not None:  # the fitted model is the argmax connectivity; its log-likelihood
        p["W1"] = glm.join(oh.weights("hard"), p["W1"][..., 0])  # ends the trace
        trace.append(float(estep(est, data, p, lay, posteriors=False).sum()))
        p["adjacency"], p["prior"] = oh.adjacency(), oh.prior()
        p["logits"], p["strength"] = oh.alpha.detach(), torch.nn.functional.softplus(
            oh.eta.detach())
    return {"params": p, "trace": trace, "converged": converged, "loglik": trace[-1]}
