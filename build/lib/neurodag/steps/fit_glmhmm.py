"""The ``fit-glmhmm`` step: model selection over the number of states for one session.

One session at a time, because sessions of real datasets record different neurons, and a
GLM-HMM's weights are per neuron pair. The session is cut into its sequences (events
labelled ``sequence_label``; the whole recording otherwise), the number of states is
chosen by k-fold held-out log-likelihood (:func:`~neurodag.models.glmhmm.select.
select_n_states`, then :func:`~neurodag.models.glmhmm.select.one_standard_error`), and a
model with each candidate number of states is fitted to all sequences and written as
``K{k}.nc`` with its Viterbi path and posteriors, so that any candidate can be inspected;
``metrics.json`` (:class:`~neurodag.records.GLMHMMMetrics`) holds the scores and names the selected one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .. import layout
from ..options import Options, option
from ..records import GLMHMMMetrics as Metrics
from .contract import Arg, Input, Output, Step

#: Emission and link by modality, when the options do not say.
BY_MODALITY = {
    "spikes": {"emission": "poisson", "link": "softplus"},
    "calcium": {"emission": "gaussian", "link": "identity"},
}
#: Options of the selection itself; the others are GLMHMM parameters.
SELECTION = ("states", "folds", "sequence_label")


@dataclass(frozen=True)
class GLMHMMOptions(Options):
    """The candidates, the folds, and the :class:`~neurodag.models.glmhmm.GLMHMM` parameters
    (defaults equal to the estimator's; tests/test_steps.py checks)."""

    states: list[int] = option([1, 2, 3, 4, 5], "candidate numbers of states", ge=1,
                               min_items=1)
    folds: int = option(3, "folds of the cross-validation (over sequences, or time blocks "
                           "of one sequence)", ge=2)
    sequence_label: str = option("sequence", "events with this label cut a session into "
                                              "sequences (trials)")
    prior: Literal["none", "gaussian", "onehot"] = option(
        "none", "prior on the weights: none, Gaussian around the states' mean, one-hot "
                "connectivity")
    emission: Literal["poisson", "gaussian", "bernoulli"] | None = option(
        None, "emission distribution (default by modality: spikes poisson, calcium gaussian)")
    link: Literal["softplus", "sigmoid", "exp", "identity"] | None = option(
        None, "link function (default by modality: spikes softplus, calcium identity)")
    n_lags: int = option(5, "bins of history feeding the GLM (exp(-k) basis)", ge=1)
    share_bias: bool = option(True, "one bias per neuron for all states")
    sigma0: float = option(1 / 3, "standard deviation of the Gaussian prior", gt=0)
    tau: float = option(0.2, "Gumbel-softmax temperature (one-hot prior)", gt=0)
    n_adam_steps: int = option(50, "Adam steps per M-step (one-hot prior)", ge=1)
    lr: float = option(0.05, "Adam learning rate (one-hot prior)", gt=0)
    concentration: list[float] = option([0.2, 1.6, 0.2], "Dirichlet hyperprior on the "
                                        "one-hot prior over (inh, none, exc)", gt=0,
                                        min_items=3, max_items=3)
    l2: float = option(1e-2, "ridge on the weights", ge=0)
    max_iter: int = option(100, "EM iterations at most", ge=1)
    tol: float = option(1e-6, "EM stops when the log-likelihood per bin and neuron rises by "
                              "less than this", gt=0)
    newton_iter: int = option(1, "Newton iterations per M-step", ge=1)
    init: Literal["kmeans", "random"] = option("kmeans", "initial posteriors")
    n_init: int = option(1, "EM runs from different initial posteriors (best kept)", ge=1)
    pseudocount: float = option(1.0, "added to the expected transition counts", ge=0)
    random_state: int = option(0, "seed of the folds and of every fit", ge=0)
    device: str = option("cpu", "cpu or cuda")
    dtype: Literal["float64", "float32"] = option("float64", "precision of the computation")
    chunk: int | None = option(None, "chunk length of the forward-backward (default ~ "
                                     "sqrt(bins))", ge=1)

    def validate(self, where):
        from ..options import fail

        if len(set(self.states)) != len(self.states):
            fail(f"{where}.states", f"{self.states} repeats a value")

    def params(self, modality: str) -> dict:
        """The GLMHMM parameters, emission and link defaulting by ``modality``."""
        out = {k: v for k, v in self.to_dict(wiring=False).items() if k not in SELECTION}
        for key in ("emission", "link"):
            if out[key] is None:
                out[key] = BY_MODALITY[modality][key]
        return out


@dataclass(frozen=True)
class GLMHMMConfig(GLMHMMOptions):
    """Config ``analyses.glmhmm``: the options and which store the rule gives."""

    input: Literal["raw", "clean"] = option("clean", "fit the raw or the preprocessed signal",
                                            wiring=True)


@dataclass(frozen=True)
class FitOptions(GLMHMMOptions):
    session: str | None = option(None, "the session id the metrics name (default: "
                                       "sub-SUBJECT_ses-SESSION of the store)")


def _decoded(model, parts):
    """Viterbi path and posteriors of every sequence, on one concatenated time axis, and the
    log-likelihood per bin and neuron (one inference pass)."""
    import xarray as xr

    paths, probs, loglik = model.decode(parts)
    paths = paths if isinstance(paths, list) else [paths]
    probs = probs if isinstance(probs, list) else [probs]
    time = np.concatenate([p["time"].values for p in parts])
    seq = np.concatenate([np.full(p.sizes["time"], i) for i, p in enumerate(parts)])
    return xr.Dataset(
        {"state_path": (("time",), np.concatenate(paths).astype(np.int16)),
         "posterior": (("time", "state"), np.concatenate(probs))},
        coords={"time": time, "sequence": ("time", seq)},
    ), loglik


def compute(inputs, options: FitOptions, ctx):
    import xarray as xr

    from ..errors import InputError
    from ..models.glmhmm.data import sequences
    from ..models.glmhmm.estimator import GLMHMM
    from ..models.glmhmm.select import one_standard_error, select_n_states

    ds = inputs.read("signal")
    modality = ds.attrs["modality"]
    if modality not in BY_MODALITY:
        raise InputError(f"{inputs['signal']}: GLM-HMMs are fitted to spikes or calcium, "
                         f"not {modality}")
    params = options.params(modality)
    params.pop("session")
    states = options.states
    parts = [p.load() for p in sequences(ds, label=options.sequence_label)]
    n_bins = int(sum(p.sizes["time"] for p in parts))
    ctx.log(f"{inputs['signal']}: {len(parts)} sequences, {n_bins} bins, "
            f"{ds.sizes['channel']} neurons; cross-validating {states} states")
    best_mean, scores = select_n_states(parts, states, options.folds, **params)
    best = one_standard_error(scores)
    mean = scores.mean("fold")
    ctx.log("held-out log-likelihood: " + ", ".join(
        f"K={int(k)} {float(v):.4f}" for k, v in zip(scores["n_states"].values, mean.values,
                                                      strict=True)) + f"; selected K={best}")
    files, train = {}, {}
    for k in states:
        model = GLMHMM(n_states=int(k), **params).fit(parts)
        ctx.log(f"fitted K={int(k)}: {model.n_iter_} EM iterations, converged "
                f"{model.converged_}")
        fitted = model.to_xarray()
        decoded, train[str(k)] = _decoded(model, parts)
        out = xr.merge([fitted, decoded])
        out.attrs.update(fitted.attrs, selected=int(k == best), train_loglik=train[str(k)])
        files[layout.GLMHMM_FIT.format(k=k)] = ctx.stamp(out)
    session = options.session or f"sub-{ds.attrs['subject']}_ses-{ds.attrs['session']}"
    files[layout.METRICS] = Metrics(
        session=session, modality=modality, selected_n_states=int(best),
        best_mean_n_states=int(best_mean),
        selection_rule="fewest states within one standard error (of the paired per-fold "
                       "differences) of the best mean held-out log-likelihood",
        n_sequences=len(parts), n_bins=n_bins, n_neurons=int(ds.sizes["channel"]),
        folds_over=scores.attrs["folds_over"],
        heldout_loglik={str(int(k)): scores.sel(n_states=k).values.tolist()
                        for k in scores["n_states"].values},
        heldout_loglik_mean={str(int(k)): float(mean.sel(n_states=k))
                             for k in scores["n_states"].values},
        train_loglik=train, units=scores.attrs["units"],
        options={**options.to_dict(), **params})
    return {"fits": files}


STEP = Step(
    name="fit-glmhmm",
    help="GLM-HMMs over a grid of states for one session",
    inputs={"signal": Input("signal", "the session's store (binned spike counts, or calcium "
                                      "traces)")},
    outputs={"fits": Output("folder", "K{k}.nc for every candidate and metrics.json")},
    options=FitOptions,
    compute=compute,
    config="analyses.glmhmm",
    config_options=GLMHMMConfig,
    modalities=("spikes", "calcium"),
    keeps_source=True,
    args=(Arg("signal", role="signal", metavar="INPUT.zarr"),),
)
