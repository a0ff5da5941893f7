"""Pieces shared by the generators: the Simulation record, seeding, parameters, noise.

Seeding
-------
Every generator takes ``seed``, ``subject`` and ``session``. Two generators are drawn
from them: a *subject* stream (``seed``, modality, subject) for what belongs to the
subject (source positions, active parcels, GLM weights, ...) and a *session* stream
(``seed``, modality, subject, session) for what changes between recordings (noise,
blinks, event order, ...). The same seed therefore gives identical numbers, two sessions
of one subject share the subject's anatomy and parameters, and another seed gives
another subject. Templates (the EEG montage, the fMRI atlas, the sEEG region table, the
canonical C. elegans neurons) do not depend on the seed at all.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import types
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal as sps

from ..errors import InputError
from ..provenance import canonical_json


@dataclass
class Simulation:
    """A synthetic recording: the contract Dataset, its ground truth and what made it.

    Attributes
    ----------
    modality : str
        One of :data:`neurodag.synth.MODALITIES`.
    data : xarray.Dataset
        The recording, following the signal contract (:func:`neurodag.schema.validate`).
    truth : xarray.Dataset
        Ground truth with named dims; documented by each generator.
    params : dict
        The generator's parameters, defaults filled in, including ``seed``.
    native : dict
        Objects :func:`neurodag.synth.write` needs beyond the contract (an ``mne.Info``
        with sensor geometry, NIfTI images, ...).
    """

    modality: str
    data: xr.Dataset
    truth: xr.Dataset
    params: dict
    native: dict = field(default_factory=dict)


class _GeneratorModule(types.ModuleType):
    """A module that can be called: ``synth.eeg(seed=0)`` is ``synth.eeg.generate(seed=0)``."""

    def __call__(self, **params):
        return self.generate(**params)


def callable_module(name: str) -> None:
    """Make the module ``name`` callable (it must define ``generate``)."""
    sys.modules[name].__class__ = _GeneratorModule


# -- parameters ------------------------------------------------------------------------

def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def params_digest(modality: str, params: Mapping) -> str:
    """sha256 of the canonical JSON of the generator's parameters (incl. seed)."""
    payload = {"generator": f"neurodag.synth.{modality}", "params": _jsonable(dict(params))}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def check_params(func, modality: str, params: Mapping) -> None:
    """One-line :class:`InputError` for a parameter ``func`` does not take."""
    accepted = [p for p in inspect.signature(func).parameters]
    for key in params:
        if key not in accepted:
            raise InputError(f"synth.{modality}: unknown parameter '{key}' "
                             f"(expected one of {', '.join(accepted)})")


def positive(modality: str, name: str, value, *, integer: bool = False, minimum=None):
    """``value`` as a positive float (or int), else a one-line :class:`InputError`."""
    kind = "an integer" if integer else "a number"
    try:
        ok = not isinstance(value, bool) and np.isfinite(float(value))
        if integer:
            ok = ok and float(value) == int(value)
    except (TypeError, ValueError):
        ok = False
    if ok:
        value = int(value) if integer else float(value)
        ok = value > 0 if minimum is None else value >= minimum
    if not ok:
        bound = "> 0" if minimum is None else f">= {minimum}"
        raise InputError(f"synth.{modality}: {name} must be {kind} {bound}, got {value!r}")
    return value


def fraction(modality: str, name: str, value, *, high: float = 1.0) -> float:
    """``value`` as a float in [0, high], else a one-line :class:`InputError`."""
    try:
        v = float(value)
        ok = not isinstance(value, bool) and 0.0 <= v <= high
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"synth.{modality}: {name} must be a number in [0, {high}], got {value!r}")
    return v


def choice(modality: str, name: str, value, options) -> str:
    if value not in options:
        raise InputError(f"synth.{modality}: {name} must be one of {list(options)}, got {value!r}")
    return value


def _crc(text: str) -> int:
    return zlib.crc32(str(text).encode())


