"""Topological RSA: RDMs, geo-topological transforms and identification across groups.

Lin & Kriegeskorte, "The Topology and Geometry of Neural Representations" (2023/2024).

RDM container
    An :class:`xarray.DataArray` with dims ``(rdm, condition, condition2)``: one square,
    symmetric, zero-diagonal matrix per entry of ``rdm``. What an RDM belongs to (session,
    region, layer, seed, ...) are coordinates along ``rdm``; ``attrs["metric"]`` names the
    dissimilarity. :func:`to_vectors` gives the ``(rdm, pair)`` upper-triangle form,
    :func:`to_rsatoolbox` / :func:`from_rsatoolbox` convert to and from
    :class:`rsatoolbox.rdm.RDMs`.

Transforms (each per RDM)
    :func:`rank_transform`: ranks of the dissimilarities scaled to [0, 1];
    :func:`geotopological`: ``GT_{l,u}``, 0 below the l-quantile, 1 above the u-quantile,
    linear between, on the rank-transformed RDM; :func:`geodesic`: edges with ``GT = 1``
    dropped, all-pairs shortest paths on the rest, rank-transformed again.

Evaluation
    :func:`identify`: leave-one-group-out nearest-centroid classification of RDMs into
    labels (e.g. layers across network seeds, regions across subjects); :func:`lu_grid`:
    that accuracy over the (l, u) grid.

:func:`run` is the library side of the ``trsa`` DAG step; its report figures are drawn by
:func:`neurodag.report.papers.trsa.plot_report`.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from ...errors import InputError

METRICS = ("correlation", "euclidean", "crossnobis")
DIMS = ("rdm", "condition", "condition2")


# --------------------------------------------------------------------------- containers
def _check_rdms(rdms: xr.DataArray, what: str = "rdms") -> xr.DataArray:
    if not isinstance(rdms, xr.DataArray) or rdms.dims != DIMS:
        dims = getattr(rdms, "dims", type(rdms).__name__)
        raise InputError(f"{what}: expected a DataArray with dims {DIMS}, got {dims}")
    if rdms.sizes["condition"] < 3:
        raise InputError(f"{what}: {rdms.sizes['condition']} conditions; an RDM for tRSA needs "
                         "at least 3")
    if not np.isfinite(rdms.values).all():
        raise InputError(f"{what}: RDMs hold NaN or Inf (constant patterns under correlation "
                         "distance?)")
    return rdms


def _coord(values) -> np.ndarray:
    arr = np.asarray(values)
    return arr.astype(object) if arr.dtype.kind in "USO" else arr


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, k=1)


def _vectors(rdms: xr.DataArray) -> np.ndarray:
    i, j = _pairs(rdms.sizes["condition"])
    return np.asarray(rdms.values, dtype=np.float64)[:, i, j]


def _like(rdms: xr.DataArray, vectors: np.ndarray, **attrs) -> xr.DataArray:
    n = rdms.sizes["condition"]
    i, j = _pairs(n)
    square = np.zeros((vectors.shape[0], n, n))
    square[:, i, j] = vectors
    square[:, j, i] = vectors
    return rdms.copy(data=square).assign_attrs(**attrs)


def to_vectors(rdms: xr.DataArray) -> xr.DataArray:
    """The upper triangles as ``(rdm, pair)``, with ``condition_a``/``condition_b`` per pair."""
    rdms = _check_rdms(rdms)
    i, j = _pairs(rdms.sizes["condition"])
    cond = rdms["condition"].values
    coords = {k: v for k, v in rdms.coords.items() if v.dims == ("rdm",)}
    return xr.DataArray(_vectors(rdms), dims=("rdm", "pair"),
                        coords={**coords, "condition_a": ("pair", cond[i]),
                                "condition_b": ("pair", cond[j])}, attrs=dict(rdms.attrs))


def to_rsatoolbox(rdms: xr.DataArray):
    """An :class:`rsatoolbox.rdm.RDMs`: rdm coordinates become ``rdm_descriptors``."""
    from rsatoolbox.rdm import RDMs

    rdms = _check_rdms(rdms)
    desc = {k: list(v.values) for k, v in rdms.coords.items() if v.dims == ("rdm",)}
    return RDMs(_vectors(rdms), dissimilarity_measure=rdms.attrs.get("metric"),
                rdm_descriptors=desc,
                pattern_descriptors={"condition": list(rdms["condition"].values)})


def from_rsatoolbox(r) -> xr.DataArray:
    """The RDM DataArray of an :class:`rsatoolbox.rdm.RDMs` (descriptors become coords)."""
    mats = r.get_matrices()
    n_rdm, n, _ = mats.shape
    cond = r.pattern_descriptors.get("condition", r.pattern_descriptors.get("index"))
    cond = np.asarray([str(c) for c in (cond if cond is not None else range(n))], dtype=object)
    coords = {"condition": cond, "condition2": cond.copy()}
    for k, v in r.rdm_descriptors.items():
        if k != "index" and len(v) == n_rdm:
            coords[k] = ("rdm", _coord(v))
    return xr.DataArray(np.asarray(mats, dtype=np.float64), dims=DIMS, coords=coords,
                        attrs={"metric": r.dissimilarity_measure or ""})


# --------------------------------------------------------------------------- RDMs
def _one_rdm(p: xr.DataArray, metric: str) -> np.ndarray:
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    if "repeat" not in p.dims:
        p = p.expand_dims(repeat=1)
    extra = set(p.dims) - {"condition", "channel", "repeat"}
    if extra:
        raise InputError(f"patterns: unexpected dims {sorted(extra)} (expected condition, "
                         "channel[, repeat])")
    x = np.asarray(p.transpose("condition", "repeat", "channel").values, dtype=np.float64)
    n_cond, n_rep, n_ch = x.shape
    if n_ch < 2:
        raise InputError(f"patterns: {n_ch} channel(s); an RDM needs at least 2")
    rows = np.isfinite(x).all(axis=2)
    if not rows.any(axis=1).all():
        raise InputError("patterns: a condition has no finite repeat")
    cond = np.repeat(np.arange(n_cond), n_rep).reshape(n_cond, n_rep)
    fold = np.tile(np.arange(n_rep), (n_cond, 1))
    if metric == "crossnobis" and (n_rep < 2 or not rows.all()):
        raise InputError("patterns: crossnobis needs >= 2 repeats of every condition and no "
                         "missing repeat (use patterns.epochs(n_folds=...))")
    if metric == "correlation":
        mean = np.array([x[c][rows[c]].mean(axis=0) for c in range(n_cond)])
        flat = np.ptp(mean, axis=1) == 0
        if flat.any():
            name = p["condition"].values[np.flatnonzero(flat)[0]]
            raise InputError(f"patterns: condition {name!r} is constant over channels; its "
                             "correlation distance is undefined")
    data = Dataset(x[rows], obs_descriptors={"cond": cond[rows], "fold": fold[rows]})
    kw = {"cv_descriptor": "fold"} if metric == "crossnobis" else {}
    with warnings.catch_warnings():
        # rsatoolbox casts NaN placeholders into integer descriptor arrays; harmless.
        warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)
        r = calc_rdm(data, method=metric, descriptor="cond", **kw)
    # calc_rdm sorts patterns by descriptor; integer descriptors keep our condition order.
    return r.get_matrices()[0]


def rdms(patterns, metric: str = "correlation") -> xr.DataArray:
    """RDMs of condition patterns (computed by rsatoolbox).

    Parameters
    ----------
    patterns : xarray.DataArray or sequence of them
        ``(condition, channel[, repeat])`` (see :mod:`neurodag.models.rsa.patterns`). Extra dims
        of one DataArray are stacked into ``rdm``; in a sequence each item is one RDM (items
        may differ in channels) and its scalar coordinates (e.g. ``session``, ``region``)
        become coordinates along ``rdm``. All items must share the conditions.
    metric : {"correlation", "euclidean", "crossnobis"}
        ``correlation``: 1 - Pearson r between condition means across channels;
        ``euclidean``: squared Euclidean distance between condition means per channel
        (rsatoolbox's convention); ``crossnobis``: the same, cross-validated over repeats
        (leave-one-repeat-out, identity noise precision), unbiased: 0 in expectation for
        identical conditions.

    Returns
    -------
    xarray.DataArray
        ``(rdm, condition, condition2)``, ``attrs["metric"]``.
    """
    if metric not in METRICS:
        raise InputError(f"metric={metric!r}: expected one of {list(METRICS)}")
    if isinstance(patterns, xr.DataArray):
        extra = [d for d in patterns.dims if d not in ("condition", "channel", "repeat")]
        items = [patterns]
        if extra:
            stacked = patterns.stack(rdm=extra)
            items = [stacked.isel(rdm=k).drop_vars(["rdm", *extra]).assign_coords(
                {d: stacked[d].values[k] for d in extra}) for k in range(stacked.sizes["rdm"])]
    else:
        items = list(patterns)
    if not items:
        raise InputError("patterns: empty")
    cond = items[0]["condition"].values
    for p in items[1:]:
        if not np.array_equal(p["condition"].values, cond):
            raise InputError(f"patterns: conditions differ between items ({list(cond)[:4]} "
                             f"vs {list(p['condition'].values)[:4]})")
    mats = np.stack([_one_rdm(p, metric) for p in items])
    names = sorted({k for p in items for k, v in p.coords.items() if v.ndim == 0})
    coords = {k: ("rdm", _coord([p.coords[k].item() if k in p.coords else "" for p in items]))
              for k in names}
    cond = np.asarray([str(c) for c in cond], dtype=object)
    return xr.DataArray(mats, dims=DIMS, coords={"condition": cond, "condition2": cond.copy(),
                                                 **coords}, attrs={"metric": metric})


# --------------------------------------------------------------------------- transforms
def _rank01(v: np.ndarray) -> np.ndarray:
    r = rankdata(v, method="average", axis=1)
    lo, hi = r.min(axis=1, keepdims=True), r.max(axis=1, keepdims=True)
    span = hi - lo
    return np.divide(r - lo, span, out=np.zeros_like(r), where=span > 0)


def _gt(v: np.ndarray, lower: float, upper: float) -> np.ndarray:
    q = np.quantile(v, [lower, upper], axis=1)
    lo, hi = q[0][:, None], q[1][:, None]
    width = hi - lo
    mid = np.divide(v - lo, width, out=np.zeros_like(v), where=width > 0)
    return np.where(v < lo, 0.0, np.where(v > hi, 1.0, mid))


def _check_lu(lower: float, upper: float) -> tuple[float, float]:
    lower, upper = float(lower), float(upper)
    if not 0.0 <= lower <= upper <= 1.0:
        raise InputError(f"lower={lower}, upper={upper}: expected 0 <= lower <= upper <= 1")
    return lower, upper


def rank_transform(rdms: xr.DataArray) -> xr.DataArray:
    """Each RDM's dissimilarities replaced by their ranks (ties averaged), scaled to [0, 1]."""
    rdms = _check_rdms(rdms)
    return _like(rdms, _rank01(_vectors(rdms)), transform="rank")


def geotopological(rdms: xr.DataArray, lower: float = 0.2, upper: float = 0.8, *,
                   rank: bool = True) -> xr.DataArray:
    """Geo-topological transform ``GT_{l,u}`` of each RDM.

    Parameters
    ----------
    rdms : xarray.DataArray
        ``(rdm, condition, condition2)``.
    lower, upper : float
        Quantiles l <= u in [0, 1]: dissimilarities below the l-quantile of their RDM become
        0, above its u-quantile 1, and are scaled linearly between (``l = 0, u = 1`` leaves
        the rank-transformed RDM unchanged).
    rank : bool
        Rank-transform each RDM first (the paper). ``False`` applies the thresholds to the
        raw dissimilarities, still per RDM.

    Notes
    -----
    ``rsatoolbox.rdm.geotopological_transform`` (0.3.2) differs: it takes the quantiles
    over all RDMs jointly, does not rank, transforms its input in place, and sets to 1 the
    in-between values whose rescaled value exceeds the u-quantile. On one rank-transformed
    RDM with ``upper=1`` the two agree (tested).

    Returns
    -------
    xarray.DataArray
        Same shape, values in [0, 1].
    """
    rdms = _check_rdms(rdms)
    lower, upper = _check_lu(lower, upper)
    v = _vectors(rdms)
    v = _rank01(v) if rank else v
    return _like(rdms, _gt(v, lower, upper), transform="geotopological", lower=lower,
                 upper=upper)


def geodesic(rdms: xr.DataArray, lower: float = 0.2, upper: float = 0.8) -> xr.DataArray:
    """Geodesic RDMs: shortest paths over the graph of ``GT_{l,u}`` edges below 1, re-ranked.

    Each RDM is a complete graph weighted by its ``GT_{l,u}`` values; edges with GT = 1
    are removed, all-pairs shortest path lengths are computed (Dijkstra), and the lengths
    are rank-transformed to [0, 1]. Pairs in different components (infinite length) tie
    at the top rank.
    """
    from scipy.sparse.csgraph import csgraph_from_dense, shortest_path

    rdms = _check_rdms(rdms)
    lower, upper = _check_lu(lower, upper)
    gt = _like(rdms, _gt(_rank01(_vectors(rdms)), lower, upper)).values
    # By hand: rsatoolbox.rdm.geodesic_transform has no (l, u) (it min-max scales and cuts
    # edges equal to 1) and builds its graph with networkx, which drops zero-weight edges;
    # GT sets every pair below the l-quantile to 0, and those edges must stay (length 0).
    out = np.empty((gt.shape[0], gt.shape[1] * (gt.shape[1] - 1) // 2))
    i, j = _pairs(gt.shape[1])
    for k, g in enumerate(gt):
        w = np.where(g >= 1.0, np.inf, g)
        np.fill_diagonal(w, np.inf)
        graph = csgraph_from_dense(w, null_value=np.inf)
        out[k] = shortest_path(graph, method="D", directed=False)[i, j]
    finite = np.isfinite(out)
    out = np.where(finite, out, np.nanmax(np.where(finite, out, np.nan), initial=0.0) + 1.0)
    return _like(rdms, _rank01(out), transform="geodesic", lower=lower, upper=upper)


# --------------------------------------------------------------------------- evaluation
def _per_rdm(rdms: xr.DataArray, values, what: str) -> np.ndarray:
    if isinstance(values, str):
        if values not in rdms.coords or rdms[values].dims != ("rdm",):
            raise InputError(f"{what}={values!r}: not a coordinate along 'rdm'")
        values = rdms[values].values
    out = np.asarray(values)
    if out.shape != (rdms.sizes["rdm"],):
        raise InputError(f"{what}: expected {rdms.sizes['rdm']} values, got shape {out.shape}")
    return out.astype(str)


def identify(rdms: xr.DataArray, labels, groups) -> float:
    """Leave-one-group-out nearest-centroid accuracy of labelling RDMs.

    For each group (e.g. network seed, subject, session) the RDMs of the other groups give
    one centroid per label (mean upper-triangle vector); each held-out RDM gets the label
    of the nearest centroid (Euclidean, as the reference code's scikit-learn
    ``NearestCentroid``). Chance is 1 / number of labels; ties go to the first label in
    sorted order.

    Parameters
    ----------
    rdms : xarray.DataArray
        ``(rdm, condition, condition2)``, raw or transformed.
    labels, groups : str or sequence
        Per RDM, or the name of a coordinate along ``rdm`` (e.g. ``"layer"``, ``"seed"``).

    Returns
    -------
    float
        Fraction of RDMs labelled correctly.
    """
    from scipy.spatial.distance import cdist

    rdms = _check_rdms(rdms)
    y = _per_rdm(rdms, labels, "labels")
    g = _per_rdm(rdms, groups, "groups")
    if np.unique(g).size < 2 or np.unique(y).size < 2:
        raise InputError(f"identify: needs >= 2 groups and >= 2 labels, got {np.unique(g).size}"
                         f" group(s) and {np.unique(y).size} label(s)")
    x = _vectors(rdms)
    correct = 0
    # Centroids by hand: sklearn's NearestCentroid fails with one RDM per label in the
    # training fold (two groups), which is the common case of two sessions.
    for grp in np.unique(g):
        test = g == grp
        classes = np.unique(y[~test])
        centroids = np.stack([x[~test & (y == c)].mean(axis=0) for c in classes])
        pred = classes[cdist(x[test], centroids).argmin(axis=1)]
        correct += int((pred == y[test]).sum())
    return correct / y.size


def grid_values(step: float = 0.05) -> np.ndarray:
    """The l and u values of :func:`lu_grid`: 0, step, ..., 1."""
    n = int(round(1.0 / float(step)))
    if n < 1 or abs(n * step - 1.0) > 1e-9:
        raise InputError(f"step={step}: expected 1/step to be a positive integer")
    return np.round(np.linspace(0.0, 1.0, n + 1), 10)


def lu_grid(rdms: xr.DataArray, labels, groups, step: float = 0.05, *,
            variant: str = "geotopological") -> xr.DataArray:
    """:func:`identify` accuracy of ``GT_{l,u}`` (or geodesic) RDMs over the (l, u) grid.

    Returns
    -------
    xarray.DataArray
        ``(lower, upper)``, NaN where ``upper < lower``.
    """
    if variant not in ("geotopological", "geodesic"):
        raise InputError(f"variant={variant!r}: expected 'geotopological' or 'geodesic'")
    rdms = _check_rdms(rdms)
    values = grid_values(step)
    y, g = _per_rdm(rdms, labels, "labels"), _per_rdm(rdms, groups, "groups")
    ranked = rank_transform(rdms)
    acc = np.full((values.size, values.size), np.nan)
    for a, lo in enumerate(values):
        for b in range(a, values.size):
            t = (geotopological(ranked, lo, values[b], rank=False) if variant == "geotopological"
                 else geodesic(rdms, lo, values[b]))
            acc[a, b] = identify(t, y, g)
    return xr.DataArray(acc, dims=("lower", "upper"),
                        coords={"lower": values, "upper": values},
                        attrs={"variant": variant, "chance": 1.0 / np.unique(y).size})


# --------------------------------------------------------------------------- DAG step
def run(datasets, **options):
    """The ``trsa`` step's analysis: :func:`neurodag.models.rsa.analysis.run`."""
    from .analysis import run as _run

    return _run(datasets, **options)
