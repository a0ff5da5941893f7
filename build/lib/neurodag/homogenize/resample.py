"""Common time steps: interpolation up, exact block averaging down, rational resampling.

:func:`to_step` puts a recording on the grid ``t_k = k * dt`` (k = 0, 1, ...; times are
relative to the first sample, and the grid stops at the last sample, never extrapolating):

- **upsampling** (the recording's median step is at least ``dt``): interpolation at the
  grid times through the recorded sample times, by default a not-a-knot cubic spline
  (:class:`scipy.interpolate.CubicSpline`); ``kind="pchip"`` (shape-preserving, no
  overshoot) and ``"linear"`` are available;
- **downsampling** (median step below ``dt``): block averaging done exactly. The value at
  ``t_k`` is the mean of the same interpolant (cubic spline by default) over the block
  ``[t_k - dt/2, t_k + dt/2]`` (cut to the recording at both ends): its integral over the
  block (the spline's antiderivative, exact) divided by the block's length. Blocks need
  not hold a whole number of samples (4 Hz -> 3 Hz works) and irregular sample times are
  honoured. The averaging is the anti-aliasing filter: a boxcar of width ``dt``, frequency
  response ``sinc(f dt)``, zero at multiples of 1/dt (what would alias onto 0 Hz) and 0.64
  at the new Nyquist frequency 1/(2 dt). It is the limit of the reference pipeline's
  "interpolate linearly to dt/6, then average blocks of 6" as the sub-step goes to 0, with
  a spline instead of straight lines (``kind="linear"`` gives exactly that limit; the line
  segments add a ``sinc^2(f h)`` loss for sample step h).

:func:`rational_resample` is for electrophysiology at integer-ish rates: polyphase FIR
filtering (:func:`scipy.signal.resample_poly`, Kaiser window) by the ratio ``up/down``
closest to ``target/sfreq`` with ``down <= 10000``.

:func:`smooth` applies optional smoothing on the recording's own grid (before resampling)
and :func:`zscore` standardises each column.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from ..errors import InputError

KINDS = ("cubic", "pchip", "linear")
SMOOTHERS = ("gaussian", "moving", "exponential")
#: Relative tolerance under which two steps count as equal (no resampling needed).
_RTOL = 1e-6


def grid(duration: float, dt: float) -> np.ndarray:
    """``k * dt`` for k = 0 .. floor(duration / dt) (a tiny tolerance keeps the end sample)."""
    n = int(np.floor(duration / dt * (1 + 1e-9) + 1e-9)) + 1
    return np.arange(n, dtype=np.float64) * dt


def _check(time, values, where: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if t.ndim != 1 or x.ndim != 2 or x.shape[0] != t.size:
        raise InputError(f"{where}: expected times (n,) and values (n, k), got {t.shape} and "
                         f"{x.shape}")
    if t.size < 2:
        raise InputError(f"{where}: at least 2 samples are needed to resample, got {t.size}")
    if not np.isfinite(t).all() or (np.diff(t) <= 0).any():
        raise InputError(f"{where}: sample times must be finite and strictly increasing")
    if not np.isfinite(x).all():
        raise InputError(f"{where}: values have NaN or Inf")
    return t, x


def interpolate(time, values, new_time, *, kind: str = "cubic") -> np.ndarray:
    """Values at ``new_time`` (inside ``[time[0], time[-1]]``) by interpolation along axis 0."""
    from scipy.interpolate import CubicSpline, PchipInterpolator

    if kind not in KINDS:
        raise InputError(f"interpolation kind {kind!r} is not one of {list(KINDS)}")
    t, x = _check(time, values, "interpolate")
    q = np.clip(np.asarray(new_time, dtype=np.float64), t[0], t[-1])
    if kind == "linear" or t.size < 4:
        idx = np.clip(np.searchsorted(t, q, side="right") - 1, 0, t.size - 2)
        w = ((q - t[idx]) / (t[idx + 1] - t[idx]))[:, None]
        return x[idx] * (1 - w) + x[idx + 1] * w
    if kind == "pchip":
        return PchipInterpolator(t, x, axis=0)(q)
    return CubicSpline(t, x, axis=0, bc_type="not-a-knot")(q)


def _primitive(t: np.ndarray, x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Integral from t[0] to q of the piecewise-linear interpolant of (t, x); q inside t."""
    h = np.diff(t)
    cum = np.concatenate([np.zeros((1, x.shape[1])),
                          np.cumsum((x[:-1] + x[1:]) * 0.5 * h[:, None], axis=0)])
    i = np.clip(np.searchsorted(t, q, side="right") - 1, 0, t.size - 2)
    u = (q - t[i])[:, None]
    slope = (x[i + 1] - x[i]) / h[i][:, None]
    return cum[i] + x[i] * u + slope * u * u * 0.5


