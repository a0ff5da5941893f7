"""Typed metrics: one declared record per product, written and read by the same class.

A step's ``metrics.json`` (or ``qc.json``) is a dataclass subclassing :class:`Record`; the
step returns an instance, the runner writes it with its provenance block, and the report
reads it back with :meth:`Record.read`, which names the file and the missing key in one
line when the file was written by another version or edited::

    @dataclass
    class Metrics(Record):
        selected_n_states: int
        heldout_loglik: dict[str, list[float]]

Fields without a default are required; ``extra = True`` keeps the keys a record does not
declare (the per-modality facts of ``qc.json``) under :attr:`Record.rest`. The records are
declared here, in one light module, so that the report reads them without importing the
steps' science.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from .errors import InputError


@dataclasses.dataclass(kw_only=True)
class Record:
    """Base of the metrics records; ``provenance`` is the runner's block."""

    provenance: dict | None = None
    #: Keys of the file this record does not declare (only with ``extra = True``).
    rest: dict = dataclasses.field(default_factory=dict)
    #: Keep undeclared keys (a record with open-ended facts).
    extra: ClassVar[bool] = False
    #: What the file is called in messages.
    what: ClassVar[str] = "metrics.json"

    def to_dict(self) -> dict:
        """Plain JSON: the declared fields (optional ones only when set), the rest, the
        provenance."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("rest", "provenance")
               and not (f.default is None and getattr(self, f.name) is None)}
        out.update(self.rest)
        if self.provenance is not None:
            out["provenance"] = self.provenance
        return out

    def write(self, path: str | Path) -> Path:
        """Write as indented JSON, atomically."""
        from .store import write_json

        return write_json(self.to_dict(), path)

    @classmethod
    def read(cls, path: str | Path):
        """Read a record; a missing key is one line naming the file and the key."""
        from .store import read_json

        data = read_json(path, cls.what)
        names = {f.name for f in dataclasses.fields(cls)} - {"rest"}
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        for name in required:
            if name not in data:
                raise InputError(f"{path}: {cls.what} lacks {name!r}; rerun its step")
        known = {k: v for k, v in data.items() if k in names}
        rest = {k: v for k, v in data.items() if k not in names}
        if rest and not cls.extra:
            raise InputError(f"{path}: {cls.what} has unknown key {sorted(rest)[0]!r}; "
                             "rerun its step")
        return cls(**known, rest=rest)


# -- the products' records ----------------------------------------------------------------

@dataclasses.dataclass(kw_only=True)
class QC(Record):
    """``qc.json``: the session, the options used and what each modality's preprocessing did
    and found (the rest: filters, bad channels, ICA components, SNR, ...)."""

    extra = True
    what = "qc.json"

    modality: str
    source: str
    subject: str
    session: str
    sfreq: float
    n_times: int
    duration_s: float
    options: dict


@dataclasses.dataclass(kw_only=True)
class GLMHMMMetrics(Record):
    """``metrics.json`` of one session's GLM-HMM fits (:mod:`neurodag.steps.fit_glmhmm`)."""

    session: str
    modality: str
    selected_n_states: int
    best_mean_n_states: int
    selection_rule: str
    n_sequences: int
    n_bins: int
    n_neurons: int
    folds_over: str
    heldout_loglik: dict
    heldout_loglik_mean: dict
    train_loglik: dict
    units: str
    options: dict
    covariates: list | None = None
    #: Occupancy and dwell times of the selected model's states.
    states: dict | None = None
    #: fMRI brain states: the parcels and principal components fitted.
    fmri: dict | None = None


@dataclasses.dataclass(kw_only=True)
class GLMHMMPooledMetrics(Record):
    """``metrics.json`` of the choice GLM-HMMs of a dataset of trial tables
    (:mod:`neurodag.steps.fit_glmhmm_pooled`)."""

    subjects: list
    selected_n_states: int
    best_mean_n_states: int
    n_sessions: int
    n_trials: int
    response: str
    covariates: list
    transition_covariates: list
    selection_rule: str
    folds_over: str
    heldout_loglik: dict
    bits_per_trial: dict
    bits_per_trial_mean: dict
    units: str
    subject_trials: dict
    options: dict


@dataclasses.dataclass(kw_only=True)
class NTFMetrics(Record):
    """``metrics.json`` of the dynamic connectome (:mod:`neurodag.steps.fit_ntf`)."""

    rank: int
    curve: dict | None
    error: float
    tensor: dict
    n_neurons: int
    n_animals: int
    n_windows: int
    communities_per_factor: list
    kernel: str
    options: dict
    #: fMRI parcels: the atlas, and each factor's temporal loading against head motion.
    atlas: dict | None = None
    fd_correlation: list | None = None
    fd_session: str | None = None


@dataclasses.dataclass(kw_only=True)
class TRSAMetrics(Record):
    """``metrics.json`` of topological RSA (:mod:`neurodag.steps.trsa`): counts, conditions,
    accuracies, reliability; the layout, what was identified, and why not (``note``)."""

    n_sessions: int
    layout: str
    n_regions: int
    regions: list
    windows: list
    n_rdms: int
    n_conditions: int
    conditions: list
    metric: str
    lower: float
    upper: float
    geometric_stability: dict
    identified: str
    options: dict
    rdm_reliability: dict | None = None
    chance: float | None = None
    accuracy_rdm: float | None = None
    accuracy_gt: float | None = None
    accuracy_geodesic: float | None = None
    best_lu: list | None = None
    best_accuracy: float | None = None
    note: str | None = None


@dataclasses.dataclass(kw_only=True)
class ConnectivityMetrics(Record):
    """``metrics.json`` of fMRI connectivity (:mod:`neurodag.steps.connectivity`): the
    parcels, each session's kept volumes and motion, the QC-FC summaries."""

    kind: str
    atlas: str
    atlas_reference: str
    n_parcels: int
    parcels_dropped: list
    sessions: list
    qcfc: dict
    options: dict


__all__ = ["Record", "QC", "GLMHMMMetrics", "GLMHMMPooledMetrics", "NTFMetrics", "TRSAMetrics",
           "ConnectivityMetrics"]
