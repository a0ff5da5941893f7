"""EEG/MEG/sEEG/ECoG preprocessing against synthetic ground truth and real files."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest

from neurodag import preprocess, schema, synth
from neurodag.errors import ConfigError, InputError
from neurodag.preprocess import bads, ephys

#: Strong blinks and muscle, so that some channels correlate < 0.7 with the brain signal.
DIRTY = {"blink_amplitude": 300e-6, "muscle_amplitude": 150e-6, "muscle_rate": 0.2}


def _filtered(x: np.ndarray, sfreq: float, line: float, band, average=True) -> np.ndarray:
    """The pipeline's filters (and average reference) applied to a (time, channel) array."""
    y = mne.filter.notch_filter(np.ascontiguousarray(x.T), sfreq,
                                ephys.harmonics(line, sfreq),
                                trans_bandwidth=ephys.NOTCH_TRANSITION, verbose="error")
    y = mne.filter.filter_data(y, sfreq, *band, verbose="error").T
    return y - y.mean(axis=1, keepdims=True) if average else y


def _corr(a, b) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


@pytest.fixture(scope="module")
def dirty_eeg():
    sim = synth.generate("eeg", seed=0, **DIRTY)
    clean, qc = preprocess.run(sim.data)
    return sim, clean, qc


@pytest.mark.slow
def test_blink_and_muscle_channels_correlate_with_the_brain_after_cleaning(dirty_eeg):
    sim, clean, qc = dirty_eeg
    eeg = [c for c, t in zip(sim.data["channel"].values, sim.data["channel_type"].values,
                             strict=True) if t == "eeg"]
    band = qc["options"]["bandpass"]
    truth = sim.truth.sel(channel=eeg)
    free = _filtered((truth["brain"] + truth["noise"]).values, 250.0, 50.0, band)
    raw = _filtered(sim.data["signal"].sel(channel=eeg).values, 250.0, 50.0, band)
    r_raw = _corr(raw, free)
    r_clean = _corr(clean["signal"].sel(channel=eeg).values, free)
    # Which channels the blinks and muscle contaminate, from the truth's patterns.
    pattern = truth["artifact_pattern"]
    contaminated = ((pattern.sel(artifact="blink") > 20e-6)
                    | (pattern.sel(artifact="muscle") > 20e-6)).values
    low = (r_raw < 0.7) & contaminated
    # seed 0: Fp1 .55->.93, Fp2 .50->.91, F8 .68->.94, TP9 .61->.92, TP10 .59->.97
    assert low.sum() >= 4, dict(zip(eeg, r_raw.round(2), strict=True))
    assert {"Fp1", "Fp2"} <= {c for c, ok in zip(eeg, low, strict=True) if ok}
    worst = {c: (round(a, 3), round(b, 3)) for c, a, b, ok in
             zip(eeg, r_raw, r_clean, low, strict=True) if ok and b < 0.9}
    assert not worst, worst
    labels = {c["label"] for c in qc["ica"]["components"] if c["removed"]}
    assert {"eye blink", "muscle artifact"} <= labels


def test_qc_lists_every_component_with_label_probability_and_decision(dirty_eeg):
    _, _, qc = dirty_eeg
    ica = qc["ica"]
    assert ica["labeller"] == "iclabel"
    assert len(ica["components"]) == ica["n_components"] == 20
    for c in ica["components"]:
        assert c["label"] in c["probabilities"]
        assert c["probability"] == pytest.approx(max(c["probabilities"].values()), abs=1e-4)
        assert c["removed"] == bool(c["reasons"])
        assert len(c["pattern"]) == len(ica["channels"])
    assert 0.0 < ica["variance_removed"]["total"] < 1.0
    blink = [c for c in ica["components"] if c["label"] == "eye blink"]
    assert blink and all(c["removed"] and c["eog_score"] > 0.5 for c in blink)
    assert qc["line_freq"] == {"value": 50.0, "how": "recording attribute line_freq"}
    assert qc["reference"]["kind"] == "average"


