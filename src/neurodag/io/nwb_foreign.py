"""NWB files written by other tools (DANDI assets, neuroconv, pynwb) -> the signal contract.

:func:`neurodag.store.read_nwb` reads neurodag's own files exactly (their layout is in
``NWBFile.notes``) and hands every other NWB file to :func:`read_foreign`, which reads one
of these, lazily (samples and spike times stay in the HDF5 file until used):

- an ``ElectricalSeries`` anywhere in the file (``acquisition``, an ``ecephys`` module's
  ``LFP`` or ``FilteredEphys``; not ``SpikeEventSeries`` snippets) over any electrodes
  table: channel names from a ``channel_name`` or ``label`` column, else the row ids;
  regions from ``region``, else ``location``; ``x``/``y``/``z`` in micrometres (the NWB
  schema's unit) given in metres; other columns (``group_name``, ``rel_x``, ``filtering``,
  ``imp``, ...) are not read. Samples are scaled by ``conversion``, ``channel_conversion``
  and ``offset`` into volts. Channel types: the dataset's modality (eeg, seeg, ecog) when
  it is given, else a ``channel_type`` column, else guessed from words in the group,
  device and series names (attr ``channel_type_source`` says which);
- a ``RoiResponseSeries`` (inside ``Fluorescence``/``DfOverF`` or a module): calcium, one
  ``neuron`` channel per ROI, named by a ``roi_name`` or ``label`` column else the ROI ids;
  units ``dF/F`` inside ``DfOverF``, else the series' unit (``a.u.`` when it says none);
  region from the imaging plane's location; ROI positions (metres) where the imaging plane
  gives ``grid_spacing`` (and ``origin_coords``): the weighted centroid of each ROI's pixel,
  voxel or image mask on that grid;
- a ``Units`` table: spike times binned to counts (``spikes``, unit ``count``) at option
  ``bin_width`` (see :mod:`.nwb_units`); the spike times themselves ride along in the
  contract (``spike_times``) so that the archive keeps a ``Units`` table.

Choosing: each candidate is named by its path in the file (``acquisition/ElectricalSeries``,
``processing/ecephys/LFP/ElectricalSeries``, ``processing/ophys/Fluorescence/
RoiResponseSeries``, ``units``); the modality, when given, keeps only the matching kinds
(eeg/seeg/ecog: ElectricalSeries, calcium: RoiResponseSeries, spikes: Units); option
``series`` (the path or, when unique, the last part of it) picks one. Several candidates
and no ``series`` is a one-line error that lists them.

Time: ``rate`` and ``starting_time`` give a regular time axis; ``timestamps`` are kept
exactly as the time coordinate (``sfreq`` is their median rate; the archive writes them
back as timestamps). Irregular timestamps are not resampled: that would put samples in
the contract that the file never held. Timestamps that do not strictly increase are a
one-line error.

Events: every ``TimeIntervals`` table in ``/intervals`` (``trials``, ``epochs``,
``invalid_times``, custom tables): onset ``start_time``, duration ``stop_time -
start_time`` (0 where stop is missing), label from a ``label`` or ``trial_type`` text
column, else the table's name.

Metadata: what the file states, under the contract's keys and checked as any source's
(:mod:`neurodag.metadata.nwb`), with ``metadata_sources`` naming the NWB field of each.
What the file leaves empty (or states in a form DANDI does not take) stays absent.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import InputError
from ..metadata.nwb import annotate_nwb
from ..schema import CHANNEL_TYPES, infer_modality, set_spike_times
from ..store.nwb_read import (
    UM_PER_M,
    _column,
    _dataset,
    _lazy,
    _positions,
    _scaled,
    _series_table,
    _strings,
    _time,
)

#: What each modality reads from an NWB file.
KINDS = {"eeg": "ElectricalSeries", "seeg": "ElectricalSeries", "ecog": "ElectricalSeries",
         "calcium": "RoiResponseSeries", "spikes": "Units"}
_TYPE_WORDS = (("seeg", ("seeg", "stereo", "depth", "shaft", "probe", "shank", "neuropixel")),
               ("ecog", ("ecog", "grid", "strip", "subdural", "cortical surface")),
               ("eeg", ("eeg", "scalp")))
_NO_UNIT = ("", "n.a.", "n/a", "NA", "unknown")
_LENGTH_M = {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
             "mm": 1e-3, "millimeter": 1e-3, "millimeters": 1e-3,
             "um": 1e-6, "µm": 1e-6, "micrometer": 1e-6, "micrometers": 1e-6,
             "micron": 1e-6, "microns": 1e-6}


def read_foreign(nwbfile, path: Path, *, modality: str | None = None, series: str | None = None,
                 bin_width: float | None = None) -> xr.Dataset:
    """Read the series of an NWB file not written by neurodag (see the module docstring).

    Parameters
    ----------
    nwbfile : pynwb.NWBFile
        The open file (it must stay open while the lazy arrays are used).
    path : pathlib.Path
        Its path (provenance and messages).
    modality : str, optional
        Keeps the candidates of this modality; gives ElectricalSeries channels this type.
    series : str, optional
        The candidate to read: its path in the file or, when unique, its name.
    bin_width : float, optional
        Bin width in s for a Units table (default :data:`.nwb_units.BIN_WIDTH`).

    Returns
    -------
    xarray.Dataset
        A contract Dataset (values not yet checked for NaN).

    Raises
    ------
    InputError
        One line naming ``path``: nothing readable, several candidates without ``series``,
        an unknown ``series``, a series that does not match its table.
    """
    where = str(path)
    name, obj = _choose(candidates(nwbfile), modality, series, where)
    attrs = annotate_nwb({}, nwbfile)
    attrs.update(_provenance(nwbfile, path))
    attrs["nwb_series"] = name
    found_events = events(nwbfile, where)
    if type(obj).__name__ == "Units":
        from .nwb_units import bin_units

        return _read_units(bin_units(obj, where, bin_width=bin_width), attrs, found_events)
    return _read_series(obj, where, modality, attrs, found_events)


# ---------------------------------------------------------------------------- candidates


def _path(obj, nwbfile) -> str:
    from pynwb import ProcessingModule

    parts = []
    while obj.parent is not None and obj.parent is not nwbfile:
        parts.append(obj.name)
        obj = obj.parent
    parts.append(obj.name)
    if isinstance(obj, ProcessingModule):
        return "/".join(["processing", *reversed(parts)])
    for group in ("acquisition", "stimulus", "analysis"):
        if getattr(nwbfile, group, {}).get(obj.name) is obj:
            return "/".join([group, *reversed(parts)])
    return "/".join(reversed(parts))


def candidates(nwbfile) -> dict:
    """Every readable series of ``nwbfile``: ``{path in the file: object}``, in path order."""
    from pynwb.ecephys import ElectricalSeries, SpikeEventSeries
    from pynwb.misc import Units
    from pynwb.ophys import RoiResponseSeries

    found = {}
    for o in nwbfile.objects.values():
        if isinstance(o, SpikeEventSeries):
            continue  # waveform snippets around spikes, not a continuous recording
        if isinstance(o, (ElectricalSeries, RoiResponseSeries)) and o.data is not None:
            found[_path(o, nwbfile)] = o
        elif isinstance(o, Units) and len(o.id) > 0:
            found[_path(o, nwbfile)] = o
    return dict(sorted(found.items()))


def _choose(found: dict, modality: str | None, series: str | None, where: str):
    if modality is not None:
        want = KINDS.get(modality)
        if want is None:
            raise InputError(f"{where}: neurodag reads no {modality} series from NWB files "
                             f"(it reads {', '.join(sorted(KINDS))})")
        found = {k: v for k, v in found.items() if type(v).__name__ == want}
    what = f"{KINDS[modality]} " if modality else ""
    if not found:
        raise InputError(f"{where}: no {what or 'ElectricalSeries, RoiResponseSeries or Units '}"
                         f"to read{f' for modality {modality}' if modality else ''}")
    if series is not None:
        hits = [k for k in found if k == series] or [k for k in found
                                                     if k.rsplit("/", 1)[-1] == series]
        if len(hits) != 1:
            problem = "names several" if hits else "is not one"
            raise InputError(f"{where}: series {series!r} {problem} of the {what}candidates "
                             f"{list(hits or found)}")
        return hits[0], found[hits[0]]
    if len(found) > 1:
        raise InputError(f"{where}: {len(found)} {what}candidates {list(found)}; choose one "
                         "with reader option series (e.g. --set series=PATH)")
    return next(iter(found.items()))


# ---------------------------------------------------------------------------- series


def _guess_ephys_type(series, table, rows) -> tuple[str, str]:
    text = [series.name, series.description or ""]
    groups = _column(table, "group", rows)
    for g in ([] if groups is None else {id(g): g for g in groups}.values()):
        text += [g.name, g.description or ""]
        if g.device is not None:
            text += [g.device.name, g.device.description or ""]
    text = " ".join(text).lower()
    for kind, words in _TYPE_WORDS:
        if any(w in text for w in words):
            return kind, f"guessed {kind} from the words of series/group/device"
    return "seeg", "guessed seeg (no channel type information in the file)"


def _names(table, rows, columns, where: str) -> list[str]:
    n = rows.size
    for col in columns:
        values = _column(table, col, rows)
        if values is not None:
            values = _strings(values)
            if all(values) and len(set(values)) == n:
                return values
    return [str(i) for i in np.asarray(table.id.data[:])[rows]]


def _channel_types(series, table, rows, modality: str | None, is_ephys: bool):
    n = rows.size
    if not is_ephys:
        return ["neuron"] * n, "ROIs of a RoiResponseSeries taken as neurons"
    if modality is not None:
        return [modality] * n, f"modality {modality} given for the dataset"
    types = _column(table, "channel_type", rows)
    if types is not None and set(_strings(types)) <= set(CHANNEL_TYPES):
        return _strings(types), "channel_type column"
    kind, source = _guess_ephys_type(series, table, rows)
    return [kind] * n, source


def _units(series, table, rows, is_ephys: bool) -> list[str]:
    from pynwb.ophys import DfOverF

    n = rows.size
    units = _column(table, "unit", rows)
    if units is not None:
        return _strings(units)
    if is_ephys:
        return ["V"] * n
    if isinstance(series.parent, DfOverF):
        return ["dF/F"] * n
    unit = str(series.unit or "")
    return [unit if unit not in _NO_UNIT else "a.u."] * n


def _read_series(series, where: str, modality: str | None, attrs: dict,
                 found_events: dict | None) -> xr.Dataset:
    from pynwb.ecephys import ElectricalSeries

    time, sfreq = _time(series, where)
    data = _scaled(series, _lazy(series.data, where))
    table, rows = _series_table(series)
    n = int(data.shape[1])
    if rows is None or rows.size != n:
        raise InputError(f"{where}: series {series.name!r} has {n} columns but "
                         f"{0 if rows is None else rows.size} table rows")
    is_ephys = isinstance(series, ElectricalSeries)
    names = _names(table, rows, ("channel_name", "roi_name", "label"), where)
    types, source = _channel_types(series, table, rows, modality, is_ephys)
    units = _units(series, table, rows, is_ephys)
    region = _column(table, "region", rows)
    if region is None:
        region = _column(table, "location", rows)
    plane = getattr(table, "imaging_plane", None)
    if region is None and plane is not None:
        region = [plane.location or "unknown"] * n
    pos = _positions(table, rows, scale=UM_PER_M) if is_ephys else _roi_positions(table, rows)
    attrs.update(sfreq=sfreq, modality=infer_modality(types, units), channel_type_source=source)
    return _dataset(data, time, names=names, types=types, units=units,
                    region=None if region is None else _strings(region), pos=pos,
                    modality=attrs["modality"], attrs=attrs, events=found_events)


def _metres(value, unit) -> np.ndarray | None:
    """A plane's 2 or volume's 3 lengths as 3 metres (z NaN for a plane); None when absent
    or in a unit not known here."""
    scale = _LENGTH_M.get(str(unit or "meters").strip().lower())
    if value is None or scale is None:
        return None
    vals = np.asarray(value, dtype=np.float64).ravel()[:3] * scale
    if vals.size < 2:
        return None
    return np.concatenate([vals, np.full(3 - vals.size, np.nan)])


def _roi_positions(table, rows) -> np.ndarray | None:
    """Weighted mask centroids on the imaging plane's grid, in metres, where it is given."""
    plane = getattr(table, "imaging_plane", None)
    if plane is None:
        return None
    spacing = _metres(plane.grid_spacing, getattr(plane, "grid_spacing_unit", None))
    origin = _metres(plane.origin_coords, getattr(plane, "origin_coords_unit", None))
    if spacing is None or origin is None:
        return None
    mask = next((c for c in ("voxel_mask", "pixel_mask", "image_mask") if c in table.colnames),
                None)
    if mask is None:
        return None
    pos = np.full((rows.size, 3), np.nan)
    for k, r in enumerate(rows):
        m = table[mask][int(r)]  # one ROI at a time: image masks are a frame each
        if mask == "image_mask":
            m = np.asarray(m, dtype=np.float64)
            idx = np.nonzero(m)
            w = m[idx]
            coords = np.stack(idx, axis=1).astype(np.float64)
        else:
            m = np.asarray([tuple(v) for v in m], dtype=np.float64).reshape(len(m), -1)
            coords, w = m[:, :-1], m[:, -1]
        if w.size == 0 or not w.sum() > 0:
            continue
        centroid = (coords * w[:, None]).sum(axis=0) / w.sum()
        dims = min(centroid.size, 3)
        pos[k, :dims] = origin[:dims] + centroid[:dims] * spacing[:dims]
        if dims == 2:
            pos[k, 2] = origin[2]
    return pos if np.isfinite(pos).any() else None


