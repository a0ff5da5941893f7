"""fMRI sessions as the (session, time, neuron) stack the dynamic connectome factorises."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ...errors import InputError


def parcel_stack(sessions: Sequence[xr.Dataset], atlas: str = "auto") -> xr.Dataset:
    """The parcel-mean series of each fMRI session
    (:func:`neurodag.connectivity.atlas.parcel_series`) on the union of their parcels
    (``mask`` False where a session has no signal in a parcel), with each session's
    ``sample_mask`` (censored volumes) and ``framewise_displacement`` along time; sessions
    are named ``SUBJECT/SESSION`` from their attrs."""
    from ...connectivity import atlas as atlases

    series = []
    for ds in sessions:
        if ds.attrs.get("modality") != "fmri":
            where = ds.encoding.get("source") or ds.attrs.get("source", "dataset")
            raise InputError(f"{where}: fit-ntf reads fMRI sessions or a homogenized stack, "
                             f"not {ds.attrs.get('modality')!r}")
        series.append(atlases.parcel_series(ds.load(), atlas)[0])
    dts = {round(1.0 / float(s.attrs["sfreq"]), 6) for s in series}
    if len(dts) > 1:
        raise InputError(f"fit-ntf: the sessions' repetition times differ ({sorted(dts)} s)")
    names = list(dict.fromkeys(n for s in series for n in s["channel"].values.tolist()))
    n_t = max(s.sizes["time"] for s in series)
    act = np.zeros((len(series), n_t, len(names)))
    fd = np.full((len(series), n_t), np.nan)
    valid = np.zeros((len(series), n_t), bool)
    kept = np.zeros((len(series), n_t), bool)
    mask = np.zeros((len(series), len(names)), bool)
    for k, s in enumerate(series):
        idx = [names.index(n) for n in s["channel"].values.tolist()]
        n = s.sizes["time"]
        act[k, :n][:, idx] = s["signal"].values
        mask[k, idx] = True
        valid[k, :n] = True
        kept[k, :n] = s["sample_mask"].values if "sample_mask" in s else True
        if "framewise_displacement" in s:
            fd[k, :n] = s["framewise_displacement"].values
    first = series[0]
    out = xr.Dataset(
        {"activity": (("session", "time", "neuron"), act),
         "mask": (("session", "neuron"), mask), "valid": (("session", "time"), valid),
         "sample_mask": (("session", "time"), kept)},
        coords={"session": [f"{s.attrs.get('subject', '')}/{s.attrs.get('session', '')}"
                            for s in series],
                "time": np.arange(n_t) * dts.pop(), "neuron": np.asarray(names, dtype=object)},
        attrs={"dt": 1.0 / float(first.attrs["sfreq"]), "atlas": first.attrs["atlas"],
               "atlas_reference": first.attrs["atlas_reference"]})
    if np.isfinite(fd).any():
        out["framewise_displacement"] = (("session", "time"), fd)
    return out
