"""BIDS: sessions discovered from file names, recordings read through mne-bids.

The BIDS trees are written in the tests with ``mne_bids.write_raw_bids``: from real
recordings of ../shared/data/real (skipped when absent) and from a synthetic sEEG file
with electrode positions.
"""

from __future__ import annotations

import json
from pathlib import Path

import mne
import mne_bids
import numpy as np
import pandas as pd
import pytest

from neurodag import ingest, io, schema
from neurodag.errors import ConfigError, InputError
from neurodag.io import bids

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
F32 = 2.0**-23
SEEG_NAMES = ["LA1", "LA2", "LA3", "LH1", "LH2", "LH3"]
#: Contact positions in metres, ACPC ("ras") frame.
SEEG_POS = np.array([[-0.020, 0.000, -0.010], [-0.025, 0.000, -0.010], [-0.030, 0.000, -0.010],
                     [-0.020, -0.020, -0.012], [-0.025, -0.020, -0.012], [-0.030, -0.020, -0.012]])


@pytest.fixture(scope="module")
def seeg_tree(tmp_path_factory):
    """A BIDS tree with one synthetic sEEG run (BrainVision, electrodes in ACPC, events)."""
    root = tmp_path_factory.mktemp("bids_seeg")
    rng = np.random.default_rng(11)
    data = rng.normal(0, 5e-5, (6, 1500))
    raw = mne.io.RawArray(data, mne.create_info(SEEG_NAMES, 500.0, "seeg"), verbose="error")
    raw.set_annotations(mne.Annotations([0.5, 1.25], [0.0, 0.5], ["stim/a", "stim/b"]))
    fif = root.parent / f"{root.name}_src_raw.fif"
    raw.save(fif, verbose="error", overwrite=True)
    raw = mne.io.read_raw_fif(fif, verbose="error")  # write_raw_bids wants a file-backed Raw
    montage = mne.channels.make_dig_montage(dict(zip(SEEG_NAMES, SEEG_POS, strict=True)),
                                            coord_frame="ras")
    bp = mne_bids.BIDSPath(root=root, subject="03", session="01", task="rest", run="02",
                           datatype="ieeg")
    mne_bids.write_raw_bids(raw, bp, montage=montage, acpc_aligned=True, overwrite=True,
                            verbose="error")
    return root, data


@pytest.fixture(scope="module")
def real_tree(tmp_path_factory):
    """A BIDS tree from real EDF (two runs) and CTF MEG recordings."""
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is absent")
    root = tmp_path_factory.mktemp("bids_real")
    edf = mne.io.read_raw(REAL / "test.edf", verbose="error")
    for run in ("01", "02"):
        bp = mne_bids.BIDSPath(root=root, subject="01", session="02", task="rest", run=run,
                               datatype="eeg")
        mne_bids.write_raw_bids(edf, bp, overwrite=True, verbose="error")
    bp = mne_bids.BIDSPath(root=root, subject="01", session="02", task="oddball", run="01",
                           datatype="eeg")
    mne_bids.write_raw_bids(edf, bp, overwrite=True, verbose="error")
    ctf = mne.io.read_raw(REAL / "test_ctf_comp_raw.fif", verbose="error")
    bp = mne_bids.BIDSPath(root=root, subject="02", task="rest", datatype="meg")
    mne_bids.write_raw_bids(ctf, bp, overwrite=True, verbose="error")
    return root


# ----------------------------------------------------------------------------- discovery

