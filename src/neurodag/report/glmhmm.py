"""Report figures of GLM-HMM fits: state raster, transitions, weights, stimulus kernels,
model selection; and of choice GLM-HMMs pooled over sessions (:func:`plot_pooled`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..store import read_netcdf, write_json
from . import style

#: Bins of the state raster (the first sequence, or its start).
RASTER_BINS = 2000
#: One colour per state, shared by the weight and posterior figures of choice fits
#: (Ashwood et al. 2022's: engaged orange, biased left green, biased right blue).
STATE_COLORS = ("#ff7f00", "#4daf4a", "#377eb8", "#f781bf", "#a65628", "#984ea3")


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
    out = {
        "selection": _selection(metrics, out_dir / f"{prefix}_glmhmm_selection.png"),
        "states": _states(model, out_dir / f"{prefix}_glmhmm_states.png", metrics["session"]),
    }
    if "weights" in model:
        out["weights"] = _weights(model, out_dir / f"{prefix}_glmhmm_weights.png")
    if "input_weights" in model:
        out["kernels"] = _kernels(model, out_dir / f"{prefix}_glmhmm_kernels.png")
    if "state_mean" in model:   # fMRI brain states
        from . import brainstates

        out["brainstates"] = brainstates.plot(model, metrics,
                                              out_dir / f"{prefix}_brain_states.png")
    return out


def _selection(metrics: dict, path: Path) -> tuple:
    ks = sorted(int(k) for k in metrics["heldout_loglik"])
    folds = np.array([metrics["heldout_loglik"][str(k)] for k in ks])
    with style.figure(4.6, 3.2) as fig:
        ax = _folds(fig, ks, folds)
        ax.axvline(metrics["selected_n_states"], color="#e63946", ls="--", label="selected")
        ax.set_xlabel("states")
        unit = "component" if metrics.get("fmri") else "neuron"
        ax.set_ylabel(f"held-out log-likelihood\nper bin and {unit}")
        ax.set_xticks(ks)
        ax.legend(frameon=False, fontsize=7)
        _save(fig, path)
    js = write_json({"n_states": ks, "heldout_loglik": folds.tolist(),
                     "selected": metrics["selected_n_states"]}, path.with_suffix(".json"))
    caption = (f"Session {metrics['session']}: held-out log-likelihood against the number of "
               f"states ({metrics['folds_over']}, {folds.shape[1]} folds); "
               f"{metrics['selected_n_states']} states selected ({metrics['selection_rule']}).")
    return path, js, caption


def _folds(fig, x, folds):
    """One thin line per fold and their mean: the axes of a cross-validation figure."""
    ax = fig.subplots()
    for f in range(folds.shape[1]):
        ax.plot(x, folds[:, f], color="#a8dadc", marker=".", lw=0.8)
    ax.plot(x, folds.mean(1), color="#1d3557", marker="o", lw=2, label="mean over folds")
    return ax


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
    # censored bins (fMRI `kept`) count in neither the fit nor the occupancy (as in metrics.json)
    kept = model["kept"].values if "kept" in model else np.ones(model.sizes["time"], bool)
    occupancy = np.bincount(model["state_path"].values[kept], minlength=S) / kept.sum()
    js = write_json({"transmat": trans.tolist(), "occupancy": occupancy.tolist()},
                    path.with_suffix(".json"))
    caption = (f"Session {session}: posterior state probabilities (grey) and Viterbi path (red) "
               f"of the first sequence; transition matrix. Occupancy of the Viterbi path "
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


def _kernels(model: xr.Dataset, path: Path) -> tuple:
    """Each state's weights on the covariates (stimulus kernels ``label@lag``), per output."""
    w = model["input_weights"].values  # (state, post, covariate)
    names = [str(c) for c in model["covariate"].values]
    labels = list(dict.fromkeys(n.split("@")[0] for n in names))
    S = w.shape[0]
    lim = float(np.nanmax(np.abs(w))) or 1.0
    with style.figure(2.6 * S + 0.8, 2.8) as fig:
        axes = np.atleast_1d(fig.subplots(1, S, squeeze=False)[0])
        im = None
        for s in range(S):
            im = axes[s].imshow(w[s], cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
            axes[s].set_title(f"state {s}", fontsize=8)
            axes[s].set_xticks([names.index(next(n for n in names if n.startswith(f"{lab}@")))
                                for lab in labels], labels, fontsize=7)
            axes[s].set_xlabel("covariate (lags after each onset)", fontsize=7)
        axes[0].set_ylabel("output")
        fig.colorbar(im, ax=list(axes), fraction=0.03)
        _save(fig, path)
    js = write_json({"input_weights": w.tolist(), "covariates": names},
                    path.with_suffix(".json"))
    caption = (f"Weights of the external covariates in each of the {S} states (outputs x "
               "covariates; for event kernels, the lags after each onset of a label): how each "
               "state responds to the stimuli.")
    return path, js, caption


def plot_pooled(folder: str | Path, metrics, out_dir: str | Path,
                prefix: str) -> dict[str, tuple]:
    """Figures of a pooled choice fit (``folder`` holds ``K{k}.nc`` and ``subjects/``;
    ``metrics`` is its :class:`neurodag.records.GLMHMMPooledMetrics`)."""
    from .. import layout

    folder, out_dir = Path(folder), Path(out_dir)
    glob = read_netcdf(folder / layout.GLMHMM_FIT.format(k=metrics.selected_n_states))
    subjects = {s: read_netcdf(folder / layout.GLMHMM_SUBJECT_FIT.format(subject=s))
                for s in sorted(metrics.subjects)}
    m = metrics.to_dict()
    return {
        "selection": _bits(m, out_dir / f"{prefix}_glmhmm_bits.png"),
        "weights": _choice_weights(glob, subjects, out_dir / f"{prefix}_glmhmm_choice_weights.png"),
        "states": _choice_states(glob, out_dir / f"{prefix}_glmhmm_choice_states.png"),
    }


def _bits(m: dict, path: Path) -> tuple:
    names = list(m["bits_per_trial"])
    folds = np.array([m["bits_per_trial"][n] for n in names])
    ticks = [n.replace("K", "").replace("lapse", "L") for n in names]
    with style.figure(4.6, 3.2) as fig:
        ax = _folds(fig, range(len(names)), folds)
        ax.set_xticks(range(len(names)), ticks)
        ax.set_xlabel("states (L1/L2: lapse model, 1 or 2 rates)")
        ax.set_ylabel("held-out bits/trial")
        ax.legend(frameon=False, fontsize=7)
        _save(fig, path)
    js = write_json({"models": names, "bits_per_trial": folds.tolist(),
                     "selected": m["selected_n_states"]}, path.with_suffix(".json"))
    caption = (f"Held-out log-likelihood in bits per trial over the training choices' "
               f"frequency, {folds.shape[1]} folds of whole sessions: GLM-HMMs with each number "
               f"of states (1 = the GLM) and the lapse models; {m['selected_n_states']} states "
               f"selected ({m['selection_rule']}).")
    return path, js, caption


def _choice_weights(glob: xr.Dataset, subjects: dict, path: Path) -> tuple:
    w = glob["input_weights"].values[:, 0]  # (state, covariate)
    b = glob["bias"].values[:, 0]
    names = [str(c) for c in glob["covariate"].values] + ["bias"]
    S = w.shape[0]
    with style.figure(5.0, 3.2) as fig:
        ax = fig.subplots()
        for s in range(S):
            c = STATE_COLORS[s % len(STATE_COLORS)]
            ax.plot(range(len(names)), [*w[s], b[s]], "o-", color=c, lw=2, label=f"state {s}")
            for sub in subjects.values():  # each subject's fit, its states in the global order
                ax.plot(range(len(names)), [*sub["input_weights"].values[s, 0],
                                            sub["bias"].values[s, 0]], color=c, lw=0.6,
                        alpha=0.5)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=7)
        ax.set_ylabel("GLM weight (p(choice = 1))")
        ax.legend(frameon=False, fontsize=7)
        _save(fig, path)
    js = write_json({"covariates": names, "global": np.c_[w, b].tolist(),
                     "subjects": {k: np.c_[v["input_weights"].values[:, 0],
                                           v["bias"].values[:, 0]].tolist()
                                  for k, v in subjects.items()}}, path.with_suffix(".json"))
    caption = (f"Weights of each of the {S} states of the global model (thick) and of each "
               f"subject's model started from it (thin, {len(subjects)} subjects).")
    return path, js, caption


