"""The ``fit_glmhmm`` steps: model selection over the number of states.

:func:`run_session` (spikes, calcium): one session at a time, because sessions of real
datasets record different neurons, and a GLM-HMM's coupling weights are per neuron pair.
The session is cut into its sequences (events labelled ``sequence_label``; the whole
recording otherwise); with ``covariates``, the session's other events give stimulus
kernels (:func:`~neurodag.models.glmhmm.features.event_regressors`). The number of states
is chosen by k-fold held-out log-likelihood (:func:`~neurodag.models.glmhmm.select.
select_n_states`), and a model with each candidate number of states is fitted to all
sequences and written as ``K{k}.nc`` with its Viterbi path and posteriors, so that any
candidate can be inspected; ``metrics.json`` holds the scores and names the selected one.

:func:`run_pooled` (behaviour, in :mod:`.pooled_step`): every session of every subject of a
dataset of trial tables, Ashwood et al.'s protocol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ... import provenance, store
from ...errors import ConfigError, InputError

#: Emission and link by modality, when the config does not say.
DEFAULTS = {
    "spikes": {"emission": "poisson", "link": "softplus"},
    "calcium": {"emission": "gaussian", "link": "identity"},
}


def _decoded(model, parts: list[xr.DataArray], covs=None) -> tuple[xr.Dataset, float]:
    """Viterbi path and posteriors of every sequence, on one concatenated time axis, and the
    log-likelihood per bin and neuron (one inference pass)."""
    paths, probs, loglik = model.decode(parts, covs)
    paths = paths if isinstance(paths, list) else [paths]
    probs = probs if isinstance(probs, list) else [probs]
    time = np.concatenate([p["time"].values for p in parts])
    seq = np.concatenate([np.full(p.sizes["time"], i) for i, p in enumerate(parts)])
    return xr.Dataset(
        {"state_path": (("time",), np.concatenate(paths).astype(np.int16)),
         "posterior": (("time", "state"), np.concatenate(probs))},
        coords={"time": time, "sequence": ("time", seq)},
    ), loglik


def _log(message: str) -> None:
    import datetime as dt

    print(f"{dt.datetime.now():%H:%M:%S} {message}", flush=True)


def one_standard_error(scores: xr.DataArray) -> int:
    """Fewest states within one standard error of the best mean held-out score.

    Held-out likelihood keeps creeping up as extra states split real ones; this rule picks
    the simplest model the folds cannot tell from the best. The standard error is that of
    the paired per-fold differences to the best model, since every model is scored on the
    same folds (fold-to-fold offsets, shared by all models, do not count as noise).
    """
    values = scores.transpose("n_states", "fold").values
    top = int(values.mean(1).argmax())
    diff = values - values[top]
    se = diff.std(1, ddof=1) / np.sqrt(values.shape[1])
    ok = diff.mean(1) >= -np.nan_to_num(se)
    return int(scores["n_states"].values[np.flatnonzero(ok)[0]])


def _covariates(ds, parts, spec, where):
    """The event regressors of every sequence (None without ``spec``)."""
    if spec is None:
        return None
    from .features import event_regressors

    stray = sorted(set(spec) - {"events", "lags"})
    if stray:
        raise ConfigError(f"fit-glmhmm: covariates.{stray[0]}: unknown (events, lags)")
    U = event_regressors(ds, spec.get("events"), int(spec.get("lags", 10)))
    return [U.sel(time=p["time"].values) for p in parts]


def run_session(raw: str | Path, out_dir: str | Path, *, states=(1, 2, 3, 4, 5),
                folds: int = 3, sequence_label: str = "sequence", covariates=None,
                config_digest: str = "", **params) -> dict[str, Path]:
    """Fit GLM-HMMs with each number of ``states`` to one session and select one.

    Parameters
    ----------
    raw : path-like
        The session's contract store (binned spike counts, or calcium traces).
    out_dir : path-like
        Receives ``K{k}.nc`` for every k in ``states`` and ``metrics.json``; all appear or
        none.
    states : sequence of int
        Candidate numbers of states.
    folds : int
        Folds of the cross-validation (over sequences, or time blocks for one sequence).
    sequence_label : str
        Events with this label mark the sequences (trials) the recording is cut into.
    covariates : dict, optional
        ``{"events": [labels] (default: every label but the sequences'), "lags": bins}``:
        stimulus kernels as external inputs (``inputs`` then defaults to "both").
    config_digest : str
        Provenance.
    **params
        :class:`~neurodag.models.glmhmm.GLMHMM` parameters (prior, emission, link, n_lags,
        max_iter, random_state, ...); emission and link default by modality.

    Returns
    -------
    dict
        ``{"K{k}": path, ..., "metrics": path}``.
    """
    import inspect

    from ...errors import check_known
    from .data import sequences
    from .estimator import GLMHMM
    from .select import select_n_states

    accepted = set(inspect.signature(GLMHMM).parameters) - {"n_states"}
    check_known("fit-glmhmm", params, accepted | {"states", "folds", "sequence_label"})
    if covariates is not None:
        params.setdefault("inputs", "both")
    states = [int(k) for k in states]
    if len(set(states)) != len(states):
        raise ConfigError(f"fit-glmhmm: states {states} repeat a number of states")
    raw, out_dir = Path(raw), Path(out_dir)
    ds = store.read_signal(raw)
    modality = ds.attrs["modality"]
    if modality not in DEFAULTS:
        raise InputError(f"{raw}: GLM-HMMs are fitted to spikes or calcium, not {modality}")
    params = {**DEFAULTS[modality], **params}
    parts = [p.load() for p in sequences(ds, label=sequence_label)]
    covs = _covariates(ds, parts, covariates, raw)
    _log(f"{raw}: {len(parts)} sequences, {sum(p.sizes['time'] for p in parts)} bins, "
         f"{ds.sizes['channel']} neurons"
         + (f", {covs[0].sizes['covariate']} covariates" if covs else "")
         + f"; cross-validating {list(states)} states")
    best_mean, scores = select_n_states(parts, states, folds, covariates=covs, **params)
    best = one_standard_error(scores)
    _log("held-out log-likelihood: " + ", ".join(
        f"K={int(k)} {float(v):.4f}" for k, v in zip(scores["n_states"].values,
                                                     scores.mean("fold").values, strict=True))
         + f"; selected K={best}")
    fitted = {}
    for k in states:
        model = GLMHMM(n_states=int(k), **params).fit(parts, covs)
        _log(f"fitted K={int(k)}: {model.n_iter_} EM iterations, converged {model.converged_}")
        params_ds = model.to_xarray()
        decoded, train_loglik = _decoded(model, parts, covs)
        out = xr.merge([params_ds, decoded])
        out.attrs.update(params_ds.attrs, selected=int(k == best), train_loglik=train_loglik)
        provenance.stamp(out, [raw], source=str(ds.attrs.get("source", raw)),
                         config_digest=config_digest)
        fitted[k] = out
    mean = scores.mean("fold")
    metrics = {
        "session": raw.parent.name, "modality": modality, "selected_n_states": int(best),
        "best_mean_n_states": int(best_mean),
        "selection_rule": "fewest states within one standard error (of the paired per-fold "
                          "differences) of the best mean held-out log-likelihood",
        "n_sequences": len(parts), "n_bins": int(sum(p.sizes["time"] for p in parts)),
        "n_neurons": int(ds.sizes["channel"]), "folds_over": scores.attrs["folds_over"],
        "heldout_loglik": {str(int(k)): scores.sel(n_states=k).values.tolist()
                           for k in scores["n_states"].values},
        "heldout_loglik_mean": {str(int(k)): float(mean.sel(n_states=k))
                                for k in scores["n_states"].values},
        "train_loglik": {str(k): m.attrs["train_loglik"] for k, m in fitted.items()},
        "params": {k: v for k, v in params.items()},
        "covariates": None if covs is None else [str(c) for c in covs[0]["covariate"].values],
        "units": scores.attrs["units"],
        "provenance": {"source": str(ds.attrs.get("source", "")), "inputs": {str(raw): ""},
                       "config_digest": config_digest},
    }
    # All files or none: written into a temporary folder renamed to out_dir at the end.
    with store.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for k, out in fitted.items():
            store.write_netcdf(out, tmp / f"K{k}.nc")
        store.write_json(metrics, tmp / "metrics.json")
    return {**{f"K{k}": out_dir / f"K{k}.nc" for k in fitted},
            "metrics": out_dir / "metrics.json"}
