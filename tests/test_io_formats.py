"""More readers: fMRI spheres/voxels/surfaces/ROI tables, suite2p and CaImAn, safe pickles."""

from __future__ import annotations

import os
import socket

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nibabel.freesurfer.mghformat import MGHImage
from nibabel.gifti import GiftiDataArray, GiftiImage, GiftiMetaData
from scipy.spatial import cKDTree

from neurodag import ingest, io, store
from neurodag.errors import ConfigError, InputError
from neurodag.io.fmri_coords import coordinates


def test_every_reader_keyword_is_a_documented_option():
    import inspect

    from neurodag.io import calcium, mne_raw, nifti, nwb_foreign, surface, tables

    readers = (mne_raw.read_mne, nifti.read_nifti, surface.read_surface, tables.read_table,
               calcium.read_suite2p, calcium.read_caiman, nwb_foreign.read_foreign)
    used = {name for r in readers for name, p in inspect.signature(r).parameters.items()
            if p.kind is p.KEYWORD_ONLY and name != "modality"}
    assert used == set(io.OPTIONS) - {"line_freq"}
    assert all(isinstance(v, str) and len(v) > 20 for v in io.OPTIONS.values())
    with pytest.raises(ConfigError, match="'voxel' is unknown"):
        io.read("anything.nii.gz", voxel=True)


def _bold(shape, affine, n_vol=6, tr=2.0, seed=0):
    data = np.random.default_rng(seed).normal(100, 5, (*shape, n_vol)).astype(np.float32)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((*np.abs(np.diag(affine)[:3]), tr))
    return img, data


@pytest.fixture(scope="module")
def mni_bold(tmp_path_factory):
    """A 4 mm MNI-grid BOLD covering z >= 0 only (so ventral ROIs fall outside)."""
    folder = tmp_path_factory.mktemp("mni")
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = [-90.0, -126.0, 0.0]
    img, data = _bold((46, 55, 21), affine)
    nib.save(img, folder / "bold.nii.gz")
    return folder / "bold.nii.gz", data, affine


# ----------------------------------------------------------------------------- fMRI spheres

def test_power_spheres_are_means_within_the_radius(mni_bold):
    path, data, affine = mni_bold
    ds = io.read(path, parcellation="power", radius=5)
    xyz = coordinates("power")["xyz"]
    inside = np.rint(xyz[:, 2] / 4.0) >= 0  # the grid starts at z = 0 mm
    assert ds.sizes["channel"] == inside.sum() < 264
    assert ds.attrs["rois_outside_image"] == [f"power-{i + 1:03d}" for i in np.flatnonzero(~inside)]
    ijk = np.indices(data.shape[:3]).reshape(3, -1).T
    world = nib.affines.apply_affine(affine, ijk)
    flat = data.reshape(-1, data.shape[3])
    balls = cKDTree(world).query_ball_point(xyz[inside], r=5.0)
    for k, (ball, seed) in enumerate(zip(balls, xyz[inside], strict=True)):
        near = np.rint(nib.affines.apply_affine(np.linalg.inv(affine), seed)).astype(int)
        rows = sorted(set(ball) | {int(np.ravel_multi_index(near, data.shape[:3]))})
        np.testing.assert_allclose(ds["signal"].values[:, k], flat[rows].mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.column_stack([ds[c].values for c in "xyz"]),
                               xyz[inside] / 1000.0)
    assert ds.attrs["sfreq"] == 0.5 and set(ds["channel_type"].values) == {"bold"}


@pytest.mark.parametrize("name, n, networks", [
    ("dosenbach", 160, {"cerebellum", "cingulo-opercular", "default", "fronto-parietal",
                        "occipital", "sensorimotor"}),
    ("seitzman", 300, {"Auditory", "DefaultMode", "Visual", "Salience"}),
])
def test_dosenbach_and_seitzman_carry_names_regions_networks(mni_bold, name, n, networks):
    atlas = coordinates(name)
    assert len(atlas["names"]) == len(set(atlas["names"])) == n
    assert networks <= set(atlas["network"])
    ds = io.read(mni_bold[0], parcellation=name)
    kept = [atlas["names"].index(c) for c in ds["channel"].values]
    assert ds["network"].values.tolist() == [atlas["network"][i] for i in kept]
    assert ds["region"].values.tolist() == [atlas["region"][i] for i in kept]
    assert ds.attrs["sphere_radius_mm"] == 5.0