def test_output_is_a_contract_with_provenance_and_options(dirty_eeg):
    sim, clean, qc = dirty_eeg
    schema.validate(clean)
    assert clean.attrs["modality"] == "eeg"
    assert clean.attrs["source_sha256"] == sim.data.attrs["source_sha256"]
    assert json.loads(clean.attrs["preprocess"]) == qc["options"]
    assert list(clean["channel"].values) == list(sim.data["channel"].values)
    assert len(schema.get_events(clean)) == len(schema.get_events(sim.data))
    # The average reference: EEG channels sum to zero at every sample.
    eeg = clean["signal"].sel(channel=clean["channel_type"] == "eeg").values
    assert np.abs(eeg.sum(axis=1)).max() < 1e-9 * np.abs(eeg).max() * eeg.shape[1]
    json.dumps(qc)


def test_input_dataset_is_not_modified():
    sim = synth.generate("eeg", seed=1, duration=10.0)
    before = sim.data["signal"].values.copy()
    preprocess.run(sim.data, ica={"enabled": False})
    np.testing.assert_array_equal(sim.data["signal"].values, before)


def test_flat_and_noisy_channels_are_found_and_interpolated():
    sim = synth.generate("eeg", seed=2, duration=20.0)
    ds = sim.data.copy(deep=True)
    rng = np.random.default_rng(0)
    sig = ds["signal"].values
    sig[:, list(ds["channel"].values).index("C3")] = 0.0
    sig[:, list(ds["channel"].values).index("P4")] = rng.normal(0, 60e-6, sig.shape[0])
    clean, qc = preprocess.run(ds, ica={"enabled": False})
    found = {b["channel"]: (b["reason"], b["action"]) for b in qc["bad_channels"]}
    assert found == {"C3": ("flat", "interpolated"), "P4": ("correlation", "interpolated")}
    band = qc["options"]["bandpass"]
    eeg = [c for c, t in zip(ds["channel"].values, ds["channel_type"].values, strict=True)
           if t == "eeg"]
    free = _filtered((sim.truth["brain"] + sim.truth["noise"]).sel(channel=eeg).values,
                     250.0, 50.0, band)
    r = dict(zip(eeg, _corr(clean["signal"].sel(channel=eeg).values, free), strict=True))
    # Spline interpolation from the neighbours recovers the brain signal (measured .96/.95).
    assert r["C3"] > 0.9 and r["P4"] > 0.9


def test_robust_criteria_ignore_brief_artifacts():
    rng = np.random.default_rng(0)
    common = rng.normal(size=5000)
    data = common + 0.3 * rng.normal(size=(16, 5000))
    data[0, 1000:1100] += 40.0          # a blink-sized burst on one channel
    pos = np.c_[np.cos(np.arange(16)), np.sin(np.arange(16)), np.zeros(16)] * 0.09
    found = bads.find_bads(data, 250.0, [f"E{i}" for i in range(16)], pos, flat_ratio=1e-3,
                           z_threshold=5.0, n_neighbours=4, window=1.0)
    assert found == {}


def test_line_frequency_is_detected_from_the_spectrum():
    for line in (50.0, 60.0):
        sim = synth.generate("seeg", seed=0, duration=20.0, line_freq=line,
                             line_amplitude=30e-6)
        ds = sim.data.copy()
        ds.attrs.pop("line_freq")
        _, qc = preprocess.run(ds)
        assert qc["line_freq"]["value"] == line
        assert qc["line_freq"]["how"].startswith("detected from the spectrum")
        assert qc["filters"][0]["freqs"] == ephys.harmonics(line, 512.0)


def test_seeg_bipolar_pairs_follow_shafts_and_keep_regions():
    sim = synth.generate("seeg", seed=0, duration=20.0)
    clean, qc = preprocess.run(sim.data)
    names = list(clean["channel"].values)
    assert names[:3] == ["LA1-LA2", "LA2-LA3", "LA3-LA4"]
    assert len(names) == 4 * 7   # 4 shafts of 8 contacts
    region = dict(zip(sim.data["channel"].values, sim.data["region"].values, strict=True))
    for name, reg in zip(clean["channel"].values, clean["region"].values, strict=True):
        a, c = name.split("-")
        assert reg == (region[a] if region[a] == region[c] else f"{region[a]}/{region[c]}")
    raw = sim.data["signal"]
    i = names.index("LH3-LH4")
    diff = (raw.sel(channel="LH3") - raw.sel(channel="LH4")).values
    # The bipolar channel is the filtered difference of its contacts.
    band = qc["options"]["bandpass"]
    expected = mne.filter.filter_data(
        mne.filter.notch_filter(diff, 512.0, ephys.harmonics(50.0, 512.0),
                                trans_bandwidth=ephys.NOTCH_TRANSITION, verbose="error"),
        512.0, *band, verbose="error")
    assert np.corrcoef(expected, clean["signal"].values[:, i])[0, 1] > 0.999


