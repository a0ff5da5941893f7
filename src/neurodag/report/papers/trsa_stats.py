"""The protocol of the topological-RSA figure: (l, u) families, RDM noise, bootstraps.

Facts from the paper's code (github doerlbh/TopologicalRSA, ``utils_analysis.py``,
``utils_stats.py``):

- **Families** of geo-topological RDMs ``GT_{l,u}`` (:func:`in_family`, tolerance 1e-3):
  topology-sensitive ``l >= 0.4 and u <= 0.6``; geometry-sensitive ``|u - l| >= 0.8``;
  local ``mean(l, u) <= 0.2``; global ``mean(l, u) >= 0.8``; intermediate: none of these
  (and not l = u = 0). A family is scored by the mean accuracy of 10 random members
  (:func:`sample_family`): l, u drawn uniformly, swapped if u < l, rejected if
  ``l + u <= 0.01`` or ``>= 1.99``, rounded to 0.01 (u then raised by 1e-5, capped at 1:
  :func:`check_lu`), redrawn until the family's condition holds.
- **Noise** (:func:`add_noise`): Gaussian of sd ``std(all RDM entries) x n / 10`` added to
  every entry, negative results set to 0.
- **Bootstrap** (:func:`bootstrap_plan`, :func:`bootstrap_columns`): RDMs (rows, any layer
  and seed) and stimuli are drawn with replacement; in each resampled RDM the pairs of a
  stimulus with a copy of itself are dropped, the others kept (also when repeated). The
  resamples are shared by every statistic, so differences between statistics are paired.
- **Identification** (:func:`nearest_centroid_accuracy`): leave-one-seed-out
  nearest-centroid (Euclidean) classification of RDM vectors into layers, as
  :func:`neurodag.models.rsa.trsa.identify`, with bootstrap multiplicities as weights.
"""

from __future__ import annotations

import numpy as np

from ...errors import InputError

FAMILIES = ("topology", "geometry", "local", "global", "intermediate")
FAMILY_NAMES = {
    "topology": "topology-sensitive (l ≥ 0.4, u ≤ 0.6)",
    "geometry": "geometry-sensitive (u − l ≥ 0.8)",
    "local": "local (mean(l, u) ≤ 0.2)",
    "global": "global (mean(l, u) ≥ 0.8)",
    "intermediate": "intermediate (none of the others)",
}
TOL = 1e-3


def valid_lu(lower, upper):
    """The reference's (l, u) exclusion, elementwise: False where ``l + u <= 0.01`` or
    ``l + u >= 1.99`` (GT all 1 or all 0 but for ties)."""
    total = np.add(lower, upper)
    return (total > 1e-2) & (total < 2.0 - 1e-2)


def check_lu(lower: float, upper: float) -> tuple[bool, float, float]:
    """The reference's validity check of a random (l, u): ``(valid, l, u)``.

    Swapped so that l <= u; invalid when ``l + u <= 0.01`` or ``l + u >= 1.99`` (GT
    everywhere 1 or everywhere 0); rounded to 0.01, u raised by 1e-5 (so that the
    u-quantile's own value stays inside), both capped at 1.
    """
    lower, upper = sorted((float(lower), float(upper)))
    valid = bool(valid_lu(lower, upper))
    lower, upper = round(lower, 2), round(upper, 2) + 1e-5
    return valid, min(lower, 1.0), min(upper, 1.0)


def in_family(family: str, lower: float, upper: float) -> bool:
    """Whether ``GT_{l,u}`` belongs to ``family`` (one of :data:`FAMILIES`)."""
    mean = (lower + upper) / 2.0
    if family == "topology":
        return lower >= 0.4 - TOL and upper <= 0.6 + TOL
    if family == "geometry":
        return abs(upper - lower) >= 0.8 - TOL
    if family == "local":
        return mean <= 0.2 + TOL
    if family == "global":
        return mean >= 0.8 - TOL
    if family == "intermediate":
        return not (lower + upper == 0 or any(in_family(f, lower, upper)
                                              for f in FAMILIES[:-1]))
    raise InputError(f"family={family!r}: expected one of {list(FAMILIES)}")