def test_bundled_coordinates_are_read_without_the_network(monkeypatch):
    def offline(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.setattr(socket, "create_connection", offline)
    sizes = {name: len(coordinates(name)["names"]) for name in ("power", "dosenbach", "seitzman")}
    assert sizes == {"power": 264, "dosenbach": 160, "seitzman": 300}


def test_voxels_inside_a_given_mask_in_c_order(tmp_path):
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = [-9.0, -12.0, -6.0]
    img, data = _bold((6, 7, 5), affine, tr=1.5)
    nib.save(img, tmp_path / "bold.nii.gz")
    mask = np.zeros((6, 7, 5), np.uint8)
    mask[1:4, 2:5, 1:3] = 1
    mask[5, 6, 4] = 1
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "brain_mask.nii.gz")
    ds = io.read(tmp_path, voxels=True)
    ijk = np.argwhere(mask)
    assert ds["channel"].values.tolist() == [f"v{i}-{j}-{k}" for i, j, k in ijk]
    np.testing.assert_array_equal(ds["signal"].values, data[mask.astype(bool)].T)
    np.testing.assert_allclose(np.column_stack([ds[c].values for c in "xyz"]),
                               nib.affines.apply_affine(affine, ijk) / 1000.0)
    assert ds.attrs["mask"].endswith("brain_mask.nii.gz")
    assert ds.attrs["sfreq"] == pytest.approx(1 / 1.5)
    # Without option voxels the mask is not a label image: the BOLD still needs one.
    with pytest.raises(InputError, match="no label image"):
        io.read(tmp_path)


def test_voxels_without_a_mask_use_nilearns_epi_mask(tmp_path):
    from nilearn.masking import compute_epi_mask

    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    img, data = _bold((12, 12, 10), affine, seed=1)
    data[...] *= 0.01
    data[3:9, 3:9, 2:8] += 500.0  # bright "brain" in a dark background
    img = nib.Nifti1Image(data, affine, img.header)
    nib.save(img, tmp_path / "bold.nii.gz")
    ds = io.read(tmp_path / "bold.nii.gz", voxels=True)
    want = np.asarray(compute_epi_mask(img).dataobj) != 0
    assert ds["channel"].values.tolist() == [f"v{i}-{j}-{k}" for i, j, k in np.argwhere(want)]
    assert want[3:9, 3:9, 2:8].sum() == want.sum() > 50  # inside the bright block
    assert ds.attrs["mask"] == "nilearn.masking.compute_epi_mask"


@pytest.mark.parametrize("options, error, match", [
    ({"parcellation": "power", "voxels": True}, ConfigError, "exclude each other"),
    ({"radius": 4}, ConfigError, "only with option 'parcellation'"),
    ({"parcellation": "aal"}, ConfigError, "not one of"),
    ({"voxels": "yes"}, ConfigError, "true or false"),
])
def test_bad_fmri_options(mni_bold, options, error, match):
    with pytest.raises(error, match=match):
        io.read(mni_bold[0], **options)


def test_label_image_with_parcellation_is_an_error(tmp_path, mni_bold):
    path, data, affine = mni_bold
    labels = np.zeros(data.shape[:3], np.int16)
    labels[10:20, 10:20, 5:10] = 1
    nib.save(nib.Nifti1Image(labels, affine), tmp_path / "atlas.nii.gz")
    with pytest.raises(InputError, match="atlas.nii.gz: a label image was given"):
        io.read([path, tmp_path / "atlas.nii.gz"], parcellation="power")


# ----------------------------------------------------------------------------- surfaces

def _mgz(path, data, tr_ms):
    img = MGHImage(data.T[:, None, None, :].astype(np.float32), np.eye(4))
    img.header["tr"] = tr_ms
    nib.save(img, path)


def test_mgz_hemispheres_together_are_one_recording(tmp_path):
    rng = np.random.default_rng(2)
    lh, rh = rng.normal(size=(7, 12)), rng.normal(size=(7, 10))
    _mgz(tmp_path / "rest.fsa5.lh.mgz", lh, 1500.0)
    _mgz(tmp_path / "rest.fsa5.rh.mgz", rh, 1500.0)
    ds = io.read([tmp_path / "rest.fsa5.rh.mgz", tmp_path / "rest.fsa5.lh.mgz"])
    assert ds["channel"].values.tolist() == [f"lh-{v}" for v in range(12)] + \
        [f"rh-{v}" for v in range(10)]
    assert ds["region"].values.tolist() == ["lh"] * 12 + ["rh"] * 10
    np.testing.assert_allclose(ds["signal"].values, np.hstack([lh, rh]), rtol=1e-6)
    assert ds.attrs["sfreq"] == pytest.approx(1 / 1.5) and ds.attrs["modality"] == "fmri"
    assert ds.attrs["source"].endswith("lh.mgz") and \
        any(f.endswith("rh.mgz") for f in ds.attrs["source_files"])
    one = io.read(tmp_path / "rest.fsa5.rh.mgz")
    assert one.sizes["channel"] == 10 and io.infer_modality(tmp_path / "rest.fsa5.rh.mgz") == "fmri"


