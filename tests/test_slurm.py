"""The workflow on a real Slurm: a single-node cluster on localhost, brought up from Debian's
packages (slurmctld, slurmd, munge, slurm-client; .ci/run installs them), runs a reduced
default config through snakemake-executor-plugin-slurm with profiles/slurm, and its outputs
must equal a local run's. Skipped, with the reason, where Slurm is absent or we are not root.

Facts this cluster needs (found on these machines): the config lives at
/etc/slurm/slurm.conf (the plugin's job step drops SLURM_CONF before its inner srun);
slurmd runs as ``-N localhost`` with NodeAddr=127.0.0.1; munge's socket directory is mode
755; without slurmdbd, status comes from squeue, which needs MinJobAge=300; a GPU GRES needs
GresTypes=gpu and a character device (here a /dev/null twin made with mknod).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import path_without_venv

from neurodag import store

ROOT = Path(__file__).resolve().parents[1]
CONF = Path("/etc/slurm/slurm.conf")
GRES = Path("/etc/slurm/gres.conf")
MARK = "# neurodag test cluster (tests/test_slurm.py); removed when the test ends"
STATE = Path("/run/neurodag-slurm-test")
TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol",
         "sinfo", "scancel")
#: Where Debian puts the daemons (root's PATH may lack sbin).
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


pytestmark = [pytest.mark.slow, pytest.mark.e2e]


# -- the cluster -----------------------------------------------------------------------------

def _tool(name: str) -> str:
    return shutil.which(name, path=SEARCH) or name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` s, one process we started."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not Path(f"/proc/{pid}").exists() or _zombie(pid):
                return
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _stop_leftovers() -> None:
    """Daemons of a run that died before its teardown: their PIDs are in STATE/pids."""
    pids = STATE / "pids"
    if not pids.is_file():
        return
    for pid in map(int, pids.read_text().split()):
        try:
            exe = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if Path(exe).name in ("munged", "slurmctld", "slurmd"):
            _stop(pid)
    pids.unlink()


class LocalSlurm:
    """munged, slurmctld and slurmd on localhost: partitions debug (default), main, gpu
    (the one node, with one GPU GRES backed by a character device)."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="neurodag-slurm-"))
        self.procs: dict[str, subprocess.Popen] = {}
        self.cpus = os.cpu_count() or 2

    def start(self) -> LocalSlurm:
        root = self.root
        root.chmod(0o755)
        for d in ("munge", "state", "spool", "log", "dev"):
            (root / d).mkdir(mode=0o755)
            (root / d).chmod(0o755)  # munged refuses a socket dir others cannot read
        key = root / "munge.key"
        subprocess.run([_tool("mungekey"), "--create", f"--keyfile={key}"], check=True,
                       capture_output=True)
        key.chmod(0o400)
        sock = root / "munge" / "munge.socket.2"
        self._spawn("munged", [_tool("munged"), "--foreground", f"--socket={sock}",
                               f"--key-file={key}", f"--pid-file={root}/munged.pid",
                               f"--log-file={root}/log/munged.log",
                               f"--seed-file={root}/munged.seed"])
        _wait(lambda: sock.exists(), 20, "munged did not create its socket")
        os.mknod(root / "dev" / "gpu0", 0o666 | 0o020000, os.makedev(1, 3))
        mem = 16000
        CONF.write_text(f"""{MARK}
ClusterName=neurodag
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=300
DefMemPerCPU=1000
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={mem} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=main Nodes=localhost MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
""")
        GRES.write_text(f"{MARK}\nNodeName=localhost Name=gpu File={root}/dev/gpu0\n")
        self._spawn("slurmctld", [_tool("slurmctld"), "-D", "-i"])
        self._spawn("slurmd", [_tool("slurmd"), "-D", "-N", "localhost"])
        _wait(self.idle, 60, f"the node did not become idle (logs in {root}/log)")
        return self

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "w")  # noqa: SIM115 (closed with root)
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        STATE.mkdir(exist_ok=True)
        (STATE / "pids").write_text(" ".join(str(p.pid) for p in self.procs.values()))

    def idle(self) -> bool:
        res = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
        return res.returncode == 0 and res.stdout.split() and \
            all(s == "idle" for s in res.stdout.split())

    def jobs(self) -> dict[str, dict]:
        """Every job slurmctld knows (finished ones for MinJobAge s): id -> fields."""
        res = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i|%j|%k|%P|%T|%V|%S|%e"],
                             capture_output=True, text=True, check=True)
        out = {}
        for line in res.stdout.splitlines():
            jid, name, comment, partition, state, submitted, start, end = line.split("|")
            out[jid] = {"name": name, "comment": comment, "partition": partition,
                        "state": state, "times": (submitted, start, end)}
        return out

    def show(self, jid: str) -> str:
        return subprocess.run(["scontrol", "show", "job", jid], capture_output=True,
                              text=True).stdout

    def stop(self) -> None:
        subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True)
        for name in ("slurmd", "slurmctld", "munged"):
            if name in self.procs:
                _stop(self.procs[name].pid)
                self.procs[name].wait(timeout=10)
        for path in (CONF, GRES):
            if path.is_file() and path.read_text().startswith(MARK):
                path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (STATE / "pids").unlink()
        shutil.rmtree(self.root, ignore_errors=True)


