# Helpers that turn config into rule inputs and command-line options (no analysis logic).
import json
import shlex

from neurodag.config import dataset_digest, sessions as discover_sessions

wildcard_constraints:
    dataset="[A-Za-z][A-Za-z0-9_-]*",
    session="[A-Za-z0-9][A-Za-z0-9_-]*",

DATASETS = list(config["datasets"])
SESSIONS = {name: discover_sessions(config, name) for name in DATASETS}


def session_of(wc):
    return SESSIONS[wc.dataset][wc.session]


def ingest_inputs(wc):
    """What ingest reads: a synthetic session's generated folder, or the matched files."""
    s = session_of(wc)
    if s.synthetic:
        return [f"results/{wc.dataset}/{wc.session}/synthetic"]
    return list(s.inputs)


def ingest_options(wc):
    s = session_of(wc)
    entry = config["datasets"][wc.dataset]
    opts = ["--modality", entry["modality"], "--subject", s.subject, "--session", s.session,
            "--config-digest", dataset_digest(config, wc.dataset)]
    for key, value in entry.get("ingest", {}).items():
        opts += ["--set", f"{key}={json.dumps(value)}"]
    return shlex.join(opts)


def synth_options(wc):
    s = session_of(wc)
    opts = [s.synthetic, "--seed", str(s.seed), "--subject", s.subject, "--session", s.session]
    for key, value in s.params.items():
        opts += ["--set", f"{key}={json.dumps(value)}"]
    return shlex.join(opts)


def session_outputs(dataset, name):
    return [f"results/{dataset}/{sid}/{name}" for sid in SESSIONS[dataset]]


def report_options(wc):
    entry = config["datasets"][wc.dataset]
    return shlex.join(["--description", entry.get("description", ""),
                       "--config-json", json.dumps(entry)])


def reported_datasets():
    return [d for d in DATASETS if config["datasets"][d].get("report", True)]


def all_outputs():
    out = []
    for d in DATASETS:
        out += session_outputs(d, "raw.nwb") + session_outputs(d, "raw.zarr")
    out += [f"results/reports/{d}.html" for d in reported_datasets()]
    if reported_datasets():
        out.append("results/reports/index.html")
    return out
