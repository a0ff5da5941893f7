"""Calcium imaging: neuropil subtraction, dF/F, optional deconvolution, per-neuron SNR.

Steps
-----
neuropil
    ``F - neuropil_coef * Fneu`` when the contract has a ``neuropil`` variable
    (dims time, channel; suite2p's ``Fneu``), 0.7 by default as in suite2p.
dF/F
    ``(F - F0) / F0`` with F0 a running ``baseline_percentile`` (20th) percentile over
    ``baseline_window`` (180) s. The percentile is taken in windows centred every
    window/8 and linearly interpolated between them, which follows a baseline that
    changes over minutes (bleaching) like ``scipy.ndimage.percentile_filter`` at a cost
    that does not grow with the window (8 percentiles per window length instead of one
    per frame). A recording that is already in ``dF/F`` units is not changed (qc says so).
    F0 <= 0 (possible after neuropil subtraction) is an error naming the channels.
deconvolution (``deconvolve: true``)
    OASIS (Friedrich et al. 2017, package ``oasis-deconv``): AR(1) non-negative sparse
    deconvolution with the noise-constrained L1 penalty, ``g`` estimated per neuron or
    from ``tau_decay`` (s). It is light (NumPy/SciPy, prebuilt wheels), maintained, and
    the method suite2p and CaImAn use; suite2p itself would bring cellpose, torch vision
    and OpenCV. The package is GPL-3.0 and optional: without it ``deconvolve: true`` is
    a one-line ConfigError. The result is the variable ``deconvolved`` (time, channel):
    inferred event amplitudes per frame in dF/F units.
SNR per neuron
    ``(p95 - median) / sigma`` of the dF/F trace, sigma the robust high-frequency noise
    ``1.4826 * MAD(diff(dF/F)) / sqrt(2)``: how far the trace's top 5 % rises above
    its median in units of frame-to-frame noise.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError, InputError
from .ephys import where

#: Baseline percentiles are evaluated this many times per window length.
GRID_PER_WINDOW = 8


def running_percentile(x: np.ndarray, size: int, q: float) -> np.ndarray:
    """Running ``q``-th percentile over ``size`` samples along axis 0 (see module docstring)."""
    n = x.shape[0]
    half = max(size // 2, 1)
    if size >= n:
        return np.broadcast_to(np.percentile(x, q, axis=0), x.shape).copy()
    step = max(size // GRID_PER_WINDOW, 1)
    centers = np.unique(np.r_[np.arange(0, n, step), n - 1])
    grid = np.stack([np.percentile(x[max(0, c - half): c + half + 1], q, axis=0)
                     for c in centers])
    out = np.empty_like(x, dtype=np.float64)
    frames = np.arange(n)
    for j in range(x.shape[1]):
        out[:, j] = np.interp(frames, centers, grid[:, j])
    return out


def snr(dff: np.ndarray) -> np.ndarray:
    """Per-column SNR of dF/F traces (see the module docstring)."""
    d = np.diff(dff, axis=0)
    sigma = 1.4826 * np.median(np.abs(d - np.median(d, axis=0)), axis=0) / np.sqrt(2.0)
    signal = np.percentile(dff, 95, axis=0) - np.median(dff, axis=0)
    return signal / np.where(sigma > 0, sigma, np.nan)


def deconvolve(dff: np.ndarray, sfreq: float, tau_decay: float | None) -> tuple[np.ndarray,
                                                                              list[float]]:
    """OASIS AR(1) deconvolution of each column; returns (events, g per neuron)."""
    try:
        from oasis.functions import deconvolve as oasis_deconvolve
    except ImportError:
        raise ConfigError("preprocess.deconvolve: needs the package oasis-deconv "
                          "(pip install oasis-deconv==0.3.2), which is not installed") from None
    out = np.zeros_like(dff, dtype=np.float64)
    gs = []
    for j in range(dff.shape[1]):
        y = np.ascontiguousarray(dff[:, j], dtype=np.float64)
        # A known decay time fixes OASIS' AR(1) coefficient g = exp(-1 / (tau * rate));
        # otherwise OASIS estimates g from the autocovariance.
        kw = {"g": (float(np.exp(-1.0 / (tau_decay * sfreq))),)} if tau_decay else {}
        res = oasis_deconvolve(y, penalty=1, **kw)
        out[:, j] = res[1]
        gs.append(float(np.atleast_1d(res[3])[0]))
    return out, gs


def run(ds: xr.Dataset, opts: dict, options_json: str) -> tuple[xr.Dataset, dict]:
    """Preprocess one calcium contract Dataset; see the module docstring."""
    name = where(ds)
    sfreq = float(ds.attrs["sfreq"])
    names = ds["channel"].values.astype(str)
    f = np.asarray(ds["signal"].values, dtype=np.float64)
    if (np.ptp(f, axis=0) == 0).all():
        raise InputError(f"{name}: all {f.shape[1]} calcium traces are flat (constant); "
                         "nothing to preprocess")
    units = str(ds["signal"].attrs.get("units", ""))
    qc: dict = {"neuropil": None, "dff": None}
    if "neuropil" in ds:
        neu = np.asarray(ds["neuropil"].transpose("time", "channel").values, dtype=np.float64)
        bad = ~np.isfinite(neu).all(axis=0)
        if bad.any():
            raise InputError(f"{name}: neuropil has NaN or Inf samples (channels "
                             f"{names[bad][:5].tolist()})")
        f = f - opts["neuropil_coef"] * neu
        qc["neuropil"] = {"coefficient": opts["neuropil_coef"]}
    if units == "dF/F":
        dff = f
        qc["dff"] = {"skipped": "the recording is already in dF/F units"}
    else:
        size = int(round(opts["baseline_window"] * sfreq))
        if size < 3:
            raise ConfigError(f"preprocess.baseline_window: {opts['baseline_window']:g} s is "
                              f"fewer than 3 frames at {sfreq:g} Hz")
        f0 = running_percentile(f, size, opts["baseline_percentile"])
        bad = (f0 <= 0).any(axis=0)
        if bad.any():
            what = (f" after neuropil subtraction (coefficient {opts['neuropil_coef']:g})"
                    if qc["neuropil"] else "")
            raise InputError(f"{name}: baseline fluorescence F0 <= 0{what} for channels "
                             f"{names[bad][:5].tolist()}; dF/F is undefined")
        dff = (f - f0) / f0
        qc["dff"] = {"baseline": "running percentile", "percentile": opts["baseline_percentile"],
                     "window_s": opts["baseline_window"],
                     "window_exceeds_recording": bool(size >= f.shape[0]),
                     "baseline_median": dict(zip(names, map(float, np.median(f0, axis=0)),
                                                 strict=True))}
    s = snr(dff)
    clean = ds.drop_vars(["neuropil"], errors="ignore").copy()
    clean["signal"] = (("time", "channel"), dff.astype(ds["signal"].dtype), {"units": "dF/F"})
    clean = clean.assign_coords(unit=("channel", np.asarray(["dF/F"] * len(names), dtype=object)))
    if opts["deconvolve"]:
        events, gs = deconvolve(dff, sfreq, opts["tau_decay"])
        clean["deconvolved"] = (("time", "channel"), events.astype(ds["signal"].dtype),
                                {"units": "dF/F", "method": "OASIS AR(1), L1 (oasis-deconv)"})
        qc["deconvolution"] = {"method": "OASIS AR(1), noise-constrained L1 (oasis-deconv)",
                               "tau_decay": opts["tau_decay"],
                               "g": dict(zip(names, gs, strict=True)),
                               "event_rate_hz": dict(zip(names, map(float, (events > 0).mean(
                                   axis=0) * sfreq), strict=True))}
    else:
        qc["deconvolution"] = None
    clean.attrs["preprocess"] = options_json
    qc["snr"] = {"definition": "(p95 - median) / (1.4826 MAD(diff) / sqrt 2) of dF/F",
                 "median": float(np.nanmedian(s)),
                 "per_channel": dict(zip(names, map(float, s), strict=True))}
    return clean, qc
