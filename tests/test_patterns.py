"""Condition patterns from contract Datasets: epochs for ephys, GLM betas for fMRI."""

import numpy as np
import pytest

from neurodag import schema, synth
from neurodag.errors import InputError
from neurodag.models.rsa import patterns


@pytest.fixture(scope="module")
def eeg():
    return synth.eeg(seed=0, duration=90)


@pytest.fixture(scope="module")
def fmri():
    return synth.fmri(seed=0)


def _target_minus_standard(ds, window=(0.25, 0.45)):
    p = patterns.epochs(ds, window=window).mean("repeat")
    return p.sel(condition="target") - p.sel(condition="standard")


def test_target_and_standard_differ_at_pz_as_in_the_brain_truth(eeg):
    measured = _target_minus_standard(eeg.data)
    clean = eeg.data.copy()
    clean["signal"] = eeg.truth["brain"]
    truth = _target_minus_standard(clean)
    # The P3 (a centro-parietal radial dipole, 4x larger for targets) is positive at Pz.
    assert float(truth.sel(channel="Pz")) > 5e-6
    assert float(measured.sel(channel="Pz")) == pytest.approx(float(truth.sel(channel="Pz")),
                                                              rel=0.15)
    # Blinks, muscle and noise stay in the measured epochs (no cleaning here).
    assert np.corrcoef(measured.values, truth.values)[0, 1] > 0.9


def test_epoch_folds_are_balanced_and_hold_every_epoch(eeg):
    p = patterns.epochs(eeg.data, window=(0.1, 0.6))
    labels = schema.get_events(eeg.data)["label"].value_counts()
    assert p.dims == ("condition", "channel", "repeat")
    assert p.sizes["repeat"] == labels.min()
    # Auxiliary EOG/ECG channels are not pattern features.
    assert "VEOG" not in p["channel"].values and p.sizes["channel"] == 32
    n = p["n_trials"].sum("repeat")
    # Every epoch lands in one fold (all events here are inside the recording).
    assert int(n.sel(condition="target")) == labels["target"]
    assert int(n.sel(condition="standard")) == labels["standard"]
    assert np.ptp(p["n_trials"].sel(condition="standard").values) <= 1


def test_time_bins_make_label_by_bin_conditions(eeg):
    p = patterns.epochs(eeg.data, window=(0.1, 0.6), time_bins=5, n_folds=2)
    assert p.sizes["condition"] == 10 and p.sizes["repeat"] == 2
    assert p["condition"].values[0] == "standard@0.100-0.200s"
    np.testing.assert_allclose(p["bin_stop"] - p["bin_start"], 0.1)


def test_baseline_removes_a_constant_offset(eeg):
    shifted = eeg.data.copy()
    shifted["signal"] = eeg.data["signal"] + 1e-3
    a = patterns.epochs(eeg.data, n_folds=3)
    b = patterns.epochs(shifted, n_folds=3)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    c = patterns.epochs(shifted, n_folds=3, baseline=None)
    d = patterns.epochs(eeg.data, n_folds=3, baseline=None)
    np.testing.assert_allclose((c - d).values, 1e-3, rtol=1e-6)


def test_glm_betas_recover_the_active_parcels(fmri):
    betas = patterns.glm_betas(fmri.data).isel(repeat=0)
    amp = fmri.truth["amplitude"]
    for cond in amp["condition"].values:
        est, true = betas.sel(condition=cond).values, amp.sel(condition=cond).values
        active = np.flatnonzero(true > 0)
        assert set(np.argsort(est)[-active.size:]) == set(active)
        # Regressors peak at 1 and the signal is in % change: betas are the amplitudes.
        np.testing.assert_allclose(est[active], true[active], rtol=0.3)
        assert np.corrcoef(est, true)[0, 1] > 0.85


def test_per_event_betas_give_one_repeat_per_block(fmri):
    betas = patterns.glm_betas(fmri.data, per_event=True)
    ev = schema.get_events(fmri.data)["label"].value_counts()
    assert betas.sizes["repeat"] == ev.max()
    for cond in betas["condition"].values:
        assert int(betas["n_trials"].sel(condition=cond).sum()) == ev[cond]


def test_condition_patterns_dispatches_on_modality(eeg, fmri):
    assert patterns.condition_patterns(fmri.data).attrs["kind"] == "glm_betas"
    assert patterns.condition_patterns(eeg.data, n_folds=2).attrs["kind"] == "epochs"


def test_quadrants_split_the_scalp_into_four_groups(eeg):
    p = patterns.epochs(eeg.data, n_folds=2)
    groups = patterns.region_map(p, "auto", positions=eeg.data)
    assert sorted(groups) == ["anterior-left", "anterior-right", "posterior-left",
                              "posterior-right"]
    assert sorted(c for g in groups.values() for c in g) == sorted(p["channel"].values)
    assert "Pz" not in groups["anterior-left"]
    assert patterns.region_map(p, None) == {"all": list(p["channel"].values)}


def test_region_coordinate_is_used_when_present(eeg):
    ds = eeg.data.assign_coords(region=("channel", ["a"] * 20 + ["b"] * 15))
    p = patterns.epochs(ds, n_folds=2)
    groups = patterns.region_map(p, "auto", positions=ds)
    assert sorted(groups) == ["a", "b"] and len(groups["a"]) == 20


def test_bad_inputs_raise_one_line_errors(eeg):
    no_events = eeg.data.drop_vars(["events", "event_duration", "event_label"])
    with pytest.raises(InputError, match="no events"):
        patterns.epochs(no_events)
    with pytest.raises(InputError, match="not found"):
        patterns.epochs(eeg.data, labels=["oddball"])
    with pytest.raises(InputError, match="n_folds"):
        patterns.epochs(eeg.data, n_folds=10_000)
    with pytest.raises(InputError, match="window"):
        patterns.epochs(eeg.data, window=(0.5, 0.1))


def test_noise_normalisation_puts_meg_sensor_kinds_on_one_scale():
    meg = synth.meg(seed=0, duration=40)
    raw = patterns.epochs(meg.data, n_folds=2, normalize=False)
    norm = patterns.epochs(meg.data, n_folds=2)          # auto: units T and T/m differ
    assert norm.attrs["units"] == "noise sd" and raw.attrs["units"] != "noise sd"
    kinds = meg.data["channel_type"].sel(channel=norm["channel"]).values
    size = {k: float(np.abs(norm.values[:, kinds == k]).mean()) for k in ("mag", "grad")}
    raw_size = {k: float(np.abs(raw.values[:, kinds == k]).mean()) for k in ("mag", "grad")}
    # Raw, gradiometer values (T/m) are ~100x magnetometer values (T); normalised, not.
    assert raw_size["grad"] / raw_size["mag"] > 20
    assert 0.1 < size["grad"] / size["mag"] < 10
