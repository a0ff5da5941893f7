"""Choosing the number of factors: reconstruction error and stability across random restarts.

For every candidate rank r the tensor is factorised from ``n_restarts`` random
initialisations (seeds drawn from one generator, so the whole curve is reproducible):

``error[r]``
    the lowest relative error over the restarts (that restart is the model kept);
``stability[r]``
    the mean, over the other restarts, of their best-match factor congruence with the
    kept model (:func:`~neurodag.models.ntf.hals.congruence`: Hungarian matching of
    factors, product over modes of column cosines). 1 means every restart found the same
    factors; extra factors that only fit noise land in different places from one restart
    to the next and pull it down;
``drop[r]``
    the decrease of the error from the previous candidate rank,
    ``error[r_prev] - error[r]`` (infinite for the smallest rank).

Rule (the elbow of the error curve, guarded by stability). Past the true rank, each added
factor fits noise and lowers the error by a roughly constant small amount; the median of
the drops over the last third of the candidate ranks (at least 2 of them) estimates it as
``floor``. The selected rank is the largest r with

- ``drop[r] >= drop_ratio * floor`` (the factor explains clearly more than noise), and
- ``stability[r] >= stability_min`` (the restarts agree on the factors).

Defaults ``drop_ratio = 2``, ``stability_min = 0.9``. The rule needs candidates that reach
past the true rank (the default 2-11 does for a handful of factors); with fewer than 4
candidates there is no floor to estimate and the largest stable rank is taken. If no rank
passes, the most stable rank is taken. On the planted simulation
(:func:`neurodag.synth.communities.planted`) it finds the planted rank at the default
noise (tested).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ...errors import InputError
from .hals import CPResult, congruence, nncp_hals

STABILITY_MIN = 0.9
DROP_RATIO = 2.0


def check_ranks(ranks: Iterable[int] | int) -> list[int]:
    """Sorted unique candidate ranks, each at least 1."""
    if isinstance(ranks, (int, np.integer)):
        ranks = [int(ranks)]
    try:
        out = sorted({int(r) for r in ranks})
    except (TypeError, ValueError):
        raise InputError(f"ntf: ranks must be integers, got {ranks!r}") from None
    if not out:
        raise InputError("ntf: ranks is empty")
    if out[0] < 1:
        raise InputError(f"ntf: rank must be at least 1, got {out[0]}")
    return out


def fit_restarts(x, rank: int, *, n_restarts: int, rng: np.random.Generator,
                 **fit_options) -> tuple[CPResult, list[CPResult]]:
    """Fit ``n_restarts`` random initialisations; return the best fit and all fits."""
    fits = [nncp_hals(x, rank, random_state=np.random.default_rng(rng.integers(2**63)),
                      **fit_options) for _ in range(int(n_restarts))]
    best = min(fits, key=lambda f: f.error)
    return best, fits


def stability(best: CPResult, fits: list[CPResult]) -> float:
    """Mean best-match congruence of the restarts with the best one (1.0 with one restart)."""
    others = [f for f in fits if f is not best]
    if not others:
        return 1.0
    return float(np.mean([congruence(best, f)[0] for f in others]))


def select_rank(ranks: list[int], errors, stabilities, *, stability_min: float = STABILITY_MIN,
                drop_ratio: float = DROP_RATIO) -> tuple[int, np.ndarray, float]:
    """Apply the rule of the module docstring; return the rank, the drops and the floor."""
    ranks = np.asarray(ranks)
    errors = np.asarray(errors, dtype=float)
    stabilities = np.asarray(stabilities, dtype=float)
    drops = np.full(errors.size, np.inf)
    drops[1:] = errors[:-1] - errors[1:]
    stable = stabilities >= stability_min
    if errors.size < 4:
        floor = np.nan
        ok = stable
    else:
        tail = max(2, int(np.ceil((errors.size - 1) / 3)))
        floor = float(np.median(drops[-tail:]))
        ok = stable & (drops >= drop_ratio * floor)
    if ok.any():
        return int(ranks[ok][-1]), drops, floor
    return int(ranks[int(np.argmax(stabilities))]), drops, floor


def rank_curve(x, ranks: list[int], *, n_restarts: int, rng: np.random.Generator,
               stability_min: float = STABILITY_MIN, drop_ratio: float = DROP_RATIO,
               **fit_options) -> tuple[int, dict, dict[int, CPResult]]:
    """Fit every candidate rank; return the selected rank, the curve and the best fits.

    Returns
    -------
    rank : int
    curve : dict
        ``ranks``, ``error`` (best), ``error_mean``, ``error_restarts`` (per restart),
        ``stability``, ``drop``, ``floor``, ``n_iter`` (of the best fit),
        ``stability_min``, ``drop_ratio``, ``n_restarts``, ``rule``.
    models : dict
        ``{rank: best CPResult}``.
    """
    models, err, err_mean, err_all, stab, iters = {}, [], [], [], [], []
    for r in ranks:
        best, fits = fit_restarts(x, r, n_restarts=n_restarts, rng=rng, **fit_options)
        models[r] = best
        err.append(best.error)
        err_all.append([f.error for f in fits])
        err_mean.append(float(np.mean(err_all[-1])))
        stab.append(stability(best, fits))
        iters.append(best.n_iter)
    rank, drops, floor = select_rank(ranks, err, stab, stability_min=stability_min,
                                     drop_ratio=drop_ratio)
    curve = {
        "ranks": list(ranks), "error": err, "error_mean": err_mean, "error_restarts": err_all,
        "stability": stab, "drop": [float(d) if np.isfinite(d) else None for d in drops],
        "floor": None if not np.isfinite(floor) else floor, "n_iter": iters,
        "stability_min": float(stability_min), "drop_ratio": float(drop_ratio),
        "n_restarts": int(n_restarts),
        "rule": "largest rank with stability >= stability_min and error drop >= drop_ratio x "
                "the median drop of the last third of the candidate ranks",
    }
    return rank, curve, models
