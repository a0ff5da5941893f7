"""The ``trsa`` step's analysis: which RDMs a dataset gives, and what they can identify.

Three layouts, chosen by ``regions`` (``"auto"`` picks the first that applies):

``regions``
    One RDM per session and channel group: the contract's ``region`` coordinate, scalp
    quadrants from the channel positions (sensor-space EEG/MEG), or a grouping given in
    config (``{name: [channels]}``). Identification: does a group's geometry in a held-out
    recording sit closer to the same group's in the other recordings than to any other
    group's (the paper's brain-region test)?
``time``
    Sensor space without positions or regions: one RDM per session and time window after
    the events, over all data channels, the conditions being the event labels
    (time-resolved RSA). Identification: is a window's geometry closer to the same window's
    in the other recordings? It needs >= 3 event labels (an RDM of 2 conditions has one
    value); with fewer there is one RDM per session over all channels whose conditions are
    (label, time bin) pairs, and nothing to identify.
``all``
    One RDM per session over all data channels.

Identification runs where it is defined (>= 2 recordings and >= 2 groups or windows);
``metrics["identified"]`` names what was identified or is empty, and ``metrics["note"]``
says in one line what could not be computed and why.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from ...errors import InputError, check_known
from . import patterns as _patterns
from . import stability as _stability
from .trsa import _vectors, geodesic, geotopological, identify, lu_grid, rank_transform, rdms

#: Time windows of the time-resolved layout when ``time_bins`` is not given.
TIME_WINDOWS = 5
LAYOUTS = ("auto", "region", "quadrant", "time", "all")


def _common_labels(datasets) -> list[str]:
    common = [set(_patterns.event_labels(d)) for d in datasets]
    labels = [x for x in _patterns.event_labels(datasets[0]) if all(x in c for c in common)]
    if not labels:
        # say what each session has, so the odd one out shows
        has = "; ".join(f"{d.attrs.get('source', f'session {i}')}: "
                        + ", ".join(sorted(c)[:4]) + (" ..." if len(c) > 4 else "")
                        for i, (d, c) in enumerate(zip(datasets[:4], common[:4], strict=True)))
        more = f"; and {len(datasets) - 4} more" if len(datasets) > 4 else ""
        raise InputError(f"trsa: no event label common to all sessions ({has}{more})")
    return labels


def _check_regions(regions) -> None:
    if regions is None or isinstance(regions, Mapping) or regions in LAYOUTS:
        return
    raise InputError(f"trsa regions={regions!r}: expected one of {list(LAYOUTS)} or a mapping "
                     "{group: [channels]}")


def _groups(pats, datasets, regions, min_channels) -> tuple[list[str], list[dict], str]:
    """The channel groups present in every session, their maps, and how they were found."""
    maps = [_patterns.region_map(p, regions, positions=d, min_channels=min_channels)
            for p, d in zip(pats, datasets, strict=True)]
    names = [r for r in maps[0] if all(r in m for m in maps)]
    if isinstance(regions, Mapping):
        how = "channel groups from config"
    elif "region" in pats[0].coords and regions in ("auto", "region"):
        how = "the recordings' region labels"
    else:
        how = "scalp quadrants from channel positions"
    return names, maps, how


def _window_items(p: xr.DataArray, labels: list[str], base: dict) -> list[xr.DataArray]:
    """One pattern array per time window, its conditions the labels (time-resolved RSA)."""
    out = []
    starts = np.unique(p["bin_start"].values)
    for a in starts:
        sel = p.isel(condition=np.flatnonzero(p["bin_start"].values == a))
        b = float(sel["bin_stop"].values[0])
        sel = sel.assign_coords(condition=sel["label"].values).drop_vars(
            ["label", "bin_start", "bin_stop", "region"], errors="ignore")
        out.append(sel.sel(condition=labels).assign_coords(
            **base, region="all", window=f"{float(a):.3f}-{b:.3f} s"))
    return out


def _reliability(raw: xr.DataArray, key: str) -> dict:
    """Mean Spearman correlation between recordings of each group's RDMs."""
    out = {}
    for r in dict.fromkeys(raw[key].values.astype(str).tolist()):
        v = _vectors(raw.isel(rdm=np.flatnonzero(raw[key].values.astype(str) == r)))
        rho = rankdata(v, axis=1)
        ok = np.ptp(rho, axis=1) > 0
        if ok.sum() < 2:
            out[r] = None   # a constant RDM has no rank correlation
            continue
        c = np.corrcoef(rho[ok])[np.triu_indices(int(ok.sum()), 1)]
        out[r] = float(np.mean(c))
    return out