def _choice_states(glob: xr.Dataset, path: Path) -> tuple:
    sess = glob["session_id"].values
    first = np.flatnonzero(sess == sess[0])
    post = glob["posterior"].values[first]
    trans = glob["transmat"].values
    S = trans.shape[0]
    with style.figure(9.0, 3.0) as fig:
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
        for s in range(S):
            left.plot(post[:, s], lw=1.2, label=f"state {s}",
                      color=STATE_COLORS[s % len(STATE_COLORS)])
        left.set_xlabel(f"trial (session {sess[0]})")
        left.set_ylabel("p(state)")
        left.legend(frameon=False, fontsize=7)
        right.imshow(trans, cmap="bone", vmin=-0.8, vmax=1)
        for i in range(S):
            for j in range(S):
                right.text(j, i, f"{trans[i, j]:.2f}", ha="center", va="center", fontsize=7)
        right.set_title("transition matrix", fontsize=8)
        right.set_xticks(range(S))
        right.set_yticks(range(S))
        right.set_xlabel("to")
        right.set_ylabel("from")
        _save(fig, path)
    occupancy = np.bincount(glob["state_path"].values, minlength=S) / glob.sizes["trial"]
    js = write_json({"transmat": trans.tolist(), "occupancy": occupancy.tolist()},
                    path.with_suffix(".json"))
    caption = ("Posterior state probabilities over the trials of one session, and the global "
               "model's transition matrix. Fraction of trials in each state (Viterbi): "
               + ", ".join(f"{o:.2f}" for o in occupancy) + ".")
    return path, js, caption
