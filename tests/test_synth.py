"""Synthetic generators: contract, determinism, ground-truth claims, real-format files."""

from __future__ import annotations

import json
import re

import mne
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.signal import welch

from neurodag import schema, schema_trials, synth
from neurodag.errors import InputError

FIFF = mne.io.constants.FIFF

#: Small settings for tests that generate many times.
SMALL = {
    "eeg": dict(duration=10), "meg": dict(duration=5, n_locations=20),
    "seeg": dict(duration=5), "ecog": dict(duration=5), "fmri": dict(n_volumes=40),
    "calcium": dict(duration=120), "spikes": dict(n_bins=500, n_sequences=2),
    "behavior": dict(n_sessions=3, n_trials=30),
}
DATA_TYPES = {"eeg": {"eeg"}, "meg": {"mag", "grad"}, "seeg": {"seeg"}, "ecog": {"ecog"},
              "fmri": {"bold"}, "calcium": {"neuron"}, "spikes": {"neuron"}}


@pytest.fixture(scope="module")
def sims():
    """One default simulation per modality (about 3 s in all)."""
    return {m: synth.generate(m, seed=0) for m in synth.MODALITIES}


def _psd(x, sfreq, nperseg):
    return welch(x, fs=sfreq, nperseg=nperseg, axis=0)


def _band_ratio(f, p, band, flank):
    inside = (f >= band[0]) & (f <= band[1])
    around = ((f >= flank[0]) & (f < band[0])) | ((f > band[1]) & (f <= flank[1]))
    return p[inside].mean(0) / p[around].mean(0)


# -- contract, determinism, parameters -------------------------------------------------

@pytest.mark.parametrize("modality", synth.MODALITIES)
def test_every_modality_follows_the_contract(sims, modality):
    if modality == "behavior":  # a trial table: the contract with dim trial
        ds = schema_trials.validate_trials(sims[modality].data)
        assert ds.sizes["trial"] == 20 * 100 and "choice" in ds["channel"].values
    else:
        ds = schema.validate(sims[modality].data)
        assert DATA_TYPES[modality] <= set(ds["channel_type"].values)
    assert ds.attrs["modality"] == modality
    assert ds.attrs["source"] == f"synthetic:{modality}"
    assert re.fullmatch(r"[0-9a-f]{64}", ds.attrs["source_sha256"])
    assert sims[modality].truth.attrs["modality"] == modality


@pytest.mark.parametrize("modality", synth.MODALITIES)
def test_same_seed_gives_identical_numbers_and_another_seed_other_data(modality):
    a = synth.generate(modality, seed=3, **SMALL[modality])
    b = synth.generate(modality, seed=3, **SMALL[modality])
    c = synth.generate(modality, seed=4, **SMALL[modality])
    np.testing.assert_array_equal(a.data["signal"].values, b.data["signal"].values)
    for name in a.truth.data_vars:
        xr.testing.assert_equal(a.truth[name], b.truth[name])
    assert a.data.attrs["source_sha256"] == b.data.attrs["source_sha256"]
    x, y = a.data["signal"].values, c.data["signal"].values
    assert x.shape != y.shape or np.abs(x - y).max() > 0.1 * np.abs(x).std()
    assert a.data.attrs["source_sha256"] != c.data.attrs["source_sha256"]


def test_source_sha256_changes_with_any_parameter():
    a = synth.generate("spikes", seed=0, n_bins=200, n_sequences=1)
    b = synth.generate("spikes", seed=0, n_bins=201, n_sequences=1)
    assert a.data.attrs["source_sha256"] != b.data.attrs["source_sha256"]


def test_sessions_of_a_subject_share_its_parameters_but_not_its_data():
    kw = dict(seed=5, n_bins=300, n_sequences=1)
    s1 = synth.spikes(subject="01", session="01", **kw)
    s2 = synth.spikes(subject="01", session="02", **kw)
    other = synth.spikes(subject="02", session="01", **kw)
    np.testing.assert_array_equal(s1.truth["weights"].values, s2.truth["weights"].values)
    assert not np.array_equal(s1.data["signal"].values, s2.data["signal"].values)
    assert not np.array_equal(s1.truth["weights"].values, other.truth["weights"].values)


