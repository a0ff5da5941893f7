"""The EMG denoiser: benchmark mixing and splits, metrics, training, checkpoints, apply."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import signal as sps

from neurodag import schema, store
from neurodag.denoise import baselines, data, emg, evaluate, metrics, training
from neurodag.denoise import inference as dapply
from neurodag.errors import ConfigError, InputError

TINY = {"n_synthetic": [2, 1, 1], "duration": 6.0, "cache_dir": None, "steps": 40,
        "eval_every": 20, "log_every": 10, "val_pairs": 32, "threads": 1,
        "evaluate_test": False, "warmup": 5, "lr": 3e-3}


@pytest.fixture(scope="module")
def tiny_bench():
    return data.build(0, n_synthetic=TINY["n_synthetic"], duration=TINY["duration"],
                      cache_dir=None)


@pytest.fixture(scope="module")
def checkpoint(tiny_bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "denoiser"
    return training.train(out, seed=0, benchmark=tiny_bench, **TINY)


def _sim(duration=8.0, sfreq=256.0):
    from neurodag import synth

    return synth.eeg(seed=3, duration=duration, sfreq=sfreq, channels=["Fp1", "T7", "Cz", "O2"],
                     muscle_rate=0.5, muscle_amplitude=30e-6)


# -- benchmark -------------------------------------------------------------------------

@pytest.mark.parametrize("snr", [-7.0, -2.5, 0.0, 2.0])
def test_mixing_gives_the_requested_snr_exactly(snr):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 512)) * 3e-5
    n = rng.standard_normal((20, 512)) * rng.uniform(0.1, 10, (20, 1))
    y, xs, ns = data.mix(x, n, snr)
    np.testing.assert_allclose(data.achieved_snr(xs, ns), snr, atol=1e-9)
    np.testing.assert_allclose(y, xs + ns, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(xs * (x / xs)[:, :1], x, rtol=1e-12)  # x only rescaled


def test_multichannel_mixing_sets_each_channels_recording_snr(tiny_bench):
    rec = tiny_bench.split("test")[0]
    y = tiny_bench.multichannel(rec, -4.0)
    noise = y - rec.eeg
    snr = 20 * np.log10(data.rms(rec.eeg, axis=0) / data.rms(noise, axis=0))
    np.testing.assert_allclose(snr, -4.0, atol=1e-9)


def test_splits_never_share_a_recording(tiny_bench):
    names = {s: {r.name for r in tiny_bench.split(s)} for s in data.SPLITS}
    assert sum(len(v) for v in names.values()) == len(tiny_bench.recordings) == 4
    assert not (names["train"] & names["val"] or names["train"] & names["test"]
                or names["val"] & names["test"])
    # and no clean epoch of one split reappears in another
    rows = {s: {tuple(np.round(e[:8] * 1e9, 3)) for e in tiny_bench.pairs(s)["x"]}
            for s in data.SPLITS}
    assert not (rows["train"] & rows["test"] or rows["train"] & rows["val"])
    # a split's recordings do not depend on the size of the others
    other = data.build(0, n_synthetic=[1, 1, 1], duration=6.0, cache_dir=None)
    np.testing.assert_array_equal(other.split("test")[0].eeg, tiny_bench.split("test")[0].eeg)


def test_clean_eeg_is_average_referenced_at_the_model_rate(tiny_bench):
    rec = tiny_bench.recordings[0]
    assert rec.eeg.shape == (int(6.0 * data.SFREQ), 32)
    np.testing.assert_allclose(rec.eeg.mean(axis=1), 0.0, atol=1e-18)
    assert rec.keep.shape == (3, 32) and rec.keep.all()


def test_emg_is_band_limited_bursty_and_never_silent():
    from scipy import signal as sps

    s = emg.muscle_sources(np.random.default_rng(1), int(30 * 256), 256.0, 2)
    f, p = sps.welch(s, fs=256.0, nperseg=256, axis=0)
    inside = p[(f >= 20) & (f <= 0.45 * 256)].sum(axis=0) / p.sum(axis=0)
    assert (inside > 0.95).all()
    ep = data.rms(s.reshape(15, 512, 2), axis=1)
    assert ep.min() > 0.02 and (ep.max(axis=0) / ep.min(axis=0) > 3).all()
    np.testing.assert_allclose(data.rms(s, axis=0), 1.0, rtol=1e-9)


def test_real_edf_joins_the_training_split(real_data):
    bench = data.build(0, n_synthetic=[0, 0, 0], cache_dir=None, real_dir=real_data)
    (rec,) = bench.recordings
    assert (rec.name, rec.split, rec.kind) == ("real:test.edf", "train", "real")
    assert rec.info["line_freq"] == 50.0 and rec.eeg.shape[0] == int(6 * data.SFREQ)
    assert 100 < len(rec.channels) < 138  # flat/noisy channels dropped


# -- metrics ---------------------------------------------------------------------------

def test_metrics_known_answers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 512))
    s = metrics.score(x, x, 256.0)
    np.testing.assert_allclose(s["cc"], 1.0)
    np.testing.assert_allclose(s["rrmse_t"], 0.0, atol=1e-15)
    np.testing.assert_allclose(s["rrmse_s"], 0.0, atol=1e-15)
    np.testing.assert_allclose(metrics.cc(-x, x), -1.0)
    np.testing.assert_allclose(metrics.rrmse_t(2 * x, x), 1.0)
    np.testing.assert_allclose(metrics.rrmse_t(np.zeros_like(x), x), 1.0)
    np.testing.assert_allclose(metrics.rrmse_s(np.zeros_like(x), x, 256.0), 1.0)
    np.testing.assert_allclose(metrics.rrmse_s(2 * x, x, 256.0), 3.0)  # power x4
    with pytest.raises(InputError):
        metrics.cc(x[:, :10], x)


def test_bandpass_baseline_keeps_eeg_band_and_drops_emg_band():
    t = np.arange(512) / 256.0
    slow, fast = np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 70 * t)
    out = baselines.bandpass(slow + fast, 30.0)
    assert metrics.cc(out, slow) > 0.995
    assert data.rms(baselines.bandpass(fast, 30.0)) < 0.03 * data.rms(fast)


# -- training and checkpoints ------------------------------------------------------------

def test_short_training_lowers_the_loss(checkpoint):
    hist = json.loads((checkpoint / "metrics.json").read_text())["history"]
    assert hist[-1]["mse"] < 0.6 * hist[0]["mse"]
    vals = [h["val_mse"] for h in hist if "val_mse" in h]
    assert len(vals) == 2 and vals[-1] < min(vals[0], 0.5)  # "no denoising" scores ~0.8


def test_same_seed_same_weights(tiny_bench, tmp_path):
    opts = {**TINY, "steps": 6, "eval_every": 6, "log_every": 3}
    a = training.train(tmp_path / "a", seed=5, benchmark=tiny_bench, **opts)
    b = training.train(tmp_path / "b", seed=5, benchmark=tiny_bench, **opts)
    c = training.train(tmp_path / "c", seed=6, benchmark=tiny_bench, **opts)
    wa, wb, wc = (torch.load(p / "model.pt", weights_only=True) for p in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert training.checkpoint_hash(a) == training.checkpoint_hash(b)


def test_checkpoint_loads_with_weights_only(checkpoint):
    state = torch.load(checkpoint / "model.pt", weights_only=True)
    net, config = training.load(checkpoint)
    assert set(state) == set(net.state_dict())
    assert config["arch"] == "atat" and config["sfreq"] == data.SFREQ
    size = json.loads((checkpoint / "metrics.json").read_text())["parameters"]
    assert size["total"] == sum(p.numel() for p in net.parameters()) < 50_000


def test_checkpoint_with_pickled_code_is_refused(checkpoint, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(checkpoint, bad)
    torch.save({"x": ConfigError("not a tensor")}, bad / "model.pt")  # needs full unpickling
    with pytest.raises(InputError, match="model.pt: unreadable weights"):
        training.load(bad)
    with pytest.raises(InputError, match="no such checkpoint"):
        training.load(tmp_path / "missing")


def test_unknown_training_option_names_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'steps'"):
        training.options_for("small", stepz=3)
    with pytest.raises(ConfigError, match="denoise.budget"):
        training.options_for("huge")
    with pytest.raises(ConfigError, match="denoise.model.n_samples"):
        training.options_for("small", model={"n_samples": 1024})


# -- apply -----------------------------------------------------------------------------

def test_apply_follows_the_contract(checkpoint):
    ds = _sim().data
    out = dapply.apply(ds, checkpoint)
    schema.validate(out)
    eeg = ds["channel_type"].values == "eeg"
    assert out["signal"].dtype == ds["signal"].dtype
    np.testing.assert_array_equal(out["signal"].values[:, ~eeg], ds["signal"].values[:, ~eeg])
    acted = out["denoise_acted"].values.any(axis=1)
    changed = (out["signal"].values != ds["signal"].values).any(axis=0)
    np.testing.assert_array_equal(changed, acted)  # a channel changes iff the network acted
    assert out.attrs["denoiser_min_ratio"] == dapply.MIN_RATIO
    assert out.attrs["denoiser"] == training.checkpoint_hash(checkpoint)
    for key in ("source", "source_sha256", "subject", "session", "sfreq"):
        assert out.attrs[key] == ds.attrs[key]
    assert list(out["channel"].values) == list(ds["channel"].values)
    assert len(schema.get_events(out)) == len(schema.get_events(ds))


def test_apply_lazy_in_blocks_matches_whole(checkpoint, monkeypatch):
    ds = _sim(duration=20.0, sfreq=500.0).data
    whole = dapply.apply(ds, checkpoint)
    assert whole["denoise_acted"].values.any()
    monkeypatch.setattr(dapply, "BLOCK_S", 6.0)
    monkeypatch.setattr(dapply, "DEPTH_S", 3.0)  # both multiples of the 1.5 s hop
    lazy = dapply.apply(ds.chunk({"time": 1000}), checkpoint)
    assert hasattr(lazy["signal"].data, "dask")
    np.testing.assert_allclose(lazy["signal"].values, whole["signal"].values, rtol=0,
                               atol=1e-6 * np.abs(whole["signal"].values).max())
    for name in dapply.GATE_VARS:  # the gate too, window for window
        assert hasattr(lazy[name].data, "dask")
        np.testing.assert_allclose(lazy[name].values, whole[name].values, rtol=1e-3,
                                   atol=1e-6)
    np.testing.assert_array_equal(lazy["denoise_acted"].values, whole["denoise_acted"].values)


def test_apply_session_writes_denoised_zarr(checkpoint, tmp_path):
    raw = store.write_signal(_sim().data, tmp_path / "raw.zarr")
    path = dapply.apply_session(raw, checkpoint, tmp_path / "out")
    assert path == tmp_path / "out" / "denoised.zarr"
    ds = store.read_signal(path, check_values=True)
    assert ds.attrs["denoiser"] == training.checkpoint_hash(checkpoint)
    assert str(checkpoint / "model.pt") in ds.attrs["inputs"]
    assert not list((tmp_path / "out").glob(".*partial"))
    # the gate, per channel and window, read back from the store
    raw_ds = store.read_signal(raw)
    eeg = ds["channel_type"].values == "eeg"
    for name in dapply.GATE_VARS:
        assert ds[name].dims == ("channel", "window")
    edges = np.concatenate([ds["window_start"].values, ds["window_stop"].values[-1:]])
    assert edges[0] == ds["time"].values[0] and np.all(np.diff(edges) >= 0)
    assert not ds["denoise_acted"].values[~eeg].any()
    assert np.isnan(ds["denoise_score"].values[~eeg]).all()
    x, y = raw_ds["signal"].values, ds["signal"].values
    sf = ds.attrs["sfreq"]
    for c in np.flatnonzero(eeg):
        if not ds["denoise_acted"].values[c].any():
            np.testing.assert_array_equal(y[:, c], x[:, c])
        for k in range(ds.sizes["window"]):
            a, b = (np.round((edges[k: k + 2] - edges[0]) * sf)).astype(int)
            want = np.sum((x[a:b, c] - y[a:b, c]) ** 2) / max(np.sum(x[a:b, c] ** 2), 1e-300)
            assert ds["power_removed"].values[c, k] == pytest.approx(want, rel=1e-3, abs=1e-12)


def test_apply_bad_input_is_one_line(checkpoint, tmp_path):
    ds = _sim().data
    no_eeg = ds.isel(channel=ds["channel_type"].values != "eeg")
    with pytest.raises(InputError, match="no EEG channels"):
        dapply.apply(no_eeg, checkpoint)
    with pytest.raises(InputError, match="shorter than"):
        dapply.apply(ds.isel(time=slice(0, 100)), checkpoint)
    bad = ds.copy(deep=True)
    bad["signal"][5, 0] = np.nan
    with pytest.raises(InputError, match="NaN or Inf EEG samples"):
        dapply.apply(bad, checkpoint)
    with pytest.raises(InputError, match="no such checkpoint"):
        dapply.apply(ds, tmp_path / "nothing")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            dapply.apply(ds, checkpoint, device="cuda")


# -- baselines and figure -----------------------------------------------------------------

@pytest.mark.slow
def test_ica_iclabel_reduces_muscle_contamination():
    bench = data.build(0, n_synthetic=[0, 0, 1], duration=30.0, cache_dir=None)
    (rec,) = bench.split("test")
    y = bench.multichannel(rec, -7.0)
    qc = []
    est = baselines.ica_iclabel(y, rec, qc_out=qc)
    before = metrics.cc(y.T, rec.eeg.T).mean()
    after = metrics.cc(est.T, rec.eeg.T).mean()
    assert "muscle artifact" in qc[0]["removed"]
    assert after > before + 0.1


@pytest.mark.slow
def test_emg_figure_quick_run_writes_png_and_json(tmp_path):
    from neurodag.report.papers import emg_denoising

    png = emg_denoising.run(tmp_path, quick=True)
    result = json.loads(png.with_suffix(".json").read_text())
    assert png.stat().st_size > 10_000
    names = {"AT-AT (ours)", "FCNN", "band-pass", "no denoising"}
    assert set(result["single_channel"]) == names
    assert set(result["multichannel"]) == names | {"ICA + ICLabel"}
    assert result["parameters"]["FCNN"] == 4 * (512 * 512 + 512)
    assert result["size_reduction_vs_fcnn"] > 0.9
    assert len(result["single_channel"]["AT-AT (ours)"]["all"]["cc"]) == 10


def test_single_channel_identity_scores_the_noisy_input(tiny_bench):
    res = evaluate.single_channel(lambda y: y, tiny_bench, snrs=(0.0,))
    # y = x + n with equal rms: CC(y, x) = 1/sqrt(2) for uncorrelated x and n
    assert abs(res["all"]["cc"][0] - 2 ** -0.5) < 0.05
    assert abs(res["all"]["rrmse_t"][0] - 1.0) < 1e-9


# -- rates, the gate, identity ------------------------------------------------------------

RATES = (128.0, 250.0, 256.0, 500.0, 512.0, 1000.0, 1024.0, 1450.0, 2048.0, 5000.0)


@pytest.mark.parametrize("sfreq", RATES)
def test_resampling_filters_keep_the_band_and_stop_what_folds(sfreq):
    from neurodag.denoise import rates

    for a, b in ((sfreq, data.SFREQ), (data.SFREQ, sfreq)) if sfreq != data.SFREQ else ():
        lo, hi = rates.band_edges(a, b, dapply.HIGH_HZ)
        f, r = rates.response(a, b, dapply.HIGH_HZ)
        assert lo == min(80.0, 0.45 * min(a, b)) and hi == 0.5 * min(a, b)
        assert np.abs(r[f <= lo] - 1).max() < 2e-4            # passband ripple
        assert 20 * np.log10(r[f >= hi].max()) < -79.0         # stopband, numerically
    # end to end: a tone in the band passes; one above the lower Nyquist does not fold back
    n = int(8 * sfreq)
    t = np.arange(n) / sfreq
    fs = data.SFREQ
    mid = slice(int(2 * fs), int(6 * fs))
    tm = np.arange(int(8 * fs)) / fs
    y = rates.resample(np.sin(2 * np.pi * 37.0 * t), sfreq, fs, dapply.HIGH_HZ)
    amp = 2 * np.abs(np.mean(y[mid] * np.exp(-2j * np.pi * 37.0 * tm[mid])))
    assert abs(amp - 1) < 1e-3
    if sfreq > 300:
        f0 = min(300.0, 0.49 * sfreq)  # would fold to 256 - f0 or beyond
        y = rates.resample(np.sin(2 * np.pi * f0 * t), sfreq, fs, dapply.HIGH_HZ)
        assert np.abs(y[mid]).max() < 2e-4


class _HighBandStub(torch.nn.Module):
    """A stand-in network with a known decision: a window is flagged when more than
    ``share`` of its power lies above 40 Hz, and its content above 40 Hz is removed."""

    n_samples = data.N_SAMPLES

    def __init__(self, share: float = 0.3):
        super().__init__()
        self.share = share

    def denoise(self, y, threshold):
        spec = torch.fft.rfft(y)
        f = torch.fft.rfftfreq(y.shape[-1], 1 / data.SFREQ)
        p = spec.abs().square()
        score = (p * (f > 40)).sum(-1) / p.sum(-1) / self.share
        est = torch.fft.irfft(spec * (f <= 40), n=y.shape[-1])
        return torch.where((score >= threshold)[:, None], est, y), score.clamp(max=1.0)


def _eeglab(real_data, seconds=20.0):
    from neurodag import io

    ds = io.read(real_data / "eeglab" / "test_raw.set")
    return ds.isel(time=slice(int(10 * 128), int((10 + seconds) * 128))).load()


@pytest.mark.parametrize("sfreq", (128.0, 250.0, 500.0, 1000.0, 1024.0, 1450.0, 2048.0))
def test_clean_channels_come_back_bit_for_bit_at_every_rate(real_data, sfreq):
    from neurodag.denoise import native

    ds = native.at_rate(_eeglab(real_data), sfreq)
    x = native._signal(ds)
    y, picks = native.contaminate(x, sfreq, 0.0, kind="bursts", seed=1, fraction=0.1)
    out, gate = dapply.denoise_array(y, sfreq, _HighBandStub(), threshold=1.0)
    acted = gate["denoise_acted"]
    clean = np.setdiff1d(np.arange(x.shape[1]), picks)
    assert acted[picks].any() and not acted[clean].any()
    np.testing.assert_array_equal(out[:, clean], y[:, clean])  # identity, not a round trip
    assert (gate["power_removed"][clean] == 0).all()
    # where the network acted: only there (plus cross-fade and filter spread)...
    spans = dapply.window_spans(len(x), sfreq)
    ch = picks[0]
    from neurodag.denoise import rates

    h, up, _ = rates.design(data.SFREQ, sfreq, dapply.HIGH_HZ)
    margin = 0.25 + (h.size // 2 + 1) / (up * data.SFREQ)  # taper beyond the span + filter
    near = np.zeros(len(x), bool)
    for s0, s1 in spans[acted[ch]]:
        near[max(0, int((s0 - margin) * sfreq)): int(np.ceil((s1 + margin) * sfreq))] = True
    assert (out[~near, ch] == y[~near, ch]).all() and (out[near, ch] != y[near, ch]).any()
    # ...and only in 1-80 Hz: the recording's own content outside it comes back
    f, p = sps.welch(y[:, ch] - out[:, ch], fs=sfreq, nperseg=int(4 * sfreq))
    total = p.sum()
    assert p[f < 0.5].sum() < 0.01 * total
    if sfreq > 256:
        assert p[f > 128].sum() < 1e-6 * total
    # the gate's power removed is what the output shows
    k = int(np.argmax(gate["power_removed"][ch]))
    a, b = np.round(spans[k] * sfreq).astype(int)
    frac = np.sum((y[a:b, ch] - out[a:b, ch]) ** 2) / np.sum(y[a:b, ch] ** 2)
    assert gate["power_removed"][ch, k] == pytest.approx(frac, rel=1e-9) and frac > 0.05


def test_nothing_flagged_is_the_input_itself(real_data):
    from neurodag.denoise import native

    ds = native.at_rate(_eeglab(real_data, 8.0), 1450.0)
    x = native._signal(ds)
    out, gate = dapply.denoise_array(x, 1450.0, _HighBandStub(), threshold=2.0)
    np.testing.assert_array_equal(out, x)
    assert not gate["denoise_acted"].any() and (gate["power_removed"] == 0).all()


def test_window_spans_tile_the_recording():
    for sfreq, n in ((256.0, 2560), (1450.0, 14501), (128.0, 1000)):
        s = dapply.window_spans(n, sfreq)
        assert s[0, 0] == 0 and s[-1, 1] == pytest.approx(n / sfreq)
        np.testing.assert_allclose(s[1:, 0], s[:-1, 1])
        length = np.diff(s, axis=1)[:, 0]
        assert (length >= 0).all() and (length <= 1.5 + 1e-12).all()
        np.testing.assert_allclose(length[1:-2], 1.5)  # the last two may be cut


# -- acceptance: the default run's checkpoint on real EEG at native rates ---------------------

@pytest.fixture(scope="session")
def default_run_checkpoint(tmp_path_factory):
    """The checkpoint the default run trains: the "small" budget at config.yaml's seed
    (a few minutes). The test split is not built (it does not change the weights)."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    seed = yaml.safe_load((root / "config" / "config.yaml").read_text())["seed"]
    out = tmp_path_factory.mktemp("default_run") / "denoiser_small"
    return training.train(out, seed=seed, budget="small", cache_dir=None, evaluate_test=False)


