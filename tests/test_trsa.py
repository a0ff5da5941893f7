"""Topological RSA: RDMs, transforms, identification and the DAG step (the paper figure:
test_trsa_figure.py)."""

import copy
import json

import numpy as np
import pytest
import xarray as xr

from neurodag import schema, synth
from neurodag.errors import InputError
from neurodag.models.rsa import trsa


def _rdms(vectors, n=None, **coords) -> xr.DataArray:
    """Square RDMs from upper-triangle vectors (rdm, pair)."""
    v = np.atleast_2d(np.asarray(vectors, float))
    n = n or int(round((1 + np.sqrt(1 + 8 * v.shape[1])) / 2))
    i, j = np.triu_indices(n, 1)
    sq = np.zeros((v.shape[0], n, n))
    sq[:, i, j] = v
    sq[:, j, i] = v
    cond = [f"c{k}" for k in range(n)]
    return xr.DataArray(sq, dims=trsa.DIMS,
                        coords={"condition": cond, "condition2": cond,
                                **{k: ("rdm", list(c)) for k, c in coords.items()}},
                        attrs={"metric": "test"})


def _vec(rdms):
    return trsa.to_vectors(rdms).values


# ----------------------------------------------------------------- known answers
def test_rank_transform_scales_ranks_to_unit_interval_with_ties_averaged():
    r = _rdms([[3.0, 1.0, 2.0, 2.0, 10.0, 5.0]])
    # ranks 4, 1, 2.5, 2.5, 6, 5 -> (rank - 1) / 5
    np.testing.assert_allclose(_vec(trsa.rank_transform(r)), [[0.6, 0, 0.3, 0.3, 1, 0.8]])


def test_geotopological_thresholds_at_the_quantiles_of_each_rdm():
    r = _rdms([[1.0, 2, 3, 4, 5, 6], [60.0, 50, 40, 30, 20, 10]])
    # Ranks 0, .2, ..., 1; the 0.2 / 0.8 quantiles are 0.2 / 0.8; linear between.
    expected = np.array([0, 0, 1 / 3, 2 / 3, 1, 1])
    gt = _vec(trsa.geotopological(r, 0.2, 0.8))
    np.testing.assert_allclose(gt, [expected, expected[::-1]])
    np.testing.assert_allclose(_vec(trsa.geotopological(r, 0.0, 1.0)),
                               _vec(trsa.rank_transform(r)))
    # l = u: a step at the median (values at the quantile itself go to 0).
    np.testing.assert_allclose(_vec(trsa.geotopological(r, 0.5, 0.5))[0], [0, 0, 0, 1, 1, 1])


def test_geodesic_on_a_four_node_graph():
    # Pairs (ab, ac, ad, bc, bd, cd) = 1..6 -> GT = 0, 0, 1/3, 2/3, 1, 1: edges bd and cd
    # are cut; shortest paths: ab 0, ac 0, ad 1/3, bc 0 (via a), bd 1/3, cd 1/3.
    r = _rdms([[1.0, 2, 3, 4, 5, 6]])
    np.testing.assert_allclose(_vec(trsa.geodesic(r, 0.2, 0.8)), [[0, 0, 1, 0, 1, 1]])


def test_geodesic_ranks_disconnected_pairs_last():
    # Ranks (ab, ac, ad, bc, bd, cd) = 0, .2, 1, .4, .8, .6; the 0.5-quantile is 0.5, so
    # GT = 0, .4, 1, .8, 1, 1: every edge to d is cut. Paths: ab 0, ac .4, bc .4 (via a),
    # d unreachable (ranked last, tied): ranks 1, 2.5, 5, 2.5, 5, 5.
    r = _rdms([[1.0, 2, 6, 3, 5, 4]])
    np.testing.assert_allclose(_vec(trsa.geodesic(r, 0.0, 0.5)),
                               [[0, 0.375, 1, 0.375, 1, 1]])


def test_matches_rsatoolbox_geotopological_on_one_rank_transformed_rdm():
    from rsatoolbox.rdm import geotopological_transform

    rng = np.random.default_rng(0)
    r = _rdms(rng.random((1, 45)))
    ranked = trsa.to_rsatoolbox(trsa.rank_transform(r))
    # rsatoolbox 0.3.2 transforms its input in place: give it a copy.
    theirs = geotopological_transform(copy.deepcopy(ranked), 0.2, 1.0).get_vectors()
    np.testing.assert_allclose(_vec(trsa.geotopological(r, 0.2, 1.0)), theirs)
    # With u < 1 rsatoolbox 0.3.2 also sets to 1 the in-between values whose *scaled*
    # value exceeds the u-quantile (it thresholds the array it has just rescaled); the
    # paper and the reference code threshold the original values. Elsewhere they agree.
    ours = _vec(trsa.geotopological(r, 0.2, 0.8))[0]
    theirs = geotopological_transform(copy.deepcopy(ranked), 0.2, 0.8).get_vectors()[0]
    q_u = np.quantile(ranked.get_vectors()[0], 0.8)
    np.testing.assert_allclose(theirs, np.where(ours > q_u, 1.0, ours))
    assert (ours != theirs).sum() > 0


