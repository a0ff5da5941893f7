"""The ``fit-glmhmm-pooled`` step: GLM-HMMs of every session of every subject of a dataset
of trial tables (behaviour), Ashwood et al. 2022's protocol (:mod:`neurodag.models.glmhmm.
pooled`).

Each input is one subject's trial table (many sessions); the sessions of all subjects are
pooled, the number of states is chosen by held-out log-likelihood with folds made of whole
sessions, a global model with each candidate number of states is fitted (a one-state GLM
plus noise, ``n_init`` starts), and each subject's model is fitted from the selected global
one. The lapse models are fitted on the same folds for comparison, and every score is also
given in bits per trial over the training choices' frequency.

Output (one folder): ``K{k}.nc`` (the global model with k states, and the posteriors and
Viterbi path of every trial), ``subjects/{subject}.nc`` (each subject's model with the
selected number of states, with its trials' posteriors) and ``metrics.json``
(:class:`~neurodag.records.GLMHMMPooledMetrics`). The options are those of
``analyses.glmhmm`` (:class:`~.fit_glmhmm.GLMHMMOptions`), resolved for trial tables.
"""

from __future__ import annotations

import numpy as np

from .. import layout
from ..records import GLMHMMPooledMetrics as Metrics
from .contract import Arg, Input, Output, Step
from .fit_glmhmm import GLMHMMConfig, GLMHMMOptions


def _designs(tables: dict, spec: dict) -> dict:
    """Each subject's trial design (:func:`~neurodag.models.glmhmm.features.trial_design`)."""
    from .. import schema_trials
    from ..errors import InputError
    from ..models.glmhmm.features import trial_design

    out = {}
    for path, ds in tables.items():
        ds = ds.load()
        if not schema_trials.is_trials(ds):
            raise InputError(f"{path}: not a trial table (dim 'trial'); GLM-HMMs of time "
                             "series are fitted per session (fit-glmhmm)")
        schema_trials.validate_trials(ds, where=str(path))
        sub = str(ds.attrs["subject"])
        if sub in out:
            raise InputError(f"{path}: subject {sub!r} appears in two stores")
        out[sub] = trial_design(ds, **spec)
    return out


def _decoded(model, d, subjects):
    import xarray as xr

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
    from ..models.glmhmm.lapse import LapseModel
    from ..models.glmhmm.metrics import baseline_loglik

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


def _bits(scores, base, states) -> dict:
    """Held-out bits per trial of each model and fold, over the training choices' baseline."""
    from ..models.glmhmm.metrics import bits_per_trial

    bits = {f"K{k}": [bits_per_trial(float(scores.sel(n_states=k)[f]) * b["n_trials"],
                                     b["baseline"], b["n_trials"]) for f, b in enumerate(base)]
            for k in states}
    for k in (1, 2):
        if base and f"lapse{k}" in base[0]:
            bits[f"lapse{k}"] = [bits_per_trial(b[f"lapse{k}"], b["baseline"], b["n_trials"])
                                 for b in base]
    return bits


