"""Many sessions, many subjects: Ashwood et al.'s global -> per-subject protocol.

1. A *global* GLM-HMM is fitted to the sessions of every subject pooled (each session one
   sequence; jagged lengths and masks allowed), started from a one-state GLM plus noise
   (``init="glm"``) ``n_init`` times; the best training log-likelihood is kept.
2. Each subject's GLM-HMM is fitted to its own sessions, started from the global
   parameters (``init=<global model>``).

The priors of the reference (``zashwood/glm-hmm``: Gaussian prior sigma = 2 on the weights
and Dirichlet alpha = 2 on the transitions for the per-subject fits) are the estimator's
``l2 = 1 / sigma^2`` and ``pseudocount = alpha - 1``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import InputError
from .estimator import GLMHMM


def _pool(by_subject: Mapping, subjects):
    X, U, M = [], [], []
    for s in subjects:
        d = by_subject[s]
        X += list(d["X"])
        U += list(d["covariates"]) if d.get("covariates") is not None else [None] * len(d["X"])
        M += list(d["mask"]) if d.get("mask") is not None else [None] * len(d["X"])
    return X, (None if any(u is None for u in U) else U), (
        None if all(m is None for m in M) else [m if m is not None else (x == x)
                                               for x, m in zip(X, M, strict=True)])


def fit_global_and_subjects(by_subject: Mapping, *, n_init: int = 5, global_params=None,
                            **params) -> tuple[GLMHMM, dict[str, GLMHMM]]:
    """Global fit on every subject's sessions, then one fit per subject started from it.

    Parameters
    ----------
    by_subject : mapping
        ``{subject: {"X": [...], "covariates": [...], "mask": [...]}}``, one entry per
        session in each list (see :meth:`GLMHMM.fit`).
    n_init : int
        Starts of the global fit.
    global_params : dict, optional
        Parameters of the global fit only (default: those of the per-subject fits, e.g. a
        weaker prior).
    **params
        :class:`GLMHMM` parameters.

    Returns
    -------
    global_model : GLMHMM
    subject_models : dict
    """
    if not by_subject:
        raise InputError("fit_global_and_subjects: no subjects")
    if "init" in params or "n_init" in (global_params or {}):
        raise InputError("fit_global_and_subjects: the protocol sets init itself")
    X, U, M = _pool(by_subject, list(by_subject))
    glob = GLMHMM(init="glm", n_init=n_init, **{**params, **(global_params or {})})
    glob.fit(X, U, M)
    models = {}
    for s in by_subject:
        Xs, Us, Ms = _pool(by_subject, [s])
        models[s] = GLMHMM(init=glob, n_init=1, **params).fit(Xs, Us, Ms)
    return glob, models