def test_differs_from_rsatoolbox_on_raw_rdms_and_on_several_rdms():
    """rsatoolbox takes the quantiles over all RDMs jointly and does not rank first."""
    from rsatoolbox.rdm import geotopological_transform

    rng = np.random.default_rng(1)
    v = rng.random((2, 45))
    v[1] *= 10.0                       # same shape of geometry, another scale
    r = _rdms(v)
    ours = _vec(trsa.geotopological(r, 0.2, 0.8))
    theirs = geotopological_transform(copy.deepcopy(trsa.to_rsatoolbox(r)), 0.2, 0.8)
    # Per-RDM quantiles: each RDM spans [0, 1] with 20 % of pairs at 0 and at 1.
    assert np.all((ours == 0).sum(1) == 9) and np.all((ours == 1).sum(1) == 9)
    # Joint quantiles: more of the small-scale RDM falls below the joint l-quantile, more of
    # the large-scale one above the joint u-quantile.
    zeros, ones = (theirs.get_vectors() == 0).sum(1), (theirs.get_vectors() == 1).sum(1)
    assert zeros[0] > 9 > zeros[1] and ones[1] > 9 > ones[0]
    # Without ranking, even one RDM differs (raw values are not uniform).
    one = _rdms(v[:1] ** 3)
    theirs_one = geotopological_transform(copy.deepcopy(trsa.to_rsatoolbox(one)), 0.2, 0.8)
    assert not np.allclose(_vec(trsa.geotopological(one, 0.2, 0.8)), theirs_one.get_vectors())


def test_rsatoolbox_round_trip_keeps_values_and_descriptors():
    r = _rdms(np.arange(12.0).reshape(2, 6), session=["01", "02"], region=["v1", "v1"])
    back = trsa.from_rsatoolbox(trsa.to_rsatoolbox(r))
    np.testing.assert_array_equal(back.values, r.values)
    assert back["session"].values.tolist() == ["01", "02"]
    assert back["condition"].values.tolist() == ["c0", "c1", "c2", "c3"]
    assert back.attrs["metric"] == "test"


# ----------------------------------------------------------------- RDMs from patterns
def _patterns(x, names=("z", "a", "m", "b")):
    return xr.DataArray(x, dims=("condition", "channel"),
                        coords={"condition": list(names[: x.shape[0]])})


def test_correlation_rdm_keeps_condition_order():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 20))
    r = trsa.rdms(_patterns(x), "correlation")
    assert r["condition"].values.tolist() == ["z", "a", "m", "b"]
    np.testing.assert_allclose(r.values[0], 1 - np.corrcoef(x), atol=1e-12)
    e = trsa.rdms(_patterns(x), "euclidean")
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1) / x.shape[1]
    np.testing.assert_allclose(e.values[0], d2, atol=1e-12)


def test_crossnobis_is_unbiased_for_identical_conditions():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(3, 30))
    mean[1] = mean[0]                   # conditions 0 and 1 are the same
    same_cv, same_euc, diff_cv = [], [], []
    for _ in range(40):
        x = mean[:, :, None] + rng.normal(size=(3, 30, 4))      # 4 noisy repeats
        p = xr.DataArray(x, dims=("condition", "channel", "repeat"),
                         coords={"condition": ["a", "b", "c"]})
        cv = trsa.rdms(p, "crossnobis").values[0]
        same_cv.append(cv[0, 1])
        diff_cv.append(cv[0, 2])
        same_euc.append(trsa.rdms(p, "euclidean").values[0, 0, 1])
    se = np.std(same_cv) / np.sqrt(len(same_cv))
    assert abs(np.mean(same_cv)) < 3 * se
    # The plain distance of the repeat means is biased by 2 sigma^2 / n_repeats = 0.5.
    assert np.mean(same_euc) == pytest.approx(0.5, abs=0.1)
    true = ((mean[0] - mean[2]) ** 2).mean()
    assert np.mean(diff_cv) == pytest.approx(true, rel=0.1)


