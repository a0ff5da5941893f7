"""Geometric stability (Shesha): how consistently a representation's geometry is spread over
its features.

Feature-split Shesha: split the features (neurons, channels, units) into two random
disjoint halves, compute the cosine-distance RDM over samples from each half, and take
the Spearman correlation of the two RDMs; average over ``n_splits`` random splits. A code
whose relational structure is carried redundantly by many features scores near 1; one
whose features carry unrelated structure scores near 0.

This is the estimator of the ``shesha-geometry`` package (``shesha.feature_split``). It is
re-written here in a few lines of scipy so that it takes named-dim DataArrays and a numpy
Generator, and returns the per-split scores; with the same integer seed and at most
``shesha``'s ``max_samples`` (1600) samples it draws the same splits and gives the same
number (tested).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from ...errors import InputError

_EPS = 1e-12


def _as_matrix(X, sample_dim: str | None) -> np.ndarray:
    if isinstance(X, xr.DataArray):
        if X.ndim != 2:
            raise InputError(f"shesha: expected a 2-D (sample, feature) DataArray, got dims "
                             f"{X.dims}")
        if sample_dim is not None:
            if sample_dim not in X.dims:
                raise InputError(f"shesha: sample_dim {sample_dim!r} not in {X.dims}")
            X = X.transpose(sample_dim, ...)
        X = X.values
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"shesha: expected a 2-D (sample, feature) array, got shape {x.shape}")
    if x.shape[0] < 4 or x.shape[1] < 4:
        raise InputError(f"shesha: needs >= 4 samples and >= 4 features, got {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("shesha: X holds NaN or Inf")
    return x


def shesha(X, n_splits: int = 30, random_state=None, *, metric: str = "cosine",
           sample_dim: str | None = None, max_samples: int | None = None,
           return_splits: bool = False):
    """Feature-split geometric stability.

    Parameters
    ----------
    X : array-like or xarray.DataArray, shape (n_samples, n_features)
        Responses: samples (stimuli, locations, time points) by features (neurons).
    n_splits : int
        Number of random feature halvings averaged.
    random_state : int, numpy.random.Generator or None
        Seed or Generator for the splits (and the subsampling).
    metric : {"cosine", "correlation"}
        Distance of the RDMs (scipy ``pdist``).
    sample_dim : str, optional
        For a DataArray: the dim of the samples (default: the first dim).
    max_samples : int, optional
        Use a random subset of this many samples when there are more (``shesha`` uses
        1600 by default; the RDMs grow with the square of the samples).
    return_splits : bool
        Also return the per-split correlations.

    Returns
    -------
    float or (float, numpy.ndarray)
        The mean Spearman correlation over the splits whose RDMs are not constant
        (NaN if none), and optionally every split's value (NaN where skipped).
    """
    if metric not in ("cosine", "correlation"):
        raise InputError(f"shesha: metric={metric!r}, expected 'cosine' or 'correlation'")
    n_splits = int(n_splits)
    if n_splits < 1:
        raise InputError(f"shesha: n_splits must be >= 1, got {n_splits}")
    x = _as_matrix(X, sample_dim)
    rng = random_state if isinstance(random_state, np.random.Generator) else \
        np.random.default_rng(random_state)
    if max_samples is not None and x.shape[0] > int(max_samples):
        x = x[rng.choice(x.shape[0], int(max_samples), replace=False)]
    if metric == "cosine":
        # Unit rows do not change cosine distances, but keep all-zero rows finite (as shesha).
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), _EPS)
    half = x.shape[1] // 2
    scores = np.full(n_splits, np.nan)
    for k in range(n_splits):
        perm = rng.permutation(x.shape[1])
        a = pdist(x[:, perm[:half]], metric=metric)
        b = pdist(x[:, perm[half:2 * half]], metric=metric)
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 2 or np.std(a[ok]) < _EPS or np.std(b[ok]) < _EPS:
            continue
        scores[k] = spearmanr(a[ok], b[ok]).statistic
    valid = scores[np.isfinite(scores)]
    mean = float(valid.mean()) if valid.size else float("nan")
    return (mean, scores) if return_splits else mean


def pattern_stability(patterns: xr.DataArray, n_splits: int = 30, random_state=0) -> float:
    """:func:`shesha` of condition patterns ``(condition, channel[, repeat])`` over all their
    channels: how consistently the geometry of the conditions is carried across channels
    (repeats averaged first). NaN when there are fewer than 4 conditions or channels."""
    if "repeat" in patterns.dims:
        patterns = patterns.mean("repeat")
    if patterns.sizes["condition"] < 4 or patterns.sizes["channel"] < 4:
        return float("nan")
    return shesha(patterns, n_splits, random_state, sample_dim="condition")
