"""The ``synth`` step: a built-in generator's recording, in the files a reader reads, and its
ground truth (``truth.nc``; :mod:`neurodag.synth`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..options import Options, option
from .contract import Arg, Output, Step


@dataclass(frozen=True)
class SynthOptions(Options):
    """The generator, its seed and the subject/session it writes; any other option is a
    parameter of the generator (``duration``, ``n_neurons``, ...; see neurodag.synth)."""

    EXTRA = "params"

    modality: Literal["eeg", "meg", "seeg", "ecog", "fmri", "calcium", "spikes",
                      "behavior"] = option(..., "the generator")
    seed: int = option(0, "seed (the same seed and parameters give identical numbers)", ge=0)
    subject: str = option("01", "subject label written into the files")
    session: str = option("01", "session label written into the files")
    params: dict = option({}, "generator parameters")


def compute(inputs, options: SynthOptions, ctx):
    from .. import synth

    sim = synth.generate(options.modality, seed=options.seed, subject=options.subject,
                         session=options.session, **options.params)
    for path in synth.write(sim, ctx.out["folder"]):
        ctx.log(f"wrote {path.name}")
    return {}


STEP = Step(
    name="synth",
    help="write a synthetic recording with its ground truth",
    inputs={},
    outputs={"folder": Output("folder", "the recording's files and truth.nc")},
    options=SynthOptions,
    compute=compute,
    args=(Arg("modality", option="modality", help="the generator"),),
)
