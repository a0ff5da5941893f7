"""The ``ingest`` step: source files -> ``raw.zarr`` (the contract, chunked), ``raw.nwb``
(the archive checked by nwbinspector) and ``dandi.json``.

A streaming step: the recording is read lazily and written block by block into the
temporary paths the runner gives; the NWB file is written from the zarr store, so a lazy
source is read only once and both outputs hold the same numbers. ``dandi.json`` says what
nwbinspector's DANDI profile finds in the NWB file (and so what DANDI would still need),
with where each metadata value came from (:mod:`neurodag.metadata`, the config's
``metadata`` laid over the sources'); the same lines go to the log. All three appear, or
none. The provenance hashes every file the reader used (recording parts and sidecars),
not just the arguments. A reference session (``reference: NAME/SESSION``) is read from the
fetched cache instead (``neurodag.reference``); a per-trial behaviour table
(``modality: behavior``) becomes a trial table (dim ``trial``) and an NWB trials table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import layout
from ..io.options import ReaderOptions
from ..options import option
from .contract import Arg, Input, Output, Step

MODALITIES = ("eeg", "meg", "seeg", "ecog", "fmri", "calcium", "spikes", "behavior")


@dataclass(frozen=True)
class IngestOptions(ReaderOptions):
    """The readers' options (config ``ingest:``) and what the rules know of the session."""

    modality: Literal["eeg", "meg", "seeg", "ecog", "fmri", "calcium", "spikes",
                      "behavior"] | None = option(
        None, "override what is inferred from the files (behavior: a per-trial table)")
    subject: str | None = option(None, "override the subject inferred from the files")
    session: str | None = option(None, "override the session inferred from the files")
    reference: str | None = option(None, "a reference dataset's session, NAME/SESSION, read "
                                         "from the reference input (fetch-reference)")
    nwb_compression: Literal["none", "gzip"] = option(
        "none", "compression of the NWB sample arrays (gzip: smaller archives, ~3x slower)")
    metadata: dict | None = option(
        None, "this session's metadata (species, sex, age, session_start_time, experimenter, "
              "devices, ...; see neurodag.metadata), laid over what the file and its BIDS "
              "sidecars state")
    session_column: str | None = option(
        None, "trial tables: the column naming each trial's session (default session)")


def _split(reference: str) -> tuple[str, str]:
    from ..errors import InputError

    name, sep, session = reference.partition("/")
    if not sep or not name or not session:
        raise InputError(f"ingest: reference {reference!r}: expected NAME/SESSION")
    return name, session


def _is_connectome(name: str, session: str) -> bool:
    from .. import reference

    return reference.sessions(name).get(session, {}).get("modality") == "connectome"


def write(ds, out: dict, *, nwb_compression: str | None = None, metadata: dict | None = None,
          log=print) -> dict:
    """Write a stamped contract Dataset to ``out["zarr"]`` and, from it, ``out["nwb"]``; the
    NWB file must pass nwbinspector (a ContractError found while streaming names the
    source). Returns the DANDI report for ``out["dandi"]``."""
    from .. import store
    from ..errors import ContractError
    from ..metadata import apply

    apply(ds.attrs, metadata, "config: metadata")
    source = str(ds.attrs.get("source", ""))
    try:
        store.write_signal(ds, out["zarr"])
    except ContractError as e:
        raise ContractError(str(e).replace(str(out["zarr"]), source or str(out["zarr"]), 1)) \
            from None
    store.write_nwb(store.read_signal(out["zarr"]), out["nwb"], compression=nwb_compression)
    return _dandi(ds, out["nwb"], log)


def _dandi(ds, nwb_path: Path, log, skipped=None) -> dict:
    """nwbinspector on the NWB file: a gate (its problems stop the step), and the DANDI
    report (its lines go to the log)."""
    from ..store import inspect
    from ..store.validate import skipped_checks

    skipped = skipped_checks(ds) if skipped is None else skipped
    findings = inspect.inspect_file(nwb_path, ignore=skipped)
    problems = inspect.problems(findings)
    if problems:
        raise RuntimeError(f"{nwb_path}: nwbinspector: {problems[0]}")
    report = inspect.dandi_report(nwb_path, findings, ds.attrs, skipped=skipped)
    for line in inspect.report_lines(report):
        log(line)
    return report


