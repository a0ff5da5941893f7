"""Calcium-imaging results: suite2p plane folders and CaImAn HDF5 files.

suite2p (a ``plane0`` folder, layout of suite2p's output documentation):

- ``F.npy`` ``(n_rois, n_frames)`` fluorescence -> ``signal`` (units ``a.u.`` or option
  ``units``), read lazily from a memory map in time blocks;
- ``Fneu.npy`` (same shape) neuropil fluorescence -> an extra variable ``neuropil`` with
  the same ``(time, channel)`` dims. The signal contract has ``signal`` only; neuropil is
  kept beside it because the usual correction (``F - 0.7 * Fneu``) belongs to
  preprocessing, which then needs both. It is stored in ``raw.zarr`` and in the NWB
  archive (a second RoiResponseSeries);
- ``iscell.npy`` ``(n_rois, 2)``: column 0 is suite2p's cell/not-cell decision (1/0),
  column 1 the classifier's probability. Only cells are kept unless option
  ``include_non_cells`` is true; coordinates ``is_cell`` and ``cell_probability`` are
  kept either way. Without ``iscell.npy`` every ROI is kept;
- ``ops.npy``: the frame rate ``ops["fs"]`` (Hz; option ``sfreq`` must agree with it).

  ``ops.npy`` is a pickled dict, and unpickling can run code named in the file. It is
  therefore loaded through :mod:`neurodag.io.safe_pickle`, which admits numpy arrays and
  plain containers only and refuses anything else, and the result must be a dict; the
  other ``.npy`` files are loaded with ``allow_pickle=False``. ``stat.npy`` (ROI
  footprints in pixels, no physical scale) and ``spks.npy`` are not read.

Channels are named ``c000``, ``c001``, ... by the ROI's index in suite2p's files, so that
names still point into ``stat.npy`` after non-cells are dropped; type ``neuron``.

CaImAn (``cnm.save("results.hdf5")``, written by CaImAn's ``save_dict_to_hdf5``; a value
that was None is stored as the string ``"NoneType"``):

- ``estimates/F_dff`` ``(n_components, n_frames)`` when present (units ``dF/F``), else
  ``estimates/C`` (denoised traces, units ``a.u.`` or option ``units``);
- ``estimates/idx_components``: the components CaImAn's evaluation accepted; only those are
  kept unless option ``include_non_cells`` is true (all kept when it is absent);
- the frame rate from ``params/data/fr``, else option ``sfreq`` (required then).

Components are named ``c000``, ... by their index in CaImAn's arrays. CaImAn results are
read whole (traces of a few thousand components are small next to electrophysiology).
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize

from .. import schema
from ..errors import InputError
from ..store.zarrstore import time_chunk
from ._common import one_line
from .safe_pickle import load_npy

_SCAN_FRAMES = 16384


def _names(indices) -> list[str]:
    indices = list(indices)
    width = max(3, len(str(max(indices, default=0))))
    return [f"c{int(i):0{width}d}" for i in indices]


def _rate(value, where: str, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (bytes, str)) or isinstance(value, bool) \
            or not isinstance(value, (numbers.Real, np.number)):
        raise InputError(f"{where}: {what} is {value!r}, not a frame rate in Hz")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"{where}: {what} is {value}, not a positive frame rate in Hz")
    return value


def _agree(file_rate: float | None, sfreq: float | None, where: str, what: str) -> float:
    if file_rate is None and sfreq is None:
        raise InputError(f"{where}: no frame rate ({what}); pass option sfreq (Hz)")
    if file_rate is not None and sfreq is not None \
            and abs(float(sfreq) - file_rate) > 1e-6 * file_rate:
        raise InputError(f"{where}: option sfreq={sfreq} contradicts {what}={file_rate:g} Hz")
    return float(file_rate if file_rate is not None else sfreq)


# ---------------------------------------------------------------------------- suite2p


def _traces(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy array ({one_line(e)})") from None
    if arr.ndim != 2 or 0 in arr.shape or arr.dtype.kind not in "iuf":
        raise InputError(f"{path}: expected a non-empty numeric (n_rois, n_frames) array, got "
                         f"{arr.dtype} {arr.shape}")
    return arr


def _lazy_rows(arr: np.ndarray, rows: np.ndarray, path: Path) -> da.Array:
    """``arr[rows].T`` as a dask array chunked along frames, checked for NaN/Inf blockwise."""
    n_frames = arr.shape[1]
    for start in range(0, n_frames, _SCAN_FRAMES):
        block = np.asarray(arr[rows, start:start + _SCAN_FRAMES])
        if not np.isfinite(block).all():
            bad = ~np.isfinite(block).all(axis=1)
            raise InputError(f"{path}: NaN or Inf in ROI(s) {_names(rows[bad][:5])}")
    chunk = time_chunk(rows.size, 4, n_frames)
    stat = os.stat(path)
    src = da.from_array(arr, chunks=(arr.shape[0], chunk),
                        name="s2p-" + tokenize(str(path.resolve()), stat.st_mtime_ns,
                                               stat.st_size))
    out = src[rows].T
    return out.astype(np.float32) if arr.dtype != np.float64 else out


def read_suite2p(path: Path, side: dict, *, modality: str | None = None,
                 sfreq: float | None = None, units: str | None = None,
                 include_non_cells: bool = False, **_) -> xr.Dataset:
    """Read a suite2p plane folder (see the module docstring for the layout)."""
    if modality not in (None, "calcium"):
        raise InputError(f"{path}: suite2p output is calcium imaging, not {modality!r}")
    ops_path = path / "ops.npy"
    ops = load_npy(ops_path)
    if not isinstance(ops, dict):
        raise InputError(f"{ops_path}: expected a dict of suite2p settings, got "
                         f"{type(ops).__name__}")
    rate = _agree(_rate(ops.get("fs"), str(ops_path), "ops['fs']"), sfreq, str(ops_path),
                  "ops['fs']")
    f_path = path / "F.npy"
    traces = _traces(f_path)
    n_rois = traces.shape[0]
    files = [f_path, ops_path]
    is_cell = prob = None
    if (path / "iscell.npy").is_file():
        iscell_path = path / "iscell.npy"
        try:
            iscell = np.load(iscell_path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise InputError(f"{iscell_path}: not a readable .npy array ({one_line(e)})") \
                from None
        iscell = iscell[:, None] if iscell.ndim == 1 else iscell
        if iscell.ndim != 2 or iscell.shape[0] != n_rois or iscell.dtype.kind not in "iufb":
            raise InputError(f"{iscell_path}: expected ({n_rois}, 2) cell labels for the "
                             f"{n_rois} ROIs of F.npy, got {iscell.dtype} {iscell.shape}")
        is_cell = iscell[:, 0] > 0.5
        prob = iscell[:, 1].astype(np.float64) if iscell.shape[1] > 1 else None
        files.append(iscell_path)
    keep = np.ones(n_rois, bool) if is_cell is None or include_non_cells else is_cell
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise InputError(f"{path / 'iscell.npy'}: no ROI is classified as a cell; set option "
                         "include_non_cells to keep them all")
    data = _lazy_rows(traces, rows, f_path)
    names = _names(rows)
    ds = schema.build(data, sfreq=rate, channels=names, channel_types="neuron",
                      modality="calcium", units=units or "a.u.", source=str(path))
    if is_cell is not None:
        ds = ds.assign_coords(is_cell=("channel", is_cell[rows]))
        if prob is not None:
            ds = ds.assign_coords(cell_probability=("channel", prob[rows]))
    neu_path = path / "Fneu.npy"
    if neu_path.is_file():
        neu = _traces(neu_path)
        if neu.shape != traces.shape:
            raise InputError(f"{neu_path}: shape {neu.shape} differs from F.npy's "
                             f"{traces.shape}")
        ds = ds.assign(neuropil=xr.DataArray(
            _lazy_rows(neu, rows, neu_path), dims=("time", "channel"),
            attrs={"units": units or "a.u.",
                   "description": "suite2p neuropil fluorescence (Fneu.npy); the usual "
                                  "correction is signal - 0.7 * neuropil"},
        ))
        files.append(neu_path)
    ds.attrs.update(
        reader="suite2p", n_rois_in_file=int(n_rois),
        include_non_cells=bool(include_non_cells or is_cell is None),
        source_files=[str(f) for f in files],
    )
    return ds


# ---------------------------------------------------------------------------- CaImAn


def _dataset(group, key: str):
    """A numeric dataset of ``group``, or None when absent or stored as 'NoneType'."""
    import h5py

    obj = group.get(key)
    if obj is None or not isinstance(obj, h5py.Dataset):
        return None
    if obj.dtype.kind in "SUO":  # CaImAn stores None as the string "NoneType"
        return None
    return obj


def read_caiman(path: Path, side: dict, *, modality: str | None = None,
                sfreq: float | None = None, units: str | None = None,
                include_non_cells: bool = False, **_) -> xr.Dataset:
    """Read CaImAn results from HDF5 (see the module docstring for the layout)."""
    import h5py

    if modality not in (None, "calcium"):
        raise InputError(f"{path}: CaImAn results are calcium imaging, not {modality!r}")
    try:
        fh = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path}: not a readable HDF5 file, truncated or corrupt "
                         f"({one_line(e)})") from None
    with fh:
        est = fh.get("estimates")
        if not isinstance(est, h5py.Group) or _dataset(est, "C") is None:
            raise InputError(f"{path}: not a CaImAn results file (no estimates/C)")
        dff = _dataset(est, "F_dff")
        source = dff if dff is not None else _dataset(est, "C")
        what = "estimates/F_dff" if dff is not None else "estimates/C"
        if source.ndim != 2 or 0 in source.shape or source.dtype.kind not in "iuf":
            raise InputError(f"{path}: {what} must be a non-empty numeric (n_components, "
                             f"n_frames) array, got {source.dtype} {source.shape}")
        n_comp = source.shape[0]
        pdata = fh.get("params/data") if isinstance(fh.get("params"), h5py.Group) else None
        fr = _dataset(pdata, "fr") if isinstance(pdata, h5py.Group) else None
        rate = _agree(_rate(None if fr is None else fr[()], str(path), "params/data/fr"),
                      sfreq, str(path), "params/data/fr")
        idx = _dataset(est, "idx_components")
        accepted = None
        if idx is not None:
            accepted = np.asarray(idx[()], dtype=np.int64).ravel()
            if accepted.size and (accepted.min() < 0 or accepted.max() >= n_comp):
                raise InputError(f"{path}: estimates/idx_components points outside the "
                                 f"{n_comp} components")
        rows = np.arange(n_comp) if accepted is None or include_non_cells \
            else np.unique(accepted)
        if rows.size == 0:
            raise InputError(f"{path}: estimates/idx_components accepts no component; set "
                             "option include_non_cells to keep them all")
        try:
            values = np.asarray(source[()], dtype=np.float64)[rows].T
        except OSError as e:
            raise InputError(f"{path}: cannot read {what}, truncated or corrupt "
                             f"({one_line(e)})") from None
    names = _names(rows)
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        raise InputError(f"{path}: NaN or Inf in {what} of component(s) "
                         f"{[n for n, b in zip(names, bad, strict=True) if b][:5]}")
    unit = "dF/F" if dff is not None else (units or "a.u.")
    ds = schema.build(values, sfreq=rate, channels=names, channel_types="neuron",
                      modality="calcium", units=unit, source=str(path))
    if accepted is not None:
        ds = ds.assign_coords(accepted=("channel", np.isin(rows, accepted)))
    ds.attrs.update(reader="caiman", caiman_variable=what, n_components_in_file=int(n_comp))
    return ds
