"""Scoring denoisers on a benchmark split: single-channel and multichannel protocols."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import data as _data
from . import metrics as _metrics

#: A single-channel method: contaminated epochs (N, n_samples), std(y)-normalised ->
#: estimates of the clean epochs, same shape and scale.
Method = Callable[[np.ndarray], np.ndarray]


def _curves(per_snr: list[dict], snrs, groups: dict[str, np.ndarray]) -> dict:
    out = {"snr": [float(s) for s in snrs]}
    for g, mask in groups.items():
        out[g] = {m: [float(np.nanmean(d[m][mask])) for d in per_snr] for m in _metrics.METRICS}
        out[g]["n_epochs"] = int(mask.sum())
    return out


def single_channel(method: Method, bench: _data.Benchmark, split: str = "test",
                   snrs=_data.TEST_SNRS, *, max_pairs: int | None = None,
                   rng: np.random.Generator | None = None) -> dict:
    """Score ``method`` on every kept channel-epoch of ``split`` at each SNR.

    Each channel-epoch is mixed with its own recording's EMG (:func:`neurodag.denoise.data.mix`)
    at each SNR. ``max_pairs`` scores a random subset (drawn with ``rng``).

    Returns
    -------
    dict
        ``snr`` and, for ``all`` and each recording kind present (``synthetic``, ``real``),
        the mean ``cc``, ``rrmse_t``, ``rrmse_s`` per SNR and ``n_epochs``.
    """
    pairs = bench.pairs(split)
    x, n, kind = pairs["x"], pairs["n"], pairs["kind"]
    if max_pairs is not None and len(x) > max_pairs:
        rng = rng if rng is not None else np.random.default_rng(0)
        pick = np.sort(rng.choice(len(x), int(max_pairs), replace=False))
        x, n, kind = x[pick], n[pick], kind[pick]
    per_snr = []
    for snr in snrs:
        y, xs, _ = _data.mix(x, n, snr)
        per_snr.append(_metrics.score(method(y), xs, _data.SFREQ))
    groups = {"all": np.ones(len(x), bool)}
    for k in sorted(set(kind.tolist())):
        groups[k] = kind == k
    return _curves(per_snr, snrs, groups)


def multichannel(methods: dict[str, Callable], bench: _data.Benchmark, split: str = "test",
                 snrs=_data.TEST_SNRS, progress=None) -> dict:
    """Score methods on whole contaminated recordings (one lambda per channel).

    Parameters
    ----------
    methods : dict
        ``name -> f(y, recording)`` with ``y`` the contaminated recording ``(time, channel)``
        in V and ``recording`` its :class:`~neurodag.denoise.data.Recording`; returns the
        estimate of the clean recording, same shape and units.
    bench : Benchmark
    split : str
    snrs : sequence of float

    Returns
    -------
    dict
        ``{method: curves}`` with the curves of :func:`single_channel`, computed on the kept
        channel-epochs, each epoch and its estimate divided by that epoch's ``std(y)``.
    """
    recs = bench.split(split)
    L = _data.N_SAMPLES
    results = {name: [] for name in methods}
    kinds = np.concatenate([np.full(int(r.keep.sum()), r.kind, dtype=object) for r in recs])
    for snr in snrs:
        scores = {name: [] for name in methods}
        for r in recs:
            y = bench.multichannel(r, snr)
            n_ep = r.n_epochs
            ep = y[: n_ep * L].reshape(n_ep, L, -1).transpose(0, 2, 1)[r.keep]
            xs = r.epochs("eeg")[r.keep]
            s = ep.std(axis=-1, keepdims=True)
            for name, f in methods.items():
                est = f(y, r)[: n_ep * L].reshape(n_ep, L, -1).transpose(0, 2, 1)[r.keep]
                scores[name].append(_metrics.score(est / s, xs / s, _data.SFREQ))
            if progress:
                progress(f"multichannel {r.name} snr={snr:+.1f} dB")
        for name in methods:
            results[name].append({m: np.concatenate([d[m] for d in scores[name]])
                                  for m in _metrics.METRICS})
    groups = {"all": np.ones(len(kinds), bool)}
    for k in sorted(set(kinds.tolist())):
        groups[k] = kinds == k
    return {name: _curves(results[name], snrs, groups) for name in methods}


def epochwise(method: Method, L: int = _data.N_SAMPLES) -> Callable:
    """A single-channel method as a multichannel one: each channel-epoch on its own.

    The recording is cut into consecutive epochs; each is divided by its std, denoised and
    scaled back (the benchmark's normalisation); a partial last epoch is left as it was.
    """
    def run(y: np.ndarray, recording=None) -> np.ndarray:
        n_ep = y.shape[0] // L
        ep = y[: n_ep * L].reshape(n_ep, L, -1).transpose(0, 2, 1).reshape(-1, L)
        s = ep.std(axis=-1, keepdims=True)
        s = np.where(s > 0, s, 1.0)
        est = method(ep / s) * s
        out = y.copy()
        out[: n_ep * L] = est.reshape(n_ep, -1, L).transpose(0, 2, 1).reshape(n_ep * L, -1)
        return out

    return run


def clean_passthrough(method: Method, bench: _data.Benchmark, split: str = "test") -> dict:
    """How much a method changes EMG-free epochs: metrics of its output against its input.

    A denoiser applied to whole real recordings meets clean stretches too; CC near 1 and
    small RRMSE here mean it leaves them alone.
    """
    pairs = bench.pairs(split)
    x = pairs["x"]
    s = x.std(axis=-1, keepdims=True)
    x = x / np.where(s > 0, s, 1.0)
    per = _metrics.score(method(x), x, _data.SFREQ)
    out = {}
    for k in ["all", *sorted(set(pairs["kind"].tolist()))]:
        mask = np.ones(len(x), bool) if k == "all" else pairs["kind"] == k
        out[k] = {m: float(np.nanmean(per[m][mask])) for m in _metrics.METRICS}
    return out
