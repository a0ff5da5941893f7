"""Parcels of an fMRI session's channels: the channels themselves, their regions, or an
offline surface atlas, and parcel-mean time series.

``fsaverage5_ico{1,2,3}``
    For channels that are fsaverage5 vertices (``lh-{vertex}``, ``rh-{vertex}``, as the
    surface reader names them): each vertex goes to the nearest vertex, on the sphere, of
    the icosahedron of that order (42, 162 or 642 vertices per hemisphere). fsaverage5 is
    the order-5 icosahedron and its first ``10 * 4**k + 2`` vertices are the order-k
    icosahedron, so these parcels are nested, of near-equal area and need no data beyond
    the fsaverage5 spheres nilearn ships (``nilearn/datasets/data/fsaverage5``). No
    anatomical fsaverage5 atlas ships in a pinned package (nilearn downloads Destrieux;
    brainspace's parcellations are on conte69), so this geometric one is the offline default.
``channels``
    Every channel is a parcel (label images, sphere ROIs, ROI tables).
``region``
    Channels averaged by their ``region`` coordinate.

Constant channels (medial wall, outside the field of view) are left out of the means;
parcels with no other channel are dropped and listed. :func:`parcel_series` gives the
parcel-mean contract of a session, for the models fitted to parcels (brain states, dynamic
connectome).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
import xarray as xr

from ..errors import InputError

ATLASES = ("auto", "channels", "region", "fsaverage5_ico1", "fsaverage5_ico2",
           "fsaverage5_ico3")
FSAVERAGE5_VERTICES = 10242
_VERTEX = re.compile(r"^(lh|rh)-(\d+)$")


@dataclass
class Parcels:
    """Channel -> parcel assignment: ``labels[i]`` is channel i's parcel (-1: none)."""

    labels: np.ndarray
    names: list[str]
    hemisphere: list[str]
    atlas: str
    reference: str
    dropped: list[str]


def is_fsaverage5(names) -> bool:
    """Whether every channel is an fsaverage5 vertex named ``lh-{v}``/``rh-{v}``."""
    found = [_VERTEX.match(str(n)) for n in names]
    return all(found) and max(int(m[2]) for m in found) < FSAVERAGE5_VERTICES


