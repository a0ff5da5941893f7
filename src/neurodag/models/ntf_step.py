"""The ``fit_ntf`` step: the dynamic connectome of a dataset's homogenized stack."""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import provenance, store


def _log(message: str) -> None:
    import datetime as dt

    print(f"{dt.datetime.now():%H:%M:%S} {message}", flush=True)


def run_stack(stacked_path: str | Path, out_dir: str | Path, *, config_digest: str = "",
              **options) -> dict[str, Path]:
    """Fit :func:`neurodag.models.ntf.run` to ``homogenized.zarr``; write ``rank{r}.nc`` for
    every rank fitted and ``metrics.json`` into ``out_dir`` (all or none)."""
    from . import ntf

    stacked_path, out_dir = Path(stacked_path), Path(out_dir)
    stacked = store.read_dataset(stacked_path).load()
    results, metrics = ntf.run(stacked, progress=_log, **options)
    metrics["options"] = options
    written: dict[str, Path] = {}
    try:
        for rank, ds in results.items():
            provenance.stamp(ds, [stacked_path], source=str(stacked_path),
                             config_digest=config_digest)
            ds.attrs["selected"] = int(rank == metrics["rank"])
            written[f"rank{rank}"] = store.write_netcdf(ds, out_dir / f"rank{rank}.nc")
        written["metrics"] = store.write_json(metrics, out_dir / "metrics.json")
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    return written
