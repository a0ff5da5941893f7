"""Functional connectivity of a dataset's sessions and QC-FC (:func:`run`; the step is
:mod:`neurodag.steps.connectivity`).

Per session, parcel-mean series of the clean store over its kept volumes (``sample_mask``)
give a parcel x parcel matrix by :class:`nilearn.connectome.ConnectivityMeasure`
(``correlation``, ``partial correlation``, ``tangent`` across sessions, ``covariance`` or
``precision``). The same parcels of the session's raw store, when given (the same volumes,
linearly detrended, nothing regressed), give the "before denoising" side of QC-FC
(:mod:`neurodag.connectivity.qcfc`).

``connectivity.nc``: ``connectivity`` (session, region, region2), ``fc_before`` and
``fc_after`` (session-mean Pearson FC), ``qcfc_before``/``qcfc_after`` (region, region2),
the parcel series for the carpet plot ``series`` (session, frame, region; NaN past a
session's end) with ``sample_mask``, ``framewise_displacement`` and ``std_dvars`` (session,
frame), and the parcel order as coordinate ``region`` (with ``hemisphere``, ``n_channels``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import xarray as xr
from scipy import signal as sps

from ..errors import InputError
from . import atlas as atlases
from . import qcfc

KINDS = ("correlation", "partial correlation", "tangent", "covariance", "precision")


def _where(ds: xr.Dataset, key: str) -> str:
    return str(ds.encoding.get("source") or key)


def _session(key: str, clean: xr.Dataset, raw: xr.Dataset | None, atlas: str) -> dict:
    if clean.attrs.get("modality") != "fmri":
        raise InputError(f"{_where(clean, key)}: connectivity is for fMRI, not "
                         f"{clean.attrs.get('modality')!r}")
    clean = clean.load()
    x = np.asarray(clean["signal"].values, dtype=np.float64)
    n = clean.sizes["time"]
    mask = clean["sample_mask"].values.astype(bool) if "sample_mask" in clean \
        else np.ones(n, dtype=bool)
    parcels = atlases.parcels(clean, atlas, np.ptp(x, axis=0) > 0)
    k = len(parcels.names)
    before = None
    if raw is not None:
        raw = raw.sel(time=clean["time"].values, method="nearest").load()
        before = sps.detrend(atlases.parcel_means(raw["signal"].values, parcels.labels, k),
                             axis=0)
    trace = {v: clean[v].values.astype(float) if v in clean else np.full(n, np.nan)
             for v in ("framewise_displacement", "std_dvars")}
    return {"key": key, "sfreq": float(clean.attrs["sfreq"]), "n_frames": n,
            "time": clean["time"].values, "after": atlases.parcel_means(x, parcels.labels, k),
            "before": before, "mask": mask, "parcels": parcels, **trace,
            "centroids": atlases.centroids(clean, parcels.labels, k)}


def _common(sessions: list[dict]) -> list[str]:
    names = sessions[0]["parcels"].names
    common = set.intersection(*(set(s["parcels"].names) for s in sessions))
    order = [n for n in names if n in common]
    if len(order) < 2:
        raise InputError("connectivity: the sessions share fewer than 2 parcels")
    for s in sessions:
        idx = [s["parcels"].names.index(n) for n in order]
        for key in ("after", "before"):
            if s[key] is not None:
                s[key] = s[key][:, idx]
        if s["centroids"] is not None:
            s["centroids"] = s["centroids"][idx]
    return order


def run(clean: Mapping[str, xr.Dataset], raw: Mapping[str, xr.Dataset] | None = None, *,
        kind: str = "correlation", atlas: str = "auto", qcfc_min_sessions: int = 10,
        qcfc_window_s: float = 60.0) -> tuple[xr.Dataset, dict]:
    """Connectivity of every session and QC-FC; see the module docstring.

    Parameters
    ----------
    clean : mapping of str to xarray.Dataset
        The sessions' preprocessed fMRI stores, by the name they get in the output's
        ``session`` coordinate (``DATASET/SESSION`` in the pipeline).
    raw : mapping of str to xarray.Dataset, optional
        The same sessions' raw stores (QC-FC before denoising); without them (or without
        any one of them) only the "after" side is computed.
    kind, atlas, qcfc_min_sessions, qcfc_window_s
        The options (:class:`neurodag.steps.connectivity.ConnectivityOptions`).

    Returns
    -------
    ds : xarray.Dataset
        ``connectivity.nc``'s variables (see the module docstring).
    metrics : dict
        Parcels, per-session facts and the QC-FC summaries.
    """
    from nilearn.connectome import ConnectivityMeasure

    raw = raw or {}
    sessions = [_session(key, ds, raw.get(key), atlas) for key, ds in clean.items()]
    if kind == "tangent" and len(sessions) < 2:
        raise InputError("connectivity.kind tangent needs at least 2 sessions (it is the "
                         f"deviation from their group mean); got {len(sessions)}")
    order = _common(sessions)
    kept = [s["after"][s["mask"]] for s in sessions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nilearn's notes on standardize defaults
        conn = ConnectivityMeasure(kind=kind, standardize="zscore_sample").fit_transform(kept)
    kind_qc, unit_list = qcfc.units(sessions, qcfc_min_sessions, qcfc_window_s, 10)
    fc_after = qcfc.pearson_fc(kept)
    have_before = all(s["before"] is not None for s in sessions)
    fc_before = qcfc.pearson_fc([s["before"] for s in sessions]) if have_before else None
    qc = _qcfc(sessions, unit_list, have_before)
    ds = _dataset(sessions, order, conn, fc_before, fc_after, qc, kind)
    first = sessions[0]["parcels"]
    ds.attrs.update(kind=kind, atlas=first.atlas, atlas_reference=first.reference,
                    qcfc_units=kind_qc, parcel_order=", ".join(order))
    metrics = {
        "kind": kind, "atlas": first.atlas, "atlas_reference": first.reference,
        "n_parcels": len(order), "parcels_dropped": first.dropped,
        "sessions": [_session_metrics(s) for s in sessions],
        "qcfc": {"units": kind_qc, "n_units": len(unit_list),
                 "window_s": qcfc_window_s if kind_qc == "window" else None,
                 "before": qc.get("before_summary"), "after": qc.get("after_summary"),
                 "note": qc.get("note", "")},
    }
    return ds, metrics


def _qcfc(sessions, unit_list, have_before) -> dict:
    if len(unit_list) < 3:
        return {"note": f"{len(unit_list)} QC-FC unit(s): at least 3 needed"}
    motion = np.array([np.nanmean(sessions[i]["framewise_displacement"][f]) for i, f in unit_list])
    if not np.isfinite(motion).all():
        return {"note": "no framewise displacement (no motion confounds): no QC-FC"}
    out = {"motion": motion}
    k = sessions[0]["after"].shape[1]
    centroids = sessions[0]["centroids"]
    distance = None
    if centroids is not None:
        iu = np.triu_indices(k, k=1)
        distance = np.linalg.norm(centroids[iu[0]] - centroids[iu[1]], axis=1)
    sides = (("after", lambda i, f: sessions[i]["after"][f[sessions[i]["mask"][f]]]),)
    if have_before:
        sides = (("before", lambda i, f: sessions[i]["before"][f]), *sides)
    for side, pick in sides:
        series = [pick(i, f) for i, f in unit_list]
        usable = [len(x) >= 10 for x in series]
        fc = qcfc.pearson_fc([x for x, u in zip(series, usable, strict=True) if u])
        r, p = qcfc.edge_correlation(fc, motion[np.asarray(usable)])
        out[side] = r
        out[f"{side}_summary"] = qcfc.summary(r, p, distance)
    return out


def _square(r: np.ndarray | None, k: int) -> np.ndarray:
    out = np.full((k, k), np.nan)
    if r is not None:
        iu = np.triu_indices(k, k=1)
        out[iu] = r
        out[(iu[1], iu[0])] = r
    return out


def _dataset(sessions, order, conn, fc_before, fc_after, qc, kind) -> xr.Dataset:
    k, n_max = len(order), max(s["n_frames"] for s in sessions)

    def padded(key, fill=np.nan, dtype=np.float64):
        out = np.full((len(sessions), n_max) + (sessions[0][key].shape[1:]), fill, dtype=dtype)
        for i, s in enumerate(sessions):
            out[i, : s["n_frames"]] = s[key]
        return out

    first = sessions[0]["parcels"]
    hemi = dict(zip(first.names, first.hemisphere, strict=True))
    counts = np.bincount(first.labels[first.labels >= 0], minlength=len(first.names))
    count = dict(zip(first.names, counts.tolist(), strict=True))
    region = {"region": order, "hemisphere": ("region", [hemi[n] for n in order]),
              "n_channels": ("region", [count[n] for n in order])}
    dims3 = ("session", "region", "region2")
    ds = xr.Dataset(
        {"connectivity": (dims3, conn, {"kind": kind}),
         "fc_after": (dims3, fc_after, {"kind": "Pearson correlation, kept volumes"}),
         "qcfc_after": (("region", "region2"), _square(qc.get("after"), k)),
         "series": (("session", "frame", "region"), padded("after").astype(np.float32)),
         "sample_mask": (("session", "frame"), padded("mask", False, bool)),
         "framewise_displacement": (("session", "frame"), padded("framewise_displacement")),
         "std_dvars": (("session", "frame"), padded("std_dvars")),
         "frame_time": (("session", "frame"), padded("time"))},
        coords={"session": [s["key"] for s in sessions], **region,
                "region2": ("region2", order)},
    )
    if fc_before is not None:
        ds["fc_before"] = (dims3, fc_before, {"kind": "Pearson correlation, raw (detrended)"})
        ds["qcfc_before"] = (("region", "region2"), _square(qc.get("before"), k))
        ds["series_before"] = (("session", "frame", "region"),
                               padded("before").astype(np.float32))
    if "motion" in qc:
        ds.attrs["qcfc_unit_mean_fd"] = [float(v) for v in qc["motion"]]
    return ds


def _session_metrics(s: dict) -> dict:
    fd, dv = s["framewise_displacement"], s["std_dvars"]
    ok = np.isfinite(fd) & np.isfinite(dv)
    r = float(np.corrcoef(fd[ok], dv[ok])[0, 1]) if ok.sum() > 2 and np.std(fd[ok]) > 0 \
        and np.std(dv[ok]) > 0 else None
    return {"session": s["key"], "n_frames": s["n_frames"], "n_kept": int(s["mask"].sum()),
            "fraction_kept": float(s["mask"].mean()),
            "mean_fd": float(np.nanmean(fd)) if np.isfinite(fd).any() else None,
            "fd_dvars_r": r}
