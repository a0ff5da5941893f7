"""fMRI: a 4-D BOLD NIfTI -> parcel means (label image), sphere means or voxel series.

With a 3-D integer label image, parcel means come from :class:`nilearn.maskers.NiftiLabelsMasker` (strategy "mean").
When the label image lies on another grid, it is first resampled to the BOLD grid with
nearest-neighbour interpolation; labels left without a voxel are dropped and listed in
the attr ``labels_without_voxels``. The masker holds the whole 4-D image in memory (fMRI
series are small next to electrophysiology); the output is one row per volume.

Without one, option ``parcellation`` (sphere means around bundled coordinates) or
``voxels`` (every voxel in a brain mask) chooses the channels: see
:mod:`neurodag.io.fmri_coords`.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import xarray as xr
from scipy import ndimage

from .. import schema
from ..errors import ConfigError, InputError
from ._common import check_unique, one_line
from .sidecars import attach_confounds, read_label_table

_TIME_SCALE = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6, "unknown": 1.0}
_SPACE_SCALE = {"mm": 1e-3, "meter": 1.0, "micron": 1e-6, "unknown": 1e-3}


def _load(path: Path):
    try:
        return nib.load(path)
    except Exception as e:  # nibabel raises several types for broken files
        raise InputError(f"{path}: not a readable NIfTI image ({one_line(e)})") from None


def repetition_time(img, path: Path, tr: float | None = None) -> float:
    """TR in seconds: option ``tr``, else the header's 4th zoom in its xyzt time unit."""
    if tr is not None:
        return float(tr)
    zooms = img.header.get_zooms()
    value = float(zooms[3]) if len(zooms) > 3 else 0.0
    try:
        unit = img.header.get_xyzt_units()[1]
    except AttributeError:
        unit = "sec"
    value *= _TIME_SCALE.get(unit, 1.0)
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"{path}: repetition time (TR) missing or zero in the header; pass "
                         "option tr (seconds)")
    return value


def _label_data(img, path: Path) -> np.ndarray:
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path}: label image must be 3-D, got shape {data.shape}")
    if data.dtype.kind == "f":
        if not np.isfinite(data).all() or (data != np.round(data)).any():
            raise InputError(f"{path}: label image holds non-integer values; expected integer "
                             "labels (0 = background)")
    return data.astype(np.int64)


def centroids(labels: np.ndarray, affine: np.ndarray, ids, space_unit: str = "mm") -> np.ndarray:
    """World-coordinate centroid of each label, in metres, shape ``(len(ids), 3)``."""
    com = np.asarray(ndimage.center_of_mass(np.ones(labels.shape), labels, list(ids)))
    world = nib.affines.apply_affine(affine, com.reshape(-1, 3))
    return world * _SPACE_SCALE.get(space_unit, 1e-3)


def _names(ids, table: Path | None) -> tuple[list[str], list[str] | None]:
    if table is None:
        return [f"parcel-{i}" for i in ids], None
    lut = read_label_table(table)
    names = [lut.get(int(i), f"parcel-{i}") for i in ids]
    check_unique(names, table, "label names")
    return names, [lut.get(int(i), "unknown") for i in ids]


def load_bold(path: Path):
    """A 4-D image with its samples in memory; a truncated or corrupt file is one line."""
    img = _load(path)
    if len(img.shape) != 4:
        raise InputError(f"{path}: expected a 4-D BOLD series, got shape {img.shape}")
    try:
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise InputError(f"{path}: truncated or corrupt image data ({one_line(e)})") from None
    return nib.Nifti1Image(data, img.affine, img.header)


