"""Denoise a contract Dataset with a trained checkpoint: EEG channels only, others untouched.

Per EEG channel:

1. resample to the model's rate (256 Hz, polyphase with a short Kaiser anti-aliasing filter);
2. split into a slow part (below 1 Hz: 2nd-order Butterworth, zero phase), kept as it is,
   and the rest, low-passed at 80 Hz (the clean EEG's band in training: 4th-order
   Butterworth, zero phase);
3. cut the rest into 2 s windows every 1.5 s (mirror padding at both ends), divide each by
   its std (the benchmark's normalisation), denoise (windows in which the contamination
   autoencoder flags no patch pass unchanged and skip the transformer), scale back and
   overlap-add with a Tukey window whose 0.5 s cosine tapers cross-fade consecutive
   windows (weights sum to 1);
4. add the slow part and resample back to the recording's rate.

The output thus holds the slow part plus the denoised 1-80 Hz band: content above 80 Hz is
not returned (in scalp EEG it is mostly muscle and amplifier noise, and the model never saw
EEG there). Lazy (dask) signals are processed in time blocks of :data:`BLOCK_S` s with
:data:`DEPTH_S` s of overlap on each side (``dask.array.map_overlap``), so memory does not
grow with the recording's length; both are whole multiples of the 1.5 s hop, so the windows
fall where they would on the whole recording.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import signal as sps

from .. import schema
from ..errors import InputError
from . import data as _data
from . import training as _train

#: Block length and overlap (s) for lazy signals (multiples of the hop, 1.5 s).
BLOCK_S, DEPTH_S = 240.0, 9.0
#: The slow part below SPLIT_HZ is not passed through the model; the output ends at HIGH_HZ.
SPLIT_HZ, HIGH_HZ = 1.0, 80.0
#: Windows start every HOP of the window length; the rest is the cross-fade.
HOP = 0.75
#: Shortest recording accepted (s).
MIN_DURATION = 1.0


def crossfade_window(L: int, hop: int) -> np.ndarray:
    """Flat-top window of length ``L`` whose tapers (``L - hop`` samples each) sum to 1
    when windows are placed every ``hop`` samples."""
    R = L - hop
    w = np.ones(L)
    ramp = 0.5 * (1.0 - np.cos(np.pi * (np.arange(R) + 0.5) / R))
    w[:R] = ramp
    w[L - R:] = ramp[::-1]
    return w


def _windows(h: np.ndarray, L: int, hop: int) -> tuple[np.ndarray, int, int]:
    """Windows ``(ch, n_win, L)`` of ``h`` (ch, time) every ``hop``, after mirror padding.

    Every sample ends up where the weights of :func:`crossfade_window` sum to 1.
    """
    R = L - hop
    T = h.shape[1]
    n_win = max(1, int(np.ceil((T + 2 * R - L) / hop)) + 1)
    total = (n_win - 1) * hop + L
    padded = np.pad(h, ((0, 0), (R, total - T - R)), mode="symmetric")
    idx = np.arange(n_win)[:, None] * hop + np.arange(L)[None, :]
    return padded[:, idx], n_win, total


def _resample(x: np.ndarray, sfreq: float, target: float) -> np.ndarray:
    """Polyphase resampling of ``(channel, time)`` with a short Kaiser FIR (8 taps per
    output sample): the band kept (< 80 Hz) lies far below the filter's transition band."""
    from ..homogenize.resample import resample_ratio

    ratio = resample_ratio(sfreq, target)
    if ratio == 1:
        return x
    up, down = ratio.numerator, ratio.denominator
    m = max(up, down)
    h = sps.firwin(8 * m + 1, 1.0 / m, window=("kaiser", 5.0))
    return sps.resample_poly(x, up, down, axis=-1, window=h)


def denoise_array(x: np.ndarray, sfreq: float, net, *, threshold: float = 0.05,
                  device: str = "cpu", batch: int = 2048) -> np.ndarray:
    """Denoise ``x`` (time, channel) sampled at ``sfreq``; see the module docstring."""
    x = np.asarray(x, dtype=np.float64)
    T0 = x.shape[0]
    if T0 == 0 or x.shape[1] == 0:
        return x.copy()
    fs = _data.SFREQ
    d = _resample(np.ascontiguousarray(x.T), sfreq, fs)          # (ch, T) at the model rate
    T = d.shape[1]
    sos = sps.butter(2, SPLIT_HZ, "highpass", fs=fs, output="sos")
    rest = sps.sosfiltfilt(sos, d, axis=-1, padlen=min(int(3 * fs / SPLIT_HZ), T - 1))
    low = d - rest
    sos = sps.butter(4, min(HIGH_HZ, 0.45 * sfreq), "lowpass", fs=fs, output="sos")
    rest = sps.sosfiltfilt(sos, rest, axis=-1, padlen=min(int(fs / 2), T - 1))
    L = _data.N_SAMPLES
    hop = int(round(HOP * L))
    segs, n_win, total = _windows(rest, L, hop)
    flat = segs.reshape(-1, L)                                   # (ch * n_win, L)
    s = flat.std(axis=-1, keepdims=True)
    ok = s[:, 0] > 0
    est = flat.copy()
    if ok.any():
        est[ok] = _train.predict(net, flat[ok] / s[ok], device=device, threshold=threshold,
                                 batch=batch) * s[ok]
    est = est.reshape(-1, n_win, L) * crossfade_window(L, hop)
    out = np.zeros((est.shape[0], total))
    for k in range(n_win):
        out[:, k * hop: k * hop + L] += est[:, k]
    R = L - hop
    back = _resample(low + out[:, R: R + T], fs, sfreq).T
    if back.shape[0] < T0:
        back = np.pad(back, ((0, T0 - back.shape[0]), (0, 0)), mode="edge")
    return back[:T0]