def compute(inputs, options: GLMHMMOptions, ctx):
    import xarray as xr

    from ..errors import InputError
    from ..models.glmhmm.estimator import GLMHMM
    from ..models.glmhmm.pooled import fit_global_and_subjects
    from ..models.glmhmm.select import one_standard_error, select_n_states, sequence_folds

    options.check_modality("behavior", "fit-glmhmm-pooled")
    resolved = options.resolved("behavior")
    params = options.params("behavior")
    params.pop("init")   # the protocol's: a one-state GLM, then the global model
    spec = {k: tuple(resolved[k]) if k != "response" else resolved[k]
            for k in ("response", "covariates", "transition_covariates")}
    designs = _designs(dict(zip(inputs["tables"], inputs.read("tables"), strict=True)), spec)
    subjects = list(designs)
    d = _pool(designs, subjects)
    n_trials = int(sum(m.sum() for m in d["mask"]))
    names = designs[subjects[0]]["names"]
    states, folds = options.states, options.folds
    ctx.log(f"{len(subjects)} subjects, {len(d['X'])} sessions, {n_trials} trials with a "
            f"choice; covariates {names}; cross-validating {states} states over {folds} "
            "folds of sessions")
    seed = int(params["random_state"])
    fold_idx = sequence_folds(len(d["X"]), folds, seed)
    if fold_idx is None:
        raise InputError(f"fit-glmhmm-pooled: {len(d['X'])} sessions, fewer than {folds} "
                         "folds")
    sel = {k: v for k, v in params.items() if k != "random_state"}
    best_mean, scores = select_n_states(d["X"], states, folds, covariates=d["covariates"],
                                        mask=d["mask"], random_state=seed, init="glm", **sel)
    best = one_standard_error(scores)
    base = _baselines(d, fold_idx, (1, 2) if params["emission"] == "bernoulli" else (), seed)
    bits = _bits(scores, base, states)
    ctx.log("held-out bits/trial: " + ", ".join(f"{n} {np.mean(v):.4f}"
                                                 for n, v in bits.items())
            + f"; selected K={best}")
    by_subject = {s: {k: designs[s][k] for k in ("X", "covariates", "mask")} for s in subjects}
    files = {}
    for k in states:
        glob, subs = fit_global_and_subjects(by_subject, n_states=k, **params) if k == best \
            else (GLMHMM(n_states=k, init="glm", **params).fit(d["X"], d["covariates"],
                                                                d["mask"]), {})
        glob.covariates_ = list(names)
        out = xr.merge([glob.to_xarray(), _decoded(glob, d, d["subject_of"])])
        out.attrs.update(glob.to_xarray().attrs, selected=int(k == best), level="global")
        files[layout.GLMHMM_FIT.format(k=k)] = ctx.stamp(out)
        for s, m in subs.items():
            m.covariates_ = list(names)
            ds_s = xr.merge([m.to_xarray(), _decoded(m, designs[s], [s] * len(designs[s]["X"]))])
            ds_s.attrs.update(m.to_xarray().attrs, level="subject", subject=s)
            files[layout.GLMHMM_SUBJECT_FIT.format(subject=s)] = ctx.stamp(ds_s)
        ctx.log(f"fitted K={k}: {glob.n_iter_} EM iterations"
                + (f"; {len(subs)} subject fits from it" if subs else ""))
    files[layout.METRICS] = Metrics(
        subjects=subjects, selected_n_states=int(best), best_mean_n_states=int(best_mean),
        n_sessions=len(d["X"]), n_trials=n_trials, response=resolved["response"],
        covariates=list(resolved["covariates"]),
        transition_covariates=list(resolved["transition_covariates"]),
        selection_rule="fewest states within one standard error (of the paired per-fold "
                       "differences) of the best mean held-out log-likelihood",
        folds_over="sessions",
        heldout_loglik={str(int(k)): scores.sel(n_states=k).values.tolist()
                        for k in scores["n_states"].values},
        bits_per_trial=bits,
        bits_per_trial_mean={n: float(np.mean(v)) for n, v in bits.items()},
        units="held-out log-likelihood per trial; bits/trial over the training choices' "
              "frequency (Ashwood et al. 2022)",
        subject_trials={s: int(sum(m.sum() for m in designs[s]["mask"])) for s in subjects},
        options={**options.to_dict(), **params})
    return {"fits": files}


STEP = Step(
    name="fit-glmhmm-pooled",
    help="GLM-HMMs of every session of every subject (trial tables)",
    inputs={"tables": Input("dataset", "one trial table (raw.zarr) per subject", many=True)},
    outputs={"fits": Output("folder", "K{k}.nc, subjects/{subject}.nc and metrics.json")},
    options=GLMHMMOptions,
    compute=compute,
    config="analyses.glmhmm",
    config_options=GLMHMMConfig,
    modalities=("behavior",),
    args=(Arg("tables", role="tables", nargs="+", metavar="RAW_ZARR"),),
)
