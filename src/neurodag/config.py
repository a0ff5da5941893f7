"""Configuration: schema validation with one-line errors, defaults, and session discovery.

The Snakefile calls :func:`check` once, before any rule; the CLI's ``check-config``
calls it too. Errors name the key path, the bad value and what was expected, and
suggest the closest valid key for a typo, like MNE-BIDS-Pipeline::

    config: datsets: unknown key; did you mean 'datasets'?
"""

from __future__ import annotations

import glob
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config_schema import _describe, load_schema, load_yaml, validate_schema  # noqa: F401
from .errors import ConfigError
from .errors import suggest as _suggest
from .provenance import config_digest

_ENTITY = re.compile(r"(?:^|_)([a-zA-Z]+)-([a-zA-Z0-9]+)")
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SUFFIXES = (".nii.gz", ".tsv.gz", ".csv.gz", ".fif.gz")


# -- sessions --------------------------------------------------------------------------

@dataclass(frozen=True)
class Session:
    """One session of a dataset: its id, the inputs ingest reads, and reader hints."""

    dataset: str
    id: str
    subject: str
    session: str
    inputs: tuple[str, ...] = ()
    synthetic: str | None = None
    reference: str | None = None
    seed: int | None = None
    params: dict = field(default_factory=dict, hash=False, compare=False)


def _stem(path: str) -> str:
    name = Path(path.rstrip("/")).name
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem if not Path(path).is_dir() else name


def session_id(path: str) -> tuple[str, str, str]:
    """Session id, subject and session from a file name's BIDS entities (else its stem)."""
    stem = _stem(path)
    ents = dict((k.lower(), v) for k, v in _ENTITY.findall(stem))
    subject = ents.get("sub", "01")
    if ents:
        sid = "_".join(f"{k}-{v}" for k, v in _ENTITY.findall(stem))
        return sid, subject, ents.get("ses", "01")
    # runA.set, runB.set: distinct sessions, each named as its file
    sid = _SAFE.sub("-", stem).strip("-") or "session"
    return sid, subject, sid


def session_seed(seed: int, dataset: str, index: int) -> int:
    """A per-session seed derived from the run seed, the dataset name and the session index."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(dataset.encode()), int(index)])
    return int(ss.generate_state(1)[0])


#: The keys each kind of source takes (besides its own name).
SOURCE_KEYS = {
    "synthetic": {"sessions", "params"},
    "files": {"extra", "optional"},
    "bids": {"datatype", "task", "subjects", "sessions", "runs", "extra"},
    "reference": {"sessions"},
}


def source_kind(src: Mapping) -> str:
    return next(k for k in SOURCE_KEYS if k in src)


def sessions(config: Mapping, dataset: str) -> dict[str, Session]:
    """Discover the sessions of ``dataset`` (when the DAG is built; no checkpoints)."""
    src = config["datasets"][dataset]["source"]
    finder = {"synthetic": _synthetic_sessions, "files": _file_sessions,
              "bids": _bids_sessions, "reference": _reference_sessions}[source_kind(src)]
    return finder(config, dataset, src, f"datasets.{dataset}.source")


def _synthetic_sessions(config, dataset, src, key) -> dict[str, Session]:
    return {
        f"sub-{i + 1:02d}": Session(
            dataset=dataset, id=f"sub-{i + 1:02d}", subject=f"{i + 1:02d}", session="01",
            synthetic=src["synthetic"], seed=session_seed(config.get("seed", 0), dataset, i),
            params=dict(src.get("params", {})),
        )
        for i in range(src.get("sessions", 2))
    }


def _file_sessions(config, dataset, src, key) -> dict[str, Session]:
    out: dict[str, Session] = {}
    extra = tuple(src.get("extra", []))
    for pattern in _as_list(src["files"]):
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise ConfigError(f"config: {key}.files: {pattern!r} matches no file")
        for path in matches:
            sid, subject, ses = session_id(path)
            if sid in out:
                raise ConfigError(
                    f"config: {key}.files: {path} and {out[sid].inputs[0]} give the same session id "
                    f"'{sid}'; name files with distinct BIDS entities (sub-, ses-, run-)"
                )
            out[sid] = Session(dataset=dataset, id=sid, subject=subject, session=ses,
                               inputs=(path, *extra))
    return out


def _bids_sessions(config, dataset, src, key) -> dict[str, Session]:
    from .errors import InputError
    from .io import bids

    if not Path(src["bids"]).is_dir():
        raise ConfigError(f"config: {key}.bids: {src['bids']!r} is not a folder")
    try:
        found = bids.sessions(src["bids"], datatype=src["datatype"], task=src.get("task"),
                              subjects=src.get("subjects"), sessions=src.get("sessions"),
                              runs=src.get("runs"))
    except InputError as e:
        raise ConfigError(f"config: {key}.bids: {e}") from None
    if not found:
        raise ConfigError(f"config: {key}.bids: no {src['datatype']} recording in "
                          f"{src['bids']!r} matches the filters")
    extra = tuple(src.get("extra", []))
    return {s["id"]: Session(dataset=dataset, id=s["id"], subject=s["subject"],
                             session=s["session"] or "01", inputs=(*s["files"], *extra))
            for s in found}


def _reference_sessions(config, dataset, src, key) -> dict[str, Session]:
    from . import reference

    name = src["reference"]
    if name not in reference.REFERENCES:
        raise ConfigError(f"config: {key}.reference: {name!r} is not a reference dataset"
                          f"{_suggest(name, reference.REFERENCES) or '; expected one of ' + ', '.join(reference.REFERENCES)}")
    available = reference.sessions(name)
    wanted = src.get("sessions") or list(available)
    for sid in wanted:
        if sid not in available:
            raise ConfigError(f"config: {key}.sessions: {sid!r} is not a session of {name}"
                              f"{_suggest(sid, available) or '; expected some of ' + ', '.join(available)}")
    cache = Path(config.get("reference_cache", "resources/reference"))
    return {sid: Session(dataset=dataset, id=sid, subject=available[sid]["subject"] or "01",
                         session="01", inputs=(str(cache / name),), reference=name)
            for sid in wanted}


#: The parts of a dataset's entry each step's outputs depend on (cumulative down the DAG),
#: so that changing, say, a homogenize option does not re-run ingest.
STEP_KEYS = {
    "ingest": ("modality", "source", "ingest", "metadata"),
    "preprocess": ("modality", "source", "ingest", "preprocess"),
    "homogenize": ("modality", "source", "ingest", "preprocess", "homogenize"),
}


def dataset_digest(config: Mapping, dataset: str, step: str = "ingest") -> str:
    """Digest of what determines a step's outputs: the run seed and the relevant entries."""
    entry = config["datasets"][dataset]
    keys = STEP_KEYS.get(step, (*STEP_KEYS["homogenize"], "analyses"))
    part = {k: entry[k] for k in keys if k in entry}
    if step not in STEP_KEYS:
        part["analysis"] = {step: entry.get("analyses", {}).get(step)}
        part.pop("analyses", None)
    # nwb options shape raw.nwb only, which no later step reads
    nwb = config.get("nwb", {}) if step == "ingest" else {}
    return config_digest({"seed": config.get("seed", 0), "nwb": nwb, "step": step,
                          "dataset": part})


