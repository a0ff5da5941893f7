"""Whole recordings at their own rate: EMG mixtures, scores in the EEG band, baselines.

:mod:`neurodag.denoise.data` scores 2 s epochs at the model's rate. This module scores
what a user gets: :func:`neurodag.denoise.inference.apply` on a whole real recording at
its native rate (or rewritten at another rate by MNE, :func:`at_rate`), against

- the recording itself, when no EMG is added (clean channels must come back intact:
  correlation and RMS ratio in :data:`EVAL_BAND`, and the largest sample difference);
- the clean recording, when EMG is added to a fraction of its channels
  (:func:`contaminate`) at a given SNR: correlation in :data:`EVAL_BAND` of the denoised
  channels, beside the contaminated input and baselines (a :data:`LOWPASS_HZ` Hz
  low-pass, optionally ICA).

EMG comes from one of :data:`GENERATORS`: ``muap`` (the training generator,
:func:`neurodag.denoise.emg.muscle_sources`) or ``bursts`` (band-limited noise bursts of
another shape, :func:`neurodag.denoise.emg.noise_bursts`), generated at the recording's
rate, projected onto the channels by :func:`neurodag.denoise.data.emg_patterns` and
scaled per channel so that ``20 log10(RMS(x_1-80) / RMS(emg)) = SNR``, with ``x_1-80``
the clean channel in the benchmark's 1-80 Hz band (EEGdenoiseNet's definition on
whole channels).

Filters are MNE's (zero-phase FIR, :func:`mne.filter.filter_data` with its default
transition bands), which a user would apply.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import schema
from ..errors import InputError
from . import data as _data
from . import emg as _emg

#: Band (Hz) in which outputs are compared with the clean signal.
EVAL_BAND = (1.0, 45.0)
#: Band (Hz) of the clean signal against which the SNR is set.
SNR_BAND = (1.0, 80.0)
#: The low-pass baseline's cut-off (Hz).
LOWPASS_HZ = 30.0
#: SNRs (dB) of the acceptance test.
SNRS = (-5.0, 0.0)
GENERATORS = {"muap": _emg.muscle_sources, "bursts": _emg.noise_bursts}


def _filter(x: np.ndarray, sfreq: float, l_freq, h_freq) -> np.ndarray:
    """MNE's zero-phase FIR along axis 0 of ``(time, channel)``."""
    import mne

    h = None if h_freq is None else min(float(h_freq), 0.45 * sfreq)
    return mne.filter.filter_data(np.ascontiguousarray(np.asarray(x, np.float64).T), sfreq,
                                  l_freq, h, verbose="error").T


def band(x: np.ndarray, sfreq: float, edges=EVAL_BAND) -> np.ndarray:
    """``x`` (time, channel) band-passed to ``edges`` Hz (the high edge capped at 0.45 *
    ``sfreq``)."""
    return _filter(x, sfreq, edges[0], edges[1])


def lowpass(y: np.ndarray, sfreq: float, cutoff: float = LOWPASS_HZ) -> np.ndarray:
    """The baseline: ``y`` (time, channel) low-passed at ``cutoff`` Hz."""
    return _filter(y, sfreq, None, cutoff)


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``a`` with the same column of ``b``."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    return np.where(den > 0, (a * b).sum(axis=0) / np.where(den > 0, den, 1.0), np.nan)


def at_rate(ds: xr.Dataset, sfreq: float) -> xr.Dataset:
    """The recording ``ds`` rewritten at ``sfreq`` Hz by MNE (:func:`mne.filter.resample`,
    FFT method, independent of the denoiser's own resampling); events kept."""
    import mne

    old = float(ds.attrs["sfreq"])
    x = np.asarray(ds["signal"].transpose("time", "channel").values, dtype=np.float64)
    if float(sfreq) != old:
        x = mne.filter.resample(x, up=float(sfreq) / old, down=1.0, axis=0, verbose="error")
    pos = (np.stack([ds[k].values.astype(float) for k in ("x", "y", "z")], axis=1)
           if all(k in ds.coords for k in ("x", "y", "z")) else None)
    events = schema.get_events(ds) if "events" in ds else None
    ev = None
    if events is not None and len(events):
        ev = {"onset": events["onset"].to_numpy(), "duration": events["duration"].to_numpy(),
              "label": events["label"].astype(str).to_numpy()}
    return schema.build(x, sfreq=float(sfreq), channels=[str(c) for c in ds["channel"].values],
                        channel_types=[str(t) for t in ds["channel_type"].values],
                        modality=str(ds.attrs.get("modality", "eeg")), positions=pos, events=ev,
                        subject=str(ds.attrs.get("subject", "01")),
                        session=str(ds.attrs.get("session", "01")),
                        source=f"{ds.attrs.get('source', 'recording')} at {sfreq:g} Hz")


