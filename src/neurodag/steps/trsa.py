"""The ``trsa`` step: RDMs of every session of a dataset, their transforms, identification
(:class:`~neurodag.models.rsa.TopologicalRSA`) -> ``trsa.nc`` and ``metrics.json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .. import layout
from ..options import Options, option
from ..records import TRSAMetrics as Metrics
from .contract import Arg, Input, Output, Step

#: Options of the condition patterns: ephys epochs, fMRI GLM betas.
EPHYS_PATTERNS = ("window", "baseline", "time_bins", "n_folds", "normalize")
FMRI_PATTERNS = ("per_event", "hrf_model", "drift_model", "high_pass", "confounds",
                 "noise_model")


@dataclass(frozen=True)
class TRSAOptions(Options):
    """RDMs, transforms and identification; pattern options unset (null) take the pattern
    function's defaults (:func:`~neurodag.models.rsa.patterns.epochs`,
    :func:`~neurodag.models.rsa.patterns.glm_betas`)."""

    metric: Literal["correlation", "euclidean", "crossnobis"] = option(
        "correlation", "dissimilarity of condition patterns")
    lower: float = option(0.2, "l of the stored geo-topological and geodesic RDMs", ge=0, le=1)
    upper: float = option(0.8, "u of the stored geo-topological and geodesic RDMs", ge=0, le=1)
    step: float = option(0.05, "grid step of the (l, u) accuracy map", gt=0, le=0.5)
    labels: list[str] | None = option(None, "event labels used as conditions (default those "
                                            "in every session)")
    regions: Literal["auto", "region", "quadrant", "time", "all"] | dict | None = option(
        "auto", "what each RDM covers: the region coordinate, scalp quadrants, time windows "
                "after the events (all channels; >= 3 labels), all channels, or a mapping "
                "{group: [channels]} (auto: region, else quadrants, else time)")
    min_channels: int = option(3, "smallest channel group kept as a region", ge=1)
    window: list[float] | None = option(None, "ephys: response window after each event, in s "
                                              "(default [0.1, 0.6])", min_items=2,
                                        max_items=2)
    baseline: list[float] | Literal[False] | None = option(
        None, "ephys: baseline window in s subtracted per channel (default [-0.2, 0]; false: "
              "none)", min_items=2, max_items=2)
    time_bins: int | None = option(None, "ephys: bins of the window, each (label, bin) a "
                                         "condition (default 5 below 3 labels, else 1), or the "
                                         "windows of time-resolved RDMs (default 5)", ge=1)
    n_folds: int | None = option(None, "ephys: repeats per condition (default the smallest "
                                       "epoch count)", ge=1)
    normalize: bool | Literal["auto"] | None = option(
        None, "ephys: divide channels by their baseline noise sd (default auto)")
    per_event: bool | None = option(None, "fMRI: one regressor per event (default false)")
    hrf_model: str | None = option(None, "fMRI: nilearn HRF model (default glover)")
    drift_model: str | None = option(None, "fMRI: nilearn drift model (default cosine)")
    high_pass: float | None = option(None, "fMRI: high-pass in Hz (default 0.01)", gt=0)
    confounds: list[str] | None = option(None, "fMRI: confound columns added as nuisance "
                                               "regressors")
    noise_model: Literal["ar1", "ols"] | None = option(None, "fMRI: GLM noise model "
                                                             "(default ar1)")

    def validate(self, where):
        from ..options import fail

        if self.lower > self.upper:
            fail(f"{where}.lower", f"{self.lower} is above upper {self.upper}")

    def patterns(self, modality: str) -> dict:
        """The pattern options that are set; those of the other kind of data are errors."""
        from ..options import fail

        given = {k: v for k, v in self.to_dict().items()
                 if k in EPHYS_PATTERNS + FMRI_PATTERNS and v is not None}
        other = EPHYS_PATTERNS if modality == "fmri" else FMRI_PATTERNS
        for key in given:
            if key in other:
                fail(f"trsa.{key}", f"not an option for {modality} data")
        if given.get("baseline") is False:
            given["baseline"] = None
        return given


@dataclass(frozen=True)
class TRSAConfig(TRSAOptions):
    input: Literal["raw", "clean"] = option("clean", "use the raw or the preprocessed signal",
                                            wiring=True)


def compute(inputs, options: TRSAOptions, ctx):
    from ..models.rsa import TopologicalRSA

    sessions = inputs.read("sessions")
    modality = str(sessions[0].attrs.get("modality", "")) if sessions else ""
    model = TopologicalRSA(metric=options.metric, lower=options.lower, upper=options.upper,
                           step=options.step, regions=options.regions, labels=options.labels,
                           min_channels=options.min_channels,
                           patterns=options.patterns(modality)).fit(sessions)
    metrics = Metrics(**model.metrics_, options=options.to_dict())
    return {"results": {layout.TRSA_RESULTS: model.to_xarray(), layout.METRICS: metrics}}


STEP = Step(
    name="trsa",
    help="RDMs, topological transforms and region identification",
    inputs={"sessions": Input("signal", "the sessions' contract stores", many=True)},
    outputs={"results": Output("folder", "trsa.nc and metrics.json")},
    options=TRSAOptions,
    compute=compute,
    config="analyses.trsa",
    config_options=TRSAConfig,
    modalities=("eeg", "meg", "seeg", "ecog", "fmri", "calcium"),
    args=(Arg("sessions", role="sessions", nargs="+", metavar="STORE"),),
)
