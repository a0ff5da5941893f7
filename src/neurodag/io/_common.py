"""Small helpers shared by the readers: file checks, BIDS entities, one-line messages."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError, one_line  # noqa: F401 (one_line: used by the readers)

_ENTITY = re.compile(r"(?:^|_)([a-zA-Z]+)-([a-zA-Z0-9]+)(?=_|\.|$)")


def full_suffix(path: Path) -> str:
    """The extension of ``path`` in lower case, keeping ``.nii.gz`` and ``.fif.gz`` whole."""
    name = path.name.lower()
    for double in (".nii.gz", ".fif.gz", ".tsv.gz", ".csv.gz"):
        if name.endswith(double):
            return double
    return path.suffix.lower()


def stem(path: Path) -> str:
    """The file name without :func:`full_suffix`."""
    suffix = full_suffix(path)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.name


def check_file(path: Path) -> None:
    """One-line :class:`InputError` for a missing or empty file (directories must exist)."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)")


def bids_entities(path: Path) -> dict[str, str]:
    """BIDS ``key-value`` entities in a file name, e.g. ``{"sub": "01", "ses": "02"}``."""
    return {k.lower(): v for k, v in _ENTITY.findall(stem(path))}


def subject_session(path: Path, subject: str | None, session: str | None) -> tuple[str, str]:
    """Subject and session: the arguments, else BIDS entities of the file or its folders, else
    subject 01 and the session named as the file (its stem)."""
    found: dict[str, str] = {}
    for part in (path.name, *reversed(path.parent.parts)):
        for key, value in _ENTITY.findall(part):
            found.setdefault(key.lower(), value)
    sub = subject if subject is not None else found.get("sub", "01")
    ses = session if session is not None else found.get("ses", "01")
    if session is None and not {"sub", "ses"} & set(found):  # no BIDS name: named as its file
        ses = re.sub(r"[^A-Za-z0-9_-]+", "-", stem(path)).strip("-") or ses
    return str(sub).removeprefix("sub-"), str(ses).removeprefix("ses-")


def check_finite(values: np.ndarray, names, path: Path) -> None:
    """One-line :class:`InputError` naming the columns that hold NaN or Inf."""
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        cols = [str(n) for n in np.asarray(names, dtype=object)[bad][:5]]
        raise InputError(f"{path}: NaN or Inf samples in column(s) {cols}")


def check_unique(names, path: Path, what: str = "channel names") -> None:
    """One-line :class:`InputError` for duplicate names."""
    seen: set[str] = set()
    dup: list[str] = []
    for n in names:
        if n in seen and n not in dup:
            dup.append(n)
        seen.add(n)
    if dup:
        raise InputError(f"{path}: duplicate {what} {dup[:5]}")
