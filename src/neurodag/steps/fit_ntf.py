"""The ``fit_ntf`` step: the dynamic connectome of a dataset's homogenized stack."""

from __future__ import annotations

from pathlib import Path

from ... import provenance, store


def _log(message: str) -> None:
    import datetime as dt

    print(f"{dt.datetime.now():%H:%M:%S} {message}", flush=True)


def run_stack(stacked_path: str | Path, out_dir: str | Path, *, config_digest: str = "",
              **options) -> dict[str, Path]:
    """Fit :func:`neurodag.models.ntf.run` to ``homogenized.zarr``; write ``rank{r}.nc`` for
    every rank fitted and ``metrics.json`` into ``out_dir`` (all or none)."""
    from . import estimator as ntf

    stacked_path, out_dir = Path(stacked_path), Path(out_dir)
    stacked = store.read_dataset(stacked_path).load()
    results, metrics = ntf.run(stacked, progress=_log, **options)
    metrics["given_options"] = options  # as configured; "options" has what was used
    # All files or none: written into a temporary folder renamed to out_dir at the end.
    with store.atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for rank, ds in results.items():
            provenance.stamp(ds, [stacked_path], source=str(stacked_path),
                             config_digest=config_digest)
            ds.attrs["selected"] = int(rank == metrics["rank"])
            store.write_netcdf(ds, tmp / f"rank{rank}.nc")
        store.write_json(metrics, tmp / "metrics.json")
    return {**{f"rank{r}": out_dir / f"rank{r}.nc" for r in results},
            "metrics": out_dir / "metrics.json"}
