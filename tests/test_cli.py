"""The command line: version, validation, and one-line errors with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neurodag import __version__, provenance, store


def run(*args: str, cwd=None):
    exe = Path(sys.executable).parent / "neurodag"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ))


def test_version_is_printed():
    res = run("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"neurodag {__version__}"


def test_validate_accepts_a_good_store(small_eeg, tmp_path):
    provenance.stamp(small_eeg, [__file__])
    store.write_signal(small_eeg, tmp_path / "raw.zarr")
    res = run("validate", str(tmp_path / "raw.zarr"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("ok (eeg, 3 channels, 1000 samples at 100 Hz; "
                                       "start time unknown; DANDI still needs species, sex, age)")


def test_validate_rejects_a_store_with_nan_in_one_line(small_eeg, tmp_path):
    bad = small_eeg.assign(signal=small_eeg["signal"].where(small_eeg["channel"] != "Cz"))
    bad.to_zarr(tmp_path / "bad.zarr", consolidated=False)
    res = run("validate", str(tmp_path / "bad.zarr"))
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"neurodag validate: error: {tmp_path / 'bad.zarr'}: signal has NaN or Inf samples "
        "(channels ['Cz'])")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/nonexistent/rec.edf", "--out", "OUT"], "/nonexistent/rec.edf"),
        (["ingest", "x.edf", "--out", "OUT", "--set", "sfreq"], "--set 'sfreq': expected KEY=VALUE"),
        (["validate", "/nonexistent/raw.zarr"], "/nonexistent/raw.zarr: no such file or store"),
        (["check-config", "/nonexistent/config.yaml"], "/nonexistent/config.yaml: cannot read"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(tmp_path, args, message):
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    res = run(*args)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert message in res.stderr
    assert not (tmp_path / "out" / "raw.zarr").exists()


def test_check_config_counts_datasets_and_sessions(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("datasets:\n  a: {modality: eeg, source: {synthetic: eeg, sessions: 3}}\n"
                   "  b: {modality: connectome, source: {reference: wormneuroatlas}}\n")
    res = run("check-config", str(cfg))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{cfg}: ok (2 datasets, 6 sessions)"


def test_unknown_figure_suggests_the_closest(tmp_path):
    res = run("figure", "onehot-glmm", "--out", str(tmp_path / "f"))
    assert res.returncode == 2
    assert res.stderr.strip().startswith(
        "neurodag figure: error: figure.paper: figure 'onehot-glmm' is unknown; did you mean "
        "'onehot-glmhmm'?")
    assert not (tmp_path / "f").exists()


@pytest.mark.slow
def test_fit_glmhmm_writes_every_candidate_and_selects_the_true_number_of_states(tmp_path):
    import json

    from neurodag import synth

    sim = synth.generate("spikes", seed=3, n_states=2, n_neurons=10, n_sequences=3, n_bins=800)
    provenance.stamp(sim.data, [], source="synthetic:spikes")
    store.write_signal(sim.data, tmp_path / "s" / "raw.zarr")
    res = run("fit-glmhmm", str(tmp_path / "s" / "raw.zarr"), "--out", str(tmp_path / "m"),
              "--set", "states=[1, 2, 3]", "--set", "link=sigmoid", "--set", "max_iter=30")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "K1.nc", "K2.nc", "K3.nc", "metrics.json"]
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["selected_n_states"] == 2
    assert metrics["n_sequences"] == 3
    model = store.read_netcdf(tmp_path / "m" / "K2.nc")
    truth = sim.truth["hidden_state"].values
    path = model["state_path"].values
    agree = max((path == truth).mean(), (path == 1 - truth).mean())
    assert agree > 0.9


@pytest.mark.parametrize(("command", "message"), [
    (["fit-glmhmm", "{store}", "--set", "n_lag=3"],
     "fit-glmhmm.n_lag: unknown option; did you mean 'n_lags'?"),
    (["trsa", "{store}", "--set", "windw=[0.1, 0.5]"],
     "trsa.windw: unknown option; did you mean 'window'?"),
    (["homogenize", "worms", "{store}", "--set", "dtt=0.5"],
     "homogenize.dtt: unknown option; did you mean 'dt'?"),
    (["homogenize", "channels", "{store}", "--set", "interpolat=true"],
     "homogenize.interpolat: unknown option; did you mean 'interpolate'?"),
    (["figure", "trsa", "--quick", "--set", "checkpint=x"],
     "figure trsa: unknown option 'checkpint' (options: background, images, max_epochs"),
    (["figure", "emg-denoising", "--quick", "--set", "checkpint=x"],
     "figure emg-denoising: unknown option 'checkpint'; did you mean 'checkpoint'?"),
])
def test_a_mistyped_option_is_one_line_naming_it_and_no_output(small_eeg, tmp_path, command,
                                                                 message):
    provenance.stamp(small_eeg, [__file__])
    path = store.write_signal(small_eeg, tmp_path / "raw.zarr")
    res = run(*[str(path) if a == "{store}" else a for a in command],
              "--out", str(tmp_path / "out"))
    assert res.returncode == 2, res.stderr
    line = res.stderr.strip()
    assert "\n" not in line and message in line, line
    assert not (tmp_path / "out").exists()
