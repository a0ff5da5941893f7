"""Pairwise affinities between neuron traces in sliding windows: the (pair, window, animal) tensor.

The kernel (what one entry of the tensor is)
--------------------------------------------
For animal ``a`` with traces ``x_i(t)`` (one per neuron, on the animal's valid samples):

1. time derivative ``d_i(t)``: a Savitzky-Golay first derivative (quadratic, ``smooth``
   samples, :func:`scipy.signal.savgol_filter`), or central differences
   (:func:`numpy.gradient`) when ``smooth`` is None;
2. scaled by its root mean square over the whole recording,
   ``u_i(t) = d_i(t) / sqrt(mean_t d_i(t)^2)`` (0 for a flat trace), so that every
   neuron's rises and falls are on one scale and the window's amount of change is kept
   (a quiet window gives small affinities, it is not rescaled to look like an active one);
3. for window ``w`` (samples ``t = s_w, ..., s_w + L - 1``, ``L = window``)::

       A_ij(w, a) = max(0, (1/L) * sum_t u_i(t) u_j(t))

   Each sample where both neurons rise (``u_i > 0, u_j > 0``) or both fall
   (``u_i < 0, u_j < 0``) adds ``|u_i u_j|``; a sample where one rises while the other
   falls subtracts; the sum is rectified at 0 (anti-phase pairs have no affinity, so the
   tensor is non-negative). Because the product is not centred within the window, a
   shared ramp counts as co-increasing activity. Independent noise averages to 0 in the
   sum, before the rectification.

This follows the definition of Dyballa et al. (ICLR 2024): non-linear affinities from
time derivatives that reward co-increasing and co-decreasing activity, one matrix per
window and animal. Their code for the kernel is not public in the reference repository;
the rectified mean product of derivatives is our reading of that definition, and its
exact form is the one above.

Symmetry and storage: ``A_ij = A_ji`` and the diagonal carries no interaction, so the
tensor keeps only pairs ``i < j`` (:func:`pair_index`, row-major upper triangle):
``(n_pairs, n_windows, n_animals)`` with ``n_pairs = N (N - 1) / 2``. The factorization
works on this tensor, so each factor's neuron-pair loading is a full symmetric matrix
(:func:`pairs_to_matrix`), not a rank-one outer product.

Missing data are not imputed:

- a neuron absent from an animal (``mask`` False) has ``u_i = 0``: all its pairs are 0
  in that animal, and ``pair_observed[p, a]`` is False so that the factorization gives
  those entries zero weight;
- a window that is not wholly inside an animal's valid span is not computed (0) and
  ``window_observed[w, a]`` is False (zero weight);
- censored samples (``sample_masks``, e.g. fMRI volumes censored for motion): a derivative
  sample whose filter reaches a censored sample is left out of the RMS and of the window
  means (which average the remaining samples); a window with fewer than half its samples
  left is not observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import savgol_filter

from ...errors import InputError


@dataclass
class AffinityTensor:
    """The affinity tensor and what was observed (see the module docstring)."""

    values: np.ndarray            # (n_pairs, n_windows, n_animals) float64, >= 0
    pair_observed: np.ndarray     # (n_pairs, n_animals) bool
    window_observed: np.ndarray   # (n_windows, n_animals) bool
    starts: np.ndarray            # (n_windows,) first sample of each window
    window: int
    step: int
    n_neurons: int
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.values.shape)


def pair_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each pair ``i < j`` in tensor order (row-major upper triangle)."""
    return np.triu_indices(int(n), k=1)


def pairs_to_matrix(values: np.ndarray, n: int) -> np.ndarray:
    """Symmetric ``(..., n, n)`` matrices (zero diagonal) from ``(..., n_pairs)`` pair values."""
    values = np.asarray(values)
    i, j = pair_index(n)
    out = np.zeros(values.shape[:-1] + (n, n), dtype=values.dtype)
    out[..., i, j] = values
    out[..., j, i] = values
    return out


def usable(sample_mask: np.ndarray, smooth: int | None = 5) -> np.ndarray:
    """Derivative samples whose filter support (``smooth`` samples, or the central
    difference's 3) holds no censored sample (``sample_mask`` False)."""
    keep = np.asarray(sample_mask, dtype=bool)
    half = (int(smooth) if smooth is not None else 3) // 2
    bad = np.convolve(~keep, np.ones(2 * half + 1), mode="same") > 0
    return ~bad


