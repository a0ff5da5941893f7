"""Reproduce Ashwood et al. 2022's GLM-HMM recovery and model comparison on simulated choices.

Paper: "Mice alternate between discrete strategies during perceptual decision-making"
(Nat. Neurosci. 25, 201-212). Simulation: the 3-state GLM-HMM of the authors' tutorial
("analogous to Figure S1c", :mod:`neurodag.synth.behavior`: engaged / biased-left /
biased-right states, stimulus weights 6/2/2, biases 1/-3/3, IBL contrasts), ``n_sessions``
sessions of 100 trials. Protocol, as in ``zashwood/glm-hmm``:

- sessions assigned to 5 folds; every model fitted on four and scored on the fifth;
- GLM-HMMs started from a one-state GLM plus N(0, 0.2^2) noise, ``n_init`` starts, the best
  training log-likelihood kept (the paper's global fits: 20 starts; the default here is
  10), with the prior of their per-animal fits (Gaussian sigma = 2 on the weights,
  Dirichlet alpha = 2 on the transitions);
- the lapse model (one and two lapse rates) and the one-state GLM as baselines;
- held-out log-likelihood in bits per trial against a Bernoulli model with the training
  choices' frequency: ``(LL - LL0) / (n_trials log 2)``.

Recovery (panels a-c): the 3-state fit on folds 1-4 against the generative parameters
(states matched by Viterbi agreement on the held-out sessions), its transition matrix,
and the state accuracy of its Viterbi paths on the held-out sessions beside that of the
true parameters. Panel d: bits per trial against the number of states (1 = the GLM,
L1/L2 = lapse models), mean over folds, with the true parameters' as a line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ...models.glmhmm import GLMHMM
from ...models.glmhmm.features import trial_design
from ...models.glmhmm.lapse import LapseModel
from ...models.glmhmm.metrics import baseline_loglik, bits_per_trial, match_states
from ...store import write_json
from ...synth import behavior
from .. import style

PAPER = ("Ashwood et al. 2022, Mice alternate between discrete strategies during perceptual "
         "decision-making (Nat. Neurosci. 25, 201-212)")
#: A small setting (seconds) for tests and smoke runs.
QUICK = {"n_sessions": 20, "n_init": 2, "states": (2, 3), "n_folds": 2}
#: The prior of the reference's per-animal fits: sigma = 2, alpha = 2.
FIT = {"emission": "bernoulli", "link": "sigmoid", "inputs": "covariates", "l2": 0.25,
       "pseudocount": 1.0}


def _split(d, test):
    keep = [i for i in range(len(d["X"])) if i not in test]
    pick = {k: [d[k][i] for i in keep] for k in ("X", "covariates", "mask")}
    held = {k: [d[k][i] for i in test] for k in ("X", "covariates", "mask")}
    return pick, held


def _truth_model(truth) -> GLMHMM:
    return GLMHMM.from_params(input_weights=truth["weights"].values[:, None, :],
                              bias=truth["bias"].values[:, None],
                              transmat=truth["transmat"].values,
                              startprob=truth["startprob"].values, **{
                                  k: FIT[k] for k in ("emission", "link")})


def _bits(models: dict, train, test) -> dict:
    n = int(sum(m.sum() for m in test["mask"]))
    ll0 = baseline_loglik([np.where(m, x, np.nan) for x, m in zip(train["X"], train["mask"],
                                                                   strict=True)],
                          [np.where(m, x, np.nan) for x, m in zip(test["X"], test["mask"],
                                                                   strict=True)])
    out = {}
    for name, model in models.items():
        if isinstance(model, LapseModel):
            ll = model.loglik(test["X"], test["covariates"], test["mask"])
        else:
            ll = model.score(test["X"], test["covariates"], test["mask"]) * n
        out[name] = bits_per_trial(ll, ll0, n)
    return out


def run_experiment(n_sessions: int = 100, n_trials: int = 100, seed: int = 0, *,
                   states=(2, 3, 4), n_folds: int = 5, n_init: int = 10,
                   progress=None) -> dict:
    """Simulate, cross-validate every model, and recover the 3-state model's parameters."""
    t0 = time.perf_counter()
    sim = behavior.generate(seed=seed, n_sessions=n_sessions, n_trials=n_trials)
    d = trial_design(sim.data)
    truth = sim.truth
    fold_of = np.random.default_rng(seed).permutation(n_sessions) % n_folds
    names = ["GLM", "lapse (1)", "lapse (2)", *[f"GLM-HMM K={k}" for k in states], "truth"]
    bits = {n: [] for n in names}
    recovery = None
    for fold in range(n_folds):
        test_idx = np.flatnonzero(fold_of == fold).tolist()
        train, test = _split(d, test_idx)
        models = {"GLM": GLMHMM(1, random_state=seed, **FIT).fit(
            train["X"], train["covariates"], train["mask"])}
        for k in (1, 2):
            models[f"lapse ({k})"] = LapseModel(n_lapse=k, random_state=seed).fit(
                train["X"], train["covariates"], train["mask"])
        for k in states:
            models[f"GLM-HMM K={k}"] = GLMHMM(k, init="glm", n_init=n_init,
                                             random_state=seed, **FIT).fit(
                train["X"], train["covariates"], train["mask"])
        models["truth"] = _truth_model(truth)
        for name, v in _bits(models, train, test).items():
            bits[name].append(v)
        if progress is not None:
            progress(f"fold {fold + 1}/{n_folds}: " + ", ".join(
                f"{n} {bits[n][-1]:.4f}" for n in names) + " bits/trial")
        if fold == 0 and 3 in states:
            recovery = _recovery(models["GLM-HMM K=3"], models["truth"], test, truth,
                                 test_idx, n_trials)
    return {"paper": PAPER, "seed": seed, "n_sessions": n_sessions, "n_trials": n_trials,
            "n_folds": n_folds, "n_init": n_init, "states": list(states),
            "fit": FIT, "models": names,
            "bits_per_trial": {n: float(np.mean(v)) for n, v in bits.items()},
            "bits_per_trial_folds": bits, "recovery": recovery,
            "seconds": time.perf_counter() - t0}