def test_bad_requests_raise_one_line_input_errors():
    with pytest.raises(InputError, match="unknown modality 'pet'"):
        synth.generate("pet")
    with pytest.raises(InputError, match="unknown parameter 'durration'"):
        synth.generate("eeg", durration=10)
    with pytest.raises(InputError, match="duration must be a number > 0"):
        synth.generate("seeg", duration=-1)
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        synth.generate("calcium", seed=-2)
    with pytest.raises(InputError, match="channel 'Xx9' is not in the"):
        synth.eeg(channels=["Fp1", "Xx9"])
    with pytest.raises(InputError) as info:
        synth.generate("fmri", n_active=20)
    assert str(info.value) == "synth.fmri: 2 * n_active (40) exceeds n_parcels (24)"


# -- EEG -------------------------------------------------------------------------------

def test_eeg_data_is_brain_plus_artifacts_plus_noise(sims):
    sim = sims["eeg"]
    total = sim.truth["brain"] + sim.truth["artifacts"].sum("artifact") + sim.truth["noise"]
    x = sim.data["signal"].values
    assert np.abs(x - total.values).max() <= 1e-12 * np.abs(x).max()
    assert set(sim.truth["artifact"].values) == {"blink", "saccade", "muscle", "ecg", "line"}


def test_eeg_uses_real_montage_positions(sims):
    ds = sims["eeg"].data
    assert ds.sizes["channel"] == 35 and {"VEOG", "HEOG", "ECG"} <= set(ds["channel"].values)
    known = synth.head.montage_positions()
    fp1 = ds.sel(channel="Fp1")
    np.testing.assert_allclose([fp1.x, fp1.y, fp1.z], known["Fp1"])
    radius = np.sqrt(ds.x**2 + ds.y**2 + ds.z**2).dropna("channel")
    assert 0.07 < float(radius.min()) and float(radius.max()) < 0.16


def test_eeg_blinks_are_largest_on_veog_then_fp1_fp2(sims):
    blink = sims["eeg"].truth["artifacts"].sel(artifact="blink")
    rms = np.sqrt((blink**2).mean("time")).to_series()
    eeg = rms.drop(["VEOG", "HEOG", "ECG"]).sort_values(ascending=False)
    assert rms.idxmax() == "VEOG"
    assert set(eeg.index[:2]) == {"Fp1", "Fp2"}
    assert eeg[["Fp1", "Fp2"]].min() > 5 * eeg[["Cz", "Pz", "O1", "O2"]].max()


def test_eeg_blink_onsets_precede_veog_peaks_by_about_100_ms(sims):
    sim = sims["eeg"]
    veog = sim.truth["artifacts"].sel(artifact="blink", channel="VEOG").values
    sfreq = sim.data.attrs["sfreq"]
    for onset in sim.truth["blink_onset"].values:
        i0 = int(round(onset * sfreq))
        peak = (i0 + np.argmax(veog[i0:i0 + int(0.3 * sfreq)])) / sfreq
        assert 0.07 <= peak - onset <= 0.13
    assert len(sim.truth["blink_onset"]) >= 5


def test_eeg_alpha_peak_is_posterior_in_the_psd(sims):
    sim = sims["eeg"]
    alpha = sim.truth.attrs["alpha_freq"]
    f, p = _psd(sim.data["signal"].values, sim.data.attrs["sfreq"], 1000)
    ratio = pd.Series(_band_ratio(f, p, (alpha - 1, alpha + 1), (alpha - 4, alpha + 4)),
                      index=sim.data["channel"].values)
    assert ratio[["O1", "O2", "Oz"]].min() > 3.0
    assert ratio[["O1", "O2", "Oz"]].min() > 2 * ratio[["Fp1", "Fp2", "F7", "F8"]].max()


def test_eeg_line_noise_peak_follows_line_freq(sims):
    sim = sims["eeg"]
    f, p = _psd(sim.data["signal"].values, 250.0, 1000)
    eeg = (sim.data["channel_type"] == "eeg").values
    assert _band_ratio(f, p, (49.9, 50.1), (44, 56))[eeg].min() > 3
    assert np.median(_band_ratio(f, p, (49.9, 50.1), (44, 56))[eeg]) > 20
    other = synth.eeg(seed=0, duration=10, line_freq=60.0)
    f, p = _psd(other.data["signal"].values, 250.0, 1000)
    assert _band_ratio(f, p, (59.9, 60.1), (54, 66))[eeg].min() > 3
    assert _band_ratio(f, p, (49.9, 50.1), (44, 56))[eeg].max() < 3
    assert other.truth.attrs["line_freq"] == 60.0