def _wait(predicate, timeout: float, message: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise RuntimeError(message)


@contextlib.contextmanager
def _exclusive(timeout: float = 900):
    """One test cluster per machine: /etc/slurm/slurm.conf and the node name are shared."""
    STATE.mkdir(exist_ok=True)
    with open(STATE / "lock", "w") as f:
        end = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    pytest.skip("another test cluster has been running for 15 min")
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def slurm():
    missing = [t for t in TOOLS if shutil.which(t, path=SEARCH) is None]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing); .ci/run installs "
                    "slurmctld slurmd munge slurm-client")
    if os.geteuid() != 0:
        pytest.skip("a local Slurm cluster needs root (slurmd, mknod, /etc/slurm)")
    with _exclusive():
        if CONF.exists() and not CONF.read_text().startswith(MARK):
            pytest.skip(f"{CONF} belongs to a real cluster; the test does not touch it")
        _stop_leftovers()
        cluster = LocalSlurm()
        try:
            yield cluster.start()
        finally:
            cluster.stop()


# -- the workflow ----------------------------------------------------------------------------

#: Per modality: generator parameters and sessions of the reduced run (small and quick).
REDUCED = {"eeg": ({"duration": 10.0}, 2), "fmri": ({"n_volumes": 40}, 1),
           "spikes": ({"n_neurons": 6, "n_sequences": 2, "n_bins": 300}, 1)}


def reduced_config() -> dict:
    """The default config's synthetic EEG, fMRI and spike datasets, small, with their
    analyses (trsa on EEG, GLM-HMM on spikes) on small grids."""
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    datasets = {}
    for name, entry in default["datasets"].items():
        modality = entry["modality"]
        if "synthetic" not in entry["source"] or modality not in REDUCED \
                or any(e["modality"] == modality for e in datasets.values()):
            continue
        params, n = REDUCED[modality]
        entry = json.loads(json.dumps(entry))
        # Stacking with the real reference datasets and the denoiser (minutes of training)
        # are left to the local tests: this one is about the cluster.
        entry.pop("homogenize", None)
        entry.pop("denoise", None)
        entry["source"]["params"] = {**entry["source"].get("params", {}), **params}
        entry["source"]["sessions"] = n
        if "glmhmm" in entry.get("analyses", {}):
            entry["analyses"]["glmhmm"].update(states=[1, 2], max_iter=10)
        datasets[name] = entry
    assert sorted(e["modality"] for e in datasets.values()) == sorted(REDUCED)
    return {"seed": default.get("seed", 0), "datasets": datasets}


def numeric_targets(cfg: dict) -> list[str]:
    """Every session's stores and the analyses' folders (not the report pages)."""
    from neurodag import config

    cfg = config.check(cfg)
    out = []
    for name, entry in cfg["datasets"].items():
        for sid in config.sessions(cfg, name):
            out += [f"results/{name}/{sid}/raw.zarr", f"results/{name}/{sid}/clean.zarr"]
            if "glmhmm" in entry["analyses"]:
                out.append(f"results/{name}/models/glmhmm/{sid}")
        if "trsa" in entry["analyses"]:
            out.append(f"results/{name}/models/trsa")
    return out


def snakemake(workdir: Path, configfile: Path, *args: str, env=None, timeout=900):
    site = env or {}
    # no venv on PATH: Slurm jobs find `neurodag` through the Snakefile
    env = {k: v for k, v in path_without_venv().items() if not k.startswith("NEURODAG_SLURM_")}
    env.update(site)
    cmd = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(configfile), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def outputs(workdir: Path) -> dict[str, Path]:
    """The numeric outputs of a run: {relative path: path}."""
    results = workdir / "results"
    found = [*results.glob("*/*/raw.zarr"), *results.glob("*/*/clean.zarr"),
             *results.glob("*/models/*/*/K*.nc"), *results.glob("*/models/*/*.nc")]
    return {str(p.relative_to(results)): p for p in found}


def assert_same_numbers(a: Path, b: Path) -> None:
    if a.suffix == ".zarr":
        x, y = store.read_signal(a), store.read_signal(b)
    else:
        x, y = xr.load_dataset(a, engine="h5netcdf"), xr.load_dataset(b, engine="h5netcdf")
    assert sorted(x.data_vars) == sorted(y.data_vars), a
    for name in x.data_vars:
        np.testing.assert_array_equal(x[name].values, y[name].values, err_msg=f"{a}: {name}")
    for name in x.coords:
        np.testing.assert_array_equal(x[name].values, y[name].values, err_msg=f"{a}: {name}")