def test_mgz_without_tr_needs_the_option_and_hemispheres_must_match(tmp_path):
    rng = np.random.default_rng(3)
    _mgz(tmp_path / "a.lh.mgz", rng.normal(size=(5, 4)), 0.0)
    with pytest.raises(InputError, match=r"a.lh.mgz: repetition time \(TR\) missing"):
        io.read(tmp_path / "a.lh.mgz")
    assert io.read(tmp_path / "a.lh.mgz", tr=0.72).attrs["sfreq"] == pytest.approx(1 / 0.72)
    _mgz(tmp_path / "a.rh.mgz", rng.normal(size=(6, 4)), 0.0)
    with pytest.raises(InputError, match="a.rh.mgz: 6 frames"):
        io.read([tmp_path / "a.lh.mgz", tmp_path / "a.rh.mgz"], tr=0.72)


@pytest.mark.parametrize("layout, meta, tr", [
    ("frames", {"TimeStep": "1500.000000"}, 1.5),  # FreeSurfer: milliseconds
    ("matrix", {"TimeStep": "2.0"}, 2.0),  # AFNI: seconds
    ("frames", {"RepetitionTime": "0.8"}, 0.8),
])
def test_gifti_series_and_their_tr(tmp_path, layout, meta, tr):
    data = np.random.default_rng(4).normal(size=(9, 15)).astype(np.float32)  # (frames, vertices)
    if layout == "frames":
        arrays = [GiftiDataArray(row, intent="NIFTI_INTENT_TIME_SERIES",
                                 datatype="NIFTI_TYPE_FLOAT32", meta=GiftiMetaData(meta))
                  for row in data]
    else:
        arrays = [GiftiDataArray(np.ascontiguousarray(data.T), intent="NIFTI_INTENT_TIME_SERIES",
                                 datatype="NIFTI_TYPE_FLOAT32", meta=GiftiMetaData(meta))]
    path = tmp_path / "sub-01_hemi-R_bold.func.gii"
    nib.save(GiftiImage(darrays=arrays), path)
    ds = io.read(path)
    np.testing.assert_array_equal(ds["signal"].values, data)
    assert ds["channel"].values[0] == "rh-0" and ds.attrs["tr"] == pytest.approx(tr)
    assert ds.attrs["subject"] == "01"


def test_gifti_without_tr_needs_the_option(tmp_path):
    data = np.zeros((3, 5), np.float32)
    path = tmp_path / "x.func.gii"
    nib.save(GiftiImage(darrays=[GiftiDataArray(r) for r in data]), path)
    with pytest.raises(InputError, match="x.func.gii: repetition time"):
        io.read(path)
    assert io.read(path, tr=2.0).sizes["channel"] == 5


# ----------------------------------------------------------------------------- ROI tables

def test_fmri_roi_table_gets_type_roi_and_rate_from_tr(tmp_path):
    values = np.random.default_rng(5).normal(size=(40, 3))
    path = tmp_path / "fmri_timeseries.csv"
    pd.DataFrame(values, columns=["Thal-L", "Thal-R", "Cereb"]).to_csv(path, index=False)
    ds = io.read(path, modality="fmri", tr=1.89)
    assert set(ds["channel_type"].values) == {"roi"} and ds.attrs["modality"] == "fmri"
    assert ds.attrs["sfreq"] == pytest.approx(1 / 1.89) and ds.attrs["tr"] == 1.89
    np.testing.assert_array_equal(ds["signal"].values, values)
    with pytest.raises(InputError, match="tr .s. for fMRI"):
        io.read(path, modality="fmri")
    with pytest.raises(InputError, match="option tr is for fMRI"):
        io.read(path, modality="calcium", tr=1.0)


# ----------------------------------------------------------------------------- suite2p

@pytest.fixture
def plane0(tmp_path):
    rng = np.random.default_rng(6)
    folder = tmp_path / "suite2p" / "plane0"
    folder.mkdir(parents=True)
    F = rng.gamma(2.0, 100.0, (5, 200)).astype(np.float32)
    Fneu = (0.5 * F + rng.normal(0, 1, F.shape)).astype(np.float32)
    np.save(folder / "F.npy", F)
    np.save(folder / "Fneu.npy", Fneu)
    np.save(folder / "spks.npy", np.zeros_like(F))
    np.save(folder / "iscell.npy", np.array([[1, .9], [0, .2], [1, .8], [0, .4], [1, .99]]))
    np.save(folder / "ops.npy", {"fs": 30.0, "nframes": 200, "Ly": 64, "tau": np.float64(1.0),
                                 "meanImg": np.zeros((4, 4), np.float32), "save_path": str(folder),
                                 "filelist": ["a.tif"], "xrange": (0, 64), "do_bidiphase": False})
    (folder / "data.bin").write_bytes(b"\0" * 1024)  # the registered movie: not read
    return folder, F, Fneu


