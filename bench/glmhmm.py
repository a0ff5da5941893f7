"""Benchmark of the GLM-HMM against dynamax (run by hand, not a test).

1. ``poisson``: the one-hot GLM-HMM paper's simulation (S=5, N=20, 30 training sequences of
   2000 bins, 20 held out). dynamax gets the same history features through a custom
   Poisson GLM emission on its HMM class, with its default M-step (Adam, 50 steps of lr
   1e-2 per EM iteration, as the reference code), starting from W = 0 (+ jitter).
2. ``bernoulli``: Ashwood et al.'s 3-state choice simulation (:mod:`neurodag.synth.behavior`)
   at the scale of their IBL data set (500 sessions of 100 trials, 400 for training),
   against dynamax's own ``LogisticRegressionHMM``, both starting from the same
   parameters (our one-state GLM plus noise, Ashwood's start).
3. ``large``: time per EM iteration and peak memory of neurodag for T = 1e5, 3e5 and 1e6
   bins with N = 100 neurons (each size in a fresh process, peak RSS from getrusage).

"Equal held-out log-likelihood": neurodag runs to its own convergence (tol 1e-6 per
observation, its default), and the target is that held-out log-likelihood minus
``--slack``. Each library is timed until it first reaches the target: dynamax's EM is
checked after every iteration (checks not timed); neurodag's fit is repeated with
``max_iter`` = 1, 2, ... (EM is deterministic, so each is the start of the full run) and
the first to reach the target is the one timed. The time to neurodag's own convergence is
printed too.
dynamax's EM step is its own (``e_step`` vmapped over sequences, then ``m_step``, the body
of ``fit_em``) compiled once: ``fit_em`` itself compiles anew at every call, so calling it
iteration by iteration would time the compiler. Its first, compiling, call is reported
apart. Times are CPU seconds of each process (``time.process_time``: robust to other jobs
on a shared machine) and wall seconds; the ratio is dynamax / neurodag.

dynamax is installed only for this benchmark, in its own venv::

    python3 -m venv /tmp/dynamax-venv && /tmp/dynamax-venv/bin/pip install dynamax
    python bench/glmhmm.py --dynamax-python /tmp/dynamax-venv/bin/python --threads 1

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

DYNAMAX_COMMON = textwrap.dedent(r'''
    import json, sys, time
    from functools import partial
    import numpy as np
    import jax, jax.numpy as jnp, optax

    def run(model, params, props, train, test, target, max_iter):
        """dynamax's EM step (the body of fit_em) compiled once; stop at the target."""
        Xtr, Utr = train
        Xte, Ute = test

        @jax.jit
        def em_step(params, state):
            stats, lls = jax.vmap(partial(model.e_step, params))(Xtr, Utr)
            params, state = model.m_step(params, props, stats, state)
            return params, state, lls.sum()

        score = jax.jit(lambda p: jax.vmap(
            lambda x, u: model.marginal_log_prob(p, x, u))(Xte, Ute).sum())
        n_obs = Xte.size
        state = model.initialize_m_step_state(params, props)
        cpu = wall = 0.0
        hist = []
        ll = -np.inf
        it = 0
        while it < max_iter and ll < target:
            c0, w0 = time.process_time(), time.perf_counter()
            params, state, lp = em_step(params, state)
            jax.block_until_ready(lp)
            dc, dw = time.process_time() - c0, time.perf_counter() - w0
            cpu, wall, it = cpu + dc, wall + dw, it + 1
            ll = float(score(params)) / n_obs
            hist.append([it, cpu, wall, ll, dc, dw])
            print(f"dynamax it={it} cpu={cpu:.1f}s wall={wall:.1f}s heldout={ll:.5f}",
                  file=sys.stderr, flush=True)
        first_cpu, first_wall = hist[0][4], hist[0][5]
        steady = hist[1:] or hist
        print(json.dumps({
            "cpu_seconds": cpu, "wall_seconds": wall, "n_iter": it, "heldout": ll,
            "reached": ll >= target, "first_call_cpu": first_cpu, "first_call_wall": first_wall,
            "cpu_per_iter": float(np.median([h[4] for h in steady])),
            "wall_per_iter": float(np.median([h[5] for h in steady])), "history": hist}))
