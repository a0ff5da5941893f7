"""The contract's metadata attrs (:mod:`neurodag.metadata`) as NWB file, subject and devices.

- ``session_start_time`` from attr ``session_start_time``. NWB requires one; when no one
  stated it (attr ``start_time_source`` is ``"unknown"``) the file gets
  :data:`UNKNOWN_START`, 1970-01-01T00:00:00+00:00, the Unix epoch: a date no recording
  has, which nwbinspector flags as "may not be set to the true date". Reading our files
  back restores the absent attr from the notes, so the fallback never enters the contract.
- ``Subject``: ``subject_id`` (the contract's subject), and ``species``, ``sex``, ``age``,
  ``date_of_birth``, ``strain``, ``genotype``, ``description`` only where the attrs
  have them: nothing is filled in (no placeholder species, sex or age).
- ``experimenter``, ``institution``, ``lab``, ``keywords``, ``related_publications`` as
  given; ``session_description`` as given, else a line saying what the file holds.
- devices: one ``Device`` per entry of attr ``devices`` with a ``DeviceModel`` (name =
  the model, else the device's name) when the manufacturer is known (NWB 2.9 keeps
  manufacturer and model on the model); a model without a manufacturer goes into the
  device's description. The first device is the one electrode groups and imaging planes
  name; without devices, a generic one that names no manufacturer.
"""

from __future__ import annotations

import datetime as _dt
import re

from ..errors import InputError

#: session_start_time of a file whose start no source stated (see the module docstring).
UNKNOWN_START = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def at_epoch(t: _dt.datetime) -> bool:
    """A start on 1970-01-01 (UTC): the Unix epoch that tools and anonymizers write for an
    unknown date (NWB files, FIF/CTF headers with ``meas_date`` (0, 104), scans.tsv copies
    of them); no digital recording dates from that day."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return t.astimezone(_dt.UTC).date() == UNKNOWN_START.date()


def safe_name(value) -> str:
    """An NWB name or id: ``/`` is forbidden (nwbinspector CRITICAL), ``:`` discouraged."""
    return re.sub(r"[/:]", "_", str(value))


def parse_time(value, key: str, where: str) -> _dt.datetime:
    """An aware datetime from an ISO 8601 attr (a time without zone is taken as UTC)."""
    try:
        t = value if isinstance(value, _dt.datetime) else _dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{where}: attr {key}={value!r} is not an ISO 8601 date-time") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=_dt.UTC)


def start_time(attrs, where: str) -> _dt.datetime:
    """The file's session_start_time: the attr, else :data:`UNKNOWN_START`."""
    if attrs.get("session_start_time"):
        return parse_time(attrs["session_start_time"], "session_start_time", where)
    return UNKNOWN_START


def subject(attrs, where: str):
    """A pynwb ``Subject`` with the fields the attrs state, and no others."""
    from pynwb.file import Subject

    kwargs = {k: str(attrs[k]) for k in ("species", "sex", "age", "strain", "genotype")
              if attrs.get(k)}
    if attrs.get("subject_description"):
        kwargs["description"] = str(attrs["subject_description"])
    if attrs.get("date_of_birth"):
        # A date alone is written as that day's midnight UTC (NWB takes a date-time).
        kwargs["date_of_birth"] = parse_time(attrs["date_of_birth"], "date_of_birth", where)
    return Subject(subject_id=safe_name(attrs["subject"]), **kwargs)


def _listed(value) -> list[str] | None:
    if not value:
        return None
    return [str(v) for v in ([value] if isinstance(value, str) else value)]


def file_kwargs(attrs, where: str, n_channels: int | None = None) -> dict:
    """NWBFile keyword arguments for the metadata attrs (start time and subject included)."""
    n = n_channels
    what = f"{attrs['modality']} recording" + (f", {n} channels" if n else "")
    out = {
        "session_description": str(attrs.get("session_description")
                                   or f"{what} from {attrs.get('source') or 'memory'}"),
        "session_start_time": start_time(attrs, where),
        "subject": subject(attrs, where),
        "experimenter": _listed(attrs.get("experimenter")),
        "keywords": _listed(attrs.get("keywords")),
        "related_publications": _listed(attrs.get("related_publications")),
    }
    for key in ("institution", "lab"):
        if attrs.get(key):
            out[key] = str(attrs[key])
    return {k: v for k, v in out.items() if v is not None}


def add_devices(nwbfile, attrs, *, name: str, description: str):
    """Add the attrs' devices (or one generic device); return the first.

    ``name``/``description`` are those of the generic device, used when the attrs list
    none.
    """
    from pynwb.device import Device, DeviceModel

    declared = list(attrs.get("devices") or [])
    if not declared:
        return nwbfile.create_device(name=name, description=description)
    first = None
    for d in declared:
        text = [d.get("description", "")]
        model = None
        if d.get("manufacturer"):
            model = DeviceModel(name=safe_name(d.get("model") or d["name"]),
                                manufacturer=d["manufacturer"])
            if model.name not in nwbfile.device_models:
                nwbfile.add_device_model(model)
            model = nwbfile.device_models[model.name]
        elif d.get("model"):
            text.append(f"model {d['model']}")
        device = Device(name=safe_name(d["name"]), model=model,
                        description="; ".join(t for t in text if t) or None)
        nwbfile.add_device(device)
        first = first or device
    return first


def disagreements(path, attrs) -> list[str]:
    """Where an NWB file's start time and subject differ from the metadata attrs its notes
    carry (empty when they agree): ``neurodag validate`` checks the round trip."""
    import h5py

    def text(f, key):
        if key not in f:
            return None
        value = f[key][()]
        return value.decode() if isinstance(value, bytes) else str(value)

    out = []
    with h5py.File(path, "r") as f:
        start = _dt.datetime.fromisoformat(text(f, "session_start_time"))
        want = start_time(attrs, str(path))
        if start != want:
            out.append(f"session_start_time {start.isoformat()} != attr {want.isoformat()}")
        for key in ("species", "sex", "age", "strain", "genotype"):
            got = text(f, f"general/subject/{key}")
            if got != (str(attrs[key]) if attrs.get(key) else None):
                out.append(f"subject {key} {got!r} != attr {attrs.get(key)!r}")
    return out
