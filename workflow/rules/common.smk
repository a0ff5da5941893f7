# Helpers that turn config into rule inputs and command-line options (no analysis logic).
import json
import shlex

from neurodag.config import dataset_digest, homogenize_kind as kind_of_homogenize, homogenize_stores, sessions as discover_sessions
from neurodag.report.papers import PAPERS, needs as figure_needs
from neurodag.metadata import resolve as session_metadata

wildcard_constraints:
    dataset="[A-Za-z][A-Za-z0-9_-]*",
    session="[A-Za-z0-9][A-Za-z0-9_-]*",

DATASETS = list(config["datasets"])
SESSIONS = {name: discover_sessions(config, name) for name in DATASETS}
REFERENCE_CACHE = config["reference_cache"]


def modality(dataset):
    return config["datasets"][dataset]["modality"]


def session_of(wc):
    return SESSIONS[wc.dataset][wc.session]


def ingest_inputs(wc):
    """What ingest reads: a generated folder, a reference cache, or the matched files."""
    s = session_of(wc)
    if s.synthetic:
        return [f"results/{wc.dataset}/{wc.session}/synthetic"]
    return list(s.inputs)


def ingest_args(wc):
    """The recording (files, or a reference session) and the reader options."""
    s = session_of(wc)
    entry = config["datasets"][wc.dataset]
    if s.reference:
        args = ["--reference", f"{s.reference}/{s.id}", "--cache", REFERENCE_CACHE]
    else:
        args = ingest_inputs(wc) + ["--modality", entry["modality"], "--subject", s.subject,
                                    "--session", s.session]
    args += ["--config-digest", dataset_digest(config, wc.dataset),
             "--nwb-compression", config["nwb"]["compression"]]
    meta = session_metadata(entry.get("metadata"), session=s.id, subject=s.subject)
    if meta:  # this session's metadata from config (README "Metadata")
        args += ["--metadata", json.dumps(meta, sort_keys=True)]
    return shlex.join(args + _set_args(entry.get("ingest", {})))


def synth_options(wc):
    s = session_of(wc)
    opts = [s.synthetic, "--seed", str(s.seed), "--subject", s.subject, "--session", s.session]
    for key, value in s.params.items():
        opts += ["--set", f"{key}={json.dumps(value)}"]
    return shlex.join(opts)


def session_outputs(dataset, name):
    return [f"results/{dataset}/{sid}/{name}" for sid in SESSIONS[dataset]]


def products(dataset):
    """Dataset-level products shown as sections of the dataset's page: {kind: path}."""
    out = {}
    if homogenized(dataset):
        out["connectome" if modality(dataset) == "connectome" else "homogenized"] = \
            homogenize_product(dataset)
    out.update({kind: path for kind, (path, _) in analysis_outputs(dataset).items()})
    return out


def product_files(dataset):
    files = [homogenize_product(dataset)] if homogenized(dataset) else []
    return files + [f for _, fs in analysis_outputs(dataset).values() for f in fs]


def report_options(wc):
    entry = config["datasets"][wc.dataset]
    args = ["--description", entry.get("description", ""), "--config-json", json.dumps(entry)]
    for kind, path in products(wc.dataset).items():
        args += ["--product", f"{kind}={path}"]
    return shlex.join(args)


def signal_datasets():
    return [d for d in DATASETS if modality(d) not in ("connectome", "behavior")]


def connectome_datasets():
    return [d for d in DATASETS if modality(d) == "connectome"]


def reported_datasets():
    """Signal datasets, and connectome datasets with a merged connectome to show."""
    return [d for d in DATASETS if config["datasets"][d].get("report", True)
            and (modality(d) != "connectome" or homogenized(d))]


def all_outputs():
    out = []
    for d in signal_datasets():
        out += session_outputs(d, "raw.nwb") + session_outputs(d, "raw.zarr")
        out += session_outputs(d, "clean.zarr") + session_outputs(d, "qc.json")
    for d in connectome_datasets():
        out += session_outputs(d, "connectome.zarr")
    for d in trial_datasets():
        out += session_outputs(d, "raw.nwb") + session_outputs(d, "raw.zarr")
    out += [f for d in DATASETS for f in product_files(d)]
    out += [f"results/reports/{d}.html" for d in reported_datasets()]
    if reported_datasets():
        out.append("results/reports/index.html")
    return out


def _set_args(options, prefix=""):
    """Nested options as repeated --set KEY=VALUE (dotted keys, JSON values)."""
    args = []
    for key, value in options.items():
        if isinstance(value, dict):
            args += _set_args(value, f"{prefix}{key}.")
        else:
            args += ["--set", f"{prefix}{key}={json.dumps(value)}"]
    return args


def preprocess_args(wc):
    entry = config["datasets"][wc.dataset]
    return shlex.join(["--config-digest", dataset_digest(config, wc.dataset, "preprocess"),
                       *_set_args(entry["preprocess"])])


def report_inputs(wc):
    """Each session's raw and clean stores and QC, and the dataset's products."""
    if modality(wc.dataset) in ("connectome", "behavior"):
        return {"raw": [], "products": product_files(wc.dataset)}
    return {"raw": session_outputs(wc.dataset, "raw.zarr"),
            "dandi": session_outputs(wc.dataset, "dandi.json"),
            "clean": session_outputs(wc.dataset, "clean.zarr"),
            "qc": session_outputs(wc.dataset, "qc.json"),
            "products": product_files(wc.dataset)}