def block_average(time, values, new_time, dt: float, *, kind: str = "cubic") -> np.ndarray:
    """Mean of the interpolant of the samples over ``[t - dt/2, t + dt/2]`` for each ``t``
    in ``new_time`` (blocks cut to the recording's span): the interpolant's integral over
    the block divided by the block's length. ``kind`` chooses the interpolant as in
    :func:`interpolate`."""
    from scipy.interpolate import CubicSpline, PchipInterpolator

    if kind not in KINDS:
        raise InputError(f"interpolation kind {kind!r} is not one of {list(KINDS)}")
    t, x = _check(time, values, "block_average")
    q = np.asarray(new_time, dtype=np.float64)
    lo = np.clip(q - dt / 2, t[0], t[-1])
    hi = np.clip(q + dt / 2, t[0], t[-1])
    width = hi - lo
    if (width <= 0).any():
        raise InputError("block_average: a block lies outside the recording")
    if kind == "linear" or t.size < 4:
        area = _primitive(t, x, hi) - _primitive(t, x, lo)
    else:
        spline = (PchipInterpolator(t, x, axis=0) if kind == "pchip"
                  else CubicSpline(t, x, axis=0, bc_type="not-a-knot"))
        prim = spline.antiderivative()
        area = prim(hi) - prim(lo)
    return area / width[:, None]


def to_step(time, values, dt: float, *, kind: str = "cubic") -> tuple[np.ndarray, np.ndarray, str]:
    """Put a recording on the grid ``k * dt`` relative to its first sample.

    Parameters
    ----------
    time : array, shape (n,)
        Sample times in s, strictly increasing (need not be regular).
    values : array, shape (n,) or (n, k)
    dt : float
        The common step in s.
    kind : {"cubic", "pchip", "linear"}
        Interpolation used when upsampling.

    Returns
    -------
    new_time : array, shape (m,)
        ``k * dt``, relative to ``time[0]``, up to the last sample.
    new_values : array, shape (m, k)
    method : {"interpolate", "block", "none"}
        What was done: ``none`` when the recording is already on the grid.
    """
    dt = float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise InputError(f"dt must be a positive step in s, got {dt}")
    t, x = _check(time, values, "to_step")
    rel = t - t[0]
    new_time = grid(rel[-1], dt)
    step = float(np.median(np.diff(rel)))
    if new_time.size == rel.size and np.allclose(rel, new_time, rtol=0, atol=_RTOL * dt):
        return new_time, x.copy(), "none"
    if step >= dt * (1 - _RTOL):
        return new_time, interpolate(rel, x, new_time, kind=kind), "interpolate"
    return new_time, block_average(rel, x, new_time, dt, kind=kind), "block"


def resample_ratio(sfreq: float, target: float, *, max_denominator: int = 10000) -> Fraction:
    """The ratio ``up/down`` that takes ``sfreq`` to ``target`` Hz (``down <= max_denominator``).

    Raises InputError when the rate it reaches, ``sfreq * up / down``, is more than 1e-6
    (relative) away from ``target``.
    """
    sfreq, target = float(sfreq), float(target)
    if not (np.isfinite(target) and target > 0 and np.isfinite(sfreq) and sfreq > 0):
        raise InputError(f"resampling from {sfreq} Hz to {target} Hz: rates must be positive")
    ratio = Fraction(target / sfreq).limit_denominator(max_denominator)
    reached = sfreq * ratio.numerator / ratio.denominator
    if ratio == 0 or abs(reached - target) > 1e-6 * target:
        raise InputError(f"cannot resample {sfreq:g} Hz to {target:g} Hz by a ratio up/down "
                         f"with down <= {max_denominator} (closest: {reached:.9g} Hz)")
    return ratio


