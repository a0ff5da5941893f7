"""fMRI without a label image: spheres around bundled coordinates, or every voxel in a mask.

Spheres (option ``parcellation``): the ROI centres that nilearn ships inside its package
(``nilearn/datasets/data``; ``fetch_coords_power_2011``, ``fetch_coords_dosenbach_2010``
and ``fetch_coords_seitzman_2018`` read those files and never go online) are MNI
coordinates in mm, so the BOLD image must be in MNI space. Each ROI's series is the mean
over the voxels whose centres lie within ``radius`` mm of the centre, by
:class:`nilearn.maskers.NiftiSpheresMasker` (which also counts the voxel nearest to the
centre, so a small radius never gives an empty sphere). ROIs whose centre falls outside
the image's field of view are dropped and listed in the attr ``rois_outside_image``.
Spheres may share voxels where two centres are closer than twice the radius (Dosenbach
and Seitzman centres are as close as 8.5 and 6.7 mm; Power's at least 10.3 mm apart).

============  =====  =================================  =====================================
name          ROIs   channel names                      ``region`` / ``network`` coordinates
============  =====  =================================  =====================================
power         264    ``power-001`` ... (ROI number)     none in the table nilearn ships
dosenbach     160    ``"inf cerebellum 155"`` (name,    region: the name without its number;
                     ROI number)                        network (cerebellum, cingulo-opercular,
                                                        default, fronto-parietal, occipital,
                                                        sensorimotor)
seitzman      300    ``seitzman-001`` ... (file order)  region: anatomical label (cortexL, ...);
                                                        network (Auditory, ...)
============  =====  =================================  =====================================

Voxels (option ``voxels``): one channel per voxel inside a brain mask, named
``v{i}-{j}-{k}`` by its array indices, at its centre (metres). The mask is a 3-D image
named ``*mask*`` given with the BOLD (resampled to the BOLD grid, nearest neighbour, when
it lies on another grid), else :func:`nilearn.masking.compute_epi_mask` of the BOLD. That
mask separates brain from background by the intensity histogram, so it fails on volumes
already cropped to the brain (nitime's samples: it keeps 13 voxels of 1800, or none): when
it keeps under 5% of the voxels that vary in time, those voxels are the mask instead.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

from ..errors import InputError
from ._common import one_line

#: Default sphere radius in mm.
DEFAULT_RADIUS = 5.0
_SPACE_SCALE = {"mm": 1e-3, "meter": 1.0, "micron": 1e-6, "unknown": 1e-3}


def coordinates(name: str) -> dict:
    """ROI centres of a bundled coordinate atlas (read from nilearn's package files).

    Returns
    -------
    dict
        ``names`` (list of str), ``xyz`` (array (n, 3), MNI mm), ``region`` and
        ``network`` (lists of str, or None), ``reference`` (str).
    """
    from nilearn import datasets

    if name == "power":
        rois = datasets.fetch_coords_power_2011().rois
        return {
            "names": [f"power-{int(r):03d}" for r in rois["roi"]],
            "xyz": rois[["x", "y", "z"]].to_numpy(np.float64), "region": None,
            "network": None, "reference": "Power et al. 2011, Neuron 72:665",
        }
    if name == "dosenbach":
        atlas = datasets.fetch_coords_dosenbach_2010(ordered_regions=False)
        labels = [str(v) for v in atlas.labels]
        return {
            "names": labels, "xyz": atlas.rois[["x", "y", "z"]].to_numpy(np.float64),
            "region": [lab.rsplit(" ", 1)[0] for lab in labels],
            "network": [str(v) for v in atlas.networks],
            "reference": "Dosenbach et al. 2010, Science 329:1358",
        }
    if name == "seitzman":
        atlas = datasets.fetch_coords_seitzman_2018(ordered_regions=False)
        n = len(atlas.rois)
        return {
            "names": [f"seitzman-{i + 1:03d}" for i in range(n)],
            "xyz": atlas.rois[["x", "y", "z"]].to_numpy(np.float64),
            "region": [str(v) for v in atlas.regions],
            "network": [str(v) for v in atlas.networks],
            "reference": "Seitzman et al. 2020, NeuroImage 206:116290",
        }
    raise InputError(f"parcellation {name!r} is not one of power, dosenbach, seitzman")


def inside(xyz_mm: np.ndarray, img) -> np.ndarray:
    """Which centres have their nearest voxel inside the image grid."""
    ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(img.affine), xyz_mm)).astype(int)
    shape = np.asarray(img.shape[:3])
    return ((ijk >= 0) & (ijk < shape)).all(axis=1)


def _reachable(img, seeds: np.ndarray, radius: float):
    """Mask image of the voxels within ``radius`` mm of a seed, plus each seed's nearest voxel."""
    from scipy.spatial import cKDTree

    shape = img.shape[:3]
    ijk = np.indices(shape).reshape(3, -1).T
    world = nib.affines.apply_affine(img.affine, ijk)
    dist, _ = cKDTree(seeds).query(world, distance_upper_bound=radius * (1 + 1e-6) + 1e-9)
    mask = np.isfinite(dist).reshape(shape)
    near = np.rint(nib.affines.apply_affine(np.linalg.inv(img.affine), seeds)).astype(int)
    mask[tuple(near.T)] = True
    return nib.Nifti1Image(mask.astype(np.int8), img.affine)


def spheres(img, path: Path, name: str, radius: float | None) -> dict:
    """Sphere-mean series of ``img`` (4-D, in memory) around the ROIs of atlas ``name``.

    Returns
    -------
    dict
        ``series`` (n_vol, n_kept), ``names``, ``positions`` (metres), ``region``,
        ``network``, ``dropped`` (names of ROIs outside the image), ``reference``.
    """
    from nilearn.maskers import NiftiSpheresMasker

    radius = DEFAULT_RADIUS if radius is None else float(radius)
    atlas = coordinates(name)
    keep = inside(atlas["xyz"], img)
    if not keep.any():
        raise InputError(f"{path}: none of the {keep.size} {name} ROI centres (MNI mm) lies "
                         "inside the image; is the BOLD in MNI space?")
    seeds = atlas["xyz"][keep]
    # The masker looks each seed up in a list of every candidate voxel; restricting the
    # candidates to the voxels the spheres can reach keeps that fast on fine grids, and
    # gives the same spheres (the mask holds every voxel within the radius of a seed).
    masker = NiftiSpheresMasker(seeds, radius=radius, allow_overlap=True,
                                mask_img=_reachable(img, seeds, radius), reports=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            series = np.asarray(masker.fit_transform(img))
    except ValueError as e:
        raise InputError(f"{path}: cannot extract sphere means ({one_line(e)})") from None

    def pick(values):
        return None if values is None else [v for v, k in zip(values, keep, strict=True) if k]

    return {
        "series": series, "names": pick(atlas["names"]),
        "positions": atlas["xyz"][keep] * 1e-3, "region": pick(atlas["region"]),
        "network": pick(atlas["network"]),
        "dropped": [n for n, k in zip(atlas["names"], keep, strict=True) if not k],
        "reference": atlas["reference"],
    }


def _mask(img, path: Path, mask_path: Path | None) -> np.ndarray:
    if mask_path is None:
        from nilearn.masking import compute_epi_mask

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                mask = np.asarray(compute_epi_mask(img).dataobj) != 0
            except ValueError:
                mask = None
        varying = np.asarray(img.dataobj).std(axis=-1) > 0
        if mask is None or mask.sum() < 0.05 * varying.sum():
            mask = varying
        if not mask.any():
            raise InputError(f"{path}: no voxel varies in time, so there is no brain mask to "
                             "take; give a mask image")
        return mask
    try:
        mask_img = nib.load(mask_path)
        data = np.asanyarray(mask_img.dataobj)
    except Exception as e:  # nibabel raises several types for broken files
        raise InputError(f"{mask_path}: not a readable NIfTI mask ({one_line(e)})") from None
    data = data[..., 0] if data.ndim == 4 and data.shape[3] == 1 else data
    if data.ndim != 3:
        raise InputError(f"{mask_path}: a mask must be 3-D, got shape {data.shape}")
    same = data.shape == img.shape[:3] and np.allclose(mask_img.affine, img.affine, atol=1e-4)
    if not same:
        from nilearn.image import resample_to_img

        ref = nib.Nifti1Image(np.zeros(img.shape[:3], np.int8), img.affine)
        src = nib.Nifti1Image((data != 0).astype(np.int8), mask_img.affine)
        data = np.asarray(resample_to_img(src, ref, interpolation="nearest",
                                          force_resample=True, copy_header=True).dataobj)
    return data != 0


def voxels(img, path: Path, mask_path: Path | None) -> dict:
    """Series of every voxel of ``img`` (4-D, in memory) inside the brain mask.

    Returns
    -------
    dict
        ``series`` (n_vol, n_voxels), ``names`` (``v{i}-{j}-{k}``), ``positions`` (metres),
        ``ijk`` (array (n_voxels, 3)).
    """
    mask = _mask(img, path, mask_path)
    where = mask_path or path
    if not mask.any():
        raise InputError(f"{where}: the brain mask holds no voxel of the BOLD grid")
    ijk = np.argwhere(mask)  # C order, the order of data[mask]
    data = np.asanyarray(img.dataobj)
    series = np.ascontiguousarray(data[mask].T)  # (n_vol, n_voxels)
    unit = img.header.get_xyzt_units()[0] if hasattr(img.header, "get_xyzt_units") else "mm"
    positions = nib.affines.apply_affine(img.affine, ijk) * _SPACE_SCALE.get(unit, 1e-3)
    return {
        "series": series, "names": [f"v{i}-{j}-{k}" for i, j, k in ijk],
        "positions": positions, "ijk": ijk,
    }
