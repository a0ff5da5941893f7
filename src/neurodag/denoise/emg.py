"""Surface EMG as summed motor-unit action potential trains, driven by smooth bursts.

The generator follows the standard surface-EMG simulation recipe (Fuglevand et al. 1993,
simplified), which gives EMG its bursty, non-Gaussian look and its 20-250 Hz spectrum:

1. **Drive** ``d(t)`` in [0, 1] (:func:`burst_drive`): a tonic level (0.03-0.2, so some
   units always fire and no 2 s epoch is silent), plus bursts (Poisson onsets, 0.4 per s;
   0.3-2 s long; peak 0.3-0.9) whose on- and off-ramps are raised cosines of 50-200 ms, plus
   a slow (< 2 Hz) +-10 % fluctuation.
2. **Motor units** (60 per muscle): recruitment thresholds spaced exponentially in
   0.01-0.8 (many small, early units; few large, late ones), twitch amplitudes growing
   30-fold with threshold (size principle). A recruited unit fires at 8 Hz at threshold,
   rising linearly to 35 Hz at full drive, with Gaussian inter-spike intervals (CV 0.2).
3. **Action potentials**: each unit has one waveform, a random mix of the first two
   Hermite-Rodriguez functions (the usual MUAP model) of width parameter 2.5-8 ms for the
   muscle, +-30 % per unit (surface MUAPs last about 10-30 ms; the muscles' median
   frequencies fall at about 40-80 Hz); it is added at every firing, with 10 % amplitude
   jitter.
4. **Recording**: synthesised at 2048 Hz, band-passed 20-250 Hz (4th-order Butterworth,
   zero phase; the upper edge capped at 0.45 times the output rate, i.e. below Nyquist)
   and resampled to the output rate with an anti-aliasing polyphase filter. The result is
   scaled to unit rms: mixing sets the amplitude.

:func:`muscle_sources` gives independent muscles (one column each); mixing them onto
channels with distance-dependent weights is :func:`neurodag.denoise.data.emg_patterns`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal as sps

#: Band (Hz) of the generated EMG; the upper edge is capped at 0.45 x the output rate.
EMG_BAND = (20.0, 250.0)
#: Rate (Hz) at which action potentials are synthesised before resampling.
GEN_SFREQ = 2048.0


def burst_drive(rng: np.random.Generator, n_times: int, sfreq: float, *,
                tonic=(0.03, 0.2), burst_rate: float = 0.4, burst_duration=(0.3, 2.0),
                burst_level=(0.3, 0.9), ramp=(0.05, 0.2)) -> np.ndarray:
    """Smooth muscle drive in [0, 1]: tonic floor + raised-cosine bursts + slow wobble.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_times : int
    sfreq : float
        Rate of the returned drive (Hz).
    tonic, burst_duration, burst_level, ramp : (float, float)
        Uniform ranges of the tonic level, burst length (s), burst peak and ramp length (s).
    burst_rate : float
        Burst onsets per second (Poisson).

    Returns
    -------
    numpy.ndarray, shape (n_times,)
    """
    t = np.arange(n_times) / sfreq
    duration = n_times / sfreq
    level = np.full(n_times, rng.uniform(*tonic))
    n_bursts = rng.poisson(burst_rate * duration)
    for onset in rng.uniform(-1.0, duration, n_bursts):
        length = rng.uniform(*burst_duration)
        r = min(rng.uniform(*ramp), length / 2)
        up = np.clip((t - onset) / r, 0.0, 1.0)
        down = np.clip((onset + length - t) / r, 0.0, 1.0)
        shape = np.sin(0.5 * np.pi * np.minimum(up, down)) ** 2
        level = np.maximum(level, rng.uniform(*burst_level) * shape)
    slow = rng.standard_normal(n_times)
    sos = sps.butter(2, 2.0, "lowpass", fs=sfreq, output="sos")
    slow = sps.sosfiltfilt(sos, slow)
    slow /= slow.std() or 1.0
    return np.clip(level * (1.0 + 0.1 * slow), 0.0, 1.0)


def _hermite_rodriguez(rng: np.random.Generator, width: float, sfreq: float) -> np.ndarray:
    """One MUAP: a random mix of the first two Hermite-Rodriguez functions, peak 1."""
    half = int(np.ceil(4.0 * width * sfreq))
    u = np.arange(-half, half + 1) / sfreq / width
    gauss = np.exp(-u ** 2)
    w = rng.uniform(0.0, 1.0)
    wave = (1.0 - w) * u * gauss + w * (1.0 - 2.0 * u ** 2) * gauss
    wave *= rng.choice([-1.0, 1.0])
    return wave / np.abs(wave).max()


def _firing_times(rng: np.random.Generator, rate: np.ndarray, sfreq: float,
                  cv: float) -> np.ndarray:
    """Sample indices at which a unit of instantaneous ``rate`` (Hz) fires.

    The phase ``cumsum(rate) / sfreq`` counts expected spikes; a spike is emitted each time
    it crosses the next of a series of thresholds with Gaussian increments (mean 1, sd
    ``cv``), which gives inter-spike intervals with that coefficient of variation.
    """
    phase = np.cumsum(rate) / sfreq
    total = phase[-1] if phase.size else 0.0
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    n = int(total * 1.5) + 10
    steps = np.clip(rng.normal(1.0, cv, n), 0.3, None)
    thresholds = np.cumsum(steps) - rng.uniform(0.0, 1.0)  # random phase at recruitment
    thresholds = thresholds[(thresholds > 0) & (thresholds < total)]
    return np.searchsorted(phase, thresholds).astype(np.int64)


def motor_unit_emg(rng: np.random.Generator, drive: np.ndarray, sfreq: float, *,
                   n_units: int = 60, width: float | None = None, cv: float = 0.2,
                   rate_range=(8.0, 35.0), max_threshold: float = 0.8) -> np.ndarray:
    """Sum of motor-unit action potential trains for a drive sampled at ``sfreq``.

    Returns the raw (unfiltered) interference signal at ``sfreq``; see the module docstring.
    ``width`` (s) is the muscle's mean MUAP width parameter (default: drawn in 2.5-8 ms).
    """
    n_times = drive.size
    width = rng.uniform(2.5e-3, 8e-3) if width is None else float(width)
    k = np.arange(n_units)
    thresholds = 0.01 + (max_threshold - 0.01) * np.expm1(4.0 * k / n_units) / np.expm1(4.0)
    amplitudes = np.exp(np.log(30.0) * k / n_units) * rng.uniform(0.8, 1.2, n_units)
    f0, f1 = rate_range
    idx, weights = [], []
    for i in range(n_units):
        excess = np.clip((drive - thresholds[i]) / (1.0 - thresholds[i]), 0.0, None)
        rate = np.where(drive >= thresholds[i], f0 + (f1 - f0) * excess, 0.0)
        spikes = _firing_times(rng, rate, sfreq, cv)
        if spikes.size == 0:
            continue
        wave = _hermite_rodriguez(rng, width * rng.uniform(0.7, 1.3), sfreq)
        half = wave.size // 2
        jitter = amplitudes[i] * rng.normal(1.0, 0.1, spikes.size)
        pos = spikes[:, None] + np.arange(-half, half + 1)[None, :]
        idx.append(pos.ravel())
        weights.append((jitter[:, None] * wave[None, :]).ravel())
    if not idx:
        return np.zeros(n_times)
    pos = np.concatenate(idx)
    w = np.concatenate(weights)
    ok = (pos >= 0) & (pos < n_times)
    return np.bincount(pos[ok], weights=w[ok], minlength=n_times)


def muscle_sources(rng: np.random.Generator, n_times: int, sfreq: float,
                   n_sources: int = 1, *, n_units: int = 60,
                   band=EMG_BAND) -> np.ndarray:
    """Independent surface-EMG sources at ``sfreq``, unit rms, shape ``(n_times, n_sources)``.

    Each source is one muscle: its own drive (:func:`burst_drive`), motor units
    (:func:`motor_unit_emg`), band-pass ``band`` (upper edge capped at 0.45 * ``sfreq``)
    and resampling from :data:`GEN_SFREQ` to ``sfreq``.
    """
    ratio = Fraction(float(sfreq) / GEN_SFREQ).limit_denominator(1000)
    n_gen = int(np.ceil(n_times / ratio)) + 64
    high = min(band[1], 0.45 * sfreq, 0.45 * GEN_SFREQ)
    sos = sps.butter(4, [band[0], high], "bandpass", fs=GEN_SFREQ, output="sos")
    out = np.empty((n_times, n_sources))
    for j in range(n_sources):
        drive = burst_drive(rng, n_gen, GEN_SFREQ)
        raw = motor_unit_emg(rng, drive, GEN_SFREQ, n_units=n_units)
        filt = sps.sosfiltfilt(sos, raw)
        res = sps.resample_poly(filt, ratio.numerator, ratio.denominator)[:n_times]
        out[:, j] = res / (np.sqrt(np.mean(res ** 2)) or 1.0)
    return out


def noise_bursts(rng: np.random.Generator, n_times: int, sfreq: float, n_sources: int = 1, *,
                 band=(20.0, 150.0), burst_rate: float = 1.2, burst_duration=(0.1, 0.6),
                 tonic: float = 0.02) -> np.ndarray:
    """EMG of another shape than :func:`muscle_sources`, for testing beyond the training
    noise: Gaussian noise with a flat spectrum in ``band`` (6th-order Butterworth band-pass,
    zero phase, upper edge capped at 0.45 * ``sfreq``), switched on by short Hann-shaped
    bursts (Poisson onsets at ``burst_rate`` per s, ``burst_duration`` s long, peak
    uniform in 0.5-1, like chewing or jaw clenching) over a faint tonic floor.

    Returns ``(n_times, n_sources)`` at unit rms.
    """
    high = min(band[1], 0.45 * sfreq)
    sos = sps.butter(6, [band[0], high], "bandpass", fs=sfreq, output="sos")
    t = np.arange(n_times) / sfreq
    out = np.empty((n_times, n_sources))
    for j in range(n_sources):
        env = np.full(n_times, tonic)
        for onset in rng.uniform(-0.5, n_times / sfreq, rng.poisson(burst_rate * t[-1])):
            length = rng.uniform(*burst_duration)
            u = np.clip((t - onset) / length, 0.0, 1.0)
            env = np.maximum(env, rng.uniform(0.5, 1.0) * np.sin(np.pi * u) ** 2)
        s = sps.sosfiltfilt(sos, rng.standard_normal(n_times)) * env
        out[:, j] = s / (np.sqrt(np.mean(s ** 2)) or 1.0)
    return out
