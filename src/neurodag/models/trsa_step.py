"""The ``trsa`` step: RDMs of every session of a dataset, their transforms, identification."""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import provenance, store


def run_stores(stores, out_dir: str | Path, *, config_digest: str = "", **options) -> dict:
    """Run :func:`neurodag.models.trsa.run` on contract stores; write ``trsa.nc`` and
    ``metrics.json`` into ``out_dir`` (both or neither)."""
    from . import trsa

    out_dir = Path(out_dir)
    paths = [Path(p) for p in stores]
    results, metrics = trsa.run([store.read_signal(p) for p in paths], **options)
    provenance.stamp(results, paths, source="sessions", config_digest=config_digest)
    metrics["provenance"] = {k: results.attrs[k] for k in ("inputs", "config_digest", "created")}
    metrics["options"] = options
    try:
        nc = store.write_netcdf(results, out_dir / "trsa.nc")
        js = store.write_json(metrics, out_dir / "metrics.json")
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    return {"results": nc, "metrics": js}
