"""The ``fit_glmhmm`` step for trial tables: every session of every subject of a dataset.

Ashwood et al. 2022's protocol (:mod:`.pooled`): each store is one subject's trial table
(many sessions); the sessions of all subjects are pooled, the number of states is chosen by
held-out log-likelihood with folds made of whole sessions, a global model with each
candidate number of states is fitted (a one-state GLM plus noise, ``n_init`` starts), and
each subject's model is fitted from the selected global one. The lapse models are fitted
on the same folds for comparison, and every score is also given in bits per trial over the
training choices' frequency.

Outputs (``out_dir``): ``K{k}.nc`` (the global model with k states, and the posteriors and
Viterbi path of every trial), ``subjects/{subject}.nc`` (each subject's model with the
selected number of states, with its trials' posteriors), ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ... import provenance, schema_trials, store
from ...errors import ConfigError, InputError
from .step import _log, one_standard_error


def _designs(stores):
    """Each subject's trial design (:func:`~.features.trial_design`)."""
    from .features import trial_design

    out = {}
    for path, ds, spec in stores:
        sub = str(ds.attrs.get("subject", Path(path).parent.name))
        if sub in out:
            raise InputError(f"{path}: subject {sub!r} appears in two stores")
        out[sub] = trial_design(ds, **spec)
    return out


def _decoded(model, d, subjects) -> xr.Dataset:
    paths, probs, _ = model.decode(d["X"], d["covariates"], d["mask"])
    n = [len(x) for x in d["X"]]
    return xr.Dataset(
        {"state_path": (("trial",), np.concatenate(paths).astype(np.int16)),
         "posterior": (("trial", "state"), np.concatenate(probs))},
        coords={"trial": np.arange(sum(n)),
                "session_id": ("trial", np.asarray(np.repeat(d["sessions"], n), dtype=object)),
                "subject": ("trial", np.asarray(np.repeat(subjects, n), dtype=object))})


def _pool(designs, subjects):
    keys = ("X", "covariates", "mask", "sessions")
    out = {k: [v for s in subjects for v in designs[s][k]] for k in keys}
    out["subject_of"] = [s for s in subjects for _ in designs[s]["X"]]
    return out


def _baselines(d, folds, n_lapse_fits, seed):
    """Per fold: the training choices' log-likelihood baseline, the lapse models'."""
    from .lapse import LapseModel
    from .metrics import baseline_loglik

    rows = []
    for test in folds:
        train = [i for i in range(len(d["X"])) if i not in set(test)]

        def pick(k, idx):
            return [d[k][i] for i in idx]

        def choices(idx):
            return [np.where(m, x, np.nan) for x, m in zip(pick("X", idx), pick("mask", idx),
                                                             strict=True)]

        n = int(sum(m.sum() for m in pick("mask", test)))
        row = {"n_trials": n, "baseline": baseline_loglik(choices(train), choices(test))}
        for k in n_lapse_fits:
            lm = LapseModel(n_lapse=k, random_state=seed).fit(
                pick("X", train), pick("covariates", train), pick("mask", train))
            row[f"lapse{k}"] = lm.loglik(pick("X", test), pick("covariates", test),
                                         pick("mask", test))
        rows.append(row)
    return rows


