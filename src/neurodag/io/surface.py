"""fMRI on a cortical surface: FreeSurfer MGZ/MGH and GIFTI functional series, via nibabel.

- MGZ/MGH: data shape ``(n_vertices, 1, 1, n_frames)`` (FreeSurfer's layout for surface
  overlays, e.g. ``*.fsa5.lh.mgz`` on fsaverage5). The TR is the header's ``tr`` field,
  in milliseconds; FreeSurfer writes 0 when it does not know it, and then option ``tr``
  (seconds) is required.
- GIFTI (``*.func.gii``): one data array per frame, or one 2-D array
  ``(n_vertices, n_frames)``. GIFTI has no standard TR field: the ``TimeStep`` metadata
  that FreeSurfer (milliseconds) and AFNI (seconds) write is read, taking values of 20 or
  more as milliseconds and smaller ones as seconds (no real TR is 20 ms or 20 s); without
  it option ``tr`` is required. ``RepetitionTime`` metadata is read as seconds.

Option ``tr`` always wins over the file. One channel per vertex, type ``bold``, units
``a.u.``, named ``lh-{vertex}``/``rh-{vertex}`` with region ``lh``/``rh`` when the file
name says the hemisphere (``lh.``, ``.rh.``, ``hemi-L``), else ``v{vertex}``. Given the
two hemispheres together (see :func:`neurodag.io.classify`), left then right vertices
make one recording; both must have the same number of frames and the same TR. Surface
files carry no vertex positions (those are in the surface mesh), so there are no
``x``/``y``/``z`` coordinates.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import xarray as xr

from .. import schema
from ..errors import InputError
from ._common import full_suffix, one_line
from .discover import hemisphere

_MS_THRESHOLD = 20.0
_MESH_INTENTS = ("NIFTI_INTENT_POINTSET", "NIFTI_INTENT_TRIANGLE")


def _load(path: Path):
    try:
        return nib.load(path)
    except Exception as e:  # nibabel raises several types for broken files
        raise InputError(f"{path}: not a readable surface file ({one_line(e)})") from None


def _mgh(path: Path) -> tuple[np.ndarray, float | None, str]:
    img = _load(path)
    shape = img.shape
    if len(shape) != 4 or shape[1:3] != (1, 1):
        raise InputError(f"{path}: expected surface data of shape (n_vertices, 1, 1, n_frames), "
                         f"got {shape}")
    try:
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise InputError(f"{path}: truncated or corrupt image data ({one_line(e)})") from None
    tr_ms = float(img.header["tr"])
    tr = tr_ms / 1000.0 if np.isfinite(tr_ms) and tr_ms > 0 else None
    return data[:, 0, 0, :].T, tr, "MGH header tr (ms)"


def _gifti_tr(img) -> tuple[float | None, str]:
    metas = [dict(img.meta)] + [dict(d.meta) for d in img.darrays[:1]]
    for meta in metas:
        if "RepetitionTime" in meta:
            return _number(meta["RepetitionTime"]), "GIFTI metadata RepetitionTime (s)"
    for meta in metas:
        if "TimeStep" in meta:
            value = _number(meta["TimeStep"])
            if value is None:
                return None, ""
            if value >= _MS_THRESHOLD:
                return value / 1000.0, "GIFTI metadata TimeStep (taken as ms)"
            return value, "GIFTI metadata TimeStep (taken as s)"
    return None, ""


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def _gifti(path: Path) -> tuple[np.ndarray, float | None, str]:
    img = _load(path)
    if not isinstance(img, nib.gifti.GiftiImage):
        raise InputError(f"{path}: not a GIFTI image")
    arrays = img.darrays
    if not arrays:
        raise InputError(f"{path}: GIFTI file holds no data arrays")
    intents = {nib.nifti1.intent_codes.label[d.intent] for d in arrays}
    if intents & set(_MESH_INTENTS):
        raise InputError(f"{path}: a GIFTI surface mesh (vertex coordinates/triangles), not a "
                         "functional series")
    try:
        if len(arrays) == 1:
            data = np.asarray(arrays[0].data)
            if data.ndim == 1:
                data = data[:, None]
        else:
            shapes = {np.shape(d.data) for d in arrays}
            if len(shapes) != 1 or len(next(iter(shapes))) != 1:
                raise InputError(f"{path}: GIFTI data arrays must be one per frame, each of "
                                 f"n_vertices values; got shapes {sorted(shapes)[:3]}")
            data = np.column_stack([d.data for d in arrays])
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise InputError(f"{path}: truncated or corrupt GIFTI data ({one_line(e)})") from None
    if data.ndim != 2:
        raise InputError(f"{path}: expected (n_vertices, n_frames) data, got shape {data.shape}")
    tr, how = _gifti_tr(img)
    return data.T, tr, how


def _series(path: Path) -> tuple[np.ndarray, float | None, str]:
    """``(frames, vertices)`` array, TR in s (None if unknown) and where the TR came from."""
    if full_suffix(path) in (".mgz", ".mgh"):
        return _mgh(path)
    return _gifti(path)


def read_surface(path: Path, side: dict, *, modality: str | None = None,
                 tr: float | None = None, sfreq: float | None = None, **_) -> xr.Dataset:
    """Surface fMRI series (one hemisphere, or both) into a contract Dataset.

    Parameters
    ----------
    path : Path
        An MGZ/MGH or GIFTI functional file (the left hemisphere of a pair).
    side : dict
        Sidecars from :func:`neurodag.io.classify`: ``other_hemisphere`` (the right
        hemisphere, or None), ``events`` (read by the caller), ``confounds``.
    modality : str, optional
        Must be "fmri" or None.
    tr : float, optional
        Repetition time in s; overrides the files.
    sfreq : float, optional
        If given, must agree with 1 / TR.
    """
    from .sidecars import attach_confounds

    if modality not in (None, "fmri"):
        raise InputError(f"{path}: a surface series is fMRI, not {modality!r}")
    files = [path] + ([side["other_hemisphere"]] if side.get("other_hemisphere") else [])
    blocks, names, regions, trs = [], [], [], []
    for f in files:
        data, file_tr, how = _series(f)
        if data.shape[0] < 2:
            raise InputError(f"{f}: {data.shape[0]} frame(s); a time series needs at least 2")
        hemi = hemisphere(f)
        prefix = f"{hemi}-" if hemi else "v"
        names += [f"{prefix}{v}" for v in range(data.shape[1])]
        regions += [hemi or "unknown"] * data.shape[1]
        blocks.append(data)
        trs.append((f, file_tr, how))
    if len({b.shape[0] for b in blocks}) > 1:
        raise InputError(f"{files[1]}: {blocks[1].shape[0]} frames, but {files[0].name} has "
                         f"{blocks[0].shape[0]}; the hemispheres must come from one run")
    if tr is None:
        missing = [f for f, t, _ in trs if t is None]
        if missing:
            raise InputError(f"{missing[0]}: repetition time (TR) missing or zero in the file; "
                             "pass option tr (seconds)")
        if len({round(t, 9) for _, t, _ in trs}) > 1:
            raise InputError(f"{files[1]}: TR {trs[1][1]:g} s differs from {files[0].name}'s "
                             f"{trs[0][1]:g} s")
        t_r, source = trs[0][1], trs[0][2]
    else:
        t_r, source = float(tr), "option tr"
    if sfreq is not None and abs(float(sfreq) * t_r - 1.0) > 1e-6:
        raise InputError(f"{path}: option sfreq={sfreq} contradicts TR {t_r:g} s")
    data = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float32 if data.dtype.itemsize <= 2 else np.float64)
    bad = ~np.isfinite(data).all(axis=0)
    if bad.any():
        some = [n for n, b in zip(names, bad, strict=True) if b][:5]
        raise InputError(f"{path}: NaN or Inf at {int(bad.sum())} vertices, e.g. {some}")
    ds = schema.build(data, sfreq=1.0 / t_r, channels=names, channel_types="bold",
                      modality="fmri", units="a.u.", region=regions, source=str(path))
    ds.attrs.update(tr=t_r, tr_source=source, surface_files=[str(f) for f in files])
    if side.get("confounds") is not None:
        ds = attach_confounds(ds, side["confounds"])
    return ds
