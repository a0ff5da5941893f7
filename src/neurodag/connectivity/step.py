"""The ``connectivity`` step: a dataset's sessions -> ``connectivity.nc`` + ``metrics.json``.

Per session, parcel-mean series of ``clean.zarr`` over its kept volumes (``sample_mask``)
give a parcel x parcel matrix by :class:`nilearn.connectome.ConnectivityMeasure`
(``correlation``, ``partial correlation``, ``tangent`` across sessions, ``covariance`` or
``precision``). The same parcels of ``raw.zarr`` beside it (the same volumes, linearly
detrended, nothing regressed) give the "before denoising" side of QC-FC
(:mod:`neurodag.connectivity.qcfc`).

``connectivity.nc``: ``connectivity`` (session, region, region2), ``fc_before`` and
``fc_after`` (session-mean Pearson FC), ``qcfc_before``/``qcfc_after`` (region, region2),
the parcel series for the carpet plot ``series`` (session, frame, region; NaN past a
session's end) with ``sample_mask``, ``framewise_displacement`` and ``std_dvars`` (session,
frame), and the parcel order as coordinate ``region`` (with ``hemisphere``, ``n_channels``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import signal as sps

from .. import provenance, store
from ..errors import ConfigError, InputError
from . import atlas as atlases
from . import qcfc

KINDS = ("correlation", "partial correlation", "tangent", "covariance", "precision")
DEFAULTS = {"kind": "correlation", "atlas": "auto", "qcfc_min_sessions": 10,
            "qcfc_window_s": 60.0}


def check_options(options: dict) -> dict:
    """Defaults filled in; a one-line :class:`ConfigError` for an unknown or bad option."""
    bad = sorted(set(options) - set(DEFAULTS))
    if bad:
        raise ConfigError(f"connectivity: unknown option(s) {bad} (known: {', '.join(DEFAULTS)})")
    opts = {**DEFAULTS, **options}
    if opts["kind"] not in KINDS:
        raise ConfigError(f"connectivity.kind: expected one of {list(KINDS)}, got {opts['kind']!r}")
    if opts["atlas"] not in atlases.ATLASES:
        raise ConfigError(f"connectivity.atlas: expected one of {list(atlases.ATLASES)}, "
                          f"got {opts['atlas']!r}")
    if not isinstance(opts["qcfc_min_sessions"], int) or opts["qcfc_min_sessions"] < 3:
        raise ConfigError("connectivity.qcfc_min_sessions: expected an integer >= 3, got "
                          f"{opts['qcfc_min_sessions']!r}")
    if not isinstance(opts["qcfc_window_s"], (int, float)) or opts["qcfc_window_s"] <= 0:
        raise ConfigError("connectivity.qcfc_window_s: expected a number > 0, got "
                          f"{opts['qcfc_window_s']!r}")
    return opts


def _session(clean_path: Path, atlas: str) -> dict:
    clean = store.read_signal(clean_path).load()
    if clean.attrs.get("modality") != "fmri":
        raise InputError(f"{clean_path}: connectivity is for fMRI, not "
                         f"{clean.attrs.get('modality')!r}")
    x = np.asarray(clean["signal"].values, dtype=np.float64)
    n = clean.sizes["time"]
    mask = clean["sample_mask"].values.astype(bool) if "sample_mask" in clean \
        else np.ones(n, dtype=bool)
    parcels = atlases.parcels(clean, atlas, np.ptp(x, axis=0) > 0)
    k = len(parcels.names)
    raw_path = clean_path.parent / "raw.zarr"
    before = None
    if raw_path.exists():
        raw = store.read_signal(raw_path)
        raw = raw.sel(time=clean["time"].values, method="nearest").load()
        before = sps.detrend(atlases.parcel_means(raw["signal"].values, parcels.labels, k),
                             axis=0)
    trace = {v: clean[v].values.astype(float) if v in clean else np.full(n, np.nan)
             for v in ("framewise_displacement", "std_dvars")}
    return {"path": clean_path, "key": f"{clean_path.parent.parent.name}/{clean_path.parent.name}",
            "sfreq": float(clean.attrs["sfreq"]), "n_frames": n, "time": clean["time"].values,
            "after": atlases.parcel_means(x, parcels.labels, k), "before": before,
            "mask": mask, "parcels": parcels, **trace,
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


def run(clean_stores, *, kind="correlation", atlas="auto", qcfc_min_sessions=10,
        qcfc_window_s=60.0) -> tuple[xr.Dataset, dict]:
    """Connectivity of every session and QC-FC; see the module docstring."""
    from nilearn.connectome import ConnectivityMeasure

    sessions = [_session(Path(p), atlas) for p in clean_stores]
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


def run_stores(clean_stores, out_dir, *, config_digest: str = "", **options) -> dict:
    """:func:`run` on ``results/{dataset}/{session}/clean.zarr`` stores; write
    ``connectivity.nc`` and ``metrics.json`` into ``out_dir`` (both or neither)."""
    opts = check_options(options)
    paths = [Path(p) for p in clean_stores]
    ds, metrics = run(paths, **opts)
    raws = [p.parent / "raw.zarr" for p in paths if (p.parent / "raw.zarr").exists()]
    provenance.stamp(ds, [*paths, *raws], source="sessions", config_digest=config_digest)
    metrics["provenance"] = {k: ds.attrs[k] for k in ("inputs", "config_digest", "created")}
    metrics["options"] = opts
    out_dir = Path(out_dir)
    with store.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        store.write_netcdf(ds, tmp / "connectivity.nc")
        store.write_json(metrics, tmp / "metrics.json")
    return {"results": out_dir / "connectivity.nc", "metrics": out_dir / "metrics.json"}
