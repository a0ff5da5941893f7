"""Check stores and NWB files against the contract (``neurodag validate``, ingest's gate)."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def skipped_checks(ds) -> list[str]:
    """The nwbinspector checks that do not apply to the NWB file of ``ds``."""
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
    from .inspect import inspect_nwb

    return inspect_nwb(path, ignore=skipped_checks(ds))


def validate_path(path: str | Path) -> str:
    """Check a zarr store or NWB file against the contract; a one-line summary if it passes."""
    from .. import metadata
    from ..schema import validate
    from .nwb import read_nwb
    from .zarrstore import read_signal

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or store")
    trials = _trials_summary(path)
    if trials is not None:
        return trials
    if path.suffix == ".nwb":
        ds = read_nwb(path)
        problems = nwb_problems(path, ds)
        if problems:
            raise InputError(f"{path}: nwbinspector: {problems[0]}")
        from .nwb_meta import disagreements

        differ = disagreements(path, ds.attrs)
        if differ:
            raise InputError(f"{path}: the file's metadata differ from its attrs: {differ[0]}")
    else:
        ds = read_signal(path, check_values=True)
    validate(ds, where=str(path))
    metadata.check_attrs(ds.attrs, str(path))
    return (f"{path}: ok ({ds.attrs['modality']}, {ds.sizes['channel']} channels, "
            f"{ds.sizes['time']} samples at {ds.attrs['sfreq']:g} Hz; "
            f"{metadata.summary(ds.attrs)})")


def _trials_summary(path: Path) -> str | None:
    """:func:`validate_path` of a trial table (zarr with dim ``trial``, or an NWB file of
    ours holding one), else None."""
    from .. import schema_trials

    if path.suffix == ".nwb":
        from .nwb_trials import holds_trials, read_trials_nwb

        if not holds_trials(path):
            return None
        ds = read_trials_nwb(path)
    else:
        from .zarrstore import read_dataset

        ds = read_dataset(path)
        if not schema_trials.is_trials(ds):
            return None
        ds = ds.load()
    schema_trials.validate_trials(ds, where=str(path))
    return (f"{path}: ok (behavior, {ds.sizes['trial']} trials, "
            f"{ds.sizes['channel']} columns)")
