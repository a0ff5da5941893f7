"""The ``figure`` step: reproduce a paper's figure (PNG + the plotted numbers in JSON) with
its module of :mod:`neurodag.report.papers`; what a figure reads besides its own
simulation is :func:`neurodag.report.papers.needs`."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from ..options import Options, fail, option
from .contract import Arg, Input, Output, Step

#: Options a paper module's ``run`` may take (the others take none).
PAPER_OPTIONS = ("cache_dir", "checkpoint", "real_dir")


def _paper(value, path):
    from ..errors import suggest
    from ..report.papers import PAPERS

    if value not in PAPERS:
        fail(path, f"figure {value!r} is unknown{suggest(value, PAPERS)} (figures: "
                   f"{', '.join(PAPERS)})")
    return value


@dataclass(frozen=True)
class FigureOptions(Options):
    paper: str = option(..., "onehot-glmhmm, trsa, geometric-stability, dynamic-connectome, "
                             "emg-denoising or ashwood-glmhmm", check=_paper)
    seed: int = option(0, "seed of the experiment", ge=0)
    quick: bool = option(False, "a small setting, in seconds")
    cache_dir: str | None = option(None, "reference cache (dynamic-connectome: cect; "
                                         "emg-denoising: spkit)")
    checkpoint: str | None = option(None, "emg-denoising: a trained checkpoint (default: "
                                          "trained here)")
    real_dir: str | None = option(None, "emg-denoising: a folder of real EEG to train on")


def compute(inputs, options: FigureOptions, ctx):
    from ..report import papers

    module = papers.module(options.paper)
    takes = set(inspect.signature(module.run).parameters)
    given = {k: getattr(options, k) for k in PAPER_OPTIONS if getattr(options, k) is not None}
    for key in given:
        if key not in takes:
            fail(f"figure.{key}", f"not an option of figure {options.paper} (it takes "
                                  f"{', '.join(sorted(takes & set(PAPER_OPTIONS))) or 'none'})")
    out = ctx.out["figure"]
    out.mkdir(parents=True)
    module.run(out, seed=options.seed, quick=options.quick, progress=ctx.log, **given)
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
