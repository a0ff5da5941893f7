"""Training, checkpoints (model.pt + config.json + metrics.json) and batched inference.

Training draws each batch afresh: random clean epochs of the training recordings, random
EMG epochs of the training recordings, random signs, SNRs uniform in [-7, 2] dB, mixed by
:func:`neurodag.denoise.data.mix` (in torch). A fraction ``clean_fraction`` (25 %) of the
epochs get no EMG at all: beyond EEGdenoiseNet's protocol (where every epoch is
contaminated), so that the network learns to leave clean stretches of real recordings
alone (its estimated artifact there stays far below the ``min_ratio`` at which
:mod:`neurodag.denoise.inference` acts; 10 % left real clean EEG with estimates large
enough to change it). The AT-AT denoiser minimises

``MSE(x_hat, x) + ae_weight * MSE(recon, y) + score_weight * BCE(logit, flag)
+ adv_weight * (D(x_hat) - 1)**2``

where ``flag`` marks patches whose EMG power exceeds 10 % of their EEG power and ``D`` is the
spectral discriminator, trained as a least-squares GAN from ``adv_start`` of the steps on.
The FCNN baseline minimises the MSE alone (as in EEGdenoiseNet). AdamW with a linear
warm-up and a cosine decay; the weights kept are those with the lowest validation MSE
(a fixed subset of validation channel-epochs at the 10 test SNRs, checked every
``eval_every`` steps).

Determinism: every random draw comes from ``seed`` (a numpy Generator for the batches,
torch's generator, forked and seeded, for initialisation and dropout) and
``torch.use_deterministic_algorithms`` is on while training: the same seed, options and
thread count give bitwise identical weights on the CPU.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, InputError, one_line
from ..store import atomic_path, write_json
from . import data as _data
from . import evaluate as _evaluate
from . import model as _model

#: Training options and their defaults (``train(**options)`` overrides them).
DEFAULTS = {
    "arch": "atat", "model": {}, "steps": 8000, "batch_size": 64, "lr": 1e-3,
    "weight_decay": 1e-4, "warmup": 200, "clip": 1.0,
    "ae_weight": 0.1, "score_weight": 0.1, "adv_weight": 0.01, "adv_start": 0.2,
    "disc_lr": 2e-4, "eval_every": 500, "val_pairs": 512, "log_every": 100,
    "n_synthetic": list(_data.N_SYNTHETIC), "duration": 60.0,
    "cache_dir": "resources/reference", "real_dir": None, "threads": None,
    "threshold": 0.05, "min_ratio": 0.3, "evaluate_test": True, "clean_fraction": 0.25,
}
#: Named budgets: "default" is the full-size run (< 15 min on 2 CPU cores), "small" the
#: budget of the workflow's default run.
BUDGETS = {
    "default": {},
    "small": {"steps": 2000, "n_synthetic": [10, 6, 6], "eval_every": 250},
}
#: Patches whose EMG power exceeds this fraction of their EEG power are "contaminated".
FLAG_RATIO = 0.1


def options_for(budget: str = "default", **options) -> dict:
    """The training options of ``budget`` updated with ``options``, checked."""
    if budget not in BUDGETS:
        raise ConfigError(f"denoise.budget: {budget!r} is not one of {list(BUDGETS)}")
    opts = {**copy.deepcopy(DEFAULTS), **copy.deepcopy(BUDGETS[budget])}
    for key, value in options.items():
        if key not in DEFAULTS:
            close = difflib.get_close_matches(key, list(DEFAULTS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"denoise.{key}: unknown option{hint}")
        opts[key] = value
    if opts["arch"] not in _model.ARCHITECTURES:
        raise ConfigError(f"denoise.arch: {opts['arch']!r} is not one of "
                          f"{list(_model.ARCHITECTURES)}")
    for key in ("steps", "batch_size", "eval_every", "val_pairs", "log_every"):
        if not isinstance(opts[key], int) or isinstance(opts[key], bool) or opts[key] < 1:
            raise ConfigError(f"denoise.{key}: expected a positive integer, got {opts[key]!r}")
    for key in ("lr", "weight_decay", "ae_weight", "score_weight", "adv_weight", "disc_lr",
                "clip", "duration", "threshold", "min_ratio", "clean_fraction"):
        v = opts[key]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) \
                or v < 0:
            raise ConfigError(f"denoise.{key}: expected a number >= 0, got {v!r}")
    for key in ("adv_start", "clean_fraction"):
        if not 0 <= opts[key] <= 1:
            raise ConfigError(f"denoise.{key}: expected a fraction in [0, 1], got {opts[key]!r}")
    if not isinstance(opts["model"], dict):
        raise ConfigError(f"denoise.model: expected a mapping, got {opts['model']!r}")
    known = set(_model.ATAT_DEFAULTS if opts["arch"] == "atat" else ("dropout",)) - {"n_samples"}
    for key in opts["model"]:
        if key not in known:
            raise ConfigError(f"denoise.model.{key}: not a hyper-parameter of {opts['arch']} "
                              f"(known: {', '.join(sorted(known))}; n_samples is fixed by "
                              f"the benchmark at {_data.N_SAMPLES})")
    opts["n_synthetic"] = [int(k) for k in opts["n_synthetic"]]
    return opts


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _unit(a: np.ndarray) -> torch.Tensor:
    s = a.std(axis=-1, keepdims=True)
    return torch.from_numpy((a / np.where(s > 0, s, 1.0)).astype(np.float32))


def _mix_torch(x: torch.Tensor, n: torch.Tensor, snr: torch.Tensor):
    """:func:`neurodag.denoise.data.mix` in torch (y, x, noise, all divided by std(y))."""
    rms = lambda a: a.square().mean(dim=-1, keepdim=True).sqrt()  # noqa: E731
    noise = n * rms(x) / (rms(n) * 10.0 ** (snr[:, None] / 20.0))
    y = x + noise
    s = y.std(dim=-1, keepdim=True, correction=0).clamp_min(1e-12)
    return y / s, x / s, noise / s


def _flags(x: torch.Tensor, noise: torch.Tensor, patch: int) -> torch.Tensor:
    b = x.shape[0]
    ex = x.reshape(b, -1, patch).square().sum(-1)
    en = noise.reshape(b, -1, patch).square().sum(-1)
    return (en > FLAG_RATIO * ex).float()


@torch.no_grad()
def predict(net, y: np.ndarray, *, device: str = "cpu", threshold: float = 0.05,
            batch: int = 2048, scores: bool = False):
    """Denoise std-normalised epochs ``y`` (N, n_samples) in batches; numpy in and out.

    With ``scores=True`` also returns each epoch's contamination score (N,) (the network
    changed the epoch where it is >= ``threshold``).
    """
    net.eval()
    y = np.asarray(y, dtype=np.float32)
    out = np.empty_like(y)
    score = np.empty(len(y), dtype=np.float64)
    for i in range(0, len(y), batch):
        yb = torch.from_numpy(y[i: i + batch]).to(device)
        est, sc = net.denoise(yb, threshold)
        out[i: i + batch] = est.cpu().numpy()
        score[i: i + batch] = sc.cpu().numpy()
    out = out.astype(np.float64)
    return (out, score) if scores else out


def _validation(bench, opts, rng) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = bench.pairs("val")
    k = min(opts["val_pairs"], len(pairs["x"]))
    pick = np.sort(rng.choice(len(pairs["x"]), k, replace=False))
    ys, xs = [], []
    for snr in _data.TEST_SNRS:
        y, x, _ = _data.mix(pairs["x"][pick], pairs["n"][pick], snr)
        ys.append(y)
        xs.append(x)
    return (torch.from_numpy(np.concatenate(ys).astype(np.float32)),
            torch.from_numpy(np.concatenate(xs).astype(np.float32)))


def fit(net, bench, opts: dict, *, seed: int, device: str = "cpu", progress=None) -> dict:
    """Train ``net`` in place on ``bench`` (see the module docstring); returns the history."""
    rng = np.random.default_rng([int(seed), 31337])
    train = bench.pairs("train")
    X = _unit(train["x"]).to(device)
    N = _unit(train["n"]).to(device)
    y_val, x_val = (t.to(device) for t in _validation(bench, opts, rng))
    atat = isinstance(net, _model.ATATDenoiser)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=opts["lr"], weight_decay=opts["weight_decay"])
    steps, B = opts["steps"], opts["batch_size"]
    disc = d_opt = None
    if atat and opts["adv_weight"] > 0:
        disc = _model.SpectralDiscriminator(net.n_samples).to(device)
        d_opt = torch.optim.Adam(disc.parameters(), lr=opts["disc_lr"], betas=(0.5, 0.999))
    adv_from = int(opts["adv_start"] * steps)
    history, best = [], {"val_mse": math.inf, "step": -1, "state": None}
    running = {"loss": 0.0, "mse": 0.0, "d": 0.0, "k": 0}
    t0, cpu0 = time.perf_counter(), time.process_time()
    for step in range(steps):
        net.train()
        ix = torch.from_numpy(rng.integers(0, len(X), B)).to(device)
        inn = torch.from_numpy(rng.integers(0, len(N), B)).to(device)
        sign = torch.from_numpy(rng.choice([-1.0, 1.0], (2, B, 1)).astype(np.float32)).to(device)
        snr = rng.uniform(*_data.SNR_RANGE, B)
        snr[rng.random(B) < opts["clean_fraction"]] = np.inf  # no EMG: the gate learns to pass
        snr = torch.from_numpy(snr.astype(np.float32)).to(device)
        y, x, noise = _mix_torch(X[ix] * sign[0], N[inn] * sign[1], snr)
        for g in opt.param_groups:
            g["lr"] = opts["lr"] * _lr_factor(step, steps, opts["warmup"])
        out = net(y)
        mse = F.mse_loss(out["x_hat"], x)
        loss = mse
        if atat:
            loss = loss + opts["ae_weight"] * F.mse_loss(out["recon"], y)
            loss = loss + opts["score_weight"] * F.binary_cross_entropy_with_logits(
                out["logit"], _flags(x, noise, net.patch))
            if disc is not None and step >= adv_from:
                d_loss = 0.5 * ((disc(x) - 1).square().mean()
                                + disc(out["x_hat"].detach()).square().mean())
                d_opt.zero_grad()
                d_loss.backward()
                d_opt.step()
                running["d"] += d_loss.item()
                loss = loss + opts["adv_weight"] * (disc(out["x_hat"]) - 1).square().mean()
        opt.zero_grad()
        loss.backward()
        if opts["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, opts["clip"])
        opt.step()
        running["loss"] += loss.item()
        running["mse"] += mse.item()
        running["k"] += 1
        last = step == steps - 1
        if (step + 1) % opts["log_every"] == 0 or last:
            k = running["k"]
            row = {"step": step + 1, "loss": running["loss"] / k, "mse": running["mse"] / k,
                   "disc": running["d"] / k, "seconds": time.perf_counter() - t0,
                   "cpu_seconds": time.process_time() - cpu0}
            running = {"loss": 0.0, "mse": 0.0, "d": 0.0, "k": 0}
            if (step + 1) % opts["eval_every"] == 0 or last:
                est = torch.from_numpy(predict(net, y_val.cpu().numpy(), device=device,
                                               threshold=opts["threshold"]).astype(np.float32))
                row["val_mse"] = float(F.mse_loss(est, x_val.cpu()))
                if row["val_mse"] < best["val_mse"]:
                    best = {"val_mse": row["val_mse"], "step": step + 1,
                            "state": copy.deepcopy(net.state_dict())}
            history.append(row)
            if progress:
                progress(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in row.items()))
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    net.eval()
    return {"history": history, "best_step": best["step"], "best_val_mse": best["val_mse"],
            "train_seconds": time.perf_counter() - t0,
            "train_cpu_seconds": time.process_time() - cpu0}


def checkpoint_hash(checkpoint: str | Path) -> str:
    """sha256 of a checkpoint's ``model.pt`` and ``config.json`` (what fixes its outputs)."""
    path = Path(checkpoint)
    h = hashlib.sha256()
    for name in ("model.pt", "config.json"):
        try:
            h.update(name.encode())
            h.update((path / name).read_bytes())
        except OSError as e:
            raise InputError(f"{path / name}: cannot read checkpoint ({e.strerror or e})") \
                from None
    return h.hexdigest()


