"""Figures of a dynamic-connectome fit: rank-selection curve, factor affinities and loadings.

Drawn with :mod:`neurodag.report.style` (Agg canvas, no pyplot); every function writes one
PNG atomically and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

_CMAP = "magma_r"


def community_order(labels: np.ndarray, affinity: np.ndarray | None = None) -> np.ndarray:
    """Neuron order grouping communities (largest first); within one, by decreasing strength."""
    labels = np.asarray(labels)
    strength = (np.zeros(labels.size) if affinity is None
                else np.asarray(affinity).sum(axis=1))
    key = np.where(labels < 0, labels.max(initial=0) + 1, labels)
    return np.lexsort((-strength, key))


def draw_affinity(ax, affinity: np.ndarray, labels: np.ndarray, title: str = "",
                  order: np.ndarray | None = None):
    """Affinity matrix with neurons grouped by community and community borders drawn."""
    order = community_order(labels, affinity) if order is None else order
    mat = np.asarray(affinity)[np.ix_(order, order)]
    vmax = float(np.percentile(mat[mat > 0], 99)) if (mat > 0).any() else 1.0
    im = ax.imshow(mat, cmap=_CMAP, vmin=0, vmax=vmax)
    lab = np.asarray(labels)[order]
    edges = np.flatnonzero(np.diff(lab) != 0) + 0.5
    for e in edges:
        ax.axhline(e, color="#1982c4", lw=0.6)
        ax.axvline(e, color="#1982c4", lw=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return im


def draw_rank_curve(ax, curve: dict, rank: int):
    """Error (left axis) and stability (right axis) against rank; the selected rank marked."""
    ranks = np.asarray(curve["ranks"])
    ax.plot(ranks, curve["error"], "o-", color="#1d3557", lw=1.2, label="relative error (best)")
    restarts = curve.get("error_restarts")
    if restarts:
        for r, errs in zip(ranks, restarts, strict=True):
            ax.plot([r] * len(errs), errs, ".", color="#457b9d", ms=3, alpha=0.6)
    ax.set_xlabel("rank (factors)")
    ax.set_ylabel("relative reconstruction error", color="#1d3557")
    ax2 = ax.twinx()
    ax2.plot(ranks, curve["stability"], "s--", color="#e63946", lw=1.0, label="stability")
    ax2.axhline(curve["stability_min"], color="#e63946", ls=":", lw=0.8)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("stability (best-match congruence)", color="#e63946")
    ax2.spines["right"].set_visible(True)
    ax.axvline(rank, color="#2a9d8f", lw=1.5, alpha=0.6)
    ax.set_title(f"rank selection: {rank} factors")
    ax.set_xticks(ranks)


def plot_rank_curve(curve: dict, rank: int, path) -> Path:
    from . import style

    path = Path(path)
    with style.figure(5.0, 3.4) as fig:
        draw_rank_curve(fig.subplots(), curve, rank)
        style.save(fig, path)
    return path


def _x_axis(ds: xr.Dataset):
    if "window_time" in ds.coords:
        return ds["window_time"].values, "window centre (s)"
    return ds["window_start"].values, "window start (sample)"


def plot_factors(ds: xr.Dataset, path, max_factors: int = 8) -> Path:
    """One row per factor: affinity matrix by community, temporal loading, animal loading."""
    from . import style

    path = Path(path)
    n = min(ds.sizes["factor"], int(max_factors))
    x, xlabel = _x_axis(ds)
    with style.figure(10.0, 2.1 * n + 0.6) as fig:
        axes = fig.subplots(n, 3, squeeze=False, width_ratios=[1.0, 2.4, 1.2])
        for k in range(n):
            f = ds.isel(factor=k)
            labels = f["community"].values
            n_comm = int(labels.max() + 1)
            draw_affinity(axes[k, 0], f["affinity"].values, labels,
                          f"factor {k}: {n_comm} communities")
            axes[k, 1].plot(x, f["temporal"].values, color="#1d3557", lw=1.2)
            axes[k, 1].set_ylabel("temporal")
            axes[k, 2].bar(np.arange(ds.sizes["animal"]), f["animal_loading"].values,
                           color="#6a4c93")
            axes[k, 2].set_xticks(np.arange(ds.sizes["animal"]))
            axes[k, 2].set_xticklabels([str(a)[-10:] for a in ds["animal"].values],
                                       rotation=60, fontsize=6)
            axes[k, 2].set_ylabel("animal")
        axes[-1, 1].set_xlabel(xlabel)
        style.save(fig, path)
    return path


def plot_motion(ds: xr.Dataset, path) -> Path:
    """Each factor's temporal loading against the windows' mean framewise displacement
    (the first session's), with their Pearson r (``fd_correlation``); windows left mostly
    censored (not factorised) are gaps."""
    from . import style

    path = Path(path)
    x, xlabel = _x_axis(ds)
    fd = ds["window_fd"].values[0]
    seen = ds["window_observed"].values[0].astype(bool) if "window_observed" in ds else True
    r = ds.attrs["fd_correlation"]
    n = ds.sizes["factor"]
    with style.figure(10.0, 1.7 * n + 0.6) as fig:
        axes = fig.subplots(n, 1, squeeze=False, sharex=True)[:, 0]
        for k, ax in enumerate(axes):
            ax.plot(x, np.where(seen, ds["temporal"].values[k], np.nan), color="#1d3557",
                    lw=1.2)
            ax.set_ylabel(f"factor {k}")
            twin = ax.twinx()
            twin.plot(x, fd, color="#e63946", lw=0.9)
            twin.set_ylabel("FD (mm)", color="#e63946", fontsize=7)
            ax.set_title(f"r(loading, FD) = {r[k]:.2f}", fontsize=8, loc="left")
        axes[-1].set_xlabel(xlabel)
        style.save(fig, path)
    return path
