"""Resampling to a common step: band-limited signals keep their shape; the averaging is exact."""

from __future__ import annotations

import numpy as np
import pytest

from neurodag.errors import InputError
from neurodag.homogenize import resample

DT = 1 / 3  # 3 Hz


def band_limited(t: np.ndarray, fmax: float, seed: int, n: int = 40) -> np.ndarray:
    """A sum of ``n`` sinusoids with random frequencies in (0.01, fmax) Hz and phases."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.01, fmax, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    amp = rng.normal(size=n)
    return (amp * np.sin(2 * np.pi * f * np.asarray(t)[:, None] + phase)).sum(axis=1)


def _corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_4hz_downsampled_to_3hz_correlates_with_the_truth(seed):
    t = np.arange(2400) / 4.0                       # 600 s at 4 Hz
    new_t, y, method = resample.to_step(t, band_limited(t, 1.0, seed), DT)
    truth = band_limited(new_t, 1.0, seed)          # the same signal sampled at 3 Hz
    assert method == "block"
    assert new_t.size == 1800 and new_t[-1] <= t[-1]
    assert _corr(y, truth) >= 0.99                  # measured 0.9977, 0.9975, 0.9989


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_1hz_upsampled_to_3hz_correlates_with_the_truth(seed):
    t = np.arange(600) / 1.0                        # 600 s at 1 Hz, Nyquist 0.5 Hz
    new_t, y, method = resample.to_step(t, band_limited(t, 0.4, seed), DT)
    truth = band_limited(new_t, 0.4, seed)
    assert method == "interpolate"
    assert _corr(y, truth) >= 0.99                  # measured 0.9958, 0.9960, 0.9991
    # the recorded samples themselves are kept (every third grid point is a sample)
    np.testing.assert_allclose(y[::3, 0], band_limited(t, 0.4, seed)[: y[::3].shape[0]],
                               atol=1e-9)


def test_cubic_interpolation_beats_linear_on_band_limited_signals():
    t = np.arange(600) / 1.0
    x = band_limited(t, 0.4, 0)
    r = {kind: _corr(resample.to_step(t, x, DT, kind=kind)[1], band_limited(
        resample.grid(t[-1], DT), 0.4, 0)) for kind in resample.KINDS}
    assert r["cubic"] > r["pchip"] > r["linear"]    # measured 0.996, 0.975, 0.966


def test_irregular_sample_times_are_honoured():
    rng = np.random.default_rng(3)
    t = np.arange(2400) / 4.0 + rng.uniform(-0.05, 0.05, 2400)   # jittered 4 Hz frames
    new_t, y, _ = resample.to_step(t, band_limited(t, 1.0, 0), DT)
    assert _corr(y, band_limited(new_t + t[0], 1.0, 0)) >= 0.99


def test_block_average_is_the_exact_mean_of_the_linear_interpolant():
    t = np.arange(61) / 6.0                          # 6 Hz, 10 s
    x = np.c_[t**2, np.sin(t)]
    q = np.array([0.0, 0.5, 1.0, 4.9, 10.0])
    got = resample.block_average(t, x, q, 0.5, kind="linear")
    fine = np.linspace(0, 10, 1_000_001)
    lin = np.c_[np.interp(fine, t, x[:, 0]), np.interp(fine, t, x[:, 1])]
    for k, c in enumerate(q):
        inside = (fine >= max(c - 0.25, 0)) & (fine <= min(c + 0.25, 10))
        np.testing.assert_allclose(got[k], lin[inside].mean(axis=0), atol=1e-5)


def test_block_average_of_a_line_is_its_value_at_the_block_centre():
    t = np.arange(100) / 7.0
    got = resample.block_average(t, 2.0 + 3.0 * t, [1.0, 5.0, 12.5], DT)
    np.testing.assert_allclose(got[:, 0], 2.0 + 3.0 * np.array([1.0, 5.0, 12.5]), atol=1e-12)


def test_block_averaging_removes_what_would_alias_onto_zero_hz():
    t = np.arange(3000) / 30.0                       # 30 Hz
    x = np.sin(2 * np.pi * 3.0 * t + 0.7)            # 3 Hz: aliases to DC at 3 Hz sampling
    _, y, method = resample.to_step(t, x, DT)
    decimated = x[::10]                               # naive decimation: a constant 0.64
    assert method == "block"
    assert abs(decimated.mean()) > 0.6
    assert np.abs(y[1:-1]).max() < 0.01


def test_same_grid_is_returned_unchanged():
    t = np.arange(700) * DT
    x = band_limited(t, 1.0, 4)
    new_t, y, method = resample.to_step(t + 5.0, x, DT)
    assert method == "none" and new_t.size == 700
    np.testing.assert_array_equal(y[:, 0], x)


def test_too_few_samples_or_bad_times_are_input_errors():
    with pytest.raises(InputError, match="at least 2 samples"):
        resample.to_step([0.0], [1.0], DT)
    with pytest.raises(InputError, match="strictly increasing"):
        resample.to_step([0.0, 1.0, 1.0], [1.0, 2.0, 3.0], DT)
    with pytest.raises(InputError, match="dt must be a positive"):
        resample.to_step([0.0, 1.0], [1.0, 2.0], 0)


def test_rational_resample_keeps_a_10hz_sine_from_500_to_250_hz():
    t = np.arange(5000) / 500.0
    x = np.sin(2 * np.pi * 10 * t)[:, None]
    y, reached = resample.rational_resample(x, 500.0, 250.0)
    assert reached == 250.0 and y.shape == (2500, 1)
    truth = np.sin(2 * np.pi * 10 * np.arange(2500) / 250.0)
    np.testing.assert_allclose(y[100:-100, 0], truth[100:-100], atol=1e-3)


def test_rational_resample_reaches_odd_ratios_or_says_it_cannot():
    y, reached = resample.rational_resample(np.zeros((2048, 2)), 2048.0, 250.0)
    assert reached == 250.0 and y.shape == (250, 2)
    assert resample.resampled_length(1001, resample.resample_ratio(512.0, 250.0)) == 489
    with pytest.raises(InputError, match="cannot resample 1000 Hz to 333 Hz"):
        resample.rational_resample(np.zeros((10, 1)), 1000.0, 333.0, max_denominator=10)


def test_exponential_smoothing_reaches_63_percent_of_a_step_after_one_time_constant():
    x = np.r_[np.zeros(10), np.ones(200)][:, None]
    y = resample.smooth(x, 100.0, {"method": "exponential", "width": 0.5})
    assert y[:10].max() == 0.0
    assert y[9 + 50, 0] == pytest.approx(1 - np.exp(-1), abs=0.01)


def test_gaussian_and_moving_smoothing_keep_the_mean_and_cut_noise():
    x = np.random.default_rng(5).normal(size=(4000, 1)) + 3.0
    for spec in (1.0, {"method": "moving", "width": 1.0}):
        y = resample.smooth(x, 10.0, spec)
        assert y.mean() == pytest.approx(3.0, abs=0.05)
        assert y.std() < 0.35 * x.std()


def test_bad_smoothing_options_name_the_key():
    with pytest.raises(InputError, match="smooth.method"):
        resample.smooth(np.zeros((5, 1)), 1.0, {"method": "boxcar", "width": 1})
    with pytest.raises(InputError, match="smooth.width"):
        resample.smooth(np.zeros((5, 1)), 1.0, {"method": "gaussian", "width": -1})
    with pytest.raises(InputError, match="unknown key"):
        resample.smooth(np.zeros((5, 1)), 1.0, {"method": "gaussian", "sigma": 1})


def test_zscore_standardises_and_flags_flat_columns():
    x = np.c_[np.arange(10.0), np.full(10, 7.0)]
    z, ok = resample.zscore(x)
    assert ok.tolist() == [True, False]
    assert z[:, 0].mean() == pytest.approx(0, abs=1e-12) and z[:, 0].std() == pytest.approx(1)
    assert (z[:, 1] == 0).all()