def run_pooled(stores, out_dir, *, states=(1, 2, 3, 4), folds: int = 5,
               response: str = "choice", covariates=("stimulus",), transition_covariates=(),
               config_digest: str = "", **params) -> dict[str, Path]:
    """Fit GLM-HMMs to every session of every subject (trial tables) and select one.

    Parameters
    ----------
    stores : sequence of path-like
        One trial-table store per subject (``results/{dataset}/{session}/raw.zarr``).
    out_dir : path-like
        Receives ``K{k}.nc``, ``subjects/{subject}.nc`` and ``metrics.json``, all or none.
    states, folds : see :func:`~.step.run_session` (folds over whole sessions).
    response, covariates, transition_covariates
        Table columns (and history terms ``prev_choice``, ``wsls``), see
        :func:`~.features.trial_design`.
    **params
        :class:`~.GLMHMM` parameters; by default Bernoulli choices, covariates as inputs,
        ``n_init=5`` starts and the prior of Ashwood et al.'s per-animal fits (``l2=0.25``,
        ``pseudocount=1``).
    """
    import inspect

    from ...errors import check_known
    from .estimator import GLMHMM
    from .metrics import bits_per_trial
    from .pooled import fit_global_and_subjects
    from .select import select_n_states, sequence_folds

    accepted = set(inspect.signature(GLMHMM).parameters) - {"n_states", "init"}
    check_known("fit-glmhmm", params, accepted)
    states = [int(k) for k in states]
    if len(set(states)) != len(states):
        raise ConfigError(f"fit-glmhmm: states {states} repeat a number of states")
    params = {"emission": "bernoulli", "link": "sigmoid", "inputs": "covariates",
              "n_init": 5, "l2": 0.25, "pseudocount": 1.0, "random_state": 0, **params}
    if transition_covariates:
        params.setdefault("transitions", "input_driven")
    out_dir = Path(out_dir)
    loaded = []
    for p in map(Path, stores):
        ds = store.read_dataset(p).load()
        if not schema_trials.is_trials(ds):
            raise InputError(f"{p}: not a trial table (dim 'trial'); GLM-HMMs of time "
                             "series are fitted per session")
        schema_trials.validate_trials(ds, where=str(p))
        loaded.append((p, ds, {"response": response, "covariates": tuple(covariates),
                               "transition_covariates": tuple(transition_covariates)}))
    designs = _designs(loaded)
    subjects = list(designs)
    d = _pool(designs, subjects)
    n_trials = int(sum(m.sum() for m in d["mask"]))
    names = designs[subjects[0]]["names"]
    _log(f"{len(subjects)} subjects, {len(d['X'])} sessions, {n_trials} trials with a "
         f"choice; covariates {names}; "
         f"cross-validating {states} states over {folds} folds of sessions")
    seed = int(params["random_state"])
    fold_idx = sequence_folds(len(d["X"]), folds, seed)
    if fold_idx is None:
        raise InputError(f"fit-glmhmm: {len(d['X'])} sessions, fewer than {folds} folds")
    sel = {k: v for k, v in params.items() if k != "random_state"}
    best_mean, scores = select_n_states(d["X"], states, folds, covariates=d["covariates"],
                                        mask=d["mask"], random_state=seed, init="glm", **sel)
    best = one_standard_error(scores)
    base = _baselines(d, fold_idx, (1, 2) if params["emission"] == "bernoulli" else (), seed)
    bits = {}
    for k in states:
        bits[f"K{k}"] = [bits_per_trial(float(scores.sel(n_states=k)[f]) * b["n_trials"],
                                        b["baseline"], b["n_trials"])
                         for f, b in enumerate(base)]
    for k in (1, 2):
        if base and f"lapse{k}" in base[0]:
            bits[f"lapse{k}"] = [bits_per_trial(b[f"lapse{k}"], b["baseline"], b["n_trials"])
                                 for b in base]
    _log("held-out bits/trial: " + ", ".join(f"{n} {np.mean(v):.4f}" for n, v in bits.items())
         + f"; selected K={best}")
    by_subject = {s: {k: designs[s][k] for k in ("X", "covariates", "mask")} for s in subjects}
    fitted, per_subject = {}, {}
    sources = [str(p) for p, _, _ in loaded]
    def named(model):
        model.covariates_ = list(names)
        return model

    for k in states:
        glob, subs = fit_global_and_subjects(by_subject, n_states=k, **params) if k == best \
            else (GLMHMM(n_states=k, init="glm", **params).fit(d["X"], d["covariates"],
                                                                d["mask"]), {})
        named(glob)
        out = xr.merge([glob.to_xarray(), _decoded(glob, d, d["subject_of"])])
        out.attrs.update(glob.to_xarray().attrs, selected=int(k == best), level="global")
        fitted[k] = provenance.stamp(out, sources, source="pooled trial tables",
                                     config_digest=config_digest)
        for s, m in subs.items():
            named(m)
            ds_s = xr.merge([m.to_xarray(), _decoded(m, designs[s], [s] * len(designs[s]["X"]))])
            ds_s.attrs.update(m.to_xarray().attrs, level="subject", subject=s)
            per_subject[s] = provenance.stamp(ds_s, sources, source="pooled trial tables",
                                              config_digest=config_digest)
        _log(f"fitted K={k}: {glob.n_iter_} EM iterations" + (
            f"; {len(subs)} subject fits from it" if subs else ""))
    metrics = {
        "pooled": True, "subjects": subjects, "selected_n_states": int(best),
        "best_mean_n_states": int(best_mean), "n_sessions": len(d["X"]),
        "n_trials": n_trials, "response": response, "covariates": list(covariates),
        "transition_covariates": list(transition_covariates),
        "selection_rule": "fewest states within one standard error (of the paired per-fold "
                          "differences) of the best mean held-out log-likelihood",
        "folds_over": "sessions",
        "heldout_loglik": {str(int(k)): scores.sel(n_states=k).values.tolist()
                           for k in scores["n_states"].values},
        "bits_per_trial": bits,
        "bits_per_trial_mean": {n: float(np.mean(v)) for n, v in bits.items()},
        "units": "held-out log-likelihood per trial; bits/trial over the training choices' "
                 "frequency (Ashwood et al. 2022)",
        "subject_trials": {s: int(sum(m.sum() for m in designs[s]["mask"])) for s in subjects},
        "params": params,
        "provenance": {"inputs": sources, "config_digest": config_digest},
    }
    with store.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        (tmp / "subjects").mkdir()
        for k, out in fitted.items():
            store.write_netcdf(out, tmp / f"K{k}.nc")
        for s, out in per_subject.items():
            store.write_netcdf(out, tmp / "subjects" / f"{s}.nc")
        store.write_json(metrics, tmp / "metrics.json")
    return {**{f"K{k}": out_dir / f"K{k}.nc" for k in fitted},
            **{f"subject {s}": out_dir / "subjects" / f"{s}.nc" for s in per_subject},
            "metrics": out_dir / "metrics.json"}
