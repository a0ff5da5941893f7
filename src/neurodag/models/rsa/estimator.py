"""Topological RSA of recordings: the estimator behind the ``trsa`` step.

>>> m = TopologicalRSA(metric="correlation", lower=0.2, upper=0.8).fit(sessions)
>>> m.results_        # raw, rank, gt, geodesic RDMs over (rdm, condition, condition2)
>>> m.metrics_        # counts, accuracies, reliability, geometric stability
>>> m.to_xarray()     # the results, for trsa.nc
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr
from sklearn.base import BaseEstimator

from ...errors import InputError


class TopologicalRSA(BaseEstimator):
    """RDMs per session and channel group (or time window), their transforms, and
    identification across recordings.

    The layout (``regions``) and what is identified are those of
    :func:`neurodag.models.rsa.analysis.run`: one RDM per session and region (the
    contract's ``region``, scalp quadrants from positions, or a grouping), time-resolved
    RDMs over all channels, or one RDM per session; identification (does a group's or a
    window's geometry in a held-out recording sit closer to the same group's in the other
    recordings than to any other's: the paper's brain-region test) runs only where it is
    defined (>= 2 recordings and >= 2 groups).

    Parameters
    ----------
    metric : {"correlation", "euclidean", "crossnobis"}
    lower, upper : float
        The (l, u) of the stored GT and geodesic RDMs and of the headline accuracies.
    step : float
        Grid step of the (l, u) accuracy map.
    regions : "auto", "region", "quadrant", "time", "all" or a mapping
        See :func:`neurodag.models.rsa.analysis.run`.
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

    def fit(self, datasets: Sequence[xr.Dataset]) -> TopologicalRSA:
        """Compute RDMs of every session and group (or time window), transform them and
        identify what can be identified (:func:`neurodag.models.rsa.analysis.run`).

        Parameters
        ----------
        datasets : sequence of xarray.Dataset
            Contract Datasets with events, one per session (same modality).
        """
        from .analysis import run

        self.results_, self.metrics_ = run(
            datasets, metric=self.metric, lower=self.lower, upper=self.upper, step=self.step,
            regions=self.regions, labels=self.labels, min_channels=self.min_channels,
            **(self.patterns or {}))
        return self

    def to_xarray(self) -> xr.Dataset:
        """The fitted RDMs, transforms and accuracy map (``trsa.nc``)."""
        if not hasattr(self, "results_"):
            raise InputError("TopologicalRSA is not fitted yet: call fit() first")
        return self.results_.copy()
