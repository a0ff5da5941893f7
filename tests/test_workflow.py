"""The Snakemake DAG: a dry run of the default config, a real run of a small one, bad configs."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import SMALL, path_without_venv, snakemake, write_config
from mne_files import write_neuroscan_cnt

from neurodag import store

pytestmark = pytest.mark.e2e


def test_default_config_dry_run_plans_every_session(repo_root, tmp_path, monkeypatch):
    from neurodag import config

    res = snakemake(repo_root, tmp_path, repo_root / "config" / "config.yaml", "--dry-run")
    assert res.returncode == 0, res.stderr[-2000:]
    # no ../shared beside the working directory: the EEGLAB dataset is left out in one line
    assert "neurodag: datasets.real_eeg_eeglab: skipped, no file matches" in res.stderr
    monkeypatch.chdir(tmp_path)   # file globs are relative to the run's working directory
    cfg = config.check(config.load_yaml(repo_root / "config" / "config.yaml"))
    signal = [d for d, e in cfg["datasets"].items() if e["modality"] != "connectome"]
    trials = [d for d in signal if cfg["datasets"][d]["modality"] == "behavior"]
    n_signal = sum(len(config.sessions(cfg, d)) for d in signal)
    n_trials = sum(len(config.sessions(cfg, d)) for d in trials)
    n_connectome = sum(len(config.sessions(cfg, d)) for d in cfg["datasets"] if d not in signal)
    out = res.stdout + res.stderr
    assert _job_count(out, "ingest") == n_signal
    assert _job_count(out, "preprocess") == n_signal - n_trials  # trial tables are not
    assert _job_count(out, "fit_glmhmm_pooled") == len(trials) >= 1
    assert _job_count(out, "ingest_connectome") == n_connectome
    merged = [d for d in cfg["datasets"] if d not in signal
              and cfg["datasets"][d]["homogenize"]["enabled"]]
    assert _job_count(out, "report_dataset") == len(signal) + len(merged)
    assert _job_count(out, "merge_connectomes") == len(merged) >= 1


def _job_count(text: str, rule: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == rule and parts[1].isdigit():
            return int(parts[1])
    return -1


@pytest.mark.parametrize(
    ("mutate", "line"),
    [
        (lambda c: c.__setitem__("datsets", c.pop("datasets")),
         "neurodag: config: datsets: unknown key; did you mean 'datasets'?"),
        (lambda c: c["datasets"]["tiny_eeg"]["source"].__setitem__("sessions", "two"),
         "neurodag: config: datasets.tiny_eeg.source.sessions: expected integer or array, got 'two' (str)"),
        (lambda c: c["datasets"]["tiny_eeg"].__setitem__("source", {"files": "/nonexistent/*.edf"}),
         "neurodag: config: datasets.tiny_eeg.source.files: '/nonexistent/*.edf' matches no file"),
    ],
)
def test_bad_config_stops_before_any_job_with_one_line(repo_root, tmp_path, mutate, line):
    cfg = yaml.safe_load(yaml.safe_dump(SMALL))
    mutate(cfg)
    res = snakemake(repo_root, tmp_path, write_config(tmp_path / "bad.yaml", cfg))
    assert res.returncode != 0
    # Snakemake itself may announce the workflow profile first; the error is one line.
    lines = [x for x in res.stderr.strip().splitlines() if not x.startswith("Using workflow")]
    assert lines == [line]
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_small_config_runs_end_to_end_and_then_is_up_to_date(repo_root, small_run):
    results = small_run / "results"
    sessions = sorted(p.parent for p in results.glob("*/*/raw.nwb"))
    assert [f"{p.parent.name}/{p.name}" for p in sessions] == [
        "tiny_eeg/sub-01", "tiny_eeg/sub-02", "tiny_fmri/sub-01", "tiny_spikes/sub-01",
        "tiny_worm/sub-01"]
    for session in sessions:
        ds = store.read_signal(session / "raw.zarr", check_values=True)
        assert ds.attrs["modality"] == SMALL["datasets"][session.parent.name]["modality"]
        assert len(ds.attrs["source_sha256"]) == 64 and len(ds.attrs["config_digest"]) == 64
        assert store.inspect_nwb(session / "raw.nwb") == []
        nwb = store.read_nwb(session / "raw.nwb")
        assert nwb["channel"].values.tolist() == ds["channel"].values.tolist()
        clean = store.read_signal(session / "clean.zarr", check_values=True)
        assert clean.attrs["source_sha256"] == ds.attrs["source_sha256"]
        assert (session / "qc.json").stat().st_size > 100
    eeg = store.read_signal(results / "tiny_eeg/sub-01/raw.zarr")
    assert eeg["time"].values[-1] == pytest.approx(10.0, abs=0.01)
    stacked = store.read_dataset(results / "tiny_worm/homogenized.zarr")
    assert stacked.sizes["session"] == 1 and float(stacked.attrs["dt"]) == pytest.approx(0.333)
    fitted = results / "tiny_spikes/models/glmhmm/sub-01"
    assert sorted(p.name for p in fitted.glob("[!.]*")) == ["K1.nc", "K2.nc", "metrics.json"]
    assert (results / "tiny_eeg/models/trsa/trsa.nc").is_file()
    for name in ("index", "tiny_eeg", "tiny_fmri", "tiny_spikes", "tiny_worm"):
        assert (results / "reports" / f"{name}.html").stat().st_size > 500
    assert not list(results.rglob("*.partial"))

    again = snakemake(repo_root, small_run, small_run / "small.yaml")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def _fresh_copy(repo_root: Path, dest: Path) -> Path:
    """The checkout's files as a clone would have them, with the venv linked in."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                                cwd=repo_root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    for name in listed.stdout.splitlines():
        if (repo_root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo_root / name, dest / name)
    (dest / ".venv").symlink_to(Path(sys.executable).parents[1], target_is_directory=True)
    return dest


