"""A run killed with SIGKILL in the middle of the DAG resumes to the outputs of an
uninterrupted run; nothing half-done is taken as done; a second run on the same directory is
refused while the first holds it.

One scenario (module fixture), several claims. The kill comes at the worst moment we can
catch: an output of ingest or preprocess exists on disk while Snakemake still marks its job
as running (e.g. ingest has renamed raw.zarr into place and is still writing raw.nwb), and
other jobs have finished.
Snakemake's incomplete markers (.snakemake/incomplete) and our atomic writes (temporary name,
then rename) together must make the rerun redo exactly the unfinished jobs.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import path_without_venv

from neurodag import store

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"seed": 3, "datasets": {"r_eeg": {"modality": "eeg", "source": {
    "synthetic": "eeg", "sessions": 2, "params": {"duration": 10.0}}}}}
SESSIONS = ("sub-01", "sub-02")
#: The outputs of each session's jobs, in DAG order.
JOBS = {"synthesize": ("synthetic",), "ingest": ("raw.nwb", "raw.zarr", "dandi.json"),
        "preprocess": ("clean.zarr", "qc.json")}


def command(workdir: Path, configfile: Path, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(configfile), "--cores", "2", *args]


def environment() -> dict:
    return path_without_venv()  # jobs find `neurodag` through the Snakefile


def run(workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(workdir, configfile, *args), capture_output=True, text=True,
                          env=environment(), timeout=900)


def marked(workdir: Path) -> set[str]:
    """Outputs Snakemake marks as incomplete: their jobs started and did not finish."""
    folder = workdir / ".snakemake" / "incomplete"
    if not folder.is_dir():
        return set()
    out = set()
    for p in folder.iterdir():
        try:
            out.add(base64.b64decode(p.name).decode())
        except ValueError:  # a marker being written
            continue
    return out


def session_outputs() -> list[str]:
    return [f"results/r_eeg/{s}/{name}" for s in SESSIONS for names in JOBS.values()
            for name in names]


def processes_in(workdir: Path) -> list[int]:
    """PIDs of processes whose working directory is ``workdir`` (the run and its jobs)."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(os.readlink(proc / "cwd")) == workdir:
                    out.append(int(proc.name))
            except OSError:
                continue
    return out


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    configfile = tmp / "config.yaml"
    configfile.write_text(yaml.safe_dump(CONFIG))
    reference, resumed = tmp / "reference", tmp / "resumed"
    resumed.mkdir()
    out = {"reference": reference, "resumed": resumed}

    ref = run(reference, configfile)
    assert ref.returncode == 0, ref.stderr[-3000:]

    first = subprocess.Popen(command(resumed, configfile), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=environment(),
                             start_new_session=True)
    try:
        locks = resumed / ".snakemake" / "locks"
        _wait(lambda: locks.is_dir() and any(locks.iterdir()), 120, "the run took no lock")
        # The second run starts now, beside the first, and is waited for after the kill: a
        # run started after the first has taken its lock must be refused whether it looks
        # before or after the kill (the killed run's lock stays until --unlock), and waiting
        # for it here would let a fast first run finish before the moment to kill it.
        concurrent = ThreadPoolExecutor(1).submit(run, resumed, configfile)

        written = [o for o in session_outputs() if not o.endswith("synthetic")]

        def worst_moment():
            assert first.poll() is None, "the run ended before the moment to kill it came"
            running = marked(resumed)
            on_disk = {o for o in session_outputs() if (resumed / o).exists()}
            return bool(on_disk & running & set(written)) and bool(on_disk - running)

        _wait(worst_moment, 300, "never saw an output on disk with its job still running",
              poll=0.02)
        os.killpg(first.pid, signal.SIGKILL)
        out["concurrent"] = concurrent.result()
    finally:
        first.kill()
        first.wait()
        for pid in processes_in(resumed):  # jobs the kill of the group missed, if any
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    time.sleep(0.5)

    out["running_at_kill"] = marked(resumed)
    out["on_disk_at_kill"] = {o: (resumed / o).stat().st_mtime_ns for o in session_outputs()
                              if (resumed / o).exists()}
    out["stale_lock"] = run(resumed, configfile)
    unlock = run(resumed, configfile, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    again = run(resumed, configfile)
    assert again.returncode == 0, again.stderr[-4000:]
    out["rerun_log"] = again.stdout + again.stderr
    return out


def _wait(predicate, timeout: float, message: str, poll: float = 0.2) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(message)


def rerun_jobs(log: str) -> set[tuple[str, str]]:
    """(rule, session) of each job the rerun ran."""
    found = re.findall(r"rule (\w+):\n(?:    .*\n)*?    wildcards: dataset=r_eeg, session=(\S+)",
                       log)
    return set(found)


def job_of(output: str) -> tuple[str, str]:
    _, _, session, name = output.split("/")
    return next(rule for rule, names in JOBS.items() if name in names), session


def test_a_second_run_on_the_same_directory_is_refused_with_a_clear_message(scenario):
    res = scenario["concurrent"]
    assert res.returncode != 0
    assert "Directory cannot be locked" in res.stderr
    assert "no other Snakemake process" in res.stderr and "--unlock" in res.stderr


def test_the_lock_left_by_a_kill_names_the_way_out(scenario):
    res = scenario["stale_lock"]
    assert res.returncode != 0
    assert "caused by a kill signal" in res.stderr and "--unlock" in res.stderr


def test_the_kill_came_in_the_middle_of_the_dag(scenario):
    on_disk, running = set(scenario["on_disk_at_kill"]), scenario["running_at_kill"]
    assert on_disk - running, "nothing had finished"
    assert on_disk & running, "no output was on disk with its job still running"
    assert set(session_outputs()) - on_disk, "nothing was left to do"


def test_outputs_whose_job_was_running_are_redone_and_finished_ones_are_kept(scenario):
    redone = rerun_jobs(scenario["rerun_log"])
    resumed, before = scenario["resumed"], scenario["on_disk_at_kill"]
    running = scenario["running_at_kill"]
    for output, mtime in before.items():
        job = job_of(output)
        if output in running:
            assert job in redone, f"{output} was on disk while its job ran, and was kept"
            assert (resumed / output).stat().st_mtime_ns != mtime
        elif all(f"results/r_eeg/{job[1]}/{n}" in before for n in JOBS[job[0]]):
            assert job not in redone, f"{output} was finished and was computed again"
    for output in set(session_outputs()) - set(before):
        assert job_of(output) in redone


def test_the_resumed_run_equals_the_uninterrupted_one(scenario):
    reference, resumed = scenario["reference"], scenario["resumed"]
    for session in SESSIONS:
        for name in ("raw.zarr", "clean.zarr", "raw.nwb"):
            a, b = (d / "results" / "r_eeg" / session / name for d in (reference, resumed))
            read = store.read_nwb if name.endswith(".nwb") else store.read_signal
            x, y = read(a), read(b)
            np.testing.assert_array_equal(x["signal"].values, y["signal"].values,
                                          err_msg=str(b))
            assert x["channel"].values.tolist() == y["channel"].values.tolist()
            np.testing.assert_array_equal(x["time"].values, y["time"].values)
        qc = [json.loads((d / "results" / "r_eeg" / session / "qc.json").read_text())
              for d in (reference, resumed)]
        assert _numbers(qc[0]) == _numbers(qc[1])
    for page in ("r_eeg.html", "index.html"):
        assert (resumed / "results" / "reports" / page).stat().st_size > 500
    assert not (resumed / ".snakemake" / "incomplete").is_dir() or not marked(resumed)


def _numbers(obj):
    """A JSON document without its provenance (times, hashes of inputs written at run time)."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items() if k not in ("provenance", "created")}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return obj
