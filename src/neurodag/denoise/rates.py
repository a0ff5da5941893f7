"""Resampling between a recording's rate and the model's, with filters designed per ratio.

A rational resampler (:func:`scipy.signal.resample_poly`) runs at the intermediate rate
``F = up * sfreq``; its FIR must keep the band the model works in and remove everything
that would fold into it. :func:`design` makes that filter for the ratio at hand from a
Kaiser window (:func:`scipy.signal.kaiserord` gives the length and shape for the stopband
attenuation asked), instead of scipy's default ``firwin(20 * max(up, down) + 1)``, whose
transition band widens and whose attenuation is fixed whatever the ratio:

- passband ``[0, pass_hz]`` (ripple ``10 ** (-atten_db / 20)``), with ``pass_hz`` at most
  0.45 of the lower of the two rates;
- stopband from ``min(sfreq, target) / 2``, the lower Nyquist frequency: nothing above it
  folds back (downsampling), no spectral image survives (upsampling), to ``atten_db``.

:func:`response` evaluates the designed filter, so the stopband can be checked
numerically (tests do).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as sps

#: Stopband attenuation (dB) of the resampling filters.
ATTEN_DB = 80.0


def _ratio(sfreq: float, target: float):
    from ..homogenize.resample import resample_ratio

    return resample_ratio(sfreq, target)


def band_edges(sfreq: float, target: float, pass_hz: float) -> tuple[float, float]:
    """(passband edge, stopband edge) in Hz used between ``sfreq`` and ``target``."""
    nyq = 0.5 * min(float(sfreq), float(target))
    return min(float(pass_hz), 0.9 * nyq), nyq


@lru_cache(maxsize=32)
def _design(up: int, down: int, sfreq: float, pass_hz: float, stop_hz: float,
            atten_db: float) -> np.ndarray:
    rate = up * sfreq
    numtaps, beta = sps.kaiserord(atten_db, (stop_hz - pass_hz) / (0.5 * rate))
    numtaps += 1 - numtaps % 2  # odd: zero phase about the centre tap
    h = sps.firwin(numtaps, 0.5 * (pass_hz + stop_hz), window=("kaiser", beta), fs=rate)
    h.setflags(write=False)
    return h


def design(sfreq: float, target: float, pass_hz: float, *,
           atten_db: float = ATTEN_DB) -> tuple[np.ndarray, int, int]:
    """The FIR (at rate ``up * sfreq``) and ``up``, ``down`` taking ``sfreq`` to ``target``.

    Parameters
    ----------
    sfreq, target : float
        Rates (Hz) in and out.
    pass_hz : float
        Upper edge of the band kept intact (capped at 0.45 of the lower rate).
    atten_db : float
        Stopband attenuation from ``min(sfreq, target) / 2`` on.

    Returns
    -------
    h : ndarray
        Linear-phase low-pass FIR, odd length, unit DC gain (``resample_poly`` scales it).
    up, down : int
    """
    ratio = _ratio(sfreq, target)
    lo, hi = band_edges(sfreq, target, pass_hz)
    h = _design(ratio.numerator, ratio.denominator, float(sfreq), lo, hi, float(atten_db))
    return h, ratio.numerator, ratio.denominator


def response(sfreq: float, target: float, pass_hz: float, *, atten_db: float = ATTEN_DB,
             density: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz, 0 to ``up * sfreq / 2``) and magnitude of the designed filter
    (DC gain 1), on an FFT grid ``density`` times finer than the filter's length."""
    h, up, _ = design(sfreq, target, pass_hz, atten_db=atten_db)
    n = 1 << int(np.ceil(np.log2(density * h.size)))
    return np.fft.rfftfreq(n, 1.0 / (up * float(sfreq))), np.abs(np.fft.rfft(h, n))


def resample(x: np.ndarray, sfreq: float, target: float, pass_hz: float, *,
             atten_db: float = ATTEN_DB, padtype: str = "antireflect") -> np.ndarray:
    """Resample ``x`` along its last axis from ``sfreq`` to ``target`` Hz.

    Polyphase filtering with the filter of :func:`design`; ``ceil(n * up / down)`` samples
    come out, the first at the time of the first input sample. ``padtype`` extends the
    signal at both ends (:func:`scipy.signal.upfirdn` modes; ``"antireflect"`` keeps value
    and slope continuous and depends on each end alone, so a block of a longer recording
    is resampled as the whole would be away from the block's ends). Returns ``x`` itself
    when the rates are equal.
    """
    h, up, down = design(sfreq, target, pass_hz, atten_db=atten_db)
    if up == down:
        return x
    return sps.resample_poly(x, up, down, axis=-1, window=h.copy(), padtype=padtype)
