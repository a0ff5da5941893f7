"""Reproduced paper figures: one module per paper, each with ``run_experiment`` and ``plot``.

- :mod:`~neurodag.report.papers.onehot_glmhmm`: one-hot GLM-HMM (Li et al., ICLR 2024),
  metrics against training-set size for the naive, Gaussian and one-hot priors.
"""
