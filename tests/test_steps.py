"""The step contract, checked on every step (in the spirit of MNE-BIDS-Pipeline's
tests/test_functions.py): registered, declared outputs, documented options whose schema and
``--help`` defaults are the declaration's, library defaults equal to the declaration, rules
that hand their outputs over by role, and one runner that leaves nothing half-written."""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from neurodag import config_schema, layout, steps
from neurodag.errors import ConfigError, InputError
from neurodag.options import Options, help_rows, option
from neurodag.steps.contract import KINDS, Input, Output, Step, Variants

ROOT = Path(__file__).resolve().parents[1]
STEPS = steps.names()


def _classes(step: Step) -> list[type[Options]]:
    return list(step.option_classes().values())


def test_every_module_of_the_package_is_a_registered_step():
    found = sorted(p.stem for p in (ROOT / "src/neurodag/steps").glob("*.py")
                   if p.stem not in ("__init__", *steps.NOT_STEPS))
    assert sorted(n.replace("-", "_") for n in STEPS) == found
    assert len(STEPS) >= 15


@pytest.mark.parametrize("name", STEPS)
def test_step_declares_its_roles_kinds_and_compute(name):
    step = steps.get(name)
    assert step.name == name and step.help and "\n" not in step.help
    assert step.outputs, f"{name} declares no output"
    for role, spec in [*step.inputs.items(), *step.outputs.items()]:
        assert isinstance(spec, (Input, Output)) and spec.kind in KINDS and spec.doc, role
    assert list(inspect.signature(step.compute).parameters) == ["inputs", "options", "ctx"]
    for arg in step.args:
        assert (arg.role in step.inputs) != (arg.option is not None), arg
    if step.config:
        cls = step.config_options or step.options
        assert isinstance(cls, Variants) or issubclass(cls, Options)


@pytest.mark.parametrize("name", STEPS)
def test_every_option_has_a_one_line_doc_and_a_default_that_passes_its_checks(name):
    step = steps.get(name)
    for cls in _classes(step):
        assert cls.__dataclass_params__.frozen
        for opt, doc, _ in help_rows(cls):
            assert doc and "\n" not in doc, f"{name}: {opt} needs a one-line doc"
        given = {n: "x" for n, s in cls.specs().items() if s.default is Ellipsis}
        if "paper" in given:
            given["paper"] = "trsa"
        if "modality" in given:
            given["modality"] = "eeg"
        assert cls.check(given, name).to_dict(wiring=False) is not None


@pytest.mark.parametrize("name", [n for n in STEPS if steps.get(n).config])
def test_schema_defaults_are_the_declarations(name):
    """The config schema's section of a step is its declaration: every option with its
    default; the other keys are only those the rules read."""
    step = steps.get(name)
    schema = config_schema.load_schema()
    node = schema if step.config_top else schema["$defs"]
    path = step.config.split(".")
    if not step.config_top:
        node = node[path[0]]
        path = path[1:]
    for part in path:
        node = node["properties"][part]
    props = node["properties"]
    declared = {}
    for cls in _classes(step) if step.config_options is None else (
            list(step.config_options.choices.values())
            if isinstance(step.config_options, Variants) else [step.config_options]):
        for opt, spec in cls.specs().items():
            declared.setdefault(opt, spec)
            assert opt in props, f"{name}: {opt} is missing from the schema"
            varies = isinstance(step.options, Variants) or not step.config_defaults
            if varies or spec.default is None:
                assert "default" not in props[opt], f"{name}.{opt}"
            else:
                default = spec.default.to_dict() if isinstance(spec.default, Options) \
                    else spec.default
                assert props[opt].get("default") == ({} if isinstance(spec.default, Options)
                                                     else default), f"{name}.{opt}"
            assert props[opt]["description"] == spec.doc
    assert set(props) - set(declared) <= {"enabled", "with", "annotations"}, name


@pytest.mark.parametrize("name", STEPS)
def test_help_shows_every_option_with_its_default(name):
    from neurodag.cli import build_parser

    parser = build_parser([name])
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]
    text = re.sub(r"-\s+", "-", " ".join(sub.format_help().split()))
    for cls in _classes(steps.get(name)):
        for opt, doc, default in help_rows(cls):
            shown = "required" if default is Ellipsis else json.dumps(default)
            doc = re.sub(r"-\s+", "-", " ".join(doc.split()))
            assert f"{doc} (default: {shown})" in text, f"{name}: {opt}"


