"""Trial tables (behaviour) <-> NWB: the ``trials`` TimeIntervals table.

Layout: ``NWBFile.trials`` with the required ``start_time``/``stop_time`` (s) and one
float column per numeric column of the table (``choice``, ``stimulus``, ...; NaN where a
trial has none), plus ``session_id`` (text) when the store holds several sessions. NWB
requires trial times: when the source table gave none they are left NaN (not invented)
and the table's description says so; nwbinspector's time checks are then skipped for that
table. The file, subject and provenance (``NWBFile.notes``, key ``"neurodag"``) are as in
:mod:`neurodag.store.nwb`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import schema_trials
from ..errors import InputError

#: The reserved names of a TimeIntervals table (a column may not take them).
_RESERVED = ("id", "start_time", "stop_time", "tags", "timeseries")


def write_trials_nwb(ds: xr.Dataset, path) -> Path:
    """Write a trial-table Dataset as an NWB file with a ``trials`` table, atomically."""
    from .nwb import _new_file, save

    path = Path(path)
    schema_trials.validate_trials(ds, where=str(path))
    df = schema_trials.trials_frame(ds)
    clash = [c for c in ds["channel"].values if str(c) in _RESERVED]
    if clash:
        raise InputError(f"{path}: trial column {clash[0]!r} is a reserved NWB name")
    timed = "start_time" in df and "stop_time" in df
    nwbfile = _new_file(ds, str(path))
    cols = [str(c) for c in ds["channel"].values]
    for c in cols:
        nwbfile.add_trial_column(name=c, description=f"trial column {c!r} of the source table")
    if "session" in df:
        nwbfile.add_trial_column(name="session_id", description="session of each trial")
    start = df["start_time"] if timed else np.full(len(df), np.nan)
    stop = df["stop_time"] if timed else np.full(len(df), np.nan)
    for i in range(len(df)):
        row = {c: float(df[c].iat[i]) for c in cols}
        if "session" in df:
            row["session_id"] = str(df["session"].iat[i])
        nwbfile.add_trial(start_time=float(start[i]), stop_time=float(stop[i]), **row)
    nwbfile.trials.fields["description"] = (
        "one row per trial" if timed else
        "one row per trial; start/stop times not stated in the source (NaN)")
    layout = {"format": 1, "attrs": dict(ds.attrs), "trials": True, "timed": timed}
    return save(nwbfile, layout, path)


def holds_trials(path) -> bool:
    """Whether ``path`` is an NWB file of ours holding a trial table."""
    from .nwb_read import _open, notes_record

    io, nwb = _open(Path(path))
    try:
        return bool(notes_record(nwb).get("trials"))
    finally:
        io.close()


def read_trials_nwb(path) -> xr.Dataset:
    """The trial-table Dataset of an NWB file written by :func:`write_trials_nwb` (or any NWB
    file with a ``trials`` table: its numeric columns, and its times)."""
    from .nwb_read import _open, notes_record

    path = Path(path)
    io, nwb = _open(path)
    try:
        if nwb.trials is None:
            raise InputError(f"{path}: no trials table")
        df = nwb.trials.to_dataframe()
        meta = notes_record(nwb)
        attrs = dict(meta.get("attrs", {}))
        attrs.setdefault("subject", nwb.subject.subject_id if nwb.subject else "01")
        attrs.setdefault("session", nwb.session_id or "01")
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the trials table ({e})") from None
    finally:
        io.close()
    df = df.drop(columns=[c for c in ("tags", "timeseries") if c in df])
    if "session_id" in df:
        df = df.rename(columns={"session_id": "session"})
    if not meta.get("timed", True):
        df = df.drop(columns=["start_time", "stop_time"])
    df = df.reset_index(drop=True)
    table = df[[c for c in df.columns if c in ("session", "start_time", "stop_time")
                or pd.api.types.is_numeric_dtype(df[c])]]
    ds = schema_trials.build_trials(table, subject=attrs.get("subject", "01"),
                                    session=attrs.get("session", "01"),
                                    source=attrs.get("source", str(path)),
                                    source_sha256=attrs.get("source_sha256", ""))
    ds.attrs.update({k: v for k, v in attrs.items() if k != "modality"})
    return ds
