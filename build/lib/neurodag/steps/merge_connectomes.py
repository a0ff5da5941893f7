"""The ``merge-connectomes`` step: connectome annotations (one ``connectome.zarr`` each, keyed
by annotation) merged on the canonical neurons with a consensus
(:func:`neurodag.homogenize.connectomes.merge`)."""

from __future__ import annotations

from ..homogenize.options import MergeOptions
from .contract import Input, Output, Step


def compute(inputs, options: MergeOptions, ctx):
    from ..homogenize import connectomes

    merged = connectomes.merge(inputs.read("annotations"), alpha=options.alpha)
    return {"merged": merged}


STEP = Step(
    name="merge-connectomes",
    help="merge connectome annotations into one consensus connectome",
    inputs={"annotations": Input("connectome", "the annotations' stores, keyed by annotation",
                                 keyed=True)},
    outputs={"merged": Output("dataset", "(annotation, pre, post, synapse) with a consensus")},
    options=MergeOptions,
    compute=compute,
)
