"""The signal contract: the one xarray Dataset every reader returns and every step reads.

A contract Dataset has

- ``signal`` with dims ``(time, channel)``, float32 or float64, ``attrs["units"]`` the
  SI unit shared by all channels (or ``"mixed"``; the per-channel ``unit`` coordinate
  always holds each channel's own unit);
- coordinates ``time`` (s, float64, strictly increasing), ``channel`` (unique strings),
  ``channel_type`` (one of :data:`CHANNEL_TYPES`), ``unit``, and optionally ``region``
  (str) and ``x``, ``y``, ``z`` (metres, NaN where unknown);
- optionally ``events`` along dim ``event``: the onsets in s, with coordinates
  ``event_duration`` (s) and ``event_label`` (str);
- optionally ``confounds`` with dims ``(time, confound)`` (e.g. fMRIPrep regressors);
- optionally, for spikes binned from spike times, ``spike_times`` along dim ``spike`` (s,
  float64) with channel coordinates ``spike_start``/``spike_stop`` (int64): channel ``c``'s
  spike times, sorted, are ``spike_times[spike_start[c]:spike_stop[c]]`` (the ragged layout
  of an NWB ``Units`` table; :func:`set_spike_times`, :func:`get_spike_times`);
- attrs :data:`REQUIRED_ATTRS` (``modality``, ``sfreq``, ``subject``, ``session``,
  ``source``, ``source_sha256``, ``neurodag_version``, ``config_digest``, ``created``).

:func:`build` makes one from arrays; :func:`validate` checks one and raises
:class:`~neurodag.errors.ContractError` with a single line naming what is wrong.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .errors import ContractError

MODALITIES = ("eeg", "meg", "seeg", "ecog", "fmri", "calcium", "spikes")

CHANNEL_TYPES = (
    "eeg", "mag", "grad", "seeg", "ecog", "eog", "ecg", "emg",
    "bold", "roi", "neuron", "stim", "misc",
)

#: SI unit of each channel type, used when the caller does not say otherwise.
DEFAULT_UNITS = {
    "eeg": "V", "seeg": "V", "ecog": "V", "eog": "V", "ecg": "V", "emg": "V",
    "mag": "T", "grad": "T/m",
    "bold": "a.u.", "roi": "a.u.", "neuron": "a.u.", "stim": "a.u.", "misc": "a.u.",
}

#: Channel types that carry the recording itself (the rest are auxiliary: EOG, stim, ...).
DATA_CHANNEL_TYPES = {
    "eeg": ("eeg",), "meg": ("mag", "grad"), "seeg": ("seeg",), "ecog": ("ecog",),
    "fmri": ("bold", "roi"), "calcium": ("neuron", "roi"), "spikes": ("neuron",),
}

REQUIRED_ATTRS = (
    "modality", "sfreq", "subject", "session", "source", "source_sha256",
    "neurodag_version", "config_digest", "created",
)

_POSITION_COORDS = ("x", "y", "z")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _str_array(values, n: int, what: str) -> np.ndarray:
    """Strings as an object array (zarr 3 stores object strings without warnings)."""
    if isinstance(values, str):
        values = [values] * n
    out = np.asarray([str(v) for v in values], dtype=object)
    if out.shape != (n,):
        raise ContractError(f"{what}: expected {n} values, got {out.shape[0]}")
    return out


def build(
    signal,
    *,
    sfreq: float,
    channels: Sequence[str],
    channel_types: str | Sequence[str],
    modality: str,
    subject: str = "01",
    session: str = "01",
    t0: float = 0.0,
    units: str | Sequence[str] | None = None,
    region: Sequence[str] | None = None,
    positions=None,
    events=None,
    confounds: pd.DataFrame | None = None,
    source: str = "memory",
    source_sha256: str = "",
    attrs: Mapping | None = None,
) -> xr.Dataset:
    """Build a contract Dataset from a ``(time, channel)`` array.

    Parameters
    ----------
    signal : array-like or dask array, shape (n_times, n_channels)
        Samples in SI units (V, T, T/m) or arbitrary units for imaging signals.
    sfreq : float
        Sampling rate in Hz; times are ``t0 + arange(n_times) / sfreq``.
    channels : sequence of str
        Unique channel names.
    channel_types : str or sequence of str
        One of :data:`CHANNEL_TYPES` per channel, or one for all.
    modality : str
        One of :data:`MODALITIES`.
    subject, session : str
        Identifiers, without ``sub-``/``ses-`` prefixes.
    t0 : float
        Time of the first sample in s.
    units : str or sequence of str, optional
        Unit per channel; defaults from :data:`DEFAULT_UNITS`.
    region : sequence of str, optional
        Anatomical region per channel.
    positions : array-like, shape (n_channels, 3), optional
        Channel positions in metres; NaN where unknown.
    events : DataFrame or mapping with ``onset``, ``duration``, ``label``, optional
    confounds : DataFrame, optional
        One row per sample, one column per confound regressor.
    source, source_sha256 : str
        Where the data came from; :func:`neurodag.provenance.stamp` fills these for files.
    attrs : mapping, optional
        Extra attributes.

    Returns
    -------
    xarray.Dataset
        A Dataset that passes :func:`validate`.
    """
    data = signal if hasattr(signal, "dask") or hasattr(signal, "chunks") else np.asarray(signal)
    if data.ndim != 2:
        raise ContractError(f"signal: expected a 2-D (time, channel) array, got {data.ndim}-D")
    n_times, n_channels = data.shape
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    channels = _str_array(channels, n_channels, "channels")
    ctypes = _str_array(channel_types, n_channels, "channel_types")
    if units is None:
        units = [DEFAULT_UNITS.get(t, "a.u.") for t in ctypes]
    units = _str_array(units, n_channels, "units")
    sfreq = float(sfreq)
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise ContractError(f"sfreq: expected a positive rate in Hz, got {sfreq}")
    time = float(t0) + np.arange(n_times, dtype=np.float64) / sfreq
    coords = {
        "time": ("time", time, {"units": "s"}),
        "channel": ("channel", channels),
        "channel_type": ("channel", ctypes),
        "unit": ("channel", units),
    }
    if region is not None:
        coords["region"] = ("channel", _str_array(region, n_channels, "region"))
    if positions is not None:
        pos = np.asarray(positions, dtype=np.float64)
        if pos.shape != (n_channels, 3):
            raise ContractError(f"positions: expected shape ({n_channels}, 3), got {pos.shape}")
        for i, name in enumerate(_POSITION_COORDS):
            coords[name] = ("channel", pos[:, i], {"units": "m"})
    shared = set(units.tolist())
    ds = xr.Dataset(
        {"signal": (("time", "channel"), data, {"units": shared.pop() if len(shared) == 1 else "mixed"})},
        coords=coords,
    )
    if events is not None:
        ds = set_events(ds, events)
    if confounds is not None:
        ds = set_confounds(ds, confounds)
    ds.attrs.update(
        modality=str(modality), sfreq=sfreq, subject=str(subject), session=str(session),
        source=str(source), source_sha256=str(source_sha256), neurodag_version=__version__,
        config_digest="", created=_now(),
    )
    if attrs:
        ds.attrs.update(attrs)
    return ds


def set_events(ds: xr.Dataset, events) -> xr.Dataset:
    """Return ``ds`` with its events replaced by ``events`` (onset, duration, label)."""
    ev = pd.DataFrame(events)
    missing = {"onset", "duration", "label"} - set(ev.columns)
    if missing:
        raise ContractError(f"events: missing column(s) {sorted(missing)}")
    ev = ev.sort_values("onset", kind="stable")
    ds = ds.drop_vars(["events", "event_duration", "event_label"], errors="ignore")
    return ds.assign(
        events=xr.DataArray(
            ev["onset"].to_numpy(np.float64), dims="event",
            coords={
                "event_duration": ("event", ev["duration"].to_numpy(np.float64)),
                "event_label": ("event", np.asarray(ev["label"].astype(str), dtype=object)),
            },
            attrs={"units": "s"},
        )
    )


def get_events(ds: xr.Dataset) -> pd.DataFrame:
    """The events of ``ds`` as a DataFrame with onset, duration, label (empty if none)."""
    if "events" not in ds:
        return pd.DataFrame({"onset": [], "duration": [], "label": []})
    return pd.DataFrame({
        "onset": ds["events"].values,
        "duration": ds["event_duration"].values,
        "label": ds["event_label"].values.astype(str),
    })


def set_confounds(ds: xr.Dataset, confounds: pd.DataFrame) -> xr.Dataset:
    """Return ``ds`` with confound regressors attached (one row per sample)."""
    conf = pd.DataFrame(confounds)
    if len(conf) != ds.sizes["time"]:
        raise ContractError(
            f"confounds: {len(conf)} rows for {ds.sizes['time']} samples; expected one row per sample"
        )
    return ds.assign(confounds=xr.DataArray(
        conf.to_numpy(np.float64), dims=("time", "confound"),
        coords={"confound": np.asarray(conf.columns.astype(str), dtype=object)},
    ))


def infer_modality(channel_types: Sequence[str], units: Sequence[str] = ()) -> str:
    """Guess the modality from channel types (and units, which separate calcium from spikes)."""
    types = set(channel_types)
    for modality, kinds in (("meg", ("mag", "grad")), ("seeg", ("seeg",)), ("ecog", ("ecog",)),
                            ("eeg", ("eeg",)), ("fmri", ("bold",))):
        if types & set(kinds):
            return modality
    if "neuron" in types:
        return "spikes" if "count" in set(units) else "calcium"
    if "roi" in types:
        return "fmri"
    raise ContractError(f"cannot infer the modality from channel types {sorted(types)}")


def validate(ds: xr.Dataset, *, where: str = "dataset", check_values: bool = True) -> xr.Dataset:
    """Check that ``ds`` follows the signal contract.

    Parameters
    ----------
    ds : xarray.Dataset
    where : str
        Name of the file or object, used as the prefix of error messages.
    check_values : bool
        Also scan the samples for NaN/Inf (chunk by chunk for lazy data).

    Returns
    -------
    xarray.Dataset
        ``ds`` itself, so that calls can be chained.

    Raises
    ------
    ContractError
        With a single line naming ``where`` and the first problem found.
    """

    def fail(msg: str):
        raise ContractError(f"{where}: {msg}")

    if not isinstance(ds, xr.Dataset):
        fail(f"expected an xarray.Dataset, got {type(ds).__name__}")
    if "signal" not in ds.data_vars:
        fail("no 'signal' variable")
    sig = ds["signal"]
    if sig.dims != ("time", "channel"):
        fail(f"signal has dims {sig.dims}, expected ('time', 'channel')")
    if sig.dtype not in (np.float32, np.float64):
        fail(f"signal has dtype {sig.dtype}, expected float32 or float64")
    if "units" not in sig.attrs:
        fail("signal has no 'units' attribute")
    if sig.sizes["time"] < 1 or sig.sizes["channel"] < 1:
        fail(f"signal is empty (shape {tuple(sig.shape)})")
    missing = [a for a in REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        fail(f"missing attribute(s) {missing}")
    if ds.attrs["modality"] not in MODALITIES:
        fail(f"modality {ds.attrs['modality']!r} is not one of {list(MODALITIES)}")
    sfreq = ds.attrs["sfreq"]
    if not isinstance(sfreq, (int, float, np.floating, np.integer)) or not np.isfinite(sfreq) or sfreq <= 0:
        fail(f"sfreq {sfreq!r} is not a positive number of Hz")
    for name in ("time", "channel", "channel_type", "unit"):
        if name not in ds.coords:
            fail(f"no '{name}' coordinate")
    _check_time(ds["time"].values, float(sfreq), fail)
    _check_channels(ds, fail)
    if "events" in ds:
        _check_events(ds, fail)
    if "spike_times" in ds:
        _check_spike_times(ds, fail, check_values)
    if "confounds" in ds and ds["confounds"].dims != ("time", "confound"):
        fail(f"confounds has dims {ds['confounds'].dims}, expected ('time', 'confound')")
    if check_values:
        finite = np.isfinite(sig.data).all()
        if not bool(finite.compute() if hasattr(finite, "compute") else finite):
            bad = ~np.isfinite(sig.data).all(axis=0)
            bad = bad.compute() if hasattr(bad, "compute") else bad
            names = ds["channel"].values[np.asarray(bad)][:5].tolist()
            fail(f"signal has NaN or Inf samples (channels {names})")
    return ds


def _check_time(time: np.ndarray, sfreq: float, fail, block: int = 1 << 20) -> None:
    if time.dtype != np.float64:
        fail(f"time has dtype {time.dtype}, expected float64 seconds")
    if time.size < 2:
        return
    # Blockwise, so that checking adds no memory that grows with the recording's length.
    medians = []
    for start in range(0, time.size - 1, block):
        chunk = time[start: start + block + 1]
        if not np.isfinite(chunk).all():
            fail("time has NaN or Inf values")
        step = np.diff(chunk)
        if (step <= 0).any():
            i = start + int(np.argmax(step <= 0))
            fail(f"time is not strictly increasing (sample {i + 1}: {time[i + 1]} after {time[i]})")
        medians.append(float(np.median(step)))
    median = float(np.median(medians))
    if abs(median * sfreq - 1.0) > 0.01:
        fail(f"time steps ({median:.6g} s) do not match sfreq {sfreq:g} Hz")


def _check_channels(ds: xr.Dataset, fail) -> None:
    names = ds["channel"].values.tolist()
    if not all(isinstance(n, str) and n for n in names):
        fail("channel names must be non-empty strings")
    uniq, counts = np.unique(np.asarray(names, dtype=object), return_counts=True)
    if (counts > 1).any():
        fail(f"duplicate channel names {uniq[counts > 1][:5].tolist()}")
    bad = sorted(set(ds["channel_type"].values.tolist()) - set(CHANNEL_TYPES))
    if bad:
        fail(f"channel_type {bad} not in {list(CHANNEL_TYPES)}")
    for name in ("channel_type", "unit", "region", *_POSITION_COORDS):
        if name in ds.coords and ds[name].dims != ("channel",):
            fail(f"coordinate '{name}' has dims {ds[name].dims}, expected ('channel',)")
    for name in _POSITION_COORDS:
        if name in ds.coords and ds[name].dtype.kind != "f":
            fail(f"coordinate '{name}' must hold float metres, got {ds[name].dtype}")


def _check_events(ds: xr.Dataset, fail) -> None:
    ev = ds["events"]
    if ev.dims != ("event",):
        fail(f"events has dims {ev.dims}, expected ('event',)")
    for name in ("event_duration", "event_label"):
        if name not in ds.coords:
            fail(f"events without an '{name}' coordinate")
    onset = ev.values
    if not np.isfinite(onset).all():
        fail("event onsets must be finite")
    if (ds["event_duration"].values < 0).any():
        fail("event durations must be >= 0")


# ---------------------------------------------------------------------------- spike times


def set_spike_times(ds: xr.Dataset, times, start, stop) -> xr.Dataset:
    """Return ``ds`` with spike times per channel attached (see the module docstring).

    Parameters
    ----------
    ds : xarray.Dataset
    times : array-like or dask array, shape (n_spikes,)
        Every channel's spike times in s, channel after channel, each channel's sorted.
    start, stop : array-like of int, shape (n_channels,)
        Channel ``c``'s spikes are ``times[start[c]:stop[c]]``.
    """
    data = times if hasattr(times, "dask") else np.asarray(times, dtype=np.float64)
    ds = ds.drop_vars(["spike_times", "spike_start", "spike_stop"], errors="ignore")
    ds = ds.assign(spike_times=xr.DataArray(data, dims="spike", attrs={"units": "s"}))
    return ds.assign_coords(spike_start=("channel", np.asarray(start, dtype=np.int64)),
                            spike_stop=("channel", np.asarray(stop, dtype=np.int64)))


def get_spike_times(ds: xr.Dataset, channel: str) -> np.ndarray:
    """The spike times (s) of one channel of ``ds``."""
    i = int(np.flatnonzero(ds["channel"].values == channel)[0])
    lo, hi = int(ds["spike_start"].values[i]), int(ds["spike_stop"].values[i])
    return np.asarray(ds["spike_times"].data[lo:hi], dtype=np.float64)


def _check_spike_times(ds: xr.Dataset, fail, check_values: bool) -> None:
    var = ds["spike_times"]
    if var.dims != ("spike",):
        fail(f"spike_times has dims {var.dims}, expected ('spike',)")
    if var.dtype != np.float64:
        fail(f"spike_times has dtype {var.dtype}, expected float64 seconds")
    for name in ("spike_start", "spike_stop"):
        if name not in ds.coords or ds[name].dims != ("channel",) or ds[name].dtype.kind not in "iu":
            fail(f"spike_times without an integer '{name}' coordinate along 'channel'")
    start, stop = ds["spike_start"].values, ds["spike_stop"].values
    bad = (start < 0) | (stop < start) | (stop > var.sizes["spike"])
    if bad.any():
        fail(f"spike_start/spike_stop of channels {ds['channel'].values[bad][:5].tolist()} "
             f"are not slices of the {var.sizes['spike']} spike times")
    if check_values:
        for name, lo, hi in zip(ds["channel"].values, start, stop, strict=True):
            t = np.asarray(var.data[lo:hi])
            if not np.isfinite(t).all() or (np.diff(t) < 0).any():
                fail(f"spike times of channel {name!r} are not finite and sorted")
