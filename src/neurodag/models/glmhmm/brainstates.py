"""Brain states of an fMRI session: what the GLM-HMM is fitted to, and what is reported.

Input (:func:`fmri_inputs`)
    The session's parcel-mean series (:func:`neurodag.connectivity.atlas.parcel_series`;
    fsaverage5 vertices -> 311 of the 324 order-2 icosahedral parcels with signal), each
    parcel z-scored over the kept volumes, reduced to its leading ``components`` principal
    components (scikit-learn's PCA fitted on the kept volumes), each scaled to unit
    variance. Censored volumes (``sample_mask`` False) stay on the time axis as missing
    values: the hidden chain runs through them and their emissions are left out of the
    likelihood, so a censored volume neither feeds nor breaks the fit.

    Why components and not the ~300 parcels: with one run of ~600 volumes, a Gaussian HMM
    over 311 parcels gives extra states to a handful of volumes whose variances collapse
    (measured on the brainspace run: K >= 4 diverged to NaN), as in Gaussian mixtures.
    HMM-MAR and osl-dynamics reduce fMRI and M/EEG parcel series by PCA before their HMMs
    for the same reason. Each state is reported in parcel space (:func:`state_means`).

Summaries (:func:`occupancy_dwell`, for every session of any modality)
    Occupancy: the fraction of kept bins the Viterbi path spends in each state. Dwell
    times: the lengths of runs of one state over consecutive kept bins (a censored bin or
    a sequence boundary ends a run), in bins and seconds.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...errors import InputError

#: Options of the fMRI input, besides the GLM-HMM's own.
OPTIONS = ("atlas", "components")


def fmri_inputs(ds: xr.Dataset, atlas: str = "auto", components: int = 5,
                random_state: int = 0) -> tuple[xr.DataArray, np.ndarray, dict]:
    """Principal components of an fMRI session's parcel series (module docstring).

    Returns
    -------
    X : xarray.DataArray
        ``(time, channel)``, channels ``pc1``, ``pc2``, ...
    mask : ndarray of bool (time, channel)
        False at censored volumes.
    info : dict
        ``parcels`` (names), ``hemisphere``, ``loadings`` (component, parcel),
        ``explained`` (variance ratio per component), ``z`` (time, parcel: the z-scored
        parcel series), ``keep`` (time), ``atlas``, ``atlas_reference``.
    """
    from sklearn.decomposition import PCA

    from ...connectivity.atlas import parcel_series

    series, found = parcel_series(ds, atlas)
    x = series["signal"].values
    keep = (series["sample_mask"].values.astype(bool) if "sample_mask" in series
            else np.ones(x.shape[0], bool))
    components = int(components)
    if not 1 <= components <= min(int(keep.sum()) - 1, x.shape[1]):
        raise InputError(f"{ds.attrs.get('source', 'dataset')}: components={components}: "
                         f"expected 1..{min(int(keep.sum()) - 1, x.shape[1])} ({x.shape[1]} "
                         f"parcels, {int(keep.sum())} kept volumes)")
    z = (x - x[keep].mean(0)) / x[keep].std(0)
    pca = PCA(components, random_state=random_state).fit(z[keep])
    y = pca.transform(z)
    y = y / y[keep].std(0)
    names = [f"pc{k + 1}" for k in range(components)]
    X = xr.DataArray(y, dims=("time", "channel"),
                     coords={"time": series["time"].values, "channel": names})
    info = {"parcels": list(found.names), "hemisphere": list(found.hemisphere),
            "loadings": pca.components_, "explained": pca.explained_variance_ratio_,
            "z": z, "keep": keep, "atlas": found.atlas, "atlas_reference": found.reference}
    return X, np.repeat(keep[:, None], components, axis=1), info


def state_means(path: np.ndarray, z: np.ndarray, keep: np.ndarray, n_states: int
                ) -> np.ndarray:
    """``(state, parcel)``: the mean z-scored parcel signal over the kept volumes the Viterbi
    path assigns to each state (NaN for a state with none)."""
    out = np.full((n_states, z.shape[1]), np.nan)
    for s in range(n_states):
        sel = keep & (path == s)
        if sel.any():
            out[s] = z[sel].mean(axis=0)
    return out


def occupancy_dwell(path: np.ndarray, keep: np.ndarray, sequence: np.ndarray, n_states: int,
                    dt: float) -> dict:
    """Occupancy and dwell times of a Viterbi path (module docstring).

    Parameters
    ----------
    path : ndarray of int (time,)
    keep : ndarray of bool (time,)
        Bins that count (not censored).
    sequence : ndarray (time,)
        Sequence index of each bin (runs do not cross sequences).
    n_states : int
    dt : float
        Bin length in s.

    Returns
    -------
    dict
        ``occupancy`` (per state), ``dwell_mean_bins``, ``dwell_mean_s``,
        ``dwell_median_s`` (per state; None for a state never visited), ``n_visits``.
    """
    path = np.asarray(path)
    ok = np.asarray(keep, bool)
    n_kept = int(ok.sum())
    occ = [float(np.sum(ok & (path == s)) / n_kept) if n_kept else None
           for s in range(n_states)]
    # a run starts where the state, the sequence or a censored gap changes
    brk = np.ones(path.size, bool)
    brk[1:] = (path[1:] != path[:-1]) | (sequence[1:] != sequence[:-1]) | ~ok[:-1]
    runs: dict[int, list[int]] = {s: [] for s in range(n_states)}
    start = None
    for t in range(path.size + 1):
        if start is not None and (t == path.size or brk[t] or not ok[t]):
            runs[int(path[start])].append(t - start)
            start = None
        if t < path.size and ok[t] and start is None:
            start = t
    mean_bins = [float(np.mean(runs[s])) if runs[s] else None for s in range(n_states)]
    return {"occupancy": occ, "dwell_mean_bins": mean_bins,
            "dwell_mean_s": [None if v is None else v * dt for v in mean_bins],
            "dwell_median_s": [float(np.median(runs[s])) * dt if runs[s] else None
                               for s in range(n_states)],
            "n_visits": [len(runs[s]) for s in range(n_states)]}
