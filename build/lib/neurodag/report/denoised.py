"""Report figure of the EMG denoiser: one channel before and after, where it changed most."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..store import read_signal, write_json
from . import style

SECONDS = 6.0


def plot_session(raw_zarr: Path, denoised_zarr: Path, path: Path,
                 session: str) -> tuple[Path, Path, str]:
    """Raw and denoised traces of the EEG channel whose power changed most, for SECONDS."""
    raw, den = read_signal(raw_zarr), read_signal(denoised_zarr)
    eeg = [str(c) for c, t in zip(raw["channel"].values, raw["channel_type"].values,
                                  strict=True) if t == "eeg"]
    n = min(raw.sizes["time"], int(round(60 * float(raw.attrs["sfreq"]))))
    a = raw["signal"].sel(channel=eeg).isel(time=slice(0, n)).values
    b = den["signal"].sel(channel=eeg).isel(time=slice(0, n)).values
    removed = ((a - b) ** 2).mean(0) / np.maximum((a ** 2).mean(0), 1e-30)
    ch = int(np.argmax(removed))
    diff = (a[:, ch] - b[:, ch]) ** 2
    win = max(1, int(SECONDS * float(raw.attrs["sfreq"])))
    start = int(np.argmax(np.convolve(diff, np.ones(win), "valid"))) if diff.size > win else 0
    t = raw["time"].values[start:start + win]
    with style.figure(10.0, 3.0) as fig:
        ax = fig.subplots()
        ax.plot(t, a[start:start + win, ch] * 1e6, color="#adb5bd", lw=0.7, label="raw")
        ax.plot(t, b[start:start + win, ch] * 1e6, color="#1d3557", lw=0.9, label="denoised")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(f"{eeg[ch]} (µV)")
        ax.legend(frameon=False, fontsize=7, loc="upper right")
        style.save(fig, path)
    js = write_json({"channel": eeg[ch], "start_s": float(t[0]),
                     "power_removed_fraction": {c: float(r) for c, r in zip(eeg, removed,
                                                                           strict=True)}},
                    path.with_suffix(".json"))
    caption = (f"{session}: {eeg[ch]}, the channel whose power the denoiser "
               f"changed most ({100 * removed[ch]:.0f}% of it, first minute); median over "
               f"EEG channels {100 * float(np.median(removed)):.1f}%.")
    return path, js, caption
