"""fMRI: dummy scans, confounds, censoring, detrending, band-pass and standardisation (nilearn).

The regressors and the sample mask come from :mod:`neurodag.preprocess.fmri_confounds`
(nilearn's named strategies through ``load_confounds``, or neurodag's selections); then
``nilearn.signal.clean(sample_mask=...)`` does what nilearn and XCP-D do with censored
volumes: interpolate them (cubic spline) before detrending and the Butterworth band-pass,
remove them after, then regress the confounds out of the kept volumes and standardise.

``clean.zarr`` holds the kept volumes exactly as ``signal.clean`` returns them. Its time axis
runs from the first to the last kept volume (leading dummy scans and censored volumes at
either end are dropped: nilearn does not extrapolate), and it stays regular: censored
volumes inside hold a cubic-spline interpolation of the cleaned kept volumes, for display
and for steps that need a regular grid, and the boolean variable ``sample_mask`` (False =
censored) tells later steps to skip them. ``framewise_displacement`` and ``std_dvars`` are
stored along time too.

A run with less than ``censor.min_time`` seconds of kept volumes is refused in one line and
nothing is written. Strategies, dummy scans and thresholds: see :data:`neurodag.preprocess.DEFAULTS`
and the README.

qc.json: the confounds regressed and how they were chosen, dummy scans, censoring (volumes
censored and why, fraction kept), FD and standardised DVARS (summaries, series, their
correlation), the filter and the fraction of variance removed per channel.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from nilearn import signal as nsignal
from scipy import signal as sps
from scipy.interpolate import CubicSpline

from ..errors import InputError
from . import fmri_confounds
from .ephys import band_label, check_band, where

#: Butterworth order nilearn uses.
ORDER = 5


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


def run(ds: xr.Dataset, opts: dict, options_json: str) -> tuple[xr.Dataset, dict]:
    """Clean one fMRI contract Dataset; see the module docstring."""
    name = where(ds)
    sfreq = float(ds.attrs["sfreq"])
    tr = 1.0 / sfreq
    low, high = check_band(opts["bandpass"], sfreq)
    n = ds.sizes["time"]
    x = np.asarray(ds["signal"].values, dtype=np.float64)
    flat = np.ptp(x, axis=0) == 0
    if flat.all():
        raise InputError(f"{name}: all {x.shape[1]} fMRI channels are flat (constant); "
                         "nothing to preprocess")
    sel, traces = fmri_confounds.select(ds, x[:, ~flat], opts, name)
    kept = sel.kept
    _check_kept(name, kept, tr, opts["censor"])
    first, last = int(np.argmax(kept)), int(n - 1 - np.argmax(kept[::-1]))
    need = min_samples(sfreq, low, high)
    if last - first + 1 < need:
        raise InputError(f"{name}: recording has {last - first + 1} volumes"
                         + (f" (of {n}) after dummy scans and censoring" if first or
                            last < n - 1 else "")
                         + f" but the {band_label(low, high)} (Butterworth order {ORDER}) "
                         f"needs at least {need}")
    mask = np.flatnonzero(kept) if not kept.all() else None
    confounds = None if sel.regressors is None else sel.regressors.to_numpy(np.float64)
    kw = dict(detrend=opts["detrend"], low_pass=high, high_pass=low, t_r=tr,
              filter="butterworth", standardize_confounds=True, sample_mask=mask)
    with warnings.catch_warnings():
        # nilearn's note to developers about its own future confound scaling; nothing to do.
        warnings.filterwarnings("ignore", message="From release 0.14.0, confounds",
                                category=DeprecationWarning)
        cleaned = nsignal.clean(x, confounds=confounds, standardize=None, **kw)
        std = opts["standardize"]
        if std == "psc":  # nilearn adds the means back first when they were filtered out
            out = nsignal.clean(x, confounds=confounds, standardize="psc", **kw)
        elif std == "none":
            out = cleaned
        else:
            out = nsignal.standardize_signal(cleaned, detrend=False, standardize=std)
    xk = x[kept] - x[kept].mean(axis=0)
    var_in = xk.var(axis=0)
    removed = np.where(var_in > 0, 1.0 - cleaned.var(axis=0) / np.where(var_in > 0, var_in, 1),
                       0.0)
    out[:, flat] = 0.0
    clean = _clean_dataset(ds, out, kept, first, last, traces, std, options_json)
    qc = {
        "confounds": {"strategy": opts["confounds"], "route": sel.route,
                      "regressed": [] if sel.regressors is None else
                      [str(c) for c in sel.regressors.columns],
                      "n": 0 if sel.regressors is None else int(sel.regressors.shape[1]),
                      "global_signal": opts["global_signal"],
                      "note": "; ".join(sel.notes)},
        "dummy_scans": {"n": len(sel.dummy), "volumes": sel.dummy, "how": sel.dummy_how},
        "censoring": _censoring(sel, kept, first, last, tr, opts["censor"]),
        "filters": [{"kind": band_label(low, high), "low": low, "high": high,
                     "design": f"Butterworth order {ORDER}, zero phase (nilearn.signal.clean)",
                     "min_volumes": need}],
        "detrend": opts["detrend"], "standardize": std,
        "framewise_displacement": _summary(*traces["fd"], opts["censor"]["fd_threshold"],
                                           "mm"),
        "std_dvars": _summary(*traces["dvars"], opts["censor"]["std_dvars_threshold"], ""),
        "fd_dvars_correlation": _correlation(traces["fd"][0], traces["dvars"][0]),
        "flat_channels": ds["channel"].values[flat].astype(str).tolist(),
        "variance_removed": {"median": float(np.median(removed)),
                             "per_channel": dict(zip(ds["channel"].values.astype(str),
                                                     map(float, removed), strict=True))},
    }
    return clean, qc


def _check_kept(name: str, kept: np.ndarray, tr: float, censor: dict) -> None:
    seconds = kept.sum() * tr
    if not kept.any() or seconds < censor["min_time"]:
        raise InputError(f"{name}: {int(kept.sum())} of {kept.size} volumes ({seconds:.0f} s) "
                         f"remain after dummy scans and censoring, less than censor.min_time "
                         f"{censor['min_time']:g} s: run excluded")


def _clean_dataset(ds, out, kept, first, last, traces, std, options_json) -> xr.Dataset:
    """The clean store: first..last kept volume, censored ones inside interpolated."""
    span = slice(first, last + 1)
    inside = kept[span]
    full = np.empty((last - first + 1, out.shape[1]))
    full[inside] = out
    if not inside.all():
        # The spline is linear in the data: interpolate the identity once (kept x kept)
        # and apply those weights, instead of fitting one spline per channel (36 s -> 1 s
        # on 20,484 vertices).
        t = np.arange(inside.size, dtype=float)
        weights = CubicSpline(t[inside], np.eye(int(inside.sum())))(t[~inside])
        full[~inside] = weights @ out
    clean = ds.isel(time=span).copy()
    clean["signal"] = (("time", "channel"), full.astype(ds["signal"].dtype),
                       {"units": "%" if std == "psc" else "a.u.",
                        "censored_volumes": "cubic-spline interpolation of the cleaned kept "
                                            "volumes; skip them (sample_mask False)"})
    clean["sample_mask"] = ("time", inside, {"description": "True: volume kept; False: "
                                             "censored (interpolated in signal, skip it)"})
    for key, var, units in (("fd", "framewise_displacement", "mm"), ("dvars", "std_dvars", "")):
        values = traces[key][0]
        if values is not None:
            clean[var] = ("time", np.asarray(values, dtype=np.float64)[span],
                          {"units": units, "source": traces[key][1]})
    clean.attrs["preprocess"] = options_json
    return clean


def _censoring(sel, kept, first, last, tr, censor) -> dict:
    n = kept.size
    return {
        **censor, "n_volumes": n, "n_kept": int(kept.sum()),
        "fraction_kept": float(kept.mean()), "kept_seconds": float(kept.sum() * tr),
        "censored": np.flatnonzero(~kept).tolist(),
        "by": {k: v for k, v in sel.censored.items()},
        "trimmed": {"start": first, "end": n - 1 - last},
    }


def _summary(series, source: str, threshold, units: str) -> dict:
    if series is None:
        return {"source": source}
    v = np.asarray(series, dtype=float)
    finite = v[np.isfinite(v)]
    if not finite.size:
        return {"source": source}
    out = {"source": source, "mean": float(finite.mean()), "max": float(finite.max()),
           "units": units, "series": [None if not np.isfinite(a) else float(a) for a in v]}
    if threshold is not None:
        out.update(threshold=threshold, fraction_above=float((finite > threshold).mean()))
    return out


def _correlation(a, b) -> float | None:
    if a is None or b is None:
        return None
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return None
    return float(np.corrcoef(a[ok], b[ok])[0, 1])
