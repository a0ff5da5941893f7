"""The ``trsa`` step: RDMs of every session of a dataset, their transforms, identification."""

from __future__ import annotations

from pathlib import Path

from ... import provenance, store


def run_stores(stores, out_dir: str | Path, *, config_digest: str = "", **options) -> dict:
    """Run :func:`neurodag.models.rsa.analysis.run` on contract stores; write ``trsa.nc`` and
    ``metrics.json`` into ``out_dir`` (both or neither)."""
    from . import analysis

    out_dir = Path(out_dir)
    paths = [Path(p) for p in stores]
    results, metrics = analysis.run([store.read_signal(p) for p in paths], **options)
    provenance.stamp(results, paths, source="sessions", config_digest=config_digest)
    metrics["provenance"] = {k: results.attrs[k] for k in ("inputs", "config_digest", "created")}
    metrics["options"] = options
    with store.atomic_path(out_dir) as tmp:   # both files or neither
        tmp.mkdir()
        store.write_netcdf(results, tmp / "trsa.nc")
        store.write_json(metrics, tmp / "metrics.json")
    return {"results": out_dir / "trsa.nc", "metrics": out_dir / "metrics.json"}
