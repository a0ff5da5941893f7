"""Write to a temporary name, then rename: a failed write leaves nothing that looks finished."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def temporary(path: str | Path) -> Path:
    """A hidden temporary sibling of ``path`` (``.NAME.PID-RANDOM.partial``): neither a glob
    nor Snakemake takes it for the output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")


def remove(path: str | Path) -> None:
    """Remove a file or folder if it exists."""
    _remove(Path(path))


def commit(tmp: str | Path, path: str | Path) -> Path:
    """Rename a complete temporary onto ``path`` (replacing a previous file or folder)."""
    tmp, path = Path(tmp), Path(path)
    if tmp.is_dir() and (path.exists() or path.is_symlink()):
        # A directory cannot be os.replace()d onto a non-empty one: move the old aside first.
        old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)
    else:
        os.replace(tmp, path)
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` when the block succeeds.

    The temporary name starts with a dot and ends in ``.partial``, so that neither a
    glob nor Snakemake takes it for the output. On any exception (including
    KeyboardInterrupt) the temporary is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = temporary(path)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if not tmp.exists():
        raise RuntimeError(f"{path}: the writer produced nothing at {tmp}")
    commit(tmp, path)


def write_json(obj, path: str | Path) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    return path


def read_json(path: str | Path, what: str = "JSON file") -> dict:
    """Read a JSON object; a missing, unreadable or corrupt file is one InputError line."""
    from ..errors import InputError, one_line

    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable {what} ({one_line(e)})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: {what} is not a JSON object")
    return obj


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")
