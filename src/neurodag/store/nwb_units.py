"""Spike times of a contract Dataset <-> the ``Units`` table of our NWB files.

A spikes Dataset binned from spike times carries them (``spike_times`` with
``spike_start``/``spike_stop``, see :mod:`neurodag.schema`). :func:`add_units` writes them
as ``/units``: one row per channel, in channel order, with ``spike_times`` (s, ragged) and
a ``unit_name`` column holding the channel name, and ``resolution`` from attr
``spike_time_resolution`` when the source stated one (else unset); the flat spike times are streamed in
blocks, so memory does not grow with their number. :func:`read_units` attaches them back,
lazily, to a Dataset read from such a file.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr
from hdmf.backends.hdf5 import H5DataIO
from hdmf.data_utils import GenericDataChunkIterator

from ..errors import ContractError, InputError
from ..schema import set_spike_times
from .nwb_stream import BUFFER_CHUNKS, GZIP_LEVEL
from .zarrstore import SPIKE_CHUNK

#: Route of the table in our files (``NWBFile.units``).
UNITS_ROUTE = "units"


class _SpikeBlocks(GenericDataChunkIterator):
    """Yield a 1-D array of spike times (numpy or dask) in blocks, checking them."""

    def __init__(self, array, *, where: str):
        self._array = array
        self._where = where
        n = int(array.shape[0])
        rows = max(1, min(n, SPIKE_CHUNK))
        super().__init__(chunk_shape=(rows,), buffer_shape=(min(n, rows * BUFFER_CHUNKS),))

    def _get_data(self, selection):
        block = self._array[selection]
        block = np.asarray(block.compute() if hasattr(block, "compute") else block)
        if not np.isfinite(block).all():
            raise ContractError(f"{self._where}: spike_times hold NaN or Inf")
        return block

    def _get_maxshape(self):
        return (int(self._array.shape[0]),)

    def _get_dtype(self):
        return np.dtype(np.float64)


def _flat(ds: xr.Dataset):
    """Every channel's spike times, channel after channel, and the end of each in them."""
    times = ds["spike_times"].data
    start = ds["spike_start"].values.astype(np.int64)
    stop = ds["spike_stop"].values.astype(np.int64)
    ends = np.cumsum(stop - start)
    contiguous = (start.size and start[0] == 0 and (start[1:] == stop[:-1]).all()
                  and stop[-1] == times.shape[0])
    if not contiguous:  # e.g. after channels were dropped or reordered
        times = da.asarray(times)
        times = da.concatenate([times[a:b] for a, b in zip(start, stop, strict=True)] or
                               [times[:0]])
    return times, ends


def add_units(nwbfile, ds: xr.Dataset, where: str, compression: str | None = None) -> str:
    """Write the spike times of ``ds`` as the file's Units table; return its route."""
    from hdmf.common import VectorData, VectorIndex
    from pynwb.misc import Units

    times, ends = _flat(ds)
    names = [str(v) for v in ds["channel"].values]
    if times.shape[0]:
        data = _SpikeBlocks(times, where=where)
        data = (H5DataIO(data) if compression is None else
                H5DataIO(data, compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True))
    else:
        data = np.empty(0, dtype=np.float64)
    spike_times = VectorData(name="spike_times", data=data,
                             description="spike times in s (the source's), unit after unit")
    # The index before its target: hdmf 6.2 drops an iterator-backed column from its
    # bookkeeping before it meets the index that targets it (and then refuses the index).
    columns = [
        VectorIndex(name="spike_times_index", data=ends.tolist(), target=spike_times),
        spike_times,
        VectorData(name="unit_name", data=names,
                   description="unit name: the channel of the binned counts"),
    ]
    resolution = ds.attrs.get("spike_time_resolution")  # the source's, never made up
    nwbfile.units = Units(
        name=UNITS_ROUTE, id=list(range(len(names))), columns=columns,
        resolution=None if resolution is None else float(resolution),
        description=f"spike times of the {len(names)} units whose counts per "
                    f"{1.0 / float(ds.attrs['sfreq']):g}-s bin are the spike_counts series",
    )
    return UNITS_ROUTE


def read_units(ds: xr.Dataset, units, where: str) -> xr.Dataset:
    """Attach the spike times of our Units table ``units`` to ``ds`` (lazily)."""
    names = [v.decode() if isinstance(v, bytes) else str(v) for v in units["unit_name"].data[:]]
    if names != [str(v) for v in ds["channel"].values]:
        raise InputError(f"{where}: the Units table's units are not the channels of the series")
    flat = units["spike_times"].target.data
    stop = np.asarray(units["spike_times"].data[:], dtype=np.int64)
    start = np.concatenate([[0], stop[:-1]]).astype(np.int64)
    times = da.from_array(flat, chunks=(max(1, min(SPIKE_CHUNK, int(flat.shape[0]))),),
                          lock=True).astype(np.float64)
    return set_spike_times(ds, times, start, stop)
