"""Blockwise EEG/MEG preprocessing equals the whole-recording computation (MNE's filters,
reference and ICA removal on the recording in memory), and its streamed statistics equal
numpy's."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest

from neurodag import preprocess, store, synth
from neurodag.preprocess import blocks, ephys, ephys_run, ica, ica_subset, streamstats
from neurodag.preprocess.ica_apply import Remover
from neurodag.preprocess.options import check_options

#: Blocks of about 2 s of 35 channels: dozens of blocks, each shorter than the filters.
SMALL_BLOCK = 35 * 8 * 500


def _opts(**options):
    opts = check_options("eeg", options)
    return opts, json.dumps(opts)


def _mne_whole(ds, line: float, band) -> mne.io.RawArray:
    """notch -> band-pass -> average reference with MNE on the whole recording."""
    types = [str(t) for t in ds["channel_type"].values]
    info = mne.create_info([str(c) for c in ds["channel"].values], float(ds.attrs["sfreq"]),
                           types)
    raw = mne.io.RawArray(ds["signal"].values.T.astype(np.float64), info, verbose="error")
    picks = ephys.filter_picks(types)
    raw.notch_filter(ephys.harmonics(line, raw.info["sfreq"]), picks=picks,
                     fir_design="firwin", trans_bandwidth=ephys.NOTCH_TRANSITION,
                     verbose="error")
    raw.filter(*band, picks=picks, fir_design="firwin", verbose="error")
    raw.set_eeg_reference("average", ch_type="eeg", projection=False, verbose="error")
    return raw


@pytest.fixture(scope="module")
def eeg():
    return synth.generate("eeg", seed=5, duration=40.0).data


def test_blockwise_filters_and_reference_equal_mne_on_the_whole_recording(eeg):
    opts, js = _opts(ica={"enabled": False})
    clean, qc = ephys_run.run(eeg, opts, js, block_bytes=SMALL_BLOCK)
    assert qc["blocks"]["count"] >= 20 and qc["bad_channels"] == []
    expected = _mne_whole(eeg, 50.0, opts["bandpass"]).get_data().T
    got = clean["signal"].values
    scale = np.abs(expected).max()
    # MNE's overlap-add and one FFT per block round differently: 1e-12 of the range.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * scale)
    # ... and at the recording's edges too (the filters pad there, as MNE does).
    np.testing.assert_allclose(got[:1000], expected[:1000], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(got[-1000:], expected[-1000:], rtol=0, atol=1e-12 * scale)


def _ica_on(raw, mode):
    est = mne.preprocessing.ICA(n_components=10, method="fastica", random_state=0,
                                max_iter=500, verbose="error")
    est.fit(raw, picks="eeg", verbose="error")
    _, scores = est.find_bads_eog(raw, verbose="error")
    # the two components most like the EOG channels (blinks, saccades)
    est.exclude = [int(k) for k in np.argsort(np.abs(np.atleast_2d(scores)).max(0))[-2:]]
    comps = [{"index": k} for k in range(est.n_components_)]
    eeg_names = [n for n, t in zip(raw.ch_names, raw.get_channel_types(), strict=True)
                 if t == "eeg"]
    return est, comps, Remover(est, comps, {"mode": mode, "gate_z": 3.0}, raw.ch_names,
                               eeg_names, ["eeg"] * len(eeg_names), raw.info["sfreq"])


@pytest.mark.parametrize("mode", ["full", "targeted"])
def test_blockwise_ica_removal_equals_the_whole_recording(eeg, mode):
    whole = _mne_whole(eeg, 50.0, (1.0, 40.0))
    est, comps, rem = _ica_on(whole, mode)
    data, sfreq = whole.get_data(), whole.info["sfreq"]
    expected = whole.copy()
    if mode == "full":
        est.apply(expected, verbose="error")
    else:   # the whole-recording gate, as the pipeline computed it in memory
        sources = est.get_sources(whole).get_data()
        mixing = est.pre_whitener_[:, :1] * est.get_components()
        rows = [whole.ch_names.index(n) for n in est.ch_names]
        for k in est.exclude:
            expected._data[rows] -= np.outer(mixing[:, k],
                                             sources[k] * ica.gate(sources[k], sfreq, 3.0))
    margin = rem.margin + 1
    spans = blocks.spans(data.shape[1], 700)

    def chunks():
        for a, b in spans:
            lo, hi = max(0, a - margin), min(data.shape[1], b + margin)
            yield ephys.raw_of(whole.info, data[:, lo:hi].copy()), slice(a - lo, b - lo)

    if rem.targeted:
        for raw, inner in chunks():
            rem.add_envelopes(raw, inner)
        rem.finish_envelopes()
    got = []
    for raw, inner in chunks():
        rem.apply(raw, inner)
        got.append(raw.get_data()[:, inner])
    got = np.concatenate(got, axis=1)
    scale = np.abs(data).max()
    np.testing.assert_allclose(got, expected.get_data(), rtol=0, atol=1e-12 * scale)
    qc = rem.qc()
    assert 0 < qc["total"] < 1
    if mode == "targeted":
        g = ica.gate(est.get_sources(whole).get_data()[est.exclude[0]], sfreq, 3.0)
        assert comps[est.exclude[0]]["active_fraction"] == pytest.approx(g.mean(), abs=1e-12)


def test_streamed_output_is_the_in_memory_output(tmp_path, eeg):
    store.write_signal(eeg, tmp_path / "raw.zarr")
    ds = store.read_signal(tmp_path / "raw.zarr")
    qc = preprocess.write(ds, tmp_path / "clean.zarr", ica={"n_components": 8})
    clean, qc_mem = preprocess.run(ds, ica={"n_components": 8})
    back = store.read_signal(tmp_path / "clean.zarr", check_values=True)
    np.testing.assert_array_equal(back["signal"].values, clean["signal"].values)
    assert back.attrs["preprocess"] == clean.attrs["preprocess"]
    assert json.dumps(qc, sort_keys=True) == json.dumps(qc_mem, sort_keys=True)


@pytest.mark.slow
def test_blinks_are_removed_when_the_ica_is_fitted_on_a_decimated_capped_subset():
    from test_preprocess_ephys import DIRTY, _corr, _filtered

    sim = synth.generate("eeg", seed=0, duration=120.0, sfreq=1000.0, **DIRTY)
    # 1 kHz -> 250 Hz; at most 15 000 fit samples (60 of the 120 s), in 6 of 12 blocks.
    opts, js = _opts(ica={"max_samples": 15000})
    clean, qc = ephys_run.run(sim.data, opts, js, block_bytes=35 * 8 * 10_000)
    assert qc["ica"]["fit_sfreq"] == 250.0 and qc["ica"]["fit_samples"] == 15000
    assert qc["blocks"]["count"] == 12
    eeg = [c for c, t in zip(sim.data["channel"].values, sim.data["channel_type"].values,
                             strict=True) if t == "eeg"]
    truth = sim.truth.sel(channel=eeg)
    free = _filtered((truth["brain"] + truth["noise"]).values, 1000.0, 50.0,
                     opts["bandpass"])
    r = dict(zip(eeg, _corr(clean["signal"].sel(channel=eeg).values, free), strict=True))
    # measured: Fp1 0.95, Fp2 0.94
    assert r["Fp1"] >= 0.9 and r["Fp2"] >= 0.9


def test_fit_rate_keeps_the_fit_band_free_of_aliasing():
    long, cap = 10 ** 7, 150_000
    assert ica_subset.fit_rate(1000.0, "eeg", None, long, cap) == (4, None)
    assert ica_subset.fit_rate(512.0, "eeg", None, long, cap) == (2, None)
    assert ica_subset.fit_rate(250.0, "eeg", None, long, cap) == (1, None)
    assert ica_subset.fit_rate(1000.0, "eeg", 2, long, cap) == (2, None)
    assert ica_subset.fit_rate(1000.0, "meg", None, long, cap) == (4, None)
    assert ica_subset.fit_rate(600.0, "meg", None, long, cap) == (1, 250.0)
    # decimated only as far as the cap needs: 5 minutes at 1 kHz -> 500 Hz; 8 s -> 1 kHz
    assert ica_subset.fit_rate(1000.0, "eeg", None, 300_000, cap) == (2, None)
    assert ica_subset.fit_rate(1000.0, "eeg", None, 8_000, cap) == (1, None)
    # 250 Hz from 1 kHz: the 1-100 Hz filter's stop edge (125 Hz) is the new Nyquist.
    h = ephys.design(1000.0, 1.0, 100.0)
    freqs = np.fft.rfftfreq(1 << 16, 1e-3)
    gain = np.abs(np.fft.rfft(h, 1 << 16))
    assert gain[freqs >= 125.0].max() < 10 ** (-50 / 20)


def test_subset_takes_blocks_spread_over_the_recording():
    ds = synth.generate("eeg", seed=0, duration=5.0).data
    info, _ = ephys.make_info(ds)
    spans = blocks.spans(100 * 1000, 1000)
    sub = ica_subset.Subset(ds, info, spans, 4, None, 1500)   # 6 blocks of 250
    assert sorted(sub.chosen) == [0, 20, 40, 59, 79, 99]
    assert len(ica_subset.Subset(ds, info, spans, 4, None, 10 ** 6).chosen) == 100


def test_streamed_order_statistics_equal_numpy():
    rng = np.random.default_rng(0)
    x = np.round(rng.standard_t(3, 100_001), 2)   # ties too
    parts = np.array_split(x, 7)
    assert streamstats.median(lambda: iter(parts), x.size, x.min(), x.max()) == np.median(x)
    assert streamstats.median(lambda: iter(parts[:-1]), x.size - parts[-1].size, x.min(),
                              x.max()) == np.median(np.concatenate(parts[:-1]))


def test_histogram_quartiles_are_within_a_thousandth():
    rng = np.random.default_rng(1)
    x = rng.standard_t(4, (3, 50_000)) * np.array([[1e-6], [3e-13], [5.0]])
    h = streamstats.SignedLogHistogram(3)
    for part in np.array_split(x, 9, axis=1):
        h.update(part)
    for q in (0.25, 0.75):
        expected = np.percentile(x, 100 * q, axis=1)
        np.testing.assert_allclose(h.quantile(q), expected, rtol=1e-3)


def test_streamed_moments_and_welch_equal_the_whole():
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, (4, 10_007))
    m = streamstats.Moments(4)
    w = streamstats.Welch(250.0, 1000, 44.0, 66.0)
    for part in np.array_split(x, 6, axis=1):
        m.update(part)
        w.update(part)
    np.testing.assert_allclose(m.var, x.var(axis=1), rtol=1e-12)
    psd, freqs = mne.time_frequency.psd_array_welch(x, 250.0, n_fft=1000, fmin=44, fmax=66,
                                                    verbose="error")
    got, got_freqs = w.result()
    np.testing.assert_array_equal(got_freqs, freqs)
    np.testing.assert_allclose(got, psd, rtol=1e-10)


def test_fir_on_blocks_equals_mne_filter_data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5000))
    h = ephys.design(250.0, 1.0, 40.0)
    expected = mne.filter.filter_data(x, 250.0, 1.0, 40.0, fir_design="firwin",
                                      verbose="error")
    fir = blocks.Fir(h)
    got = np.empty_like(x)
    for a, b in blocks.spans(5000, 300):
        lo, hi = max(0, a - fir.half), min(5000, b + fir.half)
        y, ylo, _ = fir.apply(x[:, lo:hi].copy(), lo, hi, 5000)
        got[:, a:b] = y[:, a - ylo:b - ylo]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(x).max())