def rngs(modality: str, seed, subject: str, session: str) -> tuple[np.random.Generator, ...]:
    """The subject-level and session-level generators (see the module docstring)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"synth.{modality}: seed must be a non-negative integer, got {seed!r}")
    base = [int(seed), _crc(modality), _crc(subject)]
    return (np.random.default_rng(np.random.SeedSequence(base)),
            np.random.default_rng(np.random.SeedSequence([*base, _crc(session)])))


def subject_rhythms(modality: str, labels, rng_subject: np.random.Generator,
                    heart_rate: float | None, alpha_freq: float | None) -> tuple[float, float]:
    """Check the two condition labels; the heart rate and alpha frequency, given or drawn
    per subject (60-80 bpm, 9-11.5 Hz; in that order, from the subject generator)."""
    if len(labels) != 2 or labels[0] == labels[1]:
        raise InputError(f"synth.{modality}: labels must be two distinct names, got {labels!r}")
    heart_rate = positive(modality, "heart_rate", heart_rate) if heart_rate is not None \
        else float(rng_subject.uniform(60, 80))
    alpha_freq = positive(modality, "alpha_freq", alpha_freq) if alpha_freq is not None \
        else float(rng_subject.uniform(9.0, 11.5))
    return heart_rate, alpha_freq


def truth_attrs(modality: str, params: Mapping, **extra) -> dict:
    """Attributes of a truth Dataset: what generated it, and the parameters as JSON."""
    out = {"modality": modality, "generator": f"neurodag.synth.{modality}",
           "params_json": canonical_json(_jsonable(dict(params)))}
    out.update(extra)
    return out


# -- random signals --------------------------------------------------------------------

def ou_noise(rng: np.random.Generator, n: int, k: int, tau: float, dt: float, *,
             stationary: bool = False) -> np.ndarray:
    """``(n, k)`` Ornstein-Uhlenbeck noise, step ``dt`` and time constant ``tau`` (s), unit
    stationary variance. ``stationary`` draws the first sample from the stationary law
    (after the innovations); otherwise the process starts from its first innovation."""
    from scipy.signal import lfilter

    a = np.exp(-dt / tau)
    u = rng.standard_normal((n, k)) * np.sqrt(1 - a * a)
    if stationary:
        u[0] = rng.standard_normal(k)
    return lfilter([1.0], [1.0, -a], u, axis=0)


def indicator_kernel(dt: float, tau_rise: float, tau_decay: float,
                     length: float | None = None) -> np.ndarray:
    """Difference-of-exponentials calcium indicator kernel on steps of ``dt`` over ``length``
    s (default 8 decay times), normalised to sum 1 (steady activity a gives a)."""
    t = np.arange(0, 8 * tau_decay if length is None else length, dt)
    kernel = np.exp(-t / tau_decay) - np.exp(-t / tau_rise)
    return kernel / kernel.sum()


def colored_noise(rng: np.random.Generator, n_times: int, sfreq: float, exponent: float,
                  n_signals: int = 1, fmin: float = 0.5) -> np.ndarray:
    """Unit-variance noise with a ``1/f**exponent`` power spectrum above ``fmin``.

    Returns an array of shape ``(n_times, n_signals)``.
    """
    white = rng.standard_normal((n_times, n_signals))
    spec = np.fft.rfft(white, axis=0)
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    shape = np.maximum(freqs, fmin) ** (-exponent / 2.0)
    shape[0] = 0.0
    out = np.fft.irfft(spec * shape[:, None], n=n_times, axis=0)
    return out / out.std(axis=0, keepdims=True)


def band_noise(rng: np.random.Generator, n_times: int, sfreq: float, low: float, high: float,
               n_signals: int = 1, order: int = 2) -> np.ndarray:
    """Unit-variance noise band-limited to ``[low, high]`` Hz (waxing and waning rhythms).

    ``high`` at or above Nyquist gives a high-pass. Returns ``(n_times, n_signals)``.
    """
    white = rng.standard_normal((n_times, n_signals))
    nyq = sfreq / 2.0
    if high >= nyq * 0.98:
        sos = sps.butter(order, low, btype="highpass", fs=sfreq, output="sos")
    else:
        sos = sps.butter(order, [low, high], btype="bandpass", fs=sfreq, output="sos")
    out = sps.sosfiltfilt(sos, white, axis=0)
    return out / out.std(axis=0, keepdims=True)


def point_process(rng: np.random.Generator, rate: float, start: float, stop: float,
                  refractory: float = 0.0) -> np.ndarray:
    """Event times of a Poisson process of ``rate`` (Hz) with a dead time after each event."""
    if rate <= 0 or stop <= start:
        return np.zeros(0)
    times, t = [], start
    mean_gap = 1.0 / rate
    while True:
        t += refractory + rng.exponential(max(mean_gap - refractory, 1e-3))
        if t >= stop:
            return np.asarray(times)
        times.append(t)


def place(template: np.ndarray, onsets_s: np.ndarray, sfreq: float, n_times: int,
          amplitudes=None, offset: int = 0) -> np.ndarray:
    """Sum copies of ``template`` (1-D) starting at ``onsets_s`` (s) into an ``n_times`` trace.

    ``offset`` samples of the template come before the onset (e.g. a waveform centred on it).
    """
    out = np.zeros(n_times)
    amps = np.ones(len(onsets_s)) if amplitudes is None else np.asarray(amplitudes, float)
    for onset, amp in zip(onsets_s, amps, strict=True):
        i0 = int(round(onset * sfreq)) - offset
        lo, hi = max(i0, 0), min(i0 + template.size, n_times)
        if hi > lo:
            out[lo:hi] += amp * template[lo - i0:hi - i0]
    return out


def events_frame(onsets, durations, labels) -> pd.DataFrame:
    return pd.DataFrame({"onset": np.asarray(onsets, float),
                         "duration": np.asarray(durations, float),
                         "label": np.asarray(labels, dtype=object)})


def strings(values) -> np.ndarray:
    """Strings as an object array (how xarray writes them to netCDF and zarr)."""
    return np.asarray([str(v) for v in values], dtype=object)


def lagged_events(onsets_by_label: Mapping, time: np.ndarray, sfreq: float,
                  n_lags: int) -> tuple[np.ndarray, list[str]]:
    """Event-locked regressors: for each label and lag 0..n_lags-1, the number of events of
    that label whose onset bin is ``lag`` bins before each sample; (n_times, labels x
    lags) and the names ``label@lag``. Shared by the spike simulator and the GLM-HMM's
    design (:func:`neurodag.models.glmhmm.features.event_regressors`)."""
    U = np.zeros((time.size, len(onsets_by_label) * n_lags))
    names = []
    for i, (label, onsets) in enumerate(onsets_by_label.items()):
        bins = np.round((np.asarray(onsets, float) - time[0]) * sfreq).astype(int)
        for lag in range(n_lags):
            b = bins + lag
            np.add.at(U[:, i * n_lags + lag], b[(b >= 0) & (b < time.size)], 1.0)
            names.append(f"{label}@{lag}")
    return U, names
