"""Metadata from the source, never invented: header, BIDS, config; NWB, attrs, validate."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import h5py
import mne
import numpy as np
import pytest

from neurodag import config, ingest, io, metadata, store
from neurodag.errors import ConfigError, InputError

UTC = dt.UTC
HUMAN = {"species": "Homo sapiens", "sex": "U", "age": "P0D/"}


def _nwb(path) -> dict:
    """What the NWB file says: start time, subject fields, devices (name -> description)."""
    with h5py.File(path, "r") as f:
        def text(key):
            if key not in f:
                return None
            v = f[key][()]
            return v.decode() if isinstance(v, bytes) else str(v)
        subject = {k: text(f"general/subject/{k}") for k in
                   ("subject_id", "species", "sex", "age", "date_of_birth", "description")}
        devices = {k: g.attrs.get("description") for k, g in f.get("general/devices", {}).items()
                   if g.attrs.get("neurodata_type") == "Device"}
        models = {k: g.attrs["manufacturer"] for k, g in f.get("general/devices/models", {}).items()}
        return {"start": dt.datetime.fromisoformat(text("session_start_time")),
                "subject": subject, "devices": devices, "models": models,
                "institution": text("general/institution"),
                "experimenter": [v.decode() for v in f["general/experimenter"][:]]
                if "general/experimenter" in f else None}


def _synthetic_edf(path, **subject):
    """An EDF written by MNE's own exporter, with a date and the patient fields given."""
    info = mne.create_info(["Fz", "Cz", "Pz", "Oz"], 256.0, "eeg")
    rng = np.random.default_rng(0)
    raw = mne.io.RawArray(rng.normal(0, 1e-5, (4, 256 * 4)), info, verbose="error")
    raw.set_meas_date(dt.datetime(2021, 6, 7, 8, 9, 10, tzinfo=UTC))
    if subject:
        raw.info["subject_info"] = subject
    mne.export.export_raw(path, raw, overwrite=True, verbose="error")
    return path


# ---------------------------------------------------------------------------- real headers


@pytest.mark.parametrize("name", ["test.edf", "test.sqd"])
def test_real_recording_date_lands_exactly_in_session_start_time(real_data, tmp_path, name):
    path = real_data / name
    want = mne.io.read_raw(path, preload=False, verbose="error").info["meas_date"]
    literal = {"test.edf": dt.datetime(2014, 4, 29, 22, 19, 44, tzinfo=UTC),
               "test.sqd": dt.datetime(2012, 5, 31, 18, 7, 13, tzinfo=UTC)}[name]
    assert want == literal  # what MNE itself reads from the header
    out = ingest.run([path], tmp_path / "s", config_digest="x")
    assert _nwb(out["nwb"])["start"] == want
    zarr = store.read_signal(out["zarr"])
    assert dt.datetime.fromisoformat(zarr.attrs["session_start_time"]) == want
    assert zarr.attrs["start_time_source"] == "meas_date"
    with store.read_nwb(out["nwb"]) as back:
        assert back.attrs["session_start_time"] == zarr.attrs["session_start_time"]
    assert f"started {want.isoformat()} (meas_date)" in ingest.validate_path(out["nwb"])


def test_real_edf_gets_no_subject_nobody_stated(real_data, tmp_path):
    # Its header's patient and recording fields are all "X" (EDF+ for unknown).
    out = ingest.run([real_data / "test.edf"], tmp_path / "s", config_digest="x")
    nwb = _nwb(out["nwb"])
    assert {k: v for k, v in nwb["subject"].items() if v is not None} == {"subject_id": "01"}
    assert nwb["devices"] == {"eeg system": "eeg acquisition system"}  # generic, no maker
    report = json.loads(out["dandi"].read_text())
    assert report["metadata_missing"] == ["species", "sex", "age"]
    assert not report["clean"]
    critical = {r["check"] for r in report["findings"] if r["severity"] == "CRITICAL"}
    assert {"check_subject_sex", "check_subject_age"} <= critical


def test_real_kit_system_becomes_a_device_with_its_model(real_data, tmp_path):
    out = ingest.run([real_data / "test.sqd"], tmp_path / "s", config_digest="x")
    ds = store.read_signal(out["zarr"])
    assert ds.attrs["devices"] == [{"name": "NYU 160ch System since Jan24 2009",
                                    "model": "EQ1160C",
                                    "description": "KIT MEG system id 34, SQD format V2R004"}]
    assert ds.attrs["metadata_sources"]["devices"] == "KIT system"
    desc = _nwb(out["nwb"])["devices"]["NYU 160ch System since Jan24 2009"]
    assert desc == "KIT MEG system id 34, SQD format V2R004; model EQ1160C"