def test_model_options_default_to_the_estimators_defaults():
    """What a library user gets is what a pipeline user gets."""
    from neurodag.models.glmhmm import GLMHMM
    from neurodag.models.ntf import DynamicConnectome
    from neurodag.models.rsa import TopologicalRSA

    for step, est in (("fit-glmhmm", GLMHMM()), ("fit-ntf", DynamicConnectome()),
                      ("trsa", TopologicalRSA())):
        params = est.get_params()
        specs = steps.get(step).options.specs()
        shared = set(specs) & set(params)
        assert len(shared) >= 5, step
        for name in shared:
            default, given = specs[name].default, params[name]
            if default is None:   # unset: the step decides (e.g. emission by modality)
                continue
            value = list(given) if isinstance(given, (tuple, range)) else given
            assert value == default, f"{step}.{name}: {default!r} vs estimator {given!r}"
    glmhmm = set(inspect.signature(GLMHMM).parameters) - {"n_states"}
    assert glmhmm <= set(steps.get("fit-glmhmm").options.specs()), \
        "every GLMHMM parameter is an option of fit-glmhmm"


def test_library_defaults_come_from_the_declarations():
    from neurodag import preprocess
    from neurodag.denoise import data, training
    from neurodag.denoise.options import TrainingOptions
    from neurodag.preprocess.options import OPTIONS

    assert preprocess.DEFAULTS == {m: c.defaults() for m, c in OPTIONS.items()}
    assert training.DEFAULTS == TrainingOptions.defaults()
    assert TrainingOptions.defaults()["n_synthetic"] == list(data.N_SYNTHETIC)


def test_an_analysis_is_one_declaration_and_one_step_per_modality():
    """Steps that share a config section (glmhmm: fit-glmhmm, fit-glmhmm-pooled) share its
    declaration, and each modality has at most one of them."""
    from neurodag.config import analysis_step, analysis_steps

    for name, found in analysis_steps().items():
        assert len({s.config_options or s.options for s in found}) == 1, name
        seen = [m for s in found for m in s.modalities]
        assert len(seen) == len(set(seen)), name
        for s in found:
            for m in s.modalities:
                assert analysis_step(name, m) is s
    assert analysis_step("glmhmm", "behavior").name == "fit-glmhmm-pooled"
    with pytest.raises(ConfigError, match="glmhmm: runs on spikes, calcium, fmri, behavior "
                                          "datasets, not eeg"):
        analysis_step("glmhmm", "eeg")


def test_the_issues_disagreements_are_resolved():
    schema = config_schema.load_schema()["$defs"]["analyses"]["properties"]
    from neurodag.models.glmhmm import GLMHMM
    from neurodag.models.ntf import DynamicConnectome

    assert schema["glmhmm"]["properties"]["max_iter"]["default"] == GLMHMM().max_iter == 100
    assert schema["ntf"]["properties"]["ranks"]["default"] == \
        list(DynamicConnectome().ranks) == [2, 3, 4, 5, 6]
    assert schema["ntf"]["properties"]["n_restarts"]["default"] == \
        DynamicConnectome().n_restarts == 5


def test_one_did_you_mean_for_the_whole_package():
    users = [p.relative_to(ROOT) for p in (ROOT / "src/neurodag").rglob("*.py")
             if "difflib" in p.read_text() and p.name != "errors.py"]
    assert users == []


# -- the rules hand every output over by role --------------------------------------------

def _rules():
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M):
            head = re.match(r"rule (\w+):", block)
            command = re.search(r"\bneurodag ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", block)
            if head and command:
                yield head[1], command[1].replace(" ", "-"), block


@pytest.mark.parametrize(("rule", "command", "block"), list(_rules()), ids=lambda x: str(x)[:20])
def test_rule_runs_a_step_and_passes_its_outputs_by_role(rule, command, block):
    assert command in STEPS, f"rule {rule}: `neurodag {command}` is not a step"
    step = steps.get(command)
    outputs = re.search(r"^    output:\n((?:        .*\n|\n)+?)^    \w", block, flags=re.M)[1]
    named = re.findall(r"^        (\w+)=", outputs, flags=re.M)
    assert set(named) == set(step.outputs), f"rule {rule}: outputs {named}"
    for role in named:
        assert f"--out {role}={{output.{role}" in block, f"rule {rule}: --out {role}"
    assert "results/" not in block, f"rule {rule}: a path not from neurodag.layout"


