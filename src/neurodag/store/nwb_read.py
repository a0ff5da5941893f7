"""NWB -> contract Dataset (our files and others).

Our files carry JSON under key ``"neurodag"`` in ``NWBFile.notes``: ``attrs`` (every
Dataset attr), ``signal`` (path of the series), ``optional_coords`` (which of region, x,
y, z the Dataset had), ``n_events`` (when it had events), ``confounds`` (path of the
confound series, if any) and ``units`` (path of the Units table holding the spike times
of spikes binned from spike times). These are read back exactly.

Other NWB files (DANDI assets, neuroconv, pynwb) are read by
:func:`neurodag.io.nwb_foreign.read_foreign`: an ElectricalSeries, a RoiResponseSeries or
a Units table binned to counts, chosen by modality and option ``series``.

The samples are wrapped lazily in dask over the open HDF5 dataset: the file stays open
until ``ds.close()`` (or garbage collection) and is read in time blocks on demand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import InputError, one_line
from ..schema import build, validate
from .zarrstore import time_chunk

#: Key of our JSON in ``NWBFile.notes``.
META_KEY = "neurodag"
#: NWB electrode coordinates are in micrometres; the contract's in metres.
UM_PER_M = 1e6


def to_nwb_axes(pos: np.ndarray) -> np.ndarray:
    """Contract positions (m; MNE's head frame: +x right, +y anterior, +z up) on the NWB
    electrodes table's axes (micrometres; +x posterior, +y inferior, +z right)."""
    pos = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
    return np.stack([-pos[:, 1], -pos[:, 2], pos[:, 0]], axis=1) * UM_PER_M


def from_nwb_axes(xyz: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_nwb_axes`: NWB electrode coordinates -> contract positions."""
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3) / UM_PER_M
    return np.stack([xyz[:, 2], -xyz[:, 0], -xyz[:, 1]], axis=1)
EPHYS_MODALITIES = ("eeg", "meg", "seeg", "ecog")
#: Processing module for series and tables without a core NWB type (nwbinspector's list).
MISC_MODULE = "misc"
CONFOUND_COLUMNS = "confound_columns"


def read_nwb(path, *, check_values: bool = False, modality: str | None = None,
             series: str | None = None, bin_width: float | None = None) -> xr.Dataset:
    """Read an NWB file as a contract Dataset.

    Parameters
    ----------
    path : path-like
        An NWB file written by :func:`neurodag.store.write_nwb`, or a third-party one
        with an ``ElectricalSeries``, ``RoiResponseSeries`` or ``Units`` table.
    check_values : bool
        Also scan every sample for NaN/Inf (reads the whole series once, in blocks).
    modality, series, bin_width
        Third-party files only: which series to read and how to bin spike times (see
        :func:`neurodag.io.nwb_foreign.read_foreign`); ignored for our own files.

    Returns
    -------
    xarray.Dataset
        A validated contract Dataset whose ``signal`` is dask-backed over the open file;
        ``ds.close()`` closes the file.

    Raises
    ------
    InputError
        With one line naming ``path``: missing file, not HDF5, truncated or corrupted,
        not NWB, no series to read, timestamps not strictly increasing.
    """
    path = Path(path)
    where = str(path)
    io, nwbfile = _open(path)
    try:
        meta = _layout(nwbfile)
        if meta:
            ds = _read_ours(nwbfile, meta, where)
        else:
            from ..io.nwb_foreign import read_foreign

            ds = read_foreign(nwbfile, path, modality=modality, series=series,
                              bin_width=bin_width)
        validate(ds, where=where, check_values=check_values)
    except InputError:
        io.close()
        raise
    except OSError as e:  # h5py read errors on a damaged file
        io.close()
        raise InputError(f"{where}: cannot read the NWB content ({one_line(e)})") from None
    except BaseException:
        io.close()
        raise
    ds.set_close(io.close)
    return ds


def _open(path: Path):
    import h5py
    from pynwb import NWBHDF5IO

    where = str(path)
    if not path.is_file():
        raise InputError(f"{where}: no such NWB file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise InputError(f"{where}: cannot read ({one_line(e)})") from None
    if not is_hdf5:
        raise InputError(f"{where}: not an NWB file (not HDF5)")
    try:
        fh = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{where}: truncated or corrupted HDF5 file ({one_line(e)})") from None
    if "nwb_version" not in fh.attrs:
        fh.close()
        raise InputError(f"{where}: not an NWB file (HDF5 without an nwb_version attribute)")
    fh.close()
    io = None
    try:
        io = NWBHDF5IO(str(path), "r")
        return io, io.read()
    except Exception as e:  # pynwb/hdmf raise many types for files they cannot map
        if io is not None:
            io.close()
        raise InputError(f"{where}: not a readable NWB file ({one_line(e)})") from None


def notes_record(nwbfile) -> dict:
    """Our JSON record in ``NWBFile.notes`` (``{}`` when the file is not one of ours)."""
    try:
        meta = json.loads(nwbfile.notes or "{}")
    except (TypeError, ValueError):
        return {}
    meta = meta.get(META_KEY) if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _layout(nwbfile) -> dict | None:
    meta = notes_record(nwbfile)
    return meta if "signal" in meta and "attrs" in meta else None


def _resolve(nwbfile, route: str, where: str):
    head, *rest = route.split("/")
    try:
        obj = getattr(nwbfile, head)
        for part in rest:
            obj = obj[part]
    except (AttributeError, KeyError):
        raise InputError(f"{where}: NWB object {route!r} named in the notes is missing") from None
    return obj


# ---------------------------------------------------------------------------- pieces


def _strings(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _column(table, name: str, rows) -> np.ndarray | None:
    if name not in table.colnames:
        return None
    return np.asarray(table[name].data[:])[rows]


def _series_table(series):
    """The table whose rows are the series' columns, and which rows, in column order."""
    region = getattr(series, "electrodes", None) or getattr(series, "rois", None)
    if region is None:
        return None, None
    return region.table, np.asarray(region.data[:], dtype=np.int64)


def _time(series, where: str) -> tuple[np.ndarray, float]:
    n = int(series.data.shape[0])
    if series.rate is not None:
        rate = float(series.rate)
        if not np.isfinite(rate) or rate <= 0:
            raise InputError(f"{where}: series {series.name!r} has sampling rate {rate} Hz")
        t0 = float(series.starting_time or 0.0)
        return t0 + np.arange(n, dtype=np.float64) / rate, rate
    ts = series.timestamps
    ts = ts.timestamps if hasattr(ts, "timestamps") else ts  # linked from another series
    time = np.asarray(ts[:], dtype=np.float64)
    if time.shape != (n,):
        raise InputError(f"{where}: series {series.name!r} has {time.size} timestamps "
                         f"for {n} samples")
    step = np.diff(time)
    if not np.isfinite(time).all() or (step <= 0).any():
        i = int(np.argmax(~(step > 0))) + 1 if step.size else 0
        raise InputError(f"{where}: timestamps of series {series.name!r} are not strictly "
                         f"increasing (sample {i})")
    if n < 2:
        raise InputError(f"{where}: series {series.name!r} has one timestamp and no rate")
    return time, 1.0 / float(np.median(step))


def _lazy(dataset, where: str):
    import dask.array as da

    if dataset.ndim not in (1, 2):
        raise InputError(f"{where}: series data has {dataset.ndim} dims, expected (time, channel)")
    width = 1 if dataset.ndim == 1 else int(dataset.shape[1])
    rows = time_chunk(width, dataset.dtype.itemsize, int(dataset.shape[0]))
    chunks = (rows,) if dataset.ndim == 1 else (rows, width)
    arr = da.from_array(dataset, chunks=chunks, lock=True)
    return arr[:, None] if dataset.ndim == 1 else arr


def _scaled(series, data):
    conv = float(getattr(series, "conversion", 1.0) or 1.0)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    chan = getattr(series, "channel_conversion", None)
    chan = None if chan is None else np.asarray(chan[:], dtype=np.float64)
    if data.dtype.kind != "f":
        data = data.astype(np.float64)
    if conv != 1.0:
        data = data * conv
    if chan is not None and not np.all(chan == 1.0):
        data = data * chan[None, :].astype(data.dtype)
    if offset != 0.0:
        data = data + offset
    return data


def _positions(table, rows, *, scale: float) -> np.ndarray | None:
    cols = [_column(table, c, rows) for c in ("x", "y", "z")]
    if all(c is None for c in cols):
        return None
    n = rows.size
    return np.stack([np.full(n, np.nan) if c is None else c.astype(np.float64) / scale
                     for c in cols], axis=1)


def _events(nwbfile) -> dict | None:
    intervals = nwbfile.intervals or {}
    if "events" not in intervals:
        return None
    table = intervals["events"]
    onset = np.asarray(table["start_time"].data[:], dtype=np.float64)
    if "duration" in table.colnames:
        duration = np.asarray(table["duration"].data[:], dtype=np.float64)
    else:
        duration = np.asarray(table["stop_time"].data[:], dtype=np.float64) - onset
        duration = np.where(np.isnan(duration), 0.0, duration)  # no stop: instantaneous
    labels = (_strings(table["label"].data[:]) if "label" in table.colnames
              else ["events"] * onset.size)
    return {"onset": onset, "duration": duration, "label": labels}


def _dataset(data, time, *, names, types, units, region, pos, modality, attrs,
             events=None) -> xr.Dataset:
    ds = build(
        data, sfreq=attrs["sfreq"], channels=names, channel_types=types, units=units,
        modality=modality, region=region, positions=pos, events=events,
        subject=attrs["subject"], session=attrs["session"], t0=float(time[0]),
    )
    if not np.array_equal(ds["time"].values, time):
        ds = ds.assign_coords(time=("time", time, {"units": "s"}))
    ds.attrs = dict(attrs)
    return ds


# ---------------------------------------------------------------------------- our files


def _read_ours(nwbfile, meta: dict, where: str) -> xr.Dataset:
    from pynwb.ecephys import ElectricalSeries

    series = _resolve(nwbfile, meta["signal"], where)
    attrs = dict(meta["attrs"])
    time, _ = _time(series, where)
    table, rows = _series_table(series)
    if table is None:  # fmri/spikes: the channels table beside the series
        table = series.get_ancestor("ProcessingModule")["channels"]
        rows = np.arange(len(table.id), dtype=np.int64)
    names = _column(table, "channel_name", rows)
    names = _column(table, "roi_name", rows) if names is None else names
    coords = set(meta.get("optional_coords", []))
    is_ephys = isinstance(series, ElectricalSeries)
    events = _events(nwbfile)
    if events is None and meta.get("n_events") == 0:
        events = {"onset": [], "duration": [], "label": []}
    region = None
    if "region" in coords:
        region = _column(table, "location" if is_ephys else "region", rows)
    pos = _positions(table, rows, scale=1.0) if "x" in coords else None
    if pos is not None and is_ephys:
        pos = from_nwb_axes(pos)
    ds = _dataset(
        _lazy(series.data, where), time, names=_strings(names),
        types=_strings(_column(table, "channel_type", rows)),
        units=_strings(_column(table, "unit", rows)),
        region=None if region is None else _strings(region),
        pos=pos, modality=attrs["modality"], attrs=attrs, events=events,
    )
    ds = ds.drop_vars([c for c in ("x", "y", "z") if c in ds.coords and c not in coords])
    if meta.get("confounds"):
        conf = _resolve(nwbfile, meta["confounds"], where)
        cols = conf.get_ancestor("ProcessingModule")[CONFOUND_COLUMNS]
        names = np.asarray(_strings(cols["confound"].data[:]), dtype=object)
        ds = ds.assign(confounds=xr.DataArray(
            _lazy(conf.data, where), dims=("time", "confound"), coords={"confound": names},
        ))
    if meta.get("neuropil"):
        neuropil = _resolve(nwbfile, meta["neuropil"], where)
        ds = ds.assign(neuropil=xr.DataArray(
            _lazy(neuropil.data, where), dims=("time", "channel"),
            attrs={"units": str(neuropil.unit)},
        ))
    if meta.get("units"):
        from .nwb_units import read_units

        ds = read_units(ds, _resolve(nwbfile, meta["units"], where), where)
    return ds
