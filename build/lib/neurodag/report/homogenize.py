"""Figures of the homogenization step: neuron coverage, connectome agreement, resampling check.

Each ``plot_*`` function writes one PNG (atomically) and a JSON file next to it with the
numbers plotted, and returns ``(png, json, caption)``. :func:`run` makes all the figures
it has inputs for.

``coverage``     datasets x canonical neurons: sessions of each dataset that recorded each
                 neuron (from ``homogenized.zarr``'s ``mask``), and sessions per neuron over
                 all datasets
``agreement``    Jaccard index of the edge sets of every pair of connectome annotations
                 (chemical; any synapse type), on the pairs both annotations cover
``resampling``   one neuron of one recording: the original samples and the trace on the
                 common grid, and their correlation (original linearly interpolated at
                 the grid times)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import InputError
from ..homogenize import connectomes
from ..store import write_json
from . import style

#: Seconds of trace shown by the resampling check.
RESAMPLING_SECONDS = 60.0


def _save(fig, path: Path) -> Path:
    style.save(fig, path)
    return path


def _neuron_ticks(ax, names, every: int = 10) -> None:
    idx = np.arange(0, len(names), every)
    ax.set_xticks(idx)
    ax.set_xticklabels([names[i] for i in idx], rotation=90, fontsize=6)


def plot_coverage(stacked: xr.Dataset, path: str | Path) -> tuple[Path, Path, str]:
    """Sessions per (dataset, canonical neuron) as a heat map, and sessions per neuron."""
    path = Path(path)
    canon = stacked["labelled"].values.astype(bool)
    mask = stacked["mask"].isel(neuron=np.flatnonzero(canon))
    names = [str(n) for n in mask["neuron"].values]
    datasets = sorted(set(stacked["dataset"].values.tolist()))
    counts = np.stack([mask.values[stacked["dataset"].values == d].sum(axis=0)
                       for d in datasets])
    totals = np.array([int((stacked["dataset"].values == d).sum()) for d in datasets])
    frac = counts / totals[:, None]
    per_neuron = counts.sum(axis=0)
    with style.figure(11.0, 1.6 + 0.35 * len(datasets) + 1.6) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True,
                                   gridspec_kw={"height_ratios": [max(1, len(datasets)), 2]})
        im = top.imshow(frac, aspect="auto", cmap="viridis", vmin=0, vmax=1,
                        interpolation="nearest")
        top.set_yticks(range(len(datasets)))
        top.set_yticklabels([f"{d} ({n})" for d, n in zip(datasets, totals, strict=True)])
        top.set_title("fraction of each dataset's sessions that recorded each neuron")
        fig.colorbar(im, ax=top, fraction=0.02, pad=0.01)
        bottom.bar(np.arange(len(names)), per_neuron, width=1.0, color="#1d3557")
        bottom.set_ylabel("sessions")
        bottom.set_xlim(-0.5, len(names) - 0.5)
        _neuron_ticks(bottom, names)
        _save(fig, path)
    numbers = {
        "datasets": datasets, "sessions": totals.tolist(), "neurons": names,
        "sessions_per_dataset_neuron": counts.tolist(), "sessions_per_neuron":
            per_neuron.tolist(),
        "neurons_recorded_by_any": int((per_neuron > 0).sum()),
        "extra_slots_used": int(stacked["mask"].values[:, ~canon].sum()),
    }
    js = write_json(numbers, path.with_suffix(".json"))
    caption = (f"Neuron coverage: {int(stacked.sizes['session'])} sessions of "
               f"{len(datasets)} dataset(s); {numbers['neurons_recorded_by_any']} of 300 "
               f"canonical neurons recorded at least once; {numbers['extra_slots_used']} "
               "unlabelled or unknown ROIs in extra slots.")
    return path, js, caption


def _heat(ax, values: np.ndarray, names: list[str], title: str) -> object:
    im = ax.imshow(values, vmin=0, vmax=1, cmap="magma", interpolation="nearest")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=6)
    ax.set_title(title)
    if len(names) <= 20:
        for i in range(len(names)):
            for j in range(len(names)):
                v = values[i, j]
                if np.isfinite(v):
                    text = f"{v:.2f}"
                    ax.text(j, i, text[1:] if text.startswith("0") else text, ha="center",
                            va="center", fontsize=4.5, color="white" if v < 0.6 else "black")
    return im


def plot_agreement(merged: xr.Dataset, path: str | Path) -> tuple[Path, Path, str]:
    """Jaccard heat maps (chemical; any synapse type) between connectome annotations."""
    path = Path(path)
    names = [str(a) for a in merged["annotation"].values]
    synapses = [str(s) for s in merged["synapse"].values]
    panels = [(s, connectomes.jaccard(merged, s)) for s in synapses]
    panels.append(("any", connectomes.jaccard(merged)))
    shown = [(k, j) for k, j in panels if k in ("chemical", "any")] or panels[-1:]
    size = 2.2 + 0.28 * len(names)
    with style.figure(size * len(shown) + 0.6, size + 0.4) as fig:
        axes = np.atleast_1d(fig.subplots(1, len(shown)))
        im = None
        for ax, (key, jac) in zip(axes, shown, strict=True):
            # a panel shows the annotations that have the synapse type at all
            cov = merged["covered"] if key == "any" else merged["covered"].sel(synapse=key)
            has = cov.any([d for d in cov.dims if d != "annotation"]).values
            im = _heat(ax, jac.values[np.ix_(has, has)], [n for n, h in zip(
                names, has, strict=True) if h], f"Jaccard of edge sets: {key}")
        fig.colorbar(im, ax=list(axes), fraction=0.02, pad=0.01)
        _save(fig, path)
    numbers = {"annotations": names, "common_pairs_only": True,
               "jaccard": {k: [[None if not np.isfinite(v) else round(float(v), 6)
                                for v in row] for row in j.values] for k, j in panels},
               "edges": {s: merged["edge"].sel(synapse=s).sum(("pre", "post")).values.tolist()
                         for s in synapses}}
    js = write_json(numbers, path.with_suffix(".json"))
    off = [v for k, j in panels if k == "chemical"
           for v in j.values[~np.eye(len(names), dtype=bool)] if np.isfinite(v)]
    caption = (f"Agreement between {len(names)} connectome annotations: Jaccard index of "
               "their edge sets on the neuron pairs both cover"
               + (f"; chemical synapses median {np.median(off):.2f} (range {min(off):.2f}-"
                  f"{max(off):.2f})." if off else "."))
    return path, js, caption


def plot_consensus(merged: xr.Dataset, path: str | Path) -> tuple[Path, Path, str]:
    """Consensus connectome: how many annotations report each chemical and electrical edge."""
    path = Path(path)
    synapses = [s for s in ("chemical", "electrical") if s in merged["synapse"].values]
    names = [str(n) for n in merged["pre"].values]
    with style.figure(5.2 * len(synapses) + 0.8, 5.6) as fig:
        axes = np.atleast_1d(fig.subplots(1, len(synapses)))
        im = None
        for ax, syn in zip(axes, synapses, strict=True):
            n = merged["n_reporting"].sel(synapse=syn).values.astype(float)
            im = ax.imshow(np.where(n > 0, n, np.nan), cmap="viridis", interpolation="nearest",
                           vmin=1, vmax=max(1, int(merged.sizes["annotation"])))
            ax.set_title(f"{syn}: annotations reporting each edge [pre, post]")
            _neuron_ticks(ax, names, every=25)
            idx = np.arange(0, len(names), 25)
            ax.set_yticks(idx)
            ax.set_yticklabels([names[i] for i in idx], fontsize=6)
        fig.colorbar(im, ax=list(axes), fraction=0.02, pad=0.01, label="annotations")
        _save(fig, path)
    counts = {syn: np.bincount(merged["n_reporting"].sel(synapse=syn).values.ravel(),
                               minlength=int(merged.sizes["annotation"]) + 1).tolist()
              for syn in synapses}
    js = write_json({"synapses": synapses, "edges_by_n_reporting": counts}, path.with_suffix(".json"))
    parts = [f"{syn}: {sum(c[1:])} edges, {c[-1]} reported by all {len(c) - 1}"
             for syn, c in counts.items()]
    caption = (f"Consensus of {int(merged.sizes['annotation'])} annotations on the 300 "
               f"canonical neurons; {'; '.join(parts)}.")
    return path, js, caption


def plot_resampling(stacked: xr.Dataset, original: xr.Dataset, path: str | Path, *,
                    session: str | None = None, neuron: str | None = None,
                    seconds: float = RESAMPLING_SECONDS) -> tuple[Path, Path, str]:
    """One neuron before and after homogenization, with their correlation.

    Parameters
    ----------
    stacked : xarray.Dataset
        :func:`neurodag.homogenize.worms.stack` output.
    original : xarray.Dataset
        The contract Dataset of the recording ``session`` came from.
    session : str, optional
        A ``session`` of ``stacked`` (default: the first).
    neuron : str, optional
        A neuron the session has (default: its first labelled neuron).
    """
    path = Path(path)
    session = str(stacked["session"].values[0]) if session is None else session
    if session not in set(stacked["session"].values.tolist()):
        raise InputError(f"resampling check: no session {session!r} in the stack")
    row = stacked.sel(session=session)
    if neuron is None:
        have = row["mask"].values & row["labelled"].values
        if not have.any():
            raise InputError(f"resampling check: session {session!r} has no labelled neuron")
        neuron = str(row["neuron"].values[np.argmax(have)])
    if not bool(row["mask"].sel(neuron=neuron)):
        raise InputError(f"resampling check: session {session!r} has no neuron {neuron!r}")
    channel = str(row["label"].sel(neuron=neuron).item())
    n = int(row["n_samples"])
    grid = row["time"].values[:n]
    after = row["activity"].sel(neuron=neuron).values[:n].astype(np.float64)
    t0 = float(original["time"].values[0])
    t_orig = original["time"].values - t0
    x = original["signal"].sel(channel=channel).values.astype(np.float64)
    x_z = (x - x.mean()) / (x.std() or 1.0)
    r = float(np.corrcoef(after, np.interp(grid, t_orig, x_z))[0, 1])
    shown = t_orig <= seconds
    with style.figure(9.0, 2.8) as fig:
        ax = fig.subplots()
        ax.plot(t_orig[shown], x_z[shown], ".", ms=2.5, color="#888888",
                label=f"original, {float(row['sfreq_original']):.3g} Hz (z-scored)")
        keep = grid <= seconds
        ax.plot(grid[keep], after[keep], "-", lw=0.9, color="#e63946",
                label=f"homogenized, {1 / float(stacked.attrs['dt']):.3g} Hz "
                      f"({str(row['method'].item())})")
        ax.set_xlabel("time from the first sample (s)")
        ax.set_ylabel(f"{neuron} (z)")
        ax.set_title(f"{session}: {neuron}, r = {r:.3f} over the whole recording", loc="right")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.08), ncols=2)
        _save(fig, path)
    numbers = {"session": session, "neuron": neuron, "channel": channel, "r": r,
               "sfreq_original": float(row["sfreq_original"]), "dt": float(stacked.attrs["dt"]),
               "method": str(row["method"].item())}
    js = write_json(numbers, path.with_suffix(".json"))
    caption = (f"Resampling check: neuron {neuron} of {session} at "
               f"{numbers['sfreq_original']:.3g} Hz and on the {numbers['dt']} s grid "
               f"({numbers['method']}); correlation {r:.3f}.")
    return path, js, caption


def run(out_dir: str | Path, *, stacked: xr.Dataset | None = None,
        merged: xr.Dataset | None = None,
        originals: Mapping[str, xr.Dataset] | None = None) -> dict[str, tuple[Path, Path, str]]:
    """Write every figure there are inputs for into ``out_dir``.

    Returns ``{"coverage" | "agreement" | "resampling": (png, json, caption)}``; the
    resampling check uses, among the sessions of ``stacked`` found in ``originals``
    (``{stacked session name: contract Dataset}``), the one whose rate is farthest from the
    common rate.
    """
    out_dir = Path(out_dir)
    out = {}
    if stacked is not None:
        out["coverage"] = plot_coverage(stacked, out_dir / "coverage.png")
        names = [n for n in stacked["session"].values.tolist() if originals and n in originals]
        if names:
            ratio = np.abs(np.log(stacked["sfreq_original"].sel(session=names).values
                                  * float(stacked.attrs["dt"])))
            name = names[int(np.argmax(ratio))]
            out["resampling"] = plot_resampling(stacked, originals[name],
                                                out_dir / "resampling.png", session=name)
    if merged is not None:
        out["agreement"] = plot_agreement(merged, out_dir / "agreement.png")
        out["consensus"] = plot_consensus(merged, out_dir / "consensus.png")
    return out


def plot_channel_coverage(stacked: xr.Dataset, path: str | Path) -> tuple[Path, Path, str]:
    """Which common channels (or regions) each session has, and which were interpolated."""
    path = Path(path)
    dim = "region" if "region" in stacked.dims else "channel"
    names = [str(n) for n in stacked[dim].values]
    sessions = [str(s) for s in stacked["session"].values]
    mask = stacked["mask"].transpose("session", dim).values.astype(float)
    interp = stacked["interpolated"].transpose("session", dim).values.astype(bool)
    shown = np.where(interp, 0.5, mask)
    with style.figure(min(12.0, 2.5 + 0.22 * len(names)), 1.4 + 0.3 * len(sessions)) as fig:
        ax = fig.subplots()
        ax.imshow(shown, aspect="auto", cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks(range(len(sessions)))
        ax.set_yticklabels(sessions, fontsize=7)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=90, fontsize=6)
        ax.set_title(f"common {dim}s: recorded (dark), interpolated (light)")
        _save(fig, path)
    js = write_json({dim: names, "sessions": sessions, "mask": mask.tolist(),
                     "interpolated": interp.tolist()}, path.with_suffix(".json"))
    caption = (f"{len(sessions)} sessions on {len(names)} common {dim}s at "
               f"{float(stacked.attrs.get('sfreq', np.nan)):g} Hz; "
               f"{int(interp.sum())} {dim} signals interpolated.")
    return path, js, caption
