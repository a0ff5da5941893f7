"""Report figure of the EMG denoiser: where it acted (channel x window) and one channel
before and after, where it changed most."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..store import read_signal, write_json
from . import style

SECONDS = 6.0


def gate_summary(den) -> dict:
    """What the denoiser changed in a denoised store (its gate over EEG channel-windows):
    counts, the channels it left bit for bit, the power it removed where it acted."""
    eeg = np.asarray(den["channel_type"].values == "eeg")
    if "denoise_acted" not in den:
        return {"gate": "absent (written before the gate was recorded)"}
    acted = np.asarray(den["denoise_acted"].values)[eeg]
    removed = np.asarray(den["power_removed"].values)[eeg]
    names = [str(c) for c in den["channel"].values[eeg]]
    touched = acted.any(axis=1)
    return {
        "channel_windows": int(acted.size), "acted": int(acted.sum()),
        "acted_fraction": float(acted.mean()) if acted.size else 0.0,
        "channels_untouched": int((~touched).sum()), "channels": len(names),
        "channels_changed": [n for n, t in zip(names, touched, strict=True) if t],
        "median_power_removed_where_acted": float(np.median(removed[acted])) if acted.any()
        else 0.0,
        "min_ratio": den.attrs.get("denoiser_min_ratio"),
        "threshold": den.attrs.get("denoiser_threshold"),
    }


def plot_session(raw_zarr: Path, denoised_zarr: Path, path: Path) -> tuple[Path, Path, str]:
    """The gate (power removed per EEG channel and window; windows the network acted on
    outlined) and raw and denoised traces of the channel whose power changed most."""
    raw, den = read_signal(raw_zarr), read_signal(denoised_zarr)
    is_eeg = raw["channel_type"].values == "eeg"
    eeg = [str(c) for c in raw["channel"].values[is_eeg]]
    sfreq = float(raw.attrs["sfreq"])
    n = min(raw.sizes["time"], int(round(60 * sfreq)))
    a = raw["signal"].sel(channel=eeg).isel(time=slice(0, n)).values
    b = den["signal"].sel(channel=eeg).isel(time=slice(0, n)).values
    removed = ((a - b) ** 2).mean(0) / np.maximum((a ** 2).mean(0), 1e-30)
    ch = int(np.argmax(removed))
    diff = (a[:, ch] - b[:, ch]) ** 2
    win = max(1, int(SECONDS * sfreq))
    start = int(np.argmax(np.convolve(diff, np.ones(win), "valid"))) if diff.size > win else 0
    t = raw["time"].values[start:start + win]
    summary = gate_summary(den)
    has_gate = "denoise_acted" in den
    with style.figure(10.0, 6.0 if has_gate else 3.0) as fig:
        axes = fig.subplots(2 if has_gate else 1, 1, squeeze=False)[:, 0]
        if has_gate:
            ax = axes[0]
            pr = np.asarray(den["power_removed"].values)[is_eeg]
            acted = np.asarray(den["denoise_acted"].values)[is_eeg]
            edges = np.concatenate([den["window_start"].values, den["window_stop"].values[-1:]])
            mesh = ax.pcolormesh(edges, np.arange(len(eeg) + 1) - 0.5, 100 * pr, cmap="magma_r",
                                 vmin=0, vmax=max(1.0, 100 * float(pr.max())), shading="flat")
            rows, cols = np.nonzero(acted)
            ax.scatter(0.5 * (edges[cols] + edges[cols + 1]), rows, s=4, marker="s",
                       facecolors="none", edgecolors="#1d3557", linewidths=0.5)
            ax.set_yticks(range(len(eeg)))
            ax.set_yticklabels(eeg, fontsize=5)
            ax.set_xlabel("time (s)")
            ax.set_title("power removed per channel and 1.5 s window (%); squares: the "
                         "network acted", fontsize=8)
            fig.colorbar(mesh, ax=ax, fraction=0.03, pad=0.01)
        ax = axes[-1]
        ax.plot(t, a[start:start + win, ch] * 1e6, color="#adb5bd", lw=0.7, label="raw")
        ax.plot(t, b[start:start + win, ch] * 1e6, color="#1d3557", lw=0.9, label="denoised")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(f"{eeg[ch]} (µV)")
        ax.legend(frameon=False, fontsize=7, loc="upper right")
        style.save(fig, path)
    js = write_json({"channel": eeg[ch], "start_s": float(t[0]),
                     "power_removed_fraction": {c: float(r) for c, r in zip(eeg, removed,
                                                                           strict=True)},
                     "gate": summary},
                    path.with_suffix(".json"))
    caption = (f"{raw_zarr.parent.name}: {eeg[ch]}, the channel whose power the denoiser "
               f"changed most ({100 * removed[ch]:.0f}% of it, first minute); median over "
               f"EEG channels {100 * float(np.median(removed)):.1f}%.")
    if has_gate:
        caption += (f" The network acted on {summary['acted']} of "
                    f"{summary['channel_windows']} channel-windows; "
                    f"{summary['channels_untouched']} of {summary['channels']} EEG channels "
                    "are returned bit for bit.")
    return path, js, caption
