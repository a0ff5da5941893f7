"""Representational geometry: topological RSA (:mod:`.trsa`; the estimator of recordings,
:class:`TopologicalRSA`, in :mod:`.estimator`), condition patterns from the contract
(:mod:`.patterns`) and Shesha geometric stability (:mod:`.stability`)."""

from .estimator import TopologicalRSA

__all__ = ["TopologicalRSA"]
