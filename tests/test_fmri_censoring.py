"""fMRI censoring, dummy scans and named strategies against nilearn's own implementation.

An fMRIPrep-style folder (``*_desc-preproc_bold.nii.gz`` beside
``*_desc-confounds_timeseries.tsv`` and its JSON) is made from the synthetic run, with
framewise displacement spikes at known volumes and two non-steady-state volumes; nilearn's
``load_confounds_strategy`` + ``signal.clean`` on those files is the reference.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from nilearn import signal as nsignal
from nilearn.interfaces.fmriprep import load_confounds_strategy
from scipy.interpolate import CubicSpline

from neurodag import io, preprocess, store, synth
from neurodag.cli import main
from neurodag.errors import InputError
from neurodag.preprocess.fmri_confounds import std_dvars

N, TR = 200, 2.0
SPIKES = [40, 95, 150]
DUMMY = [0, 1]
MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
IMG = "sub-01_task-rest_desc-preproc_bold.nii.gz"
TSV = "sub-01_task-rest_desc-confounds_timeseries.tsv"


def _expand(df: pd.DataFrame, names) -> dict:
    """fMRIPrep's derivative1, power2 and derivative1_power2 columns (first row n/a)."""
    out = {}
    for c in names:
        x = df[c].to_numpy(float)
        d = np.r_[np.nan, np.diff(x)]
        out.update({c: x, f"{c}_derivative1": d, f"{c}_power2": x ** 2,
                    f"{c}_derivative1_power2": d ** 2})
    return out


