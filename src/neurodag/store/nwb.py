"""Contract Dataset -> NWB (HDF5, pynwb), written atomically and streamed along time.

Layout of the files :func:`write_nwb` writes (documented choices):

- electrophysiology (modality eeg, meg, seeg, ecog): one ``ElectricalSeries`` named
  ``ElectricalSeries`` in ``acquisition`` over the whole electrodes table, one row per
  channel: ``location`` (the region, or ``"unknown"``), ``group`` (one ``ElectrodeGroup``
  per sEEG shaft, taken from the channel name without its trailing number; one per modality
  for the recording's own channels and one per type for auxiliary channels such as EOG or
  stim), ``x``/``y``/``z`` in micrometres on the NWB schema's axes (+x posterior, +y
  inferior, +z right; the contract's head frame is +x right, +y anterior, +z up; NaN where unknown; the
  columns are left out when the Dataset has no positions) and the custom columns
  ``channel_name``, ``channel_type`` and ``unit``. NWB fixes ElectricalSeries' unit to
  volts: MEG (T, T/m) and a.u. channels are stored as they are, their true unit is in the
  ``unit`` column and the series description says so.
- calcium: processing module ``ophys`` with a Device, an OpticalChannel and an ImagingPlane
  (wavelengths from attrs ``excitation_lambda``/``emission_lambda`` in nm, else NaN), a
  ``PlaneSegmentation`` with one ROI per channel (columns ``roi_name``, ``channel_type``,
  ``unit``, ``region`` and ``x``/``y``/``z`` in metres) and a ``RoiResponseSeries`` inside
  ``DfOverF`` when the units are ``dF/F``, else inside ``Fluorescence``. pynwb requires a
  mask per ROI: each ROI gets a one-voxel ``voxel_mask`` at its position on a 1 um grid
  whose origin and spacing are the ImagingPlane's ``origin_coords``/``grid_spacing``; an
  ROI whose position is not known gets one voxel of weight 0 at the origin, i.e. no
  footprint (empty masks are valid NWB, but nwbinspector 0.7.2 fails on them).
- fmri and spikes: a ``TimeSeries`` (``bold`` or ``spike_counts``) in processing module
  ``misc`` with a ``channels`` table beside it (name, type, unit, region, x/y/z in metres).
- spike times (spikes binned from spike times, e.g. an NWB ``Units`` source): the
  ``/units`` table, one row per channel (see :mod:`neurodag.store.nwb_units`).
- events: ``TimeIntervals`` ``/intervals/events`` with ``start_time`` = onset,
  ``stop_time`` = onset + duration (NaN for an instantaneous event: nwbinspector flags
  stop == start), ``label`` and the exact ``duration``.
- confounds: one 2-D ``TimeSeries`` ``confounds`` in module ``misc``, its column names in
  table ``confound_columns`` (column ``confound``, one row per confound).
- subject/session and devices: the metadata attrs (:mod:`neurodag.metadata`) as
  :mod:`neurodag.store.nwb_meta` writes them: only what the attrs state (no placeholder
  species, sex or age), ``session_start_time`` from the attr or, when no one stated it,
  the documented marker 1970-01-01T00:00:00+00:00; ``session_id``; ``identifier`` a
  digest of the provenance (source_sha256, source, modality, subject, session,
  config_digest).
- provenance: every Dataset attr, as JSON under key ``"neurodag"`` in ``NWBFile.notes``,
  with the file layout (see :mod:`neurodag.store.nwb_read`).

Samples are pulled in time blocks (numpy or dask) through a
:class:`hdmf.data_utils.GenericDataChunkIterator` and written gzip-compressed, chunked
along time, so memory does not grow with recording length; each block is checked for
NaN/Inf on the way.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import DynamicTable, VectorData

from ..errors import InputError
from ..schema import DATA_CHANNEL_TYPES, validate
from .atomic import atomic_path
from .inspect import inspect_nwb
from .nwb_meta import add_devices, file_kwargs, parse_time, safe_name
from .nwb_read import (
    CONFOUND_COLUMNS,
    EPHYS_MODALITIES,
    META_KEY,
    MISC_MODULE,
    read_nwb,
    to_nwb_axes,
)
from .nwb_stream import BUFFER_CHUNKS, GZIP_LEVEL, _streamed, _TimeBlocks  # noqa: F401

__all__ = ["write_nwb", "read_nwb", "inspect_nwb"]

#: Grid of the one-voxel ROI masks, in metres.
VOXEL_M = 1e-6
#: Chunks per write buffer (a buffer is what is held in memory at once).
_TS_NAMES = {"fmri": "bold", "spikes": "spike_counts"}
_TS_WHAT = {"fmri": "parcel/ROI BOLD signal", "spikes": "binned spike counts"}


def write_nwb(ds: xr.Dataset, path, *, compression: str | None = None) -> Path:
    """Write a contract Dataset to an NWB file (HDF5), atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset (see :mod:`neurodag.schema`); its samples may be dask-backed,
        they are pulled in time blocks and never loaded whole.
    path : path-like
        Target file (``*.nwb``); replaced if it exists, untouched if the write fails.
    compression : {None, "gzip"}
        Compression of the sample arrays. None (default) writes at disk speed; gzip
        (level 4, shuffled) makes files for archives such as DANDI about 15-20% smaller
        but takes about 3x longer than reading the source (bench/ingest.py).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ContractError
        If ``ds`` breaks the contract (including NaN/Inf samples, found while writing).
    InputError
        If an attr such as ``session_start_time`` cannot be used.

    Notes
    -----
    The layout is described in the docstring of :mod:`neurodag.store.nwb`.
    """

    path = Path(path)
    where = str(path)
    if compression not in (None, "gzip"):
        raise InputError(f"{where}: compression {compression!r} is not one of None, 'gzip'")
    validate(ds, where=where, check_values=False)
    modality = ds.attrs["modality"]
    nwbfile = _new_file(ds, where)
    coords = [c for c in ("region", "x", "y", "z") if c in ds.coords]
    layout = {"format": 1, "attrs": dict(ds.attrs), "optional_coords": coords}
    if modality in EPHYS_MODALITIES:
        layout["signal"] = _add_ephys(nwbfile, ds, where, compression)
    elif modality == "calcium":
        layout["signal"] = _add_calcium(nwbfile, ds, where, compression)
    else:
        layout["signal"] = _add_timeseries(nwbfile, ds, where, compression)
    if "events" in ds:
        # An empty table is a best-practice violation: 0 events are only noted in the layout.
        layout["n_events"] = int(ds.sizes["event"])
        if ds.sizes["event"]:
            _add_events(nwbfile, ds)
    if "confounds" in ds:
        layout["confounds"] = _add_confounds(nwbfile, ds, where, compression)
    if "neuropil" in ds and modality == "calcium":
        layout["neuropil"] = "processing/ophys/Fluorescence/Neuropil"
    if "spike_times" in ds:
        from .nwb_units import add_units

        layout["units"] = add_units(nwbfile, ds, where, compression)
    return save(nwbfile, layout, path)


def save(nwbfile, layout: dict, path: Path) -> Path:
    """Write ``nwbfile`` to ``path`` atomically, with our ``layout`` record in its notes."""
    from pynwb import NWBHDF5IO

    nwbfile.notes = json.dumps({META_KEY: layout}, sort_keys=True, default=_json_default)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # The temporary name ends in .partial, not .nwb; the final one is the caller's.
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)
    return path


# ---------------------------------------------------------------------------- file, subject


def _identifier(attrs) -> str:
    keys = ("source_sha256", "source", "modality", "subject", "session", "config_digest")
    digest = hashlib.sha256(json.dumps([str(attrs.get(k, "")) for k in keys]).encode())
    return f"neurodag-{digest.hexdigest()[:32]}"


def _new_file(ds: xr.Dataset, where: str):
    from pynwb import NWBFile

    a = ds.attrs
    created = None
    if a.get("created"):
        try:
            created = [parse_time(a["created"], "created", where)]
        except InputError:
            created = None  # provenance time in another format: let pynwb stamp now
    return NWBFile(
        identifier=_identifier(a),
        file_create_date=created,
        session_id=safe_name(a["session"]),
        source_script=f"neurodag {a.get('neurodag_version', '')}".strip(),
        source_script_file_name="neurodag.store.nwb",
        **file_kwargs(a, where, n_channels=ds.sizes["channel"]),
    )


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ---------------------------------------------------------------------------- channels


def _channel_info(ds: xr.Dataset) -> dict:
    n = ds.sizes["channel"]
    info = {
        "name": [str(v) for v in ds["channel"].values],
        "type": [str(v) for v in ds["channel_type"].values],
        "unit": [str(v) for v in ds["unit"].values],
        "region": [str(v) for v in ds["region"].values] if "region" in ds.coords else None,
        "pos": None,
    }
    if all(c in ds.coords for c in ("x", "y", "z")):
        info["pos"] = np.stack([ds[c].values.astype(np.float64) for c in ("x", "y", "z")], axis=1)
    elif any(c in ds.coords for c in ("x", "y", "z")):
        pos = np.full((n, 3), np.nan)
        for i, c in enumerate(("x", "y", "z")):
            if c in ds.coords:
                pos[:, i] = ds[c].values
        info["pos"] = pos
    return info


def _shared(values, default: str) -> str:
    uniq = sorted(set(values or []))
    if not uniq:
        return default
    if len(uniq) == 1:
        return uniq[0]
    return f"multiple ({', '.join(uniq[:5])}{', ...' if len(uniq) > 5 else ''})"


def _group_keys(info: dict, modality: str) -> list[str]:
    """ElectrodeGroup per channel: sEEG shaft, the modality, or the auxiliary type."""
    own = DATA_CHANNEL_TYPES[modality]
    keys = []
    for name, kind in zip(info["name"], info["type"], strict=True):
        if kind == "seeg":
            shaft = re.sub(r"[\s_\-.]*\d+$", "", name) or "seeg"
            keys.append(f"shaft {safe_name(shaft)}")
        else:
            keys.append(modality if kind in own else kind)
    return keys


def _timing(ds: xr.Dataset) -> dict:
    """``rate``/``starting_time`` when the time axis is regular, else ``timestamps``."""
    time = ds["time"].values
    sfreq = float(ds.attrs["sfreq"])
    block = 1 << 16  # compare in blocks: no temporaries as long as the recording
    regular = all(
        np.abs(time[i:i + block] - (time[0] + np.arange(i, min(i + block, time.size)) / sfreq))
        .max() <= 1e-3 / sfreq
        for i in range(0, time.size, block)
    )
    if regular:
        return {"rate": sfreq, "starting_time": float(time[0])}
    return {"timestamps": H5DataIO(time, compression="gzip", compression_opts=GZIP_LEVEL)}


def _position_columns(pos) -> list[VectorData]:
    if pos is None:
        return []
    return [
        VectorData(name=c, description=f"{c} position in metres (NaN where unknown)",
                   data=np.ascontiguousarray(pos[:, i]))
        for i, c in enumerate(("x", "y", "z"))
    ]


# ---------------------------------------------------------------------------- writers


def _add_ephys(nwbfile, ds: xr.Dataset, where: str, compression: str | None = None) -> str:
    from pynwb.ecephys import ElectricalSeries

    modality = ds.attrs["modality"]
    info = _channel_info(ds)
    n = len(info["name"])
    regions = info["region"] or ["unknown"] * n
    device = add_devices(nwbfile, ds.attrs, name=f"{modality} system",
                         description=f"{modality} acquisition system")
    keys = _group_keys(info, modality)
    groups = {}
    for key in dict.fromkeys(keys):
        members = [i for i in range(n) if keys[i] == key]
        groups[key] = nwbfile.create_electrode_group(
            name=key, description=f"{key} channels ({len(members)})", device=device,
            location=_shared([regions[i] for i in members], "unknown"),
        )
    nwbfile.add_electrode_column("channel_name", "channel name")
    nwbfile.add_electrode_column("channel_type", "channel type (neurodag signal contract)")
    nwbfile.add_electrode_column("unit", "unit of this channel's samples (SI)")
    for i in range(n):
        extra = {}
        if info["pos"] is not None:
            # NWB: micrometres, +x posterior, +y inferior, +z right; the contract: metres, RAS
            extra = dict(zip("xyz", map(float, to_nwb_axes(info["pos"][i])[0]), strict=True))
        nwbfile.add_electrode(
            location=regions[i], group=groups[keys[i]], channel_name=info["name"][i],
            channel_type=info["type"][i], unit=info["unit"][i], **extra,
        )
    region = nwbfile.create_electrode_table_region(list(range(n)), "all channels")
    others = sorted(set(info["unit"]) - {"V"})
    description = f"{modality} recording, {n} channels"
    if others:
        description += (
            f"; samples in each channel's own SI unit (electrodes table column 'unit': "
            f"{', '.join(['V', *others] if 'V' in info['unit'] else others)}), not all volts "
            "as the ElectricalSeries unit says"
        )
    series = ElectricalSeries(
        name="ElectricalSeries", data=_streamed(ds["signal"].data, where=where, names=info["name"], compression=compression),
        electrodes=region, description=description, **_timing(ds),
    )
    nwbfile.add_acquisition(series)
    return "acquisition/ElectricalSeries"


def _add_calcium(nwbfile, ds: xr.Dataset, where: str, compression: str | None = None) -> str:
    from pynwb.ophys import DfOverF, Fluorescence, OpticalChannel, PlaneSegmentation

    a = ds.attrs
    info = _channel_info(ds)
    n = len(info["name"])
    pos = info["pos"]
    known = np.isfinite(pos).all(axis=1) if pos is not None else np.zeros(n, bool)
    origin = pos[known].min(axis=0) if known.any() else np.zeros(3)
    device = add_devices(nwbfile, a, name="microscope", description="calcium imaging microscope")
    optical = OpticalChannel(name="OpticalChannel", description="emission channel",
                             emission_lambda=float(a.get("emission_lambda", np.nan)))
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=optical, description="imaged volume",
        device=device, excitation_lambda=float(a.get("excitation_lambda", np.nan)),
        indicator=str(a.get("indicator") or "unknown"), imaging_rate=float(a["sfreq"]),
        location=_shared(info["region"], "unknown"),
        origin_coords=origin.tolist(), origin_coords_unit="meters",
        grid_spacing=[VOXEL_M] * 3, grid_spacing_unit="meters",
    )
    module = nwbfile.create_processing_module(name="ophys", description="calcium imaging")
    seg = PlaneSegmentation(name="PlaneSegmentation", imaging_plane=plane,
                            description="one ROI per channel; voxel_mask is a single voxel at "
                            "the ROI position on a 1 um grid (weight 0 when unknown)")
    seg.add_column("roi_name", "ROI (channel) name")
    seg.add_column("channel_type", "channel type (neurodag signal contract)")
    seg.add_column("unit", "unit of this ROI's samples")
    cols = {"roi_name": info["name"], "channel_type": info["type"], "unit": info["unit"]}
    if info["region"] is not None:
        seg.add_column("region", "anatomical region")
        cols["region"] = info["region"]
    if pos is not None:
        for c in "xyz":
            seg.add_column(c, f"{c} position in metres (NaN where unknown)")
    for i in range(n):
        if known[i]:
            idx = np.rint((pos[i] - origin) / VOXEL_M).astype(np.uint32)
            mask = [(int(idx[0]), int(idx[1]), int(idx[2]), 1.0)]
        else:
            mask = [(0, 0, 0, 0.0)]
        row = {k: v[i] for k, v in cols.items()}
        if pos is not None:
            row.update({c: float(pos[i, k]) for k, c in enumerate("xyz")})
        seg.add_roi(voxel_mask=mask, **row)
    module.add(seg)
    units = ds["signal"].attrs["units"]
    container = DfOverF(name="DfOverF") if units == "dF/F" else Fluorescence(name="Fluorescence")
    module.add(container)
    container.create_roi_response_series(
        name="RoiResponseSeries",
        data=_streamed(ds["signal"].data, where=where, names=info["name"], compression=compression),
        rois=seg.create_roi_table_region(region=list(range(n)), description="all ROIs"),
        unit=units, description=f"calcium signal ({units}), one column per ROI",
        **_timing(ds),
    )
    if "neuropil" in ds:
        # Neuropil fluorescence around each ROI (suite2p Fneu), for neuropil subtraction.
        fluo = module["Fluorescence"] if "Fluorescence" in module.data_interfaces else None
        if fluo is None:
            fluo = Fluorescence(name="Fluorescence")
            module.add(fluo)
        fluo.create_roi_response_series(
            name="Neuropil",
            data=_streamed(ds["neuropil"].data, where=where, names=info["name"],
                           compression=compression),
            rois=seg.create_roi_table_region(region=list(range(n)), description="all ROIs"),
            unit=str(ds["neuropil"].attrs.get("units", "a.u.")),
            description="neuropil fluorescence around each ROI, same ROIs and times",
            **_timing(ds),
        )
    return f"processing/ophys/{container.name}/RoiResponseSeries"


def _misc_module(nwbfile):
    if MISC_MODULE in nwbfile.processing:
        return nwbfile.processing[MISC_MODULE]
    return nwbfile.create_processing_module(name=MISC_MODULE,
                                            description="signals and tables without a core type")


def _add_timeseries(nwbfile, ds: xr.Dataset, where: str, compression: str | None = None) -> str:
    from pynwb import TimeSeries

    modality = ds.attrs["modality"]
    info = _channel_info(ds)
    n = len(info["name"])
    cols = [
        VectorData(name="channel_name", description="channel name", data=info["name"]),
        VectorData(name="channel_type", description="channel type (neurodag signal contract)",
                   data=info["type"]),
        VectorData(name="unit", description="unit of this channel's samples", data=info["unit"]),
    ]
    if info["region"] is not None:
        cols.append(VectorData(name="region", description="anatomical region", data=info["region"]))
    cols += _position_columns(info["pos"])
    module = _misc_module(nwbfile)
    module.add(DynamicTable(name="channels", description="one row per column of the series",
                            columns=cols, id=list(range(n))))
    name = _TS_NAMES[modality]
    units = ds["signal"].attrs["units"]
    module.add(TimeSeries(
        name=name, data=_streamed(ds["signal"].data, where=where, names=info["name"], compression=compression),
        unit=units, description=f"{_TS_WHAT[modality]} ({units}); column i is row i of "
        f"table {MISC_MODULE}/channels", **_timing(ds),
    ))
    return f"processing/{MISC_MODULE}/{name}"


def _add_events(nwbfile, ds: xr.Dataset) -> None:
    from pynwb.epoch import TimeIntervals

    onset = ds["events"].values.astype(np.float64)
    duration = ds["event_duration"].values.astype(np.float64)
    labels = [str(v) for v in ds["event_label"].values]
    # An instantaneous event has no stop: NaN (stop == start is a best-practice violation).
    stop = np.where(duration > 0, onset + duration, np.nan)
    table = TimeIntervals(name="events", description="events: onset, duration, label", columns=[
        VectorData(name="start_time", description="onset in s", data=onset),
        VectorData(name="stop_time", description="onset + duration in s; NaN for an "
                   "instantaneous event (duration 0)", data=stop),
        VectorData(name="label", description="event label", data=labels),
        VectorData(name="duration", description="duration in s (exact)", data=duration),
    ], id=list(range(onset.size)))
    nwbfile.add_time_intervals(table)


def _add_confounds(nwbfile, ds: xr.Dataset, where: str, compression: str | None = None) -> str:
    from pynwb import TimeSeries

    names = [str(v) for v in ds["confound"].values]
    module = _misc_module(nwbfile)
    module.add(DynamicTable(
        name=CONFOUND_COLUMNS, description="names of the columns of TimeSeries 'confounds'",
        columns=[VectorData(name="confound", description="confound name", data=names)],
        id=list(range(len(names))),
    ))
    module.add(TimeSeries(
        name="confounds", unit="a.u.",
        data=_streamed(ds["confounds"].data, where=where, check_finite=False, compression=compression),
        description=f"confound regressors, one column per row of table "
        f"{MISC_MODULE}/{CONFOUND_COLUMNS}", **_timing(ds),
    ))
    return f"processing/{MISC_MODULE}/confounds"
