"""Models fitted to neural data: GLM-HMM (:mod:`neurodag.models.glmhmm`), and more to come.

Modules are imported on demand (``from neurodag.models.glmhmm import GLMHMM``) so that
importing :mod:`neurodag.models` does not load torch.
"""