def derivative(x: np.ndarray, smooth: int | None = 5, keep: np.ndarray | None = None
               ) -> np.ndarray:
    """Time derivative (per sample) of ``(time, neuron)`` traces, scaled to unit RMS per neuron.

    Parameters
    ----------
    x : ndarray, shape (n_times, n_neurons)
    smooth : int or None
        Odd length (samples) of the quadratic Savitzky-Golay derivative filter, or None for
        central differences.
    keep : ndarray of bool (n_times,), optional
        Samples that count (:func:`usable`); the others are set to 0 and left out of the RMS.

    Returns
    -------
    ndarray, shape (n_times, n_neurons)
        ``d / sqrt(mean(d ** 2))`` per neuron; 0 for a neuron whose derivative is 0.
    """
    x = np.asarray(x, dtype=np.float64)
    if smooth is None or x.shape[0] < int(smooth):
        d = np.gradient(x, axis=0) if x.shape[0] > 1 else np.zeros_like(x)
    else:
        d = savgol_filter(x, int(smooth), polyorder=2, deriv=1, axis=0, mode="interp")
    if keep is not None:
        d = np.where(np.asarray(keep, dtype=bool)[:, None], d, 0.0)
    n = x.shape[0] if keep is None else max(int(np.sum(keep)), 1)
    rms = np.sqrt(np.sum(d * d, axis=0) / n)
    # 1e-12 of the largest scale: a constant trace's derivative is round-off, not signal
    flat = rms <= 1e-12 * max(float(rms.max(initial=0.0)), 1e-300)
    return np.where(flat, 0.0, d / np.where(flat, 1.0, rms))


def window_starts(n_times: int, window: int, step: int) -> np.ndarray:
    """First sample of every window of ``window`` samples, ``step`` apart, within ``n_times``."""
    if window > n_times:
        return np.zeros(0, dtype=int)
    return np.arange(0, n_times - window + 1, step, dtype=int)


def check_window(window, step, n_times_max: int, where: str = "ntf") -> tuple[int, int]:
    """Validated integer ``(window, step)``; ``step`` None means half a window."""
    try:
        window = int(window)
    except (TypeError, ValueError):
        raise InputError(f"{where}: window must be a number of samples, got {window!r}") from None
    if window < 3:
        raise InputError(f"{where}: window must be at least 3 samples, got {window}")
    step = max(1, window // 2) if step is None else step
    try:
        step = int(step)
    except (TypeError, ValueError):
        raise InputError(f"{where}: step must be a number of samples, got {step!r}") from None
    if step < 1:
        raise InputError(f"{where}: step must be at least 1 sample, got {step}")
    if window > n_times_max:
        raise InputError(f"{where}: window of {window} samples is longer than the longest "
                         f"recording ({n_times_max} samples)")
    return window, step


def affinity_tensor(traces: list[np.ndarray], masks: np.ndarray, *, window: int,
                    step: int | None = None, smooth: int | None = 5,
                    names: list[str] | None = None,
                    sample_masks: list[np.ndarray] | None = None) -> AffinityTensor:
    """Affinities of every neuron pair, window and animal (the kernel of the module docstring).

    Parameters
    ----------
    traces : list of ndarray, each (n_times_a, n_neurons)
        One recording per animal, valid samples only (lengths may differ), finite values.
    masks : ndarray of bool, shape (n_animals, n_neurons)
        Which neurons each animal has; absent neurons' columns are ignored.
    window, step : int
        Window length and hop in samples (``step`` None: half a window). Windows start at
        sample 0 of every recording, so window ``w`` covers the same time in all animals.
    smooth : int or None
        Savitzky-Golay length for the derivative (:func:`derivative`).
    names : list of str, optional
        Animal names for messages.
    sample_masks : list of ndarray of bool, optional
        Per animal, the samples that were not censored (module docstring).

    Returns
    -------
    AffinityTensor
    """
    n_animals = len(traces)
    names = names or [f"recording {k}" for k in range(n_animals)]
    lengths = [t.shape[0] for t in traces]
    window, step = check_window(window, step, max(lengths))
    short = [k for k, n in enumerate(lengths) if n < window]
    if short:
        k = short[0]
        raise InputError(f"ntf: {names[k]}: {lengths[k]} samples, shorter than the window "
                         f"({window} samples)")
    if smooth is not None:
        smooth = int(smooth)
        if smooth < 3 or smooth % 2 == 0:
            raise InputError(f"ntf: smooth must be an odd number of samples >= 3 or None, "
                             f"got {smooth}")
    n = traces[0].shape[1]
    starts = window_starts(max(lengths), window, step)
    iu, ju = pair_index(n)
    values = np.zeros((iu.size, starts.size, n_animals))
    window_observed = np.zeros((starts.size, n_animals), bool)
    for a, x in enumerate(traces):
        keep = None if sample_masks is None else usable(sample_masks[a], smooth)
        u = derivative(x, smooth, keep) * masks[a][None, :]
        for w, s in enumerate(starts):
            if s + window > x.shape[0]:
                break
            n_used = window if keep is None else int(keep[s:s + window].sum())
            if 2 * n_used < window:
                continue  # mostly censored: not observed
            seg = u[s:s + window]
            cov = seg.T @ seg / n_used
            values[:, w, a] = np.maximum(cov[iu, ju], 0.0)
            window_observed[w, a] = True
    pair_observed = masks[:, iu].T & masks[:, ju].T
    return AffinityTensor(values=values, pair_observed=np.ascontiguousarray(pair_observed),
                          window_observed=window_observed, starts=starts, window=window,
                          step=step, n_neurons=n,
                          info={"smooth": smooth, "lengths": lengths})
