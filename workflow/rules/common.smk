# Helpers that turn config into rule inputs and command-line arguments (no analysis logic).
# Paths come from neurodag.layout; a rule hands its {output.ROLE} paths to its step.
import json
import shlex

from neurodag import layout
from neurodag.config import (analysis_step, dataset_digest, homogenize_kind, homogenize_stores,
                             sessions as discover_sessions)
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


def analysis_of(dataset, name):
    """The step that runs analysis `name` on `dataset` (by its modality)."""
    return analysis_step(name, modality(dataset))


def _set_args(options, prefix=""):
    """Nested options as repeated --set KEY=VALUE (dotted keys, JSON values)."""
    args = []
    for key, value in options.items():
        if isinstance(value, dict):
            args += _set_args(value, f"{prefix}{key}.")
        else:
            args += ["--set", f"{prefix}{key}={json.dumps(value)}"]
    return args


def keyed(role, paths):
    """--in ROLE[KEY]=PATH for each item of {key: path}."""
    return [f"--in={role}[{key}]={path}" for key, path in paths.items()]


def step_args(dataset, step, options):
    """The config digest of `step` for `dataset` and its options."""
    return shlex.join(["--config-digest", dataset_digest(config, dataset, step),
                       *_set_args(options)])


def session_path(pattern, dataset, session):
    return layout.path(pattern, dataset=dataset, session=session)


def session_outputs(dataset, pattern):
    return [session_path(pattern, dataset, sid) for sid in SESSIONS[dataset]]


def session_keyed(dataset, role, pattern):
    """--in ROLE[DATASET/SESSION]=PATH for each session of a dataset."""
    return keyed(role, {f"{dataset}/{sid}": session_path(pattern, dataset, sid)
                        for sid in SESSIONS[dataset]})


# -- ingest ---------------------------------------------------------------------------

def ingest_inputs(wc):
    """What ingest reads: a generated folder, a reference cache, or the matched files."""
    s = session_of(wc)
    if s.synthetic:
        return [session_path(layout.SYNTHETIC, wc.dataset, wc.session)]
    return list(s.inputs)


def ingest_args(wc):
    """The recording (files, or a reference session) and the reader options."""
    s = session_of(wc)
    entry = config["datasets"][wc.dataset]
    if s.reference:
        args = [f"--in=reference={ingest_inputs(wc)[0]}"]
        options = {"reference": f"{s.reference}/{s.id}"}
    else:
        args = [f"--in=recording={p}" for p in ingest_inputs(wc)]
        options = {"modality": entry["modality"], "subject": s.subject, "session": s.session}
    if modality(wc.dataset) != "connectome":
        options["nwb_compression"] = config["nwb"]["compression"]
    meta = session_metadata(entry.get("metadata"), session=s.id, subject=s.subject)
    if meta:  # this session's metadata from config (README "Metadata")
        options["metadata"] = meta
    args += _set_args({**options, **entry.get("ingest", {})})
    return shlex.join(["--config-digest", dataset_digest(config, wc.dataset), *args])


def synth_options(wc):
    s = session_of(wc)
    opts = [s.synthetic, "--seed", str(s.seed), "--subject", s.subject, "--session", s.session]
    for key, value in s.params.items():
        opts += ["--set", f"{key}={json.dumps(value)}"]
    return shlex.join(opts)


# -- preprocess, homogenize -------------------------------------------------------------

def preprocess_args(wc):
    return step_args(wc.dataset, "preprocess", config["datasets"][wc.dataset]["preprocess"])


def homogenized(dataset):
    return config["datasets"][dataset]["homogenize"]["enabled"]


def homogenize_product(dataset):
    pattern = layout.MERGED_CONNECTOME if modality(dataset) == "connectome" else layout.HOMOGENIZED
    return layout.path(pattern, dataset=dataset)


def homogenize_inputs(wc):
    return list(homogenize_stores(config, wc.dataset).values())


def homogenize_args(wc):
    h = config["datasets"][wc.dataset]["homogenize"]
    options = {k: v for k, v in h.items() if k not in ("enabled", "with", "annotations")}
    role = "annotations" if modality(wc.dataset) == "connectome" else "stores"
    if role == "stores":
        options = {"kind": homogenize_kind(modality(wc.dataset)), **options}
    return shlex.join(keyed(role, homogenize_stores(config, wc.dataset))) + " " + \
        step_args(wc.dataset, "homogenize", options)


# -- analyses: every step configured under `analyses:` ----------------------------------

def analyses(dataset):
    return config["datasets"][dataset].get("analyses", {})


def analysis_args(wc, name):
    """An analysis's options (without the keys only the rules read) and digest."""
    step = analysis_of(wc.dataset, name)
    options = (step.config_options or step.options).check(analyses(wc.dataset)[name], name)
    options = options.to_dict(wiring=False, unset=False)
    if "device" in options and config["gpu"]:
        options["device"] = "cuda"
    return step_args(wc.dataset, name, options)


def analysis_input(wc, name):
    """The per-session store an analysis reads (its `input:` key: raw or clean)."""
    pattern = layout.SESSION_STORES[analyses(wc.dataset)[name]["input"]]
    return session_path(pattern, wc.dataset, wc.session)


def analysis_inputs(wc, name):
    pattern = layout.SESSION_STORES[analyses(wc.dataset)[name]["input"]]
    return session_outputs(wc.dataset, pattern)


