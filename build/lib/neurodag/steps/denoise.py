"""The ``denoise`` step: EMG removed from a session's EEG by a trained checkpoint
(:func:`neurodag.denoise.apply`), block by block -> ``denoised.zarr``. The output keeps the
recording's ``source`` and records the input store and the checkpoint in ``inputs``."""

from __future__ import annotations

from dataclasses import dataclass

from .. import layout
from ..options import Options, option
from .contract import Arg, Input, Output, Step


@dataclass(frozen=True)
class DenoiseOptions(Options):
    device: str = option("cpu", "cpu, or cuda when available")


def compute(inputs, options: DenoiseOptions, ctx):
    from ..denoise.inference import apply

    return {"denoised": apply(inputs.read("signal"), inputs["model"], device=options.device)}


def _add_args(p):
    from pathlib import Path

    p.add_argument("--model", type=Path, help="the checkpoint folder (train-denoiser)")


def _adapt(ns, inputs, outputs, options):
    if ns.model is not None:
        inputs.setdefault("model", ns.model)


STEP = Step(
    name="denoise",
    help="remove EMG from a session's EEG with a checkpoint",
    inputs={"signal": Input("signal", "the session's EEG store"),
            "model": Input("folder", "the denoiser's checkpoint (train-denoiser)")},
    outputs={"denoised": Output("signal", "the store with its EEG denoised",
                                name=layout.name(layout.DENOISED_ZARR))},
    options=DenoiseOptions,
    compute=compute,
    keeps_source=True,
    args=(Arg("signal", role="signal", metavar="INPUT.zarr"),),
    add_args=_add_args,
    adapt=_adapt,
)
