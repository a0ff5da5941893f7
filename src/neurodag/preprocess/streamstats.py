"""Statistics of a recording accumulated block by block, in memory that does not grow
with its length: moments, quantiles from a fine histogram, exact order statistics of a
stream that can be read again, and Welch spectra.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np


class Moments:
    """Per-row count, mean and variance of (rows, time) blocks (Chan et al.'s update)."""

    def __init__(self, n_rows: int):
        self.n = 0
        self.mean = np.zeros(n_rows)
        self.m2 = np.zeros(n_rows)

    def update(self, x: np.ndarray) -> None:
        nb = x.shape[1]
        if nb == 0:
            return
        mb = x.mean(axis=1)
        m2b = ((x - mb[:, None]) ** 2).sum(axis=1)
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta ** 2 * (self.n * nb / n)
        self.n = n

    @property
    def var(self) -> np.ndarray:
        return self.m2 / self.n if self.n else np.full_like(self.m2, np.nan)


class SignedLogHistogram:
    """Per-row histogram of values on a signed logarithmic grid, for quantiles.

    Bins are ``RESOLUTION`` wide in ``log(|x|)`` over ``DECADES`` decades each side of the
    median ``|x|`` of the row's first block, on each side of zero: a quantile is found
    within a relative ``RESOLUTION / 2`` of its value whatever the unit and amplitude
    (values beyond the range fall in its end bins); int32 counts, 110 kB per row.
    """

    RESOLUTION = 2e-3
    DECADES = 6.0

    def __init__(self, n_rows: int):
        self.half_width = self.DECADES * np.log(10.0)
        self.n_side = int(np.ceil(2 * self.half_width / self.RESOLUTION))
        # [negative bins (descending |x|) ..., zero, positive bins ...]
        self.counts = np.zeros((n_rows, 2 * self.n_side + 1), dtype=np.int32)
        self.low = None

    def _index(self, row: np.ndarray, low: float) -> np.ndarray:
        mag = np.log(np.maximum(np.abs(row), 1e-300))
        k = np.clip(((mag - low) / self.RESOLUTION).astype(np.int64), 0, self.n_side - 1)
        idx = np.where(row > 0, self.n_side + 1 + k, self.n_side - 1 - k)
        return np.where(row == 0, self.n_side, idx)

    def update(self, x: np.ndarray) -> None:
        if self.low is None:
            med = np.median(np.abs(x), axis=1)
            ok = med > 0
            fill = np.median(med[ok]) if ok.any() else 1.0
            self.low = np.log(np.where(ok, med, fill)) - self.half_width
        width = self.counts.shape[1]
        for i, row in enumerate(x):
            self.counts[i] += np.bincount(self._index(row, self.low[i]),
                                          minlength=width).astype(np.int32)

    def _value(self, i: int, b: int) -> float:
        if b == self.n_side:
            return 0.0
        k = (b - self.n_side - 1) if b > self.n_side else (self.n_side - 1 - b)
        mag = float(np.exp(self.low[i] + (k + 0.5) * self.RESOLUTION))
        return mag if b > self.n_side else -mag

    def quantile(self, q: float) -> np.ndarray:
        """The ``q`` quantile of each row (numpy's 'linear' rank ``q (n - 1)``)."""
        out = np.empty(len(self.counts))
        for i, c in enumerate(self.counts):
            cum = np.cumsum(c, dtype=np.int64)
            rank = q * (cum[-1] - 1)
            lo, hi = int(np.floor(rank)), int(np.ceil(rank))
            vlo = self._value(i, int(np.searchsorted(cum, lo, side="right")))
            vhi = self._value(i, int(np.searchsorted(cum, hi, side="right")))
            out[i] = vlo + (rank - lo) * (vhi - vlo)
        return out


def order_statistics(read: Callable[[], Iterable[np.ndarray]], ranks: list[int],
                     lo: float, hi: float, bins: int = 1 << 16) -> list[float]:
    """The exact ``ranks``-th smallest values (0-based) of a stream of 1-D blocks.

    ``read()`` yields the stream afresh each time (it is read twice); every value lies in
    ``[lo, hi]``. A histogram locates each rank's bin, then the values of those bins only
    are kept and sorted.
    """
    span = (hi - lo) or 1.0

    def index(x):
        return np.clip(((x - lo) / span * bins).astype(np.int64), 0, bins - 1)

    counts = np.zeros(bins, dtype=np.int64)
    for x in read():
        counts += np.bincount(index(x), minlength=bins)
    cum = np.cumsum(counts)
    where = [int(np.searchsorted(cum, r, side="right")) for r in ranks]
    keep = sorted(set(where))
    found: dict[int, list[np.ndarray]] = {b: [] for b in keep}
    for x in read():
        idx = index(x)
        for b in keep:
            found[b].append(x[idx == b])
    out = []
    for r, b in zip(ranks, where, strict=True):
        before = int(cum[b - 1]) if b else 0
        out.append(float(np.sort(np.concatenate(found[b]))[r - before]))
    return out


def median(read: Callable[[], Iterable[np.ndarray]], n: int, lo: float, hi: float) -> float:
    """``np.median`` of a stream of ``n`` values in ``[lo, hi]`` (see :func:`order_statistics`)."""
    if n % 2:
        return order_statistics(read, [n // 2], lo, hi)[0]
    a, b = order_statistics(read, [n // 2 - 1, n // 2], lo, hi)
    return float(np.mean([a, b]))


class Welch:
    """The mean periodogram of non-overlapping Hamming segments of ``n_fft`` samples, as
    ``mne.time_frequency.psd_array_welch`` computes it, fed block by block (a partial
    segment is carried to the next block; the last one is dropped, as there)."""

    def __init__(self, sfreq: float, n_fft: int, fmin: float, fmax: float):
        self.sfreq, self.n_fft, self.fmin, self.fmax = sfreq, n_fft, fmin, fmax
        self.carry: np.ndarray | None = None
        self.total = None
        self.n_seg = 0
        self.freqs = None

    def update(self, x: np.ndarray) -> None:
        import mne

        if self.carry is not None:
            x = np.concatenate([self.carry, x], axis=1)
        n_seg = x.shape[1] // self.n_fft
        self.carry = x[:, n_seg * self.n_fft:].copy()
        if n_seg == 0:
            return
        psd, self.freqs = mne.time_frequency.psd_array_welch(
            x[:, :n_seg * self.n_fft], self.sfreq, n_fft=self.n_fft, fmin=self.fmin,
            fmax=self.fmax, verbose="error")
        self.total = psd * n_seg if self.total is None else self.total + psd * n_seg
        self.n_seg += n_seg

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(psd (rows, freqs), freqs)."""
        return self.total / self.n_seg, self.freqs