def test_sessions_are_found_from_file_names_without_reading_data(real_tree, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("discovery must not open recordings")

    monkeypatch.setattr(mne_bids, "read_raw_bids", boom)
    monkeypatch.setattr(mne.io, "read_raw", boom)
    found = bids.sessions(real_tree, datatype="eeg")
    assert [s["id"] for s in found] == ["sub-01_ses-02_task-oddball_run-01",
                                        "sub-01_ses-02_task-rest_run-01",
                                        "sub-01_ses-02_task-rest_run-02"]
    first = found[1]
    assert (first["subject"], first["session"], first["task"], first["run"]) == \
        ("01", "02", "rest", "01")
    names = [Path(f).name for f in first["files"]]
    assert names[0] == first["id"] + "_eeg.edf" == Path(first["recording"]).name
    assert set(names[1:]) == {f"{first['id']}_{s}" for s in
                              ("eeg.json", "channels.tsv", "events.tsv", "events.json")} | {
        "participants.tsv", "sub-01_ses-02_scans.tsv"}  # metadata sidecars
    meg = bids.sessions(real_tree, datatype="meg")
    assert [(s["id"], s["session"]) for s in meg] == [("sub-02_task-rest", "01")]
    assert {Path(f).name for f in meg[0]["files"]} >= {"sub-02_coordsystem.json",
                                                       "sub-02_task-rest_channels.tsv"}


@pytest.mark.parametrize("kwargs, ids", [
    ({"task": "rest"}, ["sub-01_ses-02_task-rest_run-01", "sub-01_ses-02_task-rest_run-02"]),
    ({"runs": [2]}, ["sub-01_ses-02_task-rest_run-02"]),
    ({"runs": ["01"], "task": "rest"}, ["sub-01_ses-02_task-rest_run-01"]),
    ({"subjects": ["sub-01"], "sessions": ["02"], "task": "oddball"},
     ["sub-01_ses-02_task-oddball_run-01"]),
    ({"subjects": ["02"]}, []),
])
def test_sessions_filter_by_task_subject_session_run(real_tree, kwargs, ids):
    assert [s["id"] for s in bids.sessions(real_tree, datatype="eeg", **kwargs)] == ids


def test_ieeg_sessions_list_electrodes_and_coordsystem(seeg_tree):
    root, _ = seeg_tree
    (only,) = bids.sessions(root, datatype="ieeg")
    assert only["id"] == "sub-03_ses-01_task-rest_run-02"
    names = {Path(f).name for f in only["files"]}
    assert {"sub-03_ses-01_space-ACPC_electrodes.tsv", "sub-03_ses-01_space-ACPC_coordsystem.json",
            f"{only['id']}_ieeg.eeg", f"{only['id']}_ieeg.vmrk", f"{only['id']}_ieeg.json",
            f"{only['id']}_channels.tsv"} <= names
    assert bids.sessions(root, datatype="eeg") == []


def test_discovery_errors_are_one_line(tmp_path, seeg_tree):
    with pytest.raises(InputError, match="no dataset_description.json"):
        bids.sessions(tmp_path, datatype="eeg")
    with pytest.raises(ConfigError, match="datatype 'anat'"):
        bids.sessions(seeg_tree[0], datatype="anat")


# ----------------------------------------------------------------------------- reading

def test_real_edf_in_bids_honours_channels_tsv_and_events(real_tree):
    (sess,) = bids.sessions(real_tree, datatype="eeg", task="rest", runs=[1])
    rec = Path(sess["recording"])
    ref = mne.io.read_raw(REAL / "test.edf", verbose="error")
    ds = io.read(sess["files"])
    assert ds.attrs["reader"] == "mne_bids.read_raw_bids"
    assert (ds.attrs["subject"], ds.attrs["session"]) == ("01", "02")
    assert ds.sizes["channel"] == 139 and ds.attrs["sfreq"] == 512.0
    np.testing.assert_allclose(ds["signal"].values, ref.get_data().T, rtol=F32, atol=0)
    ev = pd.read_csv(rec.with_name(f"{sess['id']}_events.tsv"), sep="\t")
    got = schema.get_events(ds)
    np.testing.assert_allclose(got["onset"], ev["onset"], atol=1e-9)
    assert len(got) == len(ev) > 0
    # Edit channels.tsv: a channel becomes EOG and another is marked bad.
    tsv = rec.with_name(f"{sess['id']}_channels.tsv")
    table = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
    eog, bad = table["name"].iloc[0], table["name"].iloc[5]
    table.loc[0, "type"] = "EOG"
    table.loc[5, "status"] = "bad"
    table.to_csv(tsv, sep="\t", index=False)
    ds = io.read(sess["files"])
    assert ds["channel_type"].sel(channel=eog) == "eog"
    assert ds.attrs["bad_channels"] == [bad]
    assert str(tsv) in ds.attrs["source_files"]


def test_real_ctf_meg_in_bids_matches_the_direct_read(real_tree):
    (sess,) = bids.sessions(real_tree, datatype="meg")
    ds = io.read(sess["recording"])  # the file alone: sidecars are found by mne-bids
    direct = io.read(REAL / "test_ctf_comp_raw.fif")
    assert ds.attrs["modality"] == "meg"
    assert ds["channel_type"].values.tolist() == direct["channel_type"].values.tolist()
    np.testing.assert_array_equal(ds["signal"].values, direct["signal"].values)
    mag = ds["channel_type"].values == "mag"
    np.testing.assert_allclose(ds["x"].values[mag], direct["x"].values[mag], atol=1e-6)


def test_seeg_in_bids_gets_types_positions_regions_and_events(seeg_tree):
    root, data = seeg_tree
    (sess,) = bids.sessions(root, datatype="ieeg")
    tsv = next(Path(f) for f in sess["files"] if f.endswith("_electrodes.tsv"))
    table = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
    table["region"] = ["amygdala", "amygdala", "white matter", "hippocampus", "hippocampus",
                       "n/a"]
    table.to_csv(tsv, sep="\t", index=False)
    ds = io.read(sess["recording"])
    assert ds.attrs["modality"] == "seeg"  # BrainVision stores no types: channels.tsv does
    assert set(ds["channel_type"].values) == {"seeg"}
    got = np.column_stack([ds[c].values for c in "xyz"])
    np.testing.assert_allclose(got, SEEG_POS, atol=1e-9)
    assert ds["region"].values.tolist() == ["amygdala", "amygdala", "white matter",
                                            "hippocampus", "hippocampus", "unknown"]
    ev = schema.get_events(ds)
    np.testing.assert_allclose(ev["onset"], [0.5, 1.25], atol=1e-9)
    assert ev["label"].tolist() == ["stim/a", "stim/b"]
    # BrainVision from mne-bids holds float32 microvolts.
    np.testing.assert_allclose(ds["signal"].values, data.T, rtol=1e-6, atol=1e-12)


def test_bids_session_ingests_with_every_sidecar_in_its_provenance(seeg_tree, tmp_path):
    root, data = seeg_tree
    (sess,) = bids.sessions(root, datatype="ieeg")
    out = ingest.run(sess["files"], tmp_path / sess["id"])
    from neurodag import store

    ds = store.read_signal(out["zarr"])
    hashed = {str(Path(f).resolve()) for f in ds.attrs["inputs"]}
    assert hashed == {str(Path(f).resolve()) for f in sess["files"]}
    assert ds.attrs["modality"] == "seeg" and out["nwb"].is_file()
    nwb = store.read_nwb(out["nwb"])
    np.testing.assert_allclose(nwb["x"].values, SEEG_POS[:, 0], atol=1e-9)


def test_a_file_named_like_bids_outside_a_tree_is_read_by_mne(tmp_path):
    raw = mne.io.RawArray(np.zeros((2, 100)), mne.create_info(["a", "b"], 100.0, "eeg"),
                          verbose="error")
    path = tmp_path / "eeg" / "sub-01_task-x_eeg.fif"
    path.parent.mkdir()
    raw.save(path, verbose="error")
    assert bids.find_root(path) is None
    assert io.read(path).attrs["reader"] == "mne.io.read_raw_fif"
    (tmp_path / "dataset_description.json").write_text(json.dumps({"Name": "x"}))
    assert bids.find_root(path) is None  # no sub-* folder between: not a BIDS layout
