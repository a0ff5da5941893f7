"""Channels to atlas regions: sEEG/ECoG contacts and fMRI parcels or voxels -> region signals.

Recordings with different electrodes (or parcellations) share anatomy, not channels.
:func:`assign_regions` gives each channel the region it lies in (the contract's ``region``
coordinate) from its position (``x``, ``y``, ``z`` in metres) and an atlas:

- a mapping ``{region: ((x, y, z) mm, radius mm)}`` of spheres: the region whose sphere
  holds the position, the nearest centre if several do (the convention of
  :mod:`neurodag.synth.seeg`'s region table);
- a label image (a NIfTI path or nibabel image, integer labels, with ``labels``
  ``{value: name}``): the label of the voxel holding the position (nearest voxel centre);
  0 and positions outside the image are unassigned;
- ``"dosenbach"`` or ``"seitzman"``: the region label of the nearest ROI centre of those
  coordinate atlases (shipped with nilearn, read offline through
  :func:`neurodag.io.fmri_coords.coordinates`) within ``max_distance`` mm (10 by default).

Channels without a position or outside every region get ``"unknown"``.

:func:`to_regions` then averages a recording's data channels region by region: the
result is a contract Dataset whose channels are the regions (``region`` coordinate equal
to the channel name, ``n_members`` counting the channels averaged, positions the mean of
theirs); ``white matter``, ``unknown`` and empty regions are left out by default. The
average is a matrix product, so lazily read recordings stay lazy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from .. import schema
from ..errors import InputError

UNKNOWN = "unknown"
#: Regions left out of region signals by default.
EXCLUDE = ("white matter", UNKNOWN, "")
COORD_ATLASES = ("dosenbach", "seitzman")


def _positions_mm(ds: xr.Dataset) -> np.ndarray:
    if not all(k in ds.coords for k in ("x", "y", "z")):
        return np.full((ds.sizes["channel"], 3), np.nan)
    return np.stack([ds[k].values.astype(np.float64) for k in ("x", "y", "z")], axis=1) * 1e3


def _spheres(pos: np.ndarray, atlas: Mapping) -> list[str]:
    names = list(atlas)
    try:
        centers = np.array([np.asarray(atlas[r][0], np.float64) for r in names])
        radii = np.array([float(atlas[r][1]) for r in names])
    except (TypeError, ValueError, IndexError):
        raise InputError("atlas: expected {region: ((x, y, z) mm, radius mm)}") from None
    if centers.shape != (len(names), 3):
        raise InputError("atlas: each sphere centre must be (x, y, z) in mm")
    d = np.linalg.norm(pos[:, None, :] - centers[None], axis=-1)
    inside = d <= radii[None]
    out = []
    for i in range(pos.shape[0]):
        hit = np.flatnonzero(inside[i])
        out.append(names[hit[np.argmin(d[i, hit])]] if hit.size else UNKNOWN)
    return out


def _label_image(pos: np.ndarray, img, labels: Mapping | None) -> list[str]:
    import nibabel as nib

    if isinstance(img, (str, Path)):
        try:
            img = nib.load(img)
        except Exception as e:  # nibabel raises several types for unreadable files
            raise InputError(f"{img}: not a readable label image ({type(e).__name__})") from None
    data = np.asarray(img.dataobj)
    if data.ndim != 3:
        raise InputError(f"atlas: a label image must be 3-D, got shape {data.shape}")
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(img.affine),
                                           np.nan_to_num(pos, nan=1e9))).astype(np.int64)
    ok = np.isfinite(pos).all(axis=1) & (ijk >= 0).all(axis=1) & (ijk < data.shape).all(axis=1)
    out = []
    for i in range(pos.shape[0]):
        value = int(data[tuple(ijk[i])]) if ok[i] else 0
        name = UNKNOWN if value == 0 else (
            str(labels.get(value, value)) if labels is not None else str(value))
        out.append(name)
    return out


def _coord_atlas(pos: np.ndarray, name: str, max_distance: float) -> list[str]:
    from ..io.fmri_coords import coordinates

    atlas = coordinates(name)
    d = np.linalg.norm(pos[:, None, :] - atlas["xyz"][None], axis=-1)
    d = np.where(np.isfinite(d), d, np.inf)
    best = np.argmin(d, axis=1)
    return [atlas["region"][b] if d[i, b] <= max_distance else UNKNOWN
            for i, b in enumerate(best)]


def assign_regions(ds: xr.Dataset, atlas, *, labels: Mapping | None = None,
                   max_distance: float = 10.0) -> xr.Dataset:
    """Return ``ds`` with a ``region`` coordinate from channel positions and an atlas.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset with positions ``x``, ``y``, ``z`` (m).
    atlas : mapping, label image (path or nibabel image) or {"dosenbach", "seitzman"}
        See :mod:`neurodag.homogenize.regions`.
    labels : mapping of int to str, optional
        Names of a label image's values (default: the value as text).
    max_distance : float
        Coordinate atlases only: farthest ROI centre (mm) a channel may be assigned to.
    """
    if not all(k in ds.coords for k in ("x", "y", "z")):
        raise InputError(f"{ds.attrs.get('source', 'recording')}: channels have no positions "
                         "(x, y, z) to place in atlas regions")
    pos = _positions_mm(ds)
    if isinstance(atlas, str) and atlas in COORD_ATLASES:
        names = _coord_atlas(pos, atlas, float(max_distance))
    elif isinstance(atlas, Mapping):
        names = _spheres(pos, atlas)
    elif isinstance(atlas, (str, Path)) or hasattr(atlas, "affine"):
        names = _label_image(pos, atlas, labels)
    else:
        raise InputError(f"atlas: expected spheres, a label image or one of "
                         f"{list(COORD_ATLASES)}, got {type(atlas).__name__}")
    return ds.assign_coords(region=("channel", np.asarray(names, dtype=object)))


def to_regions(ds: xr.Dataset, *, exclude=EXCLUDE, where: str | None = None) -> xr.Dataset:
    """Average a recording's data channels region by region (see the module docstring).

    Raises
    ------
    InputError
        No ``region`` coordinate, or no data channel in any kept region.
    """
    where = where or str(ds.attrs.get("source", "recording"))
    schema.validate(ds, where=where, check_values=False)
    if "region" not in ds.coords:
        raise InputError(f"{where}: channels have no 'region' coordinate; assign regions "
                         "first (neurodag.homogenize.regions.assign_regions)")
    types = schema.DATA_CHANNEL_TYPES.get(ds.attrs["modality"], ())
    region = ds["region"].values.astype(str)
    keep = np.isin(ds["channel_type"].values.astype(str), types) & ~np.isin(region,
                                                                             list(exclude))
    if not keep.any():
        raise InputError(f"{where}: no {list(types)} channel lies in a region outside "
                         f"{list(exclude)}")
    sub = ds.isel(channel=np.flatnonzero(keep))
    reg = sub["region"].values.astype(str)
    names = sorted(set(reg.tolist()))
    member = (reg[:, None] == np.asarray(names)[None]).astype(np.float64)
    counts = member.sum(axis=0)
    avg = member / counts
    sig = sub["signal"]
    data = sig.data @ avg.astype(sig.dtype)
    ctypes = sub["channel_type"].values.astype(str)
    units = sub["unit"].values.astype(str)
    kinds = [_most_common(ctypes[member[:, k] > 0]) for k in range(len(names))]
    unit = [_most_common(units[member[:, k] > 0]) for k in range(len(names))]
    pos = _positions_mm(sub) * 1e-3
    mean_pos = np.full((len(names), 3), np.nan)
    for k in range(len(names)):
        known = pos[(member[:, k] > 0) & np.isfinite(pos).all(axis=1)]
        if known.size:
            mean_pos[k] = known.mean(axis=0)
    out = schema.build(
        data, sfreq=ds.attrs["sfreq"], channels=names, channel_types=kinds,
        modality=ds.attrs["modality"], subject=ds.attrs["subject"], session=ds.attrs["session"],
        units=unit, region=names, positions=mean_pos if np.isfinite(mean_pos).any() else None,
        source=ds.attrs["source"], source_sha256=ds.attrs["source_sha256"],
        attrs=dict(ds.attrs),
    )
    out = out.assign_coords(time=ds["time"], n_members=("channel", counts.astype(np.int64)))
    if "events" in ds:
        out = schema.set_events(out, schema.get_events(ds))
    if "confounds" in ds:
        out = out.assign(confounds=(("time", "confound"), ds["confounds"].data))
        out = out.assign_coords(confound=ds["confound"].values)
    out.attrs["regions_from"] = f"mean over channels of each region (excluding {list(exclude)})"
    return out


def _most_common(values: np.ndarray) -> str:
    kinds, counts = np.unique(values, return_counts=True)
    return str(kinds[np.argmax(counts)])
