"""The one runner of every step: options, inputs, provenance, atomic outputs, log, errors.

:func:`run` checks the options against the step's declaration, opens the inputs by their
kind (lazily), hashes each input file once (:class:`Context` keeps the hashes for the
provenance block), calls the step's ``compute`` with temporary paths for its outputs,
writes what ``compute`` returns in memory, and renames every output into place only when
all are complete. A failure removes the temporaries and leaves any previous outputs as
they were. A streaming step writes its outputs itself at ``ctx.out[role]`` (stamped with
:meth:`Context.stamp`), so nothing needs to fit in memory.

:func:`failsafe` is the error policy of the command line: a problem the user can fix
(:class:`~neurodag.errors.InputError`, :class:`~neurodag.errors.ConfigError`) is one line on
stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import datetime as _dt
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import provenance
from ..errors import InputError
from ..options import Options
from ..store.atomic import commit, remove, temporary
from .contract import Step, Variants

#: What ``compute`` returns for an output that is already complete and stays as it is.
KEEP = object()


def log(message: str) -> None:
    """One time-stamped line on stdout (the rule's log)."""
    print(f"{_dt.datetime.now():%H:%M:%S} {message}", flush=True)


def _read(kind: str, path: Path):
    from .. import store

    if kind == "signal":
        return store.read_signal(path)
    if kind == "dataset":
        return store.read_dataset(path)
    if kind == "connectome":
        from .. import connectome

        return connectome.read(path)
    if kind == "netcdf":
        return store.read_netcdf(path)
    if kind == "json":
        return store.read_json(path)
    return path


class Inputs(Mapping):
    """The inputs of one run: ``inputs[role]`` is a Path, a list of Paths (``many``) or a
    ``{key: Path}`` (``keyed``); :meth:`read` opens them by their kind."""

    def __init__(self, step: Step, given: Mapping):
        self.step = step
        self._paths = {}
        extra = sorted(set(given) - set(step.inputs))
        if extra:
            from ..errors import suggest

            raise InputError(f"{step.name}: unknown input {extra[0]!r}"
                             f"{suggest(extra[0], step.inputs)} (inputs: "
                             f"{', '.join(step.inputs) or 'none'})")
        for role, spec in step.inputs.items():
            value = given.get(role)
            if value is None or (not isinstance(value, (str, Path)) and not value):
                if not spec.optional:
                    raise InputError(f"{step.name}: input {role!r} is missing")
                value = {} if spec.keyed else ([] if spec.many else None)
            elif spec.keyed:
                if not isinstance(value, Mapping):
                    raise InputError(f"{step.name}: input {role!r} takes KEY=PATH items")
                value = {str(k): Path(v) for k, v in value.items()}
            elif spec.many:
                value = [Path(value)] if isinstance(value, (str, Path)) else [Path(v) for v in value]
            elif not isinstance(value, (str, Path)):
                raise InputError(f"{step.name}: input {role!r} takes one path")
            else:
                value = Path(value)
            self._paths[role] = value
        self._read = {}

    def __getitem__(self, role):
        return self._paths[role]

    def __iter__(self):
        return iter(self._paths)

    def __len__(self):
        return len(self._paths)

    def files(self) -> list[Path]:
        """Every input path, in role order."""
        out = []
        for value in self._paths.values():
            if isinstance(value, Mapping):
                out += list(value.values())
            elif isinstance(value, list):
                out += value
            elif value is not None:
                out.append(value)
        return out

    def read(self, role: str):
        """The role's input(s) opened by kind (a Dataset, a dict, ...; Paths for files)."""
        if role not in self._read:
            kind, value = self.step.inputs[role].kind, self._paths[role]
            if isinstance(value, Mapping):
                self._read[role] = {k: _read(kind, p) for k, p in value.items()}
            elif isinstance(value, list):
                self._read[role] = [_read(kind, p) for p in value]
            else:
                self._read[role] = None if value is None else _read(kind, value)
        return self._read[role]


class Context:
    """What ``compute`` gets besides inputs and options: temporary output paths
    (``out``; ``targets`` are the final ones, for links between outputs), the provenance
    block and a log."""

    def __init__(self, step: Step, inputs: Inputs, out: dict[str, Path],
                 targets: dict[str, Path], config_digest: str):
        self.step = step
        self.inputs = inputs
        self.out = out
        self.targets = targets
        self.config_digest = config_digest
        self.hashes: dict[str, str] = {}
        self._block: dict | None = None
        self.stamped: set[int] = set()

    log = staticmethod(log)

    def sha256(self, path: str | Path) -> str:
        """sha256 of an input file or folder, computed once per run."""
        key = str(path)
        if key not in self.hashes:
            self.hashes[key] = provenance.sha256_file(path)
        return self.hashes[key]

    def provenance(self, files=None, *, source=None, source_sha256=None,
                   hashes: Mapping | None = None) -> dict:
        """The provenance block (:func:`neurodag.provenance.record`'s keys).

        Without arguments: the step's own block (every input hashed once; the source is
        the recording for a step that keeps it, else the primary input). ``files`` (hashed
        here, once each) or precomputed ``hashes`` and ``source`` describe another origin
        (ingest: the files its reader used).
        """
        if files is None and hashes is None and source is None:
            if self._block is None:
                self._block = self._default_block()
            return dict(self._block)
        inputs = dict(hashes or {})
        inputs.update({str(p): self.sha256(p) for p in files or ()})
        src = source if source is not None else (next(iter(inputs), "memory"))
        return provenance.block(inputs, source=src, source_sha256=source_sha256,
                                config_digest=self.config_digest)

    def _default_block(self) -> dict:
        inputs = {str(p): self.sha256(p) for p in self.inputs.files()}
        primary = next(iter(self.step.inputs), None)
        value = self.inputs[primary] if primary else None
        if self.step.keeps_source and isinstance(value, Path):
            attrs = getattr(self.inputs.read(primary), "attrs", {})
            if attrs.get("source"):
                return provenance.block(inputs, source=str(attrs["source"]),
                                        source_sha256=str(attrs.get("source_sha256", "")),
                                        config_digest=self.config_digest)
        if isinstance(value, Path):
            return provenance.block(inputs, source=str(value), config_digest=self.config_digest)
        paths = list(value.values()) if isinstance(value, Mapping) else (value or [])
        if not paths:
            return provenance.block(inputs, source="memory", config_digest=self.config_digest)
        # A product of several inputs: its sources are all of them (in order), and
        # source_sha256 is the digest of their {path: sha256}.
        part = {str(p): inputs[str(p)] for p in paths}
        return provenance.block(inputs, source=[str(p) for p in paths],
                                source_sha256=provenance.config_digest(part),
                                config_digest=self.config_digest)

    def stamp(self, obj, block: dict | None = None):
        """Put a provenance block (the step's own by default) into ``obj.attrs``."""
        obj.attrs.update(self.provenance() if block is None else block)
        self.stamped.add(id(obj))
        return obj


def _write(kind: str, obj, path: Path, ctx: Context) -> None:
    from .. import store
    from ..records import Record

    if hasattr(obj, "attrs") and id(obj) not in ctx.stamped:
        ctx.stamp(obj)
    if isinstance(obj, Record):
        if obj.provenance is None:
            obj.provenance = ctx.provenance()
        obj.write(path)
    elif kind == "signal":
        store.write_signal(obj, path)
    elif kind == "dataset":
        store.write_dataset(obj, path)
    elif kind == "connectome":
        from .. import connectome

        connectome.write(obj, path)
    elif kind == "netcdf":
        store.write_netcdf(obj, path)
    elif kind == "json":
        store.write_json(obj, path)
    elif kind == "folder":
        path.mkdir(parents=True, exist_ok=True)
        by_suffix = {".nc": "netcdf", ".json": "json", ".zarr": "dataset"}
        for name, item in obj.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)   # "subjects/s1.nc"
            _write(by_suffix[Path(name).suffix], item, path / name, ctx)
    else:
        raise TypeError(f"{ctx.step.name}: cannot write a {type(obj).__name__} as {kind}")