def contaminate(x: np.ndarray, sfreq: float, snr_db: float, *, kind: str = "muap",
                seed: int = 0, fraction: float = 1 / 3,
                positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """EMG added to ``fraction`` of the channels of ``x`` (time, channel) at ``snr_db``.

    Returns the contaminated recording and the indices of the contaminated channels
    (chosen at random from ``seed``); see the module docstring for the SNR.
    """
    if kind not in GENERATORS:
        raise InputError(f"EMG generator {kind!r} is not one of {list(GENERATORS)}")
    x = np.asarray(x, dtype=np.float64)
    n, C = x.shape
    rng = np.random.default_rng([int(seed), 7919, int(round(snr_db * 10)) % 1000])
    picks = np.sort(rng.choice(C, max(1, int(round(fraction * C))), replace=False))
    pos = np.full((C, 3), np.nan) if positions is None else np.asarray(positions, float)
    sources = GENERATORS[kind](rng, n, float(sfreq), _data.N_MUSCLES)
    emg = sources @ _data.emg_patterns(rng, pos[picks]).T
    ref = _data.rms(band(x[:, picks], sfreq, SNR_BAND), axis=0)
    emg *= ref / (_data.rms(emg, axis=0) * 10.0 ** (snr_db / 20.0))
    y = x.copy()
    y[:, picks] += emg
    return y, picks


def _signal(ds: xr.Dataset) -> np.ndarray:
    return np.asarray(ds["signal"].transpose("time", "channel").values, dtype=np.float64)


def identity_scores(ds: xr.Dataset, denoise) -> dict:
    """How much ``denoise`` (a function Dataset -> Dataset) changes a recording's EEG.

    Returns per EEG channel ``cc`` and ``rms_ratio`` in :data:`EVAL_BAND`, the largest
    absolute sample difference relative to the channel's RMS (``max_abs_diff``), and
    ``acted``, the fraction of windows in which the network acted.
    """
    eeg = ds.isel(channel=np.asarray(ds["channel_type"].values == "eeg"))
    out = denoise(eeg)
    sfreq = float(ds.attrs["sfreq"])
    x, y = _signal(eeg), _signal(out)
    bx, by = band(x, sfreq), band(y, sfreq)
    res = {"cc": correlation(by, bx), "rms_ratio": _data.rms(by, axis=0) / _data.rms(bx, axis=0),
           "max_abs_diff": np.abs(y - x).max(axis=0) / _data.rms(x - x.mean(axis=0), axis=0)}
    if "denoise_acted" in out:
        res["acted"] = np.asarray(out["denoise_acted"].values).mean(axis=1)
    return res


def mixture_scores(ds: xr.Dataset, methods: dict, snr_db: float, *, kind: str = "muap",
                   seed: int = 0, fraction: float = 1 / 3) -> dict:
    """Correlation with the clean EEG in :data:`EVAL_BAND` of each method's output, on the
    contaminated channels of :func:`contaminate`.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset (its EEG channels are used).
    methods : dict
        ``name -> f(y, contract)`` with ``y`` the contaminated EEG ``(time, channel)`` and
        ``contract`` the same as a contract Dataset; returns the estimate, same shape.
        ``contaminated`` (the input itself) and ``lowpass`` are always scored.

    Returns
    -------
    dict
        ``name -> cc`` per contaminated channel, and ``picks`` (their names).
    """
    eeg = ds.isel(channel=np.asarray(ds["channel_type"].values == "eeg"))
    sfreq = float(ds.attrs["sfreq"])
    x = _signal(eeg)
    pos = (np.stack([eeg[k].values.astype(float) for k in ("x", "y", "z")], axis=1)
           if all(k in eeg.coords for k in ("x", "y", "z")) else None)
    y, picks = contaminate(x, sfreq, snr_db, kind=kind, seed=seed, fraction=fraction,
                           positions=pos)
    contract = eeg.assign(signal=eeg["signal"].copy(data=y))
    ref = band(x[:, picks], sfreq)
    outs = {"contaminated": y, "lowpass": lowpass(y, sfreq)}
    outs.update({name: f(y, contract) for name, f in methods.items()})
    res = {name: correlation(band(v[:, picks], sfreq), ref) for name, v in outs.items()}
    res["picks"] = [str(c) for c in eeg["channel"].values[picks]]
    return res


def with_locs(ds: xr.Dataset, locs) -> xr.Dataset:
    """``ds`` with channel labels, positions (m) and types from an EEGLAB ``.locs`` file
    (:func:`mne.channels.read_custom_montage`), matched by order; labels starting with
    ``EOG`` become ``eog`` channels."""
    import mne

    mont = mne.channels.read_custom_montage(locs)
    names = list(mont.ch_names)
    if len(names) != ds.sizes["channel"]:
        raise InputError(f"{locs}: {len(names)} channels, the recording has "
                         f"{ds.sizes['channel']}")
    pos = mont.get_positions()["ch_pos"]
    xyz = np.array([pos[n] for n in names])
    return ds.assign_coords(
        channel=("channel", names),
        channel_type=("channel", ["eog" if n.upper().startswith("EOG") else "eeg"
                                  for n in names]),
        x=("channel", xyz[:, 0]), y=("channel", xyz[:, 1]), z=("channel", xyz[:, 2]))
