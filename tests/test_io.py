"""Readers: real recordings against MNE, synthetic files against the numbers they were made from."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import dask.array as da
import mne
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from mne_files import assert_samples_equal

from neurodag import io, schema, store
from neurodag.errors import ConfigError, InputError

F32 = 2.0**-23  # relative precision of float32 rounding (with margin)
MONTAGE = "colin27_1020" if "colin27_1020" in mne.channels.get_builtin_montages() \
    else "standard_1020"


def _raises_one_line(match_file, fn, *args, **kwargs) -> str:
    """Call ``fn`` expecting a one-line InputError that names ``match_file``."""
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    assert Path(match_file).name in msg, msg
    return msg


# ----------------------------------------------------------------------------- real recordings

REAL = [
    # file, channels, {type: count}, sfreq, modality
    ("test.edf", 139, {"eeg": 138, "stim": 1}, 512.0, "eeg"),
    ("test.bdf", 73, {"eeg": 72, "stim": 1}, 2048.0, "eeg"),
    ("test.vhdr", 32, {"eeg": 26, "misc": 6}, 1000.0, "eeg"),
    ("test_ctf_comp_raw.fif", 340, {"mag": 274, "misc": 64, "stim": 2}, 480.0, "meg"),
    ("test.sqd", 193, {"mag": 157, "misc": 35, "stim": 1}, 1000.0, "meg"),
    ("test_egi.raw", 262, {"eeg": 256, "stim": 6}, 250.0, "eeg"),
]


def _mne_raw(path: Path):
    if path.suffix == ".raw":
        return mne.io.read_raw_egi(path, verbose="error")
    return mne.io.read_raw(path, verbose="error")


@pytest.mark.parametrize("name, n_ch, counts, sfreq, modality", REAL)
def test_real_recording_matches_mne(real_data, name, n_ch, counts, sfreq, modality):
    path = real_data / name
    ds = io.read(path)
    assert ds.sizes["channel"] == n_ch
    types, n = np.unique(ds["channel_type"].values.astype(str), return_counts=True)
    assert dict(zip(types.tolist(), n.tolist(), strict=True)) == counts
    assert ds.attrs["sfreq"] == sfreq and ds.attrs["modality"] == modality
    assert ds.attrs["source"] == str(path)
    assert isinstance(ds["signal"].data, da.Array)  # lazy
    assert_samples_equal(ds["signal"].values, _mne_raw(path).get_data().T)
    assert io.infer_modality(path) == modality
    schema.validate(ds, check_values=True)


def test_ctf_reference_channels_are_misc_with_their_mne_type_and_positions(real_data):
    ds = io.read(real_data / "test_ctf_comp_raw.fif")
    ref = ds["mne_type"].values == "ref_meg"
    assert ref.sum() == 29 and set(ds["channel_type"].values[ref]) == {"misc"}
    mag = ds.sel(channel=ds["channel_type"] == "mag")
    r = np.sqrt(mag["x"] ** 2 + mag["y"] ** 2 + mag["z"] ** 2).values
    assert np.isfinite(r).all() and 0.05 < r.min() and r.max() < 0.3  # metres, inside a helmet
    assert set(mag["unit"].values) == {"T"}


def test_brainvision_markers_become_events_at_their_samples(real_data):
    ds = io.read(real_data / "test.vhdr")
    marks = re.findall(r"^Mk\d+=([^,]*),([^,]*),(\d+),", (real_data / "test.vmrk").read_text(),
                       flags=re.M)
    want = [((int(pos) - 1) / 1000.0, f"{kind}/{desc}") for kind, desc, pos in marks
            if kind != "New Segment"]
    ev = schema.get_events(ds)
    assert len(ev) == len(want) == 13
    np.testing.assert_allclose(ev["onset"], [w[0] for w in want], atol=1e-9)
    assert ev["label"].tolist() == [w[1] for w in want]


def test_real_files_in_a_folder_are_two_candidate_recordings(real_data):
    _raises_one_line("test", io.classify, real_data)


# ----------------------------------------------------------------------------- synthetic MNE

def _eeg_raw(sfreq=200.0, n=1000, first_samp=0, seed=0):
    rng = np.random.default_rng(seed)
    names = ["Fp1", "Fp2", "Cz", "Pz", "O1", "O2", "VEOG"]
    info = mne.create_info(names, sfreq, ["eeg"] * 6 + ["eog"])
    raw = mne.io.RawArray(rng.normal(0, 1e-5, (len(names), n)), info, first_samp=first_samp,
                          verbose="error")
    raw.set_montage(MONTAGE, on_missing="ignore")
    raw.info["line_freq"] = 50.0
    return raw


def test_fif_with_montage_and_annotations(tmp_path):
    raw = _eeg_raw(first_samp=300)  # first sample at 1.5 s
    raw.set_annotations(mne.Annotations([0.5, 2.25], [0.0, 0.5], ["standard", "target"],
                                        orig_time=None))  # relative to the first sample
    path = tmp_path / "rec_raw.fif"
    raw.save(path, fmt="single", verbose="error")
    ds = io.read(path)
    ev = schema.get_events(ds)
    np.testing.assert_allclose(ev["onset"], [0.5, 2.25], atol=1e-9)
    np.testing.assert_allclose(ev["duration"], [0.0, 0.5])
    assert ev["label"].tolist() == ["standard", "target"]
    assert ds.attrs["line_freq"] == 50.0 and ds.attrs["modality"] == "eeg"
    assert ds["channel_type"].sel(channel="VEOG") == "eog"
    assert set(ds["unit"].values) == {"V"} and ds["signal"].attrs["units"] == "V"
    mont = mne.channels.make_standard_montage(MONTAGE).get_positions()["ch_pos"]
    head = raw.info["chs"][0]["loc"][:3]  # montage positions in head coordinates
    np.testing.assert_allclose([ds["x"].values[0], ds["y"].values[0], ds["z"].values[0]], head)
    assert np.linalg.norm(head - mont["Fp1"]) < 0.05
    assert np.isnan(ds["x"].sel(channel="VEOG"))
    np.testing.assert_allclose(ds["signal"].values, raw.get_data().T, rtol=F32)
    assert ds["signal"].dtype == np.float32


def test_long_recording_is_read_block_by_block_and_double_files_stay_double(tmp_path):
    raw = _eeg_raw(sfreq=1000.0, n=120_000)
    path = tmp_path / "long_raw.fif"
    raw.save(path, fmt="double", verbose="error")
    ds = io.read(path)
    sig = ds["signal"].data
    assert sig.dtype == np.float64 and sig.numblocks[0] > 1 and sig.numblocks[1] == 1
    part = ds["signal"].isel(time=slice(70_000, 70_050)).values
    np.testing.assert_array_equal(part, raw.get_data(start=70_000, stop=70_050).T)
    clone = pickle.loads(pickle.dumps(sig))  # picklable for process-based schedulers
    np.testing.assert_array_equal(clone[:5].compute(), raw.get_data(stop=5).T)


def _seeg_dir(tmp_path: Path, units: str | None = "mm", scale: float = 1000.0) -> Path:
    names = ["LA1", "LA2", "LA3", "LH1", "LH2", "LH3"]
    info = mne.create_info(names, 500.0, "seeg")
    rng = np.random.default_rng(1)
    raw = mne.io.RawArray(rng.normal(0, 5e-5, (6, 500)), info, verbose="error")
    folder = tmp_path / "seeg"
    folder.mkdir()
    raw.save(folder / "recording_raw.fif", verbose="error")
    xyz_m = np.array([[-0.02, 0.0, -0.01], [-0.025, 0.0, -0.01], [-0.03, 0.0, -0.01],
                      [-0.02, -0.02, -0.01], [-0.025, -0.02, -0.01]])
    pd.DataFrame({
        "name": names[:5], "x": xyz_m[:, 0] * scale, "y": xyz_m[:, 1] * scale,
        "z": xyz_m[:, 2] * scale, "size": 5.0, "group": ["LA"] * 3 + ["LH"] * 2,
        "region": ["amygdala", "amygdala", "white matter", "hippocampus", "hippocampus"],
    }).to_csv(folder / "electrodes.tsv", sep="\t", index=False)
    if units is not None:
        (folder / "coordsystem.json").write_text(json.dumps(
            {"iEEGCoordinateSystem": "Other", "iEEGCoordinateUnits": units}))
    return folder, xyz_m


@pytest.mark.parametrize("units, scale", [("mm", 1000.0), ("cm", 100.0), ("m", 1.0),
                                          (None, 1000.0)])
def test_seeg_electrodes_give_positions_in_metres_and_regions(tmp_path, units, scale):
    folder, xyz = _seeg_dir(tmp_path, units, scale)
    for arg in (folder, folder / "recording_raw.fif"):  # folder, or file with neighbours
        ds = io.read(arg)
        assert ds.attrs["modality"] == "seeg"
        got = np.column_stack([ds[c].values for c in "xyz"])
        np.testing.assert_allclose(got[:5], xyz, atol=1e-12)
        assert np.isnan(got[5]).all()
        assert ds["region"].values.tolist() == ["amygdala", "amygdala", "white matter",
                                                "hippocampus", "hippocampus", "unknown"]
        assert str(folder / "electrodes.tsv") in ds.attrs["source_files"]


def test_electrodes_matching_no_channel_is_an_error(tmp_path):
    folder, _ = _seeg_dir(tmp_path)
    tsv = folder / "electrodes.tsv"
    df = pd.read_csv(tsv, sep="\t")
    df["name"] = ["X1", "X2", "X3", "X4", "X5"]
    df.to_csv(tsv, sep="\t", index=False)
    _raises_one_line(tsv, io.read, folder)


def _brainvision(folder: Path, names, base="rec") -> Path:
    rng = np.random.default_rng(2)
    import pybv

    pybv.write_brainvision(data=rng.normal(0, 1e-5, (len(names), 300)), sfreq=250.0,
                           ch_names=list(names), fname_base=base, folder_out=folder)
    return folder / f"{base}.vhdr"


def test_bids_channels_tsv_and_modality_retype_untyped_formats(tmp_path):
    vhdr = _brainvision(tmp_path, ["A1", "A2", "B1", "EKG"], base="sub-03_ses-04_task-x_ieeg")
    assert io.read(vhdr).attrs["modality"] == "eeg"  # BrainVision stores no channel types
    ds = io.read(vhdr, modality="ecog")
    assert ds["channel_type"].values.tolist() == ["ecog"] * 4
    assert (ds.attrs["subject"], ds.attrs["session"]) == ("03", "04")
    pd.DataFrame({"name": ["A1", "A2", "B1", "EKG"], "type": ["SEEG", "SEEG", "SEEG", "ECG"]}) \
        .to_csv(tmp_path / "sub-03_ses-04_task-x_channels.tsv", sep="\t", index=False)
    ds = io.read(vhdr)
    assert ds["channel_type"].values.tolist() == ["seeg", "seeg", "seeg", "ecg"]
    assert ds.attrs["modality"] == "seeg"
    _raises_one_line(vhdr, io.read, vhdr, modality="meg")


def test_events_tsv_replaces_annotations(tmp_path):
    raw = _eeg_raw()
    raw.set_annotations(mne.Annotations([1.0], [0.0], ["from-file"]))
    raw.save(tmp_path / "rec_raw.fif", verbose="error")
    (tmp_path / "events.tsv").write_text(
        "onset\tduration\ttrial_type\tvalue\n0.5\tn/a\tgo\t1\n2.0\t0.25\tn/a\t7\n")
    ev = schema.get_events(io.read(tmp_path))
    assert ev["onset"].tolist() == [0.5, 2.0] and ev["duration"].tolist() == [0.0, 0.25]
    assert ev["label"].tolist() == ["go", "7"]


# ----------------------------------------------------------------------------- fMRI

def _fmri_dir(tmp_path: Path, n_vol=20, fine_labels=False, tr=2.0, t_unit="sec"):
    rng = np.random.default_rng(3)
    shape = (8, 9, 7)
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    affine[:3, 3] = [-16.0, -20.0, -12.0]
    bold = (100 + rng.normal(0, 5, (*shape, n_vol))).astype(np.float32)
    labels = np.zeros(shape, np.int16)
    labels[1:4, 1:5, 1:6] = 1
    labels[4:7, 1:5, 1:6] = 2
    labels[1:7, 5:8, 2:5] = 5
    folder = tmp_path / "fmri"
    folder.mkdir()
    img = nib.Nifti1Image(bold, affine)
    img.header.set_xyzt_units("mm", t_unit)
    img.header.set_zooms((4.0, 4.0, 4.0, tr))
    nib.save(img, folder / "bold.nii.gz")
    if fine_labels:  # the same parcels on a 2 mm grid
        fine = np.repeat(np.repeat(np.repeat(labels, 2, 0), 2, 1), 2, 2)
        fa = np.diag([2.0, 2.0, 2.0, 1.0])
        fa[:3, 3] = affine[:3, 3] - 1.0
        nib.save(nib.Nifti1Image(fine, fa), folder / "atlas.nii.gz")
    else:
        nib.save(nib.Nifti1Image(labels, affine), folder / "atlas.nii.gz")
    (folder / "atlas.tsv").write_text("index\tname\n1\tleft-a\n2\tright-a\n5\tposterior\n")
    (folder / "events.tsv").write_text("onset\tduration\ttrial_type\n4\t8\tfaces\n20\t8\thouses\n")
    conf = pd.DataFrame({"trans_x": rng.normal(size=n_vol), "global_signal": bold.mean((0, 1, 2))})
    conf["framewise_displacement"] = np.r_[np.nan, np.abs(rng.normal(size=n_vol - 1))]
    conf.to_csv(folder / "confounds.tsv", sep="\t", index=False, na_rep="n/a")
    return folder, bold, labels, affine, conf


@pytest.mark.parametrize("fine_labels", [False, True])
def test_fmri_parcel_means_equal_numpy_label_means(tmp_path, fine_labels):
    folder, bold, labels, affine, conf = _fmri_dir(tmp_path, fine_labels=fine_labels)
    ds = io.read(folder)
    assert ds["channel"].values.tolist() == ["left-a", "right-a", "posterior"]
    for name, k in (("left-a", 1), ("right-a", 2), ("posterior", 5)):
        want = bold[labels == k].mean(axis=0)
        np.testing.assert_allclose(ds["signal"].sel(channel=name).values, want, rtol=1e-5)
        ijk = np.argwhere(labels == k)
        centre = (affine[:3, :3] @ ijk.mean(0) + affine[:3, 3]) / 1000.0
        got = [float(ds[c].sel(channel=name)) for c in "xyz"]
        np.testing.assert_allclose(got, centre, atol=1e-9)
    assert ds.attrs["sfreq"] == 0.5 and ds.attrs["modality"] == "fmri"
    assert set(ds["channel_type"].values) == {"bold"} and ds["signal"].attrs["units"] == "a.u."
    ev = schema.get_events(ds)
    assert ev["onset"].tolist() == [4.0, 20.0] and ev["label"].tolist() == ["faces", "houses"]
    got = ds["confounds"].to_pandas()
    assert got["framewise_displacement"].iloc[0] == 0.0
    np.testing.assert_allclose(got["framewise_displacement"].iloc[1:],
                               conf["framewise_displacement"].iloc[1:])
    np.testing.assert_allclose(got["global_signal"], conf["global_signal"], rtol=1e-6)
    assert ds["confounds"].attrs["filled_leading_nan_with_zero"] == ["framewise_displacement"]


def test_fmri_tr_in_milliseconds_and_tr_option(tmp_path):
    folder, *_ = _fmri_dir(tmp_path, tr=1500.0, t_unit="msec")
    assert io.read(folder).attrs["sfreq"] == pytest.approx(1 / 1.5)
    assert io.read(folder, tr=0.8).attrs["sfreq"] == pytest.approx(1.25)


def test_fmri_two_column_lut_without_header(tmp_path):
    folder, *_ = _fmri_dir(tmp_path)
    (folder / "atlas.tsv").unlink()
    (folder / "atlas.txt").write_text("# FreeSurfer-like\n1 Left-Thing 0 0 0 0\n5 Back 1 1 1 0\n")
    ds = io.read(folder)
    assert ds["channel"].values.tolist() == ["Left-Thing", "parcel-2", "Back"]


def test_fmri_bad_inputs(tmp_path):
    folder, *_ = _fmri_dir(tmp_path, tr=0.0)
    _raises_one_line("bold.nii.gz", io.read, folder)  # TR zero
    assert io.read(folder, tr=2.0).sizes["time"] == 20
    conf = folder / "confounds.tsv"
    pd.read_csv(conf, sep="\t").iloc[:-1].to_csv(conf, sep="\t", index=False, na_rep="n/a")
    _raises_one_line(conf, io.read, folder, tr=2.0)
    conf.unlink()
    atlas = folder / "atlas.nii.gz"
    img = nib.load(atlas)
    far = img.affine.copy()
    far[:3, 3] += 1000.0
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), far), atlas)
    _raises_one_line(atlas, io.read, folder, tr=2.0)
    atlas.unlink()
    msg = _raises_one_line("bold.nii.gz", io.read, folder, tr=2.0)
    assert "label image" in msg


# ----------------------------------------------------------------------------- tables

def test_calcium_csv_with_time_column(tmp_path):
    rng = np.random.default_rng(4)
    n = 50
    values = rng.gamma(2.0, 1.0, (n, 3))
    df = pd.DataFrame(values, columns=["AVAL", "AVAR", "ROI0007"])
    df.insert(0, "time", 10.0 + np.arange(n) / 2.5)
    path = tmp_path / "sub-07_ses-02_traces.csv"
    df.to_csv(path, index=False)
    ds = io.read(path, modality="calcium", units="dF/F")
    assert ds.attrs["sfreq"] == pytest.approx(2.5) and ds["time"].values[0] == 10.0
    np.testing.assert_allclose(ds["time"].values, df["time"].to_numpy(), atol=1e-9)
    np.testing.assert_array_equal(ds["signal"].values, values)
    assert ds["channel"].values.tolist() == ["AVAL", "AVAR", "ROI0007"]
    assert ds["signal"].attrs["units"] == "dF/F" and set(ds["channel_type"].values) == {"neuron"}
    assert (ds.attrs["subject"], ds.attrs["session"]) == ("07", "02")
    assert io.read(path, modality="calcium").attrs["subject"] == "07"
    assert io.read(path, modality="calcium")["signal"].attrs["units"] == "a.u."
    assert io.infer_modality(path) is None


def test_spike_counts_and_their_errors(tmp_path):
    counts = np.random.default_rng(5).poisson(1.5, (40, 4))
    df = pd.DataFrame(counts, columns=[f"u{i}" for i in range(4)])
    df.insert(0, "time", np.arange(40) * 0.01)
    path = tmp_path / "counts.csv"
    df.to_csv(path, index=False)
    ds = io.read(path, modality="spikes")
    np.testing.assert_array_equal(ds["signal"].values, counts)
    assert ds["signal"].attrs["units"] == "count" and ds.attrs["sfreq"] == pytest.approx(100.0)
    df = df.astype(float)
    for bad in (0.5, -1.0):
        df.loc[3, "u2"] = bad
        df.to_csv(path, index=False)
        msg = _raises_one_line(path, io.read, path, modality="spikes")
        assert "u2" in msg


def test_table_without_time_needs_sfreq_and_tsv_works(tmp_path):
    path = tmp_path / "traces.tsv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.5]}).to_csv(path, sep="\t", index=False)
    msg = _raises_one_line(path, io.read, path, modality="calcium")
    assert "sfreq" in msg
    ds = io.read(path, modality="calcium", sfreq=4.0)
    assert ds.attrs["sfreq"] == 4.0 and ds["signal"].sel(channel="b").values.tolist() == [0, 1, .5]
    msg = _raises_one_line(path, io.read, path)
    assert "modality" in msg


@pytest.mark.parametrize("text, what", [
    ("time,a,b\n0,1,2\n0.5,1,2\n0.4,1,2\n", "not increasing"),
    ("time,a,b\n0,1,2\n0.5,n/a,2\n1.0,1,2\n", "NaN"),
    ("time,a,a\n0,1,2\n0.5,1,2\n", "duplicate"),
    ("time,a,b\n0,1,2\n0.5,x,2\n", "non-numeric"),
    ("time,a,b\n0,1,2\n0.5,1,2\n3.0,1,2\n", "irregular"),
])
def test_bad_tables_fail_with_one_line(tmp_path, text, what):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert what in _raises_one_line(path, io.read, path, modality="calcium")


def test_npy_with_names_sidecar_is_lazy(tmp_path):
    arr = np.random.default_rng(6).normal(size=(30, 3)).astype(np.float32)
    np.save(tmp_path / "traces.npy", arr)
    msg = _raises_one_line("traces.npy", io.read, tmp_path, modality="calcium")
    assert "sfreq" in msg
    ds = io.read(tmp_path, modality="calcium", sfreq=3.0)
    assert ds["channel"].values.tolist() == ["n000", "n001", "n002"]
    (tmp_path / "traces_names.txt").write_text("AVAL\nAVAR\nRIML\n")
    ds = io.read(tmp_path / "traces.npy", modality="calcium", sfreq=3.0)
    assert ds["channel"].values.tolist() == ["AVAL", "AVAR", "RIML"]
    assert isinstance(ds["signal"].data, da.Array) and ds["signal"].dtype == np.float32
    np.testing.assert_array_equal(ds["signal"].values, arr)
    arr[4, 1] = np.inf
    np.save(tmp_path / "traces.npy", arr)
    assert "AVAR" in _raises_one_line("traces.npy", io.read, tmp_path, modality="calcium",
                                      sfreq=3.0)


# ----------------------------------------------------------------------------- stores

def test_zarr_store_is_read_back(tmp_path, small_eeg):
    path = store.write_signal(small_eeg, tmp_path / "raw.zarr")
    ds = io.read(path)
    np.testing.assert_array_equal(ds["signal"].values, small_eeg["signal"].values)
    assert ds.attrs["source"] == str(path) and ds.attrs["subject"] == "07"


def test_nwb_is_dispatched_to_the_nwb_reader(tmp_path, small_eeg):
    nwb = pytest.importorskip("neurodag.store.nwb")
    path = nwb.write_nwb(small_eeg, tmp_path / "raw.nwb")
    ds = io.read(path)
    np.testing.assert_array_equal(ds["signal"].values, small_eeg["signal"].values)
    assert ds.attrs["modality"] == "eeg" and ds.attrs["source"] == str(path)


# ----------------------------------------------------------------------------- discovery, errors

def test_classify_sorts_recording_and_sidecars_ignoring_hidden_truth_and_partial(tmp_path):
    folder, *_ = _fmri_dir(tmp_path)
    for junk in (".hidden.nii.gz", "truth.nc", "x.zarr.partial"):
        (folder / junk).write_text("junk")
    got = io.classify(folder)
    assert got["recording"].name == "bold.nii.gz" and got["labels_img"].name == "atlas.nii.gz"
    assert got["labels_tsv"].name == "atlas.tsv" and got["events"].name == "events.tsv"
    assert got["confounds"].name == "confounds.tsv" and got["electrodes"] is None
    _raises_one_line("atlas.nii.gz", io.classify, folder / "atlas.nii.gz")  # no recording
    shutil.copy(folder / "bold.nii.gz", folder / "bold2.nii.gz")
    _raises_one_line("bold", io.classify, folder)


def test_sidecars_next_to_a_bids_recording_are_matched_by_entities(tmp_path):
    names = ["sub-01_ses-1_task-a_run-1_eeg.vhdr", "sub-01_ses-1_task-a_run-2_eeg.vhdr",
             "sub-01_ses-1_task-a_run-1_events.tsv", "sub-01_ses-1_task-a_run-2_events.tsv",
             "sub-01_ses-1_space-CapTrak_electrodes.tsv", "sub-02_ses-1_electrodes.tsv",
             "events.tsv", "sub-01_ses-1_task-a_run-1_eeg.json"]
    for n in names:
        (tmp_path / n).write_text("x")
    got = io.classify(tmp_path / names[1])
    assert got["recording"].name == names[1]
    assert got["events"].name == names[3]  # run-2's, not run-1's nor the entity-less one
    assert got["electrodes"].name == names[4] and got["coordsystem"] is None


def test_infer_modality_from_images_and_tables(tmp_path):
    folder, *_ = _fmri_dir(tmp_path)
    assert io.infer_modality(folder / "bold.nii.gz") == "fmri"
    assert io.infer_modality(folder / "atlas.nii.gz") is None
    assert io.infer_modality(folder / "confounds.tsv") is None


def test_bad_files_fail_with_one_line_naming_them(tmp_path):
    _raises_one_line("missing.edf", io.read, tmp_path / "missing.edf")
    (tmp_path / "empty.edf").write_bytes(b"")
    _raises_one_line("empty.edf", io.read, tmp_path / "empty.edf")
    (tmp_path / "data.xyz").write_text("1 2 3")
    _raises_one_line("data.xyz", io.read, tmp_path / "data.xyz")
    (tmp_path / "garbage.edf").write_bytes(np.random.default_rng(7).bytes(4096))
    msg = _raises_one_line("garbage.edf", io.read, tmp_path / "garbage.edf")
    assert "not an EDF file (it holds binary data)" in msg
    (tmp_path / "bold.nii.gz").write_bytes(b"not an image at all")
    _raises_one_line("bold.nii.gz", io.read, tmp_path / "bold.nii.gz")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "traces.csv").write_bytes(b"")
    _raises_one_line("traces.csv", io.read, sub, modality="calcium")


def test_duplicate_channel_names_from_mne_are_an_error(tmp_path):
    vhdr = _brainvision(tmp_path, ["C3", "C4", "Cz"])
    text = vhdr.read_text()
    vhdr.write_text(text.replace("Ch2=C4,", "Ch2=C3,"))
    assert "duplicate" in _raises_one_line(vhdr, io.read, vhdr)


def test_bad_options_are_config_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n2\n")
    with pytest.raises(ConfigError, match="sfreq"):
        io.read(path, modality="calcium", sfreq=-1)
    with pytest.raises(ConfigError, match="colour"):
        io.read(path, modality="calcium", colour="red")