def test_eeg_muscle_is_broadband_temporal_and_only_inside_bursts(sims):
    sim = sims["eeg"]
    muscle = sim.truth["artifacts"].sel(artifact="muscle")
    t = muscle["time"].values
    inside = np.zeros(t.size, bool)
    for on, off in zip(sim.truth["muscle_onset"].values, sim.truth["muscle_offset"].values,
                       strict=True):
        inside |= (t >= on) & (t <= off)
    assert inside.any() and np.abs(muscle.values[~inside]).max() == 0
    f, p = _psd(muscle.values[inside], 250.0, 250)
    assert p[(f > 30) & (f < 120)].sum() > 20 * p[f < 15].sum()
    rms = np.sqrt((muscle[inside] ** 2).mean("time")).to_series()
    assert rms[["T7", "T8"]].max() > 5 * rms[["Cz", "Pz", "Fz"]].max()


def test_eeg_p3_is_larger_after_targets_than_after_standards(sims):
    sim = sims["eeg"]
    brain = sim.truth["brain"].sel(channel="Pz").values
    ev = schema.get_events(sim.data)
    sfreq = sim.data.attrs["sfreq"]

    def window_mean(label):
        on = ev.loc[ev["label"] == label, "onset"].to_numpy()
        return np.mean([brain[int((o + 0.3) * sfreq):int((o + 0.4) * sfreq)].mean() for o in on])

    assert (ev["label"] == "target").sum() >= 5
    assert window_mean("target") - window_mean("standard") > 3e-6


# -- MEG -------------------------------------------------------------------------------

def test_meg_has_neuromag_like_triplets_with_units(sims):
    sim = sims["meg"]
    info = sim.native["info"]
    kinds = np.array(info.get_channel_types())
    assert (kinds == "mag").sum() == 60 and (kinds == "grad").sum() == 120
    coils = {ch["coil_type"] for ch in info["chs"] if ch["kind"] == FIFF.FIFFV_MEG_CH}
    assert coils == {FIFF.FIFFV_COIL_VV_MAG_T3,
                     FIFF.FIFFV_COIL_VV_PLANAR_T1}
    units = dict(zip(sim.data["channel_type"].values, sim.data["unit"].values, strict=True))
    assert units["mag"] == "T" and units["grad"] == "T/m"
    normals = np.array([ch["loc"][9:12] for ch in info["chs"] if ch["kind"] == 1])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)


def test_meg_sensors_sit_where_a_real_neuromag_helmet_does(sims, real_data):
    real = mne.read_evokeds(real_data / "test-ave.fif.gz", condition=0, verbose="error").info
    ours = sims["meg"].native["info"]

    def coils_and_distance(info):
        chs = [ch for ch in info["chs"] if ch["kind"] == FIFF.FIFFV_MEG_CH]
        t = info["dev_head_t"]["trans"]
        pos = np.array([ch["loc"][:3] for ch in chs]) @ t[:3, :3].T + t[:3, 3]
        return ({int(ch["coil_type"]) for ch in chs},
                np.median(np.linalg.norm(pos - synth.head.MEG_ORIGIN, axis=1)))

    (real_coils, real_d), (our_coils, our_d) = coils_and_distance(real), coils_and_distance(ours)
    assert our_coils == real_coils
    assert abs(our_d - real_d) < 0.01


def test_meg_data_is_brain_plus_artifacts_plus_noise(sims):
    sim = sims["meg"]
    total = sim.truth["brain"] + sim.truth["artifacts"].sum("artifact") + sim.truth["noise"]
    assert np.allclose(sim.data["signal"].values, total.values, rtol=0, atol=1e-25)


