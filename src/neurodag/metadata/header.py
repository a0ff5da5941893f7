"""Metadata a recording's own header states, as MNE (or the format) gives it.

=====================  ==============================================  ====================
contract key           from                                            source recorded
=====================  ==============================================  ====================
session_start_time     ``info["meas_date"]``                           ``meas_date``
sex, date_of_birth     ``info["subject_info"]`` sex (1 M, 2 F; 0, the  ``subject_info``
                       "unknown" of most formats, is not a statement),
                       birthday
source_subject_id      ``subject_info["his_id"]`` (kept in attrs, not  ``subject_info``
                       written as the NWB subject_id)
experimenter           ``info["experimenter"]``; EDF+ technician        ``experimenter``,
                                                                       ``EDF+ recording field``
devices                ``info["device_info"]`` (type, model, serial,   ``device_info``,
                       site); EDF+ equipment; the KIT system name,     ``EDF+ recording field``,
                       model and id in ``info["description"]``        ``KIT system``
session_description    ``info["description"]`` (not KIT, whose         ``description``
                       description names the system)
=====================  ==============================================  ====================

EDF+ writes ``X`` for every subfield it does not know (patient code, sex, birth date,
technician, equipment): an ``X`` is no statement and is skipped.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from ..store.nwb_meta import at_epoch
from . import annotate, note

_KIT = re.compile(r"(?P<system>.*) \((?P<id>\d+)\) (?P<version>V\d+R\d+) (?P<model>.*)")
#: Formats whose header gives a local clock time without a time zone (MNE takes it as UTC).
_NO_ZONE = (".edf", ".bdf", ".gdf", ".vhdr", ".vmrk")


def _given(value) -> bool:
    return value is not None and str(value).strip() not in ("", "X")


def edf_recording_field(path: Path) -> dict:
    """Technician and equipment of an EDF+/BDF+ header's recording field, when stated.

    The field reads ``Startdate dd-MMM-yyyy admincode technician equipment`` (EDF+ spec,
    section 2.1.3.3), subfields joined with ``_`` inside, ``X`` when unknown.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return {}
    if len(head) < 236 or head[192:196] not in (b"EDF+", b"BDF+"):
        return {}
    parts = head[88:168].decode("latin-1").split()
    if len(parts) < 5 or parts[0] != "Startdate":
        return {}
    tech, equipment = parts[3], " ".join(parts[4:])
    out = {}
    if _given(tech):
        out["experimenter"] = [tech.replace("_", " ")]
    if _given(equipment):
        out["devices"] = [{"name": equipment.replace("_", " ")}]
    return out


def _devices(info, path: Path) -> tuple[list[dict], str] | None:
    dev = info.get("device_info") or {}
    if any(_given(dev.get(k)) for k in ("type", "model")):
        name = str(dev.get("type") or dev.get("model")).strip()
        d = {"name": name}
        if _given(dev.get("model")) and str(dev["model"]).strip() != name:
            d["model"] = str(dev["model"]).strip()
        extra = [f"{k} {dev[k]}" for k in ("serial", "site") if _given(dev.get(k))]
        if extra:
            d["description"] = "; ".join(extra)
        return [d], "device_info"
    kit = _KIT.fullmatch(str(info.get("description") or "")) if info.get("kit_system_id") else None
    if kit:
        d = {"name": kit["system"].strip() or f"KIT system {kit['id']}",
             "description": f"KIT MEG system id {kit['id']}, SQD format {kit['version']}"}
        if _given(kit["model"]):
            d["model"] = kit["model"].strip()
        return [d], "KIT system"
    return None


def annotate_mne(attrs: dict, raw, path, *, subject_info: bool = True) -> dict:
    """Write what ``raw.info`` (and an EDF+ header) states into ``attrs`` with its source.

    Parameters
    ----------
    attrs : dict
        Dataset attrs, changed in place.
    raw : mne.io.BaseRaw
        The opened recording.
    path : path-like
        The recording (its extension says whether its clock has a time zone).
    subject_info : bool
        Read ``info["subject_info"]``. False for a recording opened by mne-bids, which
        replaces it with participants.tsv's values and a birthday computed from the age
        (an approximation, not a statement); :mod:`.bids` reads participants.tsv itself.
    """
    path = Path(path)
    info = raw.info
    values: dict = {}
    sources: dict = {}

    def put(key, value, source):
        values[key], sources[key] = value, source

    meas = info.get("meas_date")
    if isinstance(meas, _dt.datetime) and at_epoch(meas):
        note(attrs, f"session_start_time: the header gives {meas.isoformat()}, the Unix epoch "
                    "(the placeholder of an unknown or anonymized date); not used")
    elif isinstance(meas, _dt.datetime):
        put("session_start_time", meas.isoformat(), "meas_date")
        if path.suffix.lower() in _NO_ZONE:
            note(attrs, f"session_start_time: the {path.suffix.lower()} header gives a clock "
                        "time without a time zone; MNE reads it as UTC")
    subject = (info.get("subject_info") or {}) if subject_info else {}
    if subject.get("sex") in (1, 2):
        put("sex", {1: "M", 2: "F"}[subject["sex"]], "subject_info")
    birthday = subject.get("birthday")
    if isinstance(birthday, _dt.date):
        day = birthday.date() if isinstance(birthday, _dt.datetime) else birthday
        put("date_of_birth", day.isoformat(), "subject_info")
    if _given(subject.get("his_id")):
        put("source_subject_id", str(subject["his_id"]).strip(), "subject_info")
    if _given(info.get("experimenter")):
        put("experimenter", [str(info["experimenter"]).strip()], "experimenter")
    found = _devices(info, path)
    if found:
        put("devices", *found)
    if _given(info.get("description")) and not (found and found[1] == "KIT system"):
        put("session_description", str(info["description"]).strip(), "description")
    if path.suffix.lower() in (".edf", ".bdf"):
        for key, value in edf_recording_field(path).items():
            if key not in values:
                put(key, value, "EDF+ recording field")
    return annotate(attrs, values, sources)