@pytest.mark.slurm
def test_reduced_default_config_runs_through_slurm_and_equals_a_local_run(slurm, tmp_path):
    configfile = tmp_path / "reduced.yaml"
    configfile.write_text(yaml.safe_dump(reduced_config()))
    local, cluster = tmp_path / "local", tmp_path / "slurm"

    t0 = time.monotonic()
    res = snakemake(local, configfile, "--cores", "2", *numeric_targets(reduced_config()))
    assert res.returncode == 0, res.stderr[-3000:]
    local_s = time.monotonic() - t0

    # The profile as users run it, plus what this cluster needs: status from squeue (no
    # slurmdbd), a short first status check, sessions two to a job so both CPUs work, and a
    # GPU for fit_glmhmm (gpu=1 without `gpu: true`, so that the step still runs on the CPU).
    t0 = time.monotonic()
    res = snakemake(cluster, configfile, "--workflow-profile", str(ROOT / "profiles" / "slurm"),
                    "--slurm-status-command", "squeue",
                    "--slurm-init-seconds-before-status-checks", "2",
                    "--group-components", "session=2",
                    "--set-resources", "fit_glmhmm:gpu=1", "fit_glmhmm:slurm_partition='gpu'",
                    env={"NEURODAG_SLURM_PARTITION": "main"})
    elapsed = time.monotonic() - t0
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]

    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    jobs = slurm.jobs()
    assert submitted and set(submitted) <= set(jobs)
    ours = {j: jobs[j] for j in submitted}
    assert {j["state"] for j in ours.values()} == {"COMPLETED"}
    assert len({j["name"] for j in ours.values()}) == 1  # the run's id names every job
    comments = sorted(j["comment"] for j in ours.values())
    cfg = reduced_config()
    n_sessions = sum(e["source"]["sessions"] for e in cfg["datasets"].values())
    groups = [c for c in comments if c.startswith("rule_session_")]
    assert len(groups) == (n_sessions + 1) // 2, comments
    # the steps that read every session are one job each: a report page per dataset + index
    assert sum(c.startswith("rule_report_dataset") for c in comments) == len(cfg["datasets"])
    assert sum(c.startswith("rule_report_index") for c in comments) == 1, comments
    glmhmm = [j for j, v in ours.items() if v["comment"].startswith("rule_fit_glmhmm")]
    assert len(glmhmm) == 1
    assert ours[glmhmm[0]]["partition"] == "gpu"
    assert re.search(r"TresPerJob=gres:gpu:1", slurm.show(glmhmm[0]))
    assert {v["partition"] for j, v in ours.items() if j not in glmhmm} == {"main"}

    a, b = outputs(local), outputs(cluster)
    assert sorted(a) == sorted(b)
    assert len(a) == 2 * n_sessions + 2 + 1  # raw + clean, K1/K2 of GLM-HMM, trsa
    for rel in a:
        assert_same_numbers(a[rel], b[rel])
    reports = sorted(p.stem for p in (cluster / "results" / "reports").glob("*.html"))
    assert reports == sorted([*cfg["datasets"], "index"]) and reports
    assert not list((cluster / "results").rglob("*.partial"))
    print(f"local run {local_s:.0f} s; slurm run {elapsed:.0f} s, {len(ours)} Slurm jobs")
    for j, v in sorted(ours.items()):
        print(j, v["comment"][:40], *(t[-8:] for t in v["times"]))


def test_gpu_rules_ask_for_a_gpu_and_the_gpu_partition_when_the_config_enables_gpus(tmp_path):
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.utils import set_gres_string

    configfile = tmp_path / "reduced.yaml"
    configfile.write_text(yaml.safe_dump(reduced_config()))
    site = {"NEURODAG_SLURM_GPU_PARTITION": "gpu-a100", "NEURODAG_SLURM_ACCOUNT": "lab"}
    found, other, text = {}, {}, {}
    for gpu, env in (("True", site), ("False", {})):
        res = snakemake(tmp_path / gpu, configfile, "--workflow-profile",
                        str(ROOT / "profiles" / "slurm"), "--dry-run", "--config",
                        f"gpu={gpu}", env=env)
        assert res.returncode == 0, res.stderr[-3000:]
        text[gpu] = res.stdout + res.stderr
        found[gpu] = _resources(text[gpu], "fit_glmhmm")
        other[gpu] = _resources(text[gpu], "trsa")
    assert found["True"]["gpu"] == "1" and found["False"]["gpu"] == "0"
    assert found["True"]["slurm_partition"] == "gpu-a100"
    assert found["True"]["slurm_account"] == other["True"]["slurm_account"] == "lab"
    assert "slurm_partition" not in other["True"]
    # Without the site variables nothing is passed: the plugin's defaults apply.
    assert not {"slurm_partition", "slurm_account"} & {*found["False"], *other["False"]}
    assert "Group job session" in text["False"] and "Group job reports" not in text["False"]
    job = SimpleNamespace(resources=SimpleNamespace(get=lambda k, d=None: {"gpu": 1}.get(k, d)))
    assert set_gres_string(job).strip() == "--gpus=1"


def _resources(dry_run: str, rule: str) -> dict[str, str]:
    """The resources a dry run prints for the first job of ``rule``."""
    block = dry_run.split(f"rule {rule}:")[1].split("\n\n")[0]
    return dict(re.findall(r"(\w+)=([^,\s]+)", block.split("resources:")[1]))
