"""Electrophysiology through MNE: every format ``mne.io.read_raw`` opens, read lazily.

Samples are never loaded whole: the signal is a dask array whose time blocks call
``raw.get_data(start, stop)`` on demand (about 4 MB per block). Samples are float32
(24-bit mantissa: exact for 16- and 24-bit ADC formats such as EDF and BDF, 7 significant
digits otherwise, far below amplifier noise) unless MNE reports the file's own sample
format as ``"double"``, in which case float64 keeps every bit.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize

from .. import schema
from ..errors import InputError
from ..store.zarrstore import time_chunk
from ._common import check_unique, one_line
from .sidecars import read_channel_types, read_electrodes
from .sniff import check_recording

#: MNE channel types kept as they are; every other MNE type becomes "misc".
MNE_TYPES = ("eeg", "mag", "grad", "seeg", "ecog", "eog", "ecg", "emg", "stim", "misc")
_VOLTAGE_TYPES = ("eeg", "seeg", "ecog", "eog", "ecg", "emg")


def _fiff_units() -> dict[int, str]:
    from mne.io.constants import FIFF

    return {
        int(FIFF.FIFF_UNIT_V): "V", int(FIFF.FIFF_UNIT_T): "T", int(FIFF.FIFF_UNIT_T_M): "T/m",
        int(FIFF.FIFF_UNIT_CEL): "degC", int(FIFF.FIFF_UNIT_S): "S", int(FIFF.FIFF_UNIT_SEC): "s",
        int(FIFF.FIFF_UNIT_MOL): "mol", int(FIFF.FIFF_UNIT_PX): "px",
    }


def _opener(path: Path, modality: str | None, options: dict | None):
    """The picklable reader call for ``path`` (preload=False) and who reads it."""
    from . import bids, mne_readers

    root = bids.find_root(path)
    if root is None:
        return mne_readers.opener(path, modality, options), "MNE"
    if options:  # mne-bids calls the same reader with them
        mne_readers.check_options(mne_readers.choose(path, modality), options, f"{path}: reader")
    return bids.opener(path, root, extra_params=options), "mne-bids"


def open_raw(path: Path, modality: str | None = None, options: dict | None = None):
    """Open a recording without loading samples; one-line errors naming ``path``.

    Inside a BIDS tree (:func:`neurodag.io.bids.find_root`) the recording is opened with
    ``mne_bids.read_raw_bids``; elsewhere with the ``mne.io.read_raw_*`` function that
    :func:`neurodag.io.mne_readers.choose` names. ``options`` go to that reader (through
    ``extra_params`` in a BIDS tree), checked against its signature first.
    Returns the Raw and the picklable callable that opened it.
    """
    check_recording(path)
    opener, who = _opener(path, modality, options)
    failure = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # some readers print progress
                raw = opener()
        except InputError:
            raise
        except Exception as e:  # MNE readers raise many types for unreadable files
            failure = e
    # Duplicates first: MNE renames them with a warning, and may then fail on the new names.
    for w in caught:
        if "not unique" in str(w.message):
            raise InputError(f"{path}: duplicate channel names ({one_line(w.message, 160)})")
    if failure is not None:
        from .mne_readers import explain

        with_options = f" with reader options {options}" if options else ""
        raise InputError(f"{path}: {who} cannot read this file{with_options} "
                         f"({explain(failure, path, modality)})")
    check_unique(raw.ch_names, path)
    _check_fif_size(raw, path)
    return raw, opener


def _check_fif_size(raw, path: Path) -> None:
    """A FIF whose data buffers point past the end of the file is truncated."""
    for extra in getattr(raw, "_raw_extras", None) or []:
        if not isinstance(extra, dict) or "ent" not in extra or "filename" not in extra:
            continue
        try:
            size = os.stat(extra["filename"]).st_size
        except (OSError, TypeError):
            continue
        ends = [int(ent.pos) + 16 + int(ent.size) for ent in extra["ent"]
                if ent is not None and getattr(ent, "pos", None) is not None]
        if ends and max(ends) > size:
            have = sum(end <= size for end in ends)
            raise InputError(f"{path}: truncated FIF file: its data need {max(ends)} bytes but "
                             f"the file {Path(extra['filename']).name} has {size} "
                             f"({have} of {len(ends)} data buffers complete)")


class RawBlocks:
    """A ``(time, channel)`` array-like over an MNE Raw that reads only what is indexed.

    It keeps the reader (a picklable partial) rather than relying on the Raw object, so
    a copy sent to another process reopens the file itself.
    """

    ndim = 2

    def __init__(self, path: Path, opener, raw, dtype):
        self.path = Path(path)
        self._opener = opener
        self._raw = raw
        self.dtype = np.dtype(dtype)
        self.shape = (int(raw.n_times), int(raw.info["nchan"]))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_raw"] = None
        return state

    @property
    def raw(self):
        if self._raw is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._raw = self._opener()
        return self._raw

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (2 - len(key))
        t, c = key
        if isinstance(t, slice):
            start, stop, step = t.indices(self.shape[0])
            stop = max(start, stop)
            take = slice(None, None, step)
        else:
            idx = np.arange(self.shape[0])[t]
            start, stop = (int(idx.min()), int(idx.max()) + 1) if idx.size else (0, 0)
            take = idx - start
        if stop <= start:
            return np.empty((0, self.shape[1]), self.dtype)[:, c]
        try:
            block = self.raw.get_data(start=start, stop=stop)
        except Exception as e:  # a truncated or corrupt file shows only when read
            raise InputError(f"{self.path}: cannot read samples {start}-{stop}; the file is "
                             f"truncated or corrupt ({one_line(e)})") from None
        return np.ascontiguousarray(block.T[take][:, c], dtype=self.dtype)


def lazy_data(path: Path, raw, opener) -> da.Array:
    """The samples of ``raw`` as a dask array chunked along time."""
    dtype = np.float64 if getattr(raw, "orig_format", None) == "double" else np.float32
    blocks = RawBlocks(path, opener, raw, dtype)
    n_times, n_ch = blocks.shape
    chunk = time_chunk(n_ch, np.dtype(dtype).itemsize, n_times)
    stat = os.stat(path)
    name = "mne-raw-" + tokenize(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    return da.from_array(blocks, chunks=(chunk, n_ch), name=name, lock=True,
                         meta=np.empty((0, 0), dtype))


def _positions(raw, types: list[str]) -> np.ndarray:
    pos = np.array([ch["loc"][:3] for ch in raw.info["chs"]], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        # Trigger channels carry no position; some formats leave junk in their loc.
        unknown = (~np.isfinite(pos).all(axis=1) | (pos == 0).all(axis=1)
                   | (np.abs(pos) > 10).any(axis=1) | (np.asarray(types) == "stim"))
    pos[unknown] = np.nan
    return pos


#: Header suffix -> same-stem parts its reader opens that ``raw.filenames`` may not list.
_PARTS = {".set": (".fdt",), ".data": (".head",)}


def _companions(path: Path, raw) -> list[str]:
    """Files the reader used besides ``path``: the data parts MNE names, a BrainVision
    header's data and marker files, an EEGLAB ``.fdt``, a Nicolet ``.head`` (only these:
    a same-stem ``test.eeg`` beside ``test.edf`` is another recording)."""
    files = []
    for f in (Path(f) for f in raw.filenames if f is not None):
        # MNE resolves the names; say them as the recording was named (provenance reads alike)
        near = path.parent / f.name
        files.append(near if near.exists() and near.resolve() == f.resolve() else f)
    suffix = path.suffix.lower()
    if path.is_file() and suffix in (".vhdr", ".ahdr"):
        from .sniff import brainvision_parts

        files += [p for p in brainvision_parts(path).values() if p.is_file()]
    elif path.is_file():
        files += [path.with_suffix(s) for s in _PARTS.get(suffix, ())
                  if path.with_suffix(s).is_file()]
    return [str(f) for f in files]


def _events(raw) -> pd.DataFrame:
    ann = raw.annotations
    # Attached annotations count from meas_date; the first sample is at raw.first_time.
    return pd.DataFrame({
        "onset": np.asarray(ann.onset, dtype=np.float64) - raw.first_samp / raw.info["sfreq"],
        "duration": np.asarray(ann.duration, dtype=np.float64),
        "label": np.asarray(ann.description, dtype=object),
    })


def _match(names: list[str], table_names) -> dict[str, str]:
    """Channel name -> table name, exact first, then case-insensitive."""
    table_names = [str(n) for n in table_names]
    exact = set(table_names)
    lower = {n.lower(): n for n in table_names}
    out = {}
    for n in names:
        if n in exact:
            out[n] = n
        elif n.lower() in lower:
            out[n] = lower[n.lower()]
    return out


def apply_channel_types(types: list[str], names: list[str], channels_tsv: Path) -> list[str]:
    """Retype channels from a BIDS ``*channels.tsv`` where the file could not say (eeg/misc)."""
    bids = read_channel_types(channels_tsv)
    match = _match(names, bids)
    return [
        bids[match[n]] if n in match and t in ("eeg", "misc") else t
        for n, t in zip(names, types, strict=True)
    ]


def resolve_modality(types: list[str], modality: str | None, path: Path) -> tuple[list[str], str]:
    """Check or infer the modality; formats without channel types give seeg/ecog as "eeg"."""
    if modality in ("seeg", "ecog") and modality not in types and "eeg" in types:
        types = [modality if t == "eeg" else t for t in types]
    if modality is None:
        try:
            modality = schema.infer_modality(types)
        except InputError:
            raise InputError(f"{path}: cannot infer the modality from channel types "
                             f"{sorted(set(types))}; pass modality") from None
        return types, modality
    wanted = schema.DATA_CHANNEL_TYPES.get(modality, ())
    if not set(wanted) & set(types):
        raise InputError(f"{path}: modality {modality!r} needs {list(wanted)} channels; the file "
                         f"has {sorted(set(types))}")
    return types, modality


def read_mne(path: Path, side: dict, *, modality: str | None = None, sfreq: float | None = None,
             reader: dict | None = None, **_) -> xr.Dataset:
    """Read a recording through MNE into a (lazy) contract Dataset without attrs of identity.

    Parameters
    ----------
    path : Path
        The recording (any format MNE opens).
    side : dict
        Sidecars from :func:`neurodag.io.classify` (electrodes, coordsystem, events, channels).
    modality : str, optional
        Expected modality; inferred from channel types when None.
    sfreq : float, optional
        If given, must agree with the file's sampling rate.
    reader : dict, optional
        Keyword arguments for the MNE reader (``mne.io.read_raw_cnt(..., data_format=
        "int16")``), checked against its signature; attr ``reader`` records the call.
    """
    from .bids import find_root

    raw, opener = open_raw(path, modality, reader)
    in_bids = find_root(path) is not None
    file_sfreq = float(raw.info["sfreq"])
    if sfreq is not None and abs(float(sfreq) - file_sfreq) > 1e-6 * file_sfreq:
        raise InputError(f"{path}: option sfreq={sfreq} contradicts the file's {file_sfreq:g} Hz")
    names = list(raw.ch_names)
    mne_types = raw.get_channel_types()
    types = [t if t in MNE_TYPES else "misc" for t in mne_types]
    if side.get("channels") is not None:
        types = apply_channel_types(types, names, side["channels"])
    types, modality = resolve_modality(types, modality, path)
    fiff_units = _fiff_units()
    units = []
    for ch, t in zip(raw.info["chs"], types, strict=True):
        unit = fiff_units.get(int(ch["unit"]))
        if unit is None or (t in _VOLTAGE_TYPES and unit != "V"):
            unit = schema.DEFAULT_UNITS.get(t, "a.u.")
        units.append(unit)
    positions = _positions(raw, types)
    region = None
    if side.get("electrodes") is not None:
        # In a BIDS tree mne-bids has placed the electrodes already (in the frame that
        # coordsystem.json names); the table then only adds regions.
        positions, region = _apply_electrodes(names, positions, side["electrodes"],
                                              side.get("coordsystem"),
                                              use_positions=not in_bids)
    renamed = None
    if side.get("montage") is not None and not in_bids:
        names, positions, renamed = apply_montage(names, positions, types, side["montage"])
    ds = schema.build(
        lazy_data(path, raw, opener), sfreq=file_sfreq, channels=names, channel_types=types,
        modality=modality, units=units, positions=positions, region=region,
        events=_events(raw) if len(raw.annotations) else None, source=str(path),
    )
    ds = ds.assign_coords(mne_type=("channel", np.asarray(mne_types, dtype=object)))
    if raw.info.get("line_freq"):
        ds.attrs["line_freq"] = float(raw.info["line_freq"])
    if raw.info["bads"]:
        ds.attrs["bad_channels"] = [str(b) for b in raw.info["bads"]]
    if renamed:
        ds.attrs["channel_names_source"] = renamed
    ds.attrs["source_files"] = _companions(path, raw)
    ds.attrs["reader"] = _reader_call(path, modality, reader, in_bids)
    from ..metadata.header import annotate_mne

    header = _header_raw(path, modality, reader) if in_bids else raw
    if header is not None:  # date, subject, devices
        annotate_mne(ds.attrs, header, path, subject_info=not in_bids)
    if in_bids:
        from ..metadata.bids import annotate_bids
        from .bids import recording_files

        ds.attrs["source_files"] += recording_files(path)
        annotate_bids(ds.attrs, path)  # participants, scans, sidecar: over the header's
    return ds


def _header_raw(path: Path, modality: str | None, reader: dict | None):
    """The recording opened by its own MNE reader: what its header states.

    mne-bids anonymizes the info it returns whenever scans.tsv gives an ``acq_time``
    (experimenter ``mne_anonymize``, description "Anonymized using a time shift ...",
    device serial and site), so in a BIDS tree the header is read again, without samples.
    None (nothing taken from the header) when that reader cannot open the file alone.
    """
    from .mne_readers import opener

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return opener(path, modality, reader)()
    except Exception:  # MNE readers raise many types; mne-bids opened it, the header is extra
        return None


def _reader_call(path: Path, modality: str | None, options: dict | None, in_bids: bool) -> str:
    """``mne.io.read_raw_cnt(data_format='int16')``: the reader and the user's options."""
    from .mne_readers import choose

    name = "mne_bids.read_raw_bids" if in_bids else choose(path, modality).qualname
    args = ", ".join(f"{k}={v!r}" for k, v in sorted((options or {}).items()))
    return f"{name}({args})" if args else name