def run(datasets: Sequence[xr.Dataset], *, metric: str = "correlation", lower: float = 0.2,
        upper: float = 0.8, step: float = 0.05, regions="auto", labels=None,
        min_channels: int = 3, **pattern_options) -> tuple[xr.Dataset, dict]:
    """RDMs per session and channel group (or time window), transforms, identification.

    Parameters
    ----------
    datasets : sequence of xarray.Dataset
        Contract Datasets with events, one per session (same modality).
    metric : {"correlation", "euclidean", "crossnobis"}
    lower, upper : float
        The (l, u) of the stored GT and geodesic RDMs and of the headline accuracies.
    step : float
        Grid step of the (l, u) accuracy map.
    regions : "auto", "region", "quadrant", "time", "all", mapping or None
        The layout (module docstring): ``"region"``/``"quadrant"``/a mapping as
        :func:`neurodag.models.rsa.patterns.region_map`; ``"time"`` time-resolved RDMs
        over all channels; ``"all"`` (or None) one RDM over all channels. ``"auto"``:
        regions from the ``region`` coordinate, else quadrants from positions, else
        time-resolved (also when no group has ``min_channels`` channels in every session).
    labels : sequence of str, optional
        Event labels (default: those present in every session).
    min_channels : int
        Smallest channel group kept as a region.
    **pattern_options
        Passed to :func:`~neurodag.models.rsa.patterns.epochs` (``window``, ``baseline``,
        ``time_bins``, ``n_folds``, ``normalize``) or
        :func:`~neurodag.models.rsa.patterns.glm_betas` (fMRI). For ephys, ``time_bins``
        defaults to 5 when there are fewer than 3 labels (conditions are then (label,
        time bin) pairs) and is the number of windows of the time-resolved layout (5).

    Returns
    -------
    results : xarray.Dataset
        ``raw``, ``rank``, ``gt``, ``geodesic`` over (rdm, condition, condition2) with
        ``subject``, ``session``, ``recording``, ``region`` (and ``window`` when
        time-resolved) along ``rdm``; ``accuracy`` over (lower, upper) when something is
        identified. attrs ``layout`` and ``identified``.
    metrics : dict
        Counts, conditions, ``layout``, ``identified``, accuracies (``accuracy_rdm`` raw,
        ``accuracy_gt``/``accuracy_geodesic`` at (lower, upper), ``best_lu``, ``chance``),
        ``rdm_reliability`` (mean Spearman correlation between sessions, per group),
        ``geometric_stability`` (Shesha of each session's patterns over all its channels)
        and ``note`` (what could not be computed, in one line).
    """
    if not datasets:
        raise InputError("trsa: no datasets")
    _check_regions(regions)
    where = str(datasets[0].attrs.get("source", "dataset 0"))
    modality = {d.attrs.get("modality") for d in datasets}
    if len(modality) > 1:
        raise InputError(f"trsa: sessions mix modalities {sorted(map(str, modality))}")
    ephys = modality != {"fmri"}
    labels = [str(x) for x in labels] if labels is not None else _common_labels(datasets)
    opts = dict(pattern_options)
    known = _patterns.epochs if ephys else _patterns.glm_betas
    check_known("trsa", opts, set(inspect.signature(known).parameters) - {"ds", "labels"})
    if regions is None:
        regions = "all"

    def patterns(time_bins=None):
        o = dict(opts)
        if ephys and o.get("time_bins") is None:
            o["time_bins"] = time_bins or (5 if len(labels) < 3 else 1)
        return [_patterns.condition_patterns(d, labels=labels, **o) for d in datasets]

    layout, notes, names, how, pats = regions, [], [], "all channels", None
    if layout not in ("time", "all"):
        pats = patterns()
        names, maps, how = _groups(pats, datasets, layout, min_channels)
        if set(maps[0]) == {"all"} or (layout == "auto" and not names):
            why = ("no region labels or channel positions" if set(maps[0]) == {"all"} else
                   f"no channel group with >= {min_channels} channels in every session")
            layout = "time" if ephys else "all"
            notes.append(f"{why}: " + ("time-resolved RDMs over all channels" if ephys
                                       else "one RDM over all channels"))
            how = "all channels"
        elif not names:
            raise InputError(f"trsa: no region with >= {min_channels} channels in every "
                             f"session ({where})")
        else:
            layout = "region"
    if layout == "time" and not ephys:
        raise InputError("trsa regions='time': time windows after events are for ephys; fMRI "
                         "patterns are GLM betas")
    if layout == "time" and len(labels) < 3:
        notes.append(f"time-resolved RDMs need >= 3 event labels, got {len(labels)} "
                     f"({', '.join(labels)}): one RDM per session over all channels, "
                     "conditions (label, time bin)")
        layout = "all"
    if layout == "time":
        pats = patterns(time_bins=int(opts.get("time_bins") or TIME_WINDOWS))
    elif pats is None:
        pats = patterns()
    items, stability = [], {}
    for k, (d, p) in enumerate(zip(datasets, pats, strict=True)):
        sub, ses = str(d.attrs.get("subject", "")), str(d.attrs.get("session", ""))
        base = {"subject": sub, "session": ses, "recording": f"sub-{sub}_ses-{ses}"}
        # Shesha over all of the session's channels (a fixed seed: a summary statistic)
        v = _stability.pattern_stability(p)
        stability[base["recording"]] = v if np.isfinite(v) else None
        if layout == "time":
            items += _window_items(p, labels, base)
        elif layout == "all":
            items.append(p.drop_vars("region", errors="ignore").assign_coords(**base,
                                                                               region="all"))
        else:
            items += [p.sel(channel=maps[k][r]).drop_vars("region", errors="ignore")
                      .assign_coords(**base, region=r) for r in names]
    raw = rdms(items, metric)
    if raw.sizes["condition"] < 3:
        raise InputError(f"trsa {where}: conditions {list(raw['condition'].values)}; tRSA "
                         "needs at least 3 (more event labels, or time_bins for ephys)")
    recordings = np.unique(raw["recording"].values.astype(str))
    if recordings.size < len(datasets):
        raise InputError(f"trsa: {len(datasets)} datasets but only {recordings.size} distinct "
                         "subject/session pairs")
    key = {"time": "window", "region": "region"}.get(layout)
    groups = [] if key is None else list(dict.fromkeys(raw[key].values.astype(str).tolist()))
    results = xr.Dataset({
        "raw": raw, "rank": rank_transform(raw),
        "gt": geotopological(raw, lower, upper), "geodesic": geodesic(raw, lower, upper)})
    described = {"region": how if layout == "region" else "",
                 "time": f"time-resolved: {len(groups)} windows after the events, all channels",
                 "all": "one RDM per session over all channels"}[layout]
    metrics = {"n_sessions": int(recordings.size), "layout": described,
               "n_regions": len(names) if layout == "region" else 0,
               "regions": names if layout == "region" else [],
               "windows": groups if layout == "time" else [],
               "n_rdms": int(raw.sizes["rdm"]), "n_conditions": int(raw.sizes["condition"]),
               "conditions": [str(c) for c in raw["condition"].values], "metric": metric,
               "lower": lower, "upper": upper, "geometric_stability": stability,
               "identified": ""}
    if recordings.size >= 2:
        metrics["rdm_reliability"] = _reliability(raw, key or "region")
    if recordings.size >= 2 and len(groups) >= 2:
        grid = lu_grid(raw, key, "recording", step)
        results["accuracy"] = grid
        best = np.unravel_index(np.nanargmax(grid.values), grid.shape)
        metrics.update(
            identified=key, chance=1.0 / len(groups),
            accuracy_rdm=identify(raw, key, "recording"),
            accuracy_gt=identify(results["gt"], key, "recording"),
            accuracy_geodesic=identify(results["geodesic"], key, "recording"),
            best_lu=[float(grid["lower"][best[0]]), float(grid["upper"][best[1]])],
            best_accuracy=float(grid.values[best]))
    else:
        what = {"region": "regions", "time": "time windows"}.get(layout)
        notes.append("no identification: " + (
            f"{recordings.size} recording(s); it needs >= 2" if what and recordings.size < 2
            else f"{len(groups)} {what}; it needs >= 2" if what else
            "one RDM per recording (no regions or windows to tell apart)"))
    if notes:
        metrics["note"] = "; ".join(notes)
    results.attrs.update(metric=metric, lower=lower, upper=upper,
                         modality=str(next(iter(modality))), layout=described,
                         identified=metrics["identified"], groups="recording")
    return results, metrics