def test_layout_names_the_files_the_steps_name_inside_folders():
    assert layout.name(layout.RAW_ZARR) == steps.get("ingest").outputs["zarr"].name
    assert layout.GLMHMM_FIT.format(k=3) == "K3.nc"
    assert layout.path(layout.GLMHMM, dataset="d", session="s") == "results/d/models/glmhmm/s"


# -- one runner ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Toy(Options):
    value: int = option(1, "what the toy writes", ge=0)
    fail: bool = option(False, "fail after writing")


def _toy_compute(inputs, options, ctx):
    ctx.out["stream"].write_text(json.dumps(ctx.provenance()))    # a step writing itself
    if options.fail:
        raise InputError("toy: failed as asked")
    return {"record": {"value": options.value}}


TOY = Step(name="toy", help="a test step", inputs={"src": Input("files", "a file")},
           outputs={"stream": Output("json", "written by the step"),
                    "record": Output("json", "returned in memory")},
           options=_Toy, compute=_toy_compute)


def test_runner_hashes_inputs_once_and_writes_every_output(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("x")
    out = {"stream": tmp_path / "a.json", "record": tmp_path / "b.json"}
    assert steps.run(TOY, {"src": src}, out, {"value": 3}) == out
    block = json.loads(out["stream"].read_text())
    from neurodag import provenance

    assert block["inputs"] == {str(src): provenance.sha256_file(src)}
    assert block["source"] == str(src) and block["source_sha256"] == block["inputs"][str(src)]
    assert json.loads(out["record"].read_text()) == {"value": 3}


def test_a_failed_run_keeps_the_finished_outputs_and_leaves_no_partial(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("x")
    out = {"stream": tmp_path / "a.json", "record": tmp_path / "b.json"}
    steps.run(TOY, {"src": src}, out, {"value": 3})
    before = {k: p.read_text() for k, p in out.items()}
    with pytest.raises(InputError, match="failed as asked"):
        steps.run(TOY, {"src": src}, out, {"value": 4, "fail": True})
    assert {k: p.read_text() for k, p in out.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "in.txt"]


def test_runner_refuses_unknown_roles_and_options_in_one_line(tmp_path):
    out = {"stream": tmp_path / "a.json", "record": tmp_path / "b.json"}
    with pytest.raises(InputError, match=r"toy: unknown input 'sr'; did you mean 'src'\?"):
        steps.run(TOY, {"sr": tmp_path}, out)
    with pytest.raises(ConfigError, match=r"^toy\.valeu: unknown option; did you mean 'value'"):
        steps.run(TOY, {"src": tmp_path}, out, {"valeu": 1})
    with pytest.raises(ConfigError, match=r"^toy\.value: expected an integer >= 0, got -1$"):
        steps.run(TOY, {"src": tmp_path}, out, {"value": -1})
    assert not list(tmp_path.iterdir())


def test_the_cli_runs_a_step_with_roles_and_with_todays_folder_form(tmp_path):
    from neurodag.cli import main

    assert main(["synth", "spikes", "--seed", "1", "--set", "n_bins=300", "--out",
                 f"folder={tmp_path / 's'}"]) == 0
    assert main(["ingest", str(tmp_path / "s"), "--modality", "spikes", "--out",
                 str(tmp_path / "sub")]) == 0
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["dandi.json", "raw.nwb",
                                                                    "raw.zarr"]
    assert main(["preprocess", "--in", f"raw={tmp_path / 'sub' / 'raw.zarr'}",
                 "--out", f"clean={tmp_path / 'c.zarr'}", "--out", f"qc={tmp_path / 'qc.json'}",
                 "--options", '{"min_rate": 0.5}']) == 0
    qc = json.loads((tmp_path / "qc.json").read_text())
    assert qc["options"] == {"min_rate": 0.5} and qc["provenance"]["source"].endswith("counts.csv")


def test_the_schema_ships_inside_the_package():
    """A non-editable install has the schema: it is package data, found through the package
    (not the repository), and the step modules are in the package's folders."""
    import fnmatch
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["neurodag"]
    assert any(fnmatch.fnmatch("data/config.schema.yaml", p) for p in patterns)
    assert config_schema.BASE_SCHEMA.is_file()
    assert "neurodag/data" in str(config_schema.BASE_SCHEMA).replace("\\", "/")
    assert "parents[2]" not in (ROOT / "src/neurodag/config.py").read_text()
