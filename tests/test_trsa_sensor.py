"""Sensor-space RSA: layouts without region labels (scalp quadrants from positions, a
channel grouping from config, time-resolved RDMs, all channels), the EEGLAB channel-location
sidecar, and the real task EEG of the EEGLAB tutorial written as BIDS (two subjects, 32
channels without region labels) run through the workflow with ``analyses: {trsa: {}}``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from neurodag import schema, store
from neurodag.models.rsa import analysis, patterns

EEGLAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "eeglab"


def _windows_recording(session: str, seed: int, n_ch: int = 12, sfreq: float = 100.0):
    """4 labels whose channel profile changes between the five 100-ms windows after onset;
    the profiles are the same in every recording, the noise is not. No positions."""
    prof = np.random.default_rng(99).normal(size=(5, 4, n_ch))   # (window, label, channel)
    rng = np.random.default_rng(seed)
    n_ev = 60
    onsets = 1.0 + 1.2 * np.arange(n_ev)
    labels = [f"c{k % 4}" for k in range(n_ev)]
    x = 0.3 * rng.normal(size=(int((onsets[-1] + 2) * sfreq), n_ch))
    for on, lab in zip(onsets, labels, strict=True):
        for w in range(5):
            i = int(round((on + 0.1 + 0.1 * w) * sfreq))
            x[i:i + 10] += prof[w, int(lab[1])]
    return schema.build(x, sfreq=sfreq, channels=[f"E{i}" for i in range(n_ch)],
                        channel_types="eeg", modality="eeg", subject=session,
                        events={"onset": onsets, "duration": 0.0, "label": labels})


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    assert [str(w.message) for w in caught] == []
    return out


def test_time_resolved_rdms_identify_their_window_across_recordings():
    sessions = [_windows_recording(s, k) for k, s in enumerate(("01", "02", "03"))]
    results, metrics = _no_warnings(analysis.run, sessions, step=0.5)
    assert metrics["layout"].startswith("time-resolved") and metrics["identified"] == "window"
    assert metrics["windows"] == [f"{a:.3f}-{a + 0.1:.3f} s" for a in (0.1, 0.2, 0.3, 0.4, 0.5)]
    assert results["raw"].shape == (15, 4, 4) and metrics["conditions"] == ["c0", "c1", "c2",
                                                                           "c3"]
    assert metrics["accuracy_rdm"] == 1.0 and metrics["chance"] == 0.2
    assert "no region labels or channel positions" in metrics["note"]
    # one RDM = rsatoolbox's correlation RDM of that window's label means over all channels
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    p = patterns.epochs(sessions[1], time_bins=5)
    sel = p.isel(condition=np.flatnonzero(p["bin_start"].values == p["bin_start"].values[2]))
    ref = calc_rdm(Dataset(sel.mean("repeat").values,
                           obs_descriptors={"cond": np.arange(4)}), method="correlation",
                   descriptor="cond").get_matrices()[0]
    one = results["raw"].isel(rdm=np.flatnonzero(
        (results["recording"].values == "sub-02_ses-01")
        & (results["window"].values == metrics["windows"][2])))[0]
    np.testing.assert_allclose(one.values, ref, atol=1e-12)


def test_sessions_without_a_common_label_are_named_with_their_labels():
    from neurodag.errors import InputError

    a, b = _windows_recording("01", 0), _windows_recording("02", 1)
    a.attrs["source"], b.attrs["source"] = "runA.set", "runB.set"
    ev = schema.get_events(b).assign(label=lambda e: "x" + e["label"])
    b = schema.set_events(b, ev)
    with pytest.raises(InputError) as err:
        analysis.run([a, b])
    msg = str(err.value)
    assert "\n" not in msg
    assert "runA.set: c0, c1, c2, c3" in msg and "runB.set: xc0, xc1, xc2, xc3" in msg


def test_all_nan_positions_give_no_quadrants_and_no_warning():
    ds = _windows_recording("01", 0)
    ds = ds.assign_coords(x=("channel", np.full(12, np.nan)), y=("channel", np.full(12, np.nan)))
    p = patterns.epochs(ds, n_folds=2)
    assert _no_warnings(patterns.region_map, p, "auto", positions=ds) == {
        "all": list(p["channel"].values)}


def test_channel_grouping_from_config_is_the_layout():
    sessions = [_windows_recording(s, k) for k, s in enumerate(("01", "02"))]
    groups = {"front": [f"E{i}" for i in range(6)], "back": [f"E{i}" for i in range(6, 12)]}
    results, metrics = analysis.run(sessions, regions=groups, step=0.5, time_bins=1)
    assert metrics["layout"] == "channel groups from config"
    assert metrics["regions"] == ["back", "front"] and metrics["identified"] == "region"


# ------------------------------------------------------------------- EEGLAB recording
@pytest.fixture(scope="module")
def eeglab():
    if not EEGLAB.is_dir():
        pytest.skip(f"{EEGLAB} is absent")
    return EEGLAB


def test_eeglab_locations_name_and_place_the_channels_in_order(eeglab, tmp_path):
    import mne

    from neurodag import io

    ds = io.read(eeglab / "test_raw.set", modality="eeg", reader={"eog": [1, 5]})
    mont = mne.channels.read_custom_montage(eeglab / "test_chans.locs")
    assert ds["channel"].values.tolist() == mont.ch_names        # FPz, EOG1, F3, ...
    pos = mont.get_positions()["ch_pos"]
    np.testing.assert_allclose(np.stack([ds[c].values for c in "xyz"], 1),
                               np.stack([pos[n] for n in mont.ch_names]))
    assert ds["channel_type"].sel(channel=["EOG1", "EOG2"]).values.tolist() == ["eog", "eog"]
    assert "renamed in order from test_chans.locs" in ds.attrs["channel_names_source"]
    assert str(eeglab / "test_chans.locs") in ds.attrs["source_files"]


def _bids_from_eeglab(root: Path, eeglab: Path, *, montage: bool) -> None:
    """The tutorial recording split into two halves, written as two BIDS subjects."""
    import mne
    import mne_bids

    raw = mne.io.read_raw_eeglab(eeglab / "test_raw.set", preload=True, verbose="error")
    if montage:
        mont = mne.channels.read_custom_montage(eeglab / "test_chans.locs")
        raw.rename_channels(dict(zip(raw.ch_names, mont.ch_names, strict=True)))
        raw.set_montage(mont)
        raw.set_channel_types({"EOG1": "eog", "EOG2": "eog"}, on_unit_change="ignore")
    half = raw.times[-1] / 2
    for sub, (t0, t1) in (("01", (0.0, half)), ("02", (half, None))):
        part = raw.copy().crop(t0, t1)
        fif = root.parent / f"{root.name}_sub-{sub}_raw.fif"
        part.save(fif, overwrite=True, verbose="error")
        bp = mne_bids.BIDSPath(root=root, subject=sub, task="visual", datatype="eeg")
        mne_bids.write_raw_bids(mne.io.read_raw_fif(fif, verbose="error"), bp,
                                allow_preload=False, overwrite=True, verbose="error")


@pytest.fixture(scope="module")
def bids_run(eeglab, tmp_path_factory):
    """One snakemake run of a user's config: the two BIDS trees, ``analyses: {trsa: {}}``."""
    from conftest import ROOT, snakemake, write_config

    work = tmp_path_factory.mktemp("bids_trsa")
    cfg = {"datasets": {}}
    for name, montage in (("eeg_montage", True), ("eeg_bare", False)):
        root = work / f"bids_{name}"
        _bids_from_eeglab(root, eeglab, montage=montage)
        cfg["datasets"][name] = {"modality": "eeg",
                                 "source": {"bids": str(root), "datatype": "eeg"},
                                 "analyses": {"trsa": {}}}
    res = snakemake(ROOT, work, write_config(work / "user.yaml", cfg),
                    "--replace-workflow-config")
    assert res.returncode == 0, res.stderr[-4000:]
    return work


