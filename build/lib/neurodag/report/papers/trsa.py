"""Reproduce the layer-identification figure of topological RSA (Lin & Kriegeskorte).

One network architecture is trained from 10 seeds on scikit-learn's bundled 8x8 digits
(offline): a 10-layer all-convolutional net in the spirit of All-CNN-C (the architecture of
the paper's simulation): 3x3 convolutions with 8 then 16 channels, two of them with stride 2
in place of pooling, two 1x1 convolutions, a 1x1 convolution to the 10 classes and global
average pooling (:func:`make_network`). A fixed set of 62 held-out digits (6 or 7 per class)
are the stimuli; each layer's responses to them (after its ReLU; the class map and the
pooled logits for layers 9 and 10) give one correlation-distance RDM per (layer, seed).
Layers are then identified across seeds: leave-one-seed-out nearest-centroid
classification of the (transformed) RDMs into the 10 layers
(:func:`neurodag.models.rsa.trsa.identify`, chance 0.1).

- ``accuracy`` / ``accuracy_geodesic`` (lower, upper): accuracy of ``GT_{l,u}`` and of
  geodesic RDMs over l = 0:0.05:1, u >= l.
- ``noise_accuracy`` (variant, noise_level): Gaussian noise of sd = std(RDMs) x n / 10,
  n = 0..4, is added to the raw RDMs (upper triangles; one std over all RDMs' entries)
  before any transform; accuracy (mean over ``n_noise_draws`` draws, sd in
  ``noise_accuracy_sd``) of the plain RDM, the rank-transformed RDM (``GT_{0,1}``), the
  geo-topological ``GT_{0.2,0.8}`` (the default of the paper and the reference code) and
  the geodesic RDM at l = 0, u = 0.05: the reference code's default geodesic (its
  ``p_shortest``, p = 0.05: only the 5 % shortest edges kept). With l = 0.2 every pair
  below the l-quantile has length 0, and most of the 62 stimuli collapse into one
  zero-length component; the geodesic heat map shows this.

:func:`run_experiment` returns an xarray Dataset, :func:`plot` writes the PNGs and the
plotted numbers as JSON, :func:`run` does both. :data:`QUICK` is a small setting for tests.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr

from ...errors import InputError
from ...models.rsa import trsa
from ...store import write_json
from ..rsa import draw_lu_map

PAPER = "Lin & Kriegeskorte, The Topology and Geometry of Neural Representations"
N_STIMULI = 62
N_LAYERS = 10
LOWER, UPPER = 0.2, 0.8
GEODESIC_LU = (0.0, 0.05)
VARIANTS = ("rdm", "rank", "gt", "geodesic")
VARIANT_NAMES = {"rdm": "plain RDM", "rank": "rank RDM (GT l=0, u=1)",
                 "gt": f"GT l={LOWER}, u={UPPER}",
                 "geodesic": f"geodesic l={GEODESIC_LU[0]}, u={GEODESIC_LU[1]}"}
#: A small setting (seconds) for tests and smoke runs.
QUICK = {"n_seeds": 3, "epochs": 2, "step": 0.25, "n_noise_draws": 2}


def digits_split(n_stimuli: int = N_STIMULI):
    """Training images and the fixed stimulus set from ``sklearn.datasets.load_digits``.

    The stimuli are the first images of each class in dataset order, taken class by class
    in turn (0, 1, ..., 9, 0, 1, ...) until ``n_stimuli``; everything else is training data.
    Pixels are scaled to [0, 1].

    Returns
    -------
    x_train, y_train, x_stim, y_stim : numpy arrays
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32) / 16.0
    per_class = [list(np.flatnonzero(y == c)) for c in range(10)]
    chosen = []
    while len(chosen) < n_stimuli:
        c = len(chosen) % 10
        chosen.append(per_class[c].pop(0))
    chosen = np.asarray(chosen)
    chosen = chosen[np.argsort(y[chosen], kind="stable")]
    train = np.setdiff1d(np.arange(y.size), chosen)
    return x[train], y[train], x[chosen], y[chosen]


