"""Every MNE reader family: a real or written file ingests with MNE's own numbers.

Each case ingests one file (raw.zarr + raw.nwb, nwbinspector-checked by ingest itself)
and compares with the named ``mne.io.read_raw_*`` reading the same file: samples (to
float32 rounding), channel names, and events against MNE's annotations (onsets through
``mne.events_from_annotations``, labels and durations as MNE gives them).

Families without a file here (no writer, nothing shipped in a pinned wheel): GDF, Nihon
Kohden, eXimia, Persyst, Blackrock NSx, BCI2000, Artemis123, FIL OPM, CTF ``.ds`` folders,
4D/BTi folders (their MEG arrives here as FIF exports), Neuralynx, FieldTrip ``.mat`` and
MEF3 (pymef 1.4.8 writes sessions whose last sample its own reader crashes on).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mne
import numpy as np
import pytest
from conftest import run_ingest
from mne_files import (
    F32,
    START,
    assert_samples_equal,
    write_ant_cnt,
    write_curry8,
    write_mff,
    write_nedf,
    write_neuroscan_cnt,
)

from neurodag import config, io, schema, store
from neurodag.errors import ConfigError, InputError
from neurodag.io import mne_readers
from neurodag.store.validate import nwb_problems

NEURODAG = Path(sys.executable).with_name("neurodag")


def assert_ingest_matches_mne(path: Path, reference, out: Path, **options):
    """Ingest ``path``; its store equals ``reference`` (an MNE Raw of the same file)."""
    written = run_ingest([path], out, **options)
    ds = store.read_signal(written["zarr"])
    assert ds["channel"].values.tolist() == reference.ch_names
    got = ds["signal"].values
    assert_samples_equal(got, reference.get_data().T)
    ann = reference.annotations
    events = schema.get_events(ds)
    assert len(events) == len(ann)
    if len(ann):
        samples, ids = mne.events_from_annotations(reference, event_id=None, regexp=None,
                                                   verbose="error")
        assert len(samples) == len(ann)
        onsets = (samples[:, 0] - reference.first_samp) / reference.info["sfreq"]
        np.testing.assert_allclose(events["onset"], onsets, atol=0.5 / reference.info["sfreq"])
        np.testing.assert_allclose(events["duration"], ann.duration, atol=1e-9)
        assert events["label"].tolist() == list(ann.description)
    assert nwb_problems(written["nwb"], ds) == []
    nwb = store.read_nwb(written["nwb"])
    np.testing.assert_array_equal(nwb["signal"].values, got)
    return ds


# ----------------------------------------------------------------------------- real files

REAL = [
    ("test.edf", "read_raw_edf", {}),
    ("test.bdf", "read_raw_bdf", {}),
    ("test.vhdr", "read_raw_brainvision", {}),
    ("eeglab/test_raw.set", "read_raw_eeglab", {}),
    ("test_ctf_comp_raw.fif", "read_raw_fif", {}),  # CTF MEG
    ("test_bin_raw.fif", "read_raw_fif", {}),  # KIT MEG
    ("exported4D_linux_raw.fif", "read_raw_fif", {}),  # BTi/4D MEG
    ("test.sqd", "read_raw_kit", {}),
    ("test_egi.raw", "read_raw_egi", {}),
    ("test_nicolet_raw.data", "read_raw_nicolet", {"ch_type": "eeg"}),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, reader, defaults", REAL, ids=[r[0] for r in REAL])
def test_real_file_ingests_as_mne_reads_it(real_data, tmp_path, name, reader, defaults):
    path = real_data / name
    assert mne_readers.choose(path).name == reader
    reference = getattr(mne.io, reader)(path, **defaults, verbose="error")
    locs = sorted(path.parent.glob("*.locs"))
    if locs:  # the EEGLAB channel locations beside the .set name its channels in order
        mont = mne.channels.read_custom_montage(locs[0])
        reference.rename_channels(dict(zip(reference.ch_names, mont.ch_names, strict=True)))
    ds = assert_ingest_matches_mne(path, reference, tmp_path / "out")
    assert ds.attrs["reader"] == f"mne.io.{reader}"


@pytest.mark.parametrize("name, parts", [
    ("eeglab/test_raw.set", {"eeglab/test_raw.set", "eeglab/test_raw.fdt"}),
    ("test.vhdr", {"test.vhdr", "test.eeg", "test.vmrk"}),
    ("test_nicolet_raw.data", {"test_nicolet_raw.data", "test_nicolet_raw.head"})])
def test_provenance_names_every_part_as_the_recording_was_named(real_data, tmp_path,
                                                                monkeypatch, name, parts):
    # MNE hands back resolved names of the data parts it read; a recording named relatively
    # gets its parts named relatively too (each once, hashed)
    monkeypatch.chdir(real_data)
    ds = store.read_signal(run_ingest([Path(name)], tmp_path / "out")["zarr"])
    inputs = ds.attrs["inputs"]
    assert parts <= set(inputs) and not any(Path(f).is_absolute() for f in inputs)
    assert len({Path(f).resolve() for f in inputs}) == len(inputs)


# ----------------------------------------------------------------------------- written files

def _raw_with_annotations(sfreq=250.0, n=2500, seed=0):
    rng = np.random.default_rng(seed)
    names = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]
    raw = mne.io.RawArray(rng.normal(0, 2e-5, (len(names), n)),
                          mne.create_info(names, sfreq, "eeg"), verbose="error")
    raw.set_meas_date(START)
    raw.set_annotations(mne.Annotations([1.0, 2.5, 7.0], [0.0, 0.5, 1.0],
                                        ["stim", "resp", "BAD_move"], orig_time=START))
    return raw


@pytest.mark.parametrize("fmt, suffix, reader", [
    ("edf", ".edf", "read_raw_edf"),
    ("brainvision", ".vhdr", "read_raw_brainvision"),
    ("eeglab", ".set", "read_raw_eeglab"),
])
def test_mne_exported_files_ingest_as_mne_reads_them(tmp_path, fmt, suffix, reader):
    path = tmp_path / f"rec{suffix}"
    mne.export.export_raw(path, _raw_with_annotations(), fmt=fmt, verbose="error")
    reference = getattr(mne.io, reader)(path, verbose="error")
    assert len(reference.annotations) == 3
    assert_ingest_matches_mne(path, reference, tmp_path / "out")


def test_fif_with_first_samp_ingests_as_mne_reads_it(tmp_path):
    raw = _raw_with_annotations()
    raw = mne.io.RawArray(raw.get_data(), raw.info, first_samp=1234, verbose="error")
    raw.set_annotations(mne.Annotations([6.0, 9.5], [0.0, 0.2], ["a", "b"], orig_time=START))
    path = tmp_path / "rec_raw.fif"
    raw.save(path, verbose="error")
    reference = mne.io.read_raw_fif(path, verbose="error")
    ds = assert_ingest_matches_mne(path, reference, tmp_path / "out")
    assert schema.get_events(ds)["onset"].tolist() == pytest.approx([6.0 - 1234 / 250, 9.5 - 1234 / 250])


def test_egi_mff_folder_written_by_mffpy(tmp_path):
    data = np.random.default_rng(1).normal(0, 10, (257, 500)).astype(np.float32)
    path = write_mff(tmp_path / "rec.mff", data, 250, [(0.5, "stm1"), (1.25, "rsp1")], START)
    assert mne_readers.choose(path).name == "read_raw_egi"
    reference = mne.io.read_raw_egi(path, verbose="error")
    ds = assert_ingest_matches_mne(path, reference, tmp_path / "out")
    assert schema.get_events(ds)["label"].tolist() == ["stm1", "rsp1"]
    np.testing.assert_allclose(ds["signal"].values[:, :257], data.T * 1e-6, rtol=1e-6)
    # the folder given as the only input is one recording, not a folder to expand
    assert io.classify(path)["recording"] == path


def test_ant_neuro_cnt_written_by_libeep(tmp_path):
    names = ["Fp1", "Fz", "Cz", "Pz", "Oz"]
    data = np.random.default_rng(2).normal(0, 10, (1500, len(names))).astype(np.float32)
    path = write_ant_cnt(tmp_path / "rec.cnt", data, names, 500, [(100, "1"), (900, "target")],
                         START)
    assert mne_readers.choose(path).name == "read_raw_ant"
    reference = mne.io.read_raw_ant(path, verbose="error")
    ds = assert_ingest_matches_mne(path, reference, tmp_path / "out")
    assert schema.get_events(ds)["onset"].tolist() == pytest.approx([0.2, 1.8])
    np.testing.assert_allclose(ds["signal"].values, data * 1e-6, atol=1e-8)  # libeep packs


@pytest.fixture
def neuroscan_cnt(tmp_path):
    """A Neuroscan CNT whose header says 0 samples: MNE needs data_format='int16'."""
    names = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]
    counts = np.random.default_rng(3).integers(-3000, 3000, (2000, len(names)), dtype=np.int16)
    path = write_neuroscan_cnt(tmp_path / "rec.cnt", counts, names, 500, [(250, 3), (1200, 7)],
                               header_samples=0)
    return path, counts


def test_neuroscan_cnt_with_zero_samples_needs_and_takes_data_format(neuroscan_cnt, tmp_path):
    path, counts = neuroscan_cnt
    assert mne_readers.choose(path).name == "read_raw_cnt"
    with pytest.raises(InputError) as info:
        io.read(path)
    assert "\n" not in str(info.value) and "data_format" in str(info.value)
    reference = mne.io.read_raw_cnt(path, data_format="int16", verbose="error")
    ds = assert_ingest_matches_mne(path, reference, tmp_path / "out",
                                   reader={"data_format": "int16"})
    np.testing.assert_allclose(ds["signal"].values, counts * 1e-6, rtol=1e-6)
    assert schema.get_events(ds)["label"].tolist() == ["3", "7"]
    assert ds.attrs["reader"] == "mne.io.read_raw_cnt(data_format='int16')"


def test_nedf_file(tmp_path):
    names = ["Fp1", "Fp2", "Cz", "Pz"]
    rng = np.random.default_rng(4)
    counts = rng.integers(-(2**22), 2**22, (1003, len(names)))  # 1003: a last partial block
    triggers = np.zeros(1003, np.int32)
    triggers[[100, 600]] = [5, 9]
    path = write_nedf(tmp_path / "rec.nedf", counts, names, 500, triggers, 1_600_000_000_000)
    assert mne_readers.choose(path).name == "read_raw_nedf"
    reference = mne.io.read_raw_nedf(path, verbose="error")
    ds = assert_ingest_matches_mne(path, reference, tmp_path / "out")
    np.testing.assert_allclose(ds["signal"].values[:, :4], counts * 2.4 / (6.0 * 8388607),
                               rtol=1e-6)
    assert ds.sel(channel="STI 014")["signal"].values[[100, 600]].tolist() == [5, 9]


def test_curry8_cdt_file(tmp_path):
    names = ["Fp1", "Fp2", "O1", "O2"]
    data = np.random.default_rng(5).normal(0, 20, (2000, len(names))).astype(np.float32)
    path = write_curry8(tmp_path / "rec.cdt", data, names, 500.0,
                        [(100, 1, "stim"), (700, 2, "resp")], START)
    assert mne_readers.choose(path).name == "read_raw_curry"
    reference = mne.io.read_raw_curry(path, verbose="error")
    ds = assert_ingest_matches_mne(path, reference, tmp_path / "out")
    np.testing.assert_allclose(ds["signal"].values, data * 1e-6, rtol=1e-6)
    assert schema.get_events(ds)["label"].tolist() == ["stim", "resp"]
    # the .dpa/.cef parts are not recordings of their own when the folder is given
    assert io.classify(tmp_path)["recording"] == path


# ----------------------------------------------------------------------------- dispatch

def test_readers_are_chosen_by_content_and_neighbours(tmp_path):
    (tmp_path / "a.dat").write_bytes(b"HeaderLen= 100 SourceCh= 2")
    (tmp_path / "b.dat").write_bytes(b"\0" * 16)
    (tmp_path / "b.dap").write_text("x")
    (tmp_path / "c.lay").write_text("[FileInfo]")
    (tmp_path / "c.dat").write_bytes(b"\0" * 16)
    (tmp_path / "d.bin").write_bytes(b"\0" * 16)
    (tmp_path / "d.txt").write_text("header")
    (tmp_path / "e.bin").write_bytes(b"\0" * 16)
    (tmp_path / "f.ns5").write_bytes(b"\0" * 16)
    picks = {n: mne_readers.choose(tmp_path / n).name
             for n in ("a.dat", "b.dat", "c.dat", "d.bin", "e.bin", "f.ns5")}
    assert picks == {"a.dat": "read_raw_bci2k", "b.dat": "read_raw_curry",
                     "c.dat": "read_raw_persyst", "d.bin": "read_raw_artemis123",
                     "e.bin": "read_raw", "f.ns5": "read_raw_nsx"}
    assert mne_readers.choose(tmp_path / "c.dat").fname == tmp_path / "c.lay"
    with pytest.raises(ConfigError, match="cannot tell which MNE reader opens e.bin"):
        mne_readers.check_options(mne_readers.choose(tmp_path / "e.bin"), {"x": 1}, "here")
    neuralynx = tmp_path / "nlx"
    neuralynx.mkdir()
    (neuralynx / "CSC1.ncs").write_bytes(b"\0" * 16)
    assert mne_readers.choose(neuralynx).name == "read_raw_neuralynx"
    assert io.classify(neuralynx)["recording"] == neuralynx
    bti = tmp_path / "bti"
    bti.mkdir()
    for name in ("c,rfDC", "config", "hs_file"):
        (bti / name).write_bytes(b"\0" * 16)
    choice = mne_readers.choose(bti)
    assert choice.name == "read_raw_bti" and choice.fname == bti / "c,rfDC"
    assert choice.defaults == {"config_fname": str(bti / "config"),
                               "head_shape_fname": str(bti / "hs_file")}


def test_brainvision_binary_given_alone_names_its_header(real_data, tmp_path):
    with pytest.raises(InputError, match="binary part of a BrainVision recording; give its "
                                         "header test.vhdr"):
        mne_readers.choose(real_data / "test.eeg")


# ----------------------------------------------------------------------------- reader options

def test_a_mistyped_reader_option_is_one_line_with_a_suggestion(neuroscan_cnt):
    path, _ = neuroscan_cnt
    with pytest.raises(ConfigError) as info:
        io.read(path, reader={"data_fromat": "int16"})
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    assert "mne.io.read_raw_cnt" in msg and "unknown option 'data_fromat'; did you mean " \
        "'data_format'?" in msg
    with pytest.raises(ConfigError, match="'preload'"):
        io.read(path, reader={"preload": True})  # neurodag reads lazily itself
    with pytest.raises(ConfigError, match="expected a mapping"):
        io.read(path, reader="int16")


def test_reader_options_are_only_for_mne_files(tmp_path):
    table = tmp_path / "traces.csv"
    table.write_text("time,a\n0,1\n0.1,2\n")
    with pytest.raises(ConfigError, match="'reader' is for recordings MNE reads"):
        io.read(table, modality="calcium", reader={"x": 1})


def test_a_bad_reader_value_names_the_options(neuroscan_cnt):
    path, _ = neuroscan_cnt
    with pytest.raises(InputError) as info:
        io.read(path, reader={"data_format": "int8"})
    msg = str(info.value)
    assert "\n" not in msg and "with reader options {'data_format': 'int8'}" in msg


def test_cli_set_reader_option(neuroscan_cnt, tmp_path):
    path, counts = neuroscan_cnt
    res = subprocess.run([str(NEURODAG), "ingest", str(path), "--out", str(tmp_path / "o"),
                          "--modality", "eeg", "--set", "reader.data_format=int16"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    np.testing.assert_allclose(store.read_signal(tmp_path / "o" / "raw.zarr")["signal"].values,
                               counts * 1e-6, rtol=1e-6)
    res = subprocess.run([str(NEURODAG), "ingest", str(path), "--out", str(tmp_path / "p"),
                          "--set", "reader.data_fromat=int16"], capture_output=True, text=True)
    assert res.returncode == 2 and not (tmp_path / "p" / "raw.nwb").exists()
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "did you mean 'data_format'?" in lines[0]


def _config(files: str, reader: dict) -> dict:
    return {"datasets": {"scan": {"modality": "eeg", "source": {"files": files},
                                  "ingest": {"reader": reader}}}}


def test_config_checks_reader_options_before_any_job(neuroscan_cnt):
    path, _ = neuroscan_cnt
    cfg = config.check(_config(str(path), {"data_format": "int16"}))
    assert cfg["datasets"]["scan"]["ingest"]["reader"] == {"data_format": "int16"}
    with pytest.raises(ConfigError) as info:
        config.check(_config(str(path), {"data_fromat": "int16"}))
    msg = str(info.value)
    assert msg.startswith("config: datasets.scan.ingest.reader (keywords of "
                          "mne.io.read_raw_cnt): unknown option 'data_fromat'; did you mean "
                          "'data_format'?") and "\n" not in msg
    with pytest.raises(ConfigError, match="datasets.scan.ingest.reader: expected object"):
        config.check(_config(str(path), "int16"))
    folder = path.parent / "session"  # a folder session: its recording is checked
    folder.mkdir()
    (folder / path.name).write_bytes(path.read_bytes())
    with pytest.raises(ConfigError, match="did you mean 'data_format'"):
        config.check(_config(str(folder), {"data_fromat": "int16"}))
    table = path.parent / "traces.csv"
    table.write_text("time,a\n0,1\n0.1,2\n")
    with pytest.raises(ConfigError, match="ingest.reader: .*traces.csv: not read by MNE"):
        config.check(_config(str(table), {"x": 1}))
    digest = config.dataset_digest(cfg, "scan")
    other = config.check(_config(str(path), {"data_format": "int32"}))
    assert config.dataset_digest(other, "scan") != digest  # reader options re-run ingest


def test_reader_options_reach_mne_bids(tmp_path):
    """Inside a BIDS tree the options go to mne-bids' call of the MNE reader."""
    folder = tmp_path / "bids" / "sub-01" / "eeg"
    folder.mkdir(parents=True)
    (tmp_path / "bids" / "dataset_description.json").write_text(
        json.dumps({"Name": "x", "BIDSVersion": "1.9.0"}))
    path = folder / "sub-01_task-rest_eeg.vhdr"
    mne.export.export_raw(path, _raw_with_annotations(), fmt="brainvision", verbose="error")
    (folder / "sub-01_task-rest_eeg.json").write_text(json.dumps(
        {"TaskName": "rest", "SamplingFrequency": 250, "PowerLineFrequency": 50,
         "EEGReference": "n/a", "SoftwareFilters": "n/a"}))
    plain = io.read(path)
    scaled = io.read(path, reader={"scale": 2.0})
    assert scaled.attrs["reader"] == "mne_bids.read_raw_bids(scale=2.0)"
    np.testing.assert_allclose(scaled["signal"].values, 2 * plain["signal"].values, rtol=F32)
    with pytest.raises(ConfigError, match="did you mean 'scale'"):
        io.read(path, reader={"scael": 2.0})


def test_a_reader_assert_without_message_says_where_it_failed(real_data, tmp_path):
    # MNE's BrainVision reader checks the amplifier table with a bare assert: the one line
    # names the file and the reader's line that failed, not "AssertionError: AssertionError"
    for ext in (".vhdr", ".vmrk", ".eeg"):
        (tmp_path / f"test{ext}").write_bytes((real_data / f"test{ext}").read_bytes())
    lines = (tmp_path / "test.vhdr").read_text(encoding="latin-1").splitlines(keepends=True)
    row = next(i for i, x in enumerate(lines) if x.split()[:2] == ["4", "F4"])
    (tmp_path / "test.vhdr").write_text("".join(lines[:row] + lines[row + 1:]),
                                        encoding="latin-1")
    with pytest.raises(InputError) as err:
        run_ingest([tmp_path / "test.vhdr"], tmp_path / "out")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "test.vhdr") in msg
    assert "brainvision.py:" in msg and "assert " in msg
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
