"""Denoising metrics of EEGdenoiseNet: correlation and relative RMSE in time and spectrum.

For a clean epoch ``x`` and its estimate ``x_hat`` (last axis = samples):

``cc``        Pearson correlation of ``x_hat`` and ``x``.
``rrmse_t``   ``RMS(x_hat - x) / RMS(x)``.
``rrmse_s``   the same on power spectral densities: ``RMS(PSD(x_hat) - PSD(x)) / RMS(PSD(x))``,
              PSDs by Welch's method (Hann window, 1 s segments, 50 % overlap, every
              frequency from 0 to Nyquist).

All three are scale-free in the sense that matters here: multiplying ``x`` and ``x_hat``
by the same constant (the benchmark's ``1 / std(y)``) changes none of them.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from ..errors import InputError

METRICS = ("cc", "rrmse_t", "rrmse_s")


def _pair(x_hat, x):
    x_hat = np.asarray(x_hat, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if x_hat.shape != x.shape:
        raise InputError(f"metrics: estimate shape {x_hat.shape} != clean shape {x.shape}")
    if x.shape[-1] < 2:
        raise InputError("metrics: epochs need at least 2 samples")
    return x_hat, x


def cc(x_hat, x) -> np.ndarray:
    """Pearson correlation along the last axis (NaN where either epoch is constant)."""
    x_hat, x = _pair(x_hat, x)
    a = x_hat - x_hat.mean(axis=-1, keepdims=True)
    b = x - x.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def rrmse_t(x_hat, x) -> np.ndarray:
    """Relative root-mean-square error in time along the last axis."""
    x_hat, x = _pair(x_hat, x)
    return np.sqrt(np.mean((x_hat - x) ** 2, axis=-1) / np.mean(x ** 2, axis=-1))


def psd(x, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD along the last axis: 1 s Hann segments (at most the epoch), 50 % overlap."""
    x = np.asarray(x, dtype=np.float64)
    nper = int(min(x.shape[-1], round(sfreq)))
    return sps.welch(x, fs=sfreq, window="hann", nperseg=nper, noverlap=nper // 2, axis=-1)


def rrmse_s(x_hat, x, sfreq: float) -> np.ndarray:
    """Relative root-mean-square error of the Welch PSDs along the last axis."""
    x_hat, x = _pair(x_hat, x)
    _, p_hat = psd(x_hat, sfreq)
    _, p = psd(x, sfreq)
    return np.sqrt(np.mean((p_hat - p) ** 2, axis=-1) / np.mean(p ** 2, axis=-1))


def score(x_hat, x, sfreq: float) -> dict[str, np.ndarray]:
    """All :data:`METRICS` per epoch."""
    return {"cc": cc(x_hat, x), "rrmse_t": rrmse_t(x_hat, x), "rrmse_s": rrmse_s(x_hat, x, sfreq)}


def summarise(per_epoch: dict[str, np.ndarray]) -> dict[str, float]:
    """Means of per-epoch metrics (NaN epochs ignored), as plain floats."""
    return {k: float(np.nanmean(v)) for k, v in per_epoch.items()}