def _log(work: Path, name: str) -> str:
    return (work / "results" / "logs" / "trsa" / f"{name}.log").read_text()


@pytest.mark.slow
def test_bids_eeg_with_positions_identifies_scalp_quadrants(bids_run):
    out = bids_run / "results" / "eeg_montage" / "models" / "trsa"
    m = json.loads((out / "metrics.json").read_text())
    assert "Warning" not in _log(bids_run, "eeg_montage")
    assert m["layout"] == "scalp quadrants from channel positions"
    assert m["regions"] == ["anterior-left", "anterior-right", "posterior-left",
                            "posterior-right"]
    assert m["n_sessions"] == 2 and m["identified"] == "region"
    # 'square' and 'rt' events: 2 labels x 5 100-ms bins
    assert m["n_conditions"] == 10 and m["chance"] == 0.25
    res = store.read_netcdf(out / "trsa.nc")
    v = res["raw"].values[:, *np.triu_indices(10, 1)]
    rec = res["recording"].values.astype(str)
    a, b = v[rec == "sub-01_ses-01"], v[rec == "sub-02_ses-01"]
    # two recordings: each held-out RDM goes to the nearest RDM of the other recording
    d = np.linalg.norm(a[:, None] - b[None], axis=2)
    direct = ((d.argmin(1) == np.arange(4)).sum() + (d.argmin(0) == np.arange(4)).sum()) / 8
    assert m["accuracy_rdm"] == direct
    # one RDM against rsatoolbox on the clean store's epochs
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    clean = store.read_signal(next((bids_run / "results" / "eeg_montage").glob(
        "sub-01*/clean.zarr")))
    p = patterns.epochs(clean, time_bins=5).mean("repeat")
    quad = patterns.region_map(p, "quadrant", positions=clean)["posterior-right"]
    ref = calc_rdm(Dataset(p.sel(channel=quad).values, obs_descriptors={
        "cond": np.arange(10)}), method="correlation", descriptor="cond").get_matrices()[0]
    sel = (rec == "sub-01_ses-01") & (res["region"].values == "posterior-right")
    np.testing.assert_allclose(res["raw"].values[sel][0], ref, atol=1e-12)
    page = (bids_run / "results" / "reports" / "eeg_montage.html").read_text()
    assert "scalp quadrants from channel positions" in page and "identified" in page