def _where(ds: xr.Dataset) -> str:
    return str(ds.encoding.get("source") or ds.attrs.get("source") or "dataset")


def apply(ds: xr.Dataset, checkpoint: str | Path, *, device: str = "cpu") -> xr.Dataset:
    """Remove muscle artifacts from the EEG channels of a contract Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset with EEG channels (numpy or lazy dask samples).
    checkpoint : path-like
        A folder written by :func:`neurodag.denoise.train`.
    device : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    xarray.Dataset
        The same Dataset (coords, events, attrs: provenance kept) with the EEG channels'
        samples denoised (same dtype; lazy in, lazy out) and attrs ``denoiser`` (sha256 of
        the checkpoint's model.pt and config.json), ``denoiser_checkpoint`` (its path) and
        ``denoiser_threshold``.

    Raises
    ------
    InputError
        No EEG channels, a recording shorter than :data:`MIN_DURATION`, NaN/Inf samples
        (lazy data: found when written, by :func:`neurodag.store.write_signal`), an
        unreadable checkpoint, or a CUDA device on a machine without one.
    """
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"denoise: expected a contract xarray.Dataset, got {type(ds).__name__}")
    where = _where(ds)
    schema.validate(ds, where=where, check_values=False)
    ctypes = np.asarray(ds["channel_type"].values).astype(str)
    is_eeg = ctypes == "eeg"
    if not is_eeg.any():
        raise InputError(f"{where}: no EEG channels to denoise (channel types "
                         f"{sorted(set(ctypes.tolist()))})")
    sfreq = float(ds.attrs["sfreq"])
    if ds.sizes["time"] < MIN_DURATION * sfreq:
        raise InputError(f"{where}: {ds.sizes['time'] / sfreq:.3g} s is shorter than the "
                         f"{MIN_DURATION:g} s the denoiser needs")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(f"device {device!r}: CUDA is not available on this machine")
    net, config = _train.load(checkpoint, device=device)
    digest = _train.checkpoint_hash(checkpoint)
    fn = partial(_block, sfreq=sfreq, net=net, threshold=float(config["threshold"]),
                 device=device)
    sig = ds["signal"]
    data = sig.data
    eeg_idx = np.flatnonzero(is_eeg)
    other_idx = np.flatnonzero(~is_eeg)
    if hasattr(data, "dask"):
        import dask.array as da

        depth = int(round(DEPTH_S * sfreq))
        block = int(round(BLOCK_S * sfreq))
        chunks = _time_chunks(data.shape[0], block, depth)
        eeg = data[:, eeg_idx].rechunk((chunks, -1))
        meta = np.empty((0, 0), dtype=sig.dtype)
        if len(chunks) == 1:
            clean = eeg.map_blocks(fn, dtype=sig.dtype, meta=meta)
        else:
            clean = da.map_overlap(fn, eeg, depth={0: depth, 1: 0}, boundary="none",
                                   trim=True, dtype=sig.dtype, meta=meta)
        order = np.argsort(np.concatenate([eeg_idx, other_idx]))
        full = da.concatenate([clean, data[:, other_idx].rechunk((clean.chunks[0], -1))],
                              axis=1)
        out_data = full[:, order]
    else:
        eeg = np.asarray(data)[:, eeg_idx]
        if not np.isfinite(eeg).all():
            raise InputError(f"{where}: NaN or Inf EEG samples; the denoiser needs finite data")
        out_data = np.array(data, copy=True)
        out_data[:, eeg_idx] = fn(eeg)
    out = ds.copy()
    out["signal"] = sig.copy(data=out_data)
    out.attrs.update(denoiser=digest, denoiser_checkpoint=str(checkpoint),
                     denoiser_threshold=float(config["threshold"]))
    return schema.validate(out, where=f"{where} (denoised)", check_values=False)


def _time_chunks(n: int, block: int, depth: int) -> tuple[int, ...]:
    """Chunks of ``block`` samples; a last one shorter than ``depth`` joins the one before
    (so that dask need not rechunk, and every block starts on a multiple of ``block``)."""
    chunks = [block] * (n // block)
    rest = n - block * len(chunks)
    if rest:
        if chunks and rest < depth:
            chunks[-1] += rest
        else:
            chunks.append(rest)
    return tuple(chunks)


def _block(x: np.ndarray, *, sfreq: float, net, threshold: float, device: str) -> np.ndarray:
    return denoise_array(x, sfreq, net, threshold=threshold, device=device).astype(x.dtype)
