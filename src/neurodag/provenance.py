"""Provenance attached to every output: input hashes, package versions, config digest, time.

:func:`stamp` writes these attrs:

``source``            the primary input (path or reference name)
``source_sha256``     its sha256 (of the file, or of a directory's files in order)
``inputs``            ``{path: sha256}`` of every input
``versions``          ``{package: version}`` of Python, neurodag and the scientific stack
``neurodag_version``  this package's version
``config_digest``     sha256 of the canonical JSON of the config that produced the output
``created``           ISO 8601 UTC time of writing
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import __version__
from .errors import InputError

PACKAGES = (
    "numpy", "scipy", "pandas", "xarray", "zarr", "mne", "mne-bids", "pynwb", "hdmf",
    "nibabel", "nilearn", "scikit-learn", "tensorly", "torch", "snakemake",
)

_BLOCK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """sha256 of a file, read in blocks; of a directory, of its files' names and contents."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(bytes.fromhex(sha256_file(f)))
        return h.hexdigest()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(_BLOCK):
                h.update(block)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    return h.hexdigest()


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Versions of Python, neurodag and the packages that shape results."""
    out = {"python": platform.python_version(), "neurodag": __version__}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def canonical_json(obj) -> str:
    """JSON with sorted keys and no whitespace, so that equal configs give equal digests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_digest(config: Mapping | None) -> str:
    """sha256 of the canonical JSON of ``config`` ('' when there is none)."""
    if config is None:
        return ""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def record(inputs: Iterable[str | Path] = (), *, source: str | None = None,
           config_digest: str = "") -> dict:
    """The provenance attrs for an output made from ``inputs``."""
    inputs = [Path(p) for p in inputs]
    hashes = {str(p): sha256_file(p) for p in inputs}
    primary = source if source is not None else (str(inputs[0]) if inputs else "memory")
    return {
        "source": primary,
        "source_sha256": hashes.get(primary, next(iter(hashes.values()), "")),
        "inputs": hashes,
        "versions": package_versions(),
        "neurodag_version": __version__,
        "config_digest": config_digest,
        "created": now(),
    }


def stamp(obj, inputs: Iterable[str | Path] = (), *, source: str | None = None,
          config_digest: str = "", keep_source: bool = False):
    """Attach provenance to ``obj.attrs`` (an xarray object) and return ``obj``.

    With ``keep_source=True`` an existing ``source``/``source_sha256`` (the recording a
    derived product came from) is kept, and ``inputs`` records the direct inputs.
    """
    prov = record(inputs, source=source, config_digest=config_digest)
    if keep_source and obj.attrs.get("source"):
        prov.pop("source")
        prov.pop("source_sha256")
    obj.attrs.update(prov)
    return obj
