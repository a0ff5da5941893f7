"""Denoise a contract Dataset with a trained checkpoint: EEG channels only, others untouched.

The output is the input minus a *correction* that is zero wherever the network did not
act, so a channel in which the contamination detector flags nothing comes back as the
very same samples, at any rate. Per EEG channel:

1. resample to the model's rate (256 Hz) with a filter designed for the ratio
   (:mod:`neurodag.denoise.rates`: passband to 80 Hz, nothing that folds below 128 Hz
   left above -80 dB);
2. take the band the model works in, 1-80 Hz (2nd-order Butterworth high-pass at 1 Hz,
   4th-order low-pass at 80 Hz, both zero phase; the training EEG's band) without the
   mains frequencies (notches at 50 and 60 Hz: line noise is not EMG);
3. cut it into 2 s windows every 1.5 s (mirror padding at both ends), divide each by its
   std (the benchmark's normalisation) and score it with the contamination autoencoder;
   where a patch scores at least the threshold, the transformer estimates the artifact.
   The network *acts* on a window only when that artifact is also large enough: in one of
   the window's four 0.5 s quarters its power is at least :data:`MIN_RATIO` of the
   window's estimated EEG power (``emg_ratio``). Clean EEG comes out with estimated
   artifacts of a few percent of its power, mild or brief real muscle activity with more;
   below the ratio the window is left alone;
4. the correction of an acted window (input minus estimate, scaled back) is limited to
   1-80 Hz inside the window (the same zero-phase filters, mirror padding) and tapered by a
   flat-top window whose 0.5 s cosine ends cross-fade it with its neighbours (the weights
   of consecutive windows sum to 1);
5. the overlap-added correction is resampled to the recording's rate (the designed
   filter again) and subtracted from the recording.

So the recording's own content below 1 Hz and above 80 Hz is returned as it was, and
only channel-windows the detector flagged (and their cross-fades) change. The decision and
its effect are returned per channel and window (:func:`window_spans`): the detector's
score, whether the network acted, and the fraction of the input's power removed in the
span the window owns (where its taper weight is at least 1/2).

Lazy (dask) signals are processed in time blocks of :data:`BLOCK_S` s with :data:`DEPTH_S`
s of overlap on each side, so memory does not grow with the recording's length; both are
whole multiples of the 1.5 s hop, so the windows fall where they would on the whole
recording.
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
from . import rates as _rates
from . import training as _train

#: Block length and overlap (s) for lazy signals (multiples of the hop, 1.5 s).
BLOCK_S, DEPTH_S = 240.0, 9.0
#: The model works in the band SPLIT_HZ-HIGH_HZ; content outside it is never changed.
SPLIT_HZ, HIGH_HZ = 1.0, 80.0
#: A window is changed only where the artifact the network estimates has at least MIN_RATIO
#: of the power of the EEG it estimates (checkpoints carry their own ``min_ratio``).
MIN_RATIO = 0.3
#: The artifact's power is compared with the window's EEG power in each of RATIO_PARTS
#: equal parts of the window (the largest counts), so that a short burst is seen.
RATIO_PARTS = 4
#: Windows start every HOP of the window length; the rest is the cross-fade.
HOP = 0.75
#: Shortest recording accepted (s).
MIN_DURATION = 1.0
#: Per channel and window (dims ``channel``, ``window``), with their fill for channels
#: that are not EEG and their description.
GATE_FILL = {"denoise_score": np.nan, "emg_ratio": np.nan, "denoise_acted": False,
             "power_removed": 0.0}
GATE_DOC = {
    "denoise_score": "contamination score of the window: the detector's highest patch "
                     "probability (EEG channels; NaN for others)",
    "emg_ratio": "power of the artifact the network estimates over that of the EEG it "
                 "estimates (0 where the score is below denoiser_threshold)",
    "denoise_acted": "the network changed this channel-window (score >= denoiser_threshold "
                     "and emg_ratio >= denoiser_min_ratio)",
    "power_removed": "fraction of the input's power removed in the span the window owns "
                     "(window_start to window_stop)",
}
GATE_VARS = tuple(GATE_FILL)


def crossfade_window(L: int, hop: int) -> np.ndarray:
    """Flat-top window of length ``L`` whose tapers (``L - hop`` samples each) sum to 1
    when windows are placed every ``hop`` samples."""
    R = L - hop
    w = np.ones(L)
    ramp = 0.5 * (1.0 - np.cos(np.pi * (np.arange(R) + 0.5) / R))
    w[:R] = ramp
    w[L - R:] = ramp[::-1]
    return w


def _geometry() -> tuple[int, int, int]:
    """Window length, hop and taper length in model samples."""
    L = _data.N_SAMPLES
    hop = int(round(HOP * L))
    return L, hop, L - hop


def n_windows(n_model: int) -> int:
    """Windows covering ``n_model`` samples at the model rate (see :func:`_windows`)."""
    L, hop, R = _geometry()
    return max(1, int(np.ceil((n_model + 2 * R - L) / hop)) + 1)


def window_spans(n_times: int, sfreq: float) -> np.ndarray:
    """``(n_windows, 2)`` start and stop (s, from the first sample) of the span each window
    owns: where its cross-fade weight is >= 1/2, cut to the recording. Spans tile it."""
    L, hop, R = _geometry()
    fs = _data.SFREQ
    n_model = -(-int(n_times) * int(round(1e6 * fs)) // int(round(1e6 * float(sfreq))))
    k = np.arange(n_windows(n_model))
    start = (k * hop - R / 2) / fs
    stop = start + hop / fs
    duration = n_times / float(sfreq)
    return np.clip(np.stack([start, stop], axis=1), 0.0, duration)


def _windows(h: np.ndarray, L: int, hop: int) -> tuple[np.ndarray, int, int]:
    """Windows ``(ch, n_win, L)`` of ``h`` (ch, time) every ``hop``, after mirror padding.

    Every sample ends up where the weights of :func:`crossfade_window` sum to 1.
    """
    R = L - hop
    T = h.shape[1]
    n_win = n_windows(T)
    total = (n_win - 1) * hop + L
    padded = np.pad(h, ((0, 0), (R, total - T - R)), mode="symmetric")
    idx = np.arange(n_win)[:, None] * hop + np.arange(L)[None, :]
    return padded[:, idx], n_win, total


def _band(x: np.ndarray, high: float, padlen: int | None = None) -> np.ndarray:
    """The model's band of ``x`` (last axis, model rate): zero-phase high-pass at
    :data:`SPLIT_HZ`, mains notches (:func:`neurodag.denoise.data.notch`) and low-pass at
    ``high`` (mirror padding)."""
    fs = _data.SFREQ
    n = x.shape[-1]
    pad = min(n - 1, int(3 * fs / SPLIT_HZ) if padlen is None else padlen)
    short = min(pad, int(fs / 2))
    x = sps.sosfiltfilt(sps.butter(2, SPLIT_HZ, "highpass", fs=fs, output="sos"), x, axis=-1,
                        padtype="even", padlen=pad)
    x = _data.notch(x, high=high, padlen=short)
    return sps.sosfiltfilt(sps.butter(4, high, "lowpass", fs=fs, output="sos"), x, axis=-1,
                           padtype="even", padlen=short)


def denoise_array(x: np.ndarray, sfreq: float, net, *, threshold: float = 0.05,
                  min_ratio: float = MIN_RATIO, device: str = "cpu",
                  batch: int = 2048) -> tuple[np.ndarray, dict]:
    """Denoise ``x`` (time, channel) sampled at ``sfreq``; see the module docstring.

    Returns
    -------
    out : ndarray (time, channel), float64
        ``x`` minus the correction; columns where the network acted nowhere are ``x``'s.
    gate : dict
        :data:`GATE_VARS`, each ``(channel, window)`` over the windows of
        :func:`window_spans`.
    """
    x = np.asarray(x, dtype=np.float64)
    T0, C = x.shape
    spans = window_spans(T0, sfreq)
    gate = {"denoise_score": np.zeros((C, len(spans))), "emg_ratio": np.zeros((C, len(spans))),
            "denoise_acted": np.zeros((C, len(spans)), dtype=bool),
            "power_removed": np.zeros((C, len(spans)))}
    if T0 == 0 or C == 0:
        return x.copy(), gate
    fs = _data.SFREQ
    high = min(HIGH_HZ, 0.45 * sfreq)
    d = _rates.resample(np.ascontiguousarray(x.T), sfreq, fs, HIGH_HZ)   # (ch, T)
    T = d.shape[1]
    L, hop, R = _geometry()
    segs, n_win, total = _windows(_band(d, high), L, hop)
    flat = segs.reshape(-1, L)                                   # (ch * n_win, L)
    s = flat.std(axis=-1)
    score = np.zeros(len(flat))
    ok = s > 0
    est = np.zeros_like(flat)
    if ok.any():
        est[ok], score[ok] = _train.predict(net, flat[ok] / s[ok, None], device=device,
                                            threshold=threshold, batch=batch, scores=True)
    # the artifact the network estimates, against the EEG it estimates (normalised units)
    ratio = np.zeros(len(flat))
    ran = ok & (score >= threshold)
    if ran.any():
        art = np.square(flat[ran] / s[ran, None] - est[ran]).reshape(-1, RATIO_PARTS,
                                                                     L // RATIO_PARTS)
        ratio[ran] = art.mean(axis=-1).max(axis=-1) / np.maximum(
            np.mean(np.square(est[ran]), axis=-1), 1e-12)
    acted = ran & (ratio >= min_ratio)
    out = x.copy()
    if acted.any():
        corr = np.zeros_like(flat)
        corr[acted] = _band(flat[acted] - est[acted] * s[acted, None], high, padlen=L - 1)
        corr = corr.reshape(C, n_win, L) * crossfade_window(L, hop)
        full = np.zeros((C, total))
        for k in range(n_win):
            full[:, k * hop: k * hop + L] += corr[:, k]
        touched = acted.reshape(C, n_win).any(axis=1)
        back = _rates.resample(full[touched, R: R + T], fs, sfreq, HIGH_HZ)[:, :T0]
        out[: back.shape[1], touched] -= back.T
    gate["denoise_score"] = score.reshape(C, n_win)
    gate["denoise_acted"] = acted.reshape(C, n_win)
    gate["emg_ratio"] = ratio.reshape(C, n_win)
    gate["power_removed"] = _power_removed(x, out, spans, sfreq)
    return out, gate


def _power_removed(x: np.ndarray, out: np.ndarray, spans: np.ndarray,
                   sfreq: float) -> np.ndarray:
    """Fraction of ``x``'s power removed in each window's span, ``(channel, window)``."""
    edges = np.clip(np.round(spans * sfreq).astype(np.int64), 0, x.shape[0])

    def sums(a):
        c = np.concatenate([np.zeros((1, a.shape[1])), np.cumsum(np.square(a), axis=0)])
        return c[edges[:, 1]] - c[edges[:, 0]]

    removed, power = sums(x - out), sums(x)
    frac = np.where(power > 0, removed / np.where(power > 0, power, 1.0), 0.0)
    return frac.T


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
    threshold = float(config["threshold"])
    min_ratio = float(config.get("min_ratio", MIN_RATIO))
    fn = partial(denoise_array, sfreq=sfreq, net=net, threshold=threshold,
                 min_ratio=min_ratio, device=device)
    sig = ds["signal"]
    data = sig.data
    eeg_idx = np.flatnonzero(is_eeg)
    if hasattr(data, "dask"):
        import dask.array as da

        eeg, gate = _lazy(data[:, eeg_idx], sfreq, fn, sig.dtype, is_eeg)
        other_idx = np.flatnonzero(~is_eeg)
        order = np.argsort(np.concatenate([eeg_idx, other_idx]))
        full = da.concatenate([eeg, data[:, other_idx].rechunk((eeg.chunks[0], -1))], axis=1)
        out_data = full[:, order]
    else:
        x = np.asarray(data)[:, eeg_idx]
        if not np.isfinite(x).all():
            raise InputError(f"{where}: NaN or Inf EEG samples; the denoiser needs finite data")
        eeg, gate = fn(x)
        gate = _all_channels(gate, is_eeg)
        out_data = np.array(data, copy=True)
        out_data[:, eeg_idx] = eeg.astype(sig.dtype)
    out = ds.copy()
    out["signal"] = sig.copy(data=out_data)
    spans = window_spans(ds.sizes["time"], sfreq) + float(ds["time"].values[0])
    coords = {"window": np.arange(len(spans)), "window_start": ("window", spans[:, 0]),
              "window_stop": ("window", spans[:, 1])}
    out = out.assign({k: xr.DataArray(v, dims=("channel", "window"), coords=coords,
                                      attrs={"long_name": GATE_DOC[k]})
                      for k, v in gate.items()})
    out.attrs.update(denoiser=digest, denoiser_checkpoint=str(checkpoint),
                     denoiser_threshold=threshold, denoiser_min_ratio=min_ratio)
    return schema.validate(out, where=f"{where} (denoised)", check_values=False)


def _all_channels(gate: dict, is_eeg: np.ndarray) -> dict:
    """The EEG channels' gate spread over every channel: channels that are not EEG get a
    NaN score, ``acted`` False and no power removed."""
    out = {}
    for name, value in gate.items():
        full = np.full((len(is_eeg), value.shape[1]), GATE_FILL[name], dtype=value.dtype)
        full[is_eeg] = value
        out[name] = full
    return out


def _time_chunks(n: int, block: int, depth: int) -> tuple[int, ...]:
    """Chunks of ``block`` samples; a last one shorter than ``depth`` joins the one before
    (so that every block starts on a multiple of ``block``)."""
    chunks = [block] * (n // block)
    rest = n - block * len(chunks)
    if rest:
        if chunks and rest < depth:
            chunks[-1] += rest
        else:
            chunks.append(rest)
    return tuple(chunks)


def _piece(x: np.ndarray, fn, dtype, keep: slice, windows: slice, is_eeg: np.ndarray):
    out, gate = fn(np.asarray(x))
    gate = _all_channels({k: v[:, windows] for k, v in gate.items()}, is_eeg)
    return out[keep].astype(dtype), gate


def _lazy(eeg, sfreq: float, fn, dtype, is_eeg: np.ndarray):
    """:func:`denoise_array` over time blocks of a dask array (with overlap), lazily.

    Each block is extended by :data:`DEPTH_S` s on both sides, denoised and trimmed; it
    reports the windows whose hop start (1.5 s x k) falls inside it.
    """
    import dask
    import dask.array as da

    n, C = eeg.shape
    depth = int(round(DEPTH_S * sfreq))
    chunks = _time_chunks(n, int(round(BLOCK_S * sfreq)), depth)
    hop_s = HOP * _data.EPOCH_S
    K = len(window_spans(n, sfreq))
    outs, gates = [], {k: [] for k in GATE_VARS}
    start, k_done = 0, 0
    for i, size in enumerate(chunks):
        stop = start + size
        lo, hi = max(0, start - depth), min(n, stop + depth)
        k0 = int(round(lo / sfreq / hop_s))
        k1 = K if i == len(chunks) - 1 else min(K, int(np.ceil(stop / sfreq / hop_s - 1e-9)))
        piece = dask.delayed(_piece, nout=2)(
            eeg[lo:hi], fn, dtype, slice(start - lo, stop - lo), slice(k_done - k0, k1 - k0),
            is_eeg)
        outs.append(da.from_delayed(piece[0], shape=(size, C), dtype=dtype))
        for k in GATE_VARS:
            gates[k].append(da.from_delayed(piece[1][k], shape=(len(is_eeg), k1 - k_done),
                                            dtype=np.asarray(GATE_FILL[k]).dtype))
        start, k_done = stop, k1
    return (da.concatenate(outs, axis=0),
            {k: da.concatenate(v, axis=1).rechunk(-1) for k, v in gates.items()})


def apply_session(zarr_in: str | Path, checkpoint: str | Path, out_dir: str | Path, *,
                  device: str = "cpu", config_digest: str = "") -> Path:
    """Denoise a contract store into ``out_dir/denoised.zarr`` (atomically; block by block).

    The output keeps the recording's ``source`` and records the input store and the
    checkpoint files in ``inputs``. Returns the path of ``denoised.zarr``.
    """
    from .. import provenance, store

    zarr_in, checkpoint = Path(zarr_in), Path(checkpoint)
    ds = store.read_signal(zarr_in)
    out = apply(ds, checkpoint, device=device)
    provenance.stamp(out, [zarr_in, checkpoint / "model.pt", checkpoint / "config.json"],
                     keep_source=True, config_digest=config_digest)
    return store.write_signal(out, Path(out_dir) / "denoised.zarr")
