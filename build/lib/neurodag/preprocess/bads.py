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
    """Bad channels of one channel type.

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
    out: dict[str, dict] = {}
    ptp = np.ptp(data, axis=1)
    q75, q25 = np.percentile(data, [75, 25], axis=1)
    amp = 0.7413 * (q75 - q25)
    ref = np.median(amp[ptp > 0]) if (ptp > 0).any() else 0.0
    flat = (ptp == 0) | (amp <= flat_ratio * ref)
    for i in np.flatnonzero(flat):
        ratio = float(amp[i] / ref) if ref > 0 else 0.0
        out[names[i]] = {"reason": "flat", "z": None, "amplitude_ratio": ratio}
    good = np.flatnonzero(~flat)
    if good.size < 3:
        return out
    z_dev = robust_z(np.log(amp[good]), SCALE_FLOOR["deviation"])
    for i, z in zip(good, z_dev, strict=True):
        if abs(z) > z_threshold:
            out[names[i]] = {"reason": "deviation", "z": float(z)}
    r = neighbour_correlation(data[good], sfreq, positions[good], n_neighbours, window)
    z_corr = robust_z(r, SCALE_FLOOR["correlation"])
    for i, z, rr in zip(good, z_corr, r, strict=True):
        if z < -z_threshold and names[i] not in out:
            out[names[i]] = {"reason": "correlation", "z": float(z), "correlation": float(rr)}
    return out


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


def neighbour_correlation(data: np.ndarray, sfreq: float, positions: np.ndarray, k: int,
                          window: float) -> np.ndarray:
    """Median over windows of each channel's median |r| with its neighbours."""
    n, n_times = data.shape
    step = max(int(round(window * sfreq)), 2)
    starts = range(0, max(n_times - step, 0) + 1, step)
    full = np.corrcoef(data) if not np.isfinite(positions).all() else None
    nb = neighbours(positions, k, full)
    per_window = []
    for s in starts:
        seg = data[:, s:s + step]
        seg = seg - seg.mean(axis=1, keepdims=True)
        norm = np.sqrt((seg ** 2).sum(axis=1))
        norm[norm == 0] = np.inf
        c = (seg @ seg.T) / np.outer(norm, norm)
        per_window.append(np.median(np.abs(np.take_along_axis(c, nb, axis=1)), axis=1))
    return np.median(np.array(per_window), axis=0)