def test_meg_heartbeats_match_ecg_r_peaks_and_reach_the_sensors(sims):
    sim = sims["meg"]
    ecg = sim.data["signal"].sel(channel="ECG").values
    sfreq = sim.data.attrs["sfreq"]
    for beat in sim.truth["heartbeat"].values[1:-1]:
        i = int(round(beat * sfreq))
        window = ecg[i - 20:i + 21]
        assert abs(np.argmax(window) - 20) <= 1
    pattern = sim.truth["artifact_pattern"].sel(artifact="ecg")
    mags = pattern[sim.data["channel_type"].values == "mag"]
    assert np.isclose(np.abs(mags).max(), 1e-12)


def test_meg_alpha_is_stronger_over_posterior_gradiometers(sims):
    sim = sims["meg"]
    alpha = sim.truth.attrs["alpha_freq"]
    f, p = _psd(sim.data["signal"].values, 250.0, 500)
    ratio = _band_ratio(f, p, (alpha - 1, alpha + 1), (alpha - 4, alpha + 4))
    grad = sim.data["channel_type"].values == "grad"
    y = sim.data["y"].values
    assert ratio[grad & (y < -0.04)].mean() > 2 * ratio[grad & (y > 0.04)].mean()


def test_meg_fif_supports_an_mne_forward(sims, tmp_path):
    paths = synth.write(sims["meg"], tmp_path / "meg")
    raw = mne.io.read_raw_fif(paths[0], verbose="error")
    src = mne.setup_volume_source_space(
        pos=dict(rr=np.array([[0.0, -0.05, 0.09]]), nn=np.array([[1.0, 0.0, 0.0]])),
        sphere=(0.0, 0.0, 0.04, 0.09), verbose="error")
    sphere = mne.make_sphere_model(r0=(0.0, 0.0, 0.04), head_radius=None, verbose="error")
    fwd = mne.make_forward_solution(raw.info, trans=None, src=src, bem=sphere, eeg=False,
                                    verbose="error")
    gain = fwd["sol"]["data"]
    assert gain.shape == (180, 3)
    assert np.abs(gain).max() > 1e-7  # T/(A*m): a 10 nAm dipole gives > 1 fT


# -- sEEG / ECoG -----------------------------------------------------------------------

def test_seeg_region_labels_match_positions(sims):
    ds, truth = sims["seeg"].data, sims["seeg"].truth
    mm = np.c_[ds.x.values, ds.y.values, ds.z.values] * 1000.0
    assert synth.seeg.assign_region(mm) == ds["region"].values.tolist()
    centers = truth["region_center"].to_pandas()
    for name, region, p in zip(ds["channel"].values, ds["region"].values, mm, strict=True):
        if region == synth.seeg.WHITE_MATTER:
            continue
        d = np.linalg.norm(centers.to_numpy() - p, axis=1)
        assert d[list(centers.index).index(region)] <= truth["region_radius"].sel(
            region=region) + 1e-9, name
    assert ds.sel(channel="LA1")["region"] == "left amygdala"
    assert ds.sel(channel="LH2")["region"] == "left hippocampus"
    assert (ds["region"] == synth.seeg.WHITE_MATTER).sum() >= 4


def test_seeg_names_are_shaft_contacts(sims):
    names = sims["seeg"].data["channel"].values.tolist()
    assert names[:8] == [f"LA{i}" for i in range(1, 9)] and len(names) == 32


def test_seeg_interictal_spikes_come_from_the_spike_region(sims):
    sim = sims["seeg"]
    region = sim.truth.attrs["spike_region"]
    peak = np.abs(sim.truth["ied"]).max("time").to_series()
    regions = sim.data["region"].to_series()
    assert set(regions[peak.nlargest(3).index]) == {region}
    ied_at_region = sim.truth["ied"].sel(channel=peak.idxmax()).values
    sfreq = sim.data.attrs["sfreq"]
    for t in sim.truth["spike_time"].values:
        i = int(round(t * sfreq))
        assert abs(np.argmin(ied_at_region[i - 25:i + 26]) - 25) <= 2
    data = sim.truth["brain"] + sim.truth["ied"] + sim.truth["artifacts"].sum("artifact")
    assert np.allclose(sim.data["signal"], data + sim.truth["noise"], rtol=0, atol=1e-18)