def test_extra_pattern_dims_become_rdm_coordinates():
    rng = np.random.default_rng(0)
    x = xr.DataArray(rng.normal(size=(2, 3, 4, 10)), dims=("seed", "layer", "condition",
                                                          "channel"),
                     coords={"seed": [5, 6], "layer": [1, 2, 3]})
    r = trsa.rdms(x)
    assert r.sizes["rdm"] == 6
    assert r["seed"].values.tolist() == [5, 5, 5, 6, 6, 6]
    np.testing.assert_allclose(r.values[4], trsa.rdms(x.sel(seed=6, layer=2)).values[0])


def test_rdm_errors_are_one_line_input_errors():
    x = _patterns(np.random.default_rng(0).normal(size=(4, 10)))
    with pytest.raises(InputError, match="metric"):
        trsa.rdms(x, "cosine")
    with pytest.raises(InputError, match="crossnobis"):
        trsa.rdms(x, "crossnobis")
    flat = x.copy(data=np.r_[x.values[:3], np.ones((1, 10))])
    with pytest.raises(InputError, match="constant"):
        trsa.rdms(flat)
    with pytest.raises(InputError, match="at least 3"):
        trsa.rank_transform(trsa.rdms(x.isel(condition=[0, 1])))
    with pytest.raises(InputError, match="lower"):
        trsa.geotopological(trsa.rdms(x), 0.8, 0.2)


# ----------------------------------------------------------------- identification
def _labelled_rdms(n_labels=5, n_groups=6, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.random((n_labels, 28))          # 8 conditions
    v = np.concatenate([protos + noise * rng.random((n_labels, 28)) for _ in range(n_groups)])
    labels = np.tile(np.arange(n_labels), n_groups)
    groups = np.repeat(np.arange(n_groups), n_labels)
    return _rdms(v, label=labels, group=groups)


def test_identify_recovers_labels_built_in():
    r = _labelled_rdms()
    assert trsa.identify(r, "label", "group") == 1.0
    assert trsa.identify(trsa.geotopological(r), "label", "group") == 1.0


def test_identify_is_at_chance_for_shuffled_labels():
    r = _labelled_rdms(noise=3.0)
    rng = np.random.default_rng(0)
    labels = r["label"].values
    acc = [trsa.identify(r, rng.permutation(labels), "group") for _ in range(30)]
    # Chance 1/5; 30 shuffles of 30 RDMs: the mean's sd is ~0.013.
    assert np.mean(acc) == pytest.approx(0.2, abs=0.06)


def test_identify_needs_two_groups_and_labels():
    r = _labelled_rdms(n_groups=1)
    with pytest.raises(InputError, match="2 groups"):
        trsa.identify(r, "label", "group")
    with pytest.raises(InputError, match="not a coordinate"):
        trsa.identify(r, "layer", "group")


def test_lu_grid_is_identify_over_the_upper_triangle():
    r = _labelled_rdms(noise=1.5)
    grid = trsa.lu_grid(r, "label", "group", step=0.25)
    assert grid.dims == ("lower", "upper") and grid.shape == (5, 5)
    assert np.isnan(grid.values[np.tril_indices(5, -1)]).all()
    assert grid.sel(lower=0.25, upper=0.75).item() == trsa.identify(
        trsa.geotopological(r, 0.25, 0.75), "label", "group")
    geo = trsa.lu_grid(r, "label", "group", step=0.5, variant="geodesic")
    assert geo.sel(lower=0.0, upper=0.5).item() == trsa.identify(
        trsa.geodesic(r, 0.0, 0.5), "label", "group")


# ----------------------------------------------------------------- DAG step
@pytest.fixture(scope="module")
def eeg_sessions():
    return [synth.eeg(seed=0, session=s, duration=60).data for s in ("01", "02")]


def _fit(sessions, **params):
    from neurodag.models.rsa import TopologicalRSA

    m = TopologicalRSA(**params).fit(sessions)
    return m.to_xarray(), m.metrics_


def test_run_gives_rdms_per_session_and_region_and_the_lu_map(eeg_sessions, tmp_path):
    results, metrics = _fit(eeg_sessions, step=0.25)
    assert results["raw"].dims == trsa.DIMS
    # 2 labels x 5 time bins; 2 sessions x 4 scalp quadrants.
    assert results.sizes["condition"] == 10 and results.sizes["rdm"] == 8
    assert sorted(set(results["session"].values)) == ["01", "02"]
    assert metrics["n_regions"] == 4 and metrics["chance"] == 0.25
    assert results["accuracy"].shape == (5, 5)
    assert metrics["accuracy_gt"] == trsa.identify(results["gt"], "region", "session")
    assert set(metrics["rdm_reliability"]) == set(metrics["regions"])
    again, metrics2 = _fit(eeg_sessions, step=0.25)
    xr.testing.assert_identical(results, again)
    assert metrics == metrics2
    results.to_netcdf(tmp_path / "trsa.nc", engine="h5netcdf")
    assert xr.open_dataset(tmp_path / "trsa.nc", engine="h5netcdf")["gt"].shape == (8, 10, 10)
    from neurodag.report.rsa import plot_report

    paths = plot_report(results, tmp_path)
    assert [p.name for p in paths] == ["trsa_rdms.png", "trsa_lu_accuracy.png"]
    assert all(p.stat().st_size > 5_000 for p in paths)


def test_step_writes_both_files_or_leaves_nothing(eeg_sessions, tmp_path, monkeypatch):
    from neurodag import steps, store

    paths = [store.write_signal(d, tmp_path / f"s{k}.zarr") for k, d in enumerate(eeg_sessions)]
    out = tmp_path / "models" / "trsa"

    def run(folder):
        return steps.run("trsa", {"sessions": paths}, {"results": folder}, {"step": 0.5})

    written = run(out)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "trsa.nc"]
    assert written["results"] == out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["provenance"]["source"] == [str(p) for p in paths]

    def fail(*args, **kwargs):
        raise OSError("disk full")

    # A second run that fails while writing keeps the finished folder as it was.
    monkeypatch.setattr(store, "write_json", fail)
    with pytest.raises(OSError, match="disk full"):
        run(out)
    assert json.loads((out / "metrics.json").read_text()) == metrics
    with pytest.raises(OSError, match="disk full"):
        run(tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir() if "fresh" in p.name) == []


