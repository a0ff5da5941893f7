"""The trial table: behaviour, one row per trial.

Choice data have no sampling rate: a behaviour recording is the same contract with the
dim ``trial`` in place of ``time``. ``signal`` (trial, channel) holds the table's numeric
columns (choice, stimulus, reward, ...; NaN where a trial has no value, e.g. no
response), ``channel`` their names; coordinates along ``trial``: ``session_id`` (the
session each trial belongs to: one store may hold many sessions of a subject) and,
when the table gives them, ``start_time``/``stop_time`` (s). Attrs are those of the
signal contract without ``sfreq``, with modality ``behavior``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .errors import ContractError
from .schema import REQUIRED_ATTRS, _now

TRIAL_MODALITY = "behavior"
TRIAL_ATTRS = tuple(a for a in REQUIRED_ATTRS if a != "sfreq")


def is_trials(ds: xr.Dataset) -> bool:
    """Whether ``ds`` is a trial table (dim ``trial``) rather than a time series."""
    return "trial" in ds.dims


def build_trials(table: pd.DataFrame, *, subject: str = "01", session: str = "01",
                 session_column: str = "session", source: str = "memory",
                 source_sha256: str = "", attrs: Mapping | None = None) -> xr.Dataset:
    """Build a trial-table Dataset from a DataFrame (one row per trial).

    Parameters
    ----------
    table : DataFrame
        Numeric (or boolean) columns become channels of ``signal``; ``start_time`` and
        ``stop_time`` (s) and the ``session_column`` (any type, kept as text) become
        coordinates; a column of any other type is a :class:`ContractError`.
    subject, session : str
        Identifiers of the store (a subject's sessions may all be in one table).
    source, source_sha256, attrs
        As in :func:`build`.
    """
    df = pd.DataFrame(table).reset_index(drop=True)
    coords = {"trial": ("trial", np.arange(len(df)))}
    if session_column in df:
        coords["session_id"] = ("trial", np.asarray(df.pop(session_column).astype(str),
                                                    dtype=object))
    for name in ("start_time", "stop_time"):
        if name in df:
            coords[name] = ("trial", pd.to_numeric(df.pop(name), errors="raise")
                            .to_numpy(np.float64), {"units": "s"})
    bad = [c for c in df.columns if not (pd.api.types.is_numeric_dtype(df[c])
                                         or pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        raise ContractError(f"trial table: column {bad[0]!r} is not numeric "
                            f"({df[bad[0]].dtype}); encode it as numbers")
    if df.shape[1] == 0:
        raise ContractError("trial table: no numeric column")
    coords["channel"] = ("channel", np.asarray([str(c) for c in df.columns], dtype=object))
    ds = xr.Dataset({"signal": (("trial", "channel"), df.to_numpy(np.float64))},
                    coords=coords)
    ds.attrs.update(modality=TRIAL_MODALITY, subject=str(subject), session=str(session),
                    source=str(source), source_sha256=str(source_sha256),
                    neurodag_version=__version__, config_digest="", created=_now())
    if attrs:
        ds.attrs.update(attrs)
    return ds


def trials_frame(ds: xr.Dataset) -> pd.DataFrame:
    """The trial table of ``ds`` back as a DataFrame (coordinates first)."""
    out = {}
    for name, col in (("session_id", "session"), ("start_time", "start_time"),
                      ("stop_time", "stop_time")):
        if name in ds.coords:
            out[col] = ds[name].values
    for c in ds["channel"].values:
        out[str(c)] = ds["signal"].sel(channel=c).values
    return pd.DataFrame(out)


def validate_trials(ds: xr.Dataset, *, where: str = "dataset") -> xr.Dataset:
    """Check a trial-table Dataset; :class:`ContractError` with one line otherwise."""

    def fail(msg: str):
        raise ContractError(f"{where}: {msg}")

    if not isinstance(ds, xr.Dataset) or "signal" not in ds.data_vars:
        fail("no 'signal' variable")
    if ds["signal"].dims != ("trial", "channel"):
        fail(f"signal has dims {ds['signal'].dims}, expected ('trial', 'channel')")
    if ds.sizes["trial"] < 1:
        fail("no trials")
    missing = [a for a in TRIAL_ATTRS if a not in ds.attrs]
    if missing:
        fail(f"missing attribute(s) {missing}")
    if ds.attrs["modality"] != TRIAL_MODALITY:
        fail(f"modality {ds.attrs['modality']!r}: a trial table is {TRIAL_MODALITY!r}")
    names = [str(c) for c in ds["channel"].values]
    if len(set(names)) != len(names):
        fail(f"duplicate columns {sorted({n for n in names if names.count(n) > 1})}")
    if np.isinf(ds["signal"].values).any():
        fail("signal has infinite values")
    for name in ("start_time", "stop_time"):
        if name in ds.coords and ds[name].dims != ("trial",):
            fail(f"coordinate {name!r} has dims {ds[name].dims}, expected ('trial',)")
    return ds
