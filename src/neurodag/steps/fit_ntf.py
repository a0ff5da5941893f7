"""The ``fit-ntf`` step: the dynamic connectome of a dataset's homogenized stack (calcium),
or of its fMRI sessions' parcel series (:func:`neurodag.models.ntf.parcels.parcel_stack`:
censored volumes left out of the affinities, each factor's temporal loading against the
windows' framewise displacement).

:class:`~neurodag.models.ntf.DynamicConnectome` on the stack (windows given in seconds,
rounded to samples of its ``dt``); ``rank{r}.nc`` for every rank fitted and
``metrics.json`` (:class:`~neurodag.records.NTFMetrics`): the selected rank, the rank-selection curve, the
tensor's shape and timing, communities per factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .. import layout
from ..options import Options, option
from ..records import NTFMetrics as Metrics
from .contract import Arg, Input, Output, Step


@dataclass(frozen=True)
class NTFOptions(Options):
    """Windows in seconds and the :class:`~neurodag.models.ntf.DynamicConnectome`
    parameters (defaults equal to the estimator's; tests/test_steps.py checks)."""

    window_s: float = option(20.0, "window length in s", gt=0)
    step_s: float | None = option(None, "hop between windows in s (default half a window)",
                                  gt=0)
    ranks: list[int] = option([2, 3, 4, 5, 6], "candidate ranks", ge=1, min_items=1)
    rank: int | None = option(None, "fit this rank only (no selection)", ge=1)
    n_restarts: int = option(5, "random initialisations per rank (lowest error kept)", ge=1)
    community: Literal["leiden", "louvain", "sbm"] = option(
        "leiden", "community detection on each factor")
    resolution: float = option(1.0, "modularity resolution (Leiden, Louvain)", gt=0)
    smooth: int | None = option(5, "Savitzky-Golay length (odd samples) of the derivative "
                                   "(null: central differences)", ge=1)
    stability_min: float = option(0.9, "rank selection: stability across restarts at least "
                                       "this", ge=0, le=1)
    drop_ratio: float = option(2.0, "rank selection: error drop at least this x the median "
                                    "drop of the last ranks", ge=0)
    n_iter_max: int = option(500, "HALS iterations at most", ge=1)
    tol: float = option(1e-6, "HALS stops when the relative error decreases less", gt=0)
    min_animals: int = option(1, "neurons present in fewer animals are left out", ge=1)
    random_state: int = option(0, "seed of the restarts and of the community detection", ge=0)
    atlas: Literal["auto", "channels", "region", "fsaverage5_ico1", "fsaverage5_ico2",
                   "fsaverage5_ico3"] | None = option(
        None, "fMRI: the parcels (as connectivity.atlas; default auto)")

    def check_modality(self, modality, where):
        from ..options import fail

        if self.atlas is not None and modality != "fmri":
            fail(f"{where}.atlas", "for fMRI datasets only")


def compute(inputs, options: NTFOptions, ctx):
    import numpy as np

    from ..errors import ConfigError, InputError
    from ..models.ntf import KERNEL, DynamicConnectome
    from ..models.ntf.estimator import add_motion
    from ..models.ntf.parcels import parcel_stack

    if (inputs["stack"] is None) == (not inputs["sessions"]):
        raise InputError("fit-ntf: give a homogenized stack or the fMRI sessions (one of "
                         "the two)")
    if inputs["stack"] is not None:
        options.check_modality("calcium", "fit-ntf")
        stacked = inputs.read("stack").load()
    else:
        stacked = parcel_stack(inputs.read("sessions"), options.atlas or "auto")
        ctx.log(f"{len(inputs['sessions'])} fMRI session(s): {stacked.sizes['neuron']} "
                f"parcels ({stacked.attrs['atlas']}), {int(stacked['sample_mask'].sum())} "
                "kept volumes")
    params = options.to_dict()
    params.pop("atlas")
    for key in ("window_s", "step_s"):
        value = params.pop(key)
        if value is not None:
            dt = float(stacked.attrs.get("dt", 0) or 0)
            if dt <= 0:
                raise ConfigError(f"fit-ntf.{key}: needs the stack's 'dt' attribute")
            params[key[:-2]] = max(1, int(round(float(value) / dt)))
    model = DynamicConnectome(**params).fit(stacked)
    curve = model.rank_curve_
    for i, r in enumerate(curve["ranks"] if curve else []):
        ctx.log(f"rank {r}: error {curve['error'][i]:.4f}, stability "
                f"{curve['stability'][i]:.3f}")
    results = {r: model.to_xarray(r) for r in sorted(model.models_)}
    motion = "framewise_displacement" in stacked
    if motion:
        add_motion(stacked, model, results)
    files = {}
    for r, ds in results.items():
        ctx.stamp(ds).attrs["selected"] = int(r == model.rank_)
        files[layout.NTF_FIT.format(rank=r)] = ds
    chosen = results[model.rank_]
    files[layout.METRICS] = Metrics(
        rank=int(model.rank_), curve=curve, error=model.error_, tensor=model.tensor_info_,
        n_neurons=len(model.neurons_), n_animals=len(model.animals_),
        n_windows=int(model.temporal_.shape[1]),
        communities_per_factor=[int(c.max() + 1) for c in model.communities_],
        kernel=KERNEL, options={**options.to_dict(), **params},
        atlas={"name": stacked.attrs["atlas"], "reference": stacked.attrs["atlas_reference"]}
        if "atlas" in stacked.attrs else None,
        fd_correlation=[None if np.isnan(v) else float(v)
                        for v in chosen.attrs["fd_correlation"]] if motion else None,
        fd_session=str(chosen.attrs["fd_session"]) if motion else None)
    return {"fits": files}


def _adapt(ns, inputs, outputs, options):
    """Old command lines give the stack or the sessions by position: one store holding
    ``activity`` (and no atlas) is the stack."""
    from ..store import read_dataset

    found = inputs.get("sessions") or []
    if len(found) == 1 and "atlas" not in options and "activity" in read_dataset(found[0]):
        inputs["stack"] = inputs.pop("sessions")[0]


STEP = Step(
    name="fit-ntf",
    help="dynamic connectome of a homogenized stack, or of fMRI sessions' parcel series",
    inputs={"stack": Input("dataset", "the homogenized (session, time, neuron) stack",
                           optional=True),
            "sessions": Input("signal", "every fMRI session's clean store (parcel series)",
                              many=True, optional=True)},
    outputs={"fits": Output("folder", "rank{r}.nc for every rank fitted and metrics.json")},
    options=NTFOptions,
    compute=compute,
    config="analyses.ntf",
    modalities=("calcium", "fmri"),
    args=(Arg("sessions", role="sessions", nargs="+", metavar="HOMOGENIZED.zarr|CLEAN_ZARR",
              help="a homogenized stack, or every fMRI session's clean.zarr"),),
    adapt=_adapt,
)
