"""fMRI connectivity and QC-FC: against nilearn's ConnectivityMeasure, the synthetic motion
ground truth and the brainspace resting run."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from nilearn.connectome import ConnectivityMeasure

from neurodag import preprocess, store, synth
from neurodag.cli import main
from neurodag.connectivity import atlas, step
from neurodag.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """Ten synthetic runs written as results/{dataset}/{session}/raw.zarr + clean.zarr."""
    root = tmp_path_factory.mktemp("conn") / "synth_fmri"
    stores = []
    for s in range(10):
        sim = synth.generate("fmri", seed=s, subject=f"{s:02d}", n_volumes=150)
        folder = root / f"sub-{s:02d}"
        folder.mkdir(parents=True)
        store.write_signal(sim.data, folder / "raw.zarr")
        preprocess.run_session(folder / "raw.zarr", folder)
        stores.append(folder / "clean.zarr")
    return stores


@pytest.fixture(scope="module")
def result(sessions):
    return step.run(sessions)


def test_matrices_equal_nilearn_on_the_kept_volumes(sessions, result):
    ds, _ = result
    kept = []
    for p in sessions:
        clean = store.read_signal(p).load()
        kept.append(clean["signal"].values[clean["sample_mask"].values].astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ConnectivityMeasure(kind="correlation",
                                       standardize="zscore_sample").fit_transform(kept)
    np.testing.assert_allclose(ds["connectivity"].values, expected, atol=1e-10)
    assert ds["region"].values.tolist() == [f"parcel-{i:02d}" for i in range(1, 25)]


def test_censored_volumes_do_not_enter_the_connectivity(sessions, result, tmp_path):
    ds, _ = result
    i = next(i for i, p in enumerate(sessions) if not store.read_signal(p)["sample_mask"].all())
    clean = store.read_signal(sessions[i]).load()
    mask = clean["sample_mask"].values
    spoiled = clean.copy(deep=True)
    spoiled["signal"][~mask] = 1e3 * np.arange(1, spoiled.sizes["channel"] + 1)
    path = tmp_path / "s" / "clean.zarr"
    store.write_signal(spoiled, path)
    again, _ = step.run([path])
    np.testing.assert_allclose(again["connectivity"].values[0], ds["connectivity"].values[i],
                               atol=1e-10)


def test_qcfc_falls_after_denoising_across_sessions(result):
    ds, metrics = result
    q = metrics["qcfc"]
    assert q["units"] == "session" and q["n_units"] == 10
    # measured: median |QC-FC r| 0.48 before, 0.22 after (24 parcels, 10 synthetic runs)
    assert q["after"]["median_abs_r"] < q["before"]["median_abs_r"] - 0.1
    assert "distance_dependence_rho" in q["after"]
    iu = np.triu_indices(ds.sizes["region"], k=1)
    assert np.isfinite(ds["qcfc_after"].values[iu]).all()


def test_session_facts_match_clean_zarr(sessions, result):
    _, metrics = result
    for m, p in zip(metrics["sessions"], sessions, strict=True):
        clean = store.read_signal(p)
        assert m["n_kept"] == int(clean["sample_mask"].sum())
        assert m["fraction_kept"] == pytest.approx(float(clean["sample_mask"].mean()))


def test_fsaverage5_icosahedral_parcels_are_nested_and_offline():
    names = [f"{h}-{v}" for h in ("lh", "rh") for v in range(10242)]
    ds = xr.Dataset(coords={"channel": names})
    p = atlas.parcels(ds, "auto", np.ones(len(names), bool))
    assert p.atlas == "fsaverage5_ico2" and len(p.names) == 324
    # each order-2 vertex is the centre of its own parcel; parcels hold 52-79 vertices
    np.testing.assert_array_equal(p.labels[:162], np.arange(162))
    counts = np.bincount(p.labels)
    assert counts.sum() == 20484 and counts.min() > 40 and counts.max() < 90
    with pytest.raises(InputError, match="not fsaverage5 vertices"):
        atlas.parcels(xr.Dataset(coords={"channel": ["a", "b"]}), "fsaverage5_ico1",
                      np.ones(2, bool))


def test_bad_options_and_tangent_of_one_session(sessions):
    with pytest.raises(ConfigError, match=r"connectivity.kind: expected one of"):
        step.check_options({"kind": "mutual information"})
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['atlass'\]"):
        step.check_options({"atlass": "auto"})
    with pytest.raises(InputError, match="tangent needs at least 2 sessions"):
        step.run(sessions[:1], kind="tangent")


def test_cli_writes_both_files(sessions, tmp_path):
    out = tmp_path / "connectivity"
    assert main(["connectivity", *map(str, sessions[:3]), "--out", str(out),
                 "--set", "kind=tangent"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kind"] == "tangent" and metrics["qcfc"]["units"] == "window"
    assert store.read_netcdf(out / "connectivity.nc")["connectivity"].shape == (3, 24, 24)


@pytest.mark.slow
def test_brainspace_qcfc_falls_after_denoising(reference_cache, tmp_path):
    from neurodag import reference

    folder = tmp_path / "ref_fmri_brainspace" / "rest_fsa5"
    store.write_signal(reference.read("brainspace", "rest_fsa5", reference_cache("brainspace")),
                       folder / "raw.zarr")
    preprocess.run_session(folder / "raw.zarr", folder, confounds="all")
    ds, metrics = step.run([folder / "clean.zarr"])
    q = metrics["qcfc"]
    assert metrics["atlas"] == "fsaverage5_ico2" and q["units"] == "window"
    # measured: median |QC-FC r| 0.406 -> 0.285 over ten 60-s windows, 311 parcels
    assert q["after"]["median_abs_r"] < q["before"]["median_abs_r"] - 0.05
    assert metrics["sessions"][0]["n_kept"] == 612


def test_report_shows_carpet_matrices_qcfc_and_censoring(sessions, tmp_path):
    from neurodag.report import pages

    out = tmp_path / "connectivity"
    step.run_stores(sessions, out)
    raw = {p.parent.name: p.parent / "raw.zarr" for p in sessions[:2]}
    page = pages.dataset_page("synth_fmri", raw, tmp_path / "reports" / "synth_fmri.html",
                              products={"connectivity": out})
    html = page.read_text()
    assert 'id="connectivity"' in html and "QC-FC before denoising" in html
    assert "parcel order" in html and "parcel-01, parcel-02" in html
    figs = tmp_path / "reports" / "synth_fmri"
    for name in ("connectivity_carpet_00.png", "connectivity_matrices.png",
                 "connectivity_qcfc.png", "connectivity_matrices.json"):
        assert (figs / name).is_file()
    order = json.loads((figs / "connectivity_matrices.json").read_text())["parcel_order"]
    assert order == [f"parcel-{i:02d}" for i in range(1, 25)]
    # each session's QC: censoring, FD-DVARS correlation
    assert "censoring" in html and "FD-DVARS correlation" in html and "% kept" in html
