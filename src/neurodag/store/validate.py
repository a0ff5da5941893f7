"""Check stores and NWB files against the contract (``neurodag validate``, ingest's gate)."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def nwb_problems(path: Path, ds) -> list[str]:
    """nwbinspector's CRITICAL and BEST_PRACTICE_VIOLATION messages for an NWB file of ``ds``.

    nwbinspector flags data whose time axis is shorter than the channel axis as possibly
    transposed; ours are time-first by construction (short real clips, more parcels than
    volumes), so that heuristic is skipped for such recordings. A Units table whose source
    did not state the spike times' resolution is archived without one (that check skipped).
    """
    from .nwb import inspect_nwb

    short = ds.sizes["time"] < ds.sizes["channel"]
    ignore = ["check_data_orientation"] if short else []
    if "spike_times" in ds and not ds.attrs.get("spike_time_resolution"):
        # The source did not state its spike-time resolution: writing one would make it up.
        ignore.append("check_units_resolution_is_set")
    return inspect_nwb(path, ignore=ignore)


def validate_path(path: str | Path) -> str:
    """Check a zarr store or NWB file against the contract; a one-line summary if it passes."""
    from ..schema import validate
    from .nwb import read_nwb
    from .zarrstore import read_signal

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or store")
    if path.suffix == ".nwb":
        ds = read_nwb(path)
        problems = nwb_problems(path, ds)
        if problems:
            raise InputError(f"{path}: nwbinspector: {problems[0]}")
    else:
        ds = read_signal(path, check_values=True)
    validate(ds, where=str(path))
    return (f"{path}: ok ({ds.attrs['modality']}, {ds.sizes['channel']} channels, "
            f"{ds.sizes['time']} samples at {ds.attrs['sfreq']:g} Hz)")