# -- semantic checks -------------------------------------------------------------------

def _check_dataset(name: str, entry: Mapping) -> None:
    key = f"datasets.{name}.source"
    src = entry["source"]
    kind = source_kind(src)
    stray = sorted(set(src) - {kind} - SOURCE_KEYS[kind])
    if stray:
        raise ConfigError(f"config: {key}.{stray[0]}: not used with '{kind}' "
                          f"(it takes {', '.join(sorted(SOURCE_KEYS[kind])) or 'nothing else'})")
    sessions_ = src.get("sessions")
    if kind == "synthetic" and sessions_ is not None and not isinstance(sessions_, int):
        raise ConfigError(f"config: {key}.sessions: a number of sessions with 'synthetic', "
                          f"got {_describe(sessions_)}")
    if kind in ("bids", "reference") and sessions_ is not None and not isinstance(sessions_, list):
        raise ConfigError(f"config: {key}.sessions: a list of session labels with '{kind}', "
                          f"got {_describe(sessions_)}")
    if kind == "synthetic":
        expected = {"ecog": ("seeg", "ecog")}.get(entry["modality"], (entry["modality"],))
        if src["synthetic"] not in expected:
            raise ConfigError(
                f"config: {key}.synthetic: '{src['synthetic']}' generates "
                f"{src['synthetic']} data but the dataset's modality is '{entry['modality']}'"
            )
    if kind == "reference":
        from . import reference

        ref = reference.REFERENCES.get(src["reference"])
        if ref is not None and ref.modality != entry["modality"]:
            raise ConfigError(f"config: {key}.reference: '{src['reference']}' holds {ref.modality} "
                              f"data but the dataset's modality is '{entry['modality']}'")
        if ref is not None:
            for option in entry.get("ingest", {}):
                if not reference.accepts(ref.name, option):
                    raise ConfigError(f"config: datasets.{name}.ingest.{option}: not used by the "
                                      f"reference reader of '{ref.name}'")
    elif entry["modality"] == "connectome":
        raise ConfigError(f"config: {key}: connectome datasets come from a 'reference' source")
    for extra in src.get("extra", []):
        if not Path(extra).exists():
            raise ConfigError(f"config: {key}.extra: {extra!r} does not exist")
    if entry["modality"] in ("calcium", "spikes") and kind == "files":
        if "sfreq" not in entry.get("ingest", {}) and any(
                str(p).endswith(".npy") for p in _as_list(src["files"])):
            raise ConfigError(f"config: datasets.{name}.ingest.sfreq: required for .npy tables "
                              "(no time column)")


