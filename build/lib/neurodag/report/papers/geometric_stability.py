"""Reproduce the ring-code figure of "Geometric Phase Transition Enables Extreme
Hippocampal Memory Capacity" (Shesha geometric stability).

Simulation (:func:`ring_code`): 500 neurons with Gaussian tuning (sigma 0.075, in units of
the ring's circumference) to locations on a ring, preferred locations uniform at random;
a fraction ``1 - topology`` of the neurons get permuted tuning (each its own random
permutation of the locations, so that their responses keep their values but lose the
ring's order); additive Gaussian noise of sd 0.2, clipped at 0.

Two measures against ``topology``:

``stability``
    Feature-split Shesha (:func:`neurodag.models.rsa.stability.shesha`, 30 splits) of one noisy
    presentation of ``n_locations`` (200) equally spaced locations, mean and sd over
    ``n_repeats`` simulations. REFERENCES.md measured 0.83 / 0.72 / 0.00 for topology
    1 / 0.5 / 0.
``readout error``
    ``n`` equally spaced locations (10 to 1000) are stored as one noisy presentation each;
    a second, independent noisy presentation of each is read out as the nearest stored
    pattern (Euclidean). ``error_rate``: fraction read out as another location;
    ``distance_error``: mean ring distance between the true and the read-out location
    (0 to 0.5 of the circumference).

:func:`run_experiment` returns an xarray Dataset, :func:`plot` writes the PNG and JSON,
:func:`run` does both; :data:`QUICK` is a small setting for tests.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.spatial.distance import cdist

from ...errors import InputError
from ...models.rsa.stability import shesha
from ...store import write_json

PAPER = "Geometric Phase Transition Enables Extreme Hippocampal Memory Capacity (Shesha)"
TOPOLOGIES = (1.0, 0.5, 0.0)
#: Stability measured in REFERENCES.md for :data:`TOPOLOGIES`.
REFERENCE_STABILITY = {1.0: 0.83, 0.5: 0.72, 0.0: 0.00}
STORED = (10, 20, 50, 100, 200, 500, 1000)
QUICK = {"n_repeats": 2, "stored": (10, 100), "sweep": (0.0, 0.5, 1.0), "n_splits": 10}


def _ring_distance(a, b) -> np.ndarray:
    d = np.abs(np.asarray(a) - np.asarray(b)) % 1.0
    return np.minimum(d, 1.0 - d)


def ring_tuning(n_locations: int, topology: float, rng: np.random.Generator, *,
                n_neurons: int = 500, sigma: float = 0.075) -> xr.DataArray:
    """Noise-free responses (location, neuron) of the ring code at equally spaced locations."""
    if not 0.0 <= float(topology) <= 1.0:
        raise InputError(f"ring_code: topology must be in [0, 1], got {topology}")
    if int(n_locations) < 2 or int(n_neurons) < 4 or not sigma > 0:
        raise InputError(f"ring_code: n_locations={n_locations}, n_neurons={n_neurons}, "
                         f"sigma={sigma} out of range")
    loc = np.arange(int(n_locations)) / int(n_locations)
    pref = rng.random(int(n_neurons))
    r = np.exp(-_ring_distance(loc[:, None], pref[None]) ** 2 / (2.0 * sigma**2))
    n_perm = int(round((1.0 - float(topology)) * n_neurons))
    permuted = np.zeros(int(n_neurons), bool)
    permuted[rng.choice(int(n_neurons), n_perm, replace=False)] = True
    for j in np.flatnonzero(permuted):
        r[:, j] = r[rng.permutation(loc.size), j]
    return xr.DataArray(r, dims=("location", "neuron"),
                        coords={"location": loc, "preferred": ("neuron", pref),
                                "permuted": ("neuron", permuted)},
                        attrs={"topology": float(topology), "sigma": float(sigma)})


def present(tuning: xr.DataArray, rng: np.random.Generator, noise: float = 0.2) -> xr.DataArray:
    """One noisy presentation: tuning plus Gaussian noise of sd ``noise``, clipped at 0."""
    return tuning.copy(data=np.clip(tuning.values + noise * rng.standard_normal(tuning.shape),
                                    0.0, None))


def ring_code(n_locations: int = 200, topology: float = 1.0, *, seed=0, n_neurons: int = 500,
              sigma: float = 0.075, noise: float = 0.2) -> xr.DataArray:
    """One noisy presentation (location, neuron) of the ring code (see module docstring)."""
    rng = np.random.default_rng(seed)
    return present(ring_tuning(n_locations, topology, rng, n_neurons=n_neurons, sigma=sigma),
                   rng, noise)


def readout(n_stored: int, topology: float, rng: np.random.Generator, *,
            noise: float = 0.2, **tuning_options) -> tuple[float, float]:
    """Nearest-neighbour readout of ``n_stored`` locations: (error_rate, distance_error)."""
    tuning = ring_tuning(n_stored, topology, rng, **tuning_options)
    stored, query = present(tuning, rng, noise).values, present(tuning, rng, noise).values
    hit = cdist(query, stored).argmin(axis=1)
    loc = tuning["location"].values
    return (float(np.mean(hit != np.arange(loc.size))),
            float(_ring_distance(loc[hit], loc).mean()))


def run_experiment(seed: int = 0, quick: bool = False, *, n_repeats: int = 10,
                   n_locations: int = 200, stored=STORED, sweep=None, n_splits: int = 30,
                   progress=None) -> xr.Dataset:
    """Stability over topology and readout error over stored locations (see module doc)."""
    if quick:
        n_repeats, stored, sweep, n_splits = (QUICK[k] for k in
                                              ("n_repeats", "stored", "sweep", "n_splits"))
    sweep = np.round(np.linspace(0, 1, 11), 10) if sweep is None else np.asarray(sweep, float)
    topo = np.unique(np.r_[sweep, TOPOLOGIES])
    stored = np.asarray(stored, dtype=int)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    stab = np.zeros((topo.size, int(n_repeats)))
    pkg = np.full(len(TOPOLOGIES), np.nan)
    for r in range(int(n_repeats)):
        for i, t in enumerate(topo):
            x = present(ring_tuning(n_locations, t, rng), rng)
            stab[i, r] = shesha(x, n_splits, rng)
            if r == 0 and t in TOPOLOGIES:
                pkg[TOPOLOGIES.index(t)] = _package_value(x.values, n_splits, seed)
    if progress is not None:
        progress("stability " + ", ".join(f"{t:g}: {m:.3f}" for t, m in
                                          zip(topo, stab.mean(1), strict=True)))
    err = np.zeros((len(TOPOLOGIES), stored.size, int(n_repeats)))
    dist = np.zeros_like(err)
    for i, t in enumerate(TOPOLOGIES):
        for j, n in enumerate(stored):
            for r in range(int(n_repeats)):
                err[i, j, r], dist[i, j, r] = readout(int(n), t, rng)
        if progress is not None:
            progress(f"readout topology {t:g}: error rate " +
                     " ".join(f"{v:.3f}" for v in err[i].mean(1)))
    return xr.Dataset(
        {"stability": (("topology",), stab.mean(1)),
         "stability_sd": (("topology",), stab.std(1)),
         "stability_shesha_package": (("reference_topology",), pkg),
         "reference_stability": (("reference_topology",),
                                 [REFERENCE_STABILITY[t] for t in TOPOLOGIES]),
         "error_rate": (("reference_topology", "stored"), err.mean(2)),
         "error_rate_sd": (("reference_topology", "stored"), err.std(2)),
         "distance_error": (("reference_topology", "stored"), dist.mean(2)),
         "distance_error_sd": (("reference_topology", "stored"), dist.std(2))},
        coords={"topology": topo, "reference_topology": list(TOPOLOGIES), "stored": stored},
        attrs={"paper": PAPER, "seed": seed, "n_repeats": int(n_repeats),
               "n_locations": n_locations, "n_neurons": 500, "sigma": 0.075, "noise": 0.2,
               "n_splits": n_splits, "quick": bool(quick),
               "seconds": time.perf_counter() - t0},
    )


def _package_value(x: np.ndarray, n_splits: int, seed: int) -> float:
    """``shesha.feature_split`` on the same data (NaN when shesha-geometry is missing)."""
    try:
        import shesha as pkg
    except ImportError:
        return float("nan")
    return float(pkg.feature_split(x, n_splits=n_splits, seed=seed))


def results_to_json(results: xr.Dataset) -> dict:
    """The plotted numbers as plain JSON-able data."""
    def vals(name):
        return [float(v) for v in np.asarray(results[name].values).ravel()]

    ref = [float(t) for t in results["reference_topology"].values]
    return {
        "attrs": {k: (v.item() if hasattr(v, "item") else v) for k, v in results.attrs.items()},
        "topology": [float(t) for t in results["topology"].values],
        "stability": vals("stability"), "stability_sd": vals("stability_sd"),
        "reference": {f"{t:g}": {
            "stability": float(results["stability"].sel(topology=t)),
            "stability_sd": float(results["stability_sd"].sel(topology=t)),
            "references_md": float(results["reference_stability"].sel(reference_topology=t)),
            "shesha_package_first_repeat":
                float(results["stability_shesha_package"].sel(reference_topology=t))}
            for t in ref},
        "stored": [int(n) for n in results["stored"].values],
        "error_rate": {f"{t:g}": results["error_rate"].sel(reference_topology=t).values.tolist()
                       for t in ref},
        "distance_error": {f"{t:g}": results["distance_error"].sel(reference_topology=t)
                           .values.tolist() for t in ref},
    }


def plot(results: xr.Dataset, out_dir) -> list[Path]:
    """Write ``ring_code.png`` and ``ring_code.json`` in ``out_dir``."""
    from .. import style

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    colors = {1.0: "#1d3557", 0.5: "#e63946", 0.0: "#2a9d8f"}
    with style.figure(11.5, 3.4) as fig:
        ax1, ax2, ax3 = fig.subplots(1, 3)
        t = results["topology"].values
        ax1.errorbar(t, results["stability"].values, yerr=results["stability_sd"].values,
                     marker="o", color="#444444", capsize=2, lw=1.2, label="neurodag")
        ref_t = results["reference_topology"].values
        ax1.scatter(ref_t, results["reference_stability"].values, marker="x", color="#e63946",
                    zorder=3, label="REFERENCES.md")
        ax1.set_xlabel("topology (fraction of ring-tuned neurons)")
        ax1.set_ylabel("feature-split Shesha")
        ax1.set_title("geometric stability")
        ax1.legend(loc="upper left")
        n = results["stored"].values
        for ax, var, label in ((ax2, "error_rate", "readout error rate"),
                               (ax3, "distance_error", "mean ring distance error")):
            for tt in ref_t:
                m = results[var].sel(reference_topology=tt).values
                s = results[f"{var}_sd"].sel(reference_topology=tt).values
                ax.errorbar(n, m, yerr=s, marker="o", capsize=2, lw=1.2,
                            color=colors.get(float(tt)), label=f"topology {tt:g}")
            ax.set_xscale("log")
            ax.set_xlabel("stored locations")
            ax.set_ylabel(label)
            ax.set_title("nearest-neighbour readout")
        ax2.legend(loc="upper left")
        path = out_dir / "ring_code.png"
        style.save(fig, path)
    return [path, write_json(results_to_json(results), out_dir / "ring_code.json")]


def run(out_dir, seed: int = 0, quick: bool = False, progress=None) -> list[Path]:
    """Run the experiment and write its figure and JSON into ``out_dir``
    (``results/figures/geometric-stability/`` in the workflow)."""
    return plot(run_experiment(seed=seed, quick=quick, progress=progress), out_dir)


def compare(out_dir) -> list[dict]:
    """Our stability values beside those measured with the reference (REFERENCES.md)."""
    import json

    d = json.loads((Path(out_dir) / "ring_code.json").read_text())
    return [{"metric": f"feature-split stability, topology {t}",
             "ours": r["stability"], "published": r["references_md"]}
            for t, r in sorted(d["reference"].items(), key=lambda x: -float(x[0]))]
