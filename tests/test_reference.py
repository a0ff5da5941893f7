"""Reference datasets: registry, fetch (sha256, members only, atomic, cached), read, pickles.

Offline tests fetch a fake wheel built in tmp_path through an injected downloader; the
installed nibabel is read without any download. Tests marked ``network`` use pip for
real (spkit, the smallest wheel) and skip when PyPI is unreachable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from neurodag import reference, schema
from neurodag.errors import ConfigError, InputError
from neurodag.io import safe_pickle
from neurodag.reference import REFERENCES, Reference, Session
from neurodag.reference.eeg import EMOTIV_CHANNELS
from neurodag.synth.head import montage_positions

network = pytest.mark.network
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# -- a fake wheel ------------------------------------------------------------------------

EEG_MEMBER = "fakepkg/data/eeg.pkl"
ART_MEMBER = "fakepkg/data/artifact.pkl"
CONN_MEMBER = "fakepkg/cache/Small.json"


def _eeg(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 50.0, (256, 14))  # microvolts


def _connectome_json() -> bytes:
    cs = np.zeros((2, 2))
    cs[0, 1] = 7.0
    return json.dumps({"nodes": ["AIYL", "AIZL"],
                       "connections": {"Generic_CS": cs.tolist()}}).encode()


@pytest.fixture
def fake_wheel(tmp_path) -> Path:
    path = tmp_path / "wheels" / "fakepkg-1.0-py3-none-any.whl"
    path.parent.mkdir()
    artifact = {"X_raw": _eeg(1), "X_ica": _eeg(2), "fs": 128, "ch_names": list(EMOTIV_CHANNELS),
                "info": "test"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fakepkg/__init__.py", "import os\n")
        zf.writestr(EEG_MEMBER, pickle.dumps([_eeg(0), list(EMOTIV_CHANNELS)]))
        zf.writestr(ART_MEMBER, pickle.dumps(artifact))
        zf.writestr(CONN_MEMBER, _connectome_json())
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ref(wheel: Path, sha256: str | None = None) -> Reference:
    return Reference(
        name="fakepkg", package="fakepkg", version="1.0", wheel=wheel.name,
        sha256=sha256 or _sha(wheel), licence="MIT", origin="test", citation="test",
        modality="eeg",
        sessions={
            "eeg": Session(files=(EEG_MEMBER,), modality="eeg", reader="spkit"),
            "artifact": Session(files=(ART_MEMBER,), modality="eeg", reader="spkit",
                                options={"key": "X_raw"}),
            "conn": Session(files=(CONN_MEMBER,), modality="connectome", reader="cect",
                            units="synapse count"),
        })


class Downloader:
    """Copies the fake wheel where pip would put it; counts calls."""

    def __init__(self, wheel: Path):
        self.wheel, self.calls = wheel, 0

    def __call__(self, ref, dest: Path) -> Path:
        self.calls += 1
        out = dest / ref.wheel
        out.write_bytes(self.wheel.read_bytes())
        return out


def test_fetch_extracts_only_registered_members_with_their_hashes(tmp_path, fake_wheel):
    ref = _ref(fake_wheel)
    root = reference.fetch(ref, tmp_path / "cache", download=Downloader(fake_wheel))
    assert root == tmp_path / "cache" / "fakepkg"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == sorted([ART_MEMBER, CONN_MEMBER, EEG_MEMBER, "manifest.json"])
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["wheel_sha256"] == _sha(fake_wheel)
    with zipfile.ZipFile(fake_wheel) as zf:
        for member in ref.members:
            expected = hashlib.sha256(zf.read(member)).hexdigest()
            assert manifest["members"][member]["sha256"] == expected
            assert _sha(root / member) == expected


def test_fetch_refuses_a_wheel_whose_sha256_differs_and_leaves_nothing(tmp_path, fake_wheel):
    ref = _ref(fake_wheel, sha256="0" * 64)
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(InputError) as err:
        reference.fetch(ref, cache, download=Downloader(fake_wheel))
    msg = str(err.value)
    assert msg.startswith(fake_wheel.name) and "\n" not in msg
    assert _sha(fake_wheel) in msg and "0" * 64 in msg
    assert list(cache.iterdir()) == []


def test_fetch_of_a_complete_cache_does_not_download(tmp_path, fake_wheel):
    ref, download = _ref(fake_wheel), Downloader(fake_wheel)
    reference.fetch(ref, tmp_path, download=download)
    reference.fetch(ref, tmp_path, download=download)
    assert download.calls == 1
    assert reference.is_complete(ref, tmp_path)


def test_fetch_replaces_a_member_that_was_changed(tmp_path, fake_wheel):
    ref, download = _ref(fake_wheel), Downloader(fake_wheel)
    root = reference.fetch(ref, tmp_path, download=download)
    (root / EEG_MEMBER).write_bytes(b"tampered")
    assert not reference.is_complete(ref, tmp_path)
    reference.fetch(ref, tmp_path, download=download)
    assert download.calls == 2
    with zipfile.ZipFile(fake_wheel) as zf:
        assert (root / EEG_MEMBER).read_bytes() == zf.read(EEG_MEMBER)


def test_fetch_names_a_registered_member_the_wheel_lacks(tmp_path, fake_wheel):
    ref = _ref(fake_wheel)
    missing = dataclasses.replace(ref, sessions={
        "x": Session(files=("fakepkg/data/none.pkl",), modality="eeg", reader="spkit")})
    with pytest.raises(InputError, match="fakepkg-1.0-py3-none-any.whl: has no member "
                                         "fakepkg/data/none.pkl"):
        reference.fetch(missing, tmp_path / "c", download=Downloader(fake_wheel))
    assert not (tmp_path / "c" / "fakepkg").exists()


def test_pip_download_asks_pip_for_exactly_one_pinned_binary(monkeypatch, tmp_path):
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        (tmp_path / REFERENCES["nitime"].wheel).write_bytes(b"")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(reference.cache.subprocess, "run", run)
    reference.pip_download(REFERENCES["nitime"], tmp_path)
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "pip", "download"]
    assert {"--no-deps", "--only-binary=:all:", "nitime==0.12.1"} <= set(cmd)
    assert cmd[cmd.index("--platform") + 1] == "manylinux_2_28_x86_64"
    assert cmd[cmd.index("--python-version") + 1] == "3.11"


def test_pip_failure_is_one_line_with_pips_reason(monkeypatch, tmp_path):
    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: retrying\nERROR: No matching "
                                                      "distribution found for spkit==0.0.9.7\n")

    monkeypatch.setattr(reference.cache.subprocess, "run", run)
    with pytest.raises(InputError, match=r"^pip download spkit==0\.0\.9\.7 failed: ERROR: No "
                                         r"matching distribution found for spkit==0\.0\.9\.7$"):
        reference.pip_download(REFERENCES["spkit"], tmp_path)


# -- read ------------------------------------------------------------------------------


@pytest.fixture
def fake_cache(tmp_path, fake_wheel):
    ref = _ref(fake_wheel)
    reference.fetch(ref, tmp_path / "cache", download=Downloader(fake_wheel))
    return ref, tmp_path / "cache"


def test_read_spkit_session_gives_volts_positions_and_member_provenance(fake_cache):
    ref, cache = fake_cache
    ds = reference.read(ref, "eeg", cache)
    np.testing.assert_allclose(ds["signal"].values, _eeg(0) * 1e-6, rtol=1e-12)
    assert list(ds["channel"].values) == list(EMOTIV_CHANNELS)
    assert ds.attrs["sfreq"] == 128.0 and ds["signal"].attrs["units"] == "V"
    pos = montage_positions()
    np.testing.assert_allclose(ds["x"].sel(channel="O1"), pos["O1"][0])
    assert ds.attrs["source"] == f"reference:fakepkg/{EEG_MEMBER}"
    assert ds.attrs["source_sha256"] == _sha(cache / "fakepkg" / EEG_MEMBER)
    assert (ds.attrs["subject"], ds.attrs["session"]) == ("01", "eeg")
    schema.validate(ds)


def test_read_spkit_artifact_file_picks_the_key_asked_for(fake_cache):
    ref, cache = fake_cache
    raw = reference.read(ref, "artifact", cache)
    ica = reference.read(ref, "artifact", cache, key="X_ica")
    np.testing.assert_allclose(raw["signal"].values, _eeg(1) * 1e-6, rtol=1e-12)
    np.testing.assert_allclose(ica["signal"].values, _eeg(2) * 1e-6, rtol=1e-12)
    with pytest.raises(InputError, match="option key 'X_bad' is not one of"):
        reference.read(ref, "artifact", cache, key="X_bad")


def test_read_connectome_session_gives_the_connectome_contract(fake_cache):
    ref, cache = fake_cache
    g = reference.read(ref, "conn", cache)
    assert g["weight"].sel(pre="AIYL", post="AIZL", synapse="chemical") == 7.0
    assert g.attrs["source"] == f"reference:fakepkg/{CONN_MEMBER}"
    assert g.attrs["reference_version"] == "fakepkg==1.0"


def test_ingest_step_writes_zarr_and_a_clean_nwb_of_the_same_numbers(fake_cache, tmp_path,
                                                                      monkeypatch):
    from neurodag import steps, store
    from neurodag.store.validate import nwb_problems

    ref, cache = fake_cache
    monkeypatch.setattr(reference.cache, "REFERENCES", {**reference.REFERENCES, ref.name: ref})
    out = steps.run("ingest", {"reference": cache / ref.name},
                    {"zarr": tmp_path / "raw.zarr", "nwb": tmp_path / "raw.nwb",
                     "dandi": tmp_path / "dandi.json"},
                    {"reference": f"{ref.name}/eeg"}, config_digest="abc")
    back = store.read_signal(out["zarr"])
    np.testing.assert_allclose(back["signal"].values, _eeg(0) * 1e-6, rtol=1e-6)
    assert back.attrs["config_digest"] == "abc"
    assert back.attrs["source"] == f"reference:fakepkg/{EEG_MEMBER}"
    assert list(back.attrs["inputs"]) == [f"reference:fakepkg/{EEG_MEMBER}"]
    assert nwb_problems(out["nwb"], back) == []


def test_ingest_connectome_step_writes_a_connectome_store(fake_cache, tmp_path, monkeypatch):
    from neurodag import connectome, steps

    ref, cache = fake_cache
    monkeypatch.setattr(reference.cache, "REFERENCES", {**reference.REFERENCES, ref.name: ref})
    out = steps.run("ingest-connectome", {"reference": cache / ref.name},
                    {"connectome": tmp_path / "connectome.zarr"}, {"reference": f"{ref.name}/conn"})
    g = connectome.read(out["connectome"])
    assert g["weight"].sel(pre="AIYL", post="AIZL", synapse="chemical") == 7.0
    assert g.attrs["source"] == f"reference:fakepkg/{CONN_MEMBER}"


def test_read_refuses_options_the_reader_does_not_take(fake_cache):
    ref, cache = fake_cache
    with pytest.raises(ConfigError, match=r"fakepkg/conn: reader option\(s\) \['strain'\] "
                                          r"unknown; expected none"):
        reference.read(ref, "conn", cache, strain="wt")


def test_read_needs_a_complete_cache(tmp_path, fake_wheel):
    with pytest.raises(InputError, match="reference fakepkg is missing or incomplete; fetch"):
        reference.read(_ref(fake_wheel), "eeg", tmp_path)


def test_read_names_the_sessions_of_an_unknown_one(fake_cache):
    ref, cache = fake_cache
    with pytest.raises(InputError, match=r"no session 'rest'; expected one of \['artifact', "
                                         r"'conn', 'eeg'\]"):
        reference.read(ref, "rest", cache)


def test_sessions_list_files_relative_to_the_cache():
    spkit = reference.sessions("spkit")
    assert spkit["eeg16s"]["files"] == ["spkit/spkit/data/files/EEG16SecData.pkl"]
    assert spkit["artifact"]["options"] == {"key": "X_raw"}
    assert reference.sessions("nitime")["roi_timeseries"]["options"] == {"tr": 1.89}
    assert reference.sessions("brainspace")["rest_fsa5"]["confounds"].endswith(
        "_confounds.txt")


def _mesh(path: Path, xyz) -> Path:
    import nibabel as nib

    pts = nib.gifti.GiftiDataArray(np.asarray(xyz, np.float32),
                                   intent="NIFTI_INTENT_POINTSET")
    tri = nib.gifti.GiftiDataArray(np.array([[0, 1, 2]], np.int32),
                                   intent="NIFTI_INTENT_TRIANGLE")
    nib.save(nib.gifti.GiftiImage(darrays=[pts, tri]), path)
    return path


def _surface_ds(names):
    return schema.build(np.zeros((5, len(names))), sfreq=1.0, channels=names,
                        channel_types="bold", modality="fmri")


def test_surface_positions_follow_vertex_names_not_channel_order(tmp_path):
    lh = _mesh(tmp_path / "lh.gii", [[-10, 0, 0], [-20, 5, 0], [-30, 0, 5]])
    rh = _mesh(tmp_path / "rh.gii", [[10, 0, 0], [20, 5, 0], [30, 0, 5]])
    ds = reference.surface_positions(_surface_ds(["rh-2", "lh-1", "lh-0"]),
                                     {"lh": lh, "rh": rh})
    np.testing.assert_allclose(ds["x"].values, [0.030, -0.020, -0.010])
    np.testing.assert_allclose(ds["z"].values, [0.005, 0.0, 0.0])


def test_surface_positions_refuse_a_channel_that_is_no_vertex(tmp_path):
    lh = _mesh(tmp_path / "lh.gii", [[-10, 0, 0], [-20, 5, 0], [-30, 0, 5]])
    with pytest.raises(InputError, match=r"channel 'lh-3' is not a vertex of the surfaces "
                                         r"\['lh'\] \(3 vertices each\)"):
        reference.surface_positions(_surface_ds(["lh-0", "lh-3"]), {"lh": lh})


def test_confound_table_needs_one_row_per_volume(tmp_path):
    path = tmp_path / "conf.txt"
    path.write_text("0.1 0.2\n0.3 0.4\n0.5 0.6\n")
    conf = reference.read_confounds(path, 3)
    assert list(conf.columns) == ["confound0", "confound1"] and conf.iloc[2, 1] == 0.6
    with pytest.raises(InputError, match=r"conf\.txt: 3 confound rows for 4 volumes"):
        reference.read_confounds(path, 4)


def test_unknown_reference_lists_the_known_ones():
    with pytest.raises(InputError, match=r"reference 'nope' is unknown; expected one of "
                                         r"\['brainspace', 'cect', "):
        reference.sessions("nope")


# -- registry ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_registry_entry_is_pinned_and_consistent(name):
    ref = REFERENCES[name]
    if ref.wheel is None:
        assert set(ref.member_sha256) == set(ref.members)
        assert all(HEX64.match(h) for h in ref.member_sha256.values())
    else:
        assert HEX64.match(ref.sha256)
        assert ref.wheel.startswith(f"{ref.package}-{ref.version}-") and ref.wheel.endswith(
            ".whl")
    assert ref.licence and ref.origin and ref.citation
    for session in ref.sessions.values():
        assert session.reader in reference.registry.READERS
        assert session.modality in (*schema.MODALITIES, "connectome")
        assert set(session.files) <= set(ref.members)


# -- the restricted unpickler ------------------------------------------------------------


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_in_one_line_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"X": np.zeros(3), "payload": _Evil(marker)}))
    with pytest.raises(InputError) as err:
        safe_pickle.load(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: refused to unpickle ") and "system" in msg
    assert "\n" not in msg
    assert not marker.exists()


def test_object_arrays_are_refused(tmp_path):
    data = pickle.dumps({"x": np.array([1, "a"], dtype=object)})
    with pytest.raises(InputError, match=r"object array at \['x'\]"):
        safe_pickle.check_plain(safe_pickle.loads(data, where="obj.pkl"), "obj.pkl")


def test_numpy_arrays_and_containers_come_back_equal():
    obj = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [1, 2.5, "s", None],
           "c": (np.int64(3), b"x")}
    back = safe_pickle.loads(pickle.dumps(obj))
    np.testing.assert_array_equal(back["a"], obj["a"])
    assert back["a"].dtype == np.float32 and back["b"] == obj["b"] and back["c"] == obj["c"]


def test_truncated_pickle_is_one_line():
    with pytest.raises(InputError, match=r"^t\.pkl: not a readable pickle"):
        safe_pickle.loads(pickle.dumps(np.zeros(10))[:-5], where="t.pkl")


# -- installed nibabel (offline) -------------------------------------------------------


def test_nibabel_functional_is_copied_from_the_installed_package(tmp_path):
    root = reference.fetch("nibabel", tmp_path)
    member = "nibabel/tests/data/functional.nii"
    assert _sha(root / member) == REFERENCES["nibabel"].member_sha256[member]
    assert reference.is_complete("nibabel", tmp_path)


def test_nibabel_file_with_another_hash_is_refused(tmp_path):
    ref = dataclasses.replace(REFERENCES["nibabel"], member_sha256={
        "nibabel/tests/data/functional.nii": "f" * 64})
    with pytest.raises(InputError, match=r"functional\.nii: sha256 0591d9f8\w+ does not match"):
        reference.fetch(ref, tmp_path)
    assert not (tmp_path / "nibabel").exists()


def test_nibabel_functional_reads_as_power_spheres_at_tr_2s(tmp_path):
    reference.fetch("nibabel", tmp_path)
    ds = reference.read("nibabel", "functional", tmp_path)
    assert ds.sizes["time"] == 20 and ds.attrs["sfreq"] == pytest.approx(0.5)
    # the 3-slice MNI slab (z = 0..16 mm) holds 18 of the 264 Power ROI centres
    assert ds.sizes["channel"] == 18
    assert all(str(c).startswith("power-") for c in ds["channel"].values)
    assert ds.attrs["modality"] == "fmri"
    assert ds.attrs["source"] == "reference:nibabel/nibabel/tests/data/functional.nii"


# -- real wheels (network) -----------------------------------------------------------------


@pytest.mark.slow
@network
def test_real_spkit_wheel_fetches_and_reads_as_emotiv_eeg(tmp_path, fetch_reference):
    fetch_reference("spkit", tmp_path)
    ds = reference.read("spkit", "eeg16s", tmp_path)
    assert dict(ds.sizes) == {"time": 2048, "channel": 14}
    assert list(ds["channel"].values) == list(EMOTIV_CHANNELS)
    # spkit.data.eeg_sample_14ch(): X[0, :3] = 14.17781, -24.44163, 0.3370813 uV
    np.testing.assert_allclose(ds["signal"].values[0, :3], [14.17781e-6, -24.44163e-6,
                                                              0.3370813e-6], rtol=1e-6)
    assert float(ds["signal"].sel(channel="AF3").std()) == pytest.approx(74.6131e-6, rel=1e-5)
    art = reference.read("spkit", "artifact", tmp_path)
    np.testing.assert_allclose(art["signal"].values[0, :3], [-38.18286e-6, -12.75816e-6,
                                                               -1.50354e-6], rtol=1e-6)
    assert art.sizes["time"] == 2048 and art.attrs["spkit_key"] == "X_raw"


@pytest.mark.slow
@network
def test_real_nitime_wheel_reads_rois_at_tr_189_and_bold_at_tr_135(tmp_path, fetch_reference):
    fetch_reference("nitime", tmp_path)
    rois = reference.read("nitime", "roi_timeseries", tmp_path)
    assert dict(rois.sizes) == {"time": 250, "channel": 31}
    assert rois.attrs["sfreq"] == pytest.approx(1 / 1.89)
    assert list(rois["channel"].values[:4]) == ["WM", "Vent", "Brain", "LCau"]
    assert float(rois["signal"].sel(channel="WM")[0]) == pytest.approx(10125.9)
    bold = reference.read("nitime", "fmri1", tmp_path)
    assert bold.sizes["time"] == 40 and bold.attrs["sfreq"] == pytest.approx(1 / 1.35)
