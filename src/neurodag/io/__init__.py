"""Readers: recordings of every source family into the signal contract.

>>> from neurodag import io
>>> ds = io.read("sub-01/ses-02/eeg/sub-01_ses-02_task-rest_eeg.vhdr")
>>> ds = io.read(["bold.nii.gz", "atlas.nii.gz", "atlas.tsv"], tr=2.0)
>>> ds = io.read("traces.csv", modality="calcium")

:func:`read` classifies its inputs (:func:`classify`: one primary recording plus
sidecars), dispatches on the recording's type and returns a contract Dataset:

- electrophysiology through MNE (:mod:`.mne_raw`), lazily, with BIDS electrodes,
  coordsystem and channels sidecars; inside a BIDS tree through ``mne_bids.read_raw_bids``
  (:mod:`.bids`, which also discovers a BIDS dataset's sessions);
- a 4-D NIfTI with a label image -> parcel means (:mod:`.nifti`), with option
  ``parcellation`` -> sphere means around bundled coordinates, with option ``voxels`` ->
  voxel series inside a brain mask (:mod:`.fmri_coords`);
- FreeSurfer MGZ and GIFTI surface series, one or both hemispheres (:mod:`.surface`);
- CSV/TSV/NPY tables of calcium traces, spike counts or fMRI ROI series (:mod:`.tables`);
- suite2p plane folders and CaImAn HDF5 results (:mod:`.calcium`);
- ``.nwb``: neurodag's own files exactly through :func:`neurodag.store.nwb.read_nwb`;
  files written by other tools (DANDI, neuroconv) through :mod:`.nwb_foreign`: an
  ElectricalSeries, a RoiResponseSeries or a Units table binned to spike counts
  (:mod:`.nwb_units`), picked by modality and option ``series``; ``.zarr`` contract
  stores through :func:`neurodag.store.read_signal`.

Before MNE parses a file, :mod:`.sniff` checks its bytes against its extension and, for
EDF/BDF, its header against itself and the file size, so that a renamed, truncated or
lying file is one clear line rather than a deep traceback or a silently shortened read.

A BIDS ``*events.tsv`` found with the recording replaces the events read from the file
itself (BIDS makes it the event record); its onsets share the clock of the ``time``
coordinate. Provenance hashes are stamped later by the caller; ``source`` is the
recording's path and ``source_files`` lists every file read (recording parts and sidecars).
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from .. import schema
from ..errors import ConfigError, InputError
from ._common import check_file, full_suffix, subject_session
from .discover import (
    HDF5_EXTENSIONS,
    MNE_EXTENSIONS,
    NIFTI_EXTENSIONS,
    SIDECAR_ROLES,
    SURFACE_EXTENSIONS,
    classify,
    is_mne_dir,
    is_suite2p_dir,
)
from .options import NWB_OPTIONS, PARCELLATIONS, ReaderOptions  # noqa: F401
from .sidecars import read_events

__all__ = ["read", "classify", "infer_modality", "check_reader_options", "OPTIONS"]

#: Reader options accepted from config/CLI, with what each means (declared in
#: :class:`~neurodag.io.options.ReaderOptions`).
OPTIONS = {name: spec.doc for name, spec in ReaderOptions.specs().items()}


def _kind(path: Path) -> str:
    suffix = full_suffix(path)
    if suffix == ".zarr" or (path.is_dir() and ((path / "zarr.json").exists()
                                                 or (path / ".zgroup").exists())):
        return "zarr"
    if suffix == ".nwb":
        return "nwb"
    if is_suite2p_dir(path):
        return "suite2p"
    if suffix in NIFTI_EXTENSIONS:
        return "nifti"
    if suffix in SURFACE_EXTENSIONS:
        return "surface"
    if suffix in HDF5_EXTENSIONS:
        return "caiman"
    if suffix in (".csv", ".tsv", ".npy"):
        return "table"
    if suffix in MNE_EXTENSIONS or is_mne_dir(path):
        return "mne"
    raise InputError(f"{path}: unknown recording type {suffix!r}")


def _read_store(path: Path, kind: str, modality: str | None, **nwb_options) -> xr.Dataset:
    if kind == "zarr":
        from ..store import read_signal

        ds = read_signal(path)
    else:
        try:
            from ..store.nwb import read_nwb
        except ImportError:
            raise InputError(f"{path}: NWB reading is not available in this installation") \
                from None
        ds = read_nwb(path, modality=modality, **nwb_options)
    if modality is not None and ds.attrs.get("modality") != modality:
        raise InputError(f"{path}: holds modality {ds.attrs.get('modality')!r}, not {modality!r}")
    if ds.attrs.get("source") and ds.attrs["source"] != str(path):
        ds.attrs["original_source"] = ds.attrs["source"]
    return ds


def _reader(kind: str):
    if kind == "mne":
        from .mne_raw import read_mne as reader
    elif kind == "nifti":
        from .nifti import read_nifti as reader
    elif kind == "surface":
        from .surface import read_surface as reader
    elif kind == "suite2p":
        from .calcium import read_suite2p as reader
    elif kind == "caiman":
        from .calcium import read_caiman as reader
    else:
        from .tables import read_table as reader
    return reader


def _unique_files(files) -> list[str]:
    """Paths in order, each file once (the same file may be named relatively and absolutely)."""
    seen: set[Path] = set()
    out = []
    for f in files:
        key = Path(f).resolve()
        if key not in seen:
            seen.add(key)
            out.append(str(f))
    return out


def read(paths, *, modality: str | None = None, subject: str | None = None,
         session: str | None = None, **options) -> xr.Dataset:
    """Read one recording (and its sidecars) into a contract Dataset.

    Parameters
    ----------
    paths : path-like or sequence of path-like
        Files and/or directories; see :func:`classify` for how they are sorted.
    modality : str, optional
        One of :data:`neurodag.schema.MODALITIES`. Required for tables ("calcium" or
        "spikes"); inferred from channel types for MNE files; checked when given. For
        files that do not store channel types (EDF, BrainVision), "seeg"/"ecog" turns their
        "eeg" channels into that type.
    subject, session : str, optional
        Default: BIDS ``sub-``/``ses-`` entities in the file name or folders, else subject
        "01" and the session named as the file (for NWB/zarr stores: what the store holds).
    **options
        See :data:`OPTIONS`: ``sfreq``, ``tr``, ``units``, ``line_freq``, ``parcellation``,
        ``radius``, ``voxels``, ``include_non_cells``, ``reader`` (a dict of keywords for
        the MNE reader), ``series``, ``bin_width``. An unknown option is a ConfigError.

    Returns
    -------
    xarray.Dataset
        A contract Dataset (:func:`neurodag.schema.validate` passes); electrophysiology
        and NPY samples are lazy dask arrays read block by block.

    Raises
    ------
    InputError
        One line naming the file and the problem (ConfigError for a bad option).
    """
    opts = ReaderOptions.check(options, "ingest").given()
    if modality is not None and modality not in schema.MODALITIES:
        raise ConfigError(f"modality {modality!r} is not one of {list(schema.MODALITIES)}")
    side = classify(paths)
    rec = side["recording"]
    kind = _kind(rec)
    if kind in ("zarr", "nwb"):
        ds = _read_store(rec, kind, modality,
                         **{k: v for k, v in opts.items() if k in NWB_OPTIONS and kind == "nwb"})
        ds.attrs.pop("source_files", None)  # the files of the original recording, not read now
        sub = subject if subject is not None else ds.attrs.get("subject")
        ses = session if session is not None else ds.attrs.get("session")
        sub, ses = subject_session(rec, sub, ses)
    else:
        if opts.get("reader") and kind != "mne":
            raise ConfigError(f"{rec}: reader option 'reader' is for recordings MNE reads, "
                              f"not {kind} files")
        if kind == "nifti" and not opts.get("voxels"):
            side["mask"] = None  # a mask lying next to the BOLD is used by option voxels only
        ds = _reader(kind)(rec, side, modality=modality, **opts)
        sub, ses = subject_session(rec, subject, session)
    if side["events"] is not None:
        ds = schema.set_events(ds, read_events(side["events"]))
    used = [str(p) for r, p in side.items() if r in SIDECAR_ROLES and p is not None]
    # A suite2p folder also holds the registered movie (data.bin, often GBs) that is not
    # read: list the files read, not the folder, so that provenance hashes only those.
    primary = [] if kind == "suite2p" else [str(rec)]
    ds.attrs.update(subject=sub, session=ses, source=str(rec), source_files=_unique_files(
        [*primary, *ds.attrs.get("source_files", []), *used]))
    if "line_freq" in opts:
        ds.attrs["line_freq"] = float(opts["line_freq"])
    return schema.validate(ds, where=str(rec), check_values=False)


def check_reader_options(paths, options: dict, where: str) -> None:
    """Check ``reader`` options against the MNE reader of each recording, before any job.

    Parameters
    ----------
    paths : iterable of path-like
        The recordings (or session folders) of a dataset's sessions; paths that do not
        exist yet (generated by an earlier step) are checked at ingest instead.
    options : dict
        The ``reader`` mapping (keywords of ``mne.io.read_raw_*``).
    where : str
        The config key, for the message (``config: datasets.x.ingest.reader``).

    Raises
    ------
    ConfigError
        One line naming ``where``, the keyword and the closest one the reader takes.
    """
    from . import mne_readers

    ReaderOptions.check({"reader": options}, where.rsplit(".", 1)[0])  # where ends in .reader
    seen = set()
    for path in map(Path, paths):
        if not path.exists():
            continue
        try:
            rec = classify(path)["recording"] if path.is_dir() else path  # a session folder
            if _kind(rec) != "mne":
                raise InputError(f"{rec}: not read by MNE; reader options are for EEG/MEG/"
                                 "iEEG recordings")
            choice = mne_readers.choose(rec)
        except InputError as e:
            raise ConfigError(f"{where}: {e}") from None
        if choice.name not in seen:
            seen.add(choice.name)
            mne_readers.check_options(choice, options, where)


def infer_modality(path) -> str | None:
    """The modality of a recording from the file alone, None when it cannot say.

    MNE files: from channel types (None for a BIDS ``*_ieeg`` file whose format stores no
    types and that has no ``channels.tsv``); 4-D NIfTI and surface series: "fmri"; suite2p
    folders and CaImAn files: "calcium"; NWB and zarr stores: what they hold; tables: None.
    """
    path = Path(path)
    check_file(path)
    kind = _kind(path)
    if kind in ("surface", "suite2p", "caiman"):
        return "fmri" if kind == "surface" else "calcium"
    if kind == "nifti":
        from .nifti import _load

        shape = _load(path).shape
        return "fmri" if len(shape) == 4 and shape[3] > 1 else None
    if kind == "table":
        return None
    if kind in ("zarr", "nwb"):
        return _read_store(path, kind, None).attrs.get("modality")
    from .mne_raw import MNE_TYPES, open_raw, resolve_modality

    raw, _ = open_raw(path)
    types = [t if t in MNE_TYPES else "misc" for t in raw.get_channel_types()]
    if path.name.lower().split(".")[0].endswith("_ieeg") and not {"seeg", "ecog"} & set(types):
        return None
    try:
        return resolve_modality(types, None, path)[1]
    except InputError:
        return None