def resampled_length(n: int, ratio: Fraction) -> int:
    """Samples :func:`rational_resample` returns for ``n`` samples: ``ceil(n * up / down)``."""
    return -(-int(n) * ratio.numerator // ratio.denominator)


def rational_resample(values, sfreq: float, target: float, *, axis: int = 0,
                      max_denominator: int = 10000) -> tuple[np.ndarray, float]:
    """Resample by polyphase filtering to (almost exactly) ``target`` Hz.

    Returns the resampled values and the rate reached, ``sfreq * up / down`` with
    ``up/down`` from :func:`resample_ratio`.
    """
    from scipy.signal import resample_poly

    ratio = resample_ratio(sfreq, target, max_denominator=max_denominator)
    if ratio == 1:
        return np.asarray(values), float(sfreq)
    out = resample_poly(np.asarray(values, dtype=np.float64), ratio.numerator,
                        ratio.denominator, axis=axis)
    return out, float(sfreq) * ratio.numerator / ratio.denominator


def _smooth_spec(spec) -> tuple[str, float]:
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return "gaussian", float(spec)
    if not isinstance(spec, Mapping):
        raise InputError(f"smooth: expected a Gaussian sigma in s or a mapping with 'method' "
                         f"and 'width', got {spec!r}")
    unknown = sorted(set(spec) - {"method", "width"})
    if unknown:
        raise InputError(f"smooth: unknown key(s) {unknown}; expected 'method' and 'width'")
    method = spec.get("method", "gaussian")
    if method not in SMOOTHERS:
        raise InputError(f"smooth.method: {method!r} is not one of {list(SMOOTHERS)}")
    if "width" not in spec:
        raise InputError("smooth.width: missing (sigma, window or time constant in s)")
    return method, spec["width"]


def smooth(values, sfreq: float, spec) -> np.ndarray:
    """Smooth each column of ``values`` (time along axis 0) sampled at ``sfreq`` Hz.

    Parameters
    ----------
    spec : None, float or mapping
        None: no smoothing. A float: Gaussian smoothing with that sigma in s. A mapping
        ``{"method": m, "width": w}`` (w in s): ``gaussian`` (sigma w, zero phase,
        :func:`scipy.ndimage.gaussian_filter1d`, edges by reflection), ``moving``
        (centred moving average over w, :func:`scipy.ndimage.uniform_filter1d`) or
        ``exponential`` (causal first-order low-pass with time constant w,
        :func:`scipy.signal.lfilter`, started at the first sample's value).
    """
    x = np.asarray(values, dtype=np.float64)
    if spec is None:
        return x
    method, width = _smooth_spec(spec)
    try:
        width = float(width)
    except (TypeError, ValueError):
        raise InputError(f"smooth.width: expected a number of seconds, got {width!r}") from None
    if not np.isfinite(width) or width <= 0:
        raise InputError(f"smooth.width: expected a positive number of seconds, got {width}")
    samples = width * float(sfreq)
    if method == "gaussian":
        from scipy.ndimage import gaussian_filter1d

        return gaussian_filter1d(x, samples, axis=0, mode="reflect")
    if method == "moving":
        from scipy.ndimage import uniform_filter1d

        size = max(1, int(round(samples)) | 1)  # odd, so that the window is centred
        return uniform_filter1d(x, size, axis=0, mode="nearest")
    from scipy.signal import lfilter

    a = float(np.exp(-1.0 / samples))
    zi = (a * x[:1]) if x.shape[0] else None
    out, _ = lfilter([1 - a], [1.0, -a], x, axis=0, zi=zi)
    return out


def zscore(values, *, axis: int = 0, eps: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Subtract the mean and divide by the standard deviation (ddof 0) along ``axis``.

    Returns the standardised values (0 where a column is flat) and a boolean array that
    is False for flat columns (standard deviation <= ``eps`` times the mean magnitude).
    """
    x = np.asarray(values, dtype=np.float64)
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    scale = np.maximum(np.abs(mean), 1.0)
    ok = std > eps * scale
    out = np.where(ok, (x - mean) / np.where(ok, std, 1.0), 0.0)
    return out, np.squeeze(ok, axis=axis)
