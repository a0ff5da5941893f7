"""Benchmark: our non-negative CP (HALS) against tensorly's and tensortools' on one tensor.

Run by hand (not a test): ``python bench/ntf.py [--quick]``. The tensor is the affinity
tensor of a planted simulation with N = 300 neurons, W = 100 windows, A = 10 animals
(``N (N - 1) / 2 = 44850`` neuron pairs x 100 x 10), factorised at rank 10 by

- ``ours``: :func:`neurodag.models.ntf.hals.nncp_hals` (random init, seed 0, defaults);
- ``tensorly``: :func:`tensorly.decomposition.non_negative_parafac_hals` with its defaults
  (SVD init, 100 iterations, tol 1e-7);
- ``tensortools``: ``tensortools.ncp_hals`` (random init, seed 0, defaults: tol 1e-5, 500
  iterations), run in a separate venv (``--tensortools-python``, default
  ``/tmp/tt-venv/bin/python``; tensortools pulls numba and is not a neurodag dependency).
  Skipped when that interpreter is missing.

Every result's relative error ``||X - M|| / ||X||`` is recomputed here from its factors.
Prints seconds, error and the ratios (theirs / ours). ``--quick`` uses N = 120, W = 40.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_TT_SCRIPT = """
import json, sys, time
import numpy as np
import tensortools as tt
x = np.load(sys.argv[1])
t = time.perf_counter()
res = tt.ncp_hals(x, int(sys.argv[2]), random_state=0, verbose=False)
secs = time.perf_counter() - t
np.savez(sys.argv[3], *[np.asarray(f) for f in res.factors.factors])
print(json.dumps({"seconds": secs, "n_iter": len(res.obj_hist)}))
"""


def make_tensor(n_neurons: int, n_windows: int, n_animals: int, seed: int = 0) -> np.ndarray:
    from neurodag.models.ntf.affinity import affinity_tensor
    from neurodag.synth.communities import planted

    epoch = 40
    n_epochs = int(np.ceil((n_windows + 1) / 2))
    sim = planted(n_neurons=n_neurons, n_factors=10, n_communities=5, n_animals=n_animals,
                  n_epochs=n_epochs, epoch=epoch, seed=seed)
    ten = affinity_tensor(sim.traces, sim.mask, window=epoch, step=epoch // 2)
    return np.ascontiguousarray(ten.values[:, :n_windows])


def rel_error(x: np.ndarray, factors, weights=None) -> float:
    a, b, c = factors
    if weights is not None:
        c = c * weights
    model = (a @ (b[:, None, :] * c[None, :, :]).reshape(-1, a.shape[1]).T).reshape(x.shape)
    return float(np.linalg.norm(x - model) / np.linalg.norm(x))


def run_ours(x, rank):
    from neurodag.models.ntf.hals import nncp_hals

    t = time.perf_counter()
    res = nncp_hals(x, rank, random_state=0)
    secs = time.perf_counter() - t
    return {"seconds": secs, "error": rel_error(x, res.factors, res.weights),
            "n_iter": res.n_iter}


def run_tensorly(x, rank):
    import tensorly as tl
    from tensorly.decomposition import non_negative_parafac_hals

    t = time.perf_counter()
    cp = non_negative_parafac_hals(tl.tensor(x), rank)
    secs = time.perf_counter() - t
    return {"seconds": secs, "error": rel_error(x, cp.factors, cp.weights), "n_iter": 100}


def run_tensortools(x, rank, python: str):
    if not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "x.npy", Path(tmp) / "f.npz"
        np.save(data, x)
        proc = subprocess.run([python, "-c", _TT_SCRIPT, str(data), str(rank), str(out)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return None
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        f = np.load(out)
        factors = [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]
    return {"seconds": info["seconds"], "error": rel_error(x, factors),
            "n_iter": info["n_iter"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--tensortools-python", default="/tmp/tt-venv/bin/python")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)
    n, w, a = (120, 40, 10) if args.quick else (300, 100, 10)
    t = time.perf_counter()
    x = make_tensor(n, w, a)
    print(f"tensor {x.shape} ({x.nbytes / 2**20:.0f} MiB) built in {time.perf_counter() - t:.1f} s",
          flush=True)
    results = {"ours": run_ours(x, args.rank)}
    print("ours", results["ours"], flush=True)
    results["tensorly"] = run_tensorly(x, args.rank)
    print("tensorly", results["tensorly"], flush=True)
    tt_res = run_tensortools(x, args.rank, args.tensortools_python)
    if tt_res is not None:
        results["tensortools"] = tt_res
        print("tensortools", tt_res, flush=True)
    ours = results["ours"]
    for name, r in results.items():
        if name == "ours":
            continue
        print(f"{name:12s} time ratio (theirs/ours) {r['seconds'] / ours['seconds']:6.2f}   "
              f"error ours {ours['error']:.5f} vs theirs {r['error']:.5f} "
              f"(ours - theirs = {ours['error'] - r['error']:+.5f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"shape": list(x.shape), "rank": args.rank,
                                               **results}, indent=2))


if __name__ == "__main__":
    main()
