"""Benchmark of the GLM-HMM (run by hand, not a test).

1. Fit time on the paper's simulation (S=5, N=20, 30 training sequences of 2000 bins, 20
   held out) against dynamax (JAX) with a custom Poisson GLM emission on its HMM class and
   its default M-step (Adam, 50 steps of lr 1e-2 per EM iteration, as the reference code).
   neurodag runs to its own convergence; dynamax runs EM until its held-out log-likelihood
   reaches neurodag's minus ``--slack`` (checked after every ``--block`` iterations, the
   checks not timed; dynamax's first call, which compiles, is also reported apart). Both are given the same history features and start from W = 0.
2. Time per EM iteration and peak memory of neurodag for T = 1e5, 3e5 and 1e6 bins with
   N = 100 neurons (each size in a fresh process, peak RSS from getrusage).

dynamax is installed only for this benchmark, in its own venv::

    python3 -m venv /tmp/dynamax-venv && /tmp/dynamax-venv/bin/pip install dynamax
    python bench/glmhmm.py --dynamax-python /tmp/dynamax-venv/bin/python

``--threads`` sets torch's threads (and, when 1, XLA's): use 1 when other jobs share the
cores, since oversubscribed threads slow both libraries down by large factors.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

DYNAMAX_SCRIPT = textwrap.dedent(r'''
    import json, sys, time
    import numpy as np
    import jax, jax.numpy as jnp, optax
    import tensorflow_probability.substrates.jax.distributions as tfd
    from dynamax.parameters import ParameterProperties
    from dynamax.hidden_markov_model.models.abstractions import HMM, HMMEmissions
    from dynamax.hidden_markov_model.models.initial import StandardHMMInitialState
    from dynamax.hidden_markov_model.models.transitions import StandardHMMTransitions
    from typing import NamedTuple

    class Em(NamedTuple):
        weights: jnp.ndarray
        biases: jnp.ndarray

    class PoissonGLMEmissions(HMMEmissions):
        def __init__(self, S, N):
            super().__init__(m_step_optimizer=optax.adam(1e-2), m_step_num_iters=50)
            self.S, self.N, self.num_states = S, N, S
        @property
        def emission_shape(self):
            return (self.N,)
        @property
        def inputs_shape(self):
            return (self.N,)
        def initialize(self, key=None, method="prior", weights=None, biases=None):
            return Em(weights, biases), Em(ParameterProperties(), ParameterProperties())
        def log_prior(self, params):
            return 0.0
        def distribution(self, params, state, inputs):
            eta = params.weights[state] @ inputs + params.biases[state]
            rate = (1 - 1e-8) * jax.nn.sigmoid(eta) + 1e-8
            return tfd.Independent(tfd.Poisson(rate=rate), 1)

    class Params(NamedTuple):
        initial: object
        transitions: object
        emissions: object

    class PoissonGLMHMM(HMM):
        def __init__(self, S, N):
            super().__init__(S, StandardHMMInitialState(S, initial_probs_concentration=1.0001),
                             StandardHMMTransitions(S, concentration=1.0001),
                             PoissonGLMEmissions(S, N))
        @property
        def inputs_shape(self):
            return (self.emission_component.N,)
        def initialize(self, key, P, b, W, S, N):
            params, props = {}, {}
            params["initial"], props["initial"] = self.initial_component.initialize(
                key, initial_probs=jnp.full(S, 1.0 / S))
            params["transitions"], props["transitions"] = self.transition_component.initialize(
                key, transition_matrix=P)
            params["emissions"], props["emissions"] = self.emission_component.initialize(
                weights=W, biases=jnp.tile(b, (S, 1)))
            return Params(**params), Params(**props)

    d = np.load(sys.argv[1])
    target, block, max_iter = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    Xtr, Htr = jnp.asarray(d["Xtr"], jnp.float32), jnp.asarray(d["Htr"], jnp.float32)
    Xte, Hte = jnp.asarray(d["Xte"], jnp.float32), jnp.asarray(d["Hte"], jnp.float32)
    S, N = int(d["S"]), Xtr.shape[-1]
    P = jnp.full((S, S), 0.02 / (S - 1)) + jnp.eye(S) * (0.98 - 0.02 / (S - 1))
    m = Xtr.mean((0, 1)).clip(1e-3, 0.99)
    model = PoissonGLMHMM(S, N)
    # W = 0 plus a small random jitter that breaks the symmetry between states
    w0 = 0.01 * jax.random.normal(jax.random.PRNGKey(1), (S, N, N))
    params, props = model.initialize(jax.random.PRNGKey(0), P, jnp.log(m / (1 - m)), w0, S, N)
    score = jax.jit(lambda p: jax.vmap(lambda x, h: model.marginal_log_prob(p, x, h))(Xte, Hte).sum())
    n_obs = Xte.size
    fit_s, it, hist = 0.0, 0, []
    # the first call compiles: time it apart as one iteration
    t0 = time.perf_counter()
    params, lls = model.fit_em(params, props, Xtr, Htr, num_iters=1, verbose=False)
    jax.block_until_ready(lls)
    first = time.perf_counter() - t0
    fit_s, it = first, 1
    ll = float(score(params)) / n_obs
    hist.append([it, fit_s, ll, first])
    while it < max_iter and ll < target:
        t0 = time.perf_counter()
        params, lls = model.fit_em(params, props, Xtr, Htr, num_iters=block, verbose=False)
        jax.block_until_ready(lls)
        dt = time.perf_counter() - t0
        fit_s += dt
        it += block
        ll = float(score(params)) / n_obs
        hist.append([it, fit_s, ll, dt])
        print(f"dynamax it={it} fit={fit_s:.1f}s heldout={ll:.5f}", file=sys.stderr, flush=True)
    per_iter = float(np.median([h[3] / block for h in hist[1:]])) if len(hist) > 1 else first
    print(json.dumps({"fit_seconds": fit_s, "first_call_seconds": first,
                      "seconds_per_iter": per_iter, "n_iter": it, "heldout": ll,
                      "history": hist, "reached": ll >= target,
                      "fit_seconds_without_compile": per_iter * it}))
''')


def _simulate(seed=0, S=5, N=20, T=2000, n_train=30, n_test=20):
    from neurodag.synth import spikes

    rng = np.random.default_rng(seed)
    params = spikes.sample_params(S, N, rng)
    counts, states, _ = spikes.sample(params, T, n_train + n_test, rng)
    return params, counts[:n_train], counts[n_train:], states[n_train:]


def bench_vs_dynamax(args):
    import torch

    from neurodag.models.glmhmm import GLMHMM
    from neurodag.models.glmhmm import emissions as glm

    torch.set_num_threads(args.threads)
    params, train, test, _ = _simulate()
    oracle = GLMHMM.from_params(params.weights, params.bias, params.transmat,
                                link="sigmoid").score(list(test))
    t0 = time.perf_counter()
    model = GLMHMM(5, link="sigmoid", random_state=0).fit(list(train))
    nd_time = time.perf_counter() - t0
    nd_ll = model.score(list(test))
    print(f"neurodag: fit {nd_time:.2f} s, {model.n_iter_} EM iterations, held-out "
          f"{nd_ll:.5f} (oracle {oracle:.5f})")
    out = {"neurodag": {"fit_seconds": nd_time, "n_iter": model.n_iter_, "heldout": nd_ll},
           "oracle_heldout": oracle}
    if args.dynamax_python:
        def hist(c):
            return np.stack([glm.history(torch.as_tensor(s, dtype=torch.float64), 5).numpy()
                             for s in c])

        with tempfile.TemporaryDirectory() as tmp:
            npz = Path(tmp) / "data.npz"
            np.savez(npz, Xtr=train, Htr=hist(train), Xte=test, Hte=hist(test), S=5)
            script = Path(tmp) / "dyn.py"
            script.write_text(DYNAMAX_SCRIPT)
            target = nd_ll - args.slack
            env = dict(os.environ)
            if args.threads == 1:  # same single core for both sides
                env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                                    "intra_op_parallelism_threads=1")
            res = subprocess.run(
                [args.dynamax_python, str(script), str(npz), str(target), str(args.block),
                 str(args.max_dynamax_iter)],
                capture_output=True, text=True, check=False, env=env)
            sys.stderr.write(res.stderr[-3000:])
            if res.returncode != 0:
                raise SystemExit("dynamax run failed")
            dyn = json.loads(res.stdout.strip().splitlines()[-1])
        out["dynamax"] = dyn
        ratio = dyn["fit_seconds"] / nd_time
        print(f"dynamax: fit {dyn['fit_seconds']:.1f} s, {dyn['n_iter']} EM iterations, "
              f"held-out {dyn['heldout']:.5f} (target {target:.5f}, reached {dyn['reached']})")
        ratio2 = dyn["fit_seconds_without_compile"] / nd_time
        print(f"ratio dynamax / neurodag fit time: {ratio:.1f}x "
              f"({ratio2:.1f}x counting dynamax's first, compiling, iteration at the median "
              f"{dyn['seconds_per_iter']:.1f} s of the others)")
        out["ratio"], out["ratio_without_compile"] = ratio, ratio2
    return out


def _make_data(T, N, S, path):
    """Child process: simulate one sequence of T bins of N neurons into ``path`` (uint8)."""
    from neurodag.synth import spikes

    rng = np.random.default_rng(0)
    params = spikes.sample_params(S, N, rng)
    counts, _, _ = spikes.sample(params, T, 1, rng)
    np.save(path, np.minimum(counts[0], 255).astype(np.uint8))


def _one_size(path, S, iters, threads):
    """Child process: time ``iters`` EM iterations on the saved counts; peak RSS of the fit."""
    import torch

    from neurodag.models.glmhmm import GLMHMM

    torch.set_num_threads(threads)
    x = np.load(path)
    T, N = x.shape
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    m = GLMHMM(S, link="sigmoid", random_state=0, max_iter=iters, tol=1e-12).fit(x)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"T": T, "N": N, "S": S, "iters": m.n_iter_, "seconds": secs,
            "seconds_per_iter": secs / m.n_iter_, "peak_rss_mb": peak,
            "rss_before_fit_mb": rss0, "data_mb": T * N * 8 * 2 / 2**20}


def bench_large(args):
    rows = []
    tmp = tempfile.TemporaryDirectory()
    for T in args.sizes:
        path = str(Path(tmp.name) / f"counts_{T}.npy")
        for cmd in (["--make", str(T), "--N", str(args.N), "--out", path],
                    ["--child", path, "--iters", str(args.iters), "--threads", str(args.threads)]):
            res = subprocess.run([sys.executable, __file__, *cmd], capture_output=True,
                                 text=True, check=False)
            if res.returncode != 0:
                sys.stderr.write(res.stderr[-3000:])
                raise SystemExit(f"T={T} failed")
        row = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"T={T:>8d} N={args.N}: {row['seconds_per_iter']:.1f} s per EM iteration, "
              f"peak RSS {row['peak_rss_mb']:.0f} MB (data X+H {row['data_mb']:.0f} MB)")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"T x{b['T'] / a['T']:.0f}: time x{b['seconds_per_iter'] / a['seconds_per_iter']:.1f}"
              f", peak memory x{b['peak_rss_mb'] / a['peak_rss_mb']:.1f} "
              f"(above the pre-fit baseline: x"
              f"{(b['peak_rss_mb'] - b['rss_before_fit_mb']) / (a['peak_rss_mb'] - a['rss_before_fit_mb']):.1f})")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dynamax-python", default=None,
                   help="python of a venv with dynamax (skip the comparison if absent)")
    p.add_argument("--slack", type=float, default=0.001,
                   help="dynamax stops within this much of neurodag's held-out ll")
    p.add_argument("--block", type=int, default=1)
    p.add_argument("--max-dynamax-iter", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="*", default=[100_000, 300_000, 1_000_000])
    p.add_argument("--N", type=int, default=100)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--skip-large", action="store_true")
    p.add_argument("--skip-small", action="store_true")
    p.add_argument("--json", default=None, help="write all numbers here")
    p.add_argument("--make", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.make is not None:
        _make_data(args.make, args.N, 5, args.out)
        return
    if args.child is not None:
        print(json.dumps(_one_size(args.child, 5, args.iters, args.threads)))
        return
    out = {}
    if not args.skip_small:
        out["paper_simulation"] = bench_vs_dynamax(args)
    if not args.skip_large:
        out["large"] = bench_large(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