''')

DYNAMAX_POISSON = DYNAMAX_COMMON + textwrap.dedent(r'''
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
    target, max_iter = float(sys.argv[2]), int(sys.argv[3])
    Xtr, Htr = jnp.asarray(d["Xtr"], jnp.float32), jnp.asarray(d["Htr"], jnp.float32)
    Xte, Hte = jnp.asarray(d["Xte"], jnp.float32), jnp.asarray(d["Hte"], jnp.float32)
    S, N = int(d["S"]), Xtr.shape[-1]
    P = jnp.full((S, S), 0.02 / (S - 1)) + jnp.eye(S) * (0.98 - 0.02 / (S - 1))
    m = Xtr.mean((0, 1)).clip(1e-3, 0.99)
    model = PoissonGLMHMM(S, N)
    # W = 0 plus a small random jitter that breaks the symmetry between states
    w0 = 0.01 * jax.random.normal(jax.random.PRNGKey(1), (S, N, N))
    params, props = model.initialize(jax.random.PRNGKey(0), P, jnp.log(m / (1 - m)), w0, S, N)
    run(model, params, props, (Xtr, Htr), (Xte, Hte), target, max_iter)
''')

DYNAMAX_LOGREG = DYNAMAX_COMMON + textwrap.dedent(r'''
    from dynamax.hidden_markov_model import LogisticRegressionHMM

    d = np.load(sys.argv[1])
    target, max_iter = float(sys.argv[2]), int(sys.argv[3])
    Ytr, Utr = jnp.asarray(d["Ytr"], jnp.float32), jnp.asarray(d["Utr"], jnp.float32)
    Yte, Ute = jnp.asarray(d["Yte"], jnp.float32), jnp.asarray(d["Ute"], jnp.float32)
    S, M = d["W"].shape[0], Utr.shape[-1]
    # the same start as neurodag's (Ashwood's: a one-state GLM plus noise), and the prior
    # of neither (concentrations 1: maximum likelihood, as neurodag with pseudocount 0)
    model = LogisticRegressionHMM(S, M, initial_probs_concentration=1.0,
                                  transition_matrix_concentration=1.0)
    params, props = model.initialize(
        jax.random.PRNGKey(0), initial_probs=jnp.asarray(d["p0"], jnp.float32),
        transition_matrix=jnp.asarray(d["P"], jnp.float32),
        emission_weights=jnp.asarray(d["W"], jnp.float32),
        emission_biases=jnp.asarray(d["b"], jnp.float32))
    run(model, params, props, (Ytr, Utr), (Yte, Ute), target, max_iter)
