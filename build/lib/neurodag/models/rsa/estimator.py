"""Topological RSA of recordings: the estimator behind the ``trsa`` step.

>>> m = TopologicalRSA(metric="correlation", lower=0.2, upper=0.8).fit(sessions)
>>> m.results_        # raw, rank, gt, geodesic RDMs over (rdm, condition, condition2)
>>> m.metrics_        # counts, accuracies, reliability, geometric stability
>>> m.to_xarray()     # the results, for trsa.nc
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.stats import rankdata
from sklearn.base import BaseEstimator

from ...errors import InputError, suggest
from . import patterns as _patterns
from . import stability as _stability
from .trsa import _vectors, geodesic, geotopological, identify, lu_grid, rank_transform, rdms


class TopologicalRSA(BaseEstimator):
    """RDMs per session and region, their transforms, and region identification.

    What is identified: each region's (channel group's) RDM, across sessions. With two or
    more sessions (recordings: subject and session) and two or more regions, RDMs are
    labelled by region and grouped by recording, and
    :func:`~neurodag.models.rsa.trsa.identify` asks whether a region's representational
    geometry in a held-out session is closer to the same region's in the other sessions
    than to any other region's: the paper's brain-region test. Regions come from
    :func:`neurodag.models.rsa.patterns.region_map` (the contract's ``region``, else sensor
    quadrants from positions). With one session or one region there is nothing to
    identify, and only RDMs, transforms and (for several sessions) their reliability are
    given.

    Parameters
    ----------
    metric : {"correlation", "euclidean", "crossnobis"}
    lower, upper : float
        The (l, u) of the stored GT and geodesic RDMs and of the headline accuracies.
    step : float
        Grid step of the (l, u) accuracy map.
    regions : see :func:`neurodag.models.rsa.patterns.region_map`.
    labels : sequence of str, optional
        Event labels (default: those present in every session).
    min_channels : int
        Smallest channel group kept as a region.
    patterns : mapping, optional
        Passed to :func:`~neurodag.models.rsa.patterns.epochs` (``window``, ``baseline``,
        ``time_bins``, ``n_folds``, ``normalize``) or
        :func:`~neurodag.models.rsa.patterns.glm_betas` (``per_event``, ``confounds``, ...).
        For ephys, ``time_bins`` defaults to 5 when there are fewer than 3 labels, so that
        the conditions are (label, 100-ms bin) pairs and the RDM has something to rank.

    Attributes
    ----------
    results_ : xarray.Dataset
        ``raw``, ``rank``, ``gt``, ``geodesic`` over (rdm, condition, condition2) with
        ``subject``, ``session``, ``recording`` and ``region`` along ``rdm``; ``accuracy``
        over (lower, upper) when regions are identified.
    metrics_ : dict
        Counts, conditions, accuracies (``accuracy_rdm`` raw, ``accuracy_gt`` and
        ``accuracy_geodesic`` at (lower, upper), ``best_lu``, ``chance``) and
        ``rdm_reliability`` (mean Spearman correlation between sessions, per region) and
        ``geometric_stability`` (Shesha of each session's patterns over all its channels).
    """

    def __init__(self, metric: str = "correlation", lower: float = 0.2, upper: float = 0.8,
                 step: float = 0.05, regions="auto", labels: Sequence[str] | None = None,
                 min_channels: int = 3, patterns: dict | None = None):
        self.metric = metric
        self.lower = lower
        self.upper = upper
        self.step = step
        self.regions = regions
        self.labels = labels
        self.min_channels = min_channels
        self.patterns = patterns

    def _pattern_options(self, modality: set, n_labels: int) -> dict:
        opts = dict(self.patterns or {})
        known = _patterns.glm_betas if modality == {"fmri"} else _patterns.epochs
        takes = set(inspect.signature(known).parameters) - {"ds", "labels"}
        for key in opts:
            if key not in takes:
                raise InputError(f"trsa.{key}: unknown option{suggest(key, takes)} "
                                 f"(known: {', '.join(sorted(takes))})")
        if modality != {"fmri"} and opts.get("time_bins") is None:
            opts["time_bins"] = 5 if n_labels < 3 else 1
        return opts

    def fit(self, datasets: Sequence[xr.Dataset]) -> TopologicalRSA:
        """Compute RDMs of every session and region, transform them, identify regions.

        Parameters
        ----------
        datasets : sequence of xarray.Dataset
            Contract Datasets with events, one per session (same modality).
        """
        if not datasets:
            raise InputError("trsa: no datasets")
        where = [str(d.attrs.get("source", f"dataset {k}")) for k, d in enumerate(datasets)]
        modality = {d.attrs.get("modality") for d in datasets}
        if len(modality) > 1:
            raise InputError(f"trsa: sessions mix modalities {sorted(map(str, modality))}")
        labels = self.labels
        if labels is None:
            common = [set(_patterns.event_labels(d)) for d in datasets]
            labels = [x for x in _patterns.event_labels(datasets[0])
                      if all(x in c for c in common)]
            if not labels:
                raise InputError(f"trsa: no event label common to all sessions ({where[0]}, ...)")
        opts = self._pattern_options(modality, len(labels))
        pats = [_patterns.condition_patterns(d, labels=labels, **opts) for d in datasets]
        maps = [_patterns.region_map(p, self.regions, positions=d,
                                     min_channels=self.min_channels)
                for p, d in zip(pats, datasets, strict=True)]
        names = [r for r in maps[0] if all(r in m for m in maps)]
        if not names:
            raise InputError(f"trsa: no region with >= {self.min_channels} channels in every "
                             f"session ({where[0]})")
        items, stability = [], {}
        for d, p, m in zip(datasets, pats, maps, strict=True):
            sub, ses = str(d.attrs.get("subject", "")), str(d.attrs.get("session", ""))
            # Shesha over all of the session's channels (a fixed seed: a summary statistic)
            v = _stability.pattern_stability(p)
            stability[f"sub-{sub}_ses-{ses}"] = v if np.isfinite(v) else None
            for r in names:
                items.append(p.sel(channel=m[r]).drop_vars("region", errors="ignore")
                             .assign_coords(subject=sub, session=ses, region=r,
                                            recording=f"sub-{sub}_ses-{ses}"))
        raw = rdms(items, self.metric)
        if raw.sizes["condition"] < 3:
            raise InputError(f"trsa {where[0]}: conditions {list(raw['condition'].values)}; "
                             "tRSA needs at least 3 (more event labels, or time_bins for ephys)")
        sessions = np.unique(raw["recording"].values.astype(str))
        if sessions.size < len(datasets):
            raise InputError(f"trsa: {len(datasets)} datasets but only {sessions.size} "
                             "distinct subject/session pairs")
        lower, upper = self.lower, self.upper
        results = xr.Dataset({
            "raw": raw, "rank": rank_transform(raw),
            "gt": geotopological(raw, lower, upper), "geodesic": geodesic(raw, lower, upper)})
        results.attrs.update(metric=self.metric, lower=lower, upper=upper,
                             modality=str(next(iter(modality))), identified="region",
                             groups="recording")
        metrics = {"n_sessions": int(sessions.size), "n_regions": len(names), "regions": names,
                   "conditions": [str(c) for c in raw["condition"].values],
                   "metric": self.metric, "lower": lower, "upper": upper,
                   "geometric_stability": stability}
        if sessions.size >= 2:
            metrics["rdm_reliability"] = {}
            for r in names:
                v = _vectors(raw.isel(rdm=np.flatnonzero(raw["region"].values == r)))
                rho = rankdata(v, axis=1)
                c = np.corrcoef(rho)[np.triu_indices(len(v), 1)]
                metrics["rdm_reliability"][r] = float(np.mean(c))
        if sessions.size >= 2 and len(names) >= 2:
            grid = lu_grid(raw, "region", "recording", self.step)
            results["accuracy"] = grid
            best = np.unravel_index(np.nanargmax(grid.values), grid.shape)
            metrics.update(
                chance=1.0 / len(names), accuracy_rdm=identify(raw, "region", "recording"),
                accuracy_gt=identify(results["gt"], "region", "recording"),
                accuracy_geodesic=identify(results["geodesic"], "region", "recording"),
                best_lu=[float(grid["lower"][best[0]]), float(grid["upper"][best[1]])],
                best_accuracy=float(grid.values[best]))
        else:
            metrics["note"] = ("no identification: needs >= 2 sessions and >= 2 regions, got "
                               f"{sessions.size} and {len(names)}")
        self.results_, self.metrics_ = results, metrics
        return self

    def to_xarray(self) -> xr.Dataset:
        """The fitted RDMs, transforms and accuracy map (``trsa.nc``)."""
        if not hasattr(self, "results_"):
            raise InputError("TopologicalRSA is not fitted yet: call fit() first")
        return self.results_.copy()
