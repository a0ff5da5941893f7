"""Design matrices of the GLM-HMM: covariates from a recording's events or a trial table.

- :func:`event_regressors`: stimulus kernels from the contract's events, one regressor per
  event label and lag (``label@lag``: 1 in the bin ``lag`` bins after an onset of that
  label), so that each state's weights on them are its response kernel to the event.
- :func:`trial_design`: per session of a trial table (:func:`neurodag.schema_trials.build_trials`),
  the choices, the covariates and the mask of trials with a choice. Covariates are table
  columns or the history terms of Ashwood et al. 2022: ``prev_choice`` (the previous
  choice with a response, -1 left / +1 right) and ``wsls`` (win-stay-lose-switch: the
  previous choice times +1 if it was rewarded, -1 if not). Before a session's first
  response both are 0; Ashwood et al. draw a random previous choice there instead.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...errors import InputError
from ...synth.common import lagged_events

#: History covariates computed from the choices and rewards.
DERIVED = ("prev_choice", "wsls")


def event_regressors(ds: xr.Dataset, labels=None, n_lags: int = 10) -> xr.DataArray:
    """Event-locked regressors of a contract Dataset: (time, covariate).

    Parameters
    ----------
    ds : xarray.Dataset
        A recording with events (``neurodag.schema.get_events``).
    labels : sequence of str, optional
        Event labels to use (default: every label but ``sequence``).
    n_lags : int
        Bins of kernel after each onset (lags 0 .. n_lags - 1).
    """
    from ... import schema

    where = ds.attrs.get("source", "dataset")
    ev = schema.get_events(ds)
    if labels is None:
        labels = sorted(set(ev["label"]) - {"sequence"})
    labels = [str(x) for x in labels]
    if not labels:
        raise InputError(f"{where}: no events to build covariates from")
    missing = sorted(set(labels) - set(ev["label"]))
    if missing:
        raise InputError(f"{where}: no events labelled {missing}")
    t = ds["time"].values
    U, names = lagged_events({lab: ev.loc[ev["label"] == lab, "onset"].to_numpy()
                              for lab in labels}, t, float(ds.attrs["sfreq"]), n_lags)
    return xr.DataArray(U, dims=("time", "covariate"),
                        coords={"time": t, "covariate": np.asarray(names, dtype=object)})


def _history(choice: np.ndarray, reward: np.ndarray | None):
    """prev_choice and wsls of one session (see the module docstring)."""
    pc, ws = np.zeros(choice.size), np.zeros(choice.size)
    last_c, last_r = 0.0, 0.0
    for t in range(choice.size):
        pc[t] = last_c
        ws[t] = last_c * last_r
        if np.isfinite(choice[t]):
            last_c = 2.0 * choice[t] - 1.0
            last_r = 1.0 if reward is None or reward[t] > 0 else -1.0
    return pc, ws


def trial_design(ds: xr.Dataset, response: str = "choice", covariates=("stimulus",),
                 transition_covariates=()) -> dict:
    """Choices, covariates and masks of every session of a trial table.

    Parameters
    ----------
    ds : xarray.Dataset
        A trial table (dim ``trial``).
    response : str
        The column of the choices (classes 0, 1, ...; NaN = no response, masked).
    covariates : sequence of str
        Columns of the table and/or :data:`DERIVED` terms (``wsls`` needs a ``reward``
        column). The bias is the model's own and is not a covariate.
    transition_covariates : sequence of str
        More columns appended after ``covariates`` (e.g. those that only drive the
        transitions).

    Returns
    -------
    dict
        ``X``, ``covariates``, ``mask``: lists with one array per session (trials in table
        order); ``sessions``: the session ids; ``names``: the covariate names.
    """
    where = ds.attrs.get("source", "trial table")
    cols = [str(c) for c in ds["channel"].values]
    names = [*covariates, *transition_covariates]
    for c in [response, *names]:
        if c not in cols and c not in DERIVED:
            raise InputError(f"{where}: no column {c!r} (columns: {', '.join(cols)})")
    if "wsls" in names and "reward" not in cols:
        raise InputError(f"{where}: covariate 'wsls' needs a 'reward' column")
    sig = ds["signal"]
    sess = (ds["session_id"].values.astype(str) if "session_id" in ds.coords
            else np.full(ds.sizes["trial"], str(ds.attrs.get("session", "01"))))
    out = {"X": [], "covariates": [], "mask": [], "sessions": [], "names": names}
    for s in dict.fromkeys(sess):
        rows = np.flatnonzero(sess == s)
        y = sig.sel(channel=response).values[rows]
        reward = sig.sel(channel="reward").values[rows] if "reward" in cols else None
        pc, ws = _history(y, reward)
        derived = {"prev_choice": pc, "wsls": ws}
        U = np.stack([derived[c] if c in DERIVED else sig.sel(channel=c).values[rows]
                      for c in names], axis=1) if names else np.zeros((rows.size, 0))
        if not np.isfinite(U).all():
            raise InputError(f"{where}: session {s}: covariates have missing values")
        out["X"].append(np.nan_to_num(y))
        out["covariates"].append(U)
        out["mask"].append(np.isfinite(y))
        out["sessions"].append(s)
    return out
