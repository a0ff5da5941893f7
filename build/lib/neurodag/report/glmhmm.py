"""Report figures of GLM-HMM fits: state raster, transitions, weights, model selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..store import read_netcdf, write_json
from . import style

#: Bins of the state raster (the first sequence, or its start).
RASTER_BINS = 2000


def _save(fig, path: Path) -> Path:
    style.save(fig, path)
    return path


def plot_session(folder: str | Path, metrics, out_dir: str | Path,
                 prefix: str) -> dict[str, tuple]:
    """Figures of one session's fits (``folder`` holds ``K{k}.nc``; ``metrics`` is its
    :class:`neurodag.records.GLMHMMMetrics`).

    Returns ``{"selection" | "states" | "weights": (png, json, caption)}``.
    """
    from .. import layout

    folder, out_dir = Path(folder), Path(out_dir)
    model = read_netcdf(folder / layout.GLMHMM_FIT.format(k=metrics.selected_n_states))
    metrics = metrics.to_dict()
    return {
        "selection": _selection(metrics, out_dir / f"{prefix}_glmhmm_selection.png"),
        "states": _states(model, out_dir / f"{prefix}_glmhmm_states.png", metrics["session"]),
        "weights": _weights(model, out_dir / f"{prefix}_glmhmm_weights.png"),
    }


def _selection(metrics: dict, path: Path) -> tuple:
    ks = sorted(int(k) for k in metrics["heldout_loglik"])
    folds = np.array([metrics["heldout_loglik"][str(k)] for k in ks])
    with style.figure(4.6, 3.2) as fig:
        ax = fig.subplots()
        for f in range(folds.shape[1]):
            ax.plot(ks, folds[:, f], color="#a8dadc", marker=".", lw=0.8)
        ax.plot(ks, folds.mean(1), color="#1d3557", marker="o", lw=2, label="mean over folds")
        ax.axvline(metrics["selected_n_states"], color="#e63946", ls="--", label="selected")
        ax.set_xlabel("states")
        ax.set_ylabel("held-out log-likelihood\nper bin and neuron")
        ax.set_xticks(ks)
        ax.legend(frameon=False, fontsize=7)
        _save(fig, path)
    js = write_json({"n_states": ks, "heldout_loglik": folds.tolist(),
                     "selected": metrics["selected_n_states"]}, path.with_suffix(".json"))
    caption = (f"Session {metrics['session']}: held-out log-likelihood against the number of "
               f"states ({metrics['folds_over']}, {folds.shape[1]} folds); "
               f"{metrics['selected_n_states']} states selected ({metrics['selection_rule']}).")
    return path, js, caption


def _states(model: xr.Dataset, path: Path, session: str) -> tuple:
    first = model["sequence"].values == model["sequence"].values[0]
    idx = np.flatnonzero(first)[:RASTER_BINS]
    post = model["posterior"].values[idx]
    t = model["time"].values[idx]
    trans = model["transmat"].values
    S = trans.shape[0]
    with style.figure(10.0, 3.4) as fig:
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [4, 1]})
        left.imshow(post.T, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0, vmax=1,
                    extent=(t[0], t[-1], S - 0.5, -0.5))
        left.plot(t, model["state_path"].values[idx], color="#e63946", lw=0.8, label="Viterbi")
        left.set_yticks(range(S))
        left.set_xlabel("time (s)")
        left.set_ylabel("state")
        left.legend(frameon=False, fontsize=7, loc="upper right")
        im = right.imshow(trans, cmap="viridis", vmin=0, vmax=1)
        right.set_title("transition matrix", fontsize=8)
        right.set_xticks(range(S))
        right.set_yticks(range(S))
        right.set_xlabel("to")
        right.set_ylabel("from")
        fig.colorbar(im, ax=right, fraction=0.05)
        _save(fig, path)
    occupancy = np.bincount(model["state_path"].values, minlength=S) / model.sizes["time"]
    js = write_json({"transmat": trans.tolist(), "occupancy": occupancy.tolist()},
                    path.with_suffix(".json"))
    caption = (f"Session {session}: posterior state probabilities (grey) and Viterbi path (red) "
               f"of the first sequence; transition matrix. Occupancy "
               + ", ".join(f"{o:.2f}" for o in occupancy) + ".")
    return path, js, caption


def _weights(model: xr.Dataset, path: Path) -> tuple:
    w = model["weights"].values
    S = w.shape[0]
    lim = float(np.nanmax(np.abs(w))) or 1.0
    adjacency = model["adjacency"].values if "adjacency" in model else None
    rows = 2 if adjacency is not None else 1
    with style.figure(2.4 * S + 0.8, 2.5 * rows + 0.3) as fig:
        axes = np.atleast_2d(fig.subplots(rows, S, squeeze=False))
        im = None
        for s in range(S):
            im = axes[0, s].imshow(w[s], cmap="RdBu_r", vmin=-lim, vmax=lim)
            axes[0, s].set_title(f"state {s}: W [post, pre]", fontsize=8)
            if adjacency is not None:
                axes[1, s].imshow(adjacency[s], cmap="RdBu_r", vmin=-1, vmax=1)
                axes[1, s].set_title(f"state {s}: adjacency", fontsize=8)
        for ax in axes.ravel():
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=list(axes.ravel()), fraction=0.02)
        _save(fig, path)
    js = write_json({"weights": w.tolist(),
                     "adjacency": None if adjacency is None else adjacency.tolist()},
                    path.with_suffix(".json"))
    caption = (f"Coupling weights of each of the {S} states (post x pre neurons, red "
               "excitatory, blue inhibitory)"
               + ("; below, the one-hot prior's recovered adjacency." if adjacency is not None
                  else "."))
    return path, js, caption
