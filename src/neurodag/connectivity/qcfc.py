"""QC-FC: how much functional connectivity still follows head motion (Ciric et al. 2017;
Parkes et al. 2018).

For every edge, the Pearson correlation across units (sessions, or windows of a run) between
the edge's connectivity and the unit's mean framewise displacement, before and after
denoising. Reported: the median absolute QC-FC, the fraction of edges with uncorrected
p < 0.05, and the distance dependence (Spearman correlation of QC-FC with the distance
between the parcels' centroids) when parcels have positions. Ciric et al. compute QC-FC as
a partial correlation controlling for age and sex across subjects; neurodag has neither, so
the correlation is plain.

With fewer sessions than ``min_sessions`` (the brainspace reference has one run), the units
are non-overlapping windows of ``window_s`` seconds of every session: the within-run form
of the same benchmark, which asks whether windows with more motion show different
connectivity.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats


def pearson_fc(series: list[np.ndarray]) -> np.ndarray:
    """``(unit, parcel, parcel)`` Pearson correlation matrices (nilearn's ConnectivityMeasure
    with the empirical covariance, as QC-FC uses)."""
    from nilearn.connectome import ConnectivityMeasure
    from sklearn.covariance import EmpiricalCovariance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # nilearn's notes on standardize defaults
        return ConnectivityMeasure(kind="correlation", cov_estimator=EmpiricalCovariance(),
                                   standardize=False).fit_transform(series)


def units(sessions: list[dict], min_sessions: int, window_s: float, min_frames: int):
    """``(kind, [(session index, frame indices)])`` of the QC-FC units."""
    if len(sessions) >= min_sessions:
        return "session", [(i, np.arange(s["n_frames"])) for i, s in enumerate(sessions)]
    out = []
    for i, s in enumerate(sessions):
        width = max(min_frames, int(round(window_s * s["sfreq"])))
        for start in range(0, s["n_frames"] - width + 1, width):
            out.append((i, np.arange(start, start + width)))
    return "window", out


def edge_correlation(fc: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per edge (upper triangle), r and p of connectivity against ``motion`` across units."""
    iu = np.triu_indices(fc.shape[1], k=1)
    edges = fc[:, iu[0], iu[1]]
    r = np.full(edges.shape[1], np.nan)
    p = np.full(edges.shape[1], np.nan)
    ok = np.std(edges, axis=0) > 0
    if np.std(motion) > 0 and ok.any():
        z = (edges[:, ok] - edges[:, ok].mean(0)) / edges[:, ok].std(0)
        m = (motion - motion.mean()) / motion.std()
        r[ok] = (z * m[:, None]).mean(axis=0)
        n = len(motion)
        t = r[ok] * np.sqrt((n - 2) / np.maximum(1 - r[ok] ** 2, 1e-12))
        p[ok] = 2 * stats.t.sf(np.abs(t), n - 2)
    return r, p


def summary(r: np.ndarray, p: np.ndarray, distance: np.ndarray | None) -> dict:
    ok = np.isfinite(r)
    out = {"median_abs_r": float(np.median(np.abs(r[ok]))) if ok.any() else None,
           "fraction_p05": float((p[ok] < 0.05).mean()) if ok.any() else None,
           "n_edges": int(ok.sum())}
    if distance is not None:
        d_ok = ok & np.isfinite(distance)
        out["distance_dependence_rho"] = (float(stats.spearmanr(r[d_ok], distance[d_ok])[0])
                                          if d_ok.sum() > 2 else None)
    return out