# ---------------------------------------------------------------------------- units


def _read_units(binned: dict, attrs: dict, found_events: dict | None) -> xr.Dataset:
    attrs.update(sfreq=binned["sfreq"], modality="spikes",
                 channel_type_source="units of a Units table", **binned["attrs"])
    n = len(binned["names"])
    ds = _dataset(binned["data"], binned["time"], names=binned["names"], types=["neuron"] * n,
                  units=["count"] * n, region=binned["region"], pos=None, modality="spikes",
                  attrs=attrs, events=found_events)
    return set_spike_times(ds, binned["spike_times"], binned["start"], binned["stop"])


# ---------------------------------------------------------------------------- events


def events(nwbfile, where: str) -> dict | None:
    """Every TimeIntervals table of ``/intervals`` as contract events (None when none)."""
    tables = [t for t in (nwbfile.intervals or {}).values() if len(t.id) > 0]
    if not tables:
        return None
    onset, duration, label = [], [], []
    for table in tables:
        start = np.asarray(table["start_time"].data[:], dtype=np.float64)
        stop = np.asarray(table["stop_time"].data[:], dtype=np.float64)
        length = np.where(np.isnan(stop), 0.0, stop - start)
        if not np.isfinite(start).all() or (length < 0).any():
            raise InputError(f"{where}: intervals table {table.name!r} has a start time that "
                             "is not finite or a stop time before its start")
        onset.append(start)
        duration.append(length)
        col = next((c for c in ("label", "trial_type") if c in table.colnames), None)
        values = _strings(table[col].data[:]) if col is not None else None
        label += values if values is not None else [table.name] * start.size
    return {"onset": np.concatenate(onset), "duration": np.concatenate(duration),
            "label": label}


# ---------------------------------------------------------------------------- provenance


def _strip(value, prefix: str) -> str:
    value = str(value)
    return value[len(prefix):] if value.startswith(prefix) else value


def _provenance(nwbfile, path: Path) -> dict:
    from ..provenance import sha256_file

    subject = nwbfile.subject
    created = nwbfile.file_create_date
    created = created[0] if created is not None and len(created) else None
    return {
        "subject": _strip(getattr(subject, "subject_id", None) or "unknown", "sub-"),
        "session": _strip(nwbfile.session_id or "unknown", "ses-"),
        "source": str(path),
        "source_sha256": sha256_file(path),
        "neurodag_version": __version__,
        "config_digest": "",
        "created": (created.isoformat() if isinstance(created, _dt.datetime)
                    else _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")),
        "nwb_identifier": nwbfile.identifier,
    }
