"""The ``train-denoiser`` step: the EMG denoiser trained on semi-synthetic EEG + EMG
(:func:`neurodag.denoise.train`) -> its checkpoint folder (``model.pt``, ``config.json``,
``metrics.json``). Options other than the budget, seed and device are training options
(:class:`~neurodag.denoise.options.TrainingOptions`, over the budget's defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..denoise.options import TrainingOptions
from ..options import Options, option
from .contract import Input, Output, Step


@dataclass(frozen=True)
class TrainOptions(Options):
    EXTRA = "training"

    budget: Literal["small", "default"] = option(
        "default", "small (minutes on 2 cores) or default (the full size)")
    seed: int = option(0, "seeds the benchmark, the initialisation and the batches", ge=0)
    device: str = option("cpu", "cpu, or cuda when available")
    training: dict = option({}, "training options (TrainingOptions), over the budget's")


def compute(inputs, options: TrainOptions, ctx):
    from ..denoise.training import train

    train(ctx.out["checkpoint"], seed=options.seed, budget=options.budget,
          device=options.device, progress=ctx.log, **options.training)
    return {}


STEP = Step(
    name="train-denoiser",
    help="train the EMG denoiser; write its checkpoint",
    inputs={"reference": Input("folder", "the fetched spkit reference (its real EEG is the "
                                         "test set)", optional=True)},
    outputs={"checkpoint": Output("folder", "model.pt, config.json, metrics.json")},
    options=TrainOptions,
    compute=compute,
    config="denoise.options",
    config_options=TrainingOptions,
    config_defaults=False,
    config_top=True,
)
