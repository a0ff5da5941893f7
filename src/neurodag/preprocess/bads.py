"""Bad channels: flat ones, and noisy ones by robust z-scores of amplitude and of
correlation with neighbours.

pyprep's ``NoisyChannels`` installs with our pins, but it works on EEG only (it picks
``"eeg"``), its correlation criterion is against all channels rather than neighbours, and
its RANSAC needs an EEG montage; the same two criteria are needed on MEG, sEEG and ECoG,
so they are implemented here on NumPy, channel type by channel type:

flat
    peak-to-peak of 0, or a robust amplitude below ``flat_ratio`` times the median of its
    type.
deviation
    ``|z| > z_threshold`` for z the robust z-score (median/MAD over channels of a type) of
    the log robust amplitude, the robust amplitude being 0.7413 x the interquartile range
    over time, so that blinks and muscle bursts (brief) do not make a channel bad.
correlation
    ``z < -z_threshold`` for the robust z-score of the channel's correlation with its
    neighbours: the median |r| with its ``n_neighbours`` nearest channels of its type
    (from positions; without positions, the most correlated ones), per ``window``-second
    window, then the median over windows.

MAD scales have floors (0.15 in log amplitude, 0.03 in correlation), so that a very
homogeneous montage does not flag channels for differences nobody would call bad.
"""

from __future__ import annotations

import numpy as np

#: Floors of the robust scales (log amplitude, correlation); see the module docstring.
SCALE_FLOOR = {"deviation": 0.15, "correlation": 0.03}


def robust_z(values: np.ndarray, floor: float) -> np.ndarray:
    med = np.median(values)
    scale = max(1.4826 * np.median(np.abs(values - med)), floor)
    return (values - med) / scale


def find_bads(data: np.ndarray, sfreq: float, names: list[str], positions: np.ndarray,
              *, flat_ratio: float, z_threshold: float, n_neighbours: int,
              window: float) -> dict[str, dict]:
    """Bad channels of one channel type (an in-memory recording: :class:`BadChannelStats`
    fed one block).

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Filtered samples of channels of one type.
    sfreq : float
    names : list of str
    positions : ndarray, shape (n_channels, 3)
        NaN rows where unknown.
    flat_ratio, z_threshold, n_neighbours, window
        See the module docstring.

    Returns
    -------
    dict
        ``{name: {"reason": "flat" | "deviation" | "correlation", "z": float}}``.
    """
    stats = BadChannelStats(names, positions, sfreq, flat_ratio=flat_ratio,
                            z_threshold=z_threshold, n_neighbours=n_neighbours, window=window)
    stats.update_amplitude(data)
    stats.finish_amplitude()
    if stats.needs_correlation:
        stats.update_correlation(data)
    return stats.result()


