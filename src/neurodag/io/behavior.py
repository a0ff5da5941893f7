"""Per-trial behaviour tables (CSV/TSV): one row per trial -> the trial-table contract.

Columns: any number of numeric ones (stimulus, choice, reward, reaction time, ...; empty
cells and ``n/a`` are missing, kept as NaN: e.g. a trial without a response); a
``session`` column (text) when the table holds several sessions of a subject (IBL-style
tables, Ashwood et al.'s data); ``start_time``/``stop_time`` in s, or BIDS
``onset``/``duration``, when the table gives the trials' times. True/False columns become
1/0. Anything else (a text column other than ``session``) is an error naming the column:
encode it as numbers. See :func:`neurodag.schema_trials.build_trials`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import schema_trials
from ..errors import ContractError, InputError
from ._common import check_file, check_unique, subject_session
from .sidecars import read_tsv

TRIAL_EXTENSIONS = (".csv", ".tsv")


def find_table(paths) -> Path:
    """The one trial table among ``paths`` (files, or folders searched one level deep)."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    found = []
    for p in paths:
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.name.lower().endswith(TRIAL_EXTENSIONS)
                            and not q.name.startswith("."))
        else:
            found.append(p)
    if len(found) != 1:
        where = ", ".join(str(p) for p in paths) or "no input"
        raise InputError(f"{where}: expected one trial table (.csv/.tsv), found "
                         f"{len(found)}" + (f": {', '.join(q.name for q in found)}"
                                             if found else ""))
    return found[0]


def _header(path: Path, sep: str) -> list[str]:
    with open(path, encoding="utf-8-sig") as fh:
        return [c.strip() for c in fh.readline().rstrip("\n\r").split(sep)]


def read_trials(path, *, subject: str | None = None, session: str | None = None,
                session_column: str = "session"):
    """Read a per-trial table into a trial-table Dataset (``modality="behavior"``).

    Parameters
    ----------
    path : path-like
        ``.csv`` or ``.tsv`` with a header row.
    subject, session : str, optional
        Default: BIDS ``sub-``/``ses-`` entities of the file name, else "01".
    session_column : str
        The column naming each trial's session.
    """
    path = Path(path)
    check_file(path)
    if not path.name.lower().endswith(TRIAL_EXTENSIONS):
        raise InputError(f"{path}: a trial table is a .csv or .tsv file")
    sep = "," if path.name.lower().endswith(".csv") else "\t"
    check_unique(_header(path, sep), path, "column names")
    df = read_tsv(path, dtype={session_column: str})
    if df.empty:
        raise InputError(f"{path}: no trials")
    if "start_time" not in df and "onset" in df:
        df = df.rename(columns={"onset": "start_time"})
        if "duration" in df:
            df["stop_time"] = df["start_time"] + pd.to_numeric(df.pop("duration"),
                                                               errors="coerce")
    for c in df.columns:
        if c == session_column:
            continue
        if pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].astype(float)
        elif not pd.api.types.is_numeric_dtype(df[c]):
            values = pd.to_numeric(df[c], errors="coerce")
            bad = values.isna() & df[c].notna()
            row = int(np.argmax(bad.to_numpy())) + 2
            raise InputError(f"{path}: column {c!r} is not numeric ({df[c][bad].iloc[0]!r} "
                             f"on line {row}); encode it as numbers")
        if np.isinf(df[c].to_numpy(np.float64)).any():
            raise InputError(f"{path}: column {c!r} has infinite values")
    sub, ses = subject_session(path, subject, session)
    try:
        ds = schema_trials.build_trials(df, subject=sub, session=ses,
                                        session_column=session_column, source=str(path))
    except ContractError as e:
        raise InputError(f"{path}: {e}") from None
    ds.attrs["source_files"] = [str(path)]
    return ds