def test_ecog_common_average():
    sim = synth.generate("ecog", seed=0, duration=10.0)
    clean, qc = preprocess.run(sim.data)
    assert qc["reference"] == {"kind": "average", "channels": 32}
    x = clean["signal"].values
    assert np.abs(x.sum(axis=1)).max() < 1e-9 * np.abs(x).max() * x.shape[1]


def test_all_flat_session_is_one_clear_line():
    sim = synth.generate("eeg", seed=0, duration=10.0)
    ds = sim.data.copy(deep=True)
    ds["signal"][:] = 0.0
    with pytest.raises(InputError, match=r"all 32 eeg channels are flat") as e:
        preprocess.run(ds)
    assert "\n" not in str(e.value)


def test_too_short_session_names_the_filter_and_the_minimum():
    sim = synth.generate("eeg", seed=0, duration=2.0)
    with pytest.raises(InputError, match=r"^synthetic:eeg: recording is 2\.00 s \(500 samples\) "
                                         r"but the 1-40 Hz band-pass needs at least 3\.30 s "
                                         r"\(825 samples\)$") as e:
        preprocess.run(sim.data)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match=r"but the notch at 50 Hz needs at least 3\.30 s"):
        preprocess.run(sim.data, bandpass=[None, None], ica={"enabled": False})


def test_nan_samples_are_refused():
    ds = synth.generate("eeg", seed=0, duration=5.0).data.copy(deep=True)
    ds["signal"][10, 3] = np.nan
    with pytest.raises(InputError, match=r"NaN or Inf samples \(channels \['F3'\]\)"):
        preprocess.run(ds)


def test_band_edge_above_nyquist_is_a_config_error():
    ds = synth.generate("eeg", seed=0, duration=5.0).data
    with pytest.raises(ConfigError, match=r"preprocess\.bandpass: high edge 200 Hz is at or "
                                          r"above the Nyquist frequency \(125 Hz\)"):
        preprocess.run(ds, bandpass=[1, 200])


@pytest.mark.slow
def test_same_input_and_options_give_identical_output():
    ds = synth.generate("eeg", seed=3, duration=20.0).data
    a, qa = preprocess.run(ds)
    b, qb = preprocess.run(ds)
    np.testing.assert_array_equal(a["signal"].values, b["signal"].values)
    assert [c["removed"] for c in qa["ica"]["components"]] == \
        [c["removed"] for c in qb["ica"]["components"]]


@pytest.mark.slow
def test_megnet_labels_synthetic_meg_blinks_heart_and_saccades():
    sim = synth.generate("meg", seed=0, duration=60.0)
    clean, qc = preprocess.run(sim.data)
    ica = qc["ica"]
    assert ica["labeller"] == "megnet"
    removed = {c["label"]: c for c in ica["components"] if c["removed"]}
    assert set(removed) == {"eye blink", "heart beat", "eye movement"}
    assert removed["eye blink"]["eog_score"] > 0.8 and removed["heart beat"]["ecg_score"] > 0.8
    mags = [c for c, t in zip(sim.data["channel"].values, sim.data["channel_type"].values,
                              strict=True) if t == "mag"]
    truth = sim.truth.sel(channel=mags)
    band = qc["options"]["bandpass"]
    free = _filtered((truth["brain"] + truth["noise"]).values, 250.0, 50.0, band, False)
    raw = _filtered(sim.data["signal"].sel(channel=mags).values, 250.0, 50.0, band, False)
    r_raw = _corr(raw, free)
    r_clean = _corr(clean["signal"].sel(channel=mags).values, free)
    # measured: worst magnetometer 0.70 -> 0.95, median 0.978 -> 0.990
    assert r_raw.min() < 0.8 and r_clean.min() > 0.9
    schema.validate(clean)


