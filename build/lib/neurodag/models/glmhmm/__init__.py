"""GLM-HMM: a hidden Markov chain over GLM emission states (one-hot GLM-HMM, ICLR 2024).

:class:`GLMHMM` (scikit-learn API) lives in :mod:`.estimator`; the E-step in :mod:`.hmm`,
the emissions in :mod:`.emissions`, the one-hot prior in :mod:`.onehot`, data preparation
in :mod:`.data` and the choice of the number of states in :mod:`.select`.
"""

from .estimator import GLMHMM

__all__ = ["GLMHMM"]
