"""Ingest: source files -> ``raw.zarr`` (the contract, chunked) and ``raw.nwb`` (the archive).

Both outputs appear only when both are complete and the NWB file passes nwbinspector;
otherwise neither is left behind. Beside them ``dandi.json`` says what nwbinspector's
DANDI profile finds in the NWB file (and so what DANDI would still need), with where each
metadata value came from (:mod:`neurodag.metadata`); the same lines go to the log.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from . import io, provenance, store
from .errors import ContractError, InputError
from .metadata import apply as apply_metadata
from .store import inspect as nwb_inspect


def run(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    modality: str | None = None,
    subject: str | None = None,
    session: str | None = None,
    config_digest: str = "",
    nwb_compression: str | None = None,
    metadata: dict | None = None,
    **options,
) -> dict[str, Path]:
    """Read ``inputs`` and write ``out_dir/raw.zarr``, ``out_dir/raw.nwb`` and ``dandi.json``.

    Parameters
    ----------
    inputs : sequence of path-like
        The recording and its sidecars (files or folders), see :func:`neurodag.io.read`.
    out_dir : path-like
        Session folder, e.g. ``results/{dataset}/{session}``.
    modality, subject, session : str, optional
        Override what is inferred from the files.
    config_digest : str
        Digest of the config that asked for this output (provenance).
    nwb_compression : {None, "gzip"}
        Compression of the NWB sample arrays (see :func:`neurodag.store.write_nwb`).
    metadata : dict, optional
        This session's metadata from config (:func:`neurodag.metadata.resolve`): laid
        over what the file and its sidecars state.
    **options
        Reader options (``sfreq``, ``tr``, ``units``, ``line_freq``).

    Returns
    -------
    dict
        ``{"zarr": path, "nwb": path, "dandi": path}``.
    """
    out_dir = Path(out_dir)
    paths = [Path(p) for p in inputs]
    if modality == "behavior":
        return _run_trials(paths, out_dir, subject=subject, session=session,
                           config_digest=config_digest, metadata=metadata, **options)
    ds = io.read(paths, modality=modality, subject=subject, session=session, **options)
    source = ds.attrs.get("source") or str(paths[0])
    # Hash every file the reader used (recording parts and sidecars), not just the arguments.
    used = ds.attrs.pop("source_files", None) or paths
    provenance.stamp(ds, used, source=source, config_digest=config_digest)
    return write(ds, out_dir, nwb_compression=nwb_compression, metadata=metadata)


def write(ds, out_dir: str | Path, *, nwb_compression: str | None = None,
          metadata: dict | None = None) -> dict[str, Path]:
    """Write a stamped contract Dataset as ``out_dir/raw.zarr``, ``raw.nwb``, ``dandi.json``.

    The config's ``metadata`` is laid over the Dataset's own (see
    :func:`neurodag.metadata.apply`). The NWB file is written from the zarr store, so a
    lazy source is read only once and both outputs hold the same numbers; it must pass
    nwbinspector. All three appear, or none (a ContractError found while streaming names
    the source, not our output).
    """
    out_dir = Path(out_dir)
    source = str(ds.attrs.get("source", ""))
    apply_metadata(ds.attrs, metadata, "config: metadata")
    zarr_path, nwb_path = out_dir / "raw.zarr", out_dir / "raw.nwb"

    def write_both():
        try:
            store.write_signal(ds, zarr_path)
        except ContractError as e:
            raise ContractError(str(e).replace(str(zarr_path), source or str(zarr_path), 1)) from None
        store.write_nwb(store.read_signal(zarr_path), nwb_path, compression=nwb_compression)

    return _all_or_none(ds, out_dir, write_both, skipped=_skipped(ds))


def _all_or_none(ds, out_dir: Path, write_both, *, skipped: list[str]) -> dict[str, Path]:
    """Run ``write_both()`` (it writes ``raw.zarr`` and ``raw.nwb``), inspect the NWB file
    and write ``dandi.json``; on any failure, or a problem, none of the three is left."""
    zarr_path, nwb_path = out_dir / "raw.zarr", out_dir / "raw.nwb"
    dandi_path = out_dir / "dandi.json"
    try:
        write_both()
        findings = nwb_inspect.inspect_file(nwb_path, ignore=skipped)
        problems = nwb_inspect.problems(findings)
        if problems:
            raise RuntimeError(f"{nwb_path}: nwbinspector: {problems[0]}")
        report = nwb_inspect.dandi_report(nwb_path, findings, ds.attrs, skipped=skipped)
        store.write_json(report, dandi_path)
    except BaseException:
        shutil.rmtree(zarr_path, ignore_errors=True)
        nwb_path.unlink(missing_ok=True)
        dandi_path.unlink(missing_ok=True)
        raise
    for line in nwb_inspect.report_lines(report):
        print(line)
    return {"zarr": zarr_path, "nwb": nwb_path, "dandi": dandi_path}


def _skipped(ds) -> list[str]:
    # nwbinspector flags data whose time axis is shorter than the channel axis as possibly
    # transposed; ours are time-first by construction (short real clips, more parcels than
    # volumes), so that heuristic is skipped for such recordings.
    ignore = ["check_data_orientation"] if ds.sizes["time"] < ds.sizes["channel"] else []
    if "spike_times" in ds and not ds.attrs.get("spike_time_resolution"):
        # A Units table whose source did not state the spike times' resolution is archived
        # without one: writing one would make it up.
        ignore.append("check_units_resolution_is_set")
    return ignore


def nwb_problems(path: Path, ds) -> list[str]:
    """nwbinspector's CRITICAL and BEST_PRACTICE_VIOLATION messages for an NWB file of
    ``ds`` (the gate of :func:`neurodag.store.inspect.problems`)."""
    return nwb_inspect.inspect_nwb(path, ignore=_skipped(ds))


def validate_path(path: str | Path) -> str:
    """Check a zarr store or NWB file against the contract; a one-line summary if it passes."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or store")
    trials = _trials_summary(path)
    if trials is not None:
        return trials
    from . import metadata

    if path.suffix == ".nwb":
        ds = store.read_nwb(path)
        problems = nwb_problems(path, ds)
        if problems:
            raise InputError(f"{path}: nwbinspector: {problems[0]}")
        from .store.nwb_meta import disagreements

        differ = disagreements(path, ds.attrs)
        if differ:
            raise InputError(f"{path}: the file's metadata differ from its attrs: {differ[0]}")
    else:
        ds = store.read_signal(path, check_values=True)
    from .schema import validate

    validate(ds, where=str(path))
    metadata.check_attrs(ds.attrs, str(path))
    return (f"{path}: ok ({ds.attrs['modality']}, {ds.sizes['channel']} channels, "
            f"{ds.sizes['time']} samples at {ds.attrs['sfreq']:g} Hz; "
            f"{metadata.summary(ds.attrs)})")