def test_suite2p_keeps_cells_with_their_neuropil(plane0):
    folder, F, Fneu = plane0
    ds = io.read(folder.parent)  # the suite2p folder holds one plane
    assert ds["channel"].values.tolist() == ["c000", "c002", "c004"]
    np.testing.assert_array_equal(ds["signal"].values, F[[0, 2, 4]].T)
    np.testing.assert_array_equal(ds["neuropil"].values, Fneu[[0, 2, 4]].T)
    assert ds["neuropil"].dims == ("time", "channel")
    assert ds.attrs["sfreq"] == 30.0 and ds.attrs["modality"] == "calcium"
    np.testing.assert_allclose(ds["cell_probability"].values, [.9, .8, .99])
    everything = io.read(folder, include_non_cells=True)
    assert everything.sizes["channel"] == 5 and everything["is_cell"].values.tolist() == \
        [True, False, True, False, True]
    with pytest.raises(InputError, match="contradicts ops"):
        io.read(folder, sfreq=15.0)


def test_suite2p_ingest_keeps_neuropil_and_hashes_only_files_read(plane0, tmp_path):
    folder, F, Fneu = plane0
    out = ingest.run([folder], tmp_path / "out")
    ds = store.read_signal(out["zarr"])
    np.testing.assert_array_equal(ds["neuropil"].values, Fneu[[0, 2, 4]].T)
    assert sorted(os.path.basename(f) for f in ds.attrs["inputs"]) == \
        ["F.npy", "Fneu.npy", "iscell.npy", "ops.npy"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_ops_with_a_foreign_object_is_refused_without_running_it(plane0, monkeypatch):
    folder, *_ = plane0
    monkeypatch.chdir(folder)
    np.save(folder / "ops.npy", {"fs": 30.0, "payload": _Evil()}, allow_pickle=True)
    with pytest.raises(InputError, match=r"ops.npy: refused to unpickle (posix|nt)\.system"):
        io.read(folder)
    assert not (folder / "PWNED").exists()
    np.save(folder / "ops.npy", np.array([1.0, 2.0], dtype=object))
    with pytest.raises(InputError, match="expected a dict"):
        io.read(folder)


# ----------------------------------------------------------------------------- CaImAn

def _caiman(path, *, dff=True, idx=(0, 2, 3), fr=15.0, seed=7):
    rng = np.random.default_rng(seed)
    C = rng.gamma(2.0, 1.0, (6, 100))
    with h5py.File(path, "w") as f:
        f["estimates/C"] = C
        f["estimates/F_dff"] = C / 10.0 if dff else "NoneType"
        f["estimates/idx_components"] = np.asarray(idx) if idx is not None else "NoneType"
        f["estimates/dims"] = np.array([64, 64])
        if fr is not None:
            f["params/data/fr"] = np.float64(fr)
        f["params/data/fnames"] = np.array([b"movie.tif"])
    return C


def test_caiman_prefers_f_dff_and_keeps_accepted_components(tmp_path):
    path = tmp_path / "results.hdf5"
    C = _caiman(path)
    ds = io.read(path)
    assert ds["channel"].values.tolist() == ["c000", "c002", "c003"]
    np.testing.assert_allclose(ds["signal"].values, C[[0, 2, 3]].T / 10.0)
    assert ds["signal"].attrs["units"] == "dF/F" and ds.attrs["sfreq"] == 15.0
    assert ds.attrs["caiman_variable"] == "estimates/F_dff"
    assert io.read(path, include_non_cells=True).sizes["channel"] == 6


def test_caiman_without_f_dff_idx_or_rate(tmp_path):
    path = tmp_path / "cnm.h5"
    C = _caiman(path, dff=False, idx=None, fr=None)
    with pytest.raises(InputError, match="cnm.h5: no frame rate"):
        io.read(path)
    ds = io.read(path, sfreq=20.0, units="a.u.")
    np.testing.assert_allclose(ds["signal"].values, C.T)
    assert ds.sizes["channel"] == 6 and ds["signal"].attrs["units"] == "a.u."
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(InputError, match="other.h5: not a CaImAn results file"):
        io.read(tmp_path / "other.h5")


def test_caiman_groups_that_are_datasets_are_one_line_errors(tmp_path):
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f["estimates"] = np.zeros(3)
    with pytest.raises(InputError, match="flat.h5: not a CaImAn results file"):
        io.read(tmp_path / "flat.h5")
    C = _caiman(tmp_path / "p.h5", fr=None)
    with h5py.File(tmp_path / "p.h5", "a") as f:
        del f["params"]
        f["params"] = np.zeros(2)
    with pytest.raises(InputError, match="p.h5: no frame rate"):
        io.read(tmp_path / "p.h5")
    assert io.read(tmp_path / "p.h5", sfreq=15.0).sizes["channel"] == 3 and C.shape == (6, 100)