@pytest.mark.slow
def test_bids_eeg_without_positions_gets_rdms_and_a_one_line_reason(bids_run):
    out = bids_run / "results" / "eeg_bare" / "models" / "trsa"
    m = json.loads((out / "metrics.json").read_text())
    log = _log(bids_run, "eeg_bare")
    assert "Warning" not in log and "Traceback" not in log
    assert m["layout"] == "one RDM per session over all channels" and m["identified"] == ""
    assert m["n_rdms"] == 2 and m["n_conditions"] == 10
    assert "\n" not in m["note"] and m["note"].startswith(
        "no region labels or channel positions")
    assert "time-resolved RDMs need >= 3 event labels, got 2 (square, rt)" in m["note"]
    assert set(m["rdm_reliability"]) == {"all"} and -1 <= m["rdm_reliability"]["all"] <= 1
    page = (bids_run / "results" / "reports" / "eeg_bare.html").read_text()
    assert "time-resolved RDMs need" in page
    # the conditions are said as labels x windows; nothing identified is not a fact of its own
    assert "10 (2 event labels x 5 time bins)" in page and ">identified<" not in page


def test_an_optional_source_that_matches_nothing_is_left_out_with_a_note(tmp_path, capsys):
    from neurodag import config
    from neurodag.cli import main
    from neurodag.errors import ConfigError

    cfg = config.load_yaml(Path(__file__).resolve().parents[1] / "config" / "config.yaml")
    cfg["datasets"]["real_eeg_eeglab"]["source"]["files"] = str(tmp_path / "absent" / "*.set")
    notes: list[str] = []
    out = config.check(cfg, notes=notes)
    assert "real_eeg_eeglab" not in out["datasets"] and "ref_fmri_brainspace" in out["datasets"]
    assert notes == [f"datasets.real_eeg_eeglab: skipped, no file matches "
                     f"'{tmp_path}/absent/*.set' (source.optional)"]
    # without `optional` the same glob is an error naming the key
    del cfg["datasets"]["real_eeg_eeglab"]["source"]["optional"]
    with pytest.raises(ConfigError, match=r"real_eeg_eeglab\.source\.files: .* matches no file"):
        config.check(cfg)
    cfg["datasets"]["real_eeg_eeglab"]["source"]["optional"] = True
    (tmp_path / "c.yaml").write_text(__import__("yaml").safe_dump(cfg))
    assert main(["check-config", str(tmp_path / "c.yaml")]) == 0
    assert "skipped, no file matches" in capsys.readouterr().out
