"""The denoiser's training options, declared once (config ``denoise: {options: ...}``,
``neurodag train-denoiser --set``); a budget (:data:`neurodag.denoise.training.BUDGETS`)
overrides some defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..options import Options, option


@dataclass(frozen=True)
class TrainingOptions(Options):
    arch: Literal["atat", "fcnn"] = option("atat", "the network: the AT-AT-style denoiser or "
                                                   "the FCNN baseline")
    model: dict = option({}, "hyper-parameters of the network (neurodag.denoise.model)")
    steps: int = option(8000, "training steps", ge=1)
    batch_size: int = option(64, "epochs per batch", ge=1)
    lr: float = option(1e-3, "AdamW learning rate", ge=0)
    weight_decay: float = option(1e-4, "AdamW weight decay", ge=0)
    warmup: int = option(200, "steps of linear learning-rate warm-up", ge=0)
    clip: float = option(1.0, "gradient norm clipping", ge=0)
    ae_weight: float = option(0.1, "weight of the contamination autoencoder's loss", ge=0)
    score_weight: float = option(0.1, "weight of the contamination flag's loss", ge=0)
    adv_weight: float = option(0.01, "weight of the spectral adversarial loss", ge=0)
    adv_start: float = option(0.2, "fraction of the steps after which the discriminator "
                                   "trains", ge=0, le=1)
    disc_lr: float = option(2e-4, "discriminator learning rate", ge=0)
    eval_every: int = option(500, "steps between validation checks", ge=1)
    val_pairs: int = option(512, "validation channel-epochs", ge=1)
    log_every: int = option(100, "steps between log lines", ge=1)
    n_synthetic: list[int] = option([28, 6, 6], "synthetic recordings for training, "
                                                "validation, test", ge=0, min_items=3,
                                    max_items=3)
    duration: float = option(60.0, "seconds of each synthetic recording", ge=0)
    cache_dir: str | None = option("resources/reference", "reference cache (real EEG of spkit; "
                                                          "null: none)")
    real_dir: str | None = option(None, "a folder of real EEG recordings to train on too")
    threads: int | None = option(None, "torch threads while training (default: torch's)",
                                 ge=1)
    threshold: float = option(0.05, "contamination score below which a patch is left as it "
                                    "is", ge=0)
    min_ratio: float = option(0.3, "the artifact-ratio gate: a window is corrected only where "
                                   "the network's estimated artifact is at least this "
                                   "fraction of the signal (rms)", ge=0)
    evaluate_test: bool = option(True, "score the test split after training")
    clean_fraction: float = option(0.25, "fraction of epochs with no EMG", ge=0, le=1)
