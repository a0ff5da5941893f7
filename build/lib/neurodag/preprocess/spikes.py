"""Spikes: no filtering; the output is the input (so every session has ``clean.zarr``).

qc.json gives each unit's firing rate (spikes per second: the sum of its counts over the
recording's duration, ``n_times / sfreq``) and flags as silent the units whose rate is at
or below ``min_rate`` (0 Hz by default: units that never fire).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InputError
from .ephys import where


def run(ds: xr.Dataset, opts: dict, options_json: str) -> tuple[xr.Dataset, dict]:
    """Pass one spikes contract Dataset through and report firing rates."""
    x = np.asarray(ds["signal"].values, dtype=np.float64)
    if (x < 0).any():
        bad = ds["channel"].values[(x < 0).any(axis=0)][:5].tolist()
        raise InputError(f"{where(ds)}: negative spike counts (channels {bad})")
    duration = ds.sizes["time"] / float(ds.attrs["sfreq"])
    names = ds["channel"].values.astype(str)
    rates = x.sum(axis=0) / duration
    silent = rates <= opts["min_rate"]
    clean = ds.copy()
    clean.attrs["preprocess"] = options_json
    qc = {
        "firing_rate_hz": dict(zip(names, map(float, rates), strict=True)),
        "median_rate_hz": float(np.median(rates)),
        "silent": names[silent].tolist(),
        "min_rate": opts["min_rate"],
        "note": "spike counts are passed through unchanged",
    }
    return clean, qc
