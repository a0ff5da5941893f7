"""Deep EMG removal for EEG: a compact AT-AT-style denoiser, its benchmark and baselines.

>>> from neurodag import denoise
>>> ckpt = denoise.train("results/models/denoiser", seed=0, budget="small")  # checkpoint dir
>>> clean = denoise.apply(ds, ckpt)                  # contract in, contract out (EEG denoised)
>>> denoise.apply_session("raw.zarr", ckpt, "out/")  # -> out/denoised.zarr

Modules: :mod:`~neurodag.denoise.data` (the semi-synthetic benchmark: clean EEG, EMG,
mixing at an SNR, splits by recording), :mod:`~neurodag.denoise.emg` (the EMG generator),
:mod:`~neurodag.denoise.model` (the networks), :mod:`~neurodag.denoise.training`
(training loop, checkpoints), :mod:`~neurodag.denoise.metrics` (CC, RRMSE in time and
spectrum), :mod:`~neurodag.denoise.evaluate` (single-channel and multichannel protocols),
:mod:`~neurodag.denoise.baselines` (band-pass, ICA + ICLabel, FCNN),
:mod:`~neurodag.denoise.inference` (denoising contract Datasets). The paper figure is
:mod:`neurodag.report.papers.emg_denoising`.

torch is imported with this package: it belongs to the models/torch environment.
"""

from .inference import apply, apply_session
from .training import BUDGETS, DEFAULTS, checkpoint_hash, load, options_for, predict, train

__all__ = ["BUDGETS", "DEFAULTS", "apply", "apply_session", "checkpoint_hash", "load",
           "options_for", "predict", "train"]
