"""Dry-run time of the DAG against the number of sessions.

Run by hand (not a test; the 5000-session point takes about half a minute)::

    .venv/bin/python bench/dag_scale.py                         # 10, 100, 1000, 5000
    .venv/bin/python bench/dag_scale.py --sessions 1000 --profile-at 1000

For each size it writes a config into a temporary folder: four synthetic datasets sharing the
sessions (EEG with trsa, fMRI, calcium with homogenize, spikes with a GLM-HMM per session),
then times ``snakemake --dry-run`` in a fresh process (``--quiet rules``: the job table, not
one block per job) with the local profile and with profiles/slurm (its job groups), and
checks the planned job count. It prints seconds, the time per session and a straight-line fit
``t = a + b * sessions``; the goal is under 20 s at 1000 sessions on 2 cores and linear
growth. ``--profile-at N`` runs that size once more under cProfile and splits the time
between our config check, session discovery, the rules' input functions and Snakemake.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
#: Datasets sharing the sessions: (name, modality, analyses).
DATASETS = [("eeg", "eeg", {"trsa": {}}), ("fmri", "fmri", {}), ("worm", "calcium", {}),
            ("spikes", "spikes", {"glmhmm": {}})]


def make_config(n_sessions: int) -> dict:
    """``n_sessions`` synthetic sessions spread over :data:`DATASETS`."""
    k = len(DATASETS)
    sizes = [n_sessions // k + (i < n_sessions % k) for i in range(k)]
    datasets = {}
    for (name, modality, analyses), n in zip(DATASETS, sizes, strict=True):
        if n:
            datasets[name] = {"modality": modality, "analyses": analyses,
                              "source": {"synthetic": modality, "sessions": n}}
    return {"seed": 0, "datasets": datasets}


def expected_jobs(cfg: dict) -> int:
    """synthesize, ingest, preprocess per session, GLM-HMM per spikes session, trsa and
    homogenize per dataset, a report page per dataset, the index and `all`."""
    n = 0
    for entry in cfg["datasets"].values():
        s = entry["source"]["sessions"]
        n += 3 * s + 1 + ("glmhmm" in entry["analyses"]) * s + ("trsa" in entry["analyses"])
        n += entry["modality"] == "calcium"  # homogenize is on for calcium
    return n + 2


def command(workdir: Path, configfile: Path, profile: str) -> list[str]:
    return [str(VENV_BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(configfile),
            "--workflow-profile", str(ROOT / "profiles" / profile),
            "--dry-run", "--quiet", "rules"]


def time_dry_run(n_sessions: int, profile: str, tmp: Path) -> dict:
    cfg = make_config(n_sessions)
    configfile = tmp / f"config_{n_sessions}.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURODAG_SLURM_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    t0 = time.perf_counter()
    res = subprocess.run(command(tmp / f"work_{profile}_{n_sessions}", configfile, profile),
                         capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"dry run of {n_sessions} sessions failed:\n{res.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)\s*$", res.stdout + res.stderr, flags=re.M)
    jobs = int(total[1]) if total else -1
    if jobs != expected_jobs(cfg):
        raise SystemExit(f"{n_sessions} sessions: planned {jobs} jobs, expected "
                         f"{expected_jobs(cfg)}")
    return {"sessions": n_sessions, "profile": profile, "jobs": jobs, "seconds": seconds}


def startup_seconds(repeat: int = 3) -> float:
    """Python + Snakemake imports, the floor of any dry run."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([str(VENV_BIN / "snakemake"), "--version"], capture_output=True,
                       check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def fit(points: list[dict]) -> tuple[float, float]:
    """Least-squares ``seconds = a + b * sessions``."""
    xs = [p["sessions"] for p in points]
    ys = [p["seconds"] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / \
        sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


#: Phases of a dry run, by (file, function), cumulative seconds (they nest; see the notes).
PHASES = [
    ("parse the Snakefile and rules (includes our config check)", r"snakemake/workflow\.py",
     "include"),
    ("  our config check: neurodag.config.check", r"neurodag/config\.py", "check"),
    ("  session discovery: neurodag.config.sessions (largest call)", r"neurodag/config\.py",
     "sessions"),
    ("Snakemake builds the DAG (calls our input functions)", r"snakemake/workflow\.py",
     "_build_dag"),
    ("Snakemake schedules and prints every job (resources)", r"snakemake/scheduling/"
     r"job_scheduler\.py", "schedule"),
]


def profile_once(n_sessions: int, profile: str, tmp: Path, out: Path) -> dict:
    """Run one dry run in this process under cProfile: seconds per phase, and the time
    Snakemake spends inside our input functions and helpers (common.smk)."""
    from snakemake.cli import main as snakemake_main

    cfg = make_config(n_sessions)
    configfile = tmp / f"profiled_{n_sessions}.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    argv = command(tmp / f"profiled_{profile}_{n_sessions}", configfile, profile)[1:]
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
    prof = cProfile.Profile()
    prof.enable()
    try:
        snakemake_main(argv)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    finally:
        prof.disable()
    prof.dump_stats(out)
    stats = pstats.Stats(str(out)).stats
    phases = {}
    for name, file_pattern, func in PHASES:
        phases[name] = max((v[3] for (f, _, fn), v in stats.items()
                            if fn == func and re.search(file_pattern, f)), default=0.0)
    # Our helpers, counted where Snakemake calls them (so nested helpers count once).
    ours = 0.0
    for (f, _, _), (_, _, _, _, callers) in stats.items():
        if "workflow/rules/" in f:
            ours += sum(ct for (cf, _, _), (_, _, _, ct) in callers.items()
                        if "workflow/rules/" not in cf)
    phases["  our input functions and helpers (common.smk), called by Snakemake"] = ours
    total = max(v[3] for (f, _, fn), v in stats.items() if fn == "main")
    return {"sessions": n_sessions, "profile": profile, "total": total, "phases": phases,
            "pstats": str(out)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 100, 1000, 5000])
    parser.add_argument("--profiles", nargs="+", default=["default", "slurm"],
                        choices=["default", "slurm"])
    parser.add_argument("--profile-at", type=int, metavar="N",
                        help="also profile one dry run of N sessions (default profile)")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "bench" /
                        "dag_scale.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="dag_scale_") as tmp:
        tmp = Path(tmp)
        floor = startup_seconds()
        print(f"snakemake --version (imports): {floor:.2f} s")
        print(f"{'sessions':>8} {'profile':>8} {'jobs':>6} {'seconds':>8} {'ms/session':>10}")
        points = []
        for n in args.sessions:
            for profile in args.profiles:
                p = time_dry_run(n, profile, tmp)
                points.append(p)
                print(f"{n:>8} {profile:>8} {p['jobs']:>6} {p['seconds']:>8.2f} "
                      f"{1000 * (p['seconds'] - floor) / n:>10.2f}", flush=True)
        report = {"startup_seconds": floor, "points": points, "fit": {}}
        for profile in args.profiles:
            mine = [p for p in points if p["profile"] == profile]
            if len(mine) >= 2:
                a, b = fit(mine)
                report["fit"][profile] = {"a_seconds": a, "b_ms_per_session": 1000 * b}
                print(f"{profile}: t = {a:.2f} s + {1000 * b:.2f} ms x sessions")
        if args.profile_at:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            prof = profile_once(args.profile_at, "default", tmp,
                                args.json.with_name("dag_scale.pstats"))
            report["profile"] = prof
            print(f"cProfile of {args.profile_at} sessions: {prof['total']:.1f} s (profiled)")
            for name, seconds in prof["phases"].items():
                print(f"  {seconds:6.2f} s  {name}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