def _check_metadata(name: str, entry: Mapping, found: Mapping[str, Session]) -> None:
    """The values of ``metadata:`` (README "Metadata"), one line naming the key."""
    if "metadata" not in entry:
        return
    from . import metadata

    where = f"config: datasets.{name}.metadata"
    if entry["modality"] == "connectome":
        raise ConfigError(f"{where}: connectome datasets have no NWB file; metadata is not used")
    metadata.check_config(entry["metadata"], where,
                          {sid: s.subject for sid, s in found.items()})


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def check(config: Mapping, schema: str | Path | Mapping | None = None, *,
          notes: list | None = None) -> dict:
    """Validate a config and return it with defaults filled in (the step sections of the
    schema come from the steps' declarations: :mod:`neurodag.config_schema`).

    Parameters
    ----------
    config : mapping
        The parsed config (e.g. Snakemake's ``config``).
    schema : path or mapping, optional
        The JSON Schema; by default the one shipped in the package.
    notes : list, optional
        Receives one line per dataset left out (:func:`drop_absent`).

    Returns
    -------
    dict
        A validated copy with defaults filled in.

    Raises
    ------
    ConfigError
        One line naming the key path, the value and what was expected.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"config: expected a mapping, got {type(config).__name__}")
    if schema is None or isinstance(schema, (str, Path)):
        schema = load_schema(schema)
    out = validate_schema(config, schema)
    for line in drop_absent(out):
        if notes is not None:
            notes.append(line)
    for name, entry in out["datasets"].items():
        _check_dataset(name, entry)
        _fill_step_options(name, entry)
        _check_homogenize(name, entry, out["datasets"])
        _check_analyses(name, entry)
        found = sessions(out, name)  # globs must match; session ids must be unique
        _check_reader(name, entry, found)
        _check_metadata(name, entry, found)
    for name, entry in out["datasets"].items():
        if entry["homogenize"]["enabled"]:
            homogenize_stores(out, name)
    return out


def drop_absent(config: dict) -> list[str]:
    """Remove the datasets whose ``files`` source is ``optional`` and matches nothing (data
    kept outside the repository, e.g. ``../shared``); one line per dataset left out."""
    notes = []
    for name, entry in list(config["datasets"].items()):
        src = entry["source"]
        if "files" not in src or not src.get("optional"):
            continue
        patterns = _as_list(src["files"])
        if not any(glob.glob(p) for p in patterns):
            del config["datasets"][name]
            notes.append(f"datasets.{name}: skipped, no file matches "
                         f"{', '.join(map(repr, patterns))} (source.optional)")
    if not config["datasets"]:
        raise ConfigError("config: datasets: every dataset is optional and absent")
    return notes


def _check_reader(name: str, entry: Mapping, found: Mapping) -> None:
    """``ingest.reader``: keywords of the MNE reader of each recording the dataset lists
    (synthetic recordings do not exist yet: ingest checks those)."""
    options = entry.get("ingest", {}).get("reader")
    if not options:
        return
    from . import io

    recordings = [s.inputs[0] for s in found.values() if s.inputs and not s.reference]
    io.check_reader_options(recordings, options, f"config: datasets.{name}.ingest.reader")


#: Keys of a dataset's ``homogenize`` section the rules read (besides the kind's options).
HOMOGENIZE_WIRING = {"enabled", "with"}


def homogenize_kind(modality: str) -> str:
    """The homogenize kind of a modality (:mod:`neurodag.homogenize.options`)."""
    from .homogenize.options import kind_of

    return kind_of(modality)


#: Connectome sessions merged by default: the hermaphrodite wild-type annotations.
NOT_MERGED_BY_DEFAULT = ("cook2019_male", "functional_unc31")


def _check_homogenize(name: str, entry: dict, datasets: Mapping) -> None:
    from .homogenize.options import KINDS

    h = entry["homogenize"]
    modality = entry["modality"]
    kind = homogenize_kind(modality)
    key = f"config: datasets.{name}.homogenize"
    takes = HOMOGENIZE_WIRING | set(KINDS[kind].specs()) | (
        {"annotations"} if kind == "connectome" else set())
    stray = sorted(set(h) - takes)
    if stray:
        raise ConfigError(f"{key}.{stray[0]}: not used for {modality} datasets (it takes "
                          f"{', '.join(sorted(takes))})")
    KINDS[kind].check({k: v for k, v in h.items() if k in KINDS[kind].specs()}, key)
    h.setdefault("enabled", modality in ("calcium", "connectome"))
    for other in h.get("with", []):
        if other not in datasets:
            raise ConfigError(f"{key}.with: no dataset {other!r}{_suggest(other, datasets)}")
        if datasets[other]["modality"] != modality:
            raise ConfigError(f"{key}.with: {other!r} is {datasets[other]['modality']}, "
                              f"not {modality}")


def analysis_steps() -> dict[str, list]:
    """``{analysis: [Step, ...]}`` of the steps configured under ``analyses:`` (one per
    kind of data: ``glmhmm`` is ``fit-glmhmm`` for time series and ``fit-glmhmm-pooled``
    for trial tables)."""
    from .steps import registry

    out: dict[str, list] = {}
    for step in registry().values():
        if step.config and step.config.startswith("analyses."):
            out.setdefault(step.config.split(".", 1)[1], []).append(step)
    return out


def analysis_step(analysis: str, modality: str, where: str | None = None):
    """The step that runs ``analysis`` on data of ``modality``.

    Raises
    ------
    ConfigError
        ``where: runs on ... datasets, not MODALITY`` when no step takes that modality.
    """
    found = analysis_steps()[analysis]
    for step in found:
        if not step.modalities or modality in step.modalities:
            return step
    takes = [m for step in found for m in step.modalities]
    raise ConfigError(f"{where or analysis}: runs on {', '.join(takes)} datasets, not "
                      f"{modality}")


def _check_analyses(name: str, entry: dict) -> None:
    for analysis, options in entry["analyses"].items():
        key = f"config: datasets.{name}.analyses.{analysis}"
        step = analysis_step(analysis, entry["modality"], key)
        options = (step.config_options or step.options).check(options, key)
        options.check_modality(entry["modality"], key)
        if analysis == "ntf" and entry["modality"] == "calcium" \
                and not entry["homogenize"]["enabled"]:
            raise ConfigError(f"{key}: factorises the homogenized stack; set "
                              f"datasets.{name}.homogenize.enabled: true")
    if entry.get("denoise") and entry["modality"] != "eeg":
        raise ConfigError(f"config: datasets.{name}.denoise: the EMG denoiser is for EEG, "
                          f"not {entry['modality']}")


def homogenize_stores(config: Mapping, dataset: str) -> dict[str, str]:
    """The per-session stores the homogenize step of ``dataset`` reads, by key.

    Calcium and other signal datasets: each session's ``clean.zarr``, of the dataset and of
    those in ``homogenize.with``, keyed ``DATASET/SESSION``. Connectomes: the
    ``connectome.zarr`` of the annotations to merge (``homogenize.annotations``, by default
    every session but the male and mutant ones), keyed by annotation.
    """
    from . import layout

    entry = config["datasets"][dataset]
    h = entry["homogenize"]
    names = [dataset, *h.get("with", [])]
    found = [(d, sid) for d in names for sid in sessions(config, d)]
    if entry["modality"] != "connectome":
        return {f"{d}/{sid}": layout.path(layout.CLEAN_ZARR, dataset=d, session=sid)
                for d, sid in found}
    wanted = h.get("annotations")
    by_id = {}
    for d, sid in sorted(found, key=lambda x: (names.index(x[0]), x[1])):
        if sid in by_id:
            raise ConfigError(f"config: datasets.{dataset}.homogenize.with: annotation '{sid}' "
                              f"is a session of both {by_id[sid]} and {d}")
        by_id[sid] = d
    if wanted is None:
        wanted = [sid for sid in by_id if sid not in NOT_MERGED_BY_DEFAULT]
    for sid in wanted:
        if sid not in by_id:
            raise ConfigError(f"config: datasets.{dataset}.homogenize.annotations: {sid!r} is "
                              f"not a session of {', '.join(names)}{_suggest(sid, by_id)}")
    return {sid: layout.path(layout.SESSION_CONNECTOME, dataset=by_id[sid], session=sid)
            for sid in wanted}


def _fill_step_options(name: str, entry: dict) -> None:
    """Check each step's options against its library defaults, and fill them in."""
    if entry["modality"] in ("connectome", "behavior"):
        if entry.get("preprocess"):
            raise ConfigError(f"config: datasets.{name}.preprocess: {entry['modality']} "
                              "datasets are not preprocessed")
        return
    from . import preprocess

    try:
        entry["preprocess"] = preprocess.check_options(entry["modality"], entry["preprocess"])
    except ConfigError as e:
        raise ConfigError(f"config: datasets.{name}.{e}") from None