def test_seeg_volume_conduction_falls_with_distance(sims):
    sim = sims["seeg"]
    src = sim.truth["region_source"].sel(region="left hippocampus").values
    r = {c: np.corrcoef(src, sim.truth["brain"].sel(channel=c).values)[0, 1]
         for c in ("LH1", "LH5", "LA8", "RA1")}
    assert r["LH1"] > 0.8 and r["LH1"] > r["LH5"] > r["LA8"] and abs(r["RA1"]) < 0.3


def test_ecog_grid_is_a_named_cortical_grid(sims):
    sim = sims["ecog"]
    ds = sim.data
    assert ds.attrs["modality"] == "ecog" and set(ds["channel_type"].values) == {"ecog"}
    assert ds["channel"].values.tolist() == [f"G{i}" for i in range(1, 33)]
    center, radius = synth.seeg._GRID_SPHERE
    mm = np.c_[ds.x.values, ds.y.values, ds.z.values] * 1000.0
    np.testing.assert_allclose(np.linalg.norm(mm - center, axis=1), radius)
    spacing = np.linalg.norm(mm[1] - mm[0])
    assert 8.0 < spacing < 11.0
    assert synth.ecog(seed=0, duration=5).data.attrs["modality"] == "ecog"


# -- fMRI ------------------------------------------------------------------------------

def test_fmri_active_parcels_follow_their_regressor(sims):
    sim = sims["fmri"]
    x = sim.data["signal"].values
    for cond in sim.truth["condition"].values:
        reg = sim.truth["design"].sel(condition=cond).values
        r = np.array([np.corrcoef(x[:, p], reg)[0, 1] for p in range(x.shape[1])])
        active = sim.truth["active"].sel(condition=cond).values
        assert active.sum() == 3
        assert r[active].min() > r[~active].max(), cond


def test_fmri_confounds_have_fmriprep_names_and_power_fd(sims):
    sim = sims["fmri"]
    conf = sim.data["confounds"].to_pandas()
    expected = {"trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z",
                "framewise_displacement", "global_signal", "csf", "white_matter",
                *(f"a_comp_cor_{i:02d}" for i in range(5))}
    assert set(conf.columns) == expected
    fd = conf["framewise_displacement"].to_numpy()
    assert np.isnan(fd[0]) and np.isfinite(fd[1:]).all()
    d = conf[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]].diff().abs()
    power = d.iloc[:, :3].sum(axis=1) + 50 * d.iloc[:, 3:].sum(axis=1)
    np.testing.assert_allclose(fd[1:], power.to_numpy()[1:])
    true = sim.truth["motion"].sel(motion_param="trans_z").values
    assert np.corrcoef(true, conf["trans_z"])[0, 1] > 0.9


def test_fmri_parcels_are_a_template_shared_by_seeds(sims):
    other = synth.fmri(seed=9, n_volumes=20)
    np.testing.assert_array_equal(other.truth["atlas"].values, sims["fmri"].truth["atlas"].values)
    atlas = sims["fmri"].truth["atlas"].values
    assert set(np.unique(atlas)) == set(range(25))
    assert (sims["fmri"].truth["tissue"].values[atlas > 0] == 1).all()


# -- calcium ---------------------------------------------------------------------------

def test_calcium_recordings_differ_in_rate_and_neurons_between_sessions():
    a = synth.calcium(seed=0, session="01")
    b = synth.calcium(seed=0, session="02")
    assert a.data.attrs["sfreq"] != b.data.attrs["sfreq"]
    assert 1.5 <= a.data.attrs["sfreq"] <= 6.0 and 1.5 <= b.data.attrs["sfreq"] <= 6.0
    assert a.data.sizes["time"] >= 600 and b.data.sizes["time"] >= 600
    assert not np.array_equal(a.truth["present"].values, b.truth["present"].values)


def test_calcium_present_mask_matches_channel_names(sims):
    sim = sims["calcium"]
    canon = np.array(synth.calcium.canonical_neurons())
    assert len(canon) == 300
    labelled = sim.data["channel"].values[sim.truth["labelled"].values]
    assert sorted(labelled) == sorted(canon[sim.truth["present"].values])
    rois = sim.data["channel"].values[~sim.truth["labelled"].values]
    assert len(rois) >= 2 and all(re.fullmatch(r"ROI\d{4}", n) for n in rois)
    assert 40 <= len(labelled) <= 120


