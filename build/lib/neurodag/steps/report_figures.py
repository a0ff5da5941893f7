"""The ``report-figures`` step (``neurodag report figures``): the paper figures' page, our
numbers beside the published ones (:func:`neurodag.report.papers.index_page`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import Options
from .contract import Arg, Input, Output, Step, key_paths


@dataclass(frozen=True)
class NoOptions(Options):
    """No options."""


def compute(inputs, options, ctx):
    from ..report import papers

    papers.index_page(inputs["folders"], ctx.out["page"], at=ctx.targets["page"])
    return {}


def _adapt(ns, inputs, outputs, options):
    """Old command lines: each figure folder is named after its paper."""
    key_paths(inputs, "folders", lambda p: p.name)


STEP = Step(
    name="report-figures",
    group="report",
    help="the paper figures' page, our numbers beside theirs",
    inputs={"folders": Input("folder", "the figure folders, keyed by paper", keyed=True)},
    outputs={"page": Output("html", "the page")},
    options=NoOptions,
    compute=compute,
    args=(Arg("folders", role="folders", nargs="+", metavar="FIGURE_DIR",
              help="PAPER=FOLDER, or a folder named after its paper"),),
    adapt=_adapt,
)
