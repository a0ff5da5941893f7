"""The config's JSON Schema: shipped with the package, its step sections generated.

The base (``neurodag/data/config.schema.yaml``, package data: a non-editable install has
it) describes the run-wide keys and the structure of a dataset entry. The sections that
hold a step's options (``ingest``, ``preprocess``, ``homogenize``, ``analyses.*``, the
denoiser's ``options``) are generated from the steps' declarations
(:mod:`neurodag.steps`, ``Step.config``): their types, bounds, docs and defaults are those
the library uses, so the schema, ``neurodag STEP --help`` and the code cannot disagree.
Options that differ by modality or kind (``preprocess``, ``homogenize``) are listed without
defaults; :func:`neurodag.config.check` fills those in from the modality's declaration.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError
from .errors import suggest as _suggest

#: The base schema shipped in the package.
BASE_SCHEMA = files("neurodag") / "data" / "config.schema.yaml"


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file; one line if it is missing or not YAML."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def base_schema() -> dict:
    """The shipped base schema (without the generated step sections)."""
    return yaml.safe_load(BASE_SCHEMA.read_text(encoding="utf-8"))


def _union(classes, defaults: bool) -> dict:
    """One object schema with the options of several declarations (no defaults when they
    are variants: each has its own)."""
    props: dict = {}
    for cls in classes:
        for name, node in cls.json_schema(defaults=defaults)["properties"].items():
            props.setdefault(name, node)
    return {"type": "object", "additionalProperties": False, "properties": props}


def step_sections() -> dict:
    """``{config key path: JSON Schema}`` of every step's options section."""
    from .steps import Variants, registry

    found: dict[tuple[bool, str], list] = {}
    for step in registry().values():
        if step.config is None:
            continue
        opts = step.config_options or step.options
        classes = list(opts.choices.values()) if isinstance(opts, Variants) else [opts]
        entry = found.setdefault((step.config_top, step.config), [[], step.config_defaults])
        entry[0] += classes
        entry[1] = entry[1] and step.config_defaults
    out = {}
    for (top, key), (classes, defaults) in found.items():
        classes = list(dict.fromkeys(classes))
        node = (classes[0].json_schema(defaults=defaults) if len(classes) == 1
                else _union(classes, defaults=False))
        out[("/" if top else "") + key] = node
    return out


def full_schema(base: dict | None = None) -> dict:
    """The base schema with the generated step sections in place."""
    schema = copy.deepcopy(base_schema() if base is None else base)
    defs = schema.setdefault("$defs", {})
    for key, node in step_sections().items():
        if key.startswith("/"):   # run-wide: e.g. /denoise.options
            parent = schema
            *path, leaf = key[1:].split(".")
            for part in path:
                parent = parent["properties"][part]
            target = parent["properties"].setdefault(leaf, {})
        else:
            first, *rest = key.split(".")
            target = defs.setdefault(first, {"type": "object"})
            for part in rest:
                target = target.setdefault("properties", {}).setdefault(part, {})
        wiring = target.get("properties", {})
        description = target.get("description")
        target.update(copy.deepcopy(node))
        target["properties"] = {**wiring, **target["properties"]}
        if description:
            target["description"] = description
    return schema


def load_schema(path: str | Path | None = None) -> dict:
    """The config JSON Schema: the shipped one, or the base at ``path``, with the generated
    step sections."""
    return full_schema(None if path is None else load_yaml(path))


# -- schema validation with defaults -------------------------------------------------

def _fill_defaults(validator_class):
    """A validator that also writes each property's ``default`` into the instance."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _fill_defaults(jsonschema.Draft202012Validator)


def _path(parts) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"




def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _sub_schema(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _format(error: jsonschema.ValidationError, root: dict) -> str:
    where = _path(error.absolute_path)
    schema = _sub_schema(error.schema, root)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        key = extra[0] if extra else "?"
        loc = f"{where}.{key}" if error.absolute_path else key
        hint = _suggest(key, allowed) or (f"; expected one of {allowed}" if allowed else "")
        return f"{loc}: unknown key{hint}"
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{where}: missing required key '{missing}'"
    if kind == "enum":
        options = ", ".join(map(str, error.validator_value))
        return f"{where}: {_describe(error.instance)} is not one of {options}{_suggest(error.instance, error.validator_value)}"
    if kind == "type":
        types = error.validator_value
        types = " or ".join(types) if isinstance(types, list) else types
        return (f"{where}: expected {types}, got {_describe(error.instance)} "
                f"({type(error.instance).__name__})")
    if kind == "not" and isinstance(error.instance, str):
        return f"{where}: '{error.instance}' is reserved for a results folder; choose another name"
    if kind == "minProperties" and error.instance == {}:
        return f"{where}: empty; define at least one"
    if kind == "propertyNames":
        return f"{where}: invalid name {_describe(error.instance)} (letters, digits, _ and -, " \
               "starting with a letter; not reports, logs, figures, index or models)"
    if kind == "oneOf" and error.absolute_path and error.absolute_path[-1] == "source":
        if isinstance(error.instance, dict) and "bids" in error.instance \
                and "datatype" not in error.instance:
            return f"{where}.datatype: required with 'bids' (eeg, meg or ieeg)"
        return f"{where}: give exactly one of 'synthetic', 'files', 'bids' or 'reference'"
    if kind in ("oneOf", "anyOf"):
        types = [sub.get("type") for sub in error.validator_value if "type" in sub]
        if types:
            return (f"{where}: expected {' or '.join(types)}, got {_describe(error.instance)} "
                    f"({type(error.instance).__name__})")
    if kind in ("minimum", "exclusiveMinimum", "maximum", "minItems", "minProperties", "minLength"):
        return f"{where}: {_describe(error.instance)} is too small ({kind} {error.validator_value})"
    return f"{where}: {error.message}"


def validate_schema(config: Mapping, schema: Mapping | None = None) -> dict:
    """Validate ``config`` against the JSON Schema and return a copy with defaults filled in."""
    schema = dict(schema) if schema is not None else load_schema()
    out = copy.deepcopy(dict(config))
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(out), key=lambda e: (len(e.absolute_path), str(e.path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors, key=jsonschema.exceptions.relevance)
        # Prefer an unknown-key error: a typo there explains the errors that follow from it.
        for e in errors:
            if e.validator == "additionalProperties":
                best = e
                break
        raise ConfigError(f"config: {_format(best, schema)}")
    return out


