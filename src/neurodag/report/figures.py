"""Signal figures of one session: stacked traces, channel x time images, spike rasters.

Each function reads only the window it plots (:func:`~neurodag.report.collect.load_window`),
writes one PNG and returns a caption saying what is shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from . import style
from .collect import Session, load_window, main_types

#: Seconds of signal shown as traces for electrophysiology.
TRACE_SECONDS = 10.0
#: Seconds shown as a channel x time image, by modality (slow signals need longer windows).
IMAGE_SECONDS = {"fmri": 1200.0, "calcium": 60.0, "spikes": 30.0}
#: At most this many samples in an image window.
MAX_IMAGE_SAMPLES = 4000
#: Traces of the recording's own channel types, and of auxiliary ones (EOG, ECG, stim...).
MAX_TRACES, MAX_AUX_TRACES = 30, 4
#: Rows of a channel x time image; larger arrays show evenly spaced channels.
MAX_IMAGE_CHANNELS = 1000
#: Traces drawn under an image (the most variable channels).
N_FEW_TRACES = 5
#: Above this many samples, a trace is drawn as its min/max envelope (what a screen shows).
MAX_PLOT_POINTS = 4000
#: Fraction of a row's spacing that a channel's 1st-99th percentile range takes.
ROW_FILL = 0.9
#: Rows a trace may swing before it is clipped (MNE's ``raw.plot(clipping=1.5)``).
CLIP_ROWS = 1.5

IMAGING = ("fmri", "calcium", "spikes")


def evenly(indices: np.ndarray, k: int) -> np.ndarray:
    """At most ``k`` of ``indices``, evenly spaced, first and last included."""
    indices = np.asarray(indices, dtype=int)
    if indices.size <= k:
        return indices
    return indices[np.unique(np.linspace(0, indices.size - 1, k).round().astype(int))]


def window(session: Session, seconds: float, max_samples: int | None = None) -> tuple[int, int]:
    """Sample range to show: ``seconds`` long, starting just before the first event if any."""
    n = max(1, int(round(seconds * session.sfreq)))
    n = min(session.n_times, n, max_samples or n)
    start = 0
    time = session.coord("time")
    onsets = session.events["onset"].to_numpy(float)
    onsets = onsets[(onsets >= time[0]) & (onsets <= time[-1])]
    if onsets.size:
        start = max(0, int(np.searchsorted(time, onsets.min())) - n // 10)
    start = min(start, session.n_times - n)
    return start, start + n


def label_colors(events: pd.DataFrame) -> dict[str, str]:
    """One colour per event label, stable across the figures of a session."""
    labels = sorted(set(events["label"].tolist()))
    return {lab: style.EVENT_COLORS[i % len(style.EVENT_COLORS)] for i, lab in enumerate(labels)}


def _mark_events(axes, events: pd.DataFrame, t0: float, t1: float, colors: dict) -> list[str]:
    inside = events[(events["onset"] >= t0) & (events["onset"] <= t1)]
    for ax in axes:
        for onset, label in zip(inside["onset"], inside["label"], strict=True):
            ax.axvline(onset, color=colors[label], lw=0.9, alpha=0.85, zorder=3)
    return sorted(set(inside["label"].tolist()))


def _event_legend(fig, labels: list[str], colors: dict) -> None:
    if not labels:
        return
    shown = labels[:10]
    handles = [Line2D([], [], color=colors[lab], lw=1.5) for lab in shown]
    names = shown + ([f"+{len(labels) - 10} more"] if len(labels) > 10 else [])
    if len(labels) > 10:
        handles.append(Line2D([], [], color="none"))
    fig.legend(handles, names, loc="outside upper right", ncols=min(len(names), 6),
               title="events")


def _envelope(time: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min/max per pixel-sized bin, interleaved: draws fast and keeps every peak visible."""
    n = time.size
    if n <= MAX_PLOT_POINTS:
        return time, data
    starts = np.arange(0, n, -(-n // (MAX_PLOT_POINTS // 2)))  # the last bin may be shorter
    lo = np.minimum.reduceat(data, starts, axis=0)
    hi = np.maximum.reduceat(data, starts, axis=0)
    env = np.stack([lo, hi], axis=1).reshape(2 * starts.size, -1)
    return np.repeat(time[starts], 2), env


def stacked_traces(ax, time, data, names, types, units) -> list[str]:
    """Draw channels one per row, each type (and unit) scaled to its median robust range.

    Channels of one type in different units (a KIT "misc": reference magnetometers in T
    and a trigger line in V) get a scale each. Returns one "type: 1 row = value unit" note
    per scale, for the caption; a trace past ``CLIP_ROWS`` rows is clipped, as MNE's
    browser clips, and the last note says so.
    """
    data = np.asarray(data, dtype=np.float64)
    centred = data - np.median(data, axis=0)
    rng = np.percentile(centred, 99, axis=0) - np.percentile(centred, 1, axis=0)
    y = np.empty_like(centred)
    notes = []
    keys = [(str(k), str(u)) for k, u in zip(types, units, strict=True)]
    for kind, stored in dict.fromkeys(keys):
        cols = np.flatnonzero([k == (kind, stored) for k in keys])
        scale = float(np.median(rng[cols]))
        if not np.isfinite(scale) or scale <= 0:
            scale = float(np.max(np.abs(centred[:, cols]))) or 1.0
        y[:, cols] = centred[:, cols] / scale * ROW_FILL
        factor, unit = style.display_unit(kind, stored)
        notes.append(f"{kind}: 1 row = {scale / ROW_FILL * factor:.3g} {unit}")
    if (np.abs(y) > CLIP_ROWS).any():
        y = np.clip(y, -CLIP_ROWS, CLIP_ROWS)
        notes[-1] += f" (traces clipped at ±{CLIP_ROWS:g} rows)"
    offsets = -np.arange(len(names), dtype=float)
    t, env = _envelope(np.asarray(time), y + offsets)
    for i, kind in enumerate(types):
        ax.plot(t, env[:, i], color=style.COLORS.get(kind, "#333333"), lw=0.6)
    ax.set_yticks(offsets, [str(n) for n in names])
    ax.set_ylim(offsets[-1] - 0.8, 0.8)
    ax.set_xlim(time[0], time[-1] if len(time) > 1 else time[0] + 1)
    ax.set_xlabel("time (s)")
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    return notes


def trace_channels(session: Session) -> np.ndarray:
    """Channel indices shown as traces: all of a small set; else evenly spaced data channels
    and the first few auxiliary ones."""
    types = session.coord("channel_type").astype(str)
    if types.size <= MAX_TRACES + MAX_AUX_TRACES:
        return np.arange(types.size)
    main = np.isin(types, main_types(session))
    picks = np.concatenate([evenly(np.flatnonzero(main), MAX_TRACES),
                            np.flatnonzero(~main)[:MAX_AUX_TRACES]])
    return np.sort(picks)


def plot_traces(session: Session, path: Path) -> str:
    """Stacked traces of a few seconds of an electrophysiology session; returns the caption."""
    start, stop = window(session, TRACE_SECONDS)
    picks = trace_channels(session)
    sig = load_window(session, start, stop, picks)
    time = sig["time"].values
    names = sig["channel"].values.astype(str)
    types = sig["channel_type"].values.astype(str)
    colors = label_colors(session.events)
    with style.figure(11, max(2.6, 0.28 * len(names) + 1.4)) as fig:
        ax = fig.add_subplot()
        notes = stacked_traces(ax, time, sig.values, names, types, sig["unit"].values)
        labels = _mark_events([ax], session.events, time[0], time[-1], colors)
        _event_legend(fig, labels, colors)
        ax.set_title(f"session {session.key}: {time[-1] - time[0]:.2f} s from t = {time[0]:.2f} s")
        style.save(fig, path)
    n_all = session.ds.sizes["channel"]
    subset = f"{len(names)} of {n_all} channels" if len(names) < n_all else f"all {n_all} channels"
    return f"{subset}, samples {start}–{stop - 1}; scale per type: " + "; ".join(notes) + "."


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _label_rows(ax, names: np.ndarray) -> None:
    if len(names) <= 40:
        ax.set_yticks(np.arange(len(names)), names)
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_ylabel("channel (row)")


def plot_image(session: Session, path: Path) -> str:
    """Channel x time image (raster for spikes) over a few traces; returns the caption."""
    seconds = IMAGE_SECONDS.get(session.modality, TRACE_SECONDS)
    start, stop = window(session, seconds, MAX_IMAGE_SAMPLES)
    types = session.coord("channel_type").astype(str)
    rows = evenly(np.flatnonzero(np.isin(types, main_types(session))), MAX_IMAGE_CHANNELS)
    sig = load_window(session, start, stop, rows)
    data = np.asarray(sig.values, dtype=np.float64)
    time = sig["time"].values
    dt = 1.0 / session.sfreq
    extent = (time[0] - dt / 2, time[-1] + dt / 2, len(rows) - 0.5, -0.5)
    spikes = session.modality == "spikes"
    colors = label_colors(session.events)
    with style.figure(11, 6.0) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.6))
        if spikes:
            top.imshow((data > 0).T, aspect="auto", cmap="Greys", vmin=0, vmax=1,
                       extent=extent, interpolation="antialiased")
            title = "spikes (one row per neuron, black = at least one spike in the bin)"
        else:
            im = top.imshow(_zscore(data).T, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3,
                            extent=extent, interpolation="antialiased")
            fig.colorbar(im, ax=top, label="z-score per channel", shrink=0.8)
            title = "signal, z-scored per channel"
        _label_rows(top, sig["channel"].values.astype(str))
        top.set_title(f"session {session.key}: {title}")
        if spikes:
            rate = data.sum(axis=1) / dt
            bottom.plot(time, rate, color=style.COLORS["neuron"], drawstyle="steps-mid")
            bottom.set_ylabel("population\nrate (spikes/s)")
            bottom.set_xlabel("time (s)")
            few_note = "bottom: summed count of the rows shown per second"
        else:
            few = np.sort(np.argsort(data.var(axis=0))[::-1][:N_FEW_TRACES])
            notes = stacked_traces(bottom, time, data[:, few], sig["channel"].values[few],
                                   sig["channel_type"].values[few].astype(str),
                                   sig["unit"].values[few])
            few_note = f"bottom: the {len(few)} most variable channels ({'; '.join(notes)})"
        labels = _mark_events([top, bottom], session.events, time[0], time[-1], colors)
        _event_legend(fig, labels, colors)
        style.save(fig, path)
    n_all = session.ds.sizes["channel"]
    shown = f"{len(rows)} of {n_all} channels" if len(rows) < n_all else f"all {n_all} channels"
    return (f"{shown}, {time[-1] - time[0] + dt:.3g} s (samples {start}–{stop - 1}); "
            f"{few_note}.")


def plot_signal(session: Session, path: Path) -> str:
    """The session's signal figure: an image for imaging and spikes, traces otherwise."""
    if session.modality in IMAGING:
        return plot_image(session, path)
    return plot_traces(session, path)
