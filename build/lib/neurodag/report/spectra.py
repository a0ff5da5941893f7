"""Power spectrum of one session: Welch over at most a minute, mean +- SD across channels.

Slow signals (fMRI) use up to :data:`PSD_MIN_SAMPLES` samples when a minute holds fewer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import welch

from . import style
from .collect import Session, load_window, main_types
from .figures import evenly

#: Seconds of data the spectrum is estimated from (from the start of the recording) ...
PSD_SECONDS = 60.0
#: ... or this many samples if that is more (slow signals: a whole fMRI run is cheap to read).
PSD_MIN_SAMPLES = 512
#: Fewer samples than this and no spectrum is drawn (e.g. a short fMRI run).
MIN_SAMPLES = 20
#: Channels per type the spectrum is averaged over; larger arrays use evenly spaced ones.
MAX_PSD_CHANNELS = 64


def nperseg(n: int, sfreq: float) -> int:
    """Welch segment length: 2 s (0.5 Hz resolution) when the data allow, at least 16 samples.

    Slow signals (fMRI, calcium) get a quarter of the data, up to 256 samples, so that
    several segments are averaged.
    """
    return int(min(n, max(int(2 * sfreq), min(256, n // 4), 16)))


def psd(data: np.ndarray, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD of ``(time, channel)`` data: frequencies (Hz) and ``(freq, channel)`` power."""
    freqs, power = welch(data, fs=sfreq, nperseg=nperseg(data.shape[0], sfreq), axis=0,
                         detrend="constant")
    return freqs, power


def plot_psd(session: Session, path: Path) -> tuple[str | None, str | None]:
    """Write the spectrum figure if there is one to draw.

    Returns
    -------
    caption : str or None
        What the figure shows; None when no figure was written.
    skipped : str or None
        Why no figure was written (too few samples, flat signal); None otherwise.
    """
    n = min(session.n_times, max(int(round(PSD_SECONDS * session.sfreq)), PSD_MIN_SAMPLES))
    if n < MIN_SAMPLES:
        return None, f"{n} sample{'' if n == 1 else 's'}: too few for a spectrum"
    types = session.coord("channel_type").astype(str)
    kinds = main_types(session)[:2]
    picks = {k: evenly(np.flatnonzero(types == k), MAX_PSD_CHANNELS) for k in kinds}
    sig = load_window(session, 0, n, np.concatenate(list(picks.values())))
    data = np.asarray(sig.values, dtype=np.float64)
    units = sig["unit"].values.astype(str)
    if not np.any(data != data[:1]):
        return None, "every channel is constant"
    notes = []
    with style.figure(5.5 * len(kinds) + 1.0, 3.8) as fig:
        axes = np.atleast_1d(fig.subplots(1, len(kinds), squeeze=False)[0])
        col = 0
        for ax, kind in zip(axes, kinds, strict=True):
            cols = slice(col, col + len(picks[kind]))
            col += len(picks[kind])
            factor, unit = style.display_unit(kind, units[cols][0])
            freqs, power = psd(data[:, cols] * factor, session.sfreq)
            # No DC, and no Nyquist bin (one-sided Welch leaves it at half power).
            keep = (freqs > 0) & (freqs < session.sfreq / 2)
            freqs, power = freqs[keep], power[keep]
            # Mean and spread of log power: spectra span decades, so the geometric mean fits.
            logp = np.log10(np.maximum(power, np.finfo(float).tiny))
            mean, sd = logp.mean(axis=1), logp.std(axis=1)
            color = style.COLORS.get(kind, "#333333")
            ax.fill_between(freqs, 10 ** (mean - sd), 10 ** (mean + sd), color=color, alpha=0.2,
                            lw=0)
            ax.plot(freqs, 10**mean, color=color, lw=1.2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("frequency (Hz)")
            ax.set_ylabel(f"PSD ({unit}²/Hz)")
            ax.set_title(f"{kind}: {len(picks[kind])} channels")
            ax.grid(True, which="major", color="#dddddd", lw=0.5)
            notes.append(f"{kind} over {len(picks[kind])} channels")
        fig.suptitle(f"session {session.key}: power spectrum, first {n / session.sfreq:.3g} s")
        style.save(fig, path)
    return (f"Welch ({nperseg(n, session.sfreq)}-sample segments) on the first "
            f"{n / session.sfreq:.3g} s; line = mean of log power, band = ± 1 SD across channels "
            f"({'; '.join(notes)}).", None)
