"""The ``fit-glmhmm`` step: model selection over the number of states for one session.

One session at a time, because sessions of real datasets record different neurons, and a
GLM-HMM's coupling weights are per neuron pair. The session is cut into its sequences
(events labelled ``sequence_label``; the whole recording otherwise); with ``covariates``,
the session's other events give stimulus kernels
(:func:`~neurodag.models.glmhmm.features.event_regressors`). An fMRI session gives brain
states: a Gaussian HMM of its parcel series' leading principal components, censored volumes
missing (:mod:`neurodag.models.glmhmm.brainstates`). The number of states is
chosen by k-fold held-out log-likelihood (:func:`~neurodag.models.glmhmm.select.
select_n_states`, then :func:`~neurodag.models.glmhmm.select.one_standard_error`), and a
model with each candidate number of states is fitted to all sequences and written as
``K{k}.nc`` with its Viterbi path and posteriors, so that any candidate can be inspected;
``metrics.json`` (:class:`~neurodag.records.GLMHMMMetrics`) holds the scores, names the
selected one and gives its states' occupancy and dwell times.

The options (:class:`GLMHMMOptions`, config ``analyses.glmhmm``) are shared with
:mod:`.fit_glmhmm_pooled`, the same analysis of trial tables; those whose default depends
on the data are unset (null) and resolved by :meth:`GLMHMMOptions.params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .. import layout
from ..options import Options, fail, option
from ..records import GLMHMMMetrics as Metrics
from .contract import Arg, Input, Output, Step

#: The values an unset option takes, by modality (otherwise the estimator's defaults).
BY_MODALITY = {
    "spikes": {"emission": "poisson", "link": "softplus"},
    "calcium": {"emission": "gaussian", "link": "identity"},
    # brain states: a Gaussian HMM (state means and variances; no coupling) of the leading
    # principal components of the parcel series (neurodag.models.glmhmm.brainstates)
    "fmri": {"emission": "gaussian", "link": "identity", "inputs": "covariates",
             "atlas": "auto", "components": 5},
    # Ashwood et al. 2022's choice model: Bernoulli choices driven by the covariates, five
    # EM starts, the prior of their per-animal fits (sigma = 2), stimulus as the covariate.
    "behavior": {"emission": "bernoulli", "link": "sigmoid", "inputs": "covariates",
                 "n_init": 5, "l2": 0.25, "covariates": ["stimulus"], "response": "choice",
                 "transition_covariates": []},
}
#: Options of the selection and of the data; the others are GLMHMM parameters.
SELECTION = ("states", "folds", "sequence_label", "covariates", "response",
             "transition_covariates", "atlas", "components")


@dataclass(frozen=True)
class Kernels(Options):
    """Stimulus kernels from a session's events (``label@lag`` covariates)."""

    events: list[str] | None = option(None, "event labels (default: every label but the "
                                            "sequences')")
    lags: int = option(10, "bins of kernel after each onset", ge=1)


