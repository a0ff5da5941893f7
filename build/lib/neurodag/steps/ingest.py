"""The ``ingest`` step: source files -> ``raw.zarr`` (the contract, chunked) and ``raw.nwb``
(the archive checked by nwbinspector).

A streaming step: the recording is read lazily and written block by block into the
temporary paths the runner gives; the NWB file is written from the zarr store, so a lazy
source is read only once and both outputs hold the same numbers. Both appear, or neither.
The provenance hashes every file the reader used (recording parts and sidecars), not
just the arguments. A reference session (``reference: NAME/SESSION``) is read from the
fetched cache instead (``neurodag.reference``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import layout
from ..io.options import ReaderOptions
from ..options import option
from .contract import Arg, Input, Output, Step

MODALITIES = ("eeg", "meg", "seeg", "ecog", "fmri", "calcium", "spikes")


@dataclass(frozen=True)
class IngestOptions(ReaderOptions):
    """The readers' options (config ``ingest:``) and what the rules know of the session."""

    modality: Literal["eeg", "meg", "seeg", "ecog", "fmri", "calcium", "spikes"] | None = \
        option(None, "override what is inferred from the files")
    subject: str | None = option(None, "override the subject inferred from the files")
    session: str | None = option(None, "override the session inferred from the files")
    reference: str | None = option(None, "a reference dataset's session, NAME/SESSION, read "
                                         "from the reference input (fetch-reference)")
    nwb_compression: Literal["none", "gzip"] = option(
        "none", "compression of the NWB sample arrays (gzip: smaller archives, ~3x slower)")


def _split(reference: str) -> tuple[str, str]:
    from ..errors import InputError

    name, sep, session = reference.partition("/")
    if not sep or not name or not session:
        raise InputError(f"ingest: reference {reference!r}: expected NAME/SESSION")
    return name, session


def _is_connectome(name: str, session: str) -> bool:
    from .. import reference

    return reference.sessions(name).get(session, {}).get("modality") == "connectome"


def write(ds, zarr_path: Path, nwb_path: Path, *, nwb_compression: str | None = None) -> None:
    """Write a stamped contract Dataset to ``zarr_path`` and, from it, ``nwb_path``; the NWB
    file must pass nwbinspector (a ContractError found while streaming names the source)."""
    from .. import store
    from ..errors import ContractError
    from ..store.validate import nwb_problems

    source = str(ds.attrs.get("source", ""))
    try:
        store.write_signal(ds, zarr_path)
    except ContractError as e:
        raise ContractError(str(e).replace(str(zarr_path), source or str(zarr_path), 1)) \
            from None
    store.write_nwb(store.read_signal(zarr_path), nwb_path, compression=nwb_compression)
    problems = nwb_problems(nwb_path, ds)
    if problems:
        raise RuntimeError(f"{nwb_path}: nwbinspector: {problems[0]}")


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
        ds = io.read(paths, modality=options.modality, subject=options.subject,
                     session=options.session, **reader)
        used = ds.attrs.pop("source_files", None) or paths
        ctx.stamp(ds, ctx.provenance(files=used, source=ds.attrs.get("source") or str(paths[0])))
    compression = None if options.nwb_compression == "none" else options.nwb_compression
    write(ds, ctx.out["zarr"], ctx.out["nwb"], nwb_compression=compression)
    return {}


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
        outputs.pop("zarr", None)
        outputs.pop("nwb", None)
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
             "nwb": Output("nwb", "the NWB archive", name=layout.name(layout.RAW_NWB))},
    options=IngestOptions,
    compute=compute,
    config="ingest",
    config_options=ReaderOptions,
    args=(Arg("recording", role="recording", nargs="*", metavar="INPUT",
              help="recording file(s) or folder"),),
    add_args=_add_args,
    adapt=_adapt,
)
