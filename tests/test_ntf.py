"""Dynamic functional connectome: affinity kernel, masked HALS, rank selection, planted recovery."""

from __future__ import annotations

import numpy as np
import pytest

from neurodag import schema
from neurodag.errors import InputError
from neurodag.homogenize import canonical_neurons, worms
from neurodag.models import ntf
from neurodag.models.ntf import DynamicConnectome
from neurodag.models.ntf.affinity import affinity_tensor, pair_index, pairs_to_matrix
from neurodag.models.ntf.communities import nmi
from neurodag.models.ntf.hals import CPResult, congruence, nncp_hals
from neurodag.models.ntf.rank import select_rank
from neurodag.report.papers.dynamic_connectome import match_factors
from neurodag.synth.communities import planted

# ------------------------------------------------------------------------- the kernel


def _tensor(traces, window, step, mask=None):
    traces = [np.asarray(t, float) for t in traces]
    mask = np.ones((len(traces), traces[0].shape[1]), bool) if mask is None else mask
    return affinity_tensor(traces, mask, window=window, step=step, smooth=None)


def test_affinity_kernel_known_answers_on_tiny_traces():
    # x0 rises then falls, x1 rises throughout, x2 falls throughout
    x0 = [0, 1, 2, 3, 2, 1, 0]
    x1 = [0, 1, 2, 3, 4, 5, 6]
    x2 = [6, 5, 4, 3, 2, 1, 0]
    ten = _tensor([np.stack([x0, x1, x2], 1)], window=3, step=2)
    # central differences: d0 = [1,1,1,0,-1,-1,-1] (RMS sqrt(6/7)), d1 = 1, d2 = -1
    k = 1 / np.sqrt(6 / 7)
    aff = pairs_to_matrix(ten.values[:, :, 0].T, 3)        # (window, 3, 3)
    np.testing.assert_allclose(aff[:, 0, 1], [k, 0.0, 0.0], atol=1e-12)   # co-rise, mixed, anti
    np.testing.assert_allclose(aff[:, 0, 2], [0.0, 0.0, k], atol=1e-12)   # co-fall in window 2
    np.testing.assert_allclose(aff[:, 1, 2], [0.0, 0.0, 0.0], atol=1e-12)  # always opposite
    assert ten.starts.tolist() == [0, 2, 4]


def test_identical_traces_have_affinity_one_over_the_whole_recording():
    t = np.linspace(0, 6 * np.pi, 200)
    x = np.stack([np.sin(t), 3 * np.sin(t) + 5, np.cos(t)], 1)
    ten = _tensor([x], window=200, step=200)
    aff = pairs_to_matrix(ten.values[:, 0, 0], 3)
    assert aff[0, 1] == pytest.approx(1.0, abs=1e-9)       # scale and offset do not matter
    assert aff[0, 2] == pytest.approx(0.0, abs=0.02)       # quadrature: no net co-change


def test_pairs_round_trip_to_a_symmetric_matrix_with_zero_diagonal():
    i, j = pair_index(4)
    m = pairs_to_matrix(np.arange(1, 7, dtype=float), 4)
    assert (m == m.T).all() and (np.diag(m) == 0).all()
    np.testing.assert_array_equal(m[i, j], np.arange(1, 7))


def test_missing_neuron_gets_zero_affinity_and_zero_weight():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((100, 4)), axis=0)
    x[:, 2] = x[:, 0]                                   # would be a perfect pair if present
    mask = np.array([[True, True, False, True]])
    ten = _tensor([x], window=20, step=10, mask=mask)
    aff = pairs_to_matrix(ten.values[:, :, 0].T, 4)
    assert np.abs(aff[:, 2, :]).max() == 0.0
    observed = pairs_to_matrix(ten.pair_observed[:, 0].astype(float), 4)
    assert observed[2].sum() == 0 and observed[0, 1] == 1
    assert aff[:, 0, 1].max() > 0


def test_windows_outside_a_recording_are_dropped_not_zero_filled():
    rng = np.random.default_rng(1)
    long, short = rng.standard_normal((100, 3)), rng.standard_normal((50, 3))
    ten = _tensor([long, short], window=20, step=10)
    assert ten.values.shape[1] == 9
    assert ten.window_observed[:, 0].all()
    assert ten.window_observed[:, 1].tolist() == [True] * 4 + [False] * 5


# ------------------------------------------------------------------------- the solver


def _low_rank(seed=0, shape=(300, 20, 5), rank=3, noise=0.01):
    rng = np.random.default_rng(seed)
    factors = [rng.random((n, rank)) ** 3 for n in shape]
    x = np.einsum("ir,jr,kr->ijk", *factors) + noise * rng.random(shape)
    return x, CPResult(factors=factors, weights=np.ones(rank), error=0.0)