''')


def _timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def _run_dynamax(args, script: str, arrays: dict, target: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "data.npz"
        np.savez(npz, **arrays)
        path = Path(tmp) / "dyn.py"
        path.write_text(script)
        env = dict(os.environ)
        if args.threads == 1:  # same single core for both sides
            env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                                "intra_op_parallelism_threads=1")
        res = subprocess.run([args.dynamax_python, str(path), str(npz), str(target),
                              str(args.max_dynamax_iter)],
                             capture_output=True, text=True, check=False, env=env)
        sys.stderr.write(res.stderr[-3000:])
        if res.returncode != 0:
            raise SystemExit("dynamax run failed")
        return json.loads(res.stdout.strip().splitlines()[-1])


def _to_target(fit, score, target: float, n_max: int) -> dict:
    """neurodag's time to the target: the shortest run (max_iter = 1, 2, ...) reaching it."""
    for k in range(1, n_max + 1):
        model, cpu, wall = _timed(lambda k=k: fit(k))
        ll = score(model)
        if ll >= target:
            return {"cpu_seconds": cpu, "wall_seconds": wall, "n_iter": k, "heldout": ll}
    raise SystemExit("neurodag did not reach its own target")


def _report(name: str, ours: dict, dyn: dict, target: float) -> dict:
    print(f"dynamax: {dyn['n_iter']} EM iterations, held-out {dyn['heldout']:.5f} (target "
          f"{target:.5f}, reached {dyn['reached']}); CPU {dyn['cpu_seconds']:.1f} s "
          f"(first, compiling, call {dyn['first_call_cpu']:.1f} s, then "
          f"{dyn['cpu_per_iter']:.2f} s per iteration), wall {dyn['wall_seconds']:.1f} s")
    steady = dyn["first_call_cpu"] - dyn["cpu_per_iter"]
    t, c = ours["to_target"], ours
    ratios = {"cpu": dyn["cpu_seconds"] / t["cpu_seconds"],
              "wall": dyn["wall_seconds"] / t["wall_seconds"],
              "cpu_without_compile": (dyn["cpu_seconds"] - steady) / t["cpu_seconds"],
              "cpu_to_convergence": dyn["cpu_seconds"] / c["cpu_seconds"]}
    print(f"{name}: neurodag reaches the target in {t['n_iter']} EM iterations, CPU "
          f"{t['cpu_seconds']:.2f} s (wall {t['wall_seconds']:.2f} s)")
    print(f"{name}: dynamax / neurodag at equal held-out LL = {ratios['cpu']:.1f}x CPU, "
          f"{ratios['wall']:.1f}x wall ({ratios['cpu_without_compile']:.1f}x CPU counting "
          f"dynamax's compiling call as one ordinary iteration; "
          f"{ratios['cpu_to_convergence']:.1f}x CPU against neurodag's full run to "
          f"convergence)")
    return ratios


def _history(counts, n_lags=5):
    import torch

    from neurodag.models.glmhmm import emissions as glm

    return np.stack([glm.history(torch.as_tensor(c, dtype=torch.float64), n_lags).numpy()
                     for c in counts])


def bench_poisson(args):
    import torch

    from neurodag.models.glmhmm import GLMHMM
    from neurodag.synth import spikes

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    params = spikes.sample_params(5, 20, rng)
    counts, _, _ = spikes.sample(params, 2000, 50, rng)
    train, test = counts[:30], counts[30:]
    oracle = GLMHMM.from_params(params.weights, params.bias, params.transmat,
                                link="sigmoid").score(list(test))
    model, cpu, wall = _timed(lambda: GLMHMM(5, link="sigmoid", random_state=0)
                              .fit(list(train)))
    ll = model.score(list(test))
    print(f"[poisson] neurodag: {model.n_iter_} EM iterations, held-out {ll:.5f} (true "
          f"parameters {oracle:.5f}); CPU {cpu:.2f} s, wall {wall:.2f} s")
    out = {"neurodag": {"cpu_seconds": cpu, "wall_seconds": wall, "n_iter": model.n_iter_,
                        "heldout": ll}, "oracle_heldout": oracle}
    if args.dynamax_python:
        target = ll - args.slack
        out["neurodag"]["to_target"] = _to_target(
            lambda k: GLMHMM(5, link="sigmoid", random_state=0, max_iter=k).fit(list(train)),
            lambda m: m.score(list(test)), target, model.n_iter_)
        dyn = _run_dynamax(args, DYNAMAX_POISSON, {
            "Xtr": train, "Htr": _history(train), "Xte": test, "Hte": _history(test),
            "S": 5}, target)
        out["dynamax"] = dyn
        out["ratio"] = _report("poisson", out["neurodag"], dyn, target)
    return out


def bench_bernoulli(args):
    import torch

    from neurodag.models.glmhmm import GLMHMM, em
    from neurodag.synth import behavior

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    p = behavior.sample_params()
    U = behavior.design(rng, args.sessions, 100)
    Y, _ = behavior.sample(p, U, rng)
    n_tr = int(0.8 * args.sessions)
    Xtr, Utr = list(Y[:n_tr, :, None].astype(float)), list(U[:n_tr])
    Xte, Ute = list(Y[n_tr:, :, None].astype(float)), list(U[n_tr:])
    oracle = GLMHMM.from_params(input_weights=p.weights[:, None], bias=p.bias[:, None],
                                transmat=p.transmat, emission="bernoulli",
                                link="sigmoid").score(Xte, Ute)
    kw = dict(emission="bernoulli", link="sigmoid", inputs="covariates", pseudocount=0.0,
              l2=0.0, random_state=0)
    model, cpu, wall = _timed(lambda: GLMHMM(3, **kw).fit(Xtr, Utr))
    ll = model.score(Xte, Ute)
    print(f"[bernoulli] neurodag: {model.n_iter_} EM iterations, held-out {ll:.5f} per trial "
          f"(true parameters {oracle:.5f}); CPU {cpu:.2f} s, wall {wall:.2f} s")
    out = {"neurodag": {"cpu_seconds": cpu, "wall_seconds": wall, "n_iter": model.n_iter_,
                        "heldout": ll}, "oracle_heldout": oracle, "sessions": args.sessions}
    if args.dynamax_python:
        # neurodag's own start (same seed as its fit), handed to dynamax
        probe = GLMHMM(3, **kw)
        probe._check_params()
        data, _ = probe._prepare(Xtr, Utr)
        probe.n_classes_ = None
        start = em.init_params(probe, data)
        em.glm_start(probe, data, start, np.random.default_rng(
            int(np.random.default_rng(0).integers(2**31))))
        W1 = start["W1"].numpy()[:, 0]
        target = ll - args.slack
        out["neurodag"]["to_target"] = _to_target(
            lambda k: GLMHMM(3, max_iter=k, **kw).fit(Xtr, Utr),
            lambda m: m.score(Xte, Ute), target, model.n_iter_)
        dyn = _run_dynamax(args, DYNAMAX_LOGREG, {
            "Ytr": Y[:n_tr], "Utr": U[:n_tr], "Yte": Y[n_tr:], "Ute": U[n_tr:],
            "W": W1[:, 1:], "b": W1[:, 0], "P": start["P"].numpy(),
            "p0": start["p0"].numpy()}, target)
        out["dynamax"] = dyn
        out["ratio"] = _report("bernoulli", out["neurodag"], dyn, target)
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
    m, cpu, wall = _timed(lambda: GLMHMM(S, link="sigmoid", random_state=0, max_iter=iters,
                                         tol=1e-12).fit(x))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"T": T, "N": N, "S": S, "iters": m.n_iter_, "cpu_seconds": cpu,
            "wall_seconds": wall, "seconds_per_iter": cpu / m.n_iter_, "peak_rss_mb": peak,
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
        print(f"T={T:>8d} N={args.N}: {row['seconds_per_iter']:.1f} CPU s per EM iteration "
              f"(includes the start), peak RSS {row['peak_rss_mb']:.0f} MB (data X+H "
              f"{row['data_mb']:.0f} MB)")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"T x{b['T'] / a['T']:.0f}: time x{b['seconds_per_iter'] / a['seconds_per_iter']:.1f}"
              f", peak memory above the pre-fit baseline x"
              f"{(b['peak_rss_mb'] - b['rss_before_fit_mb']) / (a['peak_rss_mb'] - a['rss_before_fit_mb']):.1f}")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dynamax-python", default=None,
                   help="python of a venv with dynamax (skip the comparisons if absent)")
    p.add_argument("--slack", type=float, default=0.001,
                   help="dynamax stops within this much of neurodag's held-out ll")
    p.add_argument("--max-dynamax-iter", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sessions", type=int, default=500, help="bernoulli: sessions of 100 trials")
    p.add_argument("--sizes", type=int, nargs="*", default=[100_000, 300_000, 1_000_000])
    p.add_argument("--N", type=int, default=100)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--only", nargs="*", choices=["poisson", "bernoulli", "large"],
                   default=["poisson", "bernoulli", "large"])
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
    for name, fn in (("poisson", bench_poisson), ("bernoulli", bench_bernoulli),
                     ("large", bench_large)):
        if name in args.only:
            out[name] = fn(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
