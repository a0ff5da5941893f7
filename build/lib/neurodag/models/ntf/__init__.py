"""Dynamic functional connectome by non-negative tensor factorization (ICLR 2024).

Affinity tensors (:mod:`.affinity`), non-negative CP by HALS (:mod:`.hals`), rank selection
(:mod:`.rank`), communities of each factor (:mod:`.communities`); the estimator
:class:`DynamicConnectome` in :mod:`.estimator` (the step: :mod:`neurodag.steps.fit_ntf`).
"""

from .estimator import KERNEL, AffinityTensor, DynamicConnectome

__all__ = ["DynamicConnectome", "KERNEL", "AffinityTensor"]