def test_short_meg_skips_megnet_and_says_why():
    sim = synth.generate("meg", seed=0, duration=30.0, n_locations=30)
    _, qc = preprocess.run(sim.data, ica={"n_components": 15})
    assert qc["ica"]["labeller"] == "none"
    assert "megnet needs at least 60 s" in qc["ica"]["labeller_note"]
    assert any("eog correlation" in r for c in qc["ica"]["components"] for r in c["reasons"])


@pytest.mark.slow
def test_real_edf_runs_ica_and_lists_components(real_data):
    from neurodag import io

    ds = io.read([real_data / "test.edf"])
    clean, qc = preprocess.run(ds)
    ica = qc["ica"]
    assert len(ica["components"]) == ica["n_components"] > 0
    # 50 Hz mains, found in the spectrum (the file says nothing about it).
    assert qc["line_freq"]["value"] == 50.0
    # The file has no electrode positions and its names (A1..H16) match no montage that
    # ships with MNE, so ICLabel cannot make its topographic feature; qc says so.
    assert qc["positions"] == "none"
    assert ica["labeller"] == "none" and "positions" in ica["labeller_note"]
    assert all(c["label"] == "unlabelled" for c in ica["components"])
    schema.validate(clean)


@pytest.mark.slow
def test_iclabel_runs_on_real_brainvision_eeg_with_template_positions(real_data):
    from neurodag import io

    ds = io.read([real_data / "test.vhdr"])
    clean, qc = preprocess.run(ds)
    assert qc["positions"].startswith("template colin27_1005 (26 of 26")
    ica = qc["ica"]
    assert ica["labeller"] == "iclabel" and ica["n_components"] == 20
    assert all(c["label"] in c["probabilities"] for c in ica["components"])
    schema.validate(clean)


@pytest.mark.slow
def test_report_page_gains_a_preprocessing_section(tmp_path):
    import re

    from neurodag import store
    from neurodag.report import pages

    sim = synth.generate("eeg", seed=4, duration=20.0)
    folder = tmp_path / "eeg" / "01"
    store.write_signal(sim.data, folder / "raw.zarr")
    clean, qc = preprocess.run(store.read_signal(folder / "raw.zarr"), ica={"n_components": 10})
    store.write_signal(clean, folder / "clean.zarr")
    store.write_json(qc, folder / "qc.json")
    page = pages.dataset_page("eeg", {"01": folder / "raw.zarr"}, tmp_path / "r" / "eeg.html",
                              clean={"01": folder / "clean.zarr"}, qc={"01": folder / "qc.json"})
    html = page.read_text()
    assert "<h3>Preprocessing</h3>" in html
    for png in ("01_qc_spectra.png", "01_qc_channels.png", "01_qc_components.png"):
        assert (tmp_path / "r" / "eeg" / png).stat().st_size > 5000
    href = re.search(r'href="([^"]*qc\.json)"', html).group(1)
    assert (page.parent / href).resolve() == (folder / "qc.json").resolve()
    removed = [c for c in qc["ica"]["components"] if c["removed"]]
    assert all(f"IC{c['index']:02d} {c['label']}" in html for c in removed)


@pytest.mark.parametrize("session", ["eeg16s", "artifact"])
def test_iclabel_runs_on_the_real_spkit_eeg(session, reference_cache):
    from neurodag import reference

    ds = reference.read("spkit", session, reference_cache("spkit"))
    clean, qc = preprocess.run(ds)
    ica = qc["ica"]
    # 14 Emotiv channels, average reference: rank 13
    assert ica["labeller"] == "iclabel" and ica["n_components"] == 13
    assert all(c["label"] in c["probabilities"] for c in ica["components"])
    if session == "artifact":   # its bursts are labelled muscle (0.99, 1.00, 0.98)
        assert sum(c["removed"] and c["label"] == "muscle artifact"
                   for c in ica["components"]) >= 2
    schema.validate(clean)
