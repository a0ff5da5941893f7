"""Scoring GLM-HMM fits against ground truth and baselines.

- :func:`match_states`: fitted states matched to true ones by the assignment maximising
  agreement (scipy ``linear_sum_assignment`` on the confusion matrix).
- :func:`bits_per_trial`: held-out log-likelihood relative to a Bernoulli/categorical
  baseline whose class frequencies come from the training choices, in bits per trial, as
  Ashwood et al. 2022 report it (``(LL - LL0) / (n_trials log 2)``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def match_states(true_states: np.ndarray, pred_states: np.ndarray, n_states: int):
    """Fitted state matched to each true state, and the accuracy under that matching."""
    conf = np.zeros((n_states, n_states))
    np.add.at(conf, (true_states, pred_states), 1)
    rows, cols = linear_sum_assignment(conf, maximize=True)
    perm = np.empty(n_states, dtype=int)
    perm[rows] = cols
    return perm, float(conf[rows, cols].sum() / conf.sum())


def balanced_accuracy(true: np.ndarray, pred: np.ndarray, classes=(-1, 0, 1)) -> float:
    """Mean over the classes present in ``true`` of the fraction recovered (recall)."""
    recalls = [np.mean(pred[true == k] == k) for k in classes if np.any(true == k)]
    return float(np.mean(recalls))


def baseline_loglik(train_choices, test_choices, n_classes: int = 2) -> float:
    """Log-likelihood of ``test_choices`` under the training set's class frequencies."""
    train = np.concatenate([np.ravel(c) for c in train_choices])
    test = np.concatenate([np.ravel(c) for c in test_choices])
    train, test = train[np.isfinite(train)], test[np.isfinite(test)]
    p = np.bincount(train.astype(int), minlength=n_classes) / train.size
    k = np.bincount(test.astype(int), minlength=n_classes)
    return float(np.sum(k[k > 0] * np.log(p[k > 0])))


def bits_per_trial(loglik: float, baseline: float, n_trials: int) -> float:
    """``(loglik - baseline) / (n_trials log 2)``: the gain over the baseline, bits/trial."""
    return float((loglik - baseline) / (n_trials * np.log(2)))
