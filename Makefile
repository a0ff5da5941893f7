# make run   create .venv if missing or stale, install, run the default DAG on built-in data
# make test  the same venv, then the test suite (includes a real snakemake run and a dry run)
# make lint  ruff + snakemake --lint
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
# Rules call the `neurodag` command: the Snakefile puts the venv's bin first on PATH.

.PHONY: run test test-fast lint dry-run figures report clean venv

venv: $(STAMP)

# Rebuilt when pyproject.toml changes (its timestamp is newer than the stamp).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

# The paper figures (not part of the default run: the full experiments take tens of minutes).
figures: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) figures

# Snakemake's own self-contained report of the default run.
report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

dry-run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --dry-run

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake
