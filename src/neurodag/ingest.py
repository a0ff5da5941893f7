"""Ingest: source files -> ``raw.zarr`` (the contract, chunked) and ``raw.nwb`` (the archive).

Both outputs appear only when both are complete and the NWB file passes nwbinspector;
otherwise neither is left behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from . import io, provenance, store
from .errors import ContractError, InputError


def run(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    modality: str | None = None,
    subject: str | None = None,
    session: str | None = None,
    config_digest: str = "",
    nwb_compression: str | None = None,
    **options,
) -> dict[str, Path]:
    """Read ``inputs`` and write ``out_dir/raw.zarr`` and ``out_dir/raw.nwb``.

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
    **options
        Reader options (``sfreq``, ``tr``, ``units``, ``line_freq``).

    Returns
    -------
    dict
        ``{"zarr": path, "nwb": path}``.
    """
    out_dir = Path(out_dir)
    paths = [Path(p) for p in inputs]
    ds = io.read(paths, modality=modality, subject=subject, session=session, **options)
    source = ds.attrs.get("source") or str(paths[0])
    # Hash every file the reader used (recording parts and sidecars), not just the arguments.
    used = ds.attrs.pop("source_files", None) or paths
    provenance.stamp(ds, used, source=source, config_digest=config_digest)
    return write(ds, out_dir, nwb_compression=nwb_compression)


def write(ds, out_dir: str | Path, *, nwb_compression: str | None = None) -> dict[str, Path]:
    """Write a stamped contract Dataset as ``out_dir/raw.zarr`` and ``out_dir/raw.nwb``.

    The NWB file is written from the zarr store, so a lazy source is read only once and
    both outputs hold the same numbers; it must pass nwbinspector. Both appear, or
    neither (a ContractError found while streaming names the source, not our output).
    """
    out_dir = Path(out_dir)
    source = str(ds.attrs.get("source", ""))
    zarr_path, nwb_path = out_dir / "raw.zarr", out_dir / "raw.nwb"
    try:
        try:
            store.write_signal(ds, zarr_path)
        except ContractError as e:
            raise ContractError(str(e).replace(str(zarr_path), source or str(zarr_path), 1)) from None
        store.write_nwb(store.read_signal(zarr_path), nwb_path, compression=nwb_compression)
        problems = nwb_problems(nwb_path, ds)
        if problems:
            raise RuntimeError(f"{nwb_path}: nwbinspector: {problems[0]}")
    except BaseException:
        shutil.rmtree(zarr_path, ignore_errors=True)
        nwb_path.unlink(missing_ok=True)
        raise
    return {"zarr": zarr_path, "nwb": nwb_path}


def nwb_problems(path: Path, ds) -> list[str]:
    """nwbinspector's CRITICAL and BEST_PRACTICE_VIOLATION messages for an NWB file of ``ds``.

    nwbinspector flags data whose time axis is shorter than the channel axis as possibly
    transposed; ours are time-first by construction (short real clips, more parcels than
    volumes), so that heuristic is skipped for such recordings. A Units table whose source
    did not state the spike times' resolution is archived without one (that check skipped).
    """
    short = ds.sizes["time"] < ds.sizes["channel"]
    ignore = ["check_data_orientation"] if short else []
    if "spike_times" in ds and not ds.attrs.get("spike_time_resolution"):
        # The source did not state its spike-time resolution: writing one would make it up.
        ignore.append("check_units_resolution_is_set")
    return store.inspect_nwb(path, ignore=ignore)


def validate_path(path: str | Path) -> str:
    """Check a zarr store or NWB file against the contract; a one-line summary if it passes."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or store")
    if path.suffix == ".nwb":
        ds = store.read_nwb(path)
        problems = nwb_problems(path, ds)
        if problems:
            raise InputError(f"{path}: nwbinspector: {problems[0]}")
    else:
        ds = store.read_signal(path, check_values=True)
    from .schema import validate

    validate(ds, where=str(path))
    return (f"{path}: ok ({ds.attrs['modality']}, {ds.sizes['channel']} channels, "
            f"{ds.sizes['time']} samples at {ds.attrs['sfreq']:g} Hz)")
