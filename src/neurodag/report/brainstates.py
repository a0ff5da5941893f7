"""Report figure of fMRI brain states (a GLM-HMM fitted to parcel series): each state's
mean parcel pattern, its occupancy and its dwell times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..store import write_json
from . import style


def plot(model: xr.Dataset, metrics: dict, path: Path) -> tuple:
    """``(png, json, caption)``: state means over parcels (hemispheres side by side, parcels
    in atlas order), occupancy and mean dwell time of every state of the selected model."""
    means = model["state_mean"].values
    S = means.shape[0]
    st = metrics["states"]
    hemi = model["hemisphere"].values.astype(str)
    lim = float(np.nanmax(np.abs(means))) if np.isfinite(means).any() else 1.0
    with style.figure(10.0, 1.0 + 0.45 * S) as fig:
        left, cax, mid, right = fig.subplots(1, 4, gridspec_kw={
            "width_ratios": [6, 0.12, 1.3, 1.3], "wspace": 0.3})
        im = left.imshow(means, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                         interpolation="nearest")
        for b in np.flatnonzero(hemi[1:] != hemi[:-1]):
            left.axvline(b + 0.5, color="k", lw=0.8)
        left.set_yticks(range(S))
        left.set_ylabel("state")
        left.set_xlabel(f"parcel ({', '.join(dict.fromkeys(hemi.tolist()))}; atlas order)")
        fig.colorbar(im, cax=cax, label="mean z")
        occ = [np.nan if v is None else v for v in st["occupancy"]]
        dwell = [np.nan if v is None else v for v in st["dwell_mean_s"]]
        mid.barh(range(S), occ, color="#457b9d")
        mid.set_xlabel("occupancy")
        right.barh(range(S), dwell, color="#e76f51")
        right.set_xlabel("mean dwell (s)")
        for ax in (mid, right):
            ax.set_ylim(S - 0.5, -0.5)
            ax.set_yticks(range(S))
        style.save(fig, path)
    js = write_json({"state_mean": np.where(np.isfinite(means), means, None).tolist(),
                     "parcel": model["parcel"].values.astype(str).tolist(), **st},
                    path.with_suffix(".json"))
    f = metrics["fmri"]
    caption = (f"Session {metrics['session']}: {S} brain states (chosen by held-out "
               f"likelihood) of a Gaussian HMM on the {f['components']} leading principal "
               f"components ({100 * sum(f['explained_variance']):.0f} % of the variance) of "
               f"{f['n_parcels']} parcels ({f['atlas']}), {f['n_kept']} of {f['n_volumes']} "
               "volumes kept. Left: each state's mean z-scored parcel signal; occupancy "
               + ", ".join(f"{o:.2f}" for o in occ) + "; mean dwell "
               + ", ".join(f"{d:.1f}" for d in dwell) + " s.")
    return path, js, caption