def homogenized(dataset):
    return config["datasets"][dataset]["homogenize"]["enabled"]


def homogenize_product(dataset):
    name = "connectome.zarr" if modality(dataset) == "connectome" else "homogenized.zarr"
    return f"results/{dataset}/{name}"


def homogenize_inputs(wc):
    return homogenize_stores(config, wc.dataset)


def homogenize_args(wc):
    h = config["datasets"][wc.dataset]["homogenize"]
    options = {k: v for k, v in h.items() if k not in ("enabled", "with", "annotations")}
    return shlex.join(["--config-digest", dataset_digest(config, wc.dataset, "homogenize"),
                       *_set_args(options)])


def homogenize_kind(wc):
    return kind_of_homogenize(modality(wc.dataset))


def analyses(dataset):
    return config["datasets"][dataset].get("analyses", {})


def analysis_args(wc, name, drop=("input",)):
    options = {k: v for k, v in analyses(wc.dataset)[name].items() if k not in drop}
    if name == "glmhmm" and config["gpu"]:
        options["device"] = "cuda"
    return shlex.join(["--config-digest", dataset_digest(config, wc.dataset, name),
                       *_set_args(options)])


def glmhmm_input(wc):
    return f"results/{wc.dataset}/{wc.session}/{analyses(wc.dataset)['glmhmm']['input']}.zarr"


def trsa_inputs(wc):
    return session_outputs(wc.dataset, f"{analyses(wc.dataset)['trsa']['input']}.zarr")


def ntf_inputs(wc):
    """The homogenized stack (calcium), or every fMRI session's clean.zarr (parcels)."""
    if modality(wc.dataset) == "fmri":
        return session_outputs(wc.dataset, "clean.zarr")
    return f"results/{wc.dataset}/homogenized.zarr"


def connectivity_inputs(wc):
    """Every session's clean.zarr, and raw.zarr beside it (QC-FC before denoising)."""
    return {"clean": session_outputs(wc.dataset, "clean.zarr"),
            "raw": session_outputs(wc.dataset, "raw.zarr")}


def analysis_outputs(dataset):
    """{kind: (path shown on the page, files the page needs)} of the dataset's analyses."""
    out = {}
    if "glmhmm" in analyses(dataset) and modality(dataset) == "behavior":
        out["glmhmm"] = (f"results/{dataset}/models/glmhmm",
                         [f"results/{dataset}/models/glmhmm/pooled"])
    elif "glmhmm" in analyses(dataset):
        out["glmhmm"] = (f"results/{dataset}/models/glmhmm",
                         [f"results/{dataset}/models/glmhmm/{s}" for s in SESSIONS[dataset]])
    if "trsa" in analyses(dataset):
        out["trsa"] = (f"results/{dataset}/models/trsa", [f"results/{dataset}/models/trsa"])
    if "ntf" in analyses(dataset):
        out["ntf"] = (f"results/{dataset}/models/ntf", [f"results/{dataset}/models/ntf"])
    if "connectivity" in analyses(dataset):
        out["connectivity"] = (f"results/{dataset}/models/connectivity",
                               [f"results/{dataset}/models/connectivity"])
    if config["datasets"][dataset].get("denoise"):
        out["denoised"] = (f"results/{dataset}", session_outputs(dataset, "denoised.zarr"))
    return out


DENOISER = f"results/models/denoiser_{config['denoise']['budget']}"


def denoiser_args(wc):
    return shlex.join(["--budget", wc.budget, "--seed", str(config["seed"]),
                       "--device", "cuda" if config["gpu"] else "cpu",
                       "--set", f"cache_dir={REFERENCE_CACHE}",
                       *_set_args(config["denoise"]["options"])])


# -- paper figures ------------------------------------------------------------
FIGURES = config["figures"].get("papers") or list(PAPERS)
QUICK = config["figures"]["quick"]


def figure_inputs(wc):
    """What a paper's figure reads besides its own simulation."""
    return figure_needs(wc.paper, quick=QUICK, reference_cache=REFERENCE_CACHE)[0]


def figure_args(wc):
    options = figure_needs(wc.paper, quick=QUICK, reference_cache=REFERENCE_CACHE)[1]
    args = ["--seed", str(config["seed"])] + (["--quick"] if QUICK else [])
    return shlex.join(args + _set_args(options))


# -- trial tables (behavior): no preprocessing; GLM-HMMs pooled over sessions (issue 20) --
def trial_datasets():
    return [d for d in DATASETS if modality(d) == "behavior"]


def pooled_glmhmm_inputs(wc):
    return session_outputs(wc.dataset, "raw.zarr")


def pooled_glmhmm_args(wc):
    return analysis_args(wc, "glmhmm", drop=("input", "sequence_label"))


# -- job resources from the input's size (neurodag.resources) ------------------
from neurodag import resources as job_resources


def preprocess_resources(input):
    """mem_mb and runtime of a preprocess job: estimated from its input store's shape
    (neurodag.resources.preprocess), or the config's resources.preprocess."""
    overrides = config.get("resources", {}).get("preprocess", {})
    return job_resources.preprocess(input[0], **overrides)