@pytest.fixture(scope="module")
def fmriprep_dir(tmp_path_factory):
    sim = synth.generate("fmri", seed=3, n_volumes=N, tr=TR)
    folder = tmp_path_factory.mktemp("fmriprep")
    synth.write(sim, folder)
    (folder / "bold.nii.gz").rename(folder / IMG)
    (folder / "confounds.tsv").unlink()
    (folder / "truth.nc").unlink()
    src = sim.native["confounds"]
    cols = _expand(src, MOTION + ["csf", "white_matter", "global_signal"])
    cols.update({f"a_comp_cor_{i:02d}": src[f"a_comp_cor_{i:02d}"] for i in range(5)})
    cosines = nsignal.create_cosine_drift(1 / 128, np.arange(N) * TR)[:, :-1]
    cols.update({f"cosine{i:02d}": cosines[:, i] for i in range(cosines.shape[1])})
    fd = np.full(N, 0.1)
    fd[SPIKES] = 1.2
    fd[0] = np.nan
    cols["framewise_displacement"] = fd
    cols["std_dvars"] = np.r_[np.nan, np.ones(N - 1)]
    for k, v in enumerate(DUMMY):
        cols[f"non_steady_state_outlier{k:02d}"] = np.eye(N)[v]
    pd.DataFrame(cols).to_csv(folder / TSV, sep="\t", index=False, na_rep="n/a")
    meta = {f"a_comp_cor_{i:02d}": {"Method": "aCompCor", "Mask": "combined",
                                     "Retained": True} for i in range(5)}
    (folder / TSV).with_suffix(".json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def raw(fmriprep_dir):
    return io.read([fmriprep_dir], modality="fmri")


def _nilearn_reference(folder, x, strategy, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conf, mask = load_confounds_strategy(str(folder / IMG), strategy, **kw)
        out = nsignal.clean(x, confounds=conf.to_numpy(), sample_mask=mask, detrend=True,
                            standardize="zscore_sample", low_pass=0.1, high_pass=0.01,
                            t_r=TR, filter="butterworth", standardize_confounds=True)
    return out, mask


def test_fd_spikes_censor_exactly_those_volumes_and_dummy_scans_are_dropped(raw):
    clean, qc = preprocess.run(raw, confounds="scrubbing")
    assert qc["censoring"]["censored"] == DUMMY + SPIKES
    assert qc["censoring"]["by"]["fd"] == SPIKES
    assert qc["dummy_scans"]["volumes"] == DUMMY
    # dummy scans are gone from clean.zarr; the spikes are in it, masked out
    assert clean["time"].values[0] == pytest.approx(len(DUMMY) * TR)
    assert clean.sizes["time"] == N - len(DUMMY)
    masked = clean["time"].values[~clean["sample_mask"].values] / TR
    np.testing.assert_array_equal(np.round(masked).astype(int), SPIKES)
    assert qc["censoring"]["n_kept"] == N - 5
    assert qc["censoring"]["fraction_kept"] == pytest.approx((N - 5) / N)
    # censored volumes inside hold the cubic spline through the cleaned kept volumes
    keep = clean["sample_mask"].values
    t = clean["time"].values
    spline = CubicSpline(t[keep], clean["signal"].values[keep].astype(float))(t[~keep])
    np.testing.assert_allclose(clean["signal"].values[~keep], spline, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("strategy", ["scrubbing", "compcor", "simple"])
def test_kept_volumes_equal_nilearn_signal_clean(raw, fmriprep_dir, strategy):
    on = strategy == "scrubbing"
    clean, qc = preprocess.run(raw, confounds=strategy, censor={"enabled": on})
    x = raw["signal"].values.astype(np.float64)
    expected, mask = _nilearn_reference(fmriprep_dir, x, strategy)
    kept = clean["signal"].values[clean["sample_mask"].values]
    assert kept.shape == expected.shape
    np.testing.assert_allclose(kept, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert qc["censoring"]["n_kept"] == len(mask)
    assert "nilearn.interfaces.fmriprep.load_confounds" in qc["confounds"]["route"]


def test_neurodag_selection_censors_the_same_volumes(raw):
    """The route for any confounds layout (no fMRIPrep names) finds the same volumes."""
    clean, qc = preprocess.run(raw, confounds=MOTION)
    assert qc["censoring"]["censored"] == DUMMY + SPIKES
    assert sorted(qc["confounds"]["regressed"]) == sorted(MOTION)
    clean3, qc3 = preprocess.run(raw, confounds=MOTION, dummy_scans=3)
    assert qc3["dummy_scans"]["volumes"] == [0, 1, 2]
    assert qc3["censoring"]["censored"] == [0, 1, 2] + SPIKES
    assert clean3["time"].values[0] == pytest.approx(3 * TR)


def test_compcor_brings_the_cosines_and_global_signal_only_when_asked(raw):
    _, qc = preprocess.run(raw, confounds="compcor", censor={"enabled": False})
    regressed = qc["confounds"]["regressed"]
    assert any(c.startswith("cosine") for c in regressed)
    assert {f"a_comp_cor_{i:02d}" for i in range(5)} <= set(regressed)
    assert not any(c.startswith("global_signal") for c in regressed)
    _, qc = preprocess.run(raw, confounds="simple", global_signal=True)
    assert "global_signal" in qc["confounds"]["regressed"]
    _, qc = preprocess.run(raw, confounds="36P", censor={"enabled": False})
    assert qc["confounds"]["n"] == 36 + sum(c.startswith("cosine")
                                             for c in qc["confounds"]["regressed"])


def test_ica_aroma_without_aroma_outputs_is_one_line(raw):
    with pytest.raises(InputError, match=r"ica_aroma needs ICA-AROMA outputs"):
        preprocess.run(raw, confounds="ica_aroma")


def test_a_run_with_too_little_clean_time_is_refused_and_nothing_written(raw, tmp_path,
                                                                          capsys):
    store.write_signal(raw, tmp_path / "raw.zarr")
    out = tmp_path / "out"
    out.mkdir()
    code = main(["preprocess", str(tmp_path / "raw.zarr"), "--out", str(out),
                 "--set", "censor.min_time=400"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "195 of 200 volumes (390 s) remain" in err and "censor.min_time 400 s" in err
    assert not any(out.iterdir())
    assert main(["preprocess", str(tmp_path / "raw.zarr"), "--out", str(out),
                 "--set", "censor.min_time=380"]) == 0
    assert (out / "clean.zarr").exists()


def test_standardised_dvars_of_white_noise_is_one():
    x = np.random.default_rng(0).normal(size=(2000, 300))
    d = std_dvars(x)
    assert np.isnan(d[0]) and np.nanmean(d) == pytest.approx(1.0, abs=0.02)


def test_brainspace_confound_names_match_what_the_columns_are(reference_cache):
    from neurodag import reference

    cache = reference_cache("brainspace")
    ds = reference.read("brainspace", "rest_fsa5", cache)
    conf = pd.DataFrame(ds["confounds"].values, columns=ds["confound"].values.astype(str))
    motion = ["rot_x", "rot_y", "rot_z", "trans_x", "trans_y", "trans_z"]
    for m in motion:
        np.testing.assert_allclose(conf[f"{m}_derivative1"].to_numpy()[1:],
                                   np.diff(conf[m].to_numpy()), atol=1e-9)
    spikes = conf[[c for c in conf if c.startswith("motion_outlier")]].to_numpy()
    assert set(np.unique(spikes)) == {0.0, 1.0} and (spikes.sum(0) == 1).all()
    comps = conf[[f"component_{i:02d}" for i in range(6)]].to_numpy()
    np.testing.assert_allclose(comps.T @ comps, np.eye(6), atol=1e-6)
    t = np.linspace(-1, 1, ds.sizes["time"])
    np.testing.assert_allclose(conf["legendre_1"], -t if conf["legendre_1"][0] > 0 else t,
                               atol=1e-3)
    # the provider's eight spike regressors censor their volumes ("all" takes every column)
    small = ds.isel(channel=slice(0, None, 50))
    _, qc = preprocess.run(small, confounds="all", censor={"enabled": False})
    assert set(np.flatnonzero(spikes.sum(1))) <= set(qc["censoring"]["censored"])
    assert qc["censoring"]["by"]["spike_columns"] == np.flatnonzero(spikes.sum(1)).tolist()


@pytest.mark.parametrize("options, message", [
    ({"censor": {"fd_treshold": 0.3}}, r"preprocess.censor.fd_treshold: unknown option; "
                                       r"did you mean 'fd_threshold'"),
    ({"censor": {"fd_threshold": -1}}, r"preprocess.censor.fd_threshold: expected a number > 0"),
    ({"dummy_scans": "some"}, r"preprocess.dummy_scans: expected an integer"),
    ({"confounds": "scrubbing", "censor": {"enabled": False}},
     r"preprocess.censor.enabled: false contradicts confounds: scrubbing"),
    ({"censor": {"fd_threshold": None}}, r"preprocess.censor: enabled with neither"),
    ({"confounds": "aroma"}, r"preprocess.confounds: expected one of .*did you mean"),
])
def test_bad_fmri_options_are_one_line(options, message):
    from neurodag.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        preprocess.check_options("fmri", options)