def test_calcium_command_neurons_follow_behaviour():
    sim = synth.calcium(seed=1, n_neurons=300, n_rois=2, duration=300)
    dff, state = sim.truth["dff"], sim.truth["state"].values
    for name, on, off in (("AVAL", "reverse", "forward"), ("AVBL", "forward", "reverse")):
        trace = dff.sel(channel=name).values
        assert trace[state == on].mean() > 2 * trace[state == off].mean(), name


def test_calcium_raw_fluorescence_is_baseline_times_one_plus_dff(sims):
    sim = sims["calcium"]
    f = sim.data["signal"].values
    est = f / sim.truth["baseline"].values - 1.0
    r = [np.corrcoef(est[:, i], sim.truth["dff"].values[:, i])[0, 1] for i in range(f.shape[1])]
    assert np.median(r) > 0.8


# -- spikes ----------------------------------------------------------------------------

def test_spikes_transition_frequencies_match_transmat():
    sim = synth.spikes(seed=2, n_bins=4000, n_sequences=5)
    z = sim.truth["hidden_state"].values.reshape(5, -1)
    counts = np.zeros((5, 5))
    for seq in z:
        np.add.at(counts, (seq[:-1], seq[1:]), 1)
    freq = counts / counts.sum(1, keepdims=True)
    true = sim.truth["transmat"].values
    assert np.abs(np.diag(freq) - 0.98).max() < 0.01
    assert np.abs(freq - true).max() < 0.015


def test_spikes_weights_follow_the_one_hot_prior(sims):
    truth = sims["spikes"].truth
    w, a = truth["weights"].values, truth["adjacency"].values
    np.testing.assert_array_equal(np.sign(w), a)
    assert set(np.unique(a)) == {-1, 0, 1}
    assert np.abs(w).max() <= np.log(4.0)
    assert 0.12 < (a != 0).mean() < 0.28
    basis = truth["basis"].values
    np.testing.assert_allclose(basis.sum(), 1.0)
    np.testing.assert_allclose(basis[1:] / basis[:-1], np.exp(-1.0))
    assert np.abs(truth["bias"].values).max() <= 0.05


def test_spikes_counts_are_poisson_around_the_true_rate(sims):
    sim = sims["spikes"]
    counts, rate = sim.data["signal"].values, sim.truth["rate"].values
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0
    assert abs(counts.mean() / rate.mean() - 1.0) < 0.02
    ev = schema.get_events(sim.data)
    assert ev["label"].tolist() == ["sequence"] * 5
    np.testing.assert_allclose(ev["duration"], 20.0)


def test_spikes_sample_api_shapes():
    rng = np.random.default_rng(0)
    params = synth.spikes.sample_params(3, 7, rng)
    counts, states, rates = synth.spikes.sample(params, 50, 4, rng)
    assert counts.shape == (4, 50, 7) and states.shape == (4, 50) and rates.shape == counts.shape
    assert params.weights.shape == (3, 7, 7) and np.allclose(params.transmat.sum(1), 1.0)


# -- writing ---------------------------------------------------------------------------

@pytest.mark.parametrize("modality", ["eeg", "seeg"])
def test_fif_reads_back_with_the_same_values_events_and_positions(sims, tmp_path, modality):
    sim = sims[modality]
    paths = synth.write(sim, tmp_path / modality)
    assert [p.name for p in paths] == list(synth.FILES[modality])
    raw = mne.io.read_raw_fif(paths[0], preload=True, verbose="error")
    x = sim.data["signal"].transpose("channel", "time").values
    assert raw.ch_names == sim.data["channel"].values.tolist()
    assert raw.get_channel_types() == sim.data["channel_type"].values.tolist()
    np.testing.assert_allclose(raw.get_data(), x, rtol=1e-6, atol=1e-7 * np.abs(x).max())
    assert raw.info["line_freq"] == 50.0
    ev = schema.get_events(sim.data)
    assert list(raw.annotations.description) == ev["label"].tolist()
    np.testing.assert_allclose(raw.annotations.onset, ev["onset"], atol=1 / raw.info["sfreq"])
    loc = np.array([ch["loc"][:3] for ch in raw.info["chs"]])
    first = sim.data.isel(channel=0)
    np.testing.assert_allclose(loc[0], [first.x, first.y, first.z], atol=1e-6)


