"""The ``connectivity`` step: fMRI connectivity of a dataset's sessions and QC-FC
(:func:`neurodag.connectivity.fc.run`) -> ``connectivity.nc`` and ``metrics.json``.

The rule names each session's stores ``DATASET/SESSION`` (``--in clean[KEY]=PATH``, and
``--in raw[KEY]=PATH`` for QC-FC before denoising); those keys are the output's
``session`` coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import layout
from ..options import Options, option
from ..records import ConnectivityMetrics as Metrics
from .contract import Arg, Input, Output, Step, key_paths


@dataclass(frozen=True)
class ConnectivityOptions(Options):
    """The measure, the parcels and the QC-FC units."""

    kind: Literal["correlation", "partial correlation", "tangent", "covariance",
                  "precision"] = option("correlation", "nilearn's ConnectivityMeasure kind "
                                                       "(tangent needs at least 2 sessions)")
    atlas: Literal["auto", "channels", "region", "fsaverage5_ico1", "fsaverage5_ico2",
                   "fsaverage5_ico3"] = option(
        "auto", "parcels: auto (fsaverage5_ico2 for fsaverage5 vertices, else channels), "
                "channels, region (means by the region coordinate) or fsaverage5_ico1/2/3 "
                "(42, 162 or 642 icosahedral parcels per hemisphere)")
    qcfc_min_sessions: int = option(10, "QC-FC across sessions from this many on; with "
                                        "fewer, across windows of the runs", ge=3)
    qcfc_window_s: float = option(60.0, "window length in s of the within-run QC-FC", gt=0)


def compute(inputs, options: ConnectivityOptions, ctx):
    from ..connectivity import fc

    ds, metrics = fc.run(inputs.read("clean"), inputs.read("raw"), **options.to_dict())
    return {"results": {layout.CONNECTIVITY_RESULTS: ds,
                        layout.METRICS: Metrics(**metrics, options=options.to_dict())}}


def _adapt(ns, inputs, outputs, options):
    """Old command lines name clean stores only by path (``results/{dataset}/{session}/
    clean.zarr``): their key is the two folders above them and the raw store is the
    ``raw.zarr`` beside them, when there is one, as before; rules pass both by key."""
    key_paths(inputs, "clean", lambda p: f"{p.parent.parent.name}/{p.parent.name}")
    if "raw" not in inputs and isinstance(inputs.get("clean"), dict):
        beside = {k: Path(p).parent / layout.name(layout.RAW_ZARR)
                  for k, p in inputs["clean"].items()}
        inputs["raw"] = {k: p for k, p in beside.items() if p.exists()}


STEP = Step(
    name="connectivity",
    help="fMRI connectivity per session and QC-FC of the dataset",
    inputs={"clean": Input("signal", "each session's preprocessed store, keyed DATASET/SESSION",
                           keyed=True),
            "raw": Input("signal", "the same sessions' raw stores (QC-FC before denoising)",
                         keyed=True, optional=True)},
    outputs={"results": Output("folder", "connectivity.nc and metrics.json")},
    options=ConnectivityOptions,
    compute=compute,
    config="analyses.connectivity",
    modalities=("fmri",),
    args=(Arg("clean", role="clean", nargs="+", metavar="CLEAN_ZARR",
              help=f"the sessions' clean stores ({layout.CLEAN_ZARR}) or KEY=PATH"),),
    adapt=_adapt,
)
