"""Deep EMG removal for EEG: a compact AT-AT-style denoiser, its benchmark and baselines.

>>> from neurodag import denoise
>>> ckpt = denoise.train("results/models/denoiser", seed=0, budget="small")  # checkpoint dir
>>> clean = denoise.apply(ds, ckpt)                  # contract in, contract out (EEG denoised)

Modules: :mod:`~neurodag.denoise.data` (the semi-synthetic benchmark: clean EEG, EMG,
mixing at an SNR, splits by recording), :mod:`~neurodag.denoise.emg` (the EMG generator),
:mod:`~neurodag.denoise.model` (the networks), :mod:`~neurodag.denoise.training`
(training loop, checkpoints), :mod:`~neurodag.denoise.metrics` (CC, RRMSE in time and
spectrum), :mod:`~neurodag.denoise.evaluate` (single-channel and multichannel protocols),
:mod:`~neurodag.denoise.baselines` (band-pass, ICA + ICLabel, FCNN),
:mod:`~neurodag.denoise.inference` (denoising contract Datasets). The paper figure is
:mod:`neurodag.report.papers.emg_denoising`.

torch is imported with the functions below (they belong to the models/torch environment),
not with the package: :mod:`~neurodag.denoise.options` declares the training options
without it. The step is :mod:`neurodag.steps.denoise`.
"""

from importlib import import_module

_LAZY = {"apply": "inference", "BUDGETS": "training", "DEFAULTS": "training",
         "checkpoint_hash": "training", "load": "training", "options_for": "training",
         "predict": "training", "train": "training"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