def test_hals_recovers_a_low_rank_tensor_at_least_as_well_as_tensorly():
    import tensorly as tl
    from tensorly.decomposition import non_negative_parafac_hals

    x, truth = _low_rank()
    ours = nncp_hals(x, 3, random_state=0, tol=1e-8)
    cp = non_negative_parafac_hals(tl.tensor(x), 3, random_state=0, n_iter_max=500, tol=1e-8)
    theirs = float(np.linalg.norm(x - tl.cp_to_tensor(cp)) / np.linalg.norm(x))
    assert ours.error <= theirs + 1e-4
    assert congruence(ours, truth)[0] >= 0.99
    np.testing.assert_allclose(ours.error, np.linalg.norm(x - ours.full()) / np.linalg.norm(x),
                               rtol=1e-6)


def test_masked_hals_ignores_unobserved_entries():
    x, truth = _low_rank(seed=1)
    rng = np.random.default_rng(2)
    m0 = rng.random((300, 5)) > 0.3
    m1 = np.ones((20, 5), bool)
    m1[12:, 3] = False
    xm = x * m0[:, None, :] * m1[None, :, :]
    masked = nncp_hals(xm, 3, m0=m0, m1=m1, random_state=0)
    naive = nncp_hals(xm, 3, random_state=0)
    assert congruence(masked, truth)[0] >= 0.99
    assert congruence(naive, truth)[0] < congruence(masked, truth)[0] - 0.03


def test_rank_rule_takes_the_last_clear_drop_among_stable_ranks():
    ranks = list(range(2, 10))
    errors = [0.62, 0.56, 0.52, 0.50, 0.489, 0.478, 0.467, 0.456]
    stable = [1.0, 1.0, 1.0, 1.0, 0.8, 0.8, 0.7, 0.8]
    rank, drops, floor = select_rank(ranks, errors, stable)
    assert floor == pytest.approx(0.011)
    assert rank == 4                          # 0.52 -> 0.50 is below 2 x floor
    assert select_rank(ranks, errors, [1.0] + [0.5] * 7)[0] == 2


# ------------------------------------------------------------------------- planted recovery


@pytest.fixture(scope="module")
def planted_fit():
    sim = planted(seed=0)
    model = DynamicConnectome(window=sim.window, step=sim.step, ranks=range(2, 9),
                              n_restarts=4, random_state=0)
    model.fit(sim.traces, mask=sim.mask)
    return sim, model


@pytest.mark.slow
def test_rank_selection_finds_the_planted_rank(planted_fit):
    sim, model = planted_fit
    assert model.rank_ == sim.truth.sizes["factor"] == 4


@pytest.mark.slow
def test_planted_communities_and_loadings_are_recovered_at_default_noise(planted_fit):
    sim, model = planted_fit
    fitted, truth = match_factors(model, sim.truth)
    assert len(fitted) == 4
    for f, p in zip(fitted, truth, strict=True):
        assert nmi(sim.truth["membership"].values[p], model.communities_[f]) >= 0.9
        r = np.corrcoef(model.temporal_[f], sim.truth["temporal"].values[p])[0, 1]
        assert r >= 0.9
        assert np.corrcoef(model.animal_[f], sim.truth["animal"].values[p])[0, 1] >= 0.7


@pytest.mark.slow
def test_communities_survive_ten_percent_missing_neurons_per_animal():
    sim = planted(seed=3, missing=0.1)
    model = DynamicConnectome(window=sim.window, step=sim.step, rank=4, n_restarts=3,
                              random_state=0).fit(sim.traces, mask=sim.mask)
    fitted, truth = match_factors(model, sim.truth)
    scores = [nmi(sim.truth["membership"].values[p], model.communities_[f])
              for f, p in zip(fitted, truth, strict=True)]
    assert min(scores) >= 0.9
    assert model.tensor_info_["observed_fraction"] < 0.85


def test_same_seed_gives_the_same_model():
    sim = planted(seed=1, n_neurons=24, n_epochs=8, epoch=40)
    kw = dict(window=sim.window, step=sim.step, rank=3, n_restarts=2, random_state=5)
    a = DynamicConnectome(**kw).fit(sim.traces)
    b = DynamicConnectome(**kw).fit(sim.traces)
    np.testing.assert_array_equal(a.affinity_, b.affinity_)
    np.testing.assert_array_equal(np.stack(a.communities_), np.stack(b.communities_))


# ------------------------------------------------------------------------- stack, run, report


def _stack(sim, n=24):
    names = canonical_neurons()[:n]
    recs = {f"a{k}": schema.build(x[:, :n], sfreq=3.0, channels=names, channel_types="neuron",
                                  modality="calcium", units="dF/F", subject=f"a{k}")
            for k, x in enumerate(sim.traces)}
    return worms.stack({"planted": recs}, dt=1 / 3.0)


