"""Synthetic worms at different rates stack on the canonical neurons and one 0.333 s grid."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from neurodag import schema, store
from neurodag.errors import InputError
from neurodag.homogenize import worms
from neurodag.homogenize.names import canonical_neurons
from neurodag.synth import calcium

RATES = {"slow": 1.5, "mid": 2.9, "fast": 5.8}
DURATIONS = {"slow": 420.0, "mid": 300.0, "fast": 250.0}


@pytest.fixture(scope="module")
def sims():
    return {name: calcium.generate(seed=0, subject=f"{i:02d}", sfreq=RATES[name],
                                   duration=DURATIONS[name], output="dff", noise_level=0.02)
            for i, name in enumerate(RATES, start=1)}


@pytest.fixture(scope="module")
def stacked(sims):
    short = calcium.generate(seed=0, subject="09", sfreq=2.0, duration=120.0).data
    return worms.stack({"lab_a": {"slow": sims["slow"].data, "mid": sims["mid"].data},
                        "lab_b": {"fast": sims["fast"].data, "short": short}})


def test_stack_has_canonical_neurons_then_extra_slots(stacked, sims):
    n_extra = max(int((~s.truth["labelled"]).sum()) for s in sims.values())
    assert stacked["activity"].dims == ("session", "time", "neuron")
    assert stacked.sizes["neuron"] == 300 + n_extra
    assert list(stacked["neuron"].values[:300]) == list(canonical_neurons())
    assert stacked["neuron"].values[300] == "extra-001"
    assert stacked["labelled"].values.sum() == 300


def test_short_recording_is_dropped_with_its_reason(stacked):
    assert list(stacked["session"].values) == ["lab_a/slow", "lab_a/mid", "lab_b/fast"]
    assert json.loads(stacked.attrs["dropped"]) == [
        {"session": "lab_b/short", "dataset": "lab_b",
         "reason": "240 samples < min_samples 600"}]


def test_time_grid_is_the_common_step_and_valid_marks_each_length(stacked, sims):
    dt = 0.333
    time = stacked["time"].values
    np.testing.assert_allclose(np.diff(time), dt)
    for name, sim in sims.items():
        span = sim.data["time"].values[-1]
        n = int(np.floor(span / dt)) + 1
        row = stacked.sel(session=next(s for s in stacked["session"].values
                                       if s.endswith(name)))
        assert int(row["n_samples"]) == n == int(row["valid"].sum())
        assert row["valid"].values[:n].all() and not row["valid"].values[n:].any()
        assert float(row["sfreq_original"]) == RATES[name]
    assert stacked.sizes["time"] == int(np.floor(sims["slow"].data["time"].values[-1] / dt)) + 1
    assert list(stacked["method"].values) == ["interpolate", "interpolate", "block"]


def test_mask_is_exactly_the_neurons_each_worm_has(stacked, sims):
    for name, sim in sims.items():
        sess = f"lab_{'a' if name != 'fast' else 'b'}/{name}"
        mask = stacked["mask"].sel(session=sess)
        np.testing.assert_array_equal(mask.values[:300], sim.truth["present"].values)
        n_rois = int((~sim.truth["labelled"]).sum())
        assert int(mask.values[300:].sum()) == n_rois
        labels = stacked["label"].sel(session=sess).values
        assert all(lab.startswith("ROI") for lab in labels[300:300 + n_rois])


def test_activity_is_zscored_where_present_and_zero_elsewhere(stacked):
    act = stacked["activity"].values
    assert np.isfinite(act).all() and act.dtype == np.float32
    for s in range(stacked.sizes["session"]):
        valid = stacked["valid"].values[s]
        mask = stacked["mask"].values[s]
        x = act[s][valid][:, mask].astype(np.float64)
        np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
        assert not act[s][:, ~mask].any() and not act[s][~valid].any()


@pytest.mark.parametrize("name", ["slow", "fast"])
def test_resampled_traces_follow_the_true_dff(stacked, sims, name):
    sim = sims[name]
    sess = f"lab_{'a' if name != 'fast' else 'b'}/{name}"
    row = stacked.sel(session=sess)
    n = int(row["n_samples"])
    grid = row["time"].values[:n]
    truth = sim.truth["dff"]
    rs = []
    for ch in [str(c) for c in sim.data["channel"].values[:20]]:
        true = np.interp(grid, truth["time"].values, truth.sel(channel=ch).values)
        rs.append(np.corrcoef(row["activity"].sel(neuron=ch).values[:n], true)[0, 1])
    assert np.median(rs) >= 0.97 and min(rs) >= 0.8


def test_smoothing_before_resampling_recovers_noisy_traces_better():
    sim = calcium.generate(seed=0, subject="01", sfreq=2.9, duration=300.0, output="dff",
                           noise_level=0.3)
    channels = [str(c) for c in sim.data["channel"].values[:30]]

    def median_r(smooth):
        row = worms.stack({"d": {"w": sim.data}}, smooth=smooth).isel(session=0)
        n = int(row["n_samples"])
        grid = row["time"].values[:n]
        return np.median([np.corrcoef(row["activity"].sel(neuron=ch).values[:n], np.interp(
            grid, sim.truth["time"].values, sim.truth["dff"].sel(channel=ch).values))[0, 1]
            for ch in channels])

    # measured: none 0.66, Gaussian sigma 0.6 s 0.89
    assert median_r(None) < 0.75 and median_r(0.6) > 0.85


def _renamed_worm(awc_on=None) -> xr.Dataset:
    rng = np.random.default_rng(0)
    names = ["VB01", "awcon", "AWCOFF", "AVAL", "ROI0042", "CANL", "VB1"]
    attrs = {"awc_on": awc_on} if awc_on else None
    return schema.build(rng.normal(size=(700, len(names))), sfreq=3.0, channels=names,
                        channel_types="neuron", modality="calcium", attrs=attrs)


def test_labels_are_normalised_and_the_awc_side_taken_from_the_recording():
    st = worms.stack({"d": {"w": _renamed_worm(awc_on="L")}})
    label = st["label"].sel(session="d/w").to_series()
    assert label["VB1"] == "VB01" and label["AWCL"] == "awcon" and label["AWCR"] == "AWCOFF"
    assert label["AVAL"] == "AVAL"
    # the second VB1 and the non-neurons go to extra slots
    assert [label[f"extra-00{i}"] for i in (1, 2, 3)] == ["ROI0042", "CANL", "VB1"]
    assert json.loads(st.attrs["renamed"])["d/w"] == {"VB01": "VB1", "awcon": "AWCL",
                                                       "AWCOFF": "AWCR"}


def test_awc_on_off_without_a_side_go_to_extra_slots():
    st = worms.stack({"d": {"w": _renamed_worm()}})
    label = st["label"].sel(session="d/w").to_series()
    assert label["AWCL"] == "" and label["AWCR"] == ""
    assert list(label[label.index.str.startswith("extra")]) == [
        "awcon", "AWCOFF", "ROI0042", "CANL", "VB1"]
    assert not st["mask"].sel(session="d/w", neuron=["AWCL", "AWCR"]).any()


def test_flat_traces_are_masked_out():
    ds = _renamed_worm()
    ds["signal"][:, 3] = 5.0                                   # AVAL is flat
    st = worms.stack({"d": [ds]})
    assert not bool(st["mask"].sel(session="d/sub-01_ses-01", neuron="AVAL"))
    assert json.loads(st.attrs["flat"]) == {"d/sub-01_ses-01": ["AVAL"]}


def test_without_zscore_units_are_kept():
    st = worms.stack({"d": [_renamed_worm()]}, zscore=False, min_samples=10)
    assert st["activity"].attrs["units"] == "a.u."
    assert st["activity"].sel(neuron="AVAL").std() > 0.5


def test_bad_inputs_are_one_line_errors(sims):
    eeg = schema.build(np.zeros((700, 2)), sfreq=3.0, channels=["Fz", "Cz"],
                       channel_types="eeg", modality="eeg")
    with pytest.raises(InputError, match="modality 'eeg', expected 'calcium'"):
        worms.stack({"d": [eeg]})
    with pytest.raises(InputError, match="occur twice"):
        worms.stack({"d": [sims["slow"].data, sims["slow"].data]})
    with pytest.raises(InputError, match="no recording kept"):
        worms.stack({"d": [sims["slow"].data]}, min_samples=10_000)
    with pytest.raises(InputError, match="non-empty mapping"):
        worms.stack([sims["slow"].data])


def test_step_writes_a_zarr_store_that_reads_back(tmp_path, sims):
    from neurodag import steps

    paths = {}
    for name in ("slow", "fast"):
        paths[f"synth_worm/{name}"] = store.write_signal(sims[name].data,
                                                         tmp_path / name / "raw.zarr")
    out = steps.run("homogenize", {"stores": paths},
                    {"stacked": tmp_path / "homogenized.zarr"}, {"kind": "worms", "dt": 0.5})
    back = store.read_dataset(out["stacked"]).load()
    assert back.attrs["dt"] == 0.5 and set(back.attrs["inputs"]) == {str(p) for p in
                                                                     paths.values()}
    assert back.attrs["stores"] == {k: str(p) for k, p in paths.items()}
    assert back["mask"].dtype == bool and back["label"].dtype == object
    np.testing.assert_array_equal(back["mask"].sel(session="synth_worm/slow").values[:300],
                                  sims["slow"].truth["present"].values)


def test_report_figures_show_coverage_and_the_resampling_check(stacked, sims, tmp_path):
    from neurodag.report import homogenize as report

    png, js, caption = report.plot_coverage(stacked, tmp_path / "coverage.png")
    numbers = json.loads(js.read_text())
    assert png.stat().st_size > 10_000 and numbers["datasets"] == ["lab_a", "lab_b"]
    assert numbers["sessions"] == [2, 1]
    present = sum(s.truth["present"].values.astype(int) for s in sims.values())
    assert numbers["sessions_per_neuron"] == present.tolist()
    assert f"{int((present > 0).sum())} of 300" in caption
    png, js, _ = report.plot_resampling(stacked, sims["fast"].data, tmp_path / "rs.png",
                                        session="lab_b/fast")
    check = json.loads(js.read_text())
    assert check["method"] == "block" and check["r"] >= 0.95


def test_a_bad_awc_side_in_a_recording_names_the_recording():
    with pytest.raises(InputError, match="d/w: awc_on must be 'L' or 'R'"):
        worms.stack({"d": {"w": _renamed_worm(awc_on="ON")}})
