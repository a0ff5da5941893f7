"""Sidecar tables: BIDS electrodes/coordsystem/events/channels, label tables, confounds, names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ._common import check_unique, one_line

#: Region columns of an electrodes table, in order of preference.
REGION_COLUMNS = ("region", "anat", "anatomy", "location", "label")
_UNIT_SCALE = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}

#: BIDS channel types (channels.tsv ``type``) -> contract channel types.
BIDS_CHANNEL_TYPES = {
    "EEG": "eeg", "SEEG": "seeg", "ECOG": "ecog", "EOG": "eog", "VEOG": "eog", "HEOG": "eog",
    "ECG": "ecg", "EMG": "emg", "TRIG": "stim", "MISC": "misc", "MEGMAG": "mag",
    "MEGGRADAXIAL": "mag", "MEGGRADPLANAR": "grad",
}


def read_tsv(path: Path, **kwargs) -> pd.DataFrame:
    """A BIDS-style table ("n/a" is missing), one line :class:`InputError` if unreadable."""
    sep = "," if path.name.lower().endswith((".csv", ".csv.gz")) else "\t"
    try:
        return pd.read_csv(path, sep=sep, na_values=["n/a", "N/A"], keep_default_na=True,
                           **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: not a readable table ({one_line(e)})") from None


def _require(df: pd.DataFrame, columns, path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing} (has {list(df.columns)[:8]})")


def _numeric(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna()
    if bad.any():
        raise InputError(f"{path}: column {column!r} has non-numeric value "
                         f"{df[column][bad].iloc[0]!r} in row {int(np.argmax(bad.to_numpy())) + 1}")
    return values.to_numpy(np.float64)


def coordinate_scale(coordsystem: Path | None, coords: np.ndarray) -> float:
    """Metres per coordinate unit from ``*coordsystem.json``, else mm when max |coord| > 1."""
    units = None
    if coordsystem is not None:
        try:
            meta = json.loads(coordsystem.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{coordsystem}: not readable JSON ({one_line(e)})") from None
        if not isinstance(meta, dict):
            raise InputError(f"{coordsystem}: expected a JSON object")
        keys = ["iEEGCoordinateUnits"] + sorted(k for k in meta if k.endswith("CoordinateUnits"))
        units = next((meta[k] for k in keys if k in meta), None)
    if units is None or str(units).lower() in ("n/a", ""):
        finite = coords[np.isfinite(coords)]
        return 1e-3 if finite.size and np.abs(finite).max() > 1 else 1.0
    if str(units).lower() not in _UNIT_SCALE:
        raise InputError(f"{coordsystem}: coordinate units {units!r} not one of m, cm, mm")
    return _UNIT_SCALE[str(units).lower()]


def read_electrodes(path: Path, coordsystem: Path | None = None) -> pd.DataFrame:
    """A BIDS ``*electrodes.tsv`` as a table indexed by name: x, y, z (metres), region.

    The region comes from the first of :data:`REGION_COLUMNS` present (None if none).
    Coordinate units come from ``coordsystem`` (``iEEGCoordinateUnits``: m, cm, mm);
    without it, values larger than 1 in magnitude are taken as mm.
    """
    df = read_tsv(path, dtype={"name": str})
    _require(df, ("name", "x", "y", "z"), path)
    names = df["name"].astype(str).str.strip().tolist()
    check_unique(names, path, "electrode names")
    xyz = np.column_stack([_numeric(df, c, path) for c in ("x", "y", "z")])
    xyz = xyz * coordinate_scale(coordsystem, xyz)
    out = pd.DataFrame(xyz, index=pd.Index(names, name="name"), columns=["x", "y", "z"])
    region_col = next((c for c in REGION_COLUMNS if c in df.columns), None)
    if region_col is not None:
        out["region"] = df[region_col].fillna("unknown").astype(str).str.strip().to_numpy()
    return out


def read_events(path: Path) -> pd.DataFrame:
    """A BIDS ``*events.tsv`` as onset, duration (n/a -> 0), label (trial_type, else value)."""
    df = read_tsv(path, dtype={"trial_type": str, "value": str})
    _require(df, ("onset",), path)
    onset = _numeric(df, "onset", path)
    if not np.isfinite(onset).all():
        raise InputError(f"{path}: column 'onset' has missing or infinite values")
    duration = _numeric(df, "duration", path) if "duration" in df else np.zeros(len(df))
    duration = np.where(np.isfinite(duration), duration, 0.0)
    if (duration < 0).any():
        raise InputError(f"{path}: negative durations in column 'duration'")
    label = pd.Series(["event"] * len(df), dtype=object)
    for col in ("value", "trial_type"):  # trial_type wins where both are given
        if col in df:
            given = df[col].notna().to_numpy()
            label[given] = df[col][given].astype(str).to_numpy()
    return pd.DataFrame({"onset": onset, "duration": duration, "label": label.to_numpy()})


def read_channel_types(path: Path) -> dict[str, str]:
    """A BIDS ``*channels.tsv``: channel name -> contract channel type (unknown -> misc)."""
    df = read_tsv(path, dtype=str)
    _require(df, ("name", "type"), path)
    return {
        str(n).strip(): BIDS_CHANNEL_TYPES.get(str(t).strip().upper(), "misc")
        for n, t in zip(df["name"], df["type"], strict=True)
    }


def read_label_table(path: Path) -> dict[int, str]:
    """Label index -> name from an ``index``/``name`` table or a two-column no-header LUT.

    The LUT may be tab, comma or whitespace separated, with ``#`` comments and extra
    columns after the name (e.g. FreeSurfer's colour table).
    """
    try:
        lines = [ln.split("#", 1)[0].rstrip() for ln in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable label table ({one_line(e)})") from None
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise InputError(f"{path}: label table has no rows")
    sep = "\t" if "\t" in lines[0] else "," if "," in lines[0] else None
    rows = [[c.strip() for c in (ln.split(sep) if sep else ln.split())] for ln in lines]
    header = [c.lower() for c in rows[0]]
    if "index" in header and "name" in header:
        i_idx, i_name, rows = header.index("index"), header.index("name"), rows[1:]
    else:
        i_idx, i_name = 0, 1
    out: dict[int, str] = {}
    for n, row in enumerate(rows, start=1):
        if len(row) <= max(i_idx, i_name):
            raise InputError(f"{path}: row {n} has {len(row)} column(s); expected index and name")
        try:
            index = int(float(row[i_idx]))
        except ValueError:
            raise InputError(f"{path}: row {n} index {row[i_idx]!r} is not an integer") from None
        if index in out:
            raise InputError(f"{path}: label index {index} listed twice")
        out[index] = row[i_name]
    return out


def read_confounds(path: Path, n_times: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """fMRIPrep-style confounds: one numeric row per volume.

    Missing values ("n/a") are allowed only in the leading rows of a column, as fMRIPrep
    writes for derivatives (``framewise_displacement``, ``dvars``, ``*_derivative1``);
    they are filled with 0, and ``{column: number of rows filled}`` is returned (so that
    the fMRI preprocessing can hand nilearn the table as it was written).
    """
    df = read_tsv(path)
    if len(df) != n_times:
        raise InputError(f"{path}: {len(df)} confound rows for {n_times} volumes; expected one "
                         "row per volume")
    values = np.column_stack([_numeric(df, c, path) for c in df.columns]) if len(df.columns) \
        else np.zeros((n_times, 0))
    filled = {}
    for j, col in enumerate(df.columns):
        nan = np.isnan(values[:, j])
        if not nan.any():
            continue
        if nan.all():
            raise InputError(f"{path}: column {col!r} has no values")
        lead = int(np.argmin(nan))
        if nan[lead:].any():
            raise InputError(f"{path}: column {col!r} has missing values after its first rows "
                             f"(row {lead + int(np.argmax(nan[lead:])) + 1})")
        values[:lead, j] = 0.0
        filled[str(col)] = lead
    if np.isinf(values).any():
        raise InputError(f"{path}: infinite confound values")
    return pd.DataFrame(values, columns=[str(c) for c in df.columns]), filled


def attach_confounds(ds, path: Path):
    """``ds`` with the confounds of ``path`` (and its fMRIPrep JSON sidecar, if any).

    ``confounds`` attrs: ``filled_leading_nan_with_zero`` (columns), ``filled_leading_rows``
    (``{column: rows}``) and ``fmriprep_json`` (the text of ``*_timeseries.json`` beside the
    TSV: the CompCor components' masks and variance, which nilearn's ``compcor`` needs).
    """
    from .. import schema

    conf, filled = read_confounds(path, ds.sizes["time"])
    ds = schema.set_confounds(ds, conf)
    attrs = ds["confounds"].attrs
    # fMRIPrep leaves the first rows of derivatives (framewise_displacement, ...) n/a.
    attrs["filled_leading_nan_with_zero"] = list(filled)
    attrs["filled_leading_rows"] = json.dumps(filled)
    meta = Path(path).with_suffix(".json")
    if meta.is_file():
        try:
            attrs["fmriprep_json"] = json.dumps(json.loads(meta.read_text(encoding="utf-8")))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise InputError(f"{meta}: not a readable JSON confounds sidecar ({one_line(e)})") \
                from None
    return ds


def read_names(path: Path) -> list[str]:
    """Channel names from ``*names.txt`` (one per line) or ``*names.csv`` (one row or column)."""
    try:
        if path.suffix.lower() == ".txt":
            names = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        else:
            df = pd.read_csv(path, header=None, dtype=str)
            names = (df.iloc[0] if len(df) == 1 else df.iloc[:, 0]).astype(str).str.strip().tolist()
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path}: not a readable names file ({one_line(e)})") from None
    if names and re.fullmatch(r"(?i)names?|channels?|neurons?|rois?", names[0]):
        names = names[1:]
    return names
