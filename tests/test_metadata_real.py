"""Metadata of the real recordings in ../shared as a first-time user meets it: what the
archive says must be what the file (or its BIDS sidecars) states, never a placeholder."""

from __future__ import annotations

import datetime as dt

import mne
import numpy as np
import pytest

from neurodag import io, metadata

UTC = dt.UTC


def _bids(real_data, tmp_path, name, datatype):
    """``name`` written into a BIDS tree by mne-bids (scans.tsv gets its acq_time)."""
    import mne_bids

    raw = mne.io.read_raw(real_data / name, preload=False, verbose="error")
    bp = mne_bids.BIDSPath(subject="01", session="01", task="rest", datatype=datatype,
                           root=tmp_path / "bids")
    mne_bids.write_raw_bids(raw, bp, verbose="error")
    return bp.fpath


@pytest.mark.parametrize(("name", "datatype"), [("test.sqd", "meg"), ("test.vhdr", "eeg")])
def test_bids_recording_gets_no_anonymization_placeholders(real_data, tmp_path, name,
                                                           datatype):
    # mne-bids anonymizes the info it returns when scans.tsv gives an acq_time: experimenter
    # "mne_anonymize", description "Anonymized using a time shift ...". Neither file says so.
    with io.read(_bids(real_data, tmp_path, name, datatype)) as ds:
        a = dict(ds.attrs)
    assert "experimenter" not in a, a.get("experimenter")
    assert "session_description" not in a, a.get("session_description")
    header = mne.io.read_raw(real_data / name, preload=False, verbose="error").info
    assert dt.datetime.fromisoformat(a["session_start_time"]) == header["meas_date"]
    assert a["metadata_sources"]["session_start_time"] == "BIDS scans.tsv acq_time"


def test_ctf_start_at_the_unix_epoch_is_no_statement(real_data, tmp_path):
    # The CTF file's meas_date is 1970-01-01T00:00:00.000104 (anonymized): the placeholder
    # of an unknown start, not the day it was recorded; nor is scans.tsv's copy of it.
    header = mne.io.read_raw(real_data / "test_ctf_comp_raw.fif", verbose="error").info
    assert header["meas_date"].date() == dt.date(1970, 1, 1)
    for path in (real_data / "test_ctf_comp_raw.fif",
                 _bids(real_data, tmp_path, "test_ctf_comp_raw.fif", "meg")):
        with io.read(path) as ds:
            a = dict(ds.attrs)
        assert "session_start_time" not in a, (path, a.get("session_start_time"))
        assert any("Unix epoch" in n for n in a["metadata_notes"]), a.get("metadata_notes")
        assert metadata.finalize(a)["start_time_source"] == "unknown"


@pytest.mark.parametrize(("name", "parts"), [
    ("test.edf", []), ("test.bdf", []), ("test.sqd", []),
    ("test.vhdr", ["test.eeg", "test.vmrk"]),
    ("test_nicolet_raw.data", ["test_nicolet_raw.head"]),
    ("eeglab/test_raw.set", ["eeglab/test_raw.fdt", "eeglab/test_chans.locs"]),
])
def test_provenance_lists_only_the_files_the_recording_is_made_of(real_data, name, parts):
    # test.edf, test.bdf and test.sqd share the stem of the BrainVision test.eeg/test.vmrk
    # beside them; those are no part of them and must not be hashed as their inputs.
    with io.read(real_data / name) as ds:
        files = sorted(ds.attrs["source_files"])
    assert files == sorted(str(real_data / p) for p in [name, *parts])


def test_each_eeglab_recording_takes_the_location_file_of_its_own_name(real_data, tmp_path):
    # runA.set + runA.locs and runB.set + runB.locs in one folder: each .locs is its
    # recording's montage (same name), not an ambiguity that leaves both without one.
    import shutil

    src = real_data / "eeglab"
    for run in ("runA", "runB"):
        shutil.copy(src / "test_raw.set", tmp_path / f"{run}.set")
        shutil.copy(src / "test_raw.fdt", tmp_path / f"{run}.fdt")
        shutil.copy(src / "test_chans.locs", tmp_path / f"{run}.locs")
    for run in ("runA", "runB"):
        with io.read(tmp_path / f"{run}.set") as ds:
            assert list(ds["channel"].values[:3]) == ["FPz", "EOG1", "F3"]
            assert str(tmp_path / f"{run}.locs") in ds.attrs["source_files"]


def test_files_without_bids_names_are_distinct_sessions(real_data, tmp_path):
    # runA.set and runB.set were both archived as session "01" (NWB session_id), so tRSA
    # refused them: "2 datasets but only 1 distinct subject/session pairs".
    import shutil

    from neurodag import config

    for run in ("runA", "runB"):
        shutil.copy(real_data / "eeglab" / "test_raw.set", tmp_path / f"{run}.set")
        shutil.copy(real_data / "eeglab" / "test_raw.fdt", tmp_path / f"{run}.fdt")
    cfg = config.check({"datasets": {"two": {"modality": "eeg", "source": {
        "files": str(tmp_path / "run*.set")}}}})
    found = config.sessions(cfg, "two")
    assert {sid: s.session for sid, s in found.items()} == {"runA": "runA", "runB": "runB"}
    with io.read(tmp_path / "runB.set") as ds:  # the command line's default alike
        assert ds.attrs["session"] == "runB"


def test_a_subfolder_beside_the_recording_does_not_hide_its_location_file(real_data, tmp_path):
    # A folder next to the .set (outputs, derivatives) was counted as a second recording,
    # so the unnamed test_chans.locs no longer belonged to it: channels stayed 'EEG 000'.
    import shutil

    for part in ("test_raw.set", "test_raw.fdt", "test_chans.locs"):
        shutil.copy(real_data / "eeglab" / part, tmp_path / part)
    (tmp_path / "derivatives").mkdir()
    with io.read(tmp_path / "test_raw.set") as ds:
        assert list(ds["channel"].values[:3]) == ["FPz", "EOG1", "F3"]


def test_nwb_electrode_coordinates_follow_the_nwb_axes(real_data, tmp_path):
    # NWB's electrodes table: micrometres, +x posterior, +y inferior, +z right. The
    # contract's positions are MNE's head frame (m; +x right, +y anterior, +z up): F3 of
    # the EEGLAB tutorial (left, anterior, up) was written as x=-53.9 mm ("anterior").
    import h5py
    from conftest import run_ingest

    from neurodag import store

    out = run_ingest([real_data / "eeglab" / "test_raw.set"], tmp_path / "s")
    ds = store.read_signal(out["zarr"])
    f3 = ds.sel(channel="F3")
    right, anterior, up = (float(f3[c]) for c in ("x", "y", "z"))
    assert right < 0 < anterior and up > 0  # F3: left, front, top of the head
    with h5py.File(out["nwb"], "r") as f:
        el = f["general/extracellular_ephys/electrodes"]
        row = [v.decode() for v in el["channel_name"][:]].index("F3")
        xyz = [float(el[c][row]) for c in ("x", "y", "z")]
    np.testing.assert_allclose(xyz, [-anterior * 1e6, -up * 1e6, right * 1e6], rtol=1e-6)
    with store.read_nwb(out["nwb"]) as back:  # and back to the contract's frame
        np.testing.assert_allclose([float(back.sel(channel="F3")[c]) for c in "xyz"],
                                   [right, anterior, up], rtol=1e-6)
