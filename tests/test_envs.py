"""Per-rule conda envs, checked statically: each env provides what its rules' steps import.

For every rule in workflow/rules/*.smk: its ``conda:`` env and the ``neurodag <command>`` of its
shell. Each command runs one step module of neurodag.steps (the CLI imports only that one); its
body, ``compute`` and the CLI are followed (``ast``) through the neurodag code they can
reach: module bodies run on import, functions and classes when named (see :func:`reach`), to the
third-party packages imported there; ``importlib.metadata`` maps import names to
distributions. A package pyproject.toml pins must be pinned by the env, at the same version
(listed, or through a neurodag extra on its ``-e ${NEURODAG_ROOT}[extra]`` line); any other
may come in as a requirement of what the env lists. No conda is needed.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "neurodag"
RULES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
ENVS = sorted((ROOT / "envs").glob("*.yaml"))

#: Packages a step needs without importing them by name: xarray opens zarr stores and netCDF
#: files through engines named by strings, and mne-icalabel runs ICLabel's onnx backend and
#: MEGnet through onnxruntime, an optional dependency of mne-icalabel.
RUNTIME = {
    r"\.to_zarr\(|\bopen_zarr\(": "zarr",
    r"engine=[\"']h5netcdf[\"']": "h5netcdf",
    r"[\"']backend[\"']:\s*[\"']onnx[\"']|[\"']megnet[\"']": "onnxruntime",
}
_CATCHES_IMPORT_ERROR = {"ImportError", "ModuleNotFoundError"}


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (``PyYAML`` -> ``pyyaml``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- the workflow: rules, their envs and commands ---------------------------------------

@dataclass(frozen=True)
class Rule:
    name: str
    smk: str
    env: Path | None
    commands: tuple[str, ...]


def workflow_rules() -> list[Rule]:
    """Every rule of workflow/rules/*.smk with its conda env and neurodag (sub)commands."""
    out = []
    for smk in RULES:
        text = smk.read_text()
        for block in re.split(r"^(?=rule \w+:)", text, flags=re.M):
            head = re.match(r"rule (\w+):", block)
            if not head:
                continue
            env = re.search(r"^\s+conda:\s*\n\s+[\"']([^\"']+)[\"']", block, flags=re.M)
            commands = re.findall(r"\bneurodag ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", block)
            out.append(Rule(head[1], smk.name, (smk.parent / env[1]).resolve() if env else None,
                            tuple(dict.fromkeys(commands))))
    return out


def handler(command: str) -> str:
    """The step module a command runs: ``report dataset`` -> neurodag.steps.report_dataset."""
    from neurodag import steps

    name = command.replace(" ", "-")
    assert name in steps.modules(), f"`neurodag {command}` is not a registered step"
    return steps.modules()[name]


# -- imports, followed through the code a command can reach --------------------------------
#
# A module's top-level statements run when it is imported; a function's imports run when it
# is called. So the unit of reach is a module body or one top-level def/class: the handler
# reaches the units it imports and the defs/classes it names (by name, whatever the module:
# an over-approximation of the call graph), and so on to a fixpoint.

def module_file(name: str) -> Path | None:
    """The file of module ``neurodag.x.y`` (a module or a package's __init__), if any."""
    parts = name.split(".")[1:]
    base = SRC.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _optional(tree: ast.AST) -> set[str]:
    """Top-level names a module imports inside ``try`` blocks that catch ImportError.

    Such a package is optional for the module everywhere in it: e.g. models.communities
    checks for graspologic with a guarded import before its one use of it.
    """
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            caught = set()
            for h in node.handlers:
                types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
                caught |= {t.id for t in types if isinstance(t, ast.Name)}
            if caught & _CATCHES_IMPORT_ERROR:
                for n in (n for stmt in node.body for n in ast.walk(stmt)):
                    if isinstance(n, ast.Import):
                        out |= {a.name.split(".")[0] for a in n.names}
                    elif isinstance(n, ast.ImportFrom) and not n.level and n.module:
                        out.add(n.module.split(".")[0])
    return out


@dataclass(frozen=True)
class Unit:
    internal: frozenset   # neurodag modules it imports (with their parent packages)
    external: frozenset   # third-party top-level names it needs
    names: frozenset      # bare names it refers to (candidate calls)
    calls: frozenset      # (module, name) it refers to through a module: preprocess.run


@cache
def _module(module: str):
    """(path, {unit name: statements}, optional names); unit None is the module body."""
    path = module_file(module)
    tree = ast.parse(path.read_text())
    units = {None: []}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            units[stmt.name] = [stmt]
        else:
            units[None].append(stmt)
    return path, units, _optional(tree)


def _through_module(node: ast.Attribute, aliases: dict):
    """``homogenize.worms.run`` -> ("neurodag.homogenize.worms", "run", inner nodes)."""
    chain, inner = [], []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        inner.append(node)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    mod = aliases[node.id]
    for attr in reversed(chain):
        if module_file(f"{mod}.{attr}") is None:
            return mod, attr, inner
        mod = f"{mod}.{attr}"
    return mod, None, inner


def _aliases(statements, package: str) -> dict:
    """``{alias: neurodag module}`` bound by the relative imports in ``statements``."""
    out = {}
    for node in (n for stmt in statements for n in ast.walk(stmt)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{base}.{node.module}" if node.module else base
            for a in node.names:
                if module_file(f"{base}.{a.name}") is not None:
                    out[a.asname or a.name] = f"{base}.{a.name}"
    return out


@cache
def unit(module: str, name: str | None) -> Unit:
    path, units, optional = _module(module)
    package = _package(module, path)
    # A function's own imports shadow the module's (two functions may bind `figs` apart).
    aliases = _aliases(units[None], package)
    if name is not None:
        aliases.update(_aliases(units[name], package))
    internal, external, names, calls, done, attrs = set(), set(), set(), set(), set(), set()
    nodes = [n for stmt in units[name] for n in ast.walk(stmt)]
    source = "\n".join(ast.unparse(stmt) for stmt in units[name])
    for node in nodes:
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and id(node) not in done:
            target = _through_module(node, aliases)
            if target is None:  # a method, reached with its class; or see import_module below
                attrs.add(node.attr)
                continue
            mod, attr, inner = target
            done |= {id(n) for n in inner}
            internal.add(mod)
            if attr is not None:
                calls.add((mod, attr))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "neurodag":
                    internal.add(alias.name)
                elif top not in optional:
                    external.add(top)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").split(".")[0] == "neurodag":
                base = node.module
            else:
                top = node.module.split(".")[0]
                if top not in optional and top != "__future__":
                    external.add(top)
                continue
            internal.add(base)  # importing a function does not call it: only modules here
            internal |= {f"{base}.{a.name}" for a in node.names
                         if module_file(f"{base}.{a.name}") is not None}
    # report.papers loads its paper modules by name and calls their functions as
    # module.run(...); the step registry imports only the command's step module (given in
    # command_packages), not every one
    if "import_module(" in source and package != "neurodag.steps":
        internal |= {f"{package}.{p.stem}" for p in path.parent.glob("*.py")}
        names |= attrs
    external |= {dist for pattern, dist in RUNTIME.items() if re.search(pattern, source)}
    for mod in list(internal):  # importing a.b.c runs a/__init__ and a/b/__init__ too
        parts = mod.split(".")
        internal |= {".".join(parts[:i]) for i in range(2, len(parts))}
    internal = {m for m in internal if module_file(m) is not None}
    return Unit(frozenset(internal), frozenset(external), frozenset(names), frozenset(calls))


def reach(start: list[tuple[str, str | None]]) -> set[tuple[str, str | None]]:
    """The units reachable from ``start``: the bodies of the modules they import, the
    defs/classes they name through a module (``preprocess.run``: that module's ``run``), and
    the defs/classes of reached modules that they name bare (``run_session(...)``: any of
    that name, an over-approximation of the call graph). A method comes with its class."""
    units, modules = set(start), set()
    while True:
        before = len(units)
        names, calls = set(), set()
        for mod, name in list(units):
            u = unit(mod, name)
            modules |= u.internal
            names |= u.names
            calls |= u.calls
        for mod, name in calls:
            if module_file(mod) is None:
                continue
            modules.add(mod)
            if name in _module(mod)[1]:
                units.add((mod, name))
            else:  # re-exported by the module's body: follow it by name
                names.add(name)
        for mod in modules:
            units |= {(mod, n) for n in _module(mod)[1] if n is None or n in names}
        if len(units) == before:
            return units


@cache
def command_packages(module: str) -> frozenset[str]:
    """Distributions the step ``module`` needs when the CLI runs it: third-party imports of
    what the CLI, the module's body and its functions reach."""
    names = set()
    start = [("neurodag.cli", None), ("neurodag.cli", "main"), ("neurodag.cli", "_run_step"),
             (module, None), *((module, n) for n in _module(module)[1] if n is not None)]
    for mod, name in reach(start):
        names |= unit(mod, name).external
    names -= set(sys.stdlib_module_names)
    dists = metadata.packages_distributions()
    out = set()
    for name in names:
        found = dists.get(name)
        assert found, f"{name} (imported for {module}) is not installed in this environment"
        out.add(canonical(found[0]))
    return frozenset(out)


# -- envs and pins -------------------------------------------------------------------------

@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins(requirements) -> dict[str, str]:
    out = {}
    for req in requirements:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)", req.strip())
        if m:
            out[canonical(m[1])] = m[2]
    return out


def project_pins() -> dict[str, str]:
    project = pyproject()["project"]
    pins = _pins(project["dependencies"])
    for reqs in project["optional-dependencies"].values():
        pins.update(_pins(reqs))
    return pins


def extra_pins(extras: list[str]) -> dict[str, str]:
    """Pins installed by ``neurodag[extras]``, following ``neurodag[...]`` self-references."""
    optional = pyproject()["project"]["optional-dependencies"]
    out, todo = {}, list(extras)
    while todo:
        extra = todo.pop()
        assert extra in optional, f"neurodag has no extra {extra!r} in pyproject.toml"
        for req in optional[extra]:
            nested = re.fullmatch(r"neurodag\[([^\]]+)\]", req)
            if nested:
                todo += [e.strip() for e in nested[1].split(",")]
        out.update(_pins(optional[extra]))
    return out


@dataclass(frozen=True)
class Env:
    path: Path
    python: str | None
    pins: dict          # what the env lists itself
    extras: tuple       # neurodag extras on its -e line (None when neurodag is not installed)


def read_env(path: Path) -> Env:
    spec = yaml.safe_load(path.read_text())
    python, pip = None, []
    for dep in spec.get("dependencies", []):
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
        elif str(dep).startswith("python="):
            python = str(dep).split("=", 1)[1]
    extras = None
    for req in pip:
        m = re.fullmatch(r"-e \$\{NEURODAG_ROOT\}(?:\[([^\]]*)\])?", req.strip())
        if m:
            extras = tuple(e.strip() for e in (m[1] or "").split(",") if e.strip())
    return Env(path, python, _pins(pip), extras)


@cache
def requirements(dist: str) -> frozenset[str]:
    """The distributions ``dist`` installs with it (its requirements, transitively, as
    installed here; requirements behind extras are left out)."""
    seen, todo = set(), [dist]
    while todo:
        try:
            reqs = metadata.requires(todo.pop()) or []
        except metadata.PackageNotFoundError:
            continue
        for req in reqs:
            if re.search(r"\bextra\s*==", req):
                continue
            name = canonical(re.match(r"[A-Za-z0-9_.-]+", req)[0])
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return frozenset(seen)


def provided(env: Env) -> tuple[set[str], set[str]]:
    """(what the env pins: its list and its neurodag extras, what comes in with those)."""
    pinned = set(env.pins) | set(extra_pins(list(env.extras or ())))
    return pinned, set().union(*(requirements(d) for d in pinned))


# -- tests ---------------------------------------------------------------------------------

def step_rules() -> list[Rule]:
    return [r for r in workflow_rules() if r.commands]


def test_every_rule_that_runs_a_step_names_an_existing_env():
    rules = step_rules()
    assert len(rules) >= 10
    for rule in rules:
        assert rule.env is not None, f"{rule.smk}: rule {rule.name} has no conda: env"
        assert rule.env.is_file(), f"{rule.smk}: rule {rule.name}: {rule.env} does not exist"


def test_every_env_is_used_by_a_rule():
    used = {r.env for r in workflow_rules()}
    assert {p.resolve() for p in ENVS} <= used


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_installs_neurodag_from_the_checkout_on_python_311(path):
    env = read_env(path)
    assert env.extras is not None, f"{path.name}: no '-e ${{NEURODAG_ROOT}}' line"
    assert env.python == "3.11", f"{path.name}: python={env.python}, pyproject wants 3.11"


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_pins_equal_pyproject(path):
    env, pins = read_env(path), project_pins()
    for name, version in env.pins.items():
        assert name in pins, f"{path.name}: {name} is not pinned in pyproject.toml"
        assert version == pins[name], \
            f"{path.name}: {name}=={version}, pyproject.toml pins {pins[name]}"


def missing(env: Env, need: set[str]) -> set[str]:
    """What ``env`` lacks of ``need``: a package pyproject.toml pins must be pinned by the env
    (listed, or through a neurodag extra); any other may come in as a requirement."""
    pinned, along = provided(env)
    project = project_pins()
    return {d for d in need if d not in pinned and (d in project or d not in along)}



@pytest.mark.parametrize("rule", step_rules(), ids=lambda r: r.name)
def test_env_provides_every_package_its_rule_imports(rule):
    env = read_env(rule.env)
    for command in rule.commands:
        lacks = sorted(missing(env, command_packages(handler(command))))
        assert not lacks, (f"envs/{rule.env.name} (rule {rule.name}, `neurodag {command}`) "
                           f"lacks {', '.join(lacks)}")


def test_import_analysis_finds_what_the_steps_are_known_to_need():
    # The analysis itself, on facts read off the code: ingest writes NWB (pynwb) and zarr;
    # preprocess labels ICA components (mne-icalabel, onnxruntime); fit-glmhmm is torch;
    # the report pages are matplotlib + jinja2; every command parses --set with PyYAML.
    need = {c: command_packages(handler(c)) for c in
            ("ingest", "preprocess", "fit-glmhmm", "report dataset", "synth")}
    assert {"pynwb", "zarr", "xarray", "mne", "pyyaml"} <= need["ingest"]
    assert {"mne-icalabel", "onnxruntime", "nilearn"} <= need["preprocess"]
    assert "torch" in need["fit-glmhmm"] and "torch" not in need["synth"]
    assert {"matplotlib", "jinja2"} <= need["report dataset"]
    assert "mne-icalabel" not in need["ingest"]


def test_a_missing_package_is_reported(tmp_path):
    env = tmp_path / "thin.yaml"
    env.write_text(yaml.safe_dump({"dependencies": [
        "python=3.11", "pip", {"pip": ["numpy==2.4.6", "-e ${NEURODAG_ROOT}"]}]}))
    lacks = missing(read_env(env), command_packages(handler("preprocess")))
    assert {"mne", "mne-icalabel", "xarray"} <= lacks and "numpy" not in lacks
