"""Tables of calcium traces, spike counts or fMRI ROI series: CSV/TSV and NPY.

- CSV/TSV: a header row of channel names (one column per neuron/ROI) and optionally a
  ``time`` column in seconds, which gives ``sfreq = 1 / median step`` and the first time.
  Without a header row (all header cells numeric) names are ``n000``, ``n001``, ...
  Values are read as float64 (text may hold more digits than float32 keeps).
- NPY: a 2-D ``(time, neuron)`` array, memory-mapped and wrapped lazily with dask; names
  from a ``*names.txt``/``*names.csv`` sidecar, else ``n000``, ...; option ``sfreq`` required.

The modality must be given ("calcium", "spikes" or "fmri"): a table cannot say which it
is. Spike counts must be non-negative integers and get units "count"; calcium traces get
option ``units`` (default "a.u."). fMRI tables (e.g. nitime's ``fmri_timeseries.csv``:
one column per ROI, one row per volume) get channel type ``roi``, units ``a.u.`` (or
option ``units``) and their rate from option ``tr`` (sfreq = 1 / tr) or ``sfreq``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize

from .. import schema
from ..errors import InputError
from ..store.zarrstore import time_chunk
from ._common import check_finite, check_unique, full_suffix, one_line
from .sidecars import read_names

TABLE_MODALITIES = ("calcium", "spikes", "fmri")
_SCAN_ROWS = 65536


def _default_names(n: int) -> list[str]:
    width = max(3, len(str(n - 1)))
    return [f"n{i:0{width}d}" for i in range(n)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _header(path: Path, sep: str) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return [c.strip() for c in next(csv.reader(fh, delimiter=sep), [])]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: not a readable table ({one_line(e)})") from None


def _check_counts(values, names, path: Path) -> None:
    bad = ((values < 0) | (values != np.round(values))).any(axis=0)
    if bad.any():
        col = str(np.asarray(names, dtype=object)[np.asarray(bad)][0])
        raise InputError(f"{path}: spike counts must be non-negative integers (column {col!r})")


def sampling_from_time(time: np.ndarray, path: Path) -> tuple[float, float]:
    """``(sfreq, t0)`` from a time column: strictly increasing and regular to half a step."""
    if not np.isfinite(time).all():
        raise InputError(f"{path}: column 'time' has missing or infinite values")
    step = np.diff(time)
    if (step <= 0).any():
        i = int(np.argmax(step <= 0)) + 1
        raise InputError(f"{path}: column 'time' is not increasing (row {i + 1}: {time[i]} after "
                         f"{time[i - 1]})")
    median = float(np.median(step))
    drift = np.abs(time - (time[0] + median * np.arange(time.size)))
    if (drift > 0.5 * median).any():
        i = int(np.argmax(drift > 0.5 * median))
        raise InputError(f"{path}: column 'time' is irregular (row {i + 2} at {time[i]} s, expected "
                         f"{time[0] + median * i:.6g} s from the median step {median:.6g} s); "
                         "resample to a regular grid first")
    return 1.0 / median, float(time[0])


def _read_text(path: Path, sfreq: float | None):
    sep = "," if full_suffix(path) == ".csv" else "\t"
    header = _header(path, sep)
    if not header:
        raise InputError(f"{path}: table has no rows")
    has_header = not all(_is_number(c) for c in header if c)
    try:
        df = pd.read_csv(path, sep=sep, header=0 if has_header else None,
                         na_values=["n/a", "N/A", "NaN", "nan"], encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable table ({one_line(e)})") from None
    if has_header:
        if len(header) != df.shape[1]:
            raise InputError(f"{path}: header has {len(header)} names for {df.shape[1]} columns")
        empty = [i + 1 for i, c in enumerate(header) if not c]
        if empty:
            raise InputError(f"{path}: column {empty[0]} has no name in the header row")
        check_unique(header, path, "column names")
        names = header
    else:
        names = _default_names(df.shape[1])
    for col, name in zip(df.columns, names, strict=True):
        if not pd.api.types.is_numeric_dtype(df[col]):
            values = pd.to_numeric(df[col], errors="coerce")
            bad = values.isna() & df[col].notna()
            raise InputError(f"{path}: column {name!r} has non-numeric value "
                             f"{df[col][bad].iloc[0]!r}")
    values = df.to_numpy(np.float64)
    if values.shape[0] == 0:
        raise InputError(f"{path}: table has a header but no rows")
    lower = [n.lower() for n in names]
    t0 = 0.0
    if "time" in lower:
        j = lower.index("time")
        time = values[:, j]
        values = np.delete(values, j, axis=1)
        names = names[:j] + names[j + 1:]
        if time.size < 2 and sfreq is None:
            raise InputError(f"{path}: one row cannot give a sampling rate; pass option sfreq")
        if time.size >= 2:
            rate, t0 = sampling_from_time(time, path)
            if sfreq is not None and abs(float(sfreq) - rate) > 0.01 * rate:
                raise InputError(f"{path}: option sfreq={sfreq} contradicts the time column "
                                 f"({rate:.6g} Hz)")
            sfreq = rate
        else:
            t0 = float(time[0])
    elif sfreq is None:
        raise InputError(f"{path}: no 'time' column; pass option sfreq (Hz), or tr (s) for fMRI")
    if not names:
        raise InputError(f"{path}: no channel columns besides 'time'")
    check_finite(values, names, path)
    return values, names, float(sfreq), t0


def _read_npy(path: Path, names_file: Path | None, sfreq: float | None):
    if sfreq is None:
        raise InputError(f"{path}: a .npy array has no time axis information; pass option sfreq")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy array ({one_line(e)})") from None
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a 2-D (time, neuron) array, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf" or 0 in arr.shape:
        raise InputError(f"{path}: expected a non-empty numeric array, got {arr.dtype} {arr.shape}")
    if names_file is not None:
        names = read_names(names_file)
        if len(names) != arr.shape[1]:
            raise InputError(f"{names_file}: {len(names)} names for {arr.shape[1]} columns of "
                             f"{path.name}")
        check_unique(names, names_file)
    else:
        names = _default_names(arr.shape[1])
    return arr, names, float(sfreq)


def read_table(path: Path, side: dict, *, modality: str | None = None,
               sfreq: float | None = None, units: str | None = None, tr: float | None = None,
               **_) -> xr.Dataset:
    """Read a calcium, spike or fMRI ROI table into a contract Dataset.

    Parameters
    ----------
    path : Path
        ``.csv``, ``.tsv`` or ``.npy``.
    side : dict
        Sidecars from :func:`neurodag.io.classify` (``names`` for NPY).
    modality : {"calcium", "spikes", "fmri"}
        Required.
    sfreq : float, optional
        Sampling rate in Hz; required without a time column (or ``tr`` for fMRI).
    units : str, optional
        Units of calcium traces and fMRI ROI series (default "a.u."); spikes are always
        "count".
    tr : float, optional
        fMRI only: repetition time in s, giving sfreq = 1 / tr.
    """
    if modality not in TABLE_MODALITIES:
        raise InputError(f"{path}: a table needs modality 'calcium', 'spikes' or 'fmri' "
                         f"(got {modality!r})")
    if tr is not None:
        if modality != "fmri":
            raise InputError(f"{path}: option tr is for fMRI tables; use sfreq for {modality}")
        if sfreq is not None and abs(float(sfreq) * float(tr) - 1.0) > 1e-6:
            raise InputError(f"{path}: option sfreq={sfreq} contradicts option tr={tr} s")
        sfreq = 1.0 / float(tr)
    if modality == "spikes":
        unit = "count"
    else:
        unit = "a.u." if units is None else str(units)
    if full_suffix(path) == ".npy":
        arr, names, sfreq = _read_npy(path, side.get("names"), sfreq)
        for start in range(0, arr.shape[0], _SCAN_ROWS):
            block = np.asarray(arr[start:start + _SCAN_ROWS])
            if arr.dtype.kind == "f":
                check_finite(block, names, path)
            if modality == "spikes":
                _check_counts(block, names, path)
        dtype = np.float32 if arr.dtype == np.float32 else np.float64
        stat = os.stat(path)
        data = da.from_array(
            arr, chunks=(time_chunk(arr.shape[1], 8, arr.shape[0]), arr.shape[1]),
            name="npy-" + tokenize(str(path.resolve()), stat.st_mtime_ns, stat.st_size),
        ).astype(dtype)
        t0 = 0.0
    else:
        data, names, sfreq, t0 = _read_text(path, sfreq)
        if modality == "spikes":
            _check_counts(data, names, path)
    kind = "roi" if modality == "fmri" else "neuron"
    ds = schema.build(data, sfreq=sfreq, channels=names, channel_types=kind,
                      modality=modality, units=unit, t0=t0, source=str(path))
    if tr is not None:
        ds.attrs["tr"] = float(tr)
    return ds