def apply_montage(names: list[str], positions: np.ndarray, types: list[str], montage: Path):
    """Positions (m, MNE's head frame) from an EEGLAB channel-location file.

    Channels are matched by name; when no name matches and the file lists as many
    channels as the recording, by order, and the channels take the file's names: EEGLAB
    itself reads a location file row by row into ``EEG.chanlocs`` (``pop_chanedit``
    'load'), which is how a ``.set`` whose channels are called ``EEG 000``... gets its
    10-20 names (MNE's tests of the EEGLAB tutorial file do the same).

    Returns
    -------
    names, positions, renamed
        ``renamed`` is a one-line note when the channels were renamed by order, else "".
    """
    import mne

    try:
        mont = mne.channels.read_custom_montage(montage)
    except Exception as e:  # MNE raises several types for malformed location files
        raise InputError(f"{montage}: not a readable channel-location file ({one_line(e)})") \
            from None
    _check_location_names(Path(montage))
    where = mont.get_positions()["ch_pos"]
    renamed = ""
    if not set(names) & set(where):
        if len(mont.ch_names) != len(names):
            raise InputError(f"{montage}: none of its {len(mont.ch_names)} channel names match "
                             f"the recording's {len(names)} channels (e.g. {names[:3]})")
        renamed = (f"renamed in order from {Path(montage).name} (EEGLAB reads a location "
                   f"file row by row): {names[0]} -> {mont.ch_names[0]}, ...")
        names = list(mont.ch_names)
    positions = positions.copy()
    for i, n in enumerate(names):
        xyz = np.asarray(where.get(n, (np.nan,) * 3), dtype=np.float64)
        if types[i] != "stim" and np.isfinite(xyz).all():
            positions[i] = xyz
    return names, positions, renamed