def ntf_inputs(wc):
    """The homogenized stack (calcium), or every fMRI session's clean store (parcels)."""
    if modality(wc.dataset) == "fmri":
        return {"sessions": session_outputs(wc.dataset, layout.CLEAN_ZARR)}
    return {"stack": layout.path(layout.HOMOGENIZED, dataset=wc.dataset)}


def ntf_args(wc):
    """--in stack=PATH, or --in sessions=PATH for each fMRI session."""
    found = ntf_inputs(wc)
    role, value = next(iter(found.items()))
    return shlex.join([f"--in={role}={p}" for p in ([value] if isinstance(value, str)
                                                    else value)])


def analysis_outputs(dataset):
    """{kind: path or {session: path}} of the dataset's analyses (their rules' outputs)."""
    out = {}
    for name in analyses(dataset):
        step = analysis_of(dataset, name)
        pattern = getattr(rules, step.name.replace("-", "_")).output[0]
        if "{session}" in pattern:
            out[name] = {sid: session_path(pattern, dataset, sid) for sid in SESSIONS[dataset]}
        else:
            out[name] = layout.path(pattern, dataset=dataset)
    if config["datasets"][dataset].get("denoise"):
        out["denoised"] = {sid: session_path(layout.DENOISED_ZARR, dataset, sid)
                           for sid in SESSIONS[dataset]}
    return out


def products(dataset):
    """Dataset-level products shown as sections of the dataset's page."""
    out = {}
    if homogenized(dataset):
        out["connectome" if modality(dataset) == "connectome" else "homogenized"] = \
            homogenize_product(dataset)
    out.update(analysis_outputs(dataset))
    return out


def product_files(dataset):
    return [p for v in products(dataset).values()
            for p in (v.values() if isinstance(v, dict) else [v])]


# -- reports ----------------------------------------------------------------------------

def signal_datasets():
    return [d for d in DATASETS if modality(d) not in ("connectome", "behavior")]


def trial_datasets():
    """Datasets of per-trial tables (behavior): no preprocessing; GLM-HMMs pooled."""
    return [d for d in DATASETS if modality(d) == "behavior"]


def connectome_datasets():
    return [d for d in DATASETS if modality(d) == "connectome"]


def reported_datasets():
    """Signal datasets, and connectome datasets with a merged connectome to show."""
    return [d for d in DATASETS if config["datasets"][d].get("report", True)
            and (modality(d) != "connectome" or homogenized(d))]


def report_inputs(wc):
    """Each session's raw and clean stores and QC, and the dataset's products."""
    if modality(wc.dataset) in ("connectome", "behavior"):
        return {"raw": [], "products": product_files(wc.dataset)}
    return {"raw": session_outputs(wc.dataset, layout.RAW_ZARR),
            "dandi": session_outputs(wc.dataset, layout.DANDI_JSON),
            "clean": session_outputs(wc.dataset, layout.CLEAN_ZARR),
            "qc": session_outputs(wc.dataset, layout.QC_JSON),
            "products": product_files(wc.dataset)}


def report_args(wc):
    """The report's inputs by session and product, and the dataset's entry."""
    d = wc.dataset
    entry = config["datasets"][d]
    args = [d]
    if modality(d) not in ("connectome", "behavior"):
        for role, pattern in (("raw", layout.RAW_ZARR), ("dandi", layout.DANDI_JSON),
                              ("clean", layout.CLEAN_ZARR), ("qc", layout.QC_JSON)):
            args += keyed(role, {sid: session_path(pattern, d, sid) for sid in SESSIONS[d]})
    for kind, value in products(d).items():
        items = ({f"{kind}/{sid}": p for sid, p in value.items()} if isinstance(value, dict)
                 else {kind: value})
        args += keyed("products", items)
    args += ["--description", entry.get("description", ""), "--config", json.dumps(entry)]
    return shlex.join(args)


def all_outputs():
    out = []
    for d in signal_datasets():
        for pattern in (layout.RAW_NWB, layout.RAW_ZARR, layout.CLEAN_ZARR, layout.QC_JSON):
            out += session_outputs(d, pattern)
    for d in connectome_datasets():
        out += session_outputs(d, layout.SESSION_CONNECTOME)
    for d in trial_datasets():
        out += session_outputs(d, layout.RAW_NWB) + session_outputs(d, layout.RAW_ZARR)
    out += [f for d in DATASETS for f in product_files(d)]
    out += [layout.path(layout.REPORT_PAGE, dataset=d) for d in reported_datasets()]
    if reported_datasets():
        out.append(layout.REPORT_INDEX)
    return out


# -- the denoiser -----------------------------------------------------------------------
DENOISER = layout.path(layout.DENOISER, budget=config["denoise"]["budget"])


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
    inputs, options = figure_needs(wc.paper, quick=QUICK, reference_cache=REFERENCE_CACHE)
    args = keyed("needs", inputs) + ["--seed", str(config["seed"])] + (["--quick"] if QUICK else [])
    return shlex.join(args + _set_args(options))


# -- job resources from the input's size (neurodag.resources) ------------------
from neurodag import resources as job_resources


def preprocess_resources(input):
    """mem_mb and runtime of a preprocess job: estimated from its input store's shape
    (neurodag.resources.preprocess), or the config's resources.preprocess."""
    overrides = config.get("resources", {}).get("preprocess", {})
    return job_resources.preprocess(input[0], **overrides)