def _sphere(hemi: str) -> np.ndarray:
    import gzip

    import nibabel as nib

    side = {"lh": "left", "rh": "right"}[hemi]
    path = files("nilearn.datasets.data") / "fsaverage5" / f"sphere_{side}.gii.gz"
    with gzip.open(str(path), "rb") as fh:
        img = nib.GiftiImage.from_bytes(fh.read())
    v = np.asarray(img.agg_data("NIFTI_INTENT_POINTSET"), dtype=np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _icosahedral(names, order: int) -> tuple[np.ndarray, list[str], list[str]]:
    n_centres = 10 * 4 ** order + 2
    labels = np.full(len(names), -1)
    out_names, hemis = [], []
    for h, hemi in enumerate(("lh", "rh")):
        sphere = _sphere(hemi)
        nearest = np.argmax(sphere @ sphere[:n_centres].T, axis=1)
        for i, name in enumerate(names):
            m = _VERTEX.match(str(name))
            if m[1] == hemi:
                labels[i] = h * n_centres + nearest[int(m[2])]
        out_names += [f"{hemi}-ico{order}-{c:03d}" for c in range(n_centres)]
        hemis += [hemi] * n_centres
    return labels, out_names, hemis


def parcels(ds: xr.Dataset, atlas: str, valid: np.ndarray) -> Parcels:
    """Assign the channels of ``ds`` to parcels; ``valid`` marks non-constant channels."""
    names = [str(c) for c in ds["channel"].values]
    if atlas == "auto":
        atlas = "fsaverage5_ico2" if is_fsaverage5(names) else "channels"
    reference = ""
    if atlas.startswith("fsaverage5_ico"):
        if not is_fsaverage5(names):
            raise InputError(f"atlas {atlas}: the channels are not fsaverage5 vertices "
                             f"(lh-N/rh-N, N < {FSAVERAGE5_VERTICES}), e.g. {names[0]!r}")
        labels, pnames, hemis = _icosahedral(names, int(atlas[-1]))
        reference = ("nearest order-" + atlas[-1] + " icosahedron vertex on the fsaverage5 "
                     "sphere (nilearn's bundled fsaverage5 meshes)")
    elif atlas == "region":
        if "region" not in ds.coords:
            raise InputError("atlas region: the channels have no 'region' coordinate")
        regions = [str(r) for r in ds["region"].values]
        pnames = list(dict.fromkeys(regions))
        labels = np.array([pnames.index(r) for r in regions])
        hemis = [""] * len(pnames)
    else:
        pnames, labels = names, np.arange(len(names))
        hemis = [str(r) for r in ds["region"].values] if "region" in ds.coords \
            else [""] * len(names)
    labels = np.where(valid, labels, -1)
    present = np.zeros(len(pnames), dtype=bool)
    present[labels[labels >= 0]] = True
    # renumber to the parcels present, keeping the atlas order
    new = np.cumsum(present) - 1
    labels = np.where(labels >= 0, new[np.maximum(labels, 0)], -1)
    return Parcels(labels=labels, names=[n for n, p in zip(pnames, present, strict=True) if p],
                   hemisphere=[h for h, p in zip(hemis, present, strict=True) if p],
                   atlas=atlas, reference=reference,
                   dropped=[n for n, p in zip(pnames, present, strict=True) if not p])


def parcel_means(x: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """``(time, parcel)`` means of the ``(time, channel)`` signals over each parcel's channels."""
    keep = labels >= 0
    onehot = np.zeros((int(keep.sum()), n))
    onehot[np.arange(onehot.shape[0]), labels[keep]] = 1.0
    return (np.asarray(x, dtype=np.float64)[:, keep] @ onehot) / onehot.sum(axis=0)


def centroids(ds: xr.Dataset, labels: np.ndarray, n: int) -> np.ndarray | None:
    """Parcel centroids (m) from the channels' x, y, z, or None without positions."""
    if not all(k in ds.coords for k in "xyz"):
        return None
    pos = np.stack([np.asarray(ds[k].values, dtype=float) for k in "xyz"], axis=1)
    ok = np.isfinite(pos).all(axis=1) & (labels >= 0)
    if not ok.any():
        return None
    out = np.full((n, 3), np.nan)
    for p in range(n):
        sel = ok & (labels == p)
        if sel.any():
            out[p] = pos[sel].mean(axis=0)
    return out


#: Per-frame variables of an fMRI contract carried over to its parcel series.
FRAME_VARIABLES = ("sample_mask", "framewise_displacement", "std_dvars")


def parcel_series(ds: xr.Dataset, atlas: str = "auto") -> tuple[xr.Dataset, Parcels]:
    """The parcel-mean series of an fMRI contract Dataset, as a contract Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A session's ``clean.zarr`` (or ``raw.zarr``): ``signal (time, channel)``.
    atlas : str
        One of :data:`ATLASES` (see the module docstring).

    Returns
    -------
    series : xarray.Dataset
        ``signal (time, channel)`` with one channel per parcel (``hemisphere``,
        ``n_channels``, and ``x``/``y``/``z`` centroids when the channels have positions),
        the frame variables of ``ds`` (:data:`FRAME_VARIABLES`: censoring mask, FD, DVARS)
        and its attrs, plus ``atlas`` and ``atlas_reference``.
    parcels : Parcels
    """
    x = np.asarray(ds["signal"].values, dtype=np.float64)
    found = parcels(ds, atlas, np.ptp(x, axis=0) > 0)
    k = len(found.names)
    if k < 2:
        raise InputError(f"{ds.attrs.get('source', 'dataset')}: atlas {found.atlas} gives "
                         f"{k} parcel(s) with signal; at least 2 are needed")
    counts = np.bincount(found.labels[found.labels >= 0], minlength=k)
    coords = {"time": ds["time"].values, "channel": np.asarray(found.names, dtype=object),
              "channel_type": ("channel", np.full(k, "roi", dtype=object)),
              "unit": ("channel", np.full(k, str(ds["unit"].values[0]), dtype=object)),
              "hemisphere": ("channel", np.asarray(found.hemisphere, dtype=object)),
              "n_channels": ("channel", counts)}
    where = centroids(ds, found.labels, k)
    if where is not None:
        coords.update({c: ("channel", where[:, i]) for i, c in enumerate("xyz")})
    out = xr.Dataset({"signal": (("time", "channel"), parcel_means(x, found.labels, k))},
                     coords=coords, attrs={**ds.attrs, "atlas": found.atlas,
                                           "atlas_reference": found.reference})
    for v in FRAME_VARIABLES:
        if v in ds:
            out[v] = ("time", ds[v].values)
    return out, found