# -- trial tables (behaviour): raw.zarr (dim trial) and raw.nwb (a TimeIntervals trials table)

def _run_trials(paths, out_dir: Path, *, subject=None, session=None, config_digest="",
                metadata=None, **options) -> dict[str, Path]:
    from .io.behavior import find_table, read_trials
    from .store.nwb_trials import write_trials_nwb

    stray = sorted(set(options) - {"session_column"})
    if stray:
        raise InputError(f"ingest: reader option {stray[0]!r} does not apply to trial tables "
                         "(they take session_column)")
    table = find_table(paths)
    ds = read_trials(table, subject=subject, session=session, **options)
    provenance.stamp(ds, ds.attrs.pop("source_files"), source=str(table),
                     config_digest=config_digest)
    apply_metadata(ds.attrs, metadata, "config: metadata")

    def write_both():
        store.write_dataset(ds, out_dir / "raw.zarr")
        write_trials_nwb(ds, out_dir / "raw.nwb")

    return _all_or_none(ds, out_dir, write_both, skipped=[])


def _trials_summary(path: Path) -> str | None:
    """:func:`validate_path` of a trial table (zarr with dim ``trial``, or an NWB file of
    ours holding one), else None."""
    from . import schema_trials

    if path.suffix == ".nwb":
        from .store.nwb_trials import holds_trials, read_trials_nwb

        if not holds_trials(path):
            return None
        ds = read_trials_nwb(path)
    else:
        ds = store.read_dataset(path)
        if not schema_trials.is_trials(ds):
            return None
        ds = ds.load()
    schema_trials.validate_trials(ds, where=str(path))
    return (f"{path}: ok (behavior, {ds.sizes['trial']} trials, "
            f"{ds.sizes['channel']} columns)")
