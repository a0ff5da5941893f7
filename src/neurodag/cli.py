"""Command line, generated from the step registry: ``neurodag STEP --in ROLE=PATH ...
--out ROLE=PATH ... [--options JSON] [--set KEY=VALUE ...]``.

Every step of :mod:`neurodag.steps` is a subcommand with its positional arguments (today's
command lines: ``neurodag preprocess raw.zarr --out DIR``), ``--in``/``--out`` for its roles
(``--in stores[DATASET/SESSION]=PATH`` for keyed ones; ``--out DIR`` puts each output at its
name in DIR), its options (a flag per top-level option, ``--set`` for nested ones, or
``--options JSON``) and ``--help`` listing every option with its default and doc. Running a
step imports only that step's module. ``validate`` and ``check-config`` are tools, not steps.

Errors the user can fix (:class:`neurodag.errors.InputError`) print one line to stderr and
exit with code 2 (:func:`neurodag.steps.runner.failsafe`); anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

from . import __version__
from .errors import InputError

_KEYED = re.compile(r"^(?P<role>[A-Za-z_][\w-]*)(?:\[(?P<key>[^\]]+)\])?=(?P<path>.+)$")


def _value(text: str):
    """A command-line value parsed as JSON (what the rules write), else as YAML (numbers,
    booleans, lists, null, bare words), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _parse_set(items: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs; values parsed as JSON or YAML (numbers, booleans, lists, null); dotted
    keys nest (``ica.n_components=15`` -> ``{"ica": {"n_components": 15}}``)."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"--set {item!r}: {part!r} is set to a value and a mapping")
        node[leaf] = _value(value)
    return out


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# -- one step's subcommand ----------------------------------------------------------------

def _option_help(cls, prefix="", nested_only=False) -> str:
    from .options import help_rows

    rows = [r for r in help_rows(cls) if "." in r[0] or not nested_only]
    if not rows:
        return "" if nested_only else f"{prefix}  no options"
    width = max(len(n) for n, _, _ in rows)
    return prefix + "\n".join(
        f"  {n:<{width}}  {doc} (default: "
        f"{'required' if d is Ellipsis else json.dumps(d)})" for n, doc, d in rows)


def _add_step(sub, step, name: str):
    from .options import Options, json_kinds
    from .steps import Variants

    classes = step.option_classes()
    if isinstance(step.options, Variants):
        epilog = f"options depend on {step.options.key} ({step.options.doc}):\n" + "\n".join(
            _option_help(cls, f"{key}:\n") for key, cls in classes.items())
    else:
        epilog = _option_help(step.options, "nested options (--set NAME=VALUE):\n",
                              nested_only=True)
    roles = "inputs: " + ", ".join(
        f"{r} ({i.kind}{', keyed' if i.keyed else ', many' if i.many else ''}"
        f"{', optional' if i.optional else ''})" for r, i in step.inputs.items()) or "none"
    roles += "; outputs: " + ", ".join(f"{r} ({o.kind})" for r, o in step.outputs.items())
    p = sub.add_parser(name, help=step.help, description=f"{step.help}. {roles}.",
                       epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    specs = {} if isinstance(step.options, Variants) else step.options.specs()
    for arg in step.args:
        kw = {"metavar": arg.metavar or arg.name.upper(), "help": arg.help}
        if arg.option in specs:
            spec = specs[arg.option]
            default = "required" if spec.default is Ellipsis else json.dumps(spec.default)
            kw["help"] = f"{spec.doc} (default: {default})"
        # optional on the command line: a role may come with --in, an option with --set
        kw["nargs"] = {None: "?", "+": "*"}.get(arg.nargs, arg.nargs)
        p.add_argument(f"pos_{arg.name}", **kw)
    p.add_argument("--in", dest="inputs", action="append", metavar="ROLE=PATH",
                   help="an input: ROLE=PATH, or ROLE[KEY]=PATH for keyed ones; repeatable")
    p.add_argument("--out", dest="outputs", action="append", metavar="ROLE=PATH",
                   help="an output: ROLE=PATH (repeatable), or one folder DIR for all of them")
    p.add_argument("--options", metavar="JSON", help="the options as one JSON object")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="an option, dotted for nested ones (ica.n_components=15); repeatable")
    p.add_argument("--config-digest", default="", help=argparse.SUPPRESS)
    if not isinstance(step.options, Variants):
        taken = {a.option for a in step.args}
        for oname, spec in step.options.specs().items():
            if oname in taken or oname == step.options.EXTRA or spec.meta["wiring"] or (
                    isinstance(spec.type, type) and issubclass(spec.type, Options)):
                continue
            flags = [f"--{oname.replace('_', '-')}", *spec.meta["flags"]]
            default = "required" if spec.default is Ellipsis else json.dumps(spec.default)
            kw = {"dest": f"opt_{oname}", "default": argparse.SUPPRESS,
                  "help": f"{spec.doc} (default: {default})"}
            if spec.type is bool:
                p.add_argument(*flags, action=argparse.BooleanOptionalAction, **kw)
            else:
                text = json_kinds(spec.type) <= {"string", "null"}
                p.add_argument(*flags, type=str if text else _value, metavar="VALUE", **kw)
    if step.add_args is not None:
        step.add_args(p)
    p.set_defaults(func=_run_step, step_name=step.name)


def _role_items(step, items, where: str) -> dict:
    out: dict = {}
    for item in items or []:
        m = _KEYED.match(item)
        if not m or m["role"] not in step.inputs:
            raise InputError(f"--in {item!r}: expected ROLE=PATH or ROLE[KEY]=PATH with a role "
                             f"of {step.name} ({', '.join(step.inputs) or 'none'})")
        role, key, path = m["role"], m["key"], Path(m["path"])
        spec = step.inputs[role]
        if spec.keyed:
            if key is None:
                raise InputError(f"--in {item!r}: {role} takes {role}[KEY]=PATH")
            out.setdefault(role, {})[key] = path
        elif spec.many:
            out.setdefault(role, []).append(path)
        else:
            out[role] = path
    return out


def _positional(step, args) -> tuple[dict, dict]:
    inputs, options = {}, {}
    for arg in step.args:
        value = getattr(args, f"pos_{arg.name}")
        if value is None or value == []:
            continue
        if arg.option:
            options[arg.option] = value
            continue
        spec = step.inputs[arg.role]
        items = value if isinstance(value, list) else [value]
        if spec.keyed and all("=" in str(v) for v in items):
            inputs[arg.role] = dict(str(v).split("=", 1) for v in items)
        else:
            inputs[arg.role] = items if (spec.many or spec.keyed) else items[0]
    return inputs, options


def _run_step(args) -> None:
    from . import steps
    from .steps import runner

    step = steps.get(args.step_name)
    inputs, options = _positional(step, args)
    inputs.update(_role_items(step, args.inputs, "--in"))
    if args.options:
        try:
            given = json.loads(args.options)
        except ValueError as e:
            raise InputError(f"--options: not JSON ({e})") from None
        if not isinstance(given, dict):
            raise InputError("--options: expected a JSON object")
        options = _merge(options, given)
    options = _merge(options, _parse_set(args.set))
    options.update({k[4:]: v for k, v in vars(args).items() if k.startswith("opt_")})
    outputs, args.out_dir = {}, None
    for item in args.outputs or []:
        role, sep, path = item.partition("=")
        if sep and role in step.outputs:
            outputs[role] = Path(path)
        elif args.out_dir is None:
            args.out_dir = Path(item)
        else:
            raise InputError(f"--out {item!r}: expected ROLE=PATH with a role of {step.name} "
                             f"({', '.join(step.outputs)})")
    if args.out_dir is not None:
        try:
            outputs = {**step.folder_outputs(args.out_dir), **outputs}
        except ValueError as e:
            raise InputError(str(e)) from None
    if step.adapt is not None:
        other = step.adapt(args, inputs, outputs, options)
        if other:
            step = steps.get(other)
    if not outputs:
        raise InputError(f"{step.name}: give --out ({', '.join(step.outputs)})")
    runner.run(step, inputs, outputs, options, config_digest=args.config_digest)


# -- tools -----------------------------------------------------------------------------

def _cmd_validate(args) -> None:
    from .store.validate import validate_path

    for path in args.paths:
        print(validate_path(path))


def _cmd_check_config(args) -> None:
    from . import config

    if args.print_schema:
        print(yaml.safe_dump(config.load_schema(args.schema), sort_keys=False), end="")
        return
    notes: list[str] = []
    cfg = config.check(config.load_yaml(args.config), schema=args.schema, notes=notes)
    for line in notes:
        print(line)
    n = {name: len(config.sessions(cfg, name)) for name in cfg["datasets"]}
    print(f"{args.config}: ok ({len(n)} datasets, {sum(n.values())} sessions)")


def _wanted(argv: list[str]) -> list[str] | None:
    """The step a command line runs (only its module is imported), or None for all."""
    from .steps import modules

    words = [a for a in argv if not a.startswith("-")]
    if not words or any(a in ("-h", "--help") for a in argv[:1]):
        return None
    if words[0] in modules():
        return [words[0]]
    if words[0] == "report" and len(words) > 1 and f"report-{words[1]}" in modules():
        return [f"report-{words[1]}"]
    return None


def build_parser(only: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser: every step (or only those named) and the tools."""
    from . import steps

    parser = argparse.ArgumentParser(
        prog="neurodag",
        description="Neural recordings to NWB, xarray stores, models and reports.",
    )
    parser.add_argument("--version", action="version", version=f"neurodag {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict = {}
    for name in only or steps.names():
        step = steps.get(name)
        _add_step(sub, step, name)
        if step.group:
            if step.group not in groups:
                g = sub.add_parser(step.group, help=f"{step.group} steps ({step.group}-*)")
                groups[step.group] = g.add_subparsers(dest="sub_command", required=True,
                                                      metavar="STEP")
            _add_step(groups[step.group], step, name[len(step.group) + 1:])

    p = sub.add_parser("validate", help="check zarr stores / NWB files against the contract")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("config", nargs="?", default="config/config.yaml")
    p.add_argument("--schema", default=None, help="a base schema (default: the package's)")
    p.add_argument("--print-schema", action="store_true",
                   help="print the full schema (every key, its doc and default) and exit")
    p.set_defaults(func=_cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .steps.runner import failsafe

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(_wanted(argv))
    except InputError as e:
        print(f"neurodag: error: {e}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    command = " ".join(w for w in (args.command, getattr(args, "sub_command", None)) if w)
    return failsafe(command, lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