def load(checkpoint: str | Path, *, device: str = "cpu"):
    """Load a checkpoint folder: ``(network in eval mode, config dict)``.

    Weights are read with ``torch.load(..., weights_only=True)`` (no pickled code runs).
    """
    path = Path(checkpoint)
    if not path.is_dir():
        raise InputError(f"{path}: no such checkpoint folder (expected model.pt + config.json)")
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path / 'config.json'}: unreadable checkpoint config ({e})") from None
    if config.get("arch") not in _model.ARCHITECTURES or not isinstance(config.get("model"),
                                                                        dict):
        raise InputError(f"{path / 'config.json'}: not a neurodag denoiser config "
                         f"(arch {config.get('arch')!r})")
    try:
        state = torch.load(path / "model.pt", map_location=device, weights_only=True)
    except Exception as e:  # torch raises several types for missing or corrupt files
        raise InputError(f"{path / 'model.pt'}: unreadable weights ({type(e).__name__}: "
                         f"{one_line(e)})") from None
    net = _model.build(config["arch"], **config["model"])
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"{path / 'model.pt'}: weights do not fit the architecture of "
                         f"config.json ({one_line(e)})") from None
    return net.to(device).eval(), config


def _model_params(opts: dict) -> dict:
    if opts["arch"] == "atat":
        params = {**_model.ATAT_DEFAULTS, **opts["model"]}
        params["conv"] = list(params["conv"])
        return params
    return {"n_samples": _data.N_SAMPLES, **opts["model"]}


