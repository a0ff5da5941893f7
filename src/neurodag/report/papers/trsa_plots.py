"""Figures of the topological-RSA reproduction (:mod:`.trsa`): accuracy against noise with
bootstrap intervals, the paired differences from the RDM, and the (l, u) maps per level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

COLORS = {"rdm": "#222222", "rank": "#1982c4", "topology": "#e63946", "geometry": "#6a4c93",
          "local": "#f4a261", "global": "#2a9d8f", "intermediate": "#8ac926",
          "best": "#888888"}


def plot_noise(results: xr.Dataset, path) -> Path:
    """Left: accuracy of every statistic against noise (95 % bootstrap intervals); right:
    each statistic minus the RDM (paired resamples, 95 % intervals)."""
    from .. import style
    from .trsa import STAT_NAMES

    path = Path(path)
    x = results["noise_level"].values
    stats = [str(s) for s in results["statistic"].values]
    offsets = np.linspace(-0.12, 0.12, len(stats))
    with style.figure(10.0, 4.8) as fig:
        ax1, ax2 = fig.subplots(1, 2)
        for k, s in enumerate(stats):
            r = results.sel(statistic=s)
            m = r["accuracy"].values
            err = np.vstack([m - r["ci_low"].values, r["ci_high"].values - m])
            ax1.errorbar(x + offsets[k], m, yerr=np.clip(err, 0, None), marker="o", ms=3,
                         capsize=2, lw=1.2, color=COLORS[s], ls="--" if s == "best" else "-",
                         label=STAT_NAMES[s])
            if s == "rdm":
                continue
            d = results["boot"].sel(statistic=s) - results["boot"].sel(statistic="rdm")
            lo, hi = np.percentile(d.values, [2.5, 97.5], axis=1)
            md = m - results["accuracy"].sel(statistic="rdm").values
            ax2.errorbar(x + offsets[k], md, yerr=np.clip(np.vstack([md - lo, hi - md]), 0, None),
                         marker="o", ms=3, capsize=2, lw=1.2, color=COLORS[s],
                         ls="--" if s == "best" else "-")
        ax1.axhline(results.attrs["chance"], color="k", ls=":", lw=0.8, label="chance")
        ax2.axhline(0.0, color="k", lw=0.8)
        for ax in (ax1, ax2):
            ax.set_xticks(x, [f"{n}/10" for n in x])
            ax.set_xlabel("noise sd / std(RDMs)")
        ax1.set_ylabel("layer identification (leave one seed out)")
        ax1.set_ylim(0, 1.02)
        a = results.attrs
        ax1.set_title(f"{a['n_seeds']} nets, width {a.get('width', '?')}, {a['n_boot']} "
                      "bootstraps"
                      + (" — GATE FAILED" if not a["gate_passed"] else ""))
        ax2.set_ylabel("minus RDM (paired)")
        ax2.set_title(results.attrs["verdict"]["text"], fontsize=8, wrap=True)
        fig.legend(*ax1.get_legend_handles_labels(), loc="outside lower center", ncol=5,
                   fontsize=7)
        style.save(fig, path)
    return path


def plot_grids(results: xr.Dataset, path) -> Path:
    """The (l, u) accuracy map at every noise level, its best cell outlined."""
    from matplotlib.patches import Rectangle

    from .. import style
    from ..rsa import draw_lu_map

    path = Path(path)
    levels = results["noise_level"].values
    with style.figure(3.0 * len(levels) + 0.8, 3.3) as fig:
        axes = np.atleast_1d(fig.subplots(1, len(levels)))
        for ax, n in zip(axes, levels, strict=True):
            grid = results["grid"].sel(noise_level=n)
            im = draw_lu_map(ax, grid, f"noise {n}/10")
            lo, up = results["best_lu"].sel(noise_level=n).values
            v = grid["upper"].values
            h = (v[1] - v[0]) if v.size > 1 else 1.0
            ax.add_patch(Rectangle((lo - h / 2, up - h / 2), h, h, fill=False, ec="#00b4d8",
                                   lw=1.5))
        fig.colorbar(im, ax=list(axes), label="accuracy", shrink=0.8)
        style.save(fig, path)
    return path