def test_step_on_a_homogenized_stack_gives_named_results_and_plots(tmp_path):
    from neurodag import steps, store
    from neurodag.records import NTFMetrics as Metrics
    from neurodag.report.ntf import plot_report

    sim = planted(seed=2, n_neurons=24, n_animals=3, n_epochs=10)
    path = store.write_dataset(_stack(sim), tmp_path / "homogenized.zarr")
    steps.run("fit-ntf", {"stack": path}, {"fits": tmp_path / "ntf"},
              {"window_s": 20.0, "ranks": [2, 3, 4, 5], "n_restarts": 2})
    record = Metrics.read(tmp_path / "ntf" / "metrics.json")
    metrics = record.to_dict()
    results = {r: store.read_netcdf(tmp_path / "ntf" / f"rank{r}.nc") for r in (2, 3, 4, 5)}
    assert sorted(p.name for p in (tmp_path / "ntf").iterdir()) == [
        "metrics.json", "rank2.nc", "rank3.nc", "rank4.nc", "rank5.nc"]
    assert results[2].attrs["source"] == str(path) and results[2].attrs["inputs"] == \
        metrics["provenance"]["inputs"]
    # the stack path (names, dt -> window in samples, masks) fits what the estimator fits on
    # the planted traces directly: the same curves, rank and factors
    direct = ntf.DynamicConnectome(window=60, ranks=[2, 3, 4, 5], n_restarts=2).fit(sim.traces)
    assert metrics["rank"] == direct.rank_
    np.testing.assert_allclose(metrics["curve"]["error"], direct.rank_curve_["error"], rtol=1e-6)
    np.testing.assert_allclose(metrics["curve"]["stability"], direct.rank_curve_["stability"],
                               atol=1e-6)
    ds = results[metrics["rank"]]
    np.testing.assert_allclose(ds["affinity"].values,
                               direct.to_xarray(direct.rank_)["affinity"].values, atol=1e-6)
    assert ds["affinity"].dims == ("factor", "neuron", "neuron2")
    assert ds["temporal"].dims == ("factor", "window")
    assert ds["animal_loading"].dims == ("factor", "animal")
    assert ds.sizes["neuron"] == 24 and ds.attrs["window"] == 60
    assert ds["window_time"].values[0] == pytest.approx(59 / 2 / 3.0)
    back = store.read_netcdf(store.write_netcdf(ds, tmp_path / "rank.nc"))
    np.testing.assert_allclose(back["affinity"].values, ds["affinity"].values)
    pngs = plot_report(results, record, tmp_path / "report")
    assert [p.name for p in pngs] == ["ntf_rank_selection.png", "ntf_factors.png"]
    assert all(p.stat().st_size > 5000 for p in pngs)


# ------------------------------------------------------------------------- bad input


def test_nan_in_a_recording_is_a_one_line_error():
    x = np.zeros((100, 4))
    x[5, 1] = np.nan
    with pytest.raises(InputError, match=r"recording 0: NaN or Inf") as e:
        DynamicConnectome(window=20, rank=2).fit([x])
    assert "\n" not in str(e.value)


def test_window_longer_than_the_recording_is_an_error():
    with pytest.raises(InputError, match="longer than the longest recording"):
        DynamicConnectome(window=500, rank=2).fit([np.random.default_rng(0).random((100, 4))])


def test_window_longer_than_one_animal_names_it():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="animal1: 30 samples, shorter than the window"):
        DynamicConnectome(window=50, rank=2).fit([rng.random((100, 4)), rng.random((30, 4))])


@pytest.mark.parametrize("rank", [0, -2])
def test_rank_below_one_is_an_error(rank):
    with pytest.raises(InputError, match="rank must be at least 1"):
        DynamicConnectome(window=20, rank=rank).fit([np.random.default_rng(0).random((100, 4))])


def test_unknown_step_option_is_a_config_error(tmp_path):
    from neurodag import steps
    from neurodag.errors import ConfigError

    with pytest.raises(ConfigError, match=r"fit-ntf\.windw_s: unknown option; did you mean "
                                          r"'window_s'"):
        steps.run("fit-ntf", {"stack": tmp_path / "x.zarr"}, {"fits": tmp_path / "f"},
                  {"windw_s": 3})


def test_mask_of_the_wrong_shape_is_an_error():
    with pytest.raises(InputError, match=r"mask has shape \(1, 3\), expected \(1, 4\)"):
        DynamicConnectome(window=20, rank=2).fit([np.ones((100, 4))], mask=np.ones((1, 3)))
