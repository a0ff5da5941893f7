"""Calcium: dF/F against the synthetic worm's true dF/F; OASIS deconvolution; spikes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d, percentile_filter

from neurodag import preprocess, schema, synth
from neurodag.errors import ConfigError, InputError
from neurodag.preprocess import calcium


@pytest.fixture(scope="module")
def worm():
    sim = synth.generate("calcium", seed=0)
    clean, qc = preprocess.run(sim.data)
    return sim, clean, qc


def _colcorr(a, b):
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def test_dff_matches_the_true_dff(worm):
    sim, clean, qc = worm
    truth = sim.truth["dff"].values
    ours = clean["signal"].values
    # The best any baseline can do: dF/F with the true F0 (noise is all that is left).
    oracle = sim.data["signal"].values / sim.truth["baseline"].values - 1.0
    ratio = _colcorr(ours, truth) / _colcorr(oracle, truth)
    # measured: median 0.97 of the oracle's correlation (oracle median r = 0.95)
    assert np.median(ratio) > 0.95
    # Scale: the true dF/F referred to its own running 20th percentile has slope ~1.
    size = int(round(qc["options"]["baseline_window"] * sim.data.attrs["sfreq"]))
    ref = (1 + truth) / (1 + percentile_filter(truth, 20, size=(size, 1), mode="nearest")) - 1
    slopes = np.array([np.polyfit(ref[:, j], ours[:, j], 1)[0] for j in range(ours.shape[1])])
    assert 0.95 < np.median(slopes) < 1.05    # measured 0.99
    assert clean["signal"].attrs["units"] == "dF/F"
    assert set(clean["unit"].values) == {"dF/F"}
    schema.validate(clean)


def test_snr_is_high_for_active_neurons_and_low_for_silent_ones(worm):
    sim, _, qc = worm
    snr = np.array(list(qc["snr"]["per_channel"].values()))
    spread = sim.truth["dff"].values.std(0)
    r = np.corrcoef(np.log(spread), np.log(snr))[0, 1]
    assert r > 0.8


def test_running_percentile_agrees_with_scipy_percentile_filter():
    rng = np.random.default_rng(0)
    t = np.arange(3000)
    x = (100 * np.exp(-t / 2000))[:, None] + rng.normal(0, 1, (3000, 3))
    ours = calcium.running_percentile(x, 300, 20)
    ref = percentile_filter(x, 20, size=(300, 1), mode="nearest")
    # Away from the edges (where scipy pads and we shorten the window) the two differ by
    # much less than the noise (sd 1) and the trend (5 per 100 frames).
    assert np.sqrt(((ours - ref)[150:-150] ** 2).mean()) < 0.1


def test_neuropil_is_subtracted_and_dff_input_is_kept():
    sim = synth.generate("calcium", seed=1, duration=200.0)
    ds = sim.data.copy()
    t = ds["time"].values[:, None]
    neu = 0.5 * ds["signal"].values.min(0) * (1 + 0.2 * np.sin(2 * np.pi * t / 30.0))
    ds["neuropil"] = (("time", "channel"), neu)
    clean, qc = preprocess.run(ds, neuropil_coef=0.5)
    f = ds["signal"].values - 0.5 * neu
    size = int(round(180 * ds.attrs["sfreq"]))
    f0 = calcium.running_percentile(f, size, 20)
    np.testing.assert_allclose(clean["signal"].values, ((f - f0) / f0).astype(np.float32),
                               rtol=1e-5, atol=1e-6)
    assert qc["neuropil"] == {"coefficient": 0.5} and "neuropil" not in clean
    dff = synth.generate("calcium", seed=1, duration=200.0, output="dff").data
    out, qc = preprocess.run(dff)
    np.testing.assert_array_equal(out["signal"].values, dff["signal"].values)
    assert "already in dF/F" in qc["dff"]["skipped"]


def test_negative_baseline_is_one_line():
    ds = synth.generate("calcium", seed=1, duration=200.0).data.copy()
    ds["neuropil"] = (("time", "channel"), 3 * ds["signal"].values)
    with pytest.raises(InputError, match=r"F0 <= 0 after neuropil subtraction"):
        preprocess.run(ds)


def test_nan_in_neuropil_is_one_line_naming_the_channel():
    ds = synth.generate("calcium", seed=1, duration=200.0).data.copy()
    neu = 0.1 * ds["signal"].values
    neu[50, 2] = np.nan
    ds["neuropil"] = (("time", "channel"), neu)
    name = str(ds["channel"].values[2])
    with pytest.raises(InputError, match=rf"neuropil has NaN or Inf samples \(channels \['{name}'\]\)"):
        preprocess.run(ds)


def test_deconvolved_events_align_with_true_activity(worm):
    pytest.importorskip("oasis", reason="oasis-deconv is not installed")
    sim, _, _ = worm
    clean, qc = preprocess.run(sim.data, deconvolve=True)
    sfreq = sim.data.attrs["sfreq"]
    act = sim.truth["activity"].values
    events = gaussian_filter1d(clean["deconvolved"].values.astype(float), 0.5 * sfreq, axis=0)
    dff = clean["signal"].values

    def best_lag(x):
        lags = range(-5, 8)
        out = []
        for j in range(x.shape[1]):
            r = [np.corrcoef(x[max(L, 0):len(x) + min(L, 0), j],
                             act[max(-L, 0):len(x) - max(L, 0), j])[0, 1] for L in lags]
            out.append(list(lags)[int(np.nanargmax(r))])
        return np.median(out)

    # measured: deconvolved events peak within a frame of the activity (median lag -1),
    # dF/F three frames after it (the indicator's decay)
    assert abs(best_lag(events)) <= 1 and best_lag(dff) >= 2
    assert qc["deconvolution"]["method"].startswith("OASIS")
    # a known decay time fixes the AR(1) coefficient: g = exp(-1 / (tau * rate))
    _, qc = preprocess.run(sim.data, deconvolve=True, tau_decay=1.0)
    np.testing.assert_allclose(list(qc["deconvolution"]["g"].values()), np.exp(-1 / sfreq))


def test_deconvolution_without_the_package_is_a_config_error(monkeypatch, worm):
    import sys

    monkeypatch.setitem(sys.modules, "oasis", None)
    monkeypatch.setitem(sys.modules, "oasis.functions", None)
    with pytest.raises(ConfigError, match=r"needs the package oasis-deconv"):
        preprocess.run(worm[0].data, deconvolve=True)


def test_spikes_pass_through_with_rates_and_silent_units():
    ds = synth.generate("spikes", seed=0).data.copy(deep=True)
    ds["signal"][:, 3] = 0.0
    clean, qc = preprocess.run(ds)
    np.testing.assert_array_equal(clean["signal"].values, ds["signal"].values)
    duration = ds.sizes["time"] / ds.attrs["sfreq"]
    name = str(ds["channel"].values[0])
    assert qc["firing_rate_hz"][name] == pytest.approx(ds["signal"].values[:, 0].sum() / duration)
    assert qc["silent"] == [str(ds["channel"].values[3])]
