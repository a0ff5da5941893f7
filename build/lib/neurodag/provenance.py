"""Provenance attached to every output: input hashes, package versions, config digest, time.

:func:`block` builds these attrs (the step runner, :mod:`neurodag.steps.runner`, hashes
each input once); :func:`stamp` writes them:

``source``            the recording (path or reference name) the output comes from; for a
                      product of several inputs, their list
``source_sha256``     its sha256 (of the file, or of a directory's files in order); for a
                      list, the digest of their ``{path: sha256}``
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


def block(hashes: Mapping[str, str], *, source, source_sha256: str | None = None,
          config_digest: str = "") -> dict:
    """The provenance block of an output: the one shape every output carries.

    Parameters
    ----------
    hashes : mapping
        ``{input: sha256}`` of every input (hashed by the caller, once each).
    source : str or list of str
        The recording the output comes from (a path or ``reference:NAME/MEMBER``), or the
        inputs of a product of several.
    source_sha256 : str, optional
        Its sha256 (default: the source's entry in ``hashes``, else the first input's).
    config_digest : str
        Digest of the config that asked for the output.
    """
    hashes = dict(hashes)
    if source_sha256 is None:
        source_sha256 = hashes.get(source) if isinstance(source, str) else None
        source_sha256 = source_sha256 or next(iter(hashes.values()), "")
    return {
        "source": source,
        "source_sha256": source_sha256,
        "inputs": hashes,
        "versions": package_versions(),
        "neurodag_version": __version__,
        "config_digest": config_digest,
        "created": now(),
    }


def record(inputs: Iterable[str | Path] = (), *, source: str | None = None,
           config_digest: str = "") -> dict:
    """The provenance attrs for an output made from ``inputs`` (each hashed here)."""
    inputs = [Path(p) for p in inputs]
    hashes = {str(p): sha256_file(p) for p in inputs}
    primary = source if source is not None else (str(inputs[0]) if inputs else "memory")
    return block(hashes, source=primary, config_digest=config_digest)


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