def test_edf_patient_fields_written_by_mne_are_read_back(tmp_path):
    path = _synthetic_edf(tmp_path / "rec.edf", sex=2, birthday=dt.date(1990, 5, 1),
                          his_id="P007")
    ds = io.read(path)
    assert (ds.attrs["sex"], ds.attrs["date_of_birth"], ds.attrs["source_subject_id"]) == \
        ("F", "1990-05-01", "P007")
    assert ds.attrs["session_start_time"] == "2021-06-07T08:09:10+00:00"
    assert {ds.attrs["metadata_sources"][k] for k in ("sex", "date_of_birth")} == {"subject_info"}
    out = ingest.write(ds, tmp_path / "s")
    nwb = _nwb(out["nwb"])
    assert (nwb["subject"]["sex"], nwb["subject"]["date_of_birth"][:10]) == ("F", "1990-05-01")
    assert nwb["subject"]["species"] is None  # an EDF does not say which species


def test_unknown_sex_in_a_header_is_not_a_statement(tmp_path):
    ds = io.read(_synthetic_edf(tmp_path / "rec.edf", sex=0))
    assert "sex" not in ds.attrs


# ---------------------------------------------------------------------------- NWB files


def _foreign_nwb(path, start, **subject):
    """An NWB file of another tool (pynwb's mock helpers): one Units table, the subject given."""
    from pynwb import NWBHDF5IO
    from pynwb.file import Subject
    from pynwb.testing.mock.ecephys import mock_Units
    from pynwb.testing.mock.file import mock_NWBFile

    f = mock_NWBFile(session_start_time=start, subject=Subject(subject_id="m1", **subject))
    mock_Units(num_units=3, nwbfile=f)  # added to the file as its units
    with NWBHDF5IO(str(path), "w") as w:
        w.write(f)
    return path