def test_seeg_sidecars_are_bids_ieeg(sims, tmp_path):
    synth.write(sims["seeg"], tmp_path)
    el = pd.read_csv(tmp_path / "electrodes.tsv", sep="\t")
    assert el.columns.tolist() == ["name", "x", "y", "z", "size", "group", "region"]
    ds = sims["seeg"].data
    np.testing.assert_allclose(el["x"], ds.x.values * 1000, atol=1e-3)
    assert el["region"].tolist() == ds["region"].values.tolist()
    coords = json.loads((tmp_path / "coordsystem.json").read_text())
    assert coords["iEEGCoordinateSystem"] == "Other" and coords["iEEGCoordinateUnits"] == "mm"


def test_fmri_files_read_back_with_shape_tr_and_parcel_means(sims, tmp_path):
    sim = sims["fmri"]
    synth.write(sim, tmp_path)
    bold, atlas = nib.load(tmp_path / "bold.nii.gz"), nib.load(tmp_path / "atlas.nii.gz")
    assert bold.shape == (20, 24, 20, 120) and bold.get_data_dtype() == np.float32
    assert bold.header.get_zooms()[3] == 2.0 and bold.header.get_xyzt_units() == ("mm", "sec")
    assert atlas.shape == (20, 24, 20) and atlas.get_data_dtype() == np.int16
    b, a = bold.get_fdata(), np.asarray(atlas.dataobj)
    means = np.stack([b[a == p].mean(0) for p in range(1, 25)], axis=1)
    np.testing.assert_allclose(means, sim.data["signal"].values, rtol=1e-6)
    table = pd.read_csv(tmp_path / "atlas.tsv", sep="\t")
    assert table.columns.tolist() == ["index", "name"] and table["index"].tolist() == list(
        range(1, 25))
    events = pd.read_csv(tmp_path / "events.tsv", sep="\t")
    assert events.columns.tolist() == ["onset", "duration", "trial_type"]
    conf = pd.read_csv(tmp_path / "confounds.tsv", sep="\t")
    assert conf.shape == (120, 15) and np.isnan(conf["framewise_displacement"][0])
    assert "n/a" in (tmp_path / "confounds.tsv").read_text().splitlines()[1]


@pytest.mark.parametrize("modality, name", [("calcium", "traces.csv"), ("spikes", "counts.csv")])
def test_tables_read_back_with_time_and_one_column_per_channel(sims, tmp_path, modality, name):
    sim = sims[modality]
    synth.write(sim, tmp_path)
    df = pd.read_csv(tmp_path / name)
    assert df.columns.tolist() == ["time", *sim.data["channel"].values.tolist()]
    np.testing.assert_allclose(df["time"], sim.data["time"].values, rtol=1e-10)
    np.testing.assert_allclose(df.iloc[:, 1:].to_numpy(), sim.data["signal"].values, rtol=1e-10)
    if modality == "spikes":
        assert all(dt.kind == "i" for dt in df.dtypes.iloc[1:])


def test_truth_nc_reads_back(sims, tmp_path):
    sim = sims["eeg"]
    synth.write(sim, tmp_path)
    with xr.open_dataset(tmp_path / "truth.nc", engine="h5netcdf") as truth:
        np.testing.assert_allclose(truth["brain"].values, sim.truth["brain"].values,
                                   rtol=1e-6, atol=1e-12)
        assert truth["muscle_side"].values.tolist() == sim.truth["muscle_side"].values.tolist()
        assert truth.attrs["line_freq"] == 50.0
        assert json.loads(truth.attrs["params_json"])["duration"] == 60.0


def test_failed_write_leaves_nothing_half_made(sims, tmp_path, monkeypatch):
    def boom(truth, path):
        path.write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(synth.files, "write_truth", boom)
    with pytest.raises(OSError):
        synth.write(sims["spikes"], tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir()] == []
    existing = tmp_path / "old"
    existing.mkdir()
    (existing / "counts.csv").write_text("old")
    with pytest.raises(OSError):
        synth.write(sims["spikes"], existing)
    assert [p.name for p in existing.iterdir()] == ["counts.csv"]
    assert (existing / "counts.csv").read_text() == "old"