def sample_family(family: str, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """``n`` random valid members (l, u) of ``family``, drawn as the reference does."""
    out = []
    while len(out) < int(n):
        valid, lower, upper = check_lu(*rng.uniform(size=2))
        if valid and in_family(family, lower, upper):
            out.append((lower, upper))
    return out


def add_noise(vectors: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """RDM vectors ``(rdm, pair)`` plus Gaussian noise of sd ``std(vectors) * level``,
    clipped at 0 (a dissimilarity is not negative)."""
    v = np.asarray(vectors, dtype=np.float64)
    noisy = v + rng.normal(0.0, float(np.std(v)) * float(level), v.shape)
    return np.maximum(noisy, 0.0)


def bootstrap_plan(n_rdms: int, n_stimuli: int, n_boot: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(n_boot, n_rdms)`` and stimuli ``(n_boot, n_stimuli)`` drawn with replacement."""
    rows = rng.integers(0, n_rdms, size=(int(n_boot), int(n_rdms)))
    stims = rng.integers(0, n_stimuli, size=(int(n_boot), int(n_stimuli)))
    return rows, stims


def bootstrap_columns(stims: np.ndarray, n_stimuli: int) -> np.ndarray:
    """Upper-triangle pair indices of the RDM over the resampled stimuli ``stims``.

    Position pairs (a < b) of ``stims`` map to the original pair (stims[a], stims[b]);
    pairs of a stimulus with a copy of itself have no dissimilarity and are dropped.
    """
    i, j = np.triu_indices(n_stimuli, 1)
    index = np.full((n_stimuli, n_stimuli), -1)
    index[i, j] = index[j, i] = np.arange(i.size)
    a, b = np.triu_indices(len(stims), 1)
    cols = index[np.asarray(stims)[a], np.asarray(stims)[b]]
    return cols[cols >= 0]


def _by_rdm(x, dtype=np.float64) -> tuple[np.ndarray, bool]:
    """``x`` (stat, rdm, pair) or (rdm, pair) as C-ordered (rdm, stat, pair)."""
    x = np.asarray(x, dtype=dtype)
    flat = x.ndim == 2
    return np.ascontiguousarray((x[None] if flat else x).transpose(1, 0, 2)), flat


def _accuracy(xr_, y, g, w, m) -> np.ndarray:
    # Distances to each fold's centroids (T_c - H_fc) / n_fc from inner products only:
    # x.T_c for all rows (one product per statistic) and x.x' within each fold, so no
    # centroid is ever formed. Every inner product is weighted by the pair counts m. (No
    # (rdm, stat, pair)-sized temporary: allocating one per resample costs more than the
    # products.)
    n_rdm, n_stat, n_pair = xr_.shape
    w, m = w.astype(xr_.dtype), m.astype(xr_.dtype)
    classes = np.unique(y)
    onehot = (y[:, None] == classes[None, :]) * w[:, None]                  # (rdm, class)
    total = (onehot.T @ xr_.reshape(n_rdm, -1)).reshape(classes.size, n_stat, n_pair)
    tm = total * m
    a = np.matmul(xr_.transpose(1, 0, 2), tm.transpose(1, 2, 0))           # (stat, rdm, class)
    tt = np.einsum("csp,csp->sc", tm, total)                                # (stat, class)
    count = onehot.sum(axis=0)
    correct = np.zeros(n_stat)
    for grp in np.unique(g[w > 0]):
        idx = np.flatnonzero(g == grp)
        own = onehot[idx]                                                   # (k, class)
        xf = xr_[idx]
        gram = np.matmul((xf * m).transpose(1, 0, 2), xf.transpose(1, 2, 0))  # (stat, k, k)
        xh = gram @ own                                                     # (stat, k, class)
        hh = np.einsum("kc,skl,lc->sc", own, gram, own)
        th = np.einsum("skc,kc->sc", a[:, idx], own)
        n = count - own.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = (np.einsum("skk->sk", gram)[:, :, None] - 2.0 * (a[:, idx] - xh) / n
                 + ((tt - 2.0 * th + hh) / n ** 2)[:, None, :])
        d[:, :, n <= 0] = np.inf
        test = w[idx] > 0
        pred = classes[d[:, test].argmin(axis=2)]
        correct += ((pred == y[idx][test][None, :]) * w[idx][test][None, :]).sum(axis=1)
    return correct / float(w.sum())


def nearest_centroid_accuracy(x: np.ndarray, labels, groups, row_weight=None,
                              col_weight=None):
    """Leave-one-group-out nearest-centroid accuracy of each statistic in ``x``.

    Parameters
    ----------
    x : array (stat, rdm, pair) or (rdm, pair)
        RDM vectors; each statistic is classified on its own.
    labels, groups : array (rdm,)
        Integer labels (layers) and groups (seeds); each group is held out in turn.
    row_weight : array (rdm,), optional
        How often each RDM is in the sample (a bootstrap's multiplicities; 0 = absent).
    col_weight : array (pair,), optional
        How often each pair is in the sample (Euclidean distance weighted by it).

    Returns
    -------
    float or numpy.ndarray
        Accuracy (weighted by ``row_weight``), one per statistic for 3-D ``x``.

    Notes
    -----
    By hand rather than scikit-learn's ``NearestCentroid`` (the reference's classifier,
    with which it agrees, tested): every fold's centroids come from per-class sums, and
    weights stand for repeated rows and columns without copying them, which makes the
    1000-resample bootstraps of ~50 statistics affordable. Ties go to the smallest label;
    a label absent from the training groups is never predicted.
    """
    xr_, flat = _by_rdm(x)
    y, g = np.asarray(labels), np.asarray(groups)
    w = np.ones(y.size) if row_weight is None else np.asarray(row_weight, dtype=np.float64)
    m = (np.ones(xr_.shape[2]) if col_weight is None
         else np.asarray(col_weight, dtype=np.float64))
    acc = _accuracy(xr_, y, g, w, m)
    return float(acc[0]) if flat else acc


def bootstrap_accuracy(x: np.ndarray, labels, groups, rows: np.ndarray, stims: np.ndarray,
                       n_stimuli: int, dtype=np.float32) -> np.ndarray:
    """:func:`nearest_centroid_accuracy` of each statistic on each resample.

    ``rows``, ``stims``: :func:`bootstrap_plan`. Computed in ``dtype`` (single precision
    by default: 2x faster; a resample's accuracy moves only on exact ties). Returns
    ``(resample, stat)``.
    """
    xr_, _ = _by_rdm(x, dtype)
    y, g = np.asarray(labels), np.asarray(groups)
    n_rdm, n_stat, n_pair = xr_.shape
    out = np.empty((len(rows), n_stat))
    for b, (r, s) in enumerate(zip(rows, stims, strict=True)):
        w = np.bincount(r, minlength=n_rdm).astype(np.float64)
        m = np.bincount(bootstrap_columns(s, n_stimuli), minlength=n_pair).astype(np.float64)
        out[b] = _accuracy(xr_, y, g, w, m)
    return out


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided bootstrap p-value of ``mean(a) != mean(b)`` from paired resamples.

    Twice the smaller fraction of resamples with ``a - b <= 0`` or ``>= 0``, at least
    ``1 / n`` and at most 1.
    """
    d = np.asarray(a) - np.asarray(b)
    p = 2.0 * min((d <= 0).mean(), (d >= 0).mean())
    return float(min(1.0, max(p, 1.0 / d.size)))


def reference_t_p(a, b, df: int = 10) -> float:
    """The reference's paired test over per-sample accuracies of two families.

    Its statistic is ``mean(a - b) / sd(a - b)`` (population sd, no sqrt(n)) on a t
    distribution with 10 degrees of freedom (``utils_stats.get_paired_p_values``); kept
    for comparison only: it pairs independently drawn (l, u) by their order.
    """
    from scipy import stats

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    sd = d.std()
    if sd == 0:
        return 1.0 if d.mean() == 0 else 0.0
    return float(2.0 * stats.t.sf(abs(d.mean() / sd), df))
