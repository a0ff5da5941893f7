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
    # brain states: a Gaussian HMM (state means and variances; no coupling) of the leading
    # principal components of the parcel series (:mod:`.brainstates`)
    "fmri": {"emission": "gaussian", "link": "identity", "inputs": "covariates"},
}


def _decoded(model, parts: list[xr.DataArray], covs=None, masks=None
             ) -> tuple[xr.Dataset, float]:
    """Viterbi path and posteriors of every sequence, on one concatenated time axis, and the
    log-likelihood per bin and neuron (one inference pass)."""
    paths, probs, loglik = model.decode(parts, covs, masks)
    paths = paths if isinstance(paths, list) else [paths]
    probs = probs if isinstance(probs, list) else [probs]
    time = np.concatenate([p["time"].values for p in parts])
    seq = np.concatenate([np.full(p.sizes["time"], i) for i, p in enumerate(parts)])
    return xr.Dataset(
        {"state_path": (("time",), np.concatenate(paths).astype(np.int16)),
         "posterior": (("time", "state"), np.concatenate(probs))},
        coords={"time": time, "sequence": ("time", seq)},
    ), loglik


def _with_parcels(out: xr.Dataset, fmri: dict, k: int) -> xr.Dataset:
    """The model's states in parcel space: ``state_mean`` (state, parcel), the mean z-scored
    parcel signal of the kept volumes in each state, and the PCA ``loadings``."""
    from .brainstates import state_means

    parcel = {"parcel": np.asarray(fmri["parcels"], dtype=object),
              "hemisphere": ("parcel", np.asarray(fmri["hemisphere"], dtype=object))}
    means = state_means(out["state_path"].values, fmri["z"], fmri["keep"], k)
    return out.assign(
        state_mean=xr.DataArray(means, dims=("state", "parcel"), coords=parcel, attrs={
            "units": "z", "description": "mean z-scored parcel signal over the kept volumes "
                                         "the Viterbi path assigns to the state"}),
        loadings=xr.DataArray(fmri["loadings"], dims=("component", "parcel"),
                              coords={"component": list(out["post"].values)
                                      if "post" in out.coords else
                                      [f"pc{i + 1}" for i in range(len(fmri["loadings"]))],
                                      **parcel}),
        kept=("time", fmri["keep"]))


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
                atlas: str = "auto", components: int = 5, config_digest: str = "",
                **params) -> dict[str, Path]:
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
    atlas, components : str, int
        fMRI: the parcels and the number of their principal components the brain states
        are fitted to (:mod:`.brainstates`); censored volumes are missing values.
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
        raise InputError(f"{raw}: GLM-HMMs are fitted to spikes, calcium or fMRI, not "
                         f"{modality}")
    params = {**DEFAULTS[modality], **params}
    masks, fmri = None, None
    if modality == "fmri":
        from .brainstates import fmri_inputs

        X, mask, fmri = fmri_inputs(ds.load(), atlas, components,
                                    params.get("random_state", 0) or 0)
        parts, masks = [X], [mask]
        _log(f"{raw}: {len(fmri['parcels'])} parcels ({fmri['atlas']}), {components} "
             f"principal components ({100 * fmri['explained'].sum():.1f} % of the variance), "
             f"{int(fmri['keep'].sum())} of {X.sizes['time']} volumes kept")
    else:
        parts = [p.load() for p in sequences(ds, label=sequence_label)]
    covs = _covariates(ds, parts, covariates, raw)
    if params.get("inputs") == "covariates" and covs is None:
        covs = [xr.DataArray(np.zeros((p.sizes["time"], 0)), dims=("time", "covariate"))
                for p in parts]  # no regressors: the states' means (and variances) only
    _log(f"{raw}: {len(parts)} sequences, {sum(p.sizes['time'] for p in parts)} bins, "
         f"{parts[0].sizes['channel']} {'components' if fmri else 'neurons'}"
         + (f", {covs[0].sizes['covariate']} covariates" if covs else "")
         + f"; cross-validating {list(states)} states")
    best_mean, scores = select_n_states(parts, states, folds, covariates=covs, mask=masks,
                                        **params)
    best = one_standard_error(scores)
    _log("held-out log-likelihood: " + ", ".join(
        f"K={int(k)} {float(v):.4f}" for k, v in zip(scores["n_states"].values,
                                                     scores.mean("fold").values, strict=True))
         + f"; selected K={best}")
    fitted = {}
    for k in states:
        model = GLMHMM(n_states=int(k), **params).fit(parts, covs, masks)
        _log(f"fitted K={int(k)}: {model.n_iter_} EM iterations, converged {model.converged_}")
        params_ds = model.to_xarray()
        decoded, train_loglik = _decoded(model, parts, covs, masks)
        out = xr.merge([params_ds, decoded])
        if fmri is not None:
            out = _with_parcels(out, fmri, int(k))
        out.attrs.update(params_ds.attrs, selected=int(k == best), train_loglik=train_loglik)
        provenance.stamp(out, [raw], source=str(ds.attrs.get("source", raw)),
                         config_digest=config_digest)
        fitted[k] = out
    mean = scores.mean("fold")
    chosen = fitted[best]
    keep = np.concatenate(masks)[:, 0] if masks else np.ones(chosen.sizes["time"], bool)
    from .brainstates import occupancy_dwell

    states_summary = occupancy_dwell(chosen["state_path"].values, keep,
                                     chosen["sequence"].values, int(best),
                                     1.0 / float(ds.attrs["sfreq"]))
    metrics = {
        "session": raw.parent.name, "modality": modality, "selected_n_states": int(best),
        "best_mean_n_states": int(best_mean),
        "selection_rule": "fewest states within one standard error (of the paired per-fold "
                          "differences) of the best mean held-out log-likelihood",
        "n_sequences": len(parts), "n_bins": int(sum(p.sizes["time"] for p in parts)),
        "n_neurons": int(parts[0].sizes["channel"]), "folds_over": scores.attrs["folds_over"],
        "heldout_loglik": {str(int(k)): scores.sel(n_states=k).values.tolist()
                           for k in scores["n_states"].values},
        "heldout_loglik_mean": {str(int(k)): float(mean.sel(n_states=k))
                                for k in scores["n_states"].values},
        "train_loglik": {str(k): m.attrs["train_loglik"] for k, m in fitted.items()},
        "params": {k: v for k, v in params.items()},
        "covariates": None if covs is None else [str(c) for c in covs[0]["covariate"].values],
        "units": scores.attrs["units"],
        "states": states_summary,
        **({} if fmri is None else {"fmri": {
            "atlas": fmri["atlas"], "atlas_reference": fmri["atlas_reference"],
            "n_parcels": len(fmri["parcels"]), "components": int(components),
            "explained_variance": [float(v) for v in fmri["explained"]],
            "n_volumes": int(keep.size), "n_kept": int(keep.sum())}}),
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
