"""Typed metrics: one declared record per product, written and read by the same class.

A step's ``metrics.json`` (or ``qc.json``) is a dataclass subclassing :class:`Record`; the
step returns an instance, the runner writes it with its provenance block, and the report
reads it back with :meth:`Record.read`, which names the file and the missing key in one
line when the file was written by another version or edited::

    @dataclass
    class Metrics(Record):
        selected_n_states: int
        heldout_loglik: dict[str, list[float]]

Fields without a default are required; ``extra = True`` keeps the keys a record does not
declare (the per-modality facts of ``qc.json``) under :attr:`Record.rest`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from .errors import InputError


@dataclasses.dataclass(kw_only=True)
class Record:
    """Base of the metrics records; ``provenance`` is the runner's block."""

    provenance: dict | None = None
    #: Keys of the file this record does not declare (only with ``extra = True``).
    rest: dict = dataclasses.field(default_factory=dict)
    #: Keep undeclared keys (a record with open-ended facts).
    extra: ClassVar[bool] = False
    #: What the file is called in messages.
    what: ClassVar[str] = "metrics.json"

    def to_dict(self) -> dict:
        """Plain JSON: the declared fields (optional ones only when set), the rest, the
        provenance."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("rest", "provenance")
               and not (f.default is None and getattr(self, f.name) is None)}
        out.update(self.rest)
        if self.provenance is not None:
            out["provenance"] = self.provenance
        return out

    def write(self, path: str | Path) -> Path:
        """Write as indented JSON, atomically."""
        from .store import write_json

        return write_json(self.to_dict(), path)

    @classmethod
    def read(cls, path: str | Path):
        """Read a record; a missing key is one line naming the file and the key."""
        from .store import read_json

        data = read_json(path, cls.what)
        names = {f.name for f in dataclasses.fields(cls)} - {"rest"}
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        for name in required:
            if name not in data:
                raise InputError(f"{path}: {cls.what} lacks {name!r}; rerun its step")
        known = {k: v for k, v in data.items() if k in names}
        rest = {k: v for k, v in data.items() if k not in names}
        if rest and not cls.extra:
            raise InputError(f"{path}: {cls.what} has unknown key {sorted(rest)[0]!r}; "
                             "rerun its step")
        return cls(**known, rest=rest)


__all__ = ["Record"]
