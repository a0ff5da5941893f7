"""Figures of topological RSA: (lower, upper) accuracy maps and RDM panels, for the dataset
report (:func:`plot_report`) and the paper figure (:mod:`neurodag.report.papers.trsa`)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from . import style

#: up to this many conditions are named on the RDM panels' axes
MAX_TICKS = 30


def draw_lu_map(ax, acc: xr.DataArray, title: str = "identification accuracy"):
    """Draw an (lower, upper) accuracy grid (:func:`~neurodag.models.rsa.trsa.lu_grid`) on ``ax``."""
    v = acc["upper"].values
    h = (v[1] - v[0]) / 2 if v.size > 1 else 0.5
    im = ax.imshow(acc.values.T, origin="lower", cmap="magma", vmin=0, vmax=1,
                   extent=(v[0] - h, v[-1] + h, v[0] - h, v[-1] + h))
    ax.set_xlabel("lower quantile l")
    ax.set_ylabel("upper quantile u")
    chance = acc.attrs.get("chance")
    ax.set_title(title + (f"\n(chance {chance:.2f})" if chance else ""))
    return im


def plot_lu_map(acc: xr.DataArray, path, title: str = "identification accuracy") -> Path:
    """Heat map of an (lower, upper) accuracy grid written to ``path`` (PNG)."""
    path = Path(path)
    with style.figure(4.2, 3.6) as fig:
        ax = fig.subplots()
        fig.colorbar(draw_lu_map(ax, acc, title), ax=ax, label="accuracy")
        style.save(fig, path)
    return path


def plot_rdm_panels(results: xr.Dataset, path, max_rdms: int = 6) -> Path:
    """RDMs of :class:`~neurodag.models.rsa.TopologicalRSA` (rows) raw, GT and geodesic (columns)."""
    path = Path(path)
    n = min(results.sizes["rdm"], int(max_rdms))
    a = results.attrs
    names = [str(c) for c in results["condition"].values] if "condition" in results.coords else []
    cols = [("raw", f"RDM ({a.get('metric', '')})"),
            ("gt", f"GT l={a.get('lower')}, u={a.get('upper')}"), ("geodesic", "geodesic")]
    with style.figure(2.4 * len(cols), 2.1 * n + 0.8) as fig:
        axes = fig.subplots(n, len(cols), squeeze=False)
        vmax = float(results["raw"].isel(rdm=slice(0, n)).max())
        for k in range(n):
            row = results.isel(rdm=k)
            for c, (var, title) in enumerate(cols):
                ax = axes[k, c]
                im = ax.imshow(row[var].values, cmap="viridis", vmin=0,
                               vmax=vmax if var == "raw" else 1.0)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(title if k == 0 else "")
            axes[k, 0].set_ylabel(f"ses-{row['session'].item()} · {row['region'].item()}")
            if len(names) <= MAX_TICKS:   # conditions named on the first column and last row
                axes[k, 0].set_yticks(range(len(names)), names, fontsize=5)
        if len(names) <= MAX_TICKS:
            for ax in axes[n - 1]:
                ax.set_xticks(range(len(names)), names, fontsize=5, rotation=90)
        fig.colorbar(axes[0, 0].images[0], ax=axes[:, 0].tolist(), location="bottom",
                     shrink=0.8, label="dissimilarity")
        fig.colorbar(im, ax=axes[:, 1:].ravel().tolist(), location="bottom", shrink=0.5,
                     label="transformed")
        style.save(fig, path)
    return path


def plot_report(results, out_dir, max_rdms: int = 6) -> list[Path]:
    """Report figures of the ``trsa`` step (:class:`~neurodag.models.rsa.TopologicalRSA`), written in
    ``out_dir``: ``trsa_rdms.png`` (the first ``max_rdms`` RDMs, raw, GT and geodesic) and,
    when ``results`` has ``accuracy``, ``trsa_lu_accuracy.png``. Returns their paths."""
    out_dir = Path(out_dir)
    paths = [plot_rdm_panels(results, out_dir / "trsa_rdms.png", max_rdms)]
    if "accuracy" in results:
        paths.append(plot_lu_map(results["accuracy"], out_dir / "trsa_lu_accuracy.png",
                                 title="region identification across sessions"))
    return paths
