"""Report figures of fMRI connectivity: carpet plots, connectivity matrices and QC-FC.

Each figure is a PNG with a JSON of the numbers it shows beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..store import write_json
from . import style

CENSORED = "#e63946"


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = np.nanstd(x, axis=0)
    return (x - np.nanmean(x, axis=0)) / np.where(sd > 0, sd, 1.0)


def _boundaries(ax, hemispheres, axis: str) -> None:
    """Lines between hemispheres (the parcel order is left hemisphere, then right)."""
    h = np.asarray(hemispheres)
    for i in np.flatnonzero(h[1:] != h[:-1]) + 0.5:
        (ax.axhline if axis == "y" else ax.axvline)(i, color="white", lw=1.0)


def carpet(ds: xr.Dataset, i: int, path: Path) -> tuple[Path, Path, str]:
    """FD and standardised DVARS over the carpet (parcels x time) of session ``i``, raw and
    clean, censored volumes marked."""
    s = ds.isel(session=i)
    n = int(np.isfinite(s["frame_time"].values).sum())
    t = s["frame_time"].values[:n]
    mask = s["sample_mask"].values[:n].astype(bool)
    censored = t[~mask]
    panels = [("series_before", "raw (detrended)")] if "series_before" in s else []
    panels.append(("series", "clean"))
    hemis = s["hemisphere"].values.astype(str)
    heights = [1, 1] + [3] * len(panels)
    with style.figure(11, 2.0 + 2.2 * len(panels)) as fig:
        axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
        for ax, var, label in ((axes[0], "framewise_displacement", "FD (mm)"),
                               (axes[1], "std_dvars", "std DVARS")):
            ax.plot(t, s[var].values[:n], color="#1d3557", lw=0.8)
            ax.set_ylabel(label)
            for c in censored:
                ax.axvline(c, color=CENSORED, lw=0.6, alpha=0.6)
        extent = (t[0], t[-1], len(hemis) - 0.5, -0.5)
        for ax, (var, label) in zip(axes[2:], panels, strict=True):
            x = _zscore(s[var].values[:n].astype(float)).T
            ax.imshow(x, aspect="auto", cmap="gray", vmin=-2, vmax=2, extent=extent,
                      interpolation="nearest")
            _boundaries(ax, hemis, "y")
            ax.plot(censored, np.full(censored.size, -0.5), "v", color=CENSORED, ms=4,
                    clip_on=False)
            ax.set_ylabel(f"{label}\nparcels ({len(hemis)})")
        axes[-1].set_xlabel("time (s)")
        fig.suptitle(f"session {ds['session'].values[i]}: carpet plot "
                     f"({int(mask.sum())} of {n} volumes kept)")
        style.save(fig, path)
    js = path.with_suffix(".json")
    write_json({"session": str(ds["session"].values[i]), "time_s": t.tolist(),
                "censored_s": censored.tolist(),
                "framewise_displacement": _list(s["framewise_displacement"].values[:n]),
                "std_dvars": _list(s["std_dvars"].values[:n]),
                "parcel_order": s["region"].values.astype(str).tolist()}, js)
    caption = ("Framewise displacement and standardised DVARS above the carpet plot: every "
               "parcel's series (z-scored, grey scale ±2) over time, before (raw, detrended) "
               "and after denoising, parcels in atlas order (left hemisphere first; white "
               "line = hemisphere boundary). Red lines and triangles: censored volumes (in "
               "the clean carpet they hold interpolated values and are skipped).")
    return path, js, caption


def _list(values) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]


def matrices(ds: xr.Dataset, path: Path) -> tuple[Path, Path, str]:
    """The mean connectivity matrix of the sessions, and mean Pearson FC before/after."""
    kind = str(ds.attrs.get("kind", "correlation"))
    shown = [("connectivity", f"{kind} (mean of {ds.sizes['session']} session(s))")]
    if "fc_before" in ds:
        shown += [("fc_before", "Pearson FC before denoising"),
                  ("fc_after", "Pearson FC after denoising")]
    hemis = ds["hemisphere"].values.astype(str)
    names = ds["region"].values.astype(str)
    with style.figure(4.4 * len(shown) + 0.6, 4.6) as fig:
        axes = np.atleast_1d(fig.subplots(1, len(shown)))
        for ax, (var, title) in zip(axes, shown, strict=True):
            m = ds[var].mean("session").values.copy()
            np.fill_diagonal(m, np.nan)
            lim = float(np.nanpercentile(np.abs(m), 99)) or 1.0
            im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
            _boundaries(ax, hemis, "x")
            _boundaries(ax, hemis, "y")
            if len(names) <= 40:
                ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
                ax.set_yticks(range(len(names)), names, fontsize=5)
            else:
                ax.set_xlabel(f"parcel (atlas order, {len(names)})")
            ax.set_title(title)
            fig.colorbar(im, ax=ax, shrink=0.7)
        style.save(fig, path)
    js = path.with_suffix(".json")
    write_json({"parcel_order": names.tolist(), "kind": kind,
                "mean_connectivity": np.round(ds["connectivity"].mean("session").values, 5)
                .tolist()}, js)
    caption = (f"Parcel x parcel {kind} (nilearn ConnectivityMeasure on the kept volumes), "
               f"parcels in the order listed above{' and Pearson FC of the raw and the clean series' if len(shown) > 1 else ''}; "
               "white lines separate hemispheres.")
    return path, js, caption


def qcfc(ds: xr.Dataset, metrics: dict, path: Path) -> tuple[Path, Path, str] | None:
    """Distributions of QC-FC before and after denoising (and against distance)."""
    sides = [s for s in ("before", "after") if f"qcfc_{s}" in ds
             and np.isfinite(ds[f"qcfc_{s}"].values).any()]
    if not sides:
        return None
    iu = np.triu_indices(ds.sizes["region"], k=1)
    values = {s: ds[f"qcfc_{s}"].values[iu] for s in sides}
    colors = {"before": "#999999", "after": "#1d3557"}
    with style.figure(10, 3.4) as fig:
        ax1, ax2 = fig.subplots(1, 2)
        bins = np.linspace(-1, 1, 61)
        for s in sides:
            med = metrics["qcfc"][s]["median_abs_r"]
            ax1.hist(values[s], bins=bins, color=colors[s], alpha=0.6,
                     label=f"{s}: median |r| {med:.3f}")
        ax1.set_xlabel("QC-FC r (edge connectivity vs mean FD)")
        ax1.set_ylabel("edges")
        ax1.legend()
        ax2.bar(sides, [metrics["qcfc"][s]["median_abs_r"] for s in sides],
                color=[colors[s] for s in sides])
        ax2.set_ylabel("median |QC-FC r|")
        q = metrics["qcfc"]
        fig.suptitle(f"QC-FC across {q['n_units']} {q['units']}s")
        style.save(fig, path)
    js = path.with_suffix(".json")
    write_json({s: metrics["qcfc"][s] for s in sides} | {"units": metrics["qcfc"]["units"]}, js)
    unit = ("sessions" if metrics["qcfc"]["units"] == "session" else
            f"{metrics['qcfc']['window_s']:g}-s windows of the run(s) (fewer sessions than "
            "qcfc_min_sessions)")
    caption = (f"QC-FC (Ciric et al. 2017; Parkes et al. 2018): per edge, the correlation "
               f"across {unit} between Pearson FC and mean framewise displacement, before "
               "(raw, detrended) and after denoising. Lower |r| = less motion left in FC.")
    return path, js, caption