@pytest.fixture(scope="module")
def eeglab_minute(real_data):
    """60 s of the EEGLAB tutorial EEG (labels, EOG types and positions from its .locs).

    It starts at 60 s: T8 carries a real muscle burst at 32-35 s, which the denoiser
    rightly removes (bench/denoise.py scores the whole recording)."""
    from neurodag import io
    from neurodag.denoise import native

    ds = io.read(real_data / "eeglab" / "test_raw.set")
    ds = native.with_locs(ds.isel(time=slice(60 * 128, 120 * 128)).load(),
                          real_data / "eeglab" / "test_chans.locs")
    return ds


@pytest.mark.slow
@pytest.mark.parametrize("sfreq", (128.0, 250.0, 256.0, 500.0, 1000.0, 1024.0, 1450.0, 2048.0))
def test_default_checkpoint_on_real_eeg_at_native_rates(default_run_checkpoint, eeglab_minute,
                                                        sfreq):
    from neurodag.denoise import native

    ds = native.at_rate(eeglab_minute, sfreq)       # rewritten at this rate by MNE
    ckpt = default_run_checkpoint
    # clean channels come back intact in 1-45 Hz (most of them bit for bit)
    idn = native.identity_scores(ds, lambda d: dapply.apply(d, ckpt))
    assert idn["cc"].min() >= 0.999
    assert np.abs(idn["rms_ratio"] - 1).max() <= 0.01
    assert np.mean(idn["max_abs_diff"] == 0) > 0.9 and idn["acted"].mean() < 0.01
    # EMG of two generators at -5 and 0 dB on a third of the channels: closer to the clean
    # signal than the input and a 30 Hz low-pass
    methods = {"denoised": lambda y, c: native._signal(dapply.apply(c, ckpt))}
    for kind in native.GENERATORS:
        for snr in native.SNRS:
            res = native.mixture_scores(ds, methods, snr, kind=kind, seed=0)
            den, inp, lp = (float(np.mean(res[k])) for k in ("denoised", "contaminated",
                                                              "lowpass"))
            assert den > inp and den > lp, (kind, snr, den, inp, lp)


def test_emg_generators_differ_in_shape():
    s1 = emg.muscle_sources(np.random.default_rng(0), 60 * 256, 256.0)[:, 0]
    s2 = emg.noise_bursts(np.random.default_rng(0), 60 * 256, 256.0)[:, 0]
    f, p1 = sps.welch(s1, fs=256.0, nperseg=256)
    _, p2 = sps.welch(s2, fs=256.0, nperseg=256)
    kurt = [float(np.mean(s ** 4) / np.mean(s ** 2) ** 2) for s in (s1, s2)]
    band = (f >= 25) & (f <= 100)
    flat = [float(np.exp(np.mean(np.log(p[band]))) / np.mean(p[band])) for p in (p1, p2)]
    assert flat[1] > flat[0] + 0.1            # the bursts' spectrum is flatter in band
    assert all(k > 3 for k in kurt)           # both bursty (heavier tails than Gaussian)
    np.testing.assert_allclose(data.rms(s2), 1.0, rtol=1e-9)
    assert p2[f < 15].sum() < 0.01 * p2.sum()
