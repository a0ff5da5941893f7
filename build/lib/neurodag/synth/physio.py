"""Time courses of stimuli and non-neural sources: events, blinks, saccades, heart, muscle, mains.

Each function returns unit-free or explicitly scaled traces plus the times that make
them up, so that generators can project them onto sensors and keep them as ground truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import band_noise, events_frame, place, point_process


def oddball_events(rng: np.random.Generator, duration: float, *, labels=("standard", "target"),
                   p_target: float = 0.2, isi=(0.9, 1.3), start: float = 2.0,
                   margin: float = 1.0) -> pd.DataFrame:
    """Stimulus onsets of an oddball sequence: ``labels[1]`` with probability ``p_target``."""
    onsets, t = [], start
    while t < duration - margin:
        onsets.append(t)
        t += rng.uniform(*isi)
    onsets = np.asarray(onsets)
    is_target = rng.random(onsets.size) < p_target
    return events_frame(onsets, np.zeros(onsets.size),
                        np.where(is_target, labels[1], labels[0]))


def blink_waveform(sfreq: float, peak_time: float = 0.1, length: float = 0.6) -> np.ndarray:
    """A blink: fast rise to 1 at ``peak_time`` and a slower fall (about 300 ms wide)."""
    t = np.arange(int(length * sfreq)) / sfreq
    x = t / peak_time
    return x ** 3 * np.exp(3.0 * (1.0 - x))


def blink_train(rng: np.random.Generator, n_times: int, sfreq: float, rate: float,
                amplitude: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blinks at Poisson times (at least 1 s apart) with amplitude jitter of +-20 %.

    Returns the trace (peak ``amplitude`` per blink, times the jitter), the onsets (s)
    and the per-blink peak amplitudes.
    """
    duration = n_times / sfreq
    onsets = point_process(rng, rate, 0.5, duration - 0.7, refractory=1.0)
    amps = amplitude * rng.uniform(0.8, 1.2, onsets.size)
    peaks = rng.uniform(0.08, 0.12, onsets.size)
    trace = np.zeros(n_times)
    for onset, amp, peak in zip(onsets, amps, peaks, strict=True):
        trace += place(blink_waveform(sfreq, peak), [onset], sfreq, n_times, [amp])
    return trace, onsets, amps


def saccade_train(rng: np.random.Generator, n_times: int, sfreq: float, rate: float,
                  amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal gaze: steps at Poisson times to new positions (sd ``amplitude``), 20 ms ramps."""
    duration = n_times / sfreq
    onsets = point_process(rng, rate, 0.5, duration - 0.5, refractory=0.3)
    targets = amplitude * rng.standard_normal(onsets.size)
    ramp = np.clip(np.arange(n_times) / (0.02 * sfreq), 0.0, 1.0)
    trace, level = np.zeros(n_times), 0.0
    for onset, target in zip(onsets, targets, strict=True):
        i0 = int(round(onset * sfreq))
        trace[i0:] += (target - level) * ramp[: n_times - i0]
        level = target
    return trace, onsets


#: PQRST as Gaussians: (time from R peak in s, relative amplitude, width in s).
_PQRST = ((-0.20, 0.12, 0.025), (-0.03, -0.15, 0.008), (0.0, 1.0, 0.010),
          (0.03, -0.25, 0.010), (0.26, 0.30, 0.045))


def heartbeat_train(rng: np.random.Generator, n_times: int, sfreq: float,
                    heart_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """An ECG-shaped trace (R peak = 1) with heart-rate variability, and the R-peak times (s)."""
    duration = n_times / sfreq
    rr_mean = 60.0 / heart_rate
    peaks, t, dev = [], rng.uniform(0.2, rr_mean), 0.0
    while t < duration:
        peaks.append(t)
        dev = 0.7 * dev + rng.normal(0.0, 0.03)
        t += rr_mean * (1.0 + dev)
    peaks = np.asarray(peaks)
    half = int(0.35 * sfreq)
    lag = np.arange(-half, half + 1) / sfreq
    template = sum(a * np.exp(-0.5 * ((lag - c) / w) ** 2) for c, a, w in _PQRST)
    return place(template, peaks, sfreq, n_times, offset=half), peaks


def muscle_bursts(rng: np.random.Generator, n_times: int, sfreq: float, rate: float,
                  min_duration: float = 0.5, max_duration: float = 2.0) -> pd.DataFrame:
    """Windows of muscle activity: onset, offset (s) and side (left, right or both)."""
    duration = n_times / sfreq
    onsets = point_process(rng, rate, 1.0, duration - max_duration - 0.5,
                           refractory=max_duration + 0.5)
    lengths = rng.uniform(min_duration, max_duration, onsets.size)
    sides = rng.choice(np.array(["left", "right", "both"], dtype=object), onsets.size)
    return pd.DataFrame({"onset": onsets, "offset": onsets + lengths, "side": sides})


def burst_envelope(bursts: pd.DataFrame, side: str, n_times: int, sfreq: float) -> np.ndarray:
    """Smooth 0-1 envelope (Tukey-shaped, 100 ms ramps) of the bursts acting on ``side``."""
    env = np.zeros(n_times)
    t = np.arange(n_times) / sfreq
    ramp = 0.1
    for _, b in bursts.iterrows():
        if b["side"] not in (side, "both"):
            continue
        up = np.clip((t - b["onset"]) / ramp, 0.0, 1.0)
        down = np.clip((b["offset"] - t) / ramp, 0.0, 1.0)
        env = np.maximum(env, np.sin(0.5 * np.pi * np.minimum(up, down)) ** 2)
    return env


def emg_noise(rng: np.random.Generator, n_times: int, sfreq: float, n_signals: int,
              low: float = 20.0) -> np.ndarray:
    """Unit-variance broadband noise from ``low`` Hz to Nyquist, one column per signal."""
    return band_noise(rng, n_times, sfreq, low, sfreq / 2.0, n_signals, order=4)


def line_noise(rng: np.random.Generator, times: np.ndarray, freq: float, amplitudes: np.ndarray,
               harmonic_ratio: float = 0.2) -> np.ndarray:
    """Mains interference: a sinusoid at ``freq`` (and harmonics below Nyquist).

    ``amplitudes`` (one per channel) is the peak of the fundamental; each harmonic has
    ``harmonic_ratio`` times the amplitude of the previous one. The phase is shared up to
    a small per-channel spread. Returns ``(n_times, n_channels)``.
    """
    sfreq = 1.0 / (times[1] - times[0])
    amplitudes = np.asarray(amplitudes, float)
    phase = rng.uniform(0, 2 * np.pi) + rng.normal(0, 0.2, amplitudes.size)
    out = np.zeros((times.size, amplitudes.size))
    k, scale = 1, 1.0
    while k * freq < sfreq / 2.0 - 1.0 and scale > 1e-3:
        out += scale * amplitudes * np.sin(2 * np.pi * k * freq * times[:, None] + k * phase)
        k, scale = k + 1, scale * harmonic_ratio
    return out
