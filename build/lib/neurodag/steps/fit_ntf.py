"""The ``fit-ntf`` step: the dynamic connectome of a dataset's homogenized stack.

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


def compute(inputs, options: NTFOptions, ctx):
    from ..errors import ConfigError
    from ..models.ntf import KERNEL, DynamicConnectome

    stacked = inputs.read("stack").load()
    params = options.to_dict()
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
    files = {}
    for r in sorted(model.models_):
        ds = ctx.stamp(model.to_xarray(r))
        ds.attrs["selected"] = int(r == model.rank_)
        files[layout.NTF_FIT.format(rank=r)] = ds
    files[layout.METRICS] = Metrics(
        rank=int(model.rank_), curve=curve, error=model.error_, tensor=model.tensor_info_,
        n_neurons=len(model.neurons_), n_animals=len(model.animals_),
        n_windows=int(model.temporal_.shape[1]),
        communities_per_factor=[int(c.max() + 1) for c in model.communities_],
        kernel=KERNEL, options={**options.to_dict(), **params})
    return {"fits": files}


STEP = Step(
    name="fit-ntf",
    help="dynamic connectome of a homogenized stack",
    inputs={"stack": Input("dataset", "the homogenized (session, time, neuron) stack")},
    outputs={"fits": Output("folder", "rank{r}.nc for every rank fitted and metrics.json")},
    options=NTFOptions,
    compute=compute,
    config="analyses.ntf",
    modalities=("calcium",),
    args=(Arg("stack", role="stack", metavar="HOMOGENIZED.zarr"),),
)
