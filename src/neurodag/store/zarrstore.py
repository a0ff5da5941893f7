"""xarray <-> zarr, written atomically and chunked along time so memory stays flat."""

from __future__ import annotations

import warnings
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ..errors import ContractError, InputError
from ..schema import validate
from .atomic import atomic_path

#: Target size of one chunk of ``signal`` in bytes.
CHUNK_BYTES = 4 << 20
#: Spike times per chunk of ``spike_times`` (float64: CHUNK_BYTES each).
SPIKE_CHUNK = CHUNK_BYTES // 8


def time_chunk(n_channels: int, itemsize: int, n_times: int) -> int:
    """Samples per chunk so that one chunk of ``(time, channel)`` is about CHUNK_BYTES."""
    return int(max(1, min(n_times, CHUNK_BYTES // max(1, n_channels * itemsize))))


def _strings_to_object(ds: xr.Dataset) -> xr.Dataset:
    """String variables as object arrays: how zarr 3 stores them without warnings."""
    fix = {
        name: var.astype(object)
        for name, var in ds.variables.items()
        if var.dtype.kind in "UT" or type(var.dtype).__name__ == "StringDType"
    }
    return ds.assign_coords({k: v for k, v in fix.items() if k in ds.coords}).assign(
        {k: v for k, v in fix.items() if k not in ds.coords}
    )


def _prepared(ds: xr.Dataset, chunks: dict | None) -> xr.Dataset:
    """``ds`` as written: strings as objects, no stale encodings, data chunked along time."""
    ds = _strings_to_object(ds)
    if chunks is None and "time" in ds.dims:
        width = int(np.prod([n for d, n in ds.sizes.items() if d != "time"] or [1]))
        chunks = {"time": time_chunk(width, 8, ds.sizes["time"])}
    ds = ds.copy()
    for var in ds.variables.values():
        var.encoding = {}
        if var.dtype == object and var.chunks is not None:
            var.load()  # small string variables: xarray would load them anyway, with a warning
    if chunks:
        # Chunk the data variables only: small string coordinates stay in memory, so
        # xarray need not load object-dtype dask arrays to pick their dtype.
        for name, var in ds.data_vars.items():
            if var.dtype != object:
                ds[name] = var.chunk({d: c for d, c in chunks.items() if d in var.dims})
    return ds


def consolidate(path: Path) -> None:
    """Consolidate a finished store's metadata, so that ``xr.open_zarr`` opens it without
    its "Failed to open Zarr store with consolidated metadata" warning. zarr 3 warns that
    consolidation is not in the format 3 specification yet; xarray and zarr-python read it."""
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        zarr.consolidate_metadata(str(path))


def write_dataset(ds: xr.Dataset, path: str | Path, *, chunks: dict | None = None,
                  verify: tuple | None = None) -> Path:
    """Write any Dataset to zarr atomically (temporary name, then rename).

    Parameters
    ----------
    ds : xarray.Dataset
    path : path-like
        Target ``*.zarr`` directory; replaced if it exists.
    chunks : dict, optional
        Dask chunks per dim; by default ``signal``-like variables are chunked along
        ``time`` to about 4 MB and other dims are kept whole.
    verify : (array, callable), optional
        An array (dask or numpy) computed in the same pass over the data as the write,
        and a function called with its value before the rename; it raises to abort.
    """
    path = Path(path)
    ds = _prepared(ds, chunks)
    with atomic_path(path) as tmp:
        if verify is None:
            ds.to_zarr(tmp, mode="w", consolidated=False)
        else:
            array, check = verify
            # One pass over a lazy source: the write and the check share the read tasks.
            write = ds.to_zarr(tmp, mode="w", consolidated=False, compute=False)
            _, value = dask.compute(write, array)
            check(value)
        consolidate(tmp)
    return path


def read_dataset(path: str | Path) -> xr.Dataset:
    """Open a zarr store lazily; one clear line if it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such zarr store")
    try:
        with warnings.catch_warnings():
            # Snakemake marks directory outputs with a .snakemake_timestamp file.
            warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
            ds = xr.open_zarr(path, consolidated=False)
    except Exception as e:  # zarr raises many types for broken stores
        raise InputError(f"{path}: not a readable zarr store ({type(e).__name__}: {e})") from None
    return _strings_to_object(ds)


def write_signal(ds: xr.Dataset, path: str | Path) -> Path:
    """Validate a contract Dataset and write it to ``path`` (zarr), chunked along time.

    The structure is checked first; NaN/Inf samples are looked for during the write
    (one pass over lazily read data), and abort it with a :class:`ContractError`.
    """
    validate(ds, where=str(path), check_values=False)
    n_ch = ds.sizes["channel"]
    chunk = time_chunk(n_ch, ds["signal"].dtype.itemsize, ds.sizes["time"])
    sig = ds["signal"].chunk({"time": chunk, "channel": n_ch}).data
    finite = da.isfinite(sig).all(axis=0)

    def check(ok):
        if not ok.all():
            names = ds["channel"].values[~np.asarray(ok)][:5].tolist()
            raise ContractError(f"{path}: signal has NaN or Inf samples (channels {names})")

    chunks = {"time": chunk, "channel": n_ch}
    if "spike" in ds.dims:
        chunks["spike"] = max(1, min(SPIKE_CHUNK, ds.sizes["spike"]))
    return write_dataset(ds, path, chunks=chunks, verify=(finite, check))


def read_signal(path: str | Path, *, check_values: bool = False) -> xr.Dataset:
    """Open a contract store lazily and check its structure (values on request)."""
    ds = read_dataset(path)
    return validate(ds, where=str(path), check_values=check_values)


def lazy_zeros(n_times: int, n_channels: int, dtype=np.float64) -> da.Array:
    """A lazy (time, channel) placeholder, chunked as stores are: the ``signal`` of a
    :class:`SignalWriter` template (never computed)."""
    chunk = time_chunk(n_channels, np.dtype(dtype).itemsize, n_times)
    return da.zeros((n_times, n_channels), dtype=dtype, chunks=(chunk, n_channels))


class SignalWriter:
    """Write a contract store whose ``signal`` arrives block by block, in time order.

    ``template`` is the contract Dataset with a lazy ``signal`` (a dask array: it is not
    computed); its coordinates, events and attrs are written at once, then each
    :meth:`write` adds the next rows. Blocks are buffered to whole zarr chunks, so memory
    holds at most one block and one chunk. NaN/Inf rows abort with a ContractError, as in
    :func:`write_signal`. The store is written in place: give a temporary path (the
    caller renames it), or use it inside :func:`~neurodag.store.atomic.atomic_path`.
    """

    def __init__(self, template: xr.Dataset, path: str | Path):
        import zarr

        self.path = Path(path)
        validate(template, where=str(path), check_values=False)
        n_times, n_ch = template.sizes["time"], template.sizes["channel"]
        self.dtype = template["signal"].dtype
        self.chunk = time_chunk(n_ch, self.dtype.itemsize, n_times)
        self.names = template["channel"].values
        ds = _prepared(template, {"time": self.chunk, "channel": n_ch})
        for name in ds.data_vars:   # written now; only the signal comes later
            if name != "signal":
                ds[name] = ds[name].load()
        ds.to_zarr(self.path, mode="w", consolidated=False, compute=False)
        self.array = zarr.open_group(str(self.path), mode="r+")["signal"]
        self.n_times, self.done = n_times, 0
        self.pending: list[np.ndarray] = []

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (time, channel) after the rows written so far."""
        block = np.asarray(block, dtype=self.dtype)
        if not np.isfinite(block).all():
            bad = ~np.isfinite(block).all(axis=0)
            raise ContractError(f"{self.path}: signal has NaN or Inf samples "
                                f"(channels {self.names[bad][:5].tolist()})")
        self.pending.append(block)
        held = sum(len(b) for b in self.pending)
        if held >= self.chunk or self.done + held == self.n_times:
            rows = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
            n = held if self.done + held == self.n_times else held - held % self.chunk
            self.array[self.done:self.done + n] = rows[:n]
            self.done += n
            self.pending = [rows[n:]] if n < held else []

    def close(self) -> Path:
        """Check that every row was written; returns the path."""
        if self.done != self.n_times:
            raise RuntimeError(f"{self.path}: {self.done} of {self.n_times} rows written")
        consolidate(self.path)
        return self.path
