"""The results layout: the one place that names result files.

The rules (``workflow/rules/*.smk``) and the config helpers take their output paths from
the patterns below, with Snakemake wildcards in braces, and hand them to the steps as
``--out ROLE=PATH``: no step chooses a file name or reads a dataset or session name off a
folder. :func:`path` fills a pattern in.

::

    results/{dataset}/{session}/raw.nwb  raw.zarr  dandi.json  clean.zarr  qc.json
                                denoised.zarr
    results/{dataset}/{session}/connectome.zarr          (one connectome annotation)
    results/{dataset}/homogenized.zarr   connectome.zarr (merged)
    results/{dataset}/models/glmhmm/{session}/K{k}.nc  metrics.json
    results/{dataset}/models/glmhmm/pooled/K{k}.nc  subjects/{subject}.nc  metrics.json
    results/{dataset}/models/ntf/rank{r}.nc  metrics.json
    results/{dataset}/models/trsa/trsa.nc  metrics.json
    results/{dataset}/models/connectivity/connectivity.nc  metrics.json
    results/models/denoiser_{budget}/    model.pt  config.json  metrics.json
    results/reports/{dataset}.html  {dataset}/ (figures, summary.json)  index.html
    results/figures/{paper}/             PNG + JSON; results/figures/index.html
    results/logs/{rule}/...
"""

from __future__ import annotations

from pathlib import PurePosixPath

RESULTS = "results"

# -- one session -----------------------------------------------------------------------
SESSION = f"{RESULTS}/{{dataset}}/{{session}}"
SYNTHETIC = f"{SESSION}/synthetic"
RAW_ZARR = f"{SESSION}/raw.zarr"
RAW_NWB = f"{SESSION}/raw.nwb"
DANDI_JSON = f"{SESSION}/dandi.json"
CLEAN_ZARR = f"{SESSION}/clean.zarr"
QC_JSON = f"{SESSION}/qc.json"
DENOISED_ZARR = f"{SESSION}/denoised.zarr"
SESSION_CONNECTOME = f"{SESSION}/connectome.zarr"
#: The per-session stores a step may read, by their config name (``analyses.X.input``).
SESSION_STORES = {"raw": RAW_ZARR, "clean": CLEAN_ZARR, "denoised": DENOISED_ZARR}

# -- one dataset -----------------------------------------------------------------------
HOMOGENIZED = f"{RESULTS}/{{dataset}}/homogenized.zarr"
MERGED_CONNECTOME = f"{RESULTS}/{{dataset}}/connectome.zarr"
MODELS = f"{RESULTS}/{{dataset}}/models"
GLMHMM = f"{MODELS}/glmhmm/{{session}}"
#: Trial tables: every session of every subject in one fit (its name is not a session's).
GLMHMM_POOLED = f"{MODELS}/glmhmm/pooled"
NTF = f"{MODELS}/ntf"
TRSA = f"{MODELS}/trsa"
CONNECTIVITY = f"{MODELS}/connectivity"

# -- inside a model's folder -------------------------------------------------------------
METRICS = "metrics.json"
GLMHMM_FIT = "K{k}.nc"
GLMHMM_SUBJECT_FIT = "subjects/{subject}.nc"
NTF_FIT = "rank{rank}.nc"
TRSA_RESULTS = "trsa.nc"
CONNECTIVITY_RESULTS = "connectivity.nc"

# -- run-wide --------------------------------------------------------------------------
DENOISER = f"{RESULTS}/models/denoiser_{{budget}}"
REPORTS = f"{RESULTS}/reports"
REPORT_PAGE = f"{REPORTS}/{{dataset}}.html"
REPORT_FIGURES = f"{REPORTS}/{{dataset}}"
REPORT_INDEX = f"{REPORTS}/index.html"
#: Written by a dataset page into its figure folder, read by the index.
REPORT_SUMMARY = "summary.json"
FIGURE = f"{RESULTS}/figures/{{paper}}"
FIGURES_INDEX = f"{RESULTS}/figures/index.html"
LOGS = f"{RESULTS}/logs"
REFERENCE = "{cache}/{reference}"


def path(pattern: str, **wildcards) -> str:
    """``pattern`` with its wildcards filled in (``path(RAW_ZARR, dataset="d", session="s")``)."""
    return pattern.format(**wildcards)


def name(pattern: str) -> str:
    """The file name a pattern ends in (``raw.zarr``)."""
    return PurePosixPath(pattern).name


def log(rule: str, *wildcards: str) -> str:
    """The log file of a rule's job: ``results/logs/{rule}/{a}/{b}.log``."""
    return "/".join([LOGS, rule, *wildcards]) + ".log"


__all__ = [k for k in dir() if k.isupper()] + ["path", "name", "log"]
