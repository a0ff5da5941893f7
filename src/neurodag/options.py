"""Options declared once: typed, with defaults, constraints and a one-line doc each.

The options of a step, a reader or a preprocessing modality are a frozen dataclass that
subclasses :class:`Options`; every field is declared with :func:`option`::

    @dataclass(frozen=True)
    class Options(options.Options):
        states: list[int] = option([1, 2, 3, 4, 5], "candidate numbers of states", ge=1)
        prior: Literal["none", "gaussian", "onehot"] = option("none", "prior on the weights")

From that one declaration come the checks (:meth:`Options.check`: unknown keys with the
closest valid one, types, ranges; one-line :class:`~neurodag.errors.ConfigError` naming
the key path), the defaults the library uses, the config's JSON Schema
(:meth:`Options.json_schema`, filled in by :mod:`neurodag.config`) and the CLI's flags and
``--help`` (:mod:`neurodag.cli`). In the spirit of scikit-learn's ``_parameter_constraints``,
but for plain JSON values that come from config files and command lines.

Types understood: ``bool``, ``int``, ``float`` (ints accepted), ``str``, ``Literal[...]``,
``X | None``, ``list[X]``, ``tuple[X, Y]`` (fixed length), ``dict`` (a free mapping), another
:class:`Options` subclass (nested, e.g. ``ica``) and unions of these.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Literal

from .errors import ConfigError, suggest

_MISSING = dataclasses.MISSING


def option(default, doc: str, *, ge=None, gt=None, le=None, lt=None, min_items=None,
           max_items=None, check: Callable | None = None, wiring: bool = False,
           flags: tuple[str, ...] = ()):
    """Declare one option: its default, a one-line doc and its constraints.

    Parameters
    ----------
    default
        The value used when the option is not given (copied, so lists are safe); ``...``
        for a required option. ``None`` means "not set": the library decides (the
        schema then fills in no default).
    doc : str
        One line: what the option does (shown by ``--help`` and in the config schema).
    ge, gt, le, lt : float, optional
        Bounds of a number, or of each number of a list.
    min_items, max_items : int, optional
        Length of a list.
    check : callable, optional
        ``check(value, path) -> value`` for what types and bounds cannot say (raise
        :class:`ConfigError` with :func:`fail`).
    wiring : bool
        A config key the rules read (e.g. which store an analysis reads), not passed to
        the step itself.
    flags : tuple of str
        Extra command-line spellings of the option (kept for old command lines).
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "min_items": min_items,
            "max_items": max_items, "check": check, "wiring": wiring, "flags": tuple(flags)}
    if isinstance(default, (list, dict, Options)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def fail(path: str, message: str):
    """Raise the one-line ConfigError ``path: message``."""
    raise ConfigError(f"{path}: {message}")


@dataclasses.dataclass(frozen=True)
class Spec:
    """One declared option: name, resolved type, default and metadata."""

    name: str
    type: Any
    default: Any
    meta: Mapping

    @property
    def doc(self) -> str:
        return self.meta["doc"]


class Options:
    """Base of the options declarations (subclasses are frozen dataclasses).

    ``EXTRA`` names a ``dict`` field that receives the keys the class does not declare
    (checked by whatever they are passed on to: a generator's or a paper's parameters).
    """

    EXTRA: typing.ClassVar[str | None] = None

    @classmethod
    @cache
    def specs(cls) -> dict[str, Spec]:
        """``{name: Spec}`` in declaration order."""
        hints = typing.get_type_hints(cls)
        out = {}
        for f in dataclasses.fields(cls):
            if f.default is not _MISSING:
                default = f.default
            elif f.default_factory is not _MISSING:
                default = f.default_factory()
            else:
                raise TypeError(f"{cls.__name__}.{f.name}: an option needs a default")
            if "doc" not in f.metadata:
                raise TypeError(f"{cls.__name__}.{f.name}: declare it with option()")
            out[f.name] = Spec(f.name, hints[f.name], default, f.metadata)
        return out

    @classmethod
    def check(cls, given: Mapping | None = None, where: str = "options"):
        """A checked instance: ``given`` over the defaults.

        Raises
        ------
        ConfigError
            One line naming the key path (``where.key``): an unknown key (with the closest
            known one), a wrong type, a value out of range.
        """
        given = {} if given is None else given
        if isinstance(given, cls):
            return given
        if not isinstance(given, Mapping):
            fail(where, f"expected a mapping, got {type(given).__name__}")
        specs = cls.specs()
        given = dict(given)
        extra = {}
        for key in list(given):
            if key not in specs or key == cls.EXTRA:
                if cls.EXTRA is not None:
                    value = given.pop(key)
                    extra.update(value if key == cls.EXTRA and isinstance(value, Mapping)
                                 else {key: value})
                    continue
                known = ", ".join(specs) if specs else "none"
                fail(f"{where}.{key}", f"unknown option{suggest(key, specs)} (known: {known})")
        if cls.EXTRA is not None:
            given[cls.EXTRA] = extra
        values = {}
        for name, spec in specs.items():
            path = f"{where}.{name}"
            if name not in given and spec.default is Ellipsis:
                fail(path, "required option missing")
            if name in given:
                value = _coerce(spec.type, given[name], path, spec.meta)
                if spec.meta["check"] is not None:
                    value = spec.meta["check"](value, path)
            else:
                value = copy.deepcopy(spec.default)
                if isinstance(value, Options):
                    value = type(value).check(value.to_dict(), path)
            values[name] = value
        out = cls(**values)
        out.validate(where)
        return out

    def validate(self, where: str) -> None:
        """Checks across options (override; raise with :func:`fail`)."""

    def check_modality(self, modality: str, where: str) -> None:
        """Checks that depend on the data's modality (override; raise with :func:`fail`):
        run by the config check before any job, and by the step on its input."""

    def to_dict(self, *, wiring: bool = True, unset: bool = True) -> dict:
        """Plain JSON values (nested options as mappings); ``wiring=False`` leaves out the
        keys only the rules read, ``unset=False`` those left unset (None by default)."""
        out = {}
        for name, spec in self.specs().items():
            if not wiring and spec.meta["wiring"]:
                continue
            value = getattr(self, name)
            if not unset and value is None and spec.default is None:
                continue
            out[name] = value.to_dict() if isinstance(value, Options) else copy.deepcopy(value)
        return out

    @classmethod
    def defaults(cls) -> dict:
        """Every option's default, as plain JSON (required ones left out)."""
        return {name: (spec.default.to_dict() if isinstance(spec.default, Options)
                       else copy.deepcopy(spec.default))
                for name, spec in cls.specs().items() if spec.default is not Ellipsis}

    @classmethod
    def json_schema(cls, *, defaults: bool = True) -> dict:
        """The JSON Schema (2020-12) of a mapping of these options.

        Defaults are written in (``defaults=True``) except ``None`` ("not set": the
        library decides) and required options; nested options default to ``{}`` so that
        their own defaults are filled in.
        """
        props, required = {}, []
        for name, spec in cls.specs().items():
            if name == cls.EXTRA:
                continue
            node = _schema(spec.type, spec.meta)
            if isinstance(spec.type, type) and issubclass(spec.type, Options):
                node = spec.type.json_schema(defaults=defaults)
            node["description"] = spec.doc
            if spec.default is Ellipsis:
                required.append(name)
            elif defaults and spec.default is not None:
                node["default"] = {} if isinstance(spec.default, Options) else spec.default
            props[name] = node
        out = {"type": "object", "additionalProperties": cls.EXTRA is not None,
               "properties": props}
        if required:
            out["required"] = required
        return out


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def json_kinds(tp) -> set[str]:
    """The JSON kinds a type takes."""
    origin = typing.get_origin(tp)
    if tp is type(None):
        return {"null"}
    if tp is bool:
        return {"boolean"}
    if tp in (int, float):
        return {"number"}
    if tp is str:
        return {"string"}
    if origin is Literal:
        return {_kind(v) for v in typing.get_args(tp)}
    if origin in (list, tuple):
        return {"array"}
    if tp is dict or origin is dict or (isinstance(tp, type) and issubclass(tp, Options)):
        return {"object"}
    if origin in (typing.Union, types.UnionType):
        return set().union(*(json_kinds(a) for a in typing.get_args(tp)))
    return {"null", "boolean", "number", "string", "array", "object"}


def _bounds(meta: Mapping) -> str:
    parts = [f"{op} {meta[k]:g}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="),
                                                ("lt", "<")) if meta.get(k) is not None]
    return " and ".join(parts)