@dataclass(frozen=True)
class GLMHMMOptions(Options):
    """The candidates, the folds, the covariates and the :class:`~neurodag.models.glmhmm.
    GLMHMM` parameters (defaults equal to the estimator's, or unset where they depend on
    the data; tests/test_steps.py checks)."""

    states: list[int] = option([1, 2, 3, 4, 5], "candidate numbers of states", ge=1,
                               min_items=1)
    folds: int = option(3, "folds of the cross-validation (over sequences, or time blocks "
                           "of one sequence; trial tables: whole sessions)", ge=2)
    sequence_label: str = option("sequence", "events with this label cut a session into "
                                              "sequences (trials)")
    covariates: Kernels | list[str] | None = option(
        None, "spikes/calcium: stimulus kernels {events, lags} from the session's events; "
              "behavior: trial-table columns and history terms (prev_choice, wsls), default "
              "[stimulus]")
    response: str | None = option(None, "behavior: the column of the choices (default "
                                        "choice)")
    transition_covariates: list[str] | None = option(
        None, "behavior: more columns that drive the transitions (input-driven transitions; "
              "they enter the choice GLM too)")
    atlas: Literal["auto", "channels", "region", "fsaverage5_ico1", "fsaverage5_ico2",
                   "fsaverage5_ico3"] | None = option(
        None, "fMRI: the parcels the brain states are fitted to (as connectivity.atlas; "
              "default auto)")
    components: int | None = option(None, "fMRI: leading principal components of the "
                                          "z-scored parcel series (default 5)", ge=1)
    prior: Literal["none", "gaussian", "onehot"] = option(
        "none", "prior on the weights: none, Gaussian around the states' mean, one-hot "
                "connectivity")
    emission: Literal["poisson", "gaussian", "bernoulli", "categorical"] | None = option(
        None, "emission distribution (default by modality: spikes poisson, calcium and fMRI "
              "gaussian, behavior bernoulli)")
    link: Literal["softplus", "sigmoid", "exp", "identity"] | None = option(
        None, "link function (default by modality: spikes softplus, calcium and fMRI "
              "identity, behavior sigmoid)")
    n_lags: int = option(5, "bins of history feeding the coupling inputs (exp(-k) basis)",
                         ge=1)
    inputs: Literal["coupling", "covariates", "both"] | None = option(
        None, "what drives the emissions: the outputs' own history, the covariates, or both "
              "(default coupling; both with covariates; covariates for behavior and fMRI)")
    transitions: Literal["stationary", "input_driven"] | None = option(
        None, "transition logits constant or linear in the covariates (default stationary; "
              "input_driven with transition_covariates)")
    n_classes: int | None = option(None, "categorical emission: number of classes (default: "
                                         "from the data)", ge=2)
    share_bias: bool | Literal["auto"] = option(
        "auto", "one bias per output for all states (auto: with coupling inputs only)")
    sigma0: float = option(1 / 3, "standard deviation of the Gaussian prior", gt=0)
    tau: float = option(0.2, "Gumbel-softmax temperature (one-hot prior)", gt=0)
    n_adam_steps: int = option(50, "Adam steps per M-step (one-hot prior)", ge=1)
    lr: float = option(0.05, "Adam learning rate (one-hot prior)", gt=0)
    concentration: list[float] = option([0.2, 1.6, 0.2], "Dirichlet hyperprior on the "
                                        "one-hot prior over (inh, none, exc)", gt=0,
                                        min_items=3, max_items=3)
    l2: float | None = option(None, "precision of the Gaussian prior on the weights (default "
                                    "0.01; behavior 0.25)", ge=0)
    max_iter: int = option(100, "EM iterations at most", ge=1)
    tol: float = option(1e-6, "EM stops when the log-likelihood per observed value rises by "
                              "less than this", gt=0)
    newton_iter: int = option(1, "Newton iterations per M-step", ge=1)
    init: Literal["auto", "kmeans", "random", "glm"] = option(
        "auto", "EM start: k-means or random posteriors, or a one-state GLM with noise "
                "(auto: kmeans with coupling inputs, glm otherwise; behavior: glm)")
    n_init: int | None = option(None, "EM runs from different starts, the best kept "
                                      "(default 1; behavior 5)", ge=1)
    init_noise: float = option(0.2, "standard deviation of the noise on the GLM start", gt=0)
    pseudocount: float = option(1.0, "Dirichlet prior on each transition row (alpha - 1)",
                                ge=0)
    stickiness: float = option(0.0, "more Dirichlet prior on the diagonal of the "
                                    "transitions", ge=0)
    random_state: int = option(0, "seed of the folds and of every fit", ge=0)
    device: str = option("cpu", "cpu or cuda")
    dtype: Literal["float64", "float32"] = option("float64", "precision of the computation")
    chunk: int | None = option(None, "chunk length of the forward-backward (default ~ "
                                     "sqrt(bins))", ge=1)

    def validate(self, where):
        if len(set(self.states)) != len(self.states):
            fail(f"{where}.states", f"{self.states} repeats a value")

    def check_modality(self, modality, where):
        trials = modality == "behavior"
        cov = self.covariates
        if cov is not None and trials != isinstance(cov, list):
            want = "a list of trial-table columns" if trials else \
                "{events: [labels], lags: bins} (stimulus kernels)"
            fail(f"{where}.covariates", f"for {modality} datasets, expected {want}")
        for name in ("response", "transition_covariates"):
            if getattr(self, name) is not None and not trials:
                fail(f"{where}.{name}", "for trial tables (behavior datasets) only")
        if self.inputs in ("covariates", "both") and cov is None and not trials:
            fail(f"{where}.inputs", f"'{self.inputs}' needs covariates")
        for name in ("atlas", "components"):   # fMRI parcels
            if getattr(self, name) is not None and modality != "fmri":
                fail(f"{where}.{name}", "for fMRI datasets only")
        if trials and self.init != "auto":
            fail(f"{where}.init", "trial tables start from a one-state GLM with noise")

    def resolved(self, modality: str) -> dict:
        """Every option with the unset ones given their value for ``modality``."""
        out = self.to_dict(wiring=False)
        for key, value in BY_MODALITY[modality].items():
            if out[key] is None:
                out[key] = value
        if out["inputs"] is None and out["covariates"] is not None:
            out["inputs"] = "both"
        if out["transitions"] is None and out["transition_covariates"]:
            out["transitions"] = "input_driven"
        return out

    def params(self, modality: str) -> dict:
        """The GLMHMM parameters for ``modality`` (those still unset take the estimator's
        defaults)."""
        return {k: v for k, v in self.resolved(modality).items()
                if k not in SELECTION and k != "session" and v is not None}


