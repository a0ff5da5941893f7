"""A fitted GLM-HMM as an xarray Dataset with named dims (written as ``K{k}.nc``)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from . import onehot

#: Estimator parameters kept in the Dataset's attrs.
ATTRS = ("n_states", "prior", "emission", "link", "n_lags", "inputs", "transitions", "sigma0",
         "tau", "l2", "pseudocount", "stickiness")


def _names(names, n, prefix):
    return np.asarray(names or [f"{prefix}{i}" for i in range(n)], dtype=object)


def to_xarray(model) -> xr.Dataset:
    """Dims ``state``, ``next_state``, ``post`` (outputs), ``pre`` (coupling inputs),
    ``covariate``, ``class`` (categorical, classes 1..C-1 against class 0), ``iteration``."""
    S = model.startprob_.shape[0]
    N = model.n_outputs_
    post = _names(model.channels_, N, "n")
    coords = {"state": np.arange(S), "next_state": np.arange(S), "post": post,
              "iteration": np.arange(len(model.loglik_trace_))}
    cls = ()
    if model.emission == "categorical":
        cls = ("class",)
        coords["class"] = np.arange(1, model.n_classes_)
    dv = {
        "bias": (("state", "post", *cls), model.bias_),
        "transmat": (("state", "next_state"), model.transmat_),
        "startprob": (("state",), model.startprob_),
        "loglik_trace": (("iteration",), model.loglik_trace_),
    }
    if model.weights_ is not None:
        coords["pre"] = post
        dv["weights"] = (("state", "post", "pre"), model.weights_)
    n_cov = model.n_covariates_
    if n_cov:
        coords["covariate"] = _names(model.covariates_, n_cov, "u")
    if model.input_weights_ is not None:
        dv["input_weights"] = (("state", "post", *cls, "covariate"), model.input_weights_)
    if model.transition_weights_ is not None:
        dv["transition_weights"] = (("next_state", "covariate"), model.transition_weights_)
    if model.variance_ is not None:
        dv["variance"] = (("state", "post"), model.variance_)
    if model.adjacency_ is not None:
        dv["adjacency"] = (("state", "post", "pre"), model.adjacency_)
        dv["prior"] = (("post", "pre", "connection"), model.prior_)
        coords["connection"] = np.asarray(onehot.CLASSES, dtype=object)
    if model.prior_mean_ is not None:
        dv["prior_mean"] = (("post", "pre"), model.prior_mean_)
    attrs = {k: getattr(model, k) for k in ATTRS}
    attrs.update(share_bias=int(getattr(model, "share_bias_", model.share_bias is True)),
                 n_iter=int(model.n_iter_), converged=int(model.converged_),
                 n_classes=int(model.n_classes_ or 0),
                 init=json.dumps(model.init if isinstance(model.init, str) else "model"),
                 random_state=-1 if model.random_state is None else int(model.random_state))
    return xr.Dataset(dv, coords=coords, attrs=attrs)
