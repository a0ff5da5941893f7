"""Choose the number of GLM-HMM states by cross-validated held-out log-likelihood."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...errors import InputError
from .estimator import GLMHMM


def sequence_folds(n_seq: int, n_folds: int, random_state=0, groups=None):
    """Sequence indices of each fold (whole groups, shuffled by ``random_state``, dealt
    round-robin), or None when there are fewer groups than folds."""
    labels = np.arange(n_seq) if groups is None else np.asarray(groups)
    if len(labels) != n_seq:
        raise InputError(f"groups: {len(labels)} labels for {n_seq} sequences")
    uniq = list(dict.fromkeys(labels.tolist()))
    if len(uniq) < n_folds:
        return None
    order = np.random.default_rng(random_state).permutation(len(uniq))
    fold_of = {uniq[g]: k % n_folds for k, g in enumerate(order)}
    return [[i for i in range(n_seq) if fold_of[labels[i].item()] == k]
            for k in range(n_folds)]


def select_n_states(X, n_states_grid=(1, 2, 3, 4), n_folds: int = 3, *, random_state=0,
                    covariates=None, mask=None, groups=None, **params):
    """k-fold cross-validation of the number of states.

    With at least ``n_folds`` sequences (or groups) the folds are made of whole sequences
    (assigned round-robin after a shuffle by ``random_state``; the sequences of one group,
    e.g. the trials of one session, stay in one fold); otherwise every sequence is cut into
    ``n_folds`` contiguous time blocks and fold k holds out block k of every sequence (the
    history features at a block's start still come from the bins before it).

    Parameters
    ----------
    X : array (T, N), DataArray/Dataset (time, channel), or a list of those
    covariates, mask : optional
        As in :meth:`GLMHMM.fit`.
    groups : sequence, optional
        A label per sequence (session, subject): folds never split a group.
    n_states_grid : sequence of int
    n_folds : int
        At least 2.
    random_state : int
        Seeds the fold assignment and every fit.
    **params
        Other :class:`~neurodag.models.glmhmm.GLMHMM` parameters (prior, emission, ...).

    Returns
    -------
    best : int
        The number of states with the highest mean held-out log-likelihood.
    scores : xarray.DataArray
        Held-out log-likelihood per bin and neuron, dims ``(n_states, fold)``.
    """
    grid = [int(k) for k in n_states_grid]
    if not grid or min(grid) < 1:
        raise InputError(f"n_states_grid={n_states_grid!r}: expected integers >= 1")
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise InputError(f"n_folds={n_folds!r}: expected an integer >= 2")
    if "n_states" in params:
        raise InputError("n_states: give the candidates as n_states_grid")
    probe = GLMHMM(n_states=grid[0], random_state=random_state, **params)
    probe._check_params()
    data, _ = probe._prepare(X, covariates, mask)
    folds = sequence_folds(len(data.lengths), n_folds, random_state, groups)
    if folds is not None:
        pool = data
        how = "sequences"
    else:
        if data.lengths.min() < n_folds * (probe.n_lags + 1):
            raise InputError(
                f"X: a sequence of {data.lengths.min()} bins is too short for {n_folds} "
                f"time blocks of at least n_lags + 1 = {probe.n_lags + 1} bins")
        pool, folds = data.blocks(n_folds)
        how = "time blocks"
    scores = np.empty((len(grid), n_folds))
    for k, test in enumerate(folds):
        train = [i for i in range(len(pool.lengths)) if i not in set(test)]
        d_train, d_test = pool.select(train), pool.select(test)
        for i, s in enumerate(grid):
            model = GLMHMM(n_states=s, random_state=random_state, **params)
            model._fit_prepared(d_train)
            scores[i, k] = model._score_prepared(d_test)
    da = xr.DataArray(scores, dims=("n_states", "fold"),
                      coords={"n_states": grid, "fold": np.arange(n_folds)},
                      name="heldout_loglik",
                      attrs={"units": "log-likelihood per bin and neuron", "folds_over": how})
    best = grid[int(np.argmax(scores.mean(1)))]
    return best, da