def _number(value, path: str, meta: Mapping, integer: bool):
    what = "an integer" if integer else "a number"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer and (not math.isfinite(value) or float(value) != int(value)):
        ok = False
    bounds = _bounds(meta)
    if not ok:
        fail(path, f"expected {what}, got {value!r}")
    number = int(value) if integer else float(value)
    low_ok = ((meta.get("ge") is None or number >= meta["ge"])
              and (meta.get("gt") is None or number > meta["gt"]))
    high_ok = ((meta.get("le") is None or number <= meta["le"])
               and (meta.get("lt") is None or number < meta["lt"]))
    if number != number or not (low_ok and high_ok):
        fail(path, f"expected {what} {bounds}, got {value!r}".replace("  ", " "))
    return number


def _coerce(tp, value, path: str, meta: Mapping):
    """``value`` checked against type ``tp`` (and ``meta``'s bounds), as plain JSON."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        kind = _kind(value)
        names = " or ".join(_describe(a) for a in args)
        for arg in args:   # the branch that takes this kind of value decides the message
            if arg is not type(None) and kind in json_kinds(arg):
                if typing.get_origin(arg) is Literal and value not in typing.get_args(arg):
                    fail(path, f"expected {names}, got {value!r}"
                               f"{suggest(value, typing.get_args(arg)) if kind == 'string' else ''}")
                return _coerce(arg, value, path, meta)
        fail(path, f"expected {names}, got {value!r}")
    if tp is Any:
        return copy.deepcopy(value)
    if value is None:
        fail(path, f"expected {_describe(tp)}, got None")
    if tp is bool:
        if not isinstance(value, bool):
            fail(path, f"expected true or false, got {value!r}")
        return value
    if tp is int or tp is float:
        return _number(value, path, meta, integer=tp is int)
    if tp is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            fail(path, f"expected a string, got {value!r}")
        return value
    if origin is Literal:
        choices = typing.get_args(tp)
        if not any(value == c and type(value) is type(c) for c in choices):
            fail(path, f"expected one of {list(choices)}, got {value!r}"
                       f"{suggest(value, choices) if isinstance(value, str) else ''}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            fail(path, f"expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                fail(path, f"expected a list of {len(args)}, got {value!r}")
            items = args
        else:
            items = [args[0] if args else Any] * len(value)
        n = len(value)
        if meta.get("min_items") is not None and n < meta["min_items"]:
            fail(path, f"expected at least {meta['min_items']} item(s), got {value!r}")
        if meta.get("max_items") is not None and n > meta["max_items"]:
            fail(path, f"expected at most {meta['max_items']} item(s), got {value!r}")
        return [_coerce(t, v, f"{path}[{i}]", meta) for i, (t, v) in
                enumerate(zip(items, value, strict=True))]
    if tp is dict or origin is dict:
        if not isinstance(value, Mapping):
            fail(path, f"expected a mapping, got {value!r}")
        return copy.deepcopy(dict(value))
    if isinstance(tp, type) and issubclass(tp, Options):
        return tp.check(value, path)
    raise TypeError(f"{path}: option type {tp!r} is not supported")


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return f"one of {list(typing.get_args(tp))}"
    if origin in (list, tuple):
        return "a list"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            dict: "a mapping"}.get(tp, getattr(tp, "__name__", str(tp)))


def _schema(tp, meta: Mapping) -> dict:
    """JSON Schema of one type, with ``meta``'s bounds."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [_schema(a, meta) for a in typing.get_args(tp)]
        simple = [p for p in parts if set(p) == {"type"}]
        if all("type" in p and isinstance(p["type"], str) for p in parts):
            merged = {"type": [p["type"] for p in parts]}
            for p in parts:
                for k, v in p.items():
                    if k != "type" and merged.setdefault(k, v) != v:
                        return {"anyOf": parts}
            return merged
        enums = [p for p in parts if set(p) == {"enum"}]
        if enums and len(enums) + len(simple) == len(parts) and \
                all(p["type"] == "null" for p in simple):
            return {"enum": [v for p in enums for v in p["enum"]] + [None] * len(simple)}
        return {"anyOf": parts}
    if tp is type(None):
        return {"type": "null"}
    if tp is Any:
        return {}
    if tp is bool:
        return {"type": "boolean"}
    if tp in (int, float):
        node = {"type": "integer" if tp is int else "number"}
        for key, word in (("ge", "minimum"), ("gt", "exclusiveMinimum"), ("le", "maximum"),
                          ("lt", "exclusiveMaximum")):
            if meta.get(key) is not None:
                node[word] = meta[key]
        return node
    if tp is str:
        return {"type": "string"}
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin in (list, tuple):
        args = typing.get_args(tp)
        node = {"type": "array"}
        if origin is tuple and args and args[-1] is not Ellipsis:
            node.update(prefixItems=[_schema(a, meta) for a in args], minItems=len(args),
                        maxItems=len(args), items=False)
            return node
        if args:
            node["items"] = _schema(args[0], meta)
        if meta.get("min_items") is not None:
            node["minItems"] = meta["min_items"]
        if meta.get("max_items") is not None:
            node["maxItems"] = meta["max_items"]
        return node
    if tp is dict or origin is dict:
        return {"type": "object"}
    if isinstance(tp, type) and issubclass(tp, Options):
        return tp.json_schema()
    raise TypeError(f"option type {tp!r} has no JSON Schema")


def help_rows(cls: type[Options], prefix: str = "", defaults: Options | None = None
              ) -> list[tuple[str, str, Any]]:
    """``(dotted name, doc, default)`` of every option, nested ones flattened."""
    rows = []
    for name, spec in cls.specs().items():
        if spec.meta["wiring"] or name == cls.EXTRA:
            continue
        default = spec.default if defaults is None else getattr(defaults, name)
        if isinstance(spec.type, type) and issubclass(spec.type, Options):
            rows += help_rows(spec.type, f"{prefix}{name}.", default)
        else:
            rows.append((f"{prefix}{name}", spec.doc, default))
    return rows


__all__ = ["Options", "Spec", "option", "fail", "help_rows"]
