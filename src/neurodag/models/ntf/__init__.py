"""Dynamic functional connectome by non-negative tensor factorization (ICLR 2024).

Affinity tensors (:mod:`.affinity`), non-negative CP by HALS (:mod:`.hals`), rank selection
(:mod:`.rank`), communities of each factor (:mod:`.communities`); the estimator
:class:`DynamicConnectome` and the step's ``run`` in :mod:`.estimator`.
"""

from .estimator import KERNEL, OPTIONS, AffinityTensor, DynamicConnectome, plot_report, run

__all__ = ["DynamicConnectome", "run", "plot_report", "OPTIONS", "KERNEL", "AffinityTensor"]