def _recovery(model, true_model, test, truth, test_idx, n_trials) -> dict:
    states = truth["hidden_state"].values.reshape(-1, n_trials)[test_idx].ravel()
    pred = np.concatenate(model.predict(test["X"], test["covariates"], test["mask"]))
    perm, acc = match_states(states, pred, 3)
    _, acc_true = match_states(states, np.concatenate(
        true_model.predict(test["X"], test["covariates"], test["mask"])), 3)
    w = np.stack([model.input_weights_[perm, 0, 0], model.bias_[perm, 0]], 1)
    w0 = np.stack([truth["weights"].values[:, 0], truth["bias"].values], 1)
    P = model.transmat_[np.ix_(perm, perm)]
    post = model.predict_proba(test["X"][0], test["covariates"][0], test["mask"][0])[:, perm]
    return {"weights": w.tolist(), "weights_true": w0.tolist(),
            "weight_correlation": float(np.corrcoef(w.ravel(), w0.ravel())[0, 1]),
            "weight_max_abs_error": float(np.abs(w - w0).max()),
            "transmat": P.tolist(), "transmat_true": truth["transmat"].values.tolist(),
            "transmat_max_abs_error": float(np.abs(P - truth["transmat"].values).max()),
            "state_accuracy": acc, "state_accuracy_true_params": acc_true,
            "example_posterior": post.tolist(),
            "example_states": states[:n_trials].tolist(),
            "state_names": list(behavior.STATES)}


