# neurodag: one DAG from recordings to NWB, xarray stores, models and reports.
# The rules wire; every step is a `neurodag` command; all logic lives in src/neurodag.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

configfile: "config/config.yaml"

# Validate once, before any job: the JSON Schema (defaults filled in) plus the checks a
# schema cannot express (files exist, sessions unique), with one-line errors that name the
# key and suggest the closest valid one. snakemake.utils.validate would print multi-line
# jsonschema errors without suggestions, so the library does both.
from neurodag import config as ndconfig
from neurodag.errors import ConfigError

_notes = []  # datasets left out: optional sources that match nothing (e.g. no ../shared)
try:
    config.update(ndconfig.check(config, schema=os.path.join(workflow.basedir, "config/schema.yaml"),
                                 notes=_notes))
except ConfigError as err:
    raise SystemExit(f"neurodag: {err}")
for _note in _notes:
    print(f"neurodag: {_note}", file=sys.stderr)

# envs/*.yaml install neurodag from this checkout (pip expands ${NEURODAG_ROOT}).
os.environ.setdefault("NEURODAG_ROOT", workflow.basedir)

# Rules call `neurodag`: the bin folder of the Python that runs Snakemake (the checkout's
# .venv) goes first on PATH, so `.venv/bin/snakemake ...` works without activating the venv.
# Jobs inherit it (local jobs; Slurm jobs re-run this Snakefile with the same interpreter).
# With --sdm conda each job's shell sources its env's activate script first, which puts the
# env's bin ahead of this.
_bin = os.path.dirname(sys.executable)
_path = os.environ.get("PATH", "")
if _path.split(os.pathsep)[0] != _bin:
    os.environ.update(PATH=os.pathsep.join(p for p in (_bin, _path) if p))


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/homogenize.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/connectivity.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