def _check_location_names(montage: Path) -> None:
    """An EEGLAB location file names each channel once (its label is a row's fourth field,
    as MNE reads it); MNE's montage keeps one of a repeated name silently."""
    try:
        rows = [ln.split() for ln in montage.read_text(errors="replace").splitlines()]
    except OSError as e:
        raise InputError(f"{montage}: cannot read ({e.strerror or e})") from None
    seen: dict[str, int] = {}
    for row, fields in enumerate(rows, start=1):
        if len(fields) < 4:
            continue
        if fields[3] in seen:
            raise InputError(f"{montage}: duplicate channel name {fields[3]!r} (rows "
                             f"{seen[fields[3]]} and {row})")
        seen[fields[3]] = row


def _apply_electrodes(names, positions, electrodes: Path, coordsystem: Path | None,
                      use_positions: bool = True):
    table = read_electrodes(electrodes, coordsystem)
    match = _match(names, table.index)
    if not match:
        raise InputError(f"{electrodes}: none of its {len(table)} electrode names match the "
                         f"recording's channels (e.g. {names[:3]})")
    positions = positions.copy()
    region = None
    if "region" in table:
        region = [str(table.at[match[n], "region"]) if n in match else "unknown" for n in names]
    for i, n in enumerate(names):
        if n in match and use_positions:
            xyz = table.loc[match[n], ["x", "y", "z"]].to_numpy(np.float64)
            if np.isfinite(xyz).all():
                positions[i] = xyz
    return positions, region