def _regional_recording(session, rng_signal, profiles, sfreq=100.0, n_events=40):
    """Regions whose channels respond to 5 labels with a region-specific, session-stable
    profile (plus session-specific noise)."""
    labels = [f"s{k}" for k in range(5)]
    onsets = 1.0 + 1.5 * np.arange(n_events)
    ev_labels = [labels[k % 5] for k in range(n_events)]
    n = int((onsets[-1] + 2.0) * sfreq)
    x = 0.5 * rng_signal.normal(size=(n, sum(p.shape[1] for p in profiles.values())))
    names, region, col = [], [], 0
    for r, prof in profiles.items():
        for c in range(prof.shape[1]):
            names.append(f"{r}{c}")
            region.append(r)
        for on, lab in zip(onsets, ev_labels, strict=True):
            i = int((on + 0.1) * sfreq)
            x[i:i + 50, col:col + prof.shape[1]] += prof[labels.index(lab)]
        col += prof.shape[1]
    events = {"onset": onsets, "duration": 0.0, "label": ev_labels}
    return schema.build(x, sfreq=sfreq, channels=names, channel_types="seeg", modality="seeg",
                        session=session, region=region, events=events)


def test_run_identifies_regions_built_to_be_identifiable():
    rng = np.random.default_rng(0)
    profiles = {r: rng.normal(size=(5, 6)) for r in ("hippocampus", "amygdala", "insula")}
    sessions = [_regional_recording(s, np.random.default_rng(k), profiles)
                for k, s in enumerate(("01", "02", "03"))]
    results, metrics = _fit(sessions, step=0.5)
    assert metrics["regions"] == ["amygdala", "hippocampus", "insula"]
    assert metrics["conditions"] == ["s0", "s1", "s2", "s3", "s4"]   # 5 labels: no bins
    assert metrics["accuracy_rdm"] == 1.0 and metrics["accuracy_gt"] == 1.0
    assert min(metrics["rdm_reliability"].values()) > 0.8
    # Shesha per session over all 18 channels: each channel's profile is its own random draw,
    # so halves of the channels share little geometry; defined (5 conditions) and below 0.9
    assert sorted(metrics["geometric_stability"]) == [f"sub-01_ses-{s}" for s in ("01", "02", "03")]
    assert all(-0.5 < v < 0.9 for v in metrics["geometric_stability"].values())
    assert results["accuracy"].sel(lower=0.0, upper=1.0).item() == 1.0


def test_run_on_one_session_has_nothing_to_identify(eeg_sessions):
    results, metrics = _fit(eeg_sessions[:1], regions=None, patterns={"n_folds": 2})
    assert "accuracy" not in results and "no identification" in metrics["note"]
    assert results.sizes["rdm"] == 1


def test_run_rejects_two_conditions_without_time_bins(eeg_sessions):
    with pytest.raises(InputError, match="at least 3"):
        _fit(eeg_sessions, patterns={"time_bins": 1})