def read_nifti(path: Path, side: dict, *, modality: str | None = None, tr: float | None = None,
               sfreq: float | None = None, parcellation: str | None = None,
               radius: float | None = None, voxels: bool = False, **_) -> xr.Dataset:
    """BOLD series from a 4-D NIfTI: parcel means, sphere means or voxels.

    Parameters
    ----------
    path : Path
        The 4-D BOLD image.
    side : dict
        Sidecars from :func:`neurodag.io.classify`: ``labels_img`` (a 3-D integer label
        image: parcel means), ``labels_tsv``, ``mask`` (for ``voxels``), ``events`` (read
        by the caller), ``confounds``.
    modality : str, optional
        Must be "fmri" or None.
    tr : float, optional
        Repetition time in s; overrides the header.
    sfreq : float, optional
        If given, must agree with 1 / TR.
    parcellation : {"power", "dosenbach", "seitzman"}, optional
        Without a label image: sphere means around bundled MNI coordinates
        (:mod:`neurodag.io.fmri_coords`).
    radius : float, optional
        Sphere radius in mm (default 5).
    voxels : bool
        Without a label image: one channel per voxel inside the brain mask.
    """
    if modality not in (None, "fmri"):
        raise InputError(f"{path}: a 4-D NIfTI image is fMRI, not {modality!r}")
    labels_path = side.get("labels_img")
    if radius is not None and parcellation is None:
        raise ConfigError("reader option 'radius' is used only with option 'parcellation'")
    if parcellation is not None and voxels:
        raise ConfigError("reader options 'parcellation' and 'voxels' exclude each other; "
                          "choose one")
    if labels_path is not None and (parcellation is not None or voxels):
        option = "parcellation" if parcellation is not None else "voxels"
        raise InputError(f"{labels_path}: a label image was given with option {option!r}; "
                         "pass either the label image or the option")
    if labels_path is None and parcellation is None and not voxels:
        raise InputError(f"{path}: no label image for this 4-D BOLD series; pass a 3-D "
                         "integer label image (atlas) with it, or set option parcellation "
                         "(power, dosenbach, seitzman) or voxels")
    img = _load(path)
    if len(img.shape) != 4:
        raise InputError(f"{path}: expected a 4-D BOLD series, got shape {img.shape}")
    t_r = repetition_time(img, path, tr)
    if sfreq is not None and abs(float(sfreq) * t_r - 1.0) > 1e-6:
        raise InputError(f"{path}: option sfreq={sfreq} contradicts TR {t_r:g} s")
    bold = load_bold(path)
    if labels_path is not None:
        ds = _parcel_means(bold, path, labels_path, side.get("labels_tsv"), t_r)
    elif parcellation is not None:
        from .fmri_coords import spheres

        got = spheres(bold, path, parcellation, radius)
        _check_series(got["series"], got["names"], path)
        ds = schema.build(got["series"], sfreq=1.0 / t_r, channels=got["names"],
                          channel_types="bold", modality="fmri", units="a.u.",
                          region=got["region"], positions=got["positions"], source=str(path))
        if got["network"] is not None:
            ds = ds.assign_coords(network=("channel", np.asarray(got["network"], dtype=object)))
        ds.attrs.update(parcellation=parcellation, parcellation_reference=got["reference"],
                        sphere_radius_mm=float(radius if radius is not None else 5.0),
                        rois_outside_image=got["dropped"])
    else:
        from .fmri_coords import voxels as voxel_series

        got = voxel_series(bold, path, side.get("mask"))
        _check_series(got["series"], got["names"], path)
        ds = schema.build(got["series"], sfreq=1.0 / t_r, channels=got["names"],
                          channel_types="bold", modality="fmri", units="a.u.",
                          positions=got["positions"], source=str(path))
        ds.attrs["mask"] = str(side["mask"]) if side.get("mask") is not None \
            else "nilearn.masking.compute_epi_mask"
    ds.attrs["tr"] = t_r
    if side.get("confounds") is not None:
        ds = attach_confounds(ds, side["confounds"])
    return ds


def _check_series(series: np.ndarray, names, path: Path) -> None:
    bad = ~np.isfinite(series).all(axis=0)
    if bad.any():
        some = [n for n, b in zip(names, bad, strict=True) if b][:5]
        raise InputError(f"{path}: NaN or Inf in the BOLD voxels of {int(bad.sum())} "
                         f"channel(s), e.g. {some}")


def _parcel_means(img, path: Path, labels_path: Path, labels_tsv: Path | None,
                  t_r: float) -> xr.Dataset:
    orig = _load(labels_path)
    lab = _label_data(orig, labels_path)
    ids = np.unique(lab[lab != 0])
    if ids.size == 0:
        raise InputError(f"{labels_path}: label image has no labels (all voxels are 0)")
    lab_img = nib.Nifti1Image(lab.astype(np.int32), orig.affine)
    same_grid = lab.shape == img.shape[:3] and np.allclose(lab_img.affine, img.affine, atol=1e-4)
    if same_grid:
        on_bold = lab_img
    else:
        from nilearn.image import resample_to_img

        ref = nib.Nifti1Image(np.zeros(img.shape[:3], np.int8), img.affine)
        on_bold = resample_to_img(lab_img, ref, interpolation="nearest", force_resample=True,
                                  copy_header=True)
    kept = np.unique(np.asarray(on_bold.dataobj))
    kept = ids[np.isin(ids, kept)]
    if kept.size == 0:
        raise InputError(f"{labels_path}: label image does not overlap the BOLD image {path.name} "
                         "(no labelled voxel on its grid)")

    from nilearn.maskers import NiftiLabelsMasker

    masker = NiftiLabelsMasker(on_bold, strategy="mean", resampling_target=None, reports=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            series = masker.fit_transform(img)
    except (ValueError, TypeError, MemoryError) as e:
        raise InputError(f"{path}: cannot extract parcel means ({one_line(e)})") from None
    col_ids = [int(v) for k, v in masker.region_ids_.items() if k != "background"]
    order = [col_ids.index(int(i)) for i in kept]
    series = np.asarray(series)[:, order]
    bad = ~np.isfinite(series).all(axis=0)
    if bad.any():
        raise InputError(f"{path}: NaN or Inf in the BOLD voxels of label(s) "
                         f"{kept[bad][:5].tolist()}")

    space_unit = orig.header.get_xyzt_units()[0] if hasattr(orig.header, "get_xyzt_units") \
        else "mm"
    names, region = _names(kept, labels_tsv)
    ds = schema.build(
        series, sfreq=1.0 / t_r, channels=names, channel_types="bold", modality="fmri",
        units="a.u.", region=region,
        positions=centroids(lab, orig.affine, kept, space_unit),
        source=str(path),
    )
    ds.attrs["labels_img"] = str(labels_path)
    dropped = [int(i) for i in ids if i not in kept]
    if dropped:
        ds.attrs["labels_without_voxels"] = dropped
    return ds.assign_coords(label_index=("channel", kept.astype(np.int64)))