@dataclass(frozen=True)
class GLMHMMConfig(GLMHMMOptions):
    """Config ``analyses.glmhmm``: the options and which store the rule gives."""

    input: Literal["raw", "clean"] = option(
        "clean", "fit the raw or the preprocessed signal (trial tables: raw)", wiring=True)


@dataclass(frozen=True)
class FitOptions(GLMHMMOptions):
    session: str | None = option(None, "the session id the metrics name (default: "
                                       "sub-SUBJECT_ses-SESSION of the store)")


def decoded(model, parts, covs=None, masks=None):
    """Viterbi path and posteriors of every sequence, on one concatenated time axis, and the
    log-likelihood per bin and neuron (one inference pass)."""
    import xarray as xr

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


def _covariates(ds, parts, kernels: dict | None):
    """The event regressors of every sequence (None without ``kernels``)."""
    if kernels is None:
        return None
    from ..models.glmhmm.features import event_regressors

    U = event_regressors(ds, kernels["events"], kernels["lags"])
    return [U.sel(time=p["time"].values) for p in parts]


def compute(inputs, options: FitOptions, ctx):
    import xarray as xr

    from ..errors import InputError
    from ..models.glmhmm.brainstates import occupancy_dwell, with_parcels
    from ..models.glmhmm.data import sequences
    from ..models.glmhmm.estimator import GLMHMM
    from ..models.glmhmm.select import one_standard_error, select_n_states

    ds = inputs.read("signal")
    modality = ds.attrs["modality"]
    if modality not in ("spikes", "calcium", "fmri"):
        raise InputError(f"{inputs['signal']}: GLM-HMMs of a session are fitted to spikes, "
                         f"calcium or fMRI, not {modality}"
                         + (" (trial tables: fit-glmhmm-pooled)" if modality == "behavior"
                            else ""))
    options.check_modality(modality, "fit-glmhmm")
    resolved = options.resolved(modality)
    params = options.params(modality)
    states = options.states
    masks, fmri = None, None
    if modality == "fmri":
        from ..models.glmhmm.brainstates import fmri_inputs

        X, mask, fmri = fmri_inputs(ds.load(), resolved["atlas"], resolved["components"],
                                    params["random_state"])
        parts, masks = [X], [mask]
        ctx.log(f"{inputs['signal']}: {len(fmri['parcels'])} parcels ({fmri['atlas']}), "
                f"{resolved['components']} principal components "
                f"({100 * fmri['explained'].sum():.1f} % of the variance), "
                f"{int(fmri['keep'].sum())} of {X.sizes['time']} volumes kept")
    else:
        parts = [p.load() for p in sequences(ds, label=options.sequence_label)]
    covs = _covariates(ds, parts, resolved["covariates"])
    if params.get("inputs") == "covariates" and covs is None:
        covs = [xr.DataArray(np.zeros((p.sizes["time"], 0)), dims=("time", "covariate"))
                for p in parts]  # no regressors: the states' means (and variances) only
    n_bins = int(sum(p.sizes["time"] for p in parts))
    ctx.log(f"{inputs['signal']}: {len(parts)} sequences, {n_bins} bins, "
            f"{parts[0].sizes['channel']} {'components' if fmri else 'neurons'}"
            + (f", {covs[0].sizes['covariate']} covariates" if covs else "")
            + f"; cross-validating {states} states")
    best_mean, scores = select_n_states(parts, states, options.folds, covariates=covs,
                                        mask=masks, **params)
    best = one_standard_error(scores)
    mean = scores.mean("fold")
    ctx.log("held-out log-likelihood: " + ", ".join(
        f"K={int(k)} {float(v):.4f}" for k, v in zip(scores["n_states"].values, mean.values,
                                                      strict=True)) + f"; selected K={best}")
    files, train = {}, {}
    for k in states:
        model = GLMHMM(n_states=int(k), **params).fit(parts, covs, masks)
        ctx.log(f"fitted K={int(k)}: {model.n_iter_} EM iterations, converged "
                f"{model.converged_}")
        fitted = model.to_xarray()
        path, train[str(k)] = decoded(model, parts, covs, masks)
        out = xr.merge([fitted, path])
        if fmri is not None:
            out = with_parcels(out, fmri, int(k))
        out.attrs.update(fitted.attrs, selected=int(k == best), train_loglik=train[str(k)])
        files[layout.GLMHMM_FIT.format(k=k)] = ctx.stamp(out)
    chosen = files[layout.GLMHMM_FIT.format(k=best)]
    keep = np.concatenate(masks)[:, 0] if masks else np.ones(chosen.sizes["time"], bool)
    session = options.session or f"sub-{ds.attrs['subject']}_ses-{ds.attrs['session']}"
    files[layout.METRICS] = Metrics(
        session=session, modality=modality, selected_n_states=int(best),
        best_mean_n_states=int(best_mean),
        selection_rule="fewest states within one standard error (of the paired per-fold "
                       "differences) of the best mean held-out log-likelihood",
        n_sequences=len(parts), n_bins=n_bins, n_neurons=int(parts[0].sizes["channel"]),
        folds_over=scores.attrs["folds_over"],
        heldout_loglik={str(int(k)): scores.sel(n_states=k).values.tolist()
                        for k in scores["n_states"].values},
        heldout_loglik_mean={str(int(k)): float(mean.sel(n_states=k))
                             for k in scores["n_states"].values},
        train_loglik=train, units=scores.attrs["units"],
        covariates=None if covs is None else [str(c) for c in covs[0]["covariate"].values],
        options={**options.to_dict(), **params},
        states=occupancy_dwell(chosen["state_path"].values, keep, chosen["sequence"].values,
                               int(best), 1.0 / float(ds.attrs["sfreq"])),
        fmri=None if fmri is None else {
            "atlas": fmri["atlas"], "atlas_reference": fmri["atlas_reference"],
            "n_parcels": len(fmri["parcels"]), "components": int(resolved["components"]),
            "explained_variance": [float(v) for v in fmri["explained"]],
            "n_volumes": int(keep.size), "n_kept": int(keep.sum())})
    return {"fits": files}


STEP = Step(
    name="fit-glmhmm",
    help="GLM-HMMs over a grid of states for one session",
    inputs={"signal": Input("signal", "the session's store (binned spike counts, calcium "
                                      "traces, or fMRI: brain states of its parcels)")},
    outputs={"fits": Output("folder", "K{k}.nc for every candidate and metrics.json")},
    options=FitOptions,
    compute=compute,
    config="analyses.glmhmm",
    config_options=GLMHMMConfig,
    modalities=("spikes", "calcium", "fmri"),
    keeps_source=True,
    args=(Arg("signal", role="signal", metavar="INPUT.zarr"),),
)
