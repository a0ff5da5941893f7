"""An NWB ``Units`` table (spike times per unit) -> binned spike counts, lazily.

Bins are ``bin_width`` seconds wide on a grid aligned to multiples of the width in the
file's time (``edges = k * bin_width``), so that bins line up with trial times and with
other files of the same session. The grid covers the units' observation: from the earliest
``obs_intervals`` start to the latest end when the table has that column, else from the
first to the last spike of any unit. Count ``[t, t + bin_width)`` of unit ``u`` is the
number of its spikes in that bin (the last bin also holds a spike exactly at its end): what
``numpy.histogram(spike_times_u, bins=edges)`` gives. The time coordinate is each bin's
start.

With ``obs_intervals``, a bin is kept only when every unit was observed during all of it:
a zero count outside a unit's observation would be a count nobody made. Dropped bins are
counted in attr ``unobserved_bins_dropped``; when they fall between kept bins, the time
coordinate has gaps (kept exactly, as NWB timestamps in the archive). Spike times must be
finite and sorted within each unit (a one-line error otherwise).

Memory: the spike times stay in the HDF5 file. One pass per unit finds where each block
of bins starts in its spike times; each block of counts is then computed on demand from
those slices only (a dask array), so memory does not grow with the recording's length.
"""

from __future__ import annotations

import math

import dask
import dask.array as da
import numpy as np
from dask.utils import SerializableLock

from ..errors import InputError
from ..store.nwb_read import _column, _strings
from ..store.zarrstore import SPIKE_CHUNK, time_chunk

#: Default bin width in s (10 ms, the bins of the GLM-HMM simulations).
BIN_WIDTH = 0.01
_LOCK = SerializableLock()


class _Flat:
    """The flat ``spike_times`` HDF5 dataset, read under a lock, with a stable dask token."""

    def __init__(self, dataset, token: str):
        self.dataset = dataset
        self.token = token
        self.shape = dataset.shape
        self.dtype = np.dtype(np.float64)
        self.ndim = 1

    def __getitem__(self, key):
        with _LOCK:
            return np.asarray(self.dataset[key], dtype=np.float64)

    def __dask_tokenize__(self):
        return self.token


def _edges(k0: int, bin_width: float, i0: int, i1: int) -> np.ndarray:
    """Bin edges ``i0..i1`` of the grid: the time axis every regular contract has
    (``schema.build``: ``t0 + i / sfreq``) with ``t0 = k0 * bin_width``."""
    return k0 * bin_width + np.arange(i0, i1 + 1, dtype=np.float64) / (1.0 / bin_width)


def _counts(flat: _Flat, lo, hi, k0: int, bin_width: float, i0: int, i1: int) -> np.ndarray:
    """Counts of bins ``i0..i1 - 1``: ``(i1 - i0, n_units)``."""
    edges = _edges(k0, bin_width, i0, i1)  # made here: the graph holds no edges
    out = np.zeros((edges.size - 1, lo.size), dtype=np.float32)
    for u in range(lo.size):
        if hi[u] > lo[u]:
            t = flat[int(lo[u]):int(hi[u])]
            # The slice holds exactly this block's spikes (block boundaries were found with
            # the same rule), so the right end of the block's last bin is closed.
            cum = np.append(np.searchsorted(t, edges[:-1], side="left"), t.size)
            out[:, u] = np.diff(cum)
    return out


