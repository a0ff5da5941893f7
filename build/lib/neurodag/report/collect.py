"""What a report shows about one session, read lazily from its contract store.

Only metadata (coordinates, attributes, events) is read in full; samples are read in
windows (:func:`load_window`), so a report costs the same for a minute or a day of data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import store
from ..errors import InputError, one_line
from ..schema import CHANNEL_TYPES, DATA_CHANNEL_TYPES, get_events

#: Attributes shown under "provenance", in this order (those present).
PROVENANCE_ATTRS = (
    "source", "source_sha256", "inputs", "config_digest", "neurodag_version", "versions",
    "created",
)


@dataclass
class Session:
    """One opened session: its id, store path, lazy Dataset and events."""

    key: str
    path: Path
    ds: xr.Dataset
    events: pd.DataFrame

    @property
    def sfreq(self) -> float:
        return float(self.ds.attrs["sfreq"])

    @property
    def modality(self) -> str:
        return str(self.ds.attrs["modality"])

    @property
    def n_times(self) -> int:
        return int(self.ds.sizes["time"])

    @property
    def duration(self) -> float:
        """Length in s: number of samples over the sampling rate."""
        return self.n_times / self.sfreq

    def coord(self, name: str) -> np.ndarray:
        return np.asarray(self.ds[name].values)


def open_session(key: str, path: str | Path) -> Session:
    """Open the contract store of one session lazily and read its events.

    Raises
    ------
    InputError
        Naming the store if it is missing, unreadable or breaks the contract.
    """
    path = Path(path)
    ds = store.read_signal(path)  # InputError/ContractError naming the store
    try:
        events = get_events(ds)
    except Exception as e:  # a broken events array surfaces as any zarr/codec error
        raise InputError(f"{path}: cannot read events ({one_line(e)})") from None
    return Session(key=str(key), path=path, ds=ds, events=events)


def load_window(session: Session, start: int, stop: int, channels=None) -> xr.DataArray:
    """Samples ``[start, stop)`` of ``signal`` (optionally some channels), loaded in memory.

    Raises
    ------
    InputError
        Naming the store if the samples cannot be read (corrupt or missing chunks).
    """
    sig = session.ds["signal"].isel(time=slice(int(start), int(stop)))
    if channels is not None:
        sig = sig.isel(channel=np.asarray(channels, dtype=int))
    try:
        return sig.load()
    except Exception as e:  # zarr and its codecs raise many types for damaged chunks
        raise InputError(
            f"{session.path}: cannot read samples ({one_line(e)})"
        ) from None


def main_types(session: Session) -> list[str]:
    """Channel types that carry the recording (e.g. mag and grad for MEG), those present."""
    present = set(session.coord("channel_type").tolist())
    kinds = [t for t in DATA_CHANNEL_TYPES.get(session.modality, ()) if t in present]
    if kinds:
        return kinds
    # A store without the modality's usual types: use its most common type.
    return [Counter(session.coord("channel_type").tolist()).most_common(1)[0][0]]


def type_counts(session: Session) -> dict[str, int]:
    """Number of channels per type, in the order of :data:`~neurodag.schema.CHANNEL_TYPES`."""
    counts = Counter(session.coord("channel_type").tolist())
    return {t: counts[t] for t in CHANNEL_TYPES if counts[t]}


def event_counts(session: Session) -> dict[str, int]:
    """Number of events per label, labels sorted."""
    counts = Counter(session.events["label"].tolist())
    return {label: int(counts[label]) for label in sorted(counts)}


def summary(session: Session) -> dict:
    """Numbers shown in the session table and written to ``summary.json``."""
    return {
        "session": session.key,
        "subject": str(session.ds.attrs.get("subject", "")),
        "modality": session.modality,
        "n_channels": int(session.ds.sizes["channel"]),
        "channel_types": type_counts(session),
        "sfreq": session.sfreq,
        "n_times": session.n_times,
        "duration_s": session.duration,
        "n_events": int(len(session.events)),
        "events": event_counts(session),
        "source": str(session.ds.attrs.get("source", "")),
        "store": str(session.path),
    }


def provenance(session: Session) -> list[tuple[str, str]]:
    """(name, text) pairs of the session's provenance attributes."""
    rows = [("store", str(session.path))]
    for name in PROVENANCE_ATTRS:
        if name not in session.ds.attrs:
            continue
        value = session.ds.attrs[name]
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
        rows.append((name, str(value) if value != "" else "none"))
    return rows


def _mm(values: np.ndarray) -> list[str]:
    return ["" if not np.isfinite(v) else f"{1000.0 * v:.1f}" for v in values]


def channel_rows(session: Session) -> list[dict]:
    """One dict per channel: name, type, unit, region, x/y/z in mm ('' when unknown)."""
    ds = session.ds
    n = ds.sizes["channel"]
    cols = {
        "name": session.coord("channel").astype(str),
        "type": session.coord("channel_type").astype(str),
        "unit": session.coord("unit").astype(str),
        "region": session.coord("region").astype(str) if "region" in ds.coords else [""] * n,
    }
    for axis in ("x", "y", "z"):
        cols[axis] = _mm(session.coord(axis).astype(float)) if axis in ds.coords else [""] * n
    return [{k: str(v[i]) for k, v in cols.items()} for i in range(n)]
