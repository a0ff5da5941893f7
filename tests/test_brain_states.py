"""fMRI brain states (GLM-HMM on parcel series) and the dynamic connectome of parcels: unit
checks against direct numpy computations, and the brainspace resting run (real data)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_step
from scipy import stats

from neurodag import schema, store
from neurodag.connectivity import atlas
from neurodag.models.glmhmm import brainstates
from neurodag.models.ntf import affinity
from neurodag.models.ntf import estimator as ntf


# ----------------------------------------------------------------------------- units
def test_occupancy_and_dwell_count_runs_of_kept_bins():
    path = np.array([0, 0, 0, 1, 1, 0, 0, 2, 2, 2, 2, 1])
    keep = np.array([1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1], bool)
    seq = np.array([0] * 9 + [1] * 3)
    out = brainstates.occupancy_dwell(path, keep, seq, 4, dt=2.0)
    # kept: 0 x4, 1 x3, 2 x4 of 11; runs: 0 [3, 1] (the censored bin ends the second),
    # 1 [2, 1], 2 [2, 2] (the sequence boundary cuts it), state 3 never
    assert out["occupancy"] == pytest.approx([4 / 11, 3 / 11, 4 / 11, 0.0])
    assert out["n_visits"] == [2, 2, 2, 0]
    assert out["dwell_mean_bins"] == [2.0, 1.5, 2.0, None]
    assert out["dwell_mean_s"] == [4.0, 3.0, 4.0, None]


def test_state_means_are_the_mean_signal_of_each_states_kept_volumes():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 7))
    path = rng.integers(0, 3, 50)
    keep = rng.random(50) > 0.2
    means = brainstates.state_means(path, z, keep, 4)
    for s in range(3):
        np.testing.assert_allclose(means[s], z[keep & (path == s)].mean(0))
    assert np.isnan(means[3]).all()


def test_censored_samples_leave_the_affinity_windows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 4)).cumsum(0)
    keep = np.ones(120, bool)
    keep[30:45] = False          # window 20-39 keeps < half of its usable samples
    ten = affinity.affinity_tensor([x], np.ones((1, 4), bool), window=20, step=10,
                                   smooth=5, sample_masks=[keep])
    ok = affinity.usable(keep, 5)
    assert not ok[28:47].any() and ok[:28].all() and ok[47:].all()
    # the derivative over usable samples only, scaled by their RMS: a direct computation
    from scipy.signal import savgol_filter

    d = savgol_filter(x, 5, 2, deriv=1, axis=0, mode="interp")
    d[~ok] = 0
    u = d / np.sqrt((d ** 2).sum(0) / ok.sum())
    w = list(ten.starts).index(0)
    direct = np.maximum((u[:20].T @ u[:20] / 20)[np.triu_indices(4, 1)], 0)
    np.testing.assert_allclose(ten.values[:, w, 0], direct)
    w = list(ten.starts).index(40)   # samples 40-59: 13 usable of 20 -> observed, mean of 13
    n = ok[40:60].sum()
    direct = np.maximum((u[40:60].T @ u[40:60] / n)[np.triu_indices(4, 1)], 0)
    np.testing.assert_allclose(ten.values[:, w, 0], direct)
    assert not ten.window_observed[list(ten.starts).index(30), 0]
    assert ten.window_observed[list(ten.starts).index(0), 0]


def test_parcel_series_are_vertex_means_and_keep_the_frame_variables():
    rng = np.random.default_rng(2)
    names = [f"lh-{v}" for v in range(0, 400, 4)] + [f"rh-{v}" for v in range(0, 400, 4)]
    x = rng.normal(size=(30, len(names)))
    ds = schema.build(x, sfreq=0.5, channels=names, channel_types="bold", modality="fmri")
    ds["sample_mask"] = ("time", rng.random(30) > 0.1)
    ds["framewise_displacement"] = ("time", rng.random(30))
    series, found = atlas.parcel_series(ds, "fsaverage5_ico1")
    assert series["channel"].values.tolist() == found.names
    for k in (0, 5, len(found.names) - 1):
        np.testing.assert_allclose(series["signal"].values[:, k],
                                   x[:, found.labels == k].mean(axis=1))
    np.testing.assert_array_equal(series["sample_mask"].values, ds["sample_mask"].values)
    assert series["n_channels"].values.sum() == len(names)


# ----------------------------------------------------------------------------- brainspace
@pytest.fixture(scope="module")
def brainspace_clean(reference_cache, tmp_path_factory):
    from neurodag import reference

    folder = tmp_path_factory.mktemp("brainspace") / "ref_fmri_brainspace" / "rest_fsa5"
    store.write_signal(reference.read("brainspace", "rest_fsa5", reference_cache("brainspace")),
                       folder / "raw.zarr")
    run_step("preprocess", {"raw": folder / "raw.zarr"}, folder, confounds="all")
    return folder / "clean.zarr"


@pytest.mark.slow
def test_brainspace_brain_states_chosen_by_heldout_likelihood(brainspace_clean, tmp_path):
    import torch

    torch.set_num_threads(1)
    out = tmp_path / "glmhmm" / "rest_fsa5"
    run_step("fit-glmhmm", {"signal": brainspace_clean}, out, states=[1, 2, 3, 4],
             session="rest_fsa5")
    m = json.loads((out / "metrics.json").read_text())
    f = m["fmri"]
    assert (f["n_parcels"], f["n_volumes"], f["n_kept"], f["components"]) == (311, 652, 612, 5)
    ll = {int(k): v for k, v in m["heldout_loglik_mean"].items()}
    # measured: K=1 -1.4538, 2 -1.4464, 3 -1.4281, 4 -1.4087 (per bin and component)
    assert max(ll, key=ll.get) == m["best_mean_n_states"] and m["best_mean_n_states"] > 1
    assert m["selected_n_states"] > 1
    k = m["selected_n_states"]
    model = store.read_netcdf(out / f"K{k}.nc")
    path, keep = model["state_path"].values, model["kept"].values.astype(bool)
    assert keep.sum() == 612
    # occupancy from the Viterbi path over kept volumes
    occ = np.bincount(path[keep], minlength=k) / keep.sum()
    np.testing.assert_allclose(m["states"]["occupancy"], occ)
    # the states differ in mean: one-way ANOVA of each component over the kept volumes
    # (measured with K=3: p 0.02, 1e-45, 0.006, 1e-117, 0.2)
    from neurodag.models.glmhmm.brainstates import fmri_inputs

    X, _, info = fmri_inputs(store.read_signal(brainspace_clean).load())
    p = [stats.f_oneway(*[X.values[keep & (path == s), c] for s in range(k)]).pvalue
         for c in range(5)]
    assert min(p) * 5 < 1e-10
    np.testing.assert_allclose(model["state_mean"].values[0],
                               info["z"][keep & (path == 0)].mean(0))
    # the report: brain-state figure and the occupancy/dwell columns
    from neurodag.report import pages

    page = pages.dataset_page("ref_fmri_brainspace", {"rest_fsa5": brainspace_clean.parent /
                                                      "raw.zarr"},
                              tmp_path / "reports" / "bs.html",
                              products={"glmhmm": {"rest_fsa5": out}})
    html = page.read_text()
    assert "mean dwell per state (s)" in html and "rest_fsa5_brain_states.png" in html
    assert (tmp_path / "reports" / "bs" / "rest_fsa5_brain_states.png").is_file()
    # the states figure gives the same occupancy as metrics.json (kept volumes only)
    fig = json.loads((tmp_path / "reports" / "bs" / "rest_fsa5_glmhmm_states.json").read_text())
    np.testing.assert_allclose(fig["occupancy"], m["states"]["occupancy"])


@pytest.mark.slow
def test_brainspace_connectome_loadings_against_fd(brainspace_clean, tmp_path):
    out = tmp_path / "ntf"
    run_step("fit-ntf", {"sessions": [brainspace_clean]}, out, window_s=40, step_s=20,
             ranks=[2, 3], n_restarts=1)
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_neurons"] == 311 and m["atlas"]["name"] == "fsaverage5_ico2"
    ds = store.read_netcdf(out / f"rank{m['rank']}.nc")
    clean = store.read_signal(brainspace_clean)
    fd = clean["framewise_displacement"].values
    starts, window = ds["window_start"].values, int(ds.attrs["window"])
    direct_fd = np.array([np.nanmean(fd[s:s + window]) for s in starts])
    np.testing.assert_allclose(ds["window_fd"].values[0], direct_fd)
    # windows left mostly censored are not factorised and not correlated
    obs = ds["window_observed"].values[0].astype(bool)
    keep = clean["sample_mask"].values.astype(bool)
    usable = affinity.usable(keep, 5)
    assert obs.tolist() == [2 * usable[s:s + window].sum() >= window for s in starts]
    for k, r in enumerate(m["fd_correlation"]):
        assert r == pytest.approx(np.corrcoef(ds["temporal"].values[k][obs],
                                              direct_fd[obs])[0, 1])
    assert ds["community"].shape == (m["rank"], 311)
    assert all(c >= 2 for c in m["communities_per_factor"])
    from neurodag.report import pages

    page = pages.dataset_page("ref_fmri_brainspace", {"rest_fsa5": brainspace_clean.parent /
                                                      "raw.zarr"},
                              tmp_path / "reports" / "bs.html", products={"ntf": out})
    html = page.read_text()
    assert "r with FD" in html and f"{m['fd_correlation'][0]:+.3f}" in html
    assert (tmp_path / "reports" / "bs" / "ntf_motion.png").is_file()


def test_motion_correlation_is_pearson_over_observed_windows():
    rng = np.random.default_rng(3)
    t, fd = rng.random((2, 12)), rng.random(12)
    obs = np.ones(12, bool)
    obs[4] = False
    fd[7] = np.nan
    r = ntf.motion_correlation(t, fd, obs)
    ok = obs & np.isfinite(fd)
    assert r == pytest.approx([np.corrcoef(t[k][ok], fd[ok])[0, 1] for k in range(2)])
    assert ntf.motion_correlation(np.ones((1, 12)), fd, obs) == [None]