def plot(results: dict, out_png) -> Path:
    """The four panels; the numbers beside the PNG as JSON."""
    out_png = Path(out_png)
    rec = results["recovery"]
    colors = ("#ff7f00", "#4daf4a", "#377eb8")
    with style.figure(15.0, 3.6) as fig:
        ax = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1.1, 1.6, 1.7, 2.2]})
        w, w0 = np.array(rec["weights"]), np.array(rec["weights_true"])
        for s in range(3):
            ax[0].plot([0, 1], w0[s], "o-", color=colors[s], label=rec["state_names"][s])
            ax[0].plot([0, 1], w[s], "x--", color=colors[s])
        ax[0].set_xticks([0, 1], ["stimulus", "bias"])
        ax[0].axhline(0, color="k", lw=0.5)
        ax[0].set_ylabel("GLM weight")
        ax[0].set_title(f"a  weights (o true, x fit), r = {rec['weight_correlation']:.3f}",
                        fontsize=8)
        ax[0].legend(fontsize=6, frameon=False)
        both = np.concatenate([np.array(rec["transmat_true"]), np.full((3, 1), np.nan),
                               np.array(rec["transmat"])], 1)
        ax[1].imshow(both, vmin=-0.8, vmax=1, cmap="bone")
        for i in range(3):
            for j in range(7):
                if j != 3:
                    ax[1].text(j, i, f"{both[i, j]:.2f}", ha="center", va="center", fontsize=7)
        ax[1].set_xticks([1, 5], ["generative", "recovered"])
        ax[1].set_yticks(range(3), ["1", "2", "3"])
        ax[1].set_title("b  transition matrices", fontsize=8)
        post = np.array(rec["example_posterior"])
        for s in range(3):
            ax[2].plot(post[:, s], color=colors[s], lw=1.2)
        ax[2].scatter(np.arange(len(rec["example_states"])), np.full(
            len(rec["example_states"]), 1.06), c=[colors[s] for s in rec["example_states"]],
            s=4, marker="s")
        ax[2].set_ylim(-0.02, 1.12)
        ax[2].set_xlabel("trial (held-out session)")
        ax[2].set_ylabel("p(state)")
        ax[2].set_title(f"c  posteriors; true states on top. accuracy {rec['state_accuracy']:.3f}"
                        f" (true params {rec['state_accuracy_true_params']:.3f})", fontsize=8)
        names = [n for n in results["models"] if n != "truth"]
        vals = [results["bits_per_trial"][n] for n in names]
        ticks = [n.replace("GLM-HMM K=", "").replace("lapse ", "L").replace("GLM", "1")
                 for n in names]
        ax[3].plot(range(len(names)), vals, "o-", color="#999999")
        ax[3].axhline(results["bits_per_trial"]["truth"], color="k", ls=":",
                      label="true parameters")
        ax[3].set_xticks(range(len(names)), ticks)
        ax[3].set_xlabel("states (L1/L2: lapse model)")
        ax[3].set_ylabel("test LL (bits/trial)")
        ax[3].set_title(f"d  {results['n_folds']}-fold CV by session", fontsize=8)
        ax[3].legend(fontsize=6, frameon=False)
        style.save(fig, out_png)
    write_json(results, out_png.with_suffix(".json"))
    return out_png


def run(out_dir, seed: int = 0, quick: bool = False, progress=None) -> list[Path]:
    """The figure into ``out_dir``: ``recovery.png`` + ``recovery.json``."""
    results = run_experiment(seed=seed, progress=progress, **(QUICK if quick else {}))
    results["quick"] = int(quick)
    return [plot(results, Path(out_dir) / "recovery.png")]


def compare(out_dir) -> list[dict]:
    """Our numbers beside the paper's (and its tutorial's), from ``recovery.json``."""
    d = json.loads((Path(out_dir) / "recovery.json").read_text())
    rec, bits = d["recovery"], d["bits_per_trial"]
    best = max((n for n in bits if n.startswith("GLM-HMM")), key=bits.get)
    return [
        {"metric": "recovered weights vs generative (stimulus 6/2/2, bias 1/-3/3): "
                   "correlation; largest error",
         "ours": f"{rec['weight_correlation']:.3f}; {rec['weight_max_abs_error']:.2f}",
         "published": "recovered weights match the generative ones (Fig. S1c; tutorial)"},
        {"metric": "recovered transition matrix: largest error",
         "ours": rec["transmat_max_abs_error"],
         "published": "matches the generative [[.98 .01 .01] [.05 .92 .03] [.03 .03 .94]]"},
        {"metric": "state accuracy (Viterbi, held-out) vs the true parameters'",
         "ours": f"{rec['state_accuracy']:.3f} vs {rec['state_accuracy_true_params']:.3f}",
         "published": "states recovered (Fig. S1)"},
        {"metric": "held-out bits/trial: GLM / lapse (1) / lapse (2) / GLM-HMM K=3",
         "ours": " / ".join(f"{bits[n]:.3f}" for n in ("GLM", "lapse (1)", "lapse (2)",
                                                        "GLM-HMM K=3") if n in bits),
         "published": "GLM < lapse < 3-state GLM-HMM (Fig. 2b, IBL mice; real data, so the "
                      "values differ)"},
        {"metric": "number of states with the best held-out LL",
         "ours": best.replace("GLM-HMM K=", ""),
         "published": "3 (the generative model)"},
    ]
