"""The ``report-index`` step (``neurodag report index``): the index linking every dataset
page, with the summary each page wrote into its figure folder."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import Options, option
from .contract import Arg, Input, Output, Step, key_paths


@dataclass(frozen=True)
class IndexOptions(Options):
    title: str = option("neurodag", "page title")


def compute(inputs, options: IndexOptions, ctx):
    from ..report import pages

    pages.index_page(inputs["pages"], ctx.out["page"], title=options.title,
                     figures=inputs["figures"], at=ctx.targets["page"])
    return {}


def _adapt(ns, inputs, outputs, options):
    """Old command lines: each page named by its file name."""
    key_paths(inputs, "pages", lambda p: p.stem)


STEP = Step(
    name="report-index",
    group="report",
    help="the index page linking every dataset page",
    inputs={"pages": Input("html", "the dataset pages, keyed by dataset", keyed=True),
            "figures": Input("folder", "their figure folders (default: beside each page)",
                             keyed=True, optional=True)},
    outputs={"page": Output("html", "the index")},
    options=IndexOptions,
    compute=compute,
    args=(Arg("pages", role="pages", nargs="+", metavar="PAGE_HTML"),),
    adapt=_adapt,
)