@pytest.mark.slow
def test_readme_command_for_a_users_config_runs_as_written(repo_root, tmp_path):
    """The README's command, verbatim, in a copy of the checkout, with no venv on PATH."""
    lines = re.findall(r"^(\.venv/bin/snakemake [^#\n]*--configfile my\.yaml[^#\n]*)",
                       (repo_root / "README.md").read_text(), flags=re.M)
    assert lines, "README: no `.venv/bin/snakemake ... --configfile my.yaml` line"
    clone = _fresh_copy(repo_root, tmp_path / "clone")
    mine = {k: v for k, v in SMALL["datasets"]["tiny_spikes"].items() if k != "analyses"}
    # a Neuroscan file whose header says 0 samples: readable only with the reader option
    names = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2"]
    counts = np.random.default_rng(0).integers(-50, 50, (2500, len(names)), dtype=np.int16)
    cnt = write_neuroscan_cnt(tmp_path / "scan.cnt", counts, names, 250, [(500, 1)],
                              header_samples=0)
    scan = {"modality": "eeg", "source": {"files": str(cnt)},
            "ingest": {"reader": {"data_format": "int16"}}}
    write_config(clone / "my.yaml", {"datasets": {"mine": mine, "scan": scan}})
    env = path_without_venv()
    assert shutil.which("neurodag", path=env["PATH"]) is None
    res = subprocess.run(shlex.split(lines[0]), cwd=clone, env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    ds = store.read_signal(clone / "results/mine/sub-01/raw.zarr", check_values=True)
    assert ds.attrs["modality"] == "spikes"
    assert (clone / "results/reports/mine.html").is_file()
    scanned = store.read_signal(clone / "results/scan/scan/raw.zarr")
    np.testing.assert_allclose(scanned["signal"].values, counts * 1e-6, rtol=1e-6)
    assert scanned.attrs["reader"] == "mne.io.read_raw_cnt(data_format='int16')"
    assert (clone / "results/scan/scan/clean.zarr").is_dir()
    # my.yaml is the whole config: none of config/config.yaml's datasets ran
    assert sorted(p.name for p in (clone / "results").iterdir()) == \
        ["logs", "mine", "reports", "scan"]