def train(out_dir: str | Path, *, seed: int = 0, budget: str = "default", device: str = "cpu",
          benchmark: _data.Benchmark | None = None, progress=None, **options) -> Path:
    """Build the benchmark, train a denoiser and write its checkpoint folder.

    Parameters
    ----------
    out_dir : path-like
        The checkpoint folder, written atomically: ``model.pt`` (state dict),
        ``config.json`` (architecture, rates, options, benchmark recipe and splits),
        ``metrics.json`` (parameter counts, training time and history, validation and test
        curves).
    seed : int
        Seeds the benchmark, the initialisation and the batches.
    budget : {"default", "small"}
        See :data:`BUDGETS`.
    device : str
        ``"cpu"`` or ``"cuda"`` (when available).
    benchmark : Benchmark, optional
        A benchmark already built with the same recipe (saves rebuilding it).
    progress : callable, optional
        Called with one line of text per log step.
    **options
        Overrides of :data:`DEFAULTS` (``steps``, ``arch``, ``model``, ``n_synthetic``,
        ``real_dir``, ...).

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    opts = options_for(budget, **options)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r}: CUDA is not available on this machine")
    if benchmark is None:
        benchmark = _data.build(seed, n_synthetic=opts["n_synthetic"], duration=opts["duration"],
                                cache_dir=opts["cache_dir"], real_dir=opts["real_dir"],
                                progress=progress)
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    try:
        if opts["threads"]:
            torch.set_num_threads(int(opts["threads"]))
        torch.use_deterministic_algorithms(True, warn_only=device != "cpu")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = _model.build(opts["arch"], **_model_params(opts)).to(device)
            result = fit(net, benchmark, opts, seed=seed, device=device, progress=progress)
        metrics = {"parameters": net.size, "train_seconds": result["train_seconds"],
                   "train_cpu_seconds": result["train_cpu_seconds"],
                   "best_step": result["best_step"], "best_val_mse": result["best_val_mse"],
                   "history": result["history"], "torch_threads": torch.get_num_threads()}

        def method(y):
            return predict(net, y, device=device, threshold=opts["threshold"])

        if opts["evaluate_test"]:
            metrics["test"] = _evaluate.single_channel(method, benchmark, "test")
            metrics["test_clean_passthrough"] = _evaluate.clean_passthrough(method, benchmark)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
    config = {
        "arch": opts["arch"], "model": _model_params(opts), "sfreq": _data.SFREQ,
        "n_samples": _data.N_SAMPLES, "threshold": opts["threshold"],
        "min_ratio": opts["min_ratio"], "seed": int(seed),
        "budget": budget, "device": device,
        "training": {k: v for k, v in opts.items() if k not in ("model",)},
        "benchmark": {"seed": benchmark.seed, "recordings": benchmark.table()},
    }
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        torch.save(net.cpu().state_dict(), tmp / "model.pt")
        write_json(config, tmp / "config.json")
        write_json(metrics, tmp / "metrics.json")
    return out_dir