def make_network(channels=(8, 16)):
    """The 10-layer all-convolutional net (torch ``nn.Sequential``) for 8x8 digits.

    Layers (each followed by a ReLU except 9 and 10): 3x3 conv a, 3x3 conv a, 3x3 conv a
    stride 2, 3x3 conv b, 3x3 conv b, 3x3 conv b stride 2, 3x3 conv b, 1x1 conv b, 1x1 conv
    to 10 class maps, global average pooling (the logits); (a, b) = ``channels``.
    """
    from torch import nn

    a, b = channels

    def conv(n_in, n_out, k=3, stride=1):
        return nn.Conv2d(n_in, n_out, k, stride=stride, padding=k // 2)

    return nn.Sequential(
        conv(1, a), nn.ReLU(), conv(a, a), nn.ReLU(), conv(a, a, stride=2), nn.ReLU(),
        conv(a, b), nn.ReLU(), conv(b, b), nn.ReLU(), conv(b, b, stride=2), nn.ReLU(),
        conv(b, b), nn.ReLU(), conv(b, b, 1), nn.ReLU(), conv(b, 10, 1), nn.Identity(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())


def train_network(seed: int, x_train, y_train, *, epochs: int = 30, batch_size: int = 128,
                  lr: float = 2e-3):
    """Train :func:`make_network` from ``seed`` (Adam, cross-entropy); return it and the
    last batch's loss."""
    import torch
    from torch import nn

    torch.manual_seed(int(seed))
    gen = torch.Generator().manual_seed(int(seed))
    net = make_network()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt = torch.from_numpy(x_train).reshape(-1, 1, 8, 8)
    yt = torch.from_numpy(np.asarray(y_train, np.int64))
    loss = torch.tensor(np.nan)
    for _ in range(int(epochs)):
        order = torch.randperm(xt.shape[0], generator=gen)
        for k in range(0, xt.shape[0], batch_size):
            idx = order[k:k + batch_size]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return net, float(loss.detach())


def layer_patterns(net, x_stim) -> list[np.ndarray]:
    """Responses (stimulus, unit) of the 10 layers to the stimuli."""
    import torch
    from torch import nn

    out, h = [], torch.from_numpy(x_stim).reshape(-1, 1, 8, 8)
    with torch.no_grad():
        for mod in net:
            h = mod(h)
            if isinstance(mod, (nn.ReLU, nn.Identity)):
                out.append(h.reshape(h.shape[0], -1).numpy().copy())
        out.append(h.numpy().copy())
    return out


def network_rdms(*, n_seeds: int = 10, epochs: int = 30, seed: int = 0, threads: int = 1,
                 progress=None) -> tuple[xr.DataArray, dict]:
    """Correlation-distance RDMs per (layer, seed) of the trained networks.

    Network ``k`` is trained from seed ``seed + k``. Returns the RDMs (coords ``layer``,
    ``seed`` along ``rdm``) and training facts (accuracy on the stimuli, last loss,
    seconds per network). Torch runs on ``threads`` CPU threads (at most 2).
    """
    import torch

    x_tr, y_tr, x_st, y_st = digits_split()
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(2, int(threads))))
    items, info = [], {"stimulus_accuracy": [], "final_loss": [], "train_seconds": []}
    names = [f"digit{d}_{i:02d}" for i, d in enumerate(y_st)]
    try:
        for k in range(int(n_seeds)):
            t0 = time.perf_counter()
            net, loss = train_network(seed + k, x_tr, y_tr, epochs=epochs)
            layers = layer_patterns(net, x_st)
            acc = float((layers[-1].argmax(axis=1) == y_st).mean())
            for li, x in enumerate(layers, start=1):
                items.append(xr.DataArray(x, dims=("condition", "channel"),
                                          coords={"condition": names})
                             .assign_coords(seed=seed + k, layer=li))
            info["stimulus_accuracy"].append(acc)
            info["final_loss"].append(loss)
            info["train_seconds"].append(time.perf_counter() - t0)
            if progress is not None:
                progress(f"seed {seed + k}: stimulus accuracy {acc:.3f}, loss {loss:.4f}")
    finally:
        torch.set_num_threads(before)
    return trsa.rdms(items, "correlation"), info


