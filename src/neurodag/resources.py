"""Memory and time a step's job asks the scheduler for, from the size of its input.

Snakemake's ``input.size_mb`` is the size of the input *files*; a zarr store is a
directory (its ``size_mb`` is that of the directory entry) and is compressed, so the
estimates here read the store's shape instead: samples x channels, and the rate. The
rules call these from ``resources:`` callables (``workflow/rules/common.smk``); the
config's ``resources`` section overrides them per rule.

Preprocessing (EEG, MEG, sEEG, ECoG) holds one block of :data:`~neurodag.preprocess.
blocks.BLOCK_BYTES` and its filter margins, and the ICA fit data (at most
``ica.max_samples`` samples of every channel), whatever the length: memory is a constant
plus a term in the channels times the fit samples; time grows with the samples.
The constants were measured with ``bench/preprocess.py`` (64-channel, 1 kHz EEG, 10-60
minutes) and on the default run's sessions, and carry a margin (:data:`MARGIN`).
"""

from __future__ import annotations

import json
from pathlib import Path

#: What a job asks for when its input does not exist yet (a group job submitted before
#: ingest wrote the store) or cannot be read.
FALLBACK = {"mem_mb": 4000, "runtime": 30}
#: Interpreter, MNE, onnxruntime and xarray imported, and the block buffers (MB).
BASE_MB = 380.0
#: MB per million float64 values of ICA fit data (fit samples x channels): the copy,
#: the pre-whitened, PCA and FastICA arrays, ICLabel's features.
FIT_MB_PER_MVALUES = 40.0
#: Seconds per million samples x channels (all passes; 0.6 s of CPU measured, x3 for a
#: slower or shared node), and a constant (s).
SECONDS_PER_MVALUES, SECONDS_BASE = 1.8, 60.0
#: Above the measured peaks: 742 MB for 20 minutes of 64-channel 1 kHz EEG (asks 1070),
#: 399 MB for 60 s of 35-channel 250 Hz EEG (asks 561).
MARGIN = 1.4


def signal_shape(store: str | Path) -> tuple[int, int, float] | None:
    """``(n_times, n_channels, sfreq)`` of a contract zarr store from its metadata only,
    or None when it is missing or unreadable."""
    store = Path(store)
    try:
        meta = json.loads((store / "signal" / "zarr.json").read_text())
        attrs = json.loads((store / "zarr.json").read_text()).get("attributes", {})
        n_times, n_ch = (int(v) for v in meta["shape"])
        return n_times, n_ch, float(attrs["sfreq"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def preprocess(store: str | Path, *, mem_mb: int | None = None, runtime: int | None = None,
               max_samples: int = 150000) -> dict:
    """``{"mem_mb", "runtime"}`` (MB, minutes) for preprocessing the store ``store``.

    ``mem_mb`` / ``runtime`` given (the config's overrides) are returned as they are.
    """
    from .preprocess.ica_subset import fit_rate

    shape = signal_shape(store)
    out = dict(FALLBACK)
    if shape is not None:
        n_times, n_ch, sfreq = shape
        decim, resample_to = fit_rate(sfreq, "eeg", None, n_times, max_samples)
        fit = min(max_samples, n_times * (resample_to or sfreq / decim) / sfreq)
        values = n_times * n_ch / 1e6
        out["mem_mb"] = int(MARGIN * (BASE_MB + FIT_MB_PER_MVALUES * fit * n_ch / 1e6))
        out["runtime"] = int(MARGIN * (SECONDS_BASE + SECONDS_PER_MVALUES * values) / 60) + 1
    if mem_mb is not None:
        out["mem_mb"] = int(mem_mb)
    if runtime is not None:
        out["runtime"] = int(runtime)
    return out
