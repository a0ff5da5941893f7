"""Streaming a (time, column) array into an NWB dataset block by block: the iterator that
lets ``write_nwb`` archive recordings larger than memory, checking for NaN/Inf on the way."""

from __future__ import annotations

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.data_utils import GenericDataChunkIterator

from ..errors import ContractError
from .zarrstore import time_chunk

BUFFER_CHUNKS = 4
GZIP_LEVEL = 4


class _TimeBlocks(GenericDataChunkIterator):
    """Yield a (time, column) array (numpy or dask) in blocks of whole rows."""

    def __init__(self, array, *, where: str, names=None, check_finite: bool = True):
        self._array = array
        self._where = where
        self._names = names
        self._check_finite = check_finite
        n_times, width = (int(n) for n in array.shape)
        rows = time_chunk(width, array.dtype.itemsize, n_times)
        super().__init__(
            chunk_shape=(rows, width),
            buffer_shape=(min(n_times, rows * BUFFER_CHUNKS), width),
        )

    def _get_data(self, selection):
        block = self._array[selection]
        block = np.asarray(block.compute() if hasattr(block, "compute") else block)
        if self._check_finite and not np.isfinite(block).all():
            bad = ~np.isfinite(block).all(axis=0)
            cols = np.arange(block.shape[1])[bad] + (selection[1].start or 0)
            names = [str(self._names[i]) for i in cols[:5]] if self._names is not None else []
            t0 = selection[0].start or 0
            raise ContractError(
                f"{self._where}: signal has NaN or Inf samples "
                f"(channels {names}, in samples from {t0})"
            )
        return block

    def _get_maxshape(self):
        return tuple(int(n) for n in self._array.shape)

    def _get_dtype(self):
        return np.dtype(self._array.dtype)


def _streamed(array, *, where: str, names=None, check_finite: bool = True,
              compression: str | None = None) -> H5DataIO:
    it = _TimeBlocks(array, where=where, names=names, check_finite=check_finite)
    if compression is None:
        return H5DataIO(it)
    return H5DataIO(it, compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True)