def add_noise(rdms: xr.DataArray, level: float, rng: np.random.Generator) -> xr.DataArray:
    """RDMs plus symmetric Gaussian noise of sd ``std(all upper-triangle entries) * level``."""
    v = trsa.to_vectors(rdms).values
    noisy = v + rng.normal(0.0, float(np.std(v)) * float(level), v.shape)
    n = rdms.sizes["condition"]
    i, j = np.triu_indices(n, 1)
    sq = np.zeros((v.shape[0], n, n))
    sq[:, i, j] = noisy
    sq[:, j, i] = noisy
    return rdms.copy(data=sq)


def _variant(rdms: xr.DataArray, name: str) -> xr.DataArray:
    if name == "rdm":
        return rdms
    if name == "rank":
        return trsa.rank_transform(rdms)
    if name == "gt":
        return trsa.geotopological(rdms, LOWER, UPPER)
    return trsa.geodesic(rdms, *GEODESIC_LU)


def run_experiment(seed: int = 0, quick: bool = False, *, n_seeds: int = 10,
                   epochs: int = 30, step: float = 0.05,
                   noise_levels=(0, 1, 2, 3, 4), n_noise_draws: int = 10,
                   progress=None) -> xr.Dataset:
    """Train the networks, compute RDMs, the (l, u) accuracy map and the noise curves.

    ``quick=True`` overrides the sizes with :data:`QUICK`.
    """
    if quick:
        n_seeds, epochs, step, n_noise_draws = (
            QUICK[k] for k in ("n_seeds", "epochs", "step", "n_noise_draws"))
    if n_seeds < 2:
        raise InputError(f"trsa figure: needs >= 2 seeds, got {n_seeds}")
    t0 = time.perf_counter()
    rdms, info = network_rdms(n_seeds=n_seeds, epochs=epochs, seed=seed, progress=progress)
    grid = trsa.lu_grid(rdms, "layer", "seed", step)
    grid_geo = trsa.lu_grid(rdms, "layer", "seed", step, variant="geodesic")
    rng = np.random.default_rng(seed)
    levels = np.asarray(noise_levels, dtype=int)
    accs = np.zeros((len(VARIANTS), levels.size, int(n_noise_draws)))
    for b, n in enumerate(levels):
        for d in range(int(n_noise_draws)):
            noisy = add_noise(rdms, n / 10.0, rng)
            for a, name in enumerate(VARIANTS):
                accs[a, b, d] = trsa.identify(_variant(noisy, name), "layer", "seed")
        if progress is not None:
            progress(f"noise {n}: " + ", ".join(
                f"{v} {accs[a, b].mean():.3f}" for a, v in enumerate(VARIANTS)))
    ds = xr.Dataset(
        {"accuracy": grid, "accuracy_geodesic": grid_geo,
         "noise_accuracy": (("variant", "noise_level"), accs.mean(axis=2)),
         "noise_accuracy_sd": (("variant", "noise_level"), accs.std(axis=2)),
         "rdms": rdms,
         "stimulus_accuracy": ("network", np.asarray(info["stimulus_accuracy"])),
         "final_loss": ("network", np.asarray(info["final_loss"]))},
        coords={"variant": list(VARIANTS), "noise_level": levels},
        attrs={"paper": PAPER, "seed": seed, "n_seeds": n_seeds,
               "n_layers": N_LAYERS, "epochs": epochs, "n_stimuli": N_STIMULI,
               "lower": LOWER, "upper": UPPER, "geodesic_lower": GEODESIC_LU[0],
               "geodesic_upper": GEODESIC_LU[1], "n_noise_draws": int(n_noise_draws),
               "chance": 1.0 / N_LAYERS, "quick": bool(quick),
               "seconds": time.perf_counter() - t0},
    )
    return ds


def _grid_json(grid: xr.DataArray) -> dict:
    best = np.unravel_index(np.nanargmax(grid.values), grid.shape)
    return {"accuracy_lu": [[None if np.isnan(v) else float(v) for v in row]
                            for row in grid.values],
            "best_lu": [float(grid["lower"][best[0]]), float(grid["upper"][best[1]])],
            "best_accuracy": float(grid.values[best])}


