"""Models fitted to neural data, one subpackage per family: :mod:`.glmhmm` (GLM-HMM),
:mod:`.ntf` (dynamic connectome by tensor factorization) and :mod:`.rsa` (topological RSA
and geometric stability).

Subpackages are imported on demand (``from neurodag.models.glmhmm import GLMHMM``) so that
importing :mod:`neurodag.models` does not load torch.
"""