def check_options(step: Step, given: Mapping | None, where: str | None = None):
    """The step's options checked against its declaration (a Variants step: the
    ``key`` option selects the declaration; the input's modality is checked in compute)."""
    where = where or step.name
    given = dict(given or {})
    if isinstance(step.options, Variants):
        if step.options.from_input:
            return given
        if step.options.key not in given:
            raise InputError(f"{where}: give {step.options.key} (one of "
                             f"{', '.join(step.options.choices)})")
        value = given.pop(step.options.key)
        return value, step.options.select(value, where).check(given, where)
    return step.options.check(given, where)


def run(step: Step | str, inputs: Mapping | None = None, outputs: Mapping | None = None,
        options: Mapping | Options | None = None, *, config_digest: str = "") -> dict[str, Path]:
    """Run one step.

    Parameters
    ----------
    step : Step or str
        A step or its registered name.
    inputs : mapping
        ``{role: path}``, ``{role: [paths]}`` or ``{role: {key: path}}``.
    outputs : mapping
        ``{role: path}`` for every declared output.
    options : mapping, optional
        The step's options (missing ones take their declared defaults).
    config_digest : str
        Digest of the config entry that asked for these outputs (provenance).

    Returns
    -------
    dict
        ``{role: path}`` of the outputs written.
    """
    from . import get

    step = get(step) if isinstance(step, str) else step
    opts = check_options(step, options if not isinstance(options, Options) else
                         options.to_dict())
    ins = Inputs(step, inputs or {})
    outputs = {r: Path(p) for r, p in (outputs or {}).items()}
    unknown = sorted(set(outputs) - set(step.outputs))
    missing = [r for r, o in step.outputs.items() if r not in outputs and not o.optional]
    if unknown or missing:
        raise InputError(f"{step.name}: outputs {', '.join(step.outputs)} expected; "
                         + (f"unknown {unknown[0]!r}" if unknown else f"missing {missing[0]!r}"))
    # Each output is made under its own name inside a hidden temporary folder (writers that
    # look at suffixes see the real one), then renamed into place.
    stage = {role: temporary(path) for role, path in outputs.items()}
    for folder in stage.values():
        folder.mkdir()
    tmp = {role: stage[role] / path.name for role, path in outputs.items()}
    ctx = Context(step, ins, tmp, outputs, config_digest)
    kept = set()
    try:
        result = step.compute(ins, opts, ctx) or {}
        for role, obj in result.items():
            if role not in tmp:
                raise RuntimeError(f"{step.name}: compute returned undeclared output {role!r}")
            if obj is KEEP:
                kept.add(role)
                continue
            _write(step.outputs[role].kind, obj, tmp[role], ctx)
        for role, path in tmp.items():
            if role not in kept and not path.exists() and not step.outputs[role].optional:
                raise RuntimeError(f"{step.name}: output {role!r} was not written")
    except BaseException:
        for folder in stage.values():
            remove(folder)
        raise
    written = {}
    for role, path in tmp.items():
        if role in kept:
            written[role] = outputs[role]
        elif path.exists():
            commit(path, outputs[role])
            written[role] = outputs[role]
        remove(stage[role])
    for role, path in written.items():
        print(f"wrote {role}: {path}", flush=True)
    return written


def failsafe(command: str, fn: Callable[[], object]) -> int:
    """Run ``fn``; a user's error is one line ``neurodag COMMAND: error: ...`` and exit 2."""
    try:
        fn()
    except InputError as e:
        print(f"neurodag {command}: error: {e}", file=sys.stderr)
        return 2
    return 0
