"""fMRI cleaning (nilearn.signal.clean) against the synthetic run's ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from nilearn import signal as nsignal

from neurodag import preprocess, schema, synth
from neurodag.errors import ConfigError, InputError

MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def _motion_r2(y: np.ndarray, motion: np.ndarray) -> float:
    x = np.c_[np.ones(len(y)), motion]
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    return 1.0 - np.var(y - x @ beta) / np.var(y)


@pytest.fixture(scope="module")
def run300():
    # 300 volumes: with the default 120 (4 min) the 11 default confounds, band-passed
    # like the data, leave too few degrees of freedom in the task's band (see the report).
    sim = synth.generate("fmri", seed=0, n_volumes=300)
    clean, qc = preprocess.run(sim.data)
    return sim, clean, qc


def test_active_parcels_follow_the_design_better_and_motion_less(run300):
    sim, clean, qc = run300
    truth = sim.truth
    design = truth["design"].values
    tr = 1.0 / sim.data.attrs["sfreq"]
    design_bp = nsignal.clean(design, detrend=True, low_pass=0.1, high_pass=0.01, t_r=tr,
                              standardize=None)
    # clean.zarr spans the first to the last kept volume; compare on its kept volumes
    keep = np.isin(sim.data["time"].values, clean["time"].values[clean["sample_mask"].values])
    design, design_bp = design[keep], design_bp[keep]
    raw = sim.data["signal"].values[keep]
    out = clean["signal"].values[clean["sample_mask"].values]
    before, after = [], []
    for c in range(design.shape[1]):
        for p in np.flatnonzero(truth["active"].values[c]):
            before.append(np.corrcoef(raw[:, p], design[:, c])[0, 1])
            after.append(np.corrcoef(out[:, p], design_bp[:, c])[0, 1])
    # seed 0: mean r over the 6 active parcels 0.60 -> 0.65
    assert np.mean(after) > np.mean(before) + 0.03, (before, after)
    motion = sim.data["confounds"].sel(confound=MOTION).values[keep]
    r2_raw = np.median([_motion_r2(raw[:, p], motion) for p in range(raw.shape[1])])
    r2_clean = np.median([_motion_r2(out[:, p], motion) for p in range(raw.shape[1])])
    # measured: median variance explained by motion 0.52 -> 0.01
    assert r2_raw > 0.3 and r2_clean < 0.05


def test_qc_reports_confounds_fd_and_variance(run300):
    sim, clean, qc = run300
    assert sorted(qc["confounds"]["regressed"]) == sorted(
        MOTION + [f"a_comp_cor_0{i}" for i in range(5)])
    fd = sim.truth["framewise_displacement"].values[1:]
    est = sim.data["confounds"].sel(confound="framewise_displacement").values[1:]
    assert qc["framewise_displacement"]["mean"] == pytest.approx(est.mean())
    assert qc["framewise_displacement"]["fraction_above"] == pytest.approx((est > 0.5).mean())
    assert abs(qc["framewise_displacement"]["mean"] - fd.mean()) < 0.05
    assert 0 < qc["variance_removed"]["median"] < 1
    x = clean["signal"].values[clean["sample_mask"].values]
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(x.std(0, ddof=1), 1, rtol=1e-4)
    schema.validate(clean)


def test_without_confounds_the_fallback_is_said_and_fd_computed_from_motion():
    sim = synth.generate("fmri", seed=1)
    ds = sim.data.drop_vars(["confounds", "confound"])
    clean, qc = preprocess.run(ds)
    assert qc["confounds"]["n"] == 0
    assert "detrending, band-pass and standardisation only" in qc["confounds"]["note"]
    assert qc["framewise_displacement"] == {"source": "no motion columns"}
    motion_only = sim.data.sel(confound=MOTION)
    _, qc2 = preprocess.run(motion_only, confounds="motion")
    assert qc2["framewise_displacement"]["source"].startswith("computed from the motion")
    est = sim.data["confounds"].sel(confound="framewise_displacement").values[1:]
    assert qc2["framewise_displacement"]["mean"] == pytest.approx(est.mean(), rel=1e-6)


def test_a_missing_named_confound_is_one_line():
    ds = synth.generate("fmri", seed=0).data
    with pytest.raises(InputError, match=r"confound\(s\) \['wm'\] not in the recording"):
        preprocess.run(ds, confounds=["trans_x", "wm"])


def test_short_run_and_nyquist():
    ds = synth.generate("fmri", seed=0, n_volumes=20).data
    with pytest.raises(InputError, match=r"has 20 volumes but the 0.01-0.1 Hz band-pass "
                                         r"\(Butterworth order 5\) needs at least 34"):
        preprocess.run(ds, censor={"enabled": False})
    ds = synth.generate("fmri", seed=0, tr=6.0, n_volumes=60).data
    with pytest.raises(ConfigError, match=r"high edge 0.1 Hz is at or above the Nyquist"):
        preprocess.run(ds)
