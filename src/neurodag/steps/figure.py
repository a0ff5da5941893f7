"""The ``figure`` step: reproduce a paper's figure (PNG + the plotted numbers in JSON) with
its module of :mod:`neurodag.report.papers`; what a figure reads besides its own
simulation is :func:`neurodag.report.papers.needs`."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from ..options import Options, fail, option
from .contract import Arg, Input, Output, Step

#: Keywords of every paper module's ``run`` that the step sets itself.
FIXED = ("out_dir", "seed", "quick", "progress")


def _paper(value, path):
    from ..errors import suggest
    from ..report.papers import PAPERS

    if value not in PAPERS:
        fail(path, f"figure {value!r} is unknown{suggest(value, PAPERS)} (figures: "
                   f"{', '.join(PAPERS)})")
    return value


@dataclass(frozen=True)
class FigureOptions(Options):
    """The paper, the seed, the quick setting; any other option is a keyword of the paper
    module's ``run`` (``cache_dir``, ``checkpoint``, ``real_dir``; trsa: ``width``,
    ``n_seeds``, ...), checked against its signature when the step runs."""

    EXTRA = "params"

    paper: str = option(..., "onehot-glmhmm, trsa, geometric-stability, dynamic-connectome, "
                             "emg-denoising or ashwood-glmhmm", check=_paper)
    seed: int = option(0, "seed of the experiment", ge=0)
    quick: bool = option(False, "a small setting, in seconds")
    params: dict = option({}, "keywords of the paper module's run (see its docstring)")


def compute(inputs, options: FigureOptions, ctx):
    from ..errors import check_known
    from ..report import papers

    module = papers.module(options.paper)
    takes = set(inspect.signature(module.run).parameters) - set(FIXED)
    check_known(f"figure {options.paper}", options.params, takes)
    out = ctx.out["figure"]
    out.mkdir(parents=True)
    module.run(out, seed=options.seed, quick=options.quick, progress=ctx.log, **options.params)
    return {}


STEP = Step(
    name="figure",
    help="reproduce a paper's figure (PNG + the numbers in JSON)",
    inputs={"needs": Input("folder", "what the figure reads (papers.needs): a checkpoint, "
                                     "reference data", keyed=True, optional=True)},
    outputs={"figure": Output("folder", "the figure's PNG and JSON files")},
    options=FigureOptions,
    compute=compute,
    args=(Arg("paper", option="paper"),),
)