def _trials(paths, options: IngestOptions, ctx) -> dict:
    """A per-trial behaviour table -> a trial table (dim ``trial``) and an NWB trials table."""
    from .. import store
    from ..errors import InputError
    from ..io.behavior import find_table, read_trials
    from ..metadata import apply
    from ..store.nwb_trials import write_trials_nwb

    stray = [k for k, v in options.to_dict().items() if v is not None
             and k in ReaderOptions.specs()]
    if stray:
        raise InputError(f"ingest: reader option {stray[0]!r} does not apply to trial tables "
                         "(they take session_column)")
    table = find_table(paths)
    ds = read_trials(table, subject=options.subject, session=options.session,
                     **({"session_column": options.session_column}
                        if options.session_column else {}))
    ctx.stamp(ds, ctx.provenance(files=ds.attrs.pop("source_files"), source=str(table)))
    apply(ds.attrs, options.metadata, "config: metadata")
    store.write_dataset(ds, ctx.out["zarr"])
    write_trials_nwb(ds, ctx.out["nwb"])
    return {"dandi": _dandi(ds, ctx.out["nwb"], ctx.log, skipped=[])}


def compute(inputs, options: IngestOptions, ctx):
    from .. import io
    from ..errors import InputError

    reader = ReaderOptions.check({k: v for k, v in options.to_dict().items()
                                  if k in ReaderOptions.specs()}, "ingest").given()
    if options.reference:
        from .. import reference

        if inputs["recording"] or inputs["reference"] is None:
            raise InputError("ingest: a reference session takes the reference cache input "
                             "and no recording files")
        name, session = _split(options.reference)
        if _is_connectome(name, session):
            raise InputError(f"ingest: reference {options.reference} is a connectome; use "
                             "ingest-connectome")
        ds = reference.read(name, session, inputs["reference"].parent, **reader)
        ctx.stamp(ds, ctx.provenance(hashes=ds.attrs["inputs"], source=ds.attrs["source"],
                                     source_sha256=ds.attrs["source_sha256"]))
    else:
        paths = inputs["recording"]
        if not paths:
            raise InputError("ingest: give the recording's file(s), or a reference session")
        if options.modality == "behavior":
            return _trials(paths, options, ctx)
        ds = io.read(paths, modality=options.modality, subject=options.subject,
                     session=options.session, **reader)
        used = ds.attrs.pop("source_files", None) or paths
        ctx.stamp(ds, ctx.provenance(files=used, source=ds.attrs.get("source") or str(paths[0])))
    compression = None if options.nwb_compression == "none" else options.nwb_compression
    return {"dandi": write(ds, ctx.out, nwb_compression=compression, metadata=options.metadata,
                           log=ctx.log)}


def _add_args(p):
    p.add_argument("--cache", type=Path, help="reference cache folder (fetch-reference); "
                                              "the reference input is CACHE/NAME")


def _adapt(ns, inputs, outputs, options):
    """``--cache DIR`` (the cache root) for the reference input; a connectome reference is
    the ingest-connectome step."""
    ref = options.get("reference")
    if ref and ns.cache is not None:
        inputs.setdefault("reference", ns.cache / _split(ref)[0])
    if ref and _is_connectome(*_split(ref)):
        if "connectome" not in outputs and ns.out_dir is not None:
            outputs["connectome"] = ns.out_dir / layout.name(layout.SESSION_CONNECTOME)
        for role in ("zarr", "nwb", "dandi"):
            outputs.pop(role, None)
        return "ingest-connectome"
    return None


STEP = Step(
    name="ingest",
    help="read a recording (and sidecars) into raw.zarr + raw.nwb",
    inputs={"recording": Input("files", "the recording and its sidecars (files or a folder)",
                               many=True, optional=True),
            "reference": Input("folder", "a fetched reference dataset (with option reference)",
                               optional=True)},
    outputs={"zarr": Output("signal", "the contract store", name=layout.name(layout.RAW_ZARR)),
             "nwb": Output("nwb", "the NWB archive", name=layout.name(layout.RAW_NWB)),
             "dandi": Output("json", "what nwbinspector's DANDI profile finds in the NWB file",
                             name=layout.name(layout.DANDI_JSON))},
    options=IngestOptions,
    compute=compute,
    config="ingest",
    config_options=ReaderOptions,
    args=(Arg("recording", role="recording", nargs="*", metavar="INPUT",
              help="recording file(s) or folder"),),
    add_args=_add_args,
    adapt=_adapt,
)