def _observed(units, n_units: int, where: str):
    """Per unit, its merged observation intervals (``(k, 2)`` arrays); None without them."""
    if "obs_intervals" not in units.colnames:
        return None
    col = units["obs_intervals"]
    out = []
    for u in range(n_units):
        iv = np.asarray(col[u], dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(iv).all() or (iv[:, 1] < iv[:, 0]).any():
            raise InputError(f"{where}: obs_intervals of unit row {u} are not finite "
                             "[start, stop] pairs")
        iv = iv[np.argsort(iv[:, 0], kind="stable")]
        merged = []
        for a, b in iv:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        out.append(np.asarray(merged, dtype=np.float64).reshape(-1, 2))
    return out


def _grid(first: np.ndarray, last: np.ndarray, observed, bin_width: float,
          where: str) -> tuple[int, int]:
    """``(k0, n_bins)``: bins from ``k0 * bin_width`` covering the observation or spikes."""
    if observed is not None:
        spans = [iv for iv in observed if iv.size]
        if not spans:
            raise InputError(f"{where}: obs_intervals are empty for every unit")
        lo = min(float(iv[0, 0]) for iv in spans)
        hi = max(float(iv[-1, 1]) for iv in spans)
    else:
        if first.size == 0:
            raise InputError(f"{where}: the Units table holds no spike times")
        lo, hi = float(first.min()), float(last.max())
    k0, k1 = math.floor(lo / bin_width), math.floor(hi / bin_width) + 1
    while k0 * bin_width > lo:  # floating point: make the grid cover [lo, hi]
        k0 -= 1
    while (k1 - 1) * bin_width > hi:
        k1 -= 1
    if observed is not None and (k1 - 1) * bin_width >= hi:
        k1 -= 1  # a bin starting at the end of the observation holds nothing observed
    return k0, max(k1, k0 + 1) - k0


def _keep(edges: np.ndarray, observed) -> np.ndarray:
    """Bins observed for every unit, all of each bin."""
    keep = np.ones(edges.size - 1, dtype=bool)
    if observed is None:
        return keep
    for iv in observed:
        i = np.searchsorted(iv[:, 0], edges[:-1], side="right") - 1
        inside = (i >= 0) & (edges[1:] <= iv[np.maximum(i, 0), 1])
        keep &= inside
    return keep


def bin_units(units, where: str, *, bin_width: float | None = None) -> dict:
    """Bin a Units table's spike times to counts (see the module docstring).

    Parameters
    ----------
    units : pynwb.misc.Units
        The table, from an open file.
    where : str
        The file, for messages.
    bin_width : float, optional
        Bin width in s; default :data:`BIN_WIDTH`.

    Returns
    -------
    dict
        ``data`` (dask, (bin, unit) float32 counts), ``time`` (bin starts, s), ``sfreq``,
        ``names``, ``region`` (or None), ``spike_times`` (dask, s), ``start``/``stop``
        (each unit's slice of it) and ``attrs`` (``bin_width``, ``unobserved_bins_dropped``,
        and ``spike_time_resolution`` when the table states one).
    """
    bin_width = float(BIN_WIDTH if bin_width is None else bin_width)
    if "spike_times" not in units.colnames:
        raise InputError(f"{where}: Units table {units.name!r} has no spike_times column")
    n = len(units.id)
    flat_ds = units["spike_times"].target.data
    stop = np.asarray(units["spike_times"].data[:], dtype=np.int64)
    start = np.concatenate([[0], stop[:-1]]).astype(np.int64)
    if stop.shape != (n,) or (stop < start).any() or (stop.size and stop[-1] > flat_ds.shape[0]):
        raise InputError(f"{where}: Units table {units.name!r} has a broken spike_times index")
    flat = _Flat(flat_ds, f"nwb-spike-times-{where}-{units.name}")
    names = _unit_names(units, n)
    fired = stop > start
    idx = np.unique(np.concatenate([start[fired], stop[fired] - 1]))
    values = flat[idx] if idx.size else np.empty(0)
    first = values[np.searchsorted(idx, start[fired])]
    last = values[np.searchsorted(idx, stop[fired] - 1)]
    observed = _observed(units, n, where)
    k0, n_bins = _grid(first, last, observed, bin_width, where)
    edges = _edges(k0, bin_width, 0, n_bins)
    rows = time_chunk(n, 4, n_bins)
    bounds = np.append(np.arange(0, n_bins, rows), n_bins)
    pos = np.empty((n, bounds.size), dtype=np.int64)
    for u in range(n):  # one unit's spike times in memory at a time
        t = flat[int(start[u]):int(stop[u])]
        if not np.isfinite(t).all():
            raise InputError(f"{where}: spike times of unit {names[u]!r} are NaN or infinite")
        if (np.diff(t) < 0).any():
            raise InputError(f"{where}: spike times of unit {names[u]!r} are not sorted")
        pos[u, :-1] = start[u] + np.searchsorted(t, edges[bounds[:-1]], side="left")
        pos[u, -1] = start[u] + np.searchsorted(t, edges[-1], side="right")
    blocks = [
        da.from_delayed(
            dask.delayed(_counts, pure=True)(flat, pos[:, b].copy(), pos[:, b + 1].copy(), k0,
                                             bin_width, int(bounds[b]), int(bounds[b + 1])),
            shape=(int(bounds[b + 1] - bounds[b]), n), dtype=np.float32)
        for b in range(bounds.size - 1)
    ]
    data = da.concatenate(blocks, axis=0)
    keep = _keep(edges, observed)
    if not keep.any():
        raise InputError(f"{where}: no {bin_width:g}-s bin lies inside the obs_intervals of "
                         "every unit")
    time = edges[:-1][keep]  # a copy: the edges go
    if not keep.all():
        data = data[keep]
    spike_times = da.from_array(flat, chunks=(min(SPIKE_CHUNK, max(1, flat.shape[0])),),
                                asarray=True)
    return {
        "data": data, "time": time, "sfreq": 1.0 / bin_width, "names": names,
        "region": _unit_regions(units, n), "spike_times": spike_times,
        "start": start, "stop": stop,
        "attrs": _attrs(units, bin_width, int((~keep).sum())),
    }


def _attrs(units, bin_width: float, dropped: int) -> dict:
    out = {"bin_width": bin_width, "unobserved_bins_dropped": dropped}
    resolution = getattr(units, "resolution", None)
    if resolution is not None and np.isfinite(resolution) and resolution > 0:
        out["spike_time_resolution"] = float(resolution)
    return out


def _unit_names(units, n: int) -> list[str]:
    rows = np.arange(n)
    for col in ("unit_name", "label", "channel_name"):
        values = _column(units, col, rows)
        if values is not None:
            values = _strings(values)
            if all(values) and len(set(values)) == n:
                return values
    return [str(i) for i in np.asarray(units.id.data[:])]


def _unit_regions(units, n: int) -> list[str] | None:
    """A region per unit from a location-like column, else from its electrodes' location."""
    rows = np.arange(n)
    for col in ("location", "brain_area", "region"):
        values = _column(units, col, rows)
        if values is not None:
            return _strings(values)
    if "electrodes" not in units.colnames:
        return None
    index = units["electrodes"]  # VectorIndex over a DynamicTableRegion of electrodes
    table = index.target.table
    if "location" not in table.colnames:
        return None
    locations = _strings(table["location"].data[:])
    ends = np.asarray(index.data[:], dtype=np.int64)
    rows_all = np.asarray(index.target.data[:], dtype=np.int64)
    out = []
    for u in range(n):
        found = {locations[int(r)] for r in rows_all[(ends[u - 1] if u else 0):ends[u]]}
        out.append(found.pop() if len(found) == 1 else "unknown")
    return out if any(r != "unknown" for r in out) else None