class BadChannelStats:
    """The criteria of :func:`find_bads` accumulated block by block, in two passes over
    the filtered recording (the correlation criterion needs the channels the amplitude
    criteria leave, to choose neighbours).

    Pass 1 (:meth:`update_amplitude`): peak-to-peak range (exact), quartiles (from a
    fine histogram: within 0.1 % of their value, :class:`~neurodag.preprocess.streamstats.
    SignedLogHistogram`) and, for channels without positions, the sums of the full
    correlation matrix. Pass 2 (:meth:`update_correlation`): each ``window``'s median
    |r| with the neighbours; the median over windows is then exact (one value per
    channel and window is kept: 0.5 MB per hour of 64 channels at 1 s windows).
    """

    def __init__(self, names, positions, sfreq, *, flat_ratio, z_threshold, n_neighbours,
                 window):
        from .streamstats import SignedLogHistogram

        self.names, self.positions = list(names), np.asarray(positions, dtype=float)
        self.sfreq, self.flat_ratio, self.z = sfreq, flat_ratio, z_threshold
        self.k, self.step = n_neighbours, max(int(round(window * sfreq)), 2)
        n = len(self.names)
        self.hi, self.lo = np.full(n, -np.inf), np.full(n, np.inf)
        self.hist = SignedLogHistogram(n)
        self.shift, self.n, self.s1, self.s2 = None, 0, np.zeros(n), np.zeros((n, n))
        self.out: dict[str, dict] = {}
        self.good = np.array([], dtype=int)
        self.windows: list[np.ndarray] = []
        self.carry = None

    def update_amplitude(self, x: np.ndarray) -> None:
        self.hi = np.maximum(self.hi, x.max(axis=1))
        self.lo = np.minimum(self.lo, x.min(axis=1))
        self.hist.update(x)
        if not np.isfinite(self.positions).all():
            if self.shift is None:
                self.shift = x.mean(axis=1)
            y = x - self.shift[:, None]
            self.n += x.shape[1]
            self.s1 += y.sum(axis=1)
            self.s2 += y @ y.T

    def finish_amplitude(self) -> None:
        """Flat and deviating channels; the neighbours of the others."""
        out, names = self.out, self.names
        ptp = self.hi - self.lo
        q75, q25 = self.hist.quantile(0.75), self.hist.quantile(0.25)
        amp = 0.7413 * (q75 - q25)
        ref = np.median(amp[ptp > 0]) if (ptp > 0).any() else 0.0
        flat = (ptp == 0) | (amp <= self.flat_ratio * ref)
        for i in np.flatnonzero(flat):
            ratio = float(amp[i] / ref) if ref > 0 else 0.0
            out[names[i]] = {"reason": "flat", "z": None, "amplitude_ratio": ratio}
        good = np.flatnonzero(~flat)
        self.good = good
        if good.size < 3:
            return
        z_dev = robust_z(np.log(amp[good]), SCALE_FLOOR["deviation"])
        for i, z in zip(good, z_dev, strict=True):
            if abs(z) > self.z:
                out[names[i]] = {"reason": "deviation", "z": float(z)}
        pos = self.positions[good]
        full = None
        if not np.isfinite(pos).all():
            cov = self.s2 - np.outer(self.s1, self.s1) / self.n
            sd = np.sqrt(np.diag(cov))
            full = (cov / np.outer(sd, sd))[np.ix_(good, good)]
        self.nb = neighbours(pos, self.k, full)

    @property
    def needs_correlation(self) -> bool:
        return self.good.size >= 3

    def update_correlation(self, x: np.ndarray) -> None:
        x = x[self.good]
        if self.carry is not None:
            x = np.concatenate([self.carry, x], axis=1)
        n_win = x.shape[1] // self.step
        for w in range(n_win):
            self.windows.append(window_correlation(x[:, w * self.step:(w + 1) * self.step],
                                                   self.nb))
        self.carry = x[:, n_win * self.step:].copy()

    def result(self) -> dict[str, dict]:
        """``{name: {"reason", "z", ...}}`` of the bad channels."""
        if not self.needs_correlation:
            return self.out
        if not self.windows:   # shorter than one window: the whole recording is one
            self.windows.append(window_correlation(self.carry, self.nb))
        r = np.median(np.array(self.windows), axis=0)
        z_corr = robust_z(r, SCALE_FLOOR["correlation"])
        for i, z, rr in zip(self.good, z_corr, r, strict=True):
            if z < -self.z and self.names[i] not in self.out:
                self.out[self.names[i]] = {"reason": "correlation", "z": float(z),
                                           "correlation": float(rr)}
        return self.out


def neighbours(positions: np.ndarray, k: int, corr: np.ndarray | None = None) -> np.ndarray:
    """Indices (n, k) of each channel's k nearest channels (or most correlated ones)."""
    n = len(positions)
    k = min(k, n - 1)
    if np.isfinite(positions).all():
        d = np.linalg.norm(positions[:, None] - positions[None], axis=2)
    else:
        d = -np.abs(corr)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def window_correlation(seg: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """Each channel's median |r| with its neighbours ``nb`` over one window."""
    seg = seg - seg.mean(axis=1, keepdims=True)
    norm = np.sqrt((seg ** 2).sum(axis=1))
    norm[norm == 0] = np.inf
    c = (seg @ seg.T) / np.outer(norm, norm)
    return np.median(np.abs(np.take_along_axis(c, nb, axis=1)), axis=1)