def test_nwb_source_metadata_goes_through_the_same_checks(tmp_path):
    start = dt.datetime(2019, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    path = _foreign_nwb(tmp_path / "lab.nwb", start, species="mouse", sex="male",
                        age="90 days", strain="C57BL/6J")
    with io.read(path) as ds:
        a = dict(ds.attrs)
    assert a["session_start_time"] == "2019-02-03T04:05:06+02:00"
    assert a["strain"] == "C57BL/6J"
    for key in ("species", "sex", "age"):  # stated, but not in a form NWB/DANDI takes
        assert key not in a
        assert any(n.startswith(f"{key}: nwb:/general/subject/{key} gives ") and
                   n.endswith(")") and "; not used (" in n for n in a["metadata_notes"])
    out = ingest.write(io.read(path), tmp_path / "s", metadata={"species": "Mus musculus"})
    back = store.read_signal(out["zarr"]).attrs
    assert back["species"] == "Mus musculus" and back["metadata_sources"]["species"] == "config"
    assert back["metadata_missing"] == ["sex", "age"]
    assert _nwb(out["nwb"])["start"] == start


def test_nwb_source_epoch_start_is_the_placeholder_of_an_unknown_start(tmp_path):
    path = _foreign_nwb(tmp_path / "old.nwb", dt.datetime(1970, 1, 1, tzinfo=UTC),
                        species="Mus musculus", sex="F", age="P90D")
    with io.read(path) as ds:
        a = dict(ds.attrs)
    assert "session_start_time" not in a
    assert (a["species"], a["sex"], a["age"]) == ("Mus musculus", "F", "P90D")
    assert any("Unix epoch" in n for n in a["metadata_notes"])
    assert metadata.finalize(a)["start_time_source"] == "unknown"


# ---------------------------------------------------------------------------- BIDS


@pytest.fixture
def bids_root(tmp_path):
    """A BIDS dataset written by mne-bids from an EDF with a date and patient fields."""
    import mne_bids

    raw = mne.io.read_raw_edf(_synthetic_edf(tmp_path / "rec.edf", sex=2,
                                             birthday=dt.date(1990, 5, 1)), verbose="error")
    bp = mne_bids.BIDSPath(subject="01", session="a", task="rest", datatype="eeg",
                           root=tmp_path / "bids")
    mne_bids.write_raw_bids(raw, bp, verbose="error")
    return tmp_path / "bids"


def _recording(root):
    return root / "sub-01/ses-a/eeg/sub-01_ses-a_task-rest_eeg.edf"


def test_bids_participants_scans_and_sidecar_reach_the_attrs(bids_root):
    scans = bids_root / "sub-01/ses-a/sub-01_ses-a_scans.tsv"
    scans.write_text(scans.read_text().replace("2021-06-07T08:09:10.000000Z",
                                               "2021-06-07T09:30:00.000000Z"))
    side = bids_root / "sub-01/ses-a/eeg/sub-01_ses-a_task-rest_eeg.json"
    meta = json.loads(side.read_text())
    meta.update(Manufacturer="ANT Neuro", ManufacturersModelName="eego mylab",
                DeviceSerialNumber="123", InstitutionName="Example Institute")
    side.write_text(json.dumps(meta))
    ds = io.read(_recording(bids_root))
    a, src = ds.attrs, ds.attrs["metadata_sources"]
    assert (a["session_start_time"], src["session_start_time"]) == \
        ("2021-06-07T09:30:00+00:00", "BIDS scans.tsv acq_time")
    assert (a["sex"], src["sex"]) == ("F", "BIDS participants.tsv")
    assert (a["age"], src["age"]) == ("P31Y", "BIDS participants.tsv")  # mne-bids' years
    # mne-bids replaces the header's subject_info with participants.tsv and a birthday
    # computed from the age: an approximation, which is not taken.
    assert "date_of_birth" not in a
    assert (a["species"], src["species"]) == \
        ("Homo sapiens", "BIDS default (participants.tsv has no species column)")
    assert a["devices"] == [{"name": "eego mylab", "manufacturer": "ANT Neuro",
                             "model": "eego mylab", "description": "acquisition system; serial 123"}]
    assert a["institution"] == "Example Institute"
    assert str(bids_root / "participants.tsv") in ds.attrs["source_files"]


def test_bids_species_column_and_sex_spelling_are_read(bids_root):
    table = bids_root / "participants.tsv"
    lines = table.read_text().splitlines()
    lines[0] += "\tspecies"
    lines[1] = lines[1].replace("\tF\t", "\tmale\t") + "\tmus musculus"
    table.write_text("\n".join(lines) + "\n")
    meta = json.loads((bids_root / "participants.json").read_text())
    meta["age"]["Units"] = "days"
    (bids_root / "participants.json").write_text(json.dumps(meta))
    ds = io.read(_recording(bids_root))
    assert (ds.attrs["species"], ds.attrs["sex"], ds.attrs["age"]) == ("Mus musculus", "M", "P31D")


def test_bids_sessions_list_the_metadata_sidecars_as_inputs(bids_root):
    from neurodag.io import bids

    (found,) = bids.sessions(bids_root, datatype="eeg")
    assert str(bids_root / "participants.tsv") in found["files"]
    assert str(bids_root / "sub-01/ses-a/sub-01_ses-a_scans.tsv") in found["files"]


def test_config_overrides_bids_and_header(bids_root, tmp_path):
    out = ingest.run([_recording(bids_root)], tmp_path / "s", config_digest="x",
                     metadata={"sex": "M", "age": "P30Y", "experimenter": "Doe, Jane",
                               "session_start_time": "2021-06-07T11:00:00+02:00"})
    ds = store.read_signal(out["zarr"])
    src = ds.attrs["metadata_sources"]
    assert (ds.attrs["sex"], ds.attrs["age"], src["sex"], src["age"]) == \
        ("M", "P30Y", "config", "config")
    assert ds.attrs["start_time_source"] == "config"
    nwb = _nwb(out["nwb"])
    assert nwb["start"] == dt.datetime(2021, 6, 7, 9, 0, tzinfo=UTC)
    assert nwb["experimenter"] == ["Doe, Jane"]
    assert json.loads(out["dandi"].read_text())["clean"]  # species from BIDS, rest config
    keys = [*metadata.KEYS, metadata.SOURCES, metadata.START_SOURCE, metadata.MISSING]
    with store.read_nwb(out["nwb"]) as back:  # the metadata round-trip through NWB
        assert {k: back.attrs.get(k) for k in keys} == {k: ds.attrs.get(k) for k in keys}
    assert "started 2021-06-07T11:00:00+02:00 (config)" in ingest.validate_path(out["nwb"])


def test_resolve_applies_subject_then_session_overrides():
    meta = {"species": "Mus musculus", "sex": "F", "age": "P60D",
            "subjects": {"m2": {"sex": "M"}}, "sessions": {"m2-day2": {"age": "P61D"}}}
    assert metadata.resolve(meta, session="m1-day1", subject="m1") == \
        {"species": "Mus musculus", "sex": "F", "age": "P60D"}
    assert metadata.resolve(meta, session="m2-day2", subject="m2") == \
        {"species": "Mus musculus", "sex": "M", "age": "P61D"}


# ---------------------------------------------------------------------------- bad metadata


def _config(meta):
    cfg = config.load_yaml(config.DEFAULT_SCHEMA.parent / "config.yaml")
    cfg["datasets"] = {"tiny": {"modality": "eeg", "source": {"synthetic": "eeg"},
                                "metadata": meta}}
    return cfg


@pytest.mark.parametrize(("meta", "line"), [
    ({"sex": "male"}, "config: datasets.tiny.metadata.sex: 'male' is not a sex code; expected "
                      "one of M (male), F (female), U (unknown), O (other)"),
    ({"age": "25 years"}, "config: datasets.tiny.metadata.age: '25 years' is not an ISO 8601 "
                          "duration (e.g. 'P25Y', 'P90D') or range (e.g. 'P18Y/P30Y', 'P18Y/')"),
    ({"species": "human"}, "config: datasets.tiny.metadata.species: 'human' is neither a Latin "
                           "binomial (e.g. 'Homo sapiens') nor an NCBI taxon IRI (e.g. "
                           "'http://purl.obolibrary.org/obo/NCBITaxon_9606')"),
    ({"species": "Caenorhabditis elegans", "sex": "F"},
     "config: datasets.tiny.metadata.sex: 'F' is not a sex code for C. elegans; expected one "
     "of XX (hermaphrodite), XO (male)"),
    ({"session_start_time": "2020-01-01T10:00:00"},
     "config: datasets.tiny.metadata.session_start_time: '2020-01-01T10:00:00' has no UTC "
     "offset; add one (e.g. '+00:00' or 'Z') so that the time is not guessed"),
    ({"sessions": {"sub-09": {"sex": "F"}}},
     "config: datasets.tiny.metadata.sessions.sub-09: no such session in this dataset; did "
     "you mean 'sub-02'? (it has sub-01, sub-02)"),
    ({"specie": "Homo sapiens"}, "config: datasets.tiny.metadata.specie: unknown key; did you "
                                 "mean 'species'?"),
])
def test_bad_metadata_is_one_line_naming_the_key(meta, line):
    with pytest.raises(ConfigError) as err:
        config.check(_config(meta))
    assert str(err.value) == line


def test_bad_metadata_on_the_command_line_writes_nothing(tmp_path):
    sim = tmp_path / "sim"
    store.write_signal(_synth("eeg").data, tmp_path / "in.zarr")
    res = subprocess.run([sys.executable, "-m", "neurodag.cli", "ingest", str(tmp_path / "in.zarr"),
                          "--out", str(sim), "--metadata", '{"age": "25"}'],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "neurodag ingest: error: config: metadata.age: '25' is not an ISO 8601 duration "
        "(e.g. 'P25Y', 'P90D') or range (e.g. 'P18Y/P30Y', 'P18Y/')"]
    assert not sim.exists() or not any(sim.iterdir())


def test_validate_names_a_malformed_metadata_attr(tmp_path):
    ds = _synth("eeg").data
    ds.attrs["sex"] = "female"
    store.write_signal(ds, tmp_path / "x.zarr")
    with pytest.raises(InputError, match=r"x\.zarr: attr\.sex: 'female' is not a sex code"):
        ingest.validate_path(tmp_path / "x.zarr")


# ---------------------------------------------------------------------------- DANDI profile


def _synth(modality, **params):
    from neurodag import synth

    short = {"eeg": {"duration": 5.0}, "calcium": {"duration": 30.0},
             "spikes": {"n_sequences": 2, "n_bins": 200}}[modality]
    return synth.generate(modality, seed=1, **{**short, **params})


WORM = {"species": "Caenorhabditis elegans", "sex": "XX", "age": "P0D/"}


@pytest.mark.parametrize(("modality", "meta"), [("eeg", HUMAN), ("calcium", WORM),
                                                ("spikes", {**HUMAN, "species": "NCBITaxon:32630"})])
def test_with_metadata_the_dandi_profile_is_clean(tmp_path, modality, meta):
    out = ingest.write(_synth(modality).data, tmp_path / modality, metadata=meta)
    report = json.loads(out["dandi"].read_text())
    assert report["clean"] and report["counts"]["CRITICAL"] == 0
    assert report["counts"]["BEST_PRACTICE_VIOLATION"] == 0
    assert report["metadata_missing"] == ["session_start_time"]  # none was simulated
    assert report["start_time_source"] == "unknown"
    subject = _nwb(out["nwb"])["subject"]
    assert subject["species"] == metadata.check(meta)["species"]
    assert (subject["sex"], subject["age"]) == (meta["sex"], meta["age"])


def test_without_metadata_the_nwb_states_nothing_and_the_report_says_so(tmp_path):
    out = ingest.write(_synth("spikes").data, tmp_path / "s")
    nwb = _nwb(out["nwb"])
    assert nwb["start"] == dt.datetime(1970, 1, 1, tzinfo=UTC)  # the documented marker
    assert (nwb["subject"]["species"], nwb["subject"]["sex"], nwb["subject"]["age"]) == \
        (None, None, None)
    with store.read_nwb(out["nwb"]) as back:
        assert "session_start_time" not in back.attrs  # the marker never enters the contract
        assert back.attrs["start_time_source"] == "unknown"
    report = json.loads(out["dandi"].read_text())
    rows = {(r["check"], r["severity"]) for r in report["findings"]}
    assert {("check_subject_sex", "CRITICAL"), ("check_subject_age", "CRITICAL"),
            ("check_subject_species_exists", "CRITICAL")} <= rows
    assert "start time unknown" in ingest.validate_path(out["nwb"])


def test_devices_from_config_get_a_device_model_with_the_manufacturer(tmp_path):
    meta = {**HUMAN, "devices": [{"name": "Emotiv EPOC", "manufacturer": "Emotiv",
                                  "model": "EPOC", "description": "14-channel headset"}]}
    out = ingest.write(_synth("eeg").data, tmp_path / "s", metadata=meta)
    nwb = _nwb(out["nwb"])
    assert nwb["devices"] == {"Emotiv EPOC": "14-channel headset"}
    assert nwb["models"] == {"EPOC": "Emotiv"}
    with h5py.File(out["nwb"], "r") as f:
        group = f["general/extracellular_ephys/eeg"]
        assert f[group["device"].ref].name == "/general/devices/Emotiv EPOC"


def _dandi(*args, cwd):
    """The dandi CLI with no network: in a network namespace when possible, else with a
    proxy that refuses every connection; its version check (etelemetry) off."""
    import os
    import shutil

    env = dict(os.environ, DANDI_NO_ET="1", HTTP_PROXY="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="")
    cmd = [str(shutil.which("dandi", path=os.path.dirname(sys.executable))), *args]
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        cmd = [unshare, "-n", *cmd]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_dandi_validate_accepts_organized_files_with_metadata_and_refuses_without(tmp_path):
    files = []
    for i, (modality, meta) in enumerate([("eeg", HUMAN), ("calcium", WORM), ("eeg", None)]):
        sim = _synth(modality, subject=f"{i + 1:02d}")
        files.append(ingest.write(sim.data, tmp_path / f"s{i}", metadata=meta)["nwb"])
    for name, chosen in (("good", files[:2]), ("bad", files[2:])):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "dandiset.yaml").write_text("identifier: DANDI:000000\nname: neurodag\n")
        res = _dandi("organize", "-f", "copy", *map(str, chosen), cwd=folder)
        assert res.returncode == 0, res.stderr[-2000:]
        organized = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.nwb"))
        assert len(organized) == len(chosen) and all(p.startswith("sub-") for p in organized)
        res = _dandi("validate", ".", cwd=folder)
        if name == "good":
            assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
            assert "No errors found" in res.stdout
        else:
            assert res.returncode != 0
            assert "NWBI.check_subject_sex" in res.stdout + res.stderr


# ---------------------------------------------------------------------------- the workflow


@pytest.mark.e2e
@pytest.mark.slow
def test_workflow_passes_config_metadata_and_reports_the_dandi_profile(small_run):
    results = small_run / "results"
    worm = _nwb(results / "tiny_worm/sub-01/raw.nwb")["subject"]
    assert (worm["species"], worm["sex"], worm["age"]) == ("Caenorhabditis elegans", "XX", "P0D/")
    assert json.loads((results / "tiny_worm/sub-01/dandi.json").read_text())["clean"]
    spikes = _nwb(results / "tiny_spikes/sub-01/raw.nwb")["subject"]  # no metadata given
    assert (spikes["species"], spikes["sex"], spikes["age"]) == (None, None, None)
    report = json.loads((results / "tiny_spikes/sub-01/dandi.json").read_text())
    assert report["metadata_missing"] == ["species", "sex", "age", "session_start_time"]
    log = (results / "logs/ingest/tiny_spikes/sub-01.log").read_text()
    assert "DANDI CRITICAL: check_subject_sex" in log
    page = (results / "reports/tiny_spikes.html").read_text()
    assert 'id="dandi-table"' in page and "check_subject_sex" in page
    assert "0 of 1 NWB files clean" in page and "start time unknown" in page
    assert "1 of 1 NWB files clean" in (results / "reports/tiny_worm.html").read_text()


#: Short versions of the default config's synthetic sessions (the metadata is the config's).
_SHORT = {"eeg": {"duration": 5.0}, "meg": {"duration": 5.0}, "seeg": {"duration": 5.0},
          "fmri": {"n_volumes": 30}, "calcium": {"duration": 30.0},
          "spikes": {"n_sequences": 2, "n_bins": 200}, "behavior": {"n_sessions": 2}}


@pytest.mark.slow
@pytest.mark.network
def test_default_config_nwb_files_are_dandi_clean_and_pass_dandi_validate(
        repo_root, reference_cache, tmp_path):
    from neurodag import reference, synth

    cfg = config.check(config.load_yaml(repo_root / "config" / "config.yaml"))
    files = []
    for name, entry in cfg["datasets"].items():
        if entry["modality"] == "connectome":
            continue
        session = next(iter(config.sessions(cfg, name).values()))
        meta = metadata.resolve(entry["metadata"], session=session.id, subject=session.subject)
        out = tmp_path / name
        if session.synthetic:
            sim = synth.generate(session.synthetic, seed=session.seed, subject=session.subject,
                                 **{**session.params, **_SHORT[session.synthetic]})
            if entry["modality"] == "behavior":  # trial tables are ingested from their files
                synth.write(sim, tmp_path / f"{name}-synthetic")
                written = ingest.run([tmp_path / f"{name}-synthetic"], out, modality="behavior",
                                     subject=session.subject, session=session.id, metadata=meta)
            else:
                written = ingest.write(sim.data, out, metadata=meta)
        elif session.reference is None:   # files, e.g. the EEGLAB recording of ../shared
            written = ingest.run(list(session.inputs), out, modality=entry["modality"],
                                 subject=session.subject, session=session.id, metadata=meta,
                                 **entry["ingest"])
        else:
            written = reference.ingest_session(
                session.reference, session.id, reference_cache(session.reference), out,
                metadata=meta, **entry["ingest"])
        report = json.loads(written["dandi"].read_text())
        assert report["clean"], (name, [r for r in report["findings"]
                                        if r["severity"] != "BEST_PRACTICE_SUGGESTION"])
        subject = _nwb(written["nwb"])["subject"]
        assert subject["species"] == metadata.check(meta)["species"] != values_metazoa()
        assert (subject["sex"], subject["age"]) == (meta["sex"], meta["age"])
        files.append(written["nwb"])
    folder = tmp_path / "dandiset"
    folder.mkdir()
    (folder / "dandiset.yaml").write_text("identifier: DANDI:000000\nname: neurodag\n")
    res = _dandi("organize", "-f", "copy", *map(str, files), cwd=folder)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(list(folder.rglob("*.nwb"))) == len(files)
    res = _dandi("validate", ".", cwd=folder)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "No errors found" in res.stdout


def values_metazoa() -> str:
    """The placeholder species neurodag once wrote (NCBI taxon Metazoa): never again."""
    return "http://purl.obolibrary.org/obo/NCBITaxon_33208"