def results_to_json(results: xr.Dataset) -> dict:
    """The plotted numbers as plain JSON-able data (grids indexed [lower][upper])."""
    grid = results["accuracy"]
    return {
        "attrs": {k: (v.item() if hasattr(v, "item") else v) for k, v in results.attrs.items()},
        "lower": grid["lower"].values.tolist(), "upper": grid["upper"].values.tolist(),
        "geotopological": _grid_json(grid),
        "geodesic": _grid_json(results["accuracy_geodesic"]),
        "noise_level": results["noise_level"].values.tolist(),
        "noise_accuracy": {str(v): results["noise_accuracy"].sel(variant=v).values.tolist()
                           for v in results["variant"].values},
        "noise_accuracy_sd": {str(v): results["noise_accuracy_sd"].sel(variant=v).values
                              .tolist() for v in results["variant"].values},
        "stimulus_accuracy": results["stimulus_accuracy"].values.tolist(),
    }


def plot(results: xr.Dataset, out_dir) -> list[Path]:
    """Write ``lu_accuracy.png``, ``noise_robustness.png`` and ``trsa.json`` in ``out_dir``."""
    from .. import style

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with style.figure(9.0, 4.6) as fig:
        ax1, ax2 = fig.subplots(1, 2)
        draw_lu_map(ax1, results["accuracy"], "layers across seeds: GT(l, u)")
        im = draw_lu_map(ax2, results["accuracy_geodesic"], "layers across seeds: geodesic")
        fig.colorbar(im, ax=[ax1, ax2], label="accuracy (leave one seed out)")
        path = out_dir / "lu_accuracy.png"
        style.save(fig, path)
    paths.append(path)
    colors = {"rdm": "#444444", "rank": "#1982c4", "gt": "#e63946", "geodesic": "#2a9d8f"}
    with style.figure(4.6, 3.4) as fig:
        ax = fig.subplots()
        x = results["noise_level"].values
        for v in results["variant"].values:
            m = results["noise_accuracy"].sel(variant=v).values
            s = results["noise_accuracy_sd"].sel(variant=v).values
            ax.errorbar(x, m, yerr=s, marker="o", capsize=2, color=colors.get(str(v)),
                        label=VARIANT_NAMES.get(str(v), str(v)), lw=1.2)
        ax.axhline(results.attrs["chance"], color="k", ls=":", lw=0.8, label="chance")
        ax.set_xticks(x, [f"{n}/10" for n in x])
        ax.set_xlabel("noise sd / std(RDMs)")
        ax.set_ylabel("layer identification accuracy")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="upper right")
        path = out_dir / "noise_robustness.png"
        style.save(fig, path)
    paths.append(path)
    paths.append(write_json(results_to_json(results), out_dir / "trsa.json"))
    return paths


def run(out_dir, seed: int = 0, quick: bool = False, progress=None) -> list[Path]:
    """Run the experiment and write its figures and JSON into ``out_dir``
    (``results/figures/trsa/`` in the workflow)."""
    return plot(run_experiment(seed=seed, quick=quick, progress=progress), out_dir)


def compare(out_dir) -> list[dict]:
    """Layer identification of each statistic, without and with the most noise."""
    import json

    d = json.loads((Path(out_dir) / "trsa.json").read_text())
    levels = d["noise_level"]
    rows = []
    names = {"rdm": "plain RDM", "rank": "rank-transformed RDM",
             "gt": f"geo-topological (l={d['lower']}, u={d['upper']})", "geodesic": "geodesic"}
    for key, acc in d["noise_accuracy"].items():
        rows.append({"metric": f"layer identification, {names.get(key, key)}, noise 0 / "
                               f"{levels[-1]}/10 sd",
                     "ours": f"{acc[0]:.3f} / {acc[-1]:.3f}",
                     "published": "topology-sensitive statistics identify layers and stay "
                                  "robust to noise (qualitative)"})
    return rows
