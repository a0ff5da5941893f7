"""The ``fit_ntf`` step: the dynamic connectome of a dataset's homogenized stack, or of its
fMRI sessions' parcel series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ... import provenance, store
from ...errors import InputError


def _log(message: str) -> None:
    import datetime as dt

    print(f"{dt.datetime.now():%H:%M:%S} {message}", flush=True)


def parcel_stack(stores, atlas: str = "auto") -> xr.Dataset:
    """fMRI sessions (``clean.zarr``) as the (session, time, neuron) stack the dynamic
    connectome factorises: the parcel-mean series of each session
    (:func:`neurodag.connectivity.atlas.parcel_series`) on the union of their parcels
    (``mask`` False where a session has no signal in a parcel), with each session's
    ``sample_mask`` (censored volumes) and ``framewise_displacement`` along time."""
    from ...connectivity import atlas as atlases

    series = []
    for p in stores:
        ds = store.read_signal(p).load()
        if ds.attrs.get("modality") != "fmri":
            raise InputError(f"{p}: fit-ntf reads fMRI sessions or a homogenized stack, not "
                             f"{ds.attrs.get('modality')!r}")
        series.append(atlases.parcel_series(ds, atlas)[0])
    dts = {round(1.0 / float(s.attrs["sfreq"]), 6) for s in series}
    if len(dts) > 1:
        raise InputError(f"fit-ntf: the sessions' repetition times differ ({sorted(dts)} s)")
    names = list(dict.fromkeys(n for s in series for n in s["channel"].values.tolist()))
    n_t = max(s.sizes["time"] for s in series)
    act = np.zeros((len(series), n_t, len(names)))
    frames = {v: np.full((len(series), n_t), np.nan) for v in ("framewise_displacement",)}
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
        for v in frames:
            if v in s:
                frames[v][k, :n] = s[v].values
    first = series[0]
    out = xr.Dataset(
        {"activity": (("session", "time", "neuron"), act),
         "mask": (("session", "neuron"), mask), "valid": (("session", "time"), valid),
         "sample_mask": (("session", "time"), kept)},
        coords={"session": [f"{s.attrs.get('subject', '')}/{s.attrs.get('session', '')}"
                            for s in series],
                "time": np.arange(n_t) * dts.pop(), "neuron": np.asarray(names, dtype=object)},
        attrs={"dt": 1.0 / float(first.attrs["sfreq"]), "atlas": first.attrs["atlas"],
               "atlas_reference": first.attrs["atlas_reference"],
               "source": ", ".join(str(p) for p in stores)})
    for v, values in frames.items():
        if np.isfinite(values).any():
            out[v] = (("session", "time"), values)
    return out


def run_stack(stacked_path, out_dir: str | Path, *, config_digest: str = "", atlas=None,
              **options) -> dict[str, Path]:
    """Fit :func:`neurodag.models.ntf.run` and write ``rank{r}.nc`` for every rank fitted and
    ``metrics.json`` into ``out_dir`` (all or none).

    ``stacked_path`` is ``homogenized.zarr`` (calcium), or a list of fMRI sessions'
    ``clean.zarr``, reduced to parcels by ``atlas`` (:func:`parcel_stack`)."""
    from . import estimator as ntf

    paths = [Path(p) for p in ([stacked_path] if isinstance(stacked_path, (str, Path))
                               else stacked_path)]
    out_dir = Path(out_dir)
    if len(paths) == 1 and atlas is None and "activity" in store.read_dataset(paths[0]):
        stacked = store.read_dataset(paths[0]).load()
    else:
        stacked = parcel_stack(paths, atlas or "auto")
        _log(f"{len(paths)} fMRI session(s): {stacked.sizes['neuron']} parcels "
             f"({stacked.attrs['atlas']}), {int(stacked['sample_mask'].sum())} kept volumes")
    results, metrics = ntf.run(stacked, progress=_log, **options)
    metrics["given_options"] = {**options, **({"atlas": atlas} if atlas else {})}
    if "atlas" in stacked.attrs:
        metrics["atlas"] = {"name": stacked.attrs["atlas"],
                            "reference": stacked.attrs["atlas_reference"]}
    # All files or none: written into a temporary folder renamed to out_dir at the end.
    with store.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for rank, ds in results.items():
            provenance.stamp(ds, paths, source=str(stacked.attrs.get("source", paths[0])),
                             config_digest=config_digest)
            ds.attrs["selected"] = int(rank == metrics["rank"])
            store.write_netcdf(ds, tmp / f"rank{rank}.nc")
        store.write_json(metrics, tmp / "metrics.json")
    return {**{f"rank{r}": out_dir / f"rank{r}.nc" for r in results},
            "metrics": out_dir / "metrics.json"}
