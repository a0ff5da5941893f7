"""fMRI: confound regression, detrending, band-pass and standardisation (nilearn).

``nilearn.signal.clean`` detrends, band-passes (Butterworth, zero phase) the signals and
the confounds alike, regresses the confounds out and standardises ("zscore_sample" by
default). Confounds come from the contract's ``confounds`` variable (fMRIPrep columns):

``"default"``
    ``trans_x/y/z``, ``rot_x/y/z``, their ``*_derivative1`` columns when present, and
    ``a_comp_cor_00`` to ``a_comp_cor_04`` (those present).
``"motion"``, ``"compcor"``
    Only the motion or only the aCompCor columns; ``"none"``: no confounds.
a list of names
    Exactly those columns (a missing one is an error naming the ones available).

Fallback: when a strategy finds none of its columns (no confounds in the recording),
the signals are only detrended, band-passed and standardised, and qc.json says so under
``confounds.note`` (global signal is never regressed by default).
NaN in confounds (fMRIPrep leaves the first row of derivatives and FD empty) become 0
for derivative/FD columns and the column mean otherwise.

qc.json: the confounds regressed, framewise displacement (the ``framewise_displacement``
column, else Power's FD computed from the six motion columns with rotations on a 50 mm
sphere: mean, max, fraction above ``fd_threshold`` mm), the filter and the fraction of
variance removed (before standardisation) per parcel.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr
from nilearn import signal as nsignal
from scipy import signal as sps

from ..errors import InputError
from .ephys import band_label, check_band, where

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
COMPCOR = tuple(f"a_comp_cor_{i:02d}" for i in range(5))
#: Butterworth order nilearn uses.
ORDER = 5


def confound_columns(strategy, available: list[str], name: str) -> list[str]:
    """The confound columns a strategy (or list) selects among ``available``."""
    if isinstance(strategy, list):
        missing = [c for c in strategy if c not in available]
        if missing:
            raise InputError(f"{name}: confound(s) {missing} not in the recording "
                             f"(available: {', '.join(available) or 'none'})")
        return list(strategy)
    motion = [c for m in MOTION for c in (m, f"{m}_derivative1") if c in available]
    compcor = [c for c in COMPCOR if c in available]
    return {"default": motion + compcor, "motion": motion, "compcor": compcor,
            "none": []}[strategy]


def min_samples(sfreq: float, low, high) -> int:
    """Samples the zero-phase Butterworth filter needs (scipy's sosfiltfilt pad + 1)."""
    nyq = sfreq / 2.0
    if low is not None and high is not None:
        sos = sps.butter(ORDER, [low, high], btype="band", fs=sfreq, output="sos")
    elif low is not None:
        sos = sps.butter(ORDER, low, btype="high", fs=sfreq, output="sos")
    elif high is not None:
        sos = sps.butter(ORDER, min(high, nyq * 0.99), btype="low", fs=sfreq, output="sos")
    else:
        return 2
    zeros = min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
    return int(3 * (2 * len(sos) + 1 - zeros)) + 1


def framewise_displacement(conf: pd.DataFrame) -> tuple[np.ndarray | None, str]:
    if "framewise_displacement" in conf:
        return conf["framewise_displacement"].to_numpy(float), "confounds column"
    if all(m in conf for m in MOTION):
        d = np.abs(np.diff(conf[list(MOTION)].to_numpy(float), axis=0))
        fd = np.r_[np.nan, d[:, :3].sum(1) + 50.0 * d[:, 3:].sum(1)]
        return fd, "computed from the motion columns (Power 2012, rotations on a 50 mm sphere)"
    return None, "no motion columns"


def run(ds: xr.Dataset, opts: dict, options_json: str) -> tuple[xr.Dataset, dict]:
    """Clean one fMRI contract Dataset; see the module docstring."""
    name = where(ds)
    sfreq = float(ds.attrs["sfreq"])
    low, high = check_band(opts["bandpass"], sfreq)
    n = ds.sizes["time"]
    need = min_samples(sfreq, low, high)
    if n < need:
        raise InputError(f"{name}: recording has {n} volumes but the "
                         f"{band_label(low, high)} (Butterworth order {ORDER}) needs at least "
                         f"{need}")
    x = np.asarray(ds["signal"].values, dtype=np.float64)
    flat = np.ptp(x, axis=0) == 0
    if flat.all():
        raise InputError(f"{name}: all {x.shape[1]} fMRI channels are flat (constant); "
                         "nothing to preprocess")

    conf = (pd.DataFrame(ds["confounds"].values, columns=ds["confound"].values.astype(str))
            if "confounds" in ds else pd.DataFrame(index=range(n)))
    cols = confound_columns(opts["confounds"], list(conf.columns), name)
    note = ""
    if not cols and opts["confounds"] != "none":
        note = ("no confounds of strategy " f"{opts['confounds']!r} in the recording: "
                "detrending, band-pass and standardisation only")
    regressors = _fill_nan(conf[cols]) if cols else None
    kw = dict(detrend=opts["detrend"], low_pass=high, high_pass=low, t_r=1.0 / sfreq,
              filter="butterworth", standardize_confounds=True)
    with warnings.catch_warnings():
        # nilearn's note to developers about its own future confound scaling; nothing to do.
        warnings.filterwarnings("ignore", message="From release 0.14.0, confounds",
                                category=DeprecationWarning)
        cleaned = nsignal.clean(x, confounds=None if regressors is None else
                                regressors.to_numpy(), standardize=None, **kw)
    xc = x - x.mean(axis=0)
    var_in = xc.var(axis=0)
    removed = np.where(var_in > 0, 1.0 - cleaned.var(axis=0) / np.where(var_in > 0, var_in, 1),
                       0.0)
    std = opts["standardize"]
    out = cleaned if std == "none" else nsignal.standardize_signal(
        cleaned, detrend=False, standardize=std)
    out[:, flat] = 0.0

    clean = ds.copy()
    clean["signal"] = (("time", "channel"), out.astype(ds["signal"].dtype),
                       {"units": "%" if std == "psc" else "a.u."})
    clean.attrs["preprocess"] = options_json
    fd, fd_source = framewise_displacement(conf)
    qc = {
        "confounds": {"strategy": opts["confounds"], "regressed": cols, "n": len(cols),
                      "note": note},
        "filters": [{"kind": band_label(low, high), "low": low, "high": high,
                     "design": f"Butterworth order {ORDER}, zero phase (nilearn.signal.clean)",
                     "min_volumes": need}],
        "detrend": opts["detrend"], "standardize": std,
        "framewise_displacement": _fd_summary(fd, fd_source, opts["fd_threshold"]),
        "flat_channels": ds["channel"].values[flat].astype(str).tolist(),
        "variance_removed": {"median": float(np.median(removed)),
                             "per_channel": dict(zip(ds["channel"].values.astype(str),
                                                     map(float, removed), strict=True))},
    }
    return clean, qc


def _fill_nan(conf: pd.DataFrame) -> pd.DataFrame:
    out = conf.copy()
    for c in out.columns:
        if out[c].isna().any():
            fill = 0.0 if ("derivative" in c or c == "framewise_displacement") else \
                out[c].mean()
            out[c] = out[c].fillna(0.0 if pd.isna(fill) else fill)
    return out


def _fd_summary(fd, source: str, threshold: float) -> dict:
    if fd is None:
        return {"source": source}
    v = fd[np.isfinite(fd)]
    if not v.size:
        return {"source": source}
    return {"source": source, "mean": float(v.mean()), "max": float(v.max()),
            "threshold": threshold, "fraction_above": float((v > threshold).mean()),
            "units": "mm"}
