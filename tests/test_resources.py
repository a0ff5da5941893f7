"""What the preprocess rule asks the scheduler for covers what the job uses, and not more
than twice that: measured on a 20-minute, 64-channel, 1 kHz recording."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurodag import resources, schema
from neurodag.store import SignalWriter, lazy_zeros
from neurodag.synth import head

EEG_64 = ("Fp1 Fpz Fp2 AF7 AF3 AFz AF4 AF8 F7 F5 F3 F1 Fz F2 F4 F6 F8 FT7 FC5 FC3 FC1 FCz "
          "FC2 FC4 FC6 FT8 T7 C5 C3 C1 Cz C2 C4 C6 T8 TP7 CP5 CP3 CP1 CPz CP2 CP4 CP6 TP8 P7 "
          "P5 P3 P1 Pz P2 P4 P6 P8 PO7 PO3 POz PO4 PO8 O1 Oz O2 Iz TP9 TP10").split()


def _eeg_store(path: Path, minutes: float, sfreq: float = 1000.0, seed: int = 0) -> Path:
    """64-channel EEG of 20 non-Gaussian sources (blink-like bumps, alpha bursts, spiky
    muscle-like noise, Laplacian background) mixed at random, written block by block."""
    rng = np.random.default_rng(seed)
    n, block = int(minutes * 60 * sfreq), int(60 * sfreq)
    pos = head.montage_positions()
    mixing = rng.normal(size=(64, 20)) * 10e-6
    template = schema.build(lazy_zeros(n, 64, np.float32), sfreq=sfreq, channels=EEG_64,
                            channel_types="eeg", modality="eeg",
                            positions=np.array([pos[c] for c in EEG_64]))
    template.attrs["line_freq"] = 50.0
    w = SignalWriter(template, path)
    for a in range(0, n, block):
        t = (a + np.arange(min(block, n - a))) / sfreq
        s = rng.laplace(size=(20, t.size))
        s[0] = np.convolve(rng.random(t.size) < 0.3 / sfreq, np.hanning(300), "same") * 8
        s[1] = np.sin(2 * np.pi * 10 * t) * (np.sin(2 * np.pi * 0.1 * t) > 0) * 3
        s[2] *= (np.sin(2 * np.pi * 0.05 * t) > 0.8) * 4
        x = mixing @ s + rng.normal(size=(64, t.size)) * 1e-6
        w.write(x.T.astype(np.float32))
    return w.close()


#: Run argv, then print the peak resident memory (MB) of the largest child process.
LAUNCH = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], "
          "stdout=subprocess.DEVNULL); sys.stderr.flush(); "
          "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); "
          "sys.exit(r.returncode)")


@pytest.mark.slow
def test_preprocess_asks_for_its_peak_memory_and_less_than_twice_it(tmp_path):
    raw = _eeg_store(tmp_path / "raw.zarr", 20.0)
    asks = resources.preprocess(raw)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [str(Path(sys.executable).parent / "neurodag"), "preprocess", str(raw), "--out",
           str(tmp_path / "out")]
    # Started from a small Python process: a child forked from pytest (GBs after a long
    # session) has pytest's pages counted in its ru_maxrss until it execs.
    proc = subprocess.run([sys.executable, "-c", LAUNCH, *cmd], env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_mb = float(proc.stdout.split()[-1])
    assert peak_mb <= asks["mem_mb"] <= 2 * peak_mb, (peak_mb, asks)


def test_estimates_read_the_store_shape_and_fall_back_without_it(tmp_path):
    raw = _eeg_store(tmp_path / "raw.zarr", 0.5)
    assert resources.signal_shape(raw) == (30_000, 64, 1000.0)
    # the ICA fit data (capped by ica.max_samples) are what grows with the recording
    assert resources.preprocess(raw, max_samples=1000)["mem_mb"] < \
        resources.preprocess(raw)["mem_mb"]
    assert resources.preprocess(tmp_path / "missing.zarr") == resources.FALLBACK
    assert resources.preprocess(raw, mem_mb=123, runtime=7) == {"mem_mb": 123, "runtime": 7}
