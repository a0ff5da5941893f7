"""Metadata a BIDS dataset states about a recording: participants, scans, the JSON sidecar.

====================  =====================================================  ==================
contract key          from                                                   source recorded
====================  =====================================================  ==================
species               ``participants.tsv`` ``species``; without that         ``BIDS
                      column BIDS assumes ``homo sapiens`` (the standard's    participants.tsv``
                      backwards-compatible default, stated by the spec)      / ``BIDS default``
sex                   ``participants.tsv`` ``sex`` (male/m/M/..., female,
                      other)
age                   ``participants.tsv`` ``age`` in years (units of
                      ``participants.json`` when it gives them), as ``P25Y``
strain, genotype      ``participants.tsv`` ``strain``, ``genotype``
session_start_time    ``*_scans.tsv`` ``acq_time`` of the recording          ``BIDS scans.tsv``
devices               ``Manufacturer``, ``ManufacturersModelName``,           ``BIDS sidecar``
                      ``DeviceSerialNumber``, ``SoftwareVersions``;
                      ``CapManufacturer``, ``CapManufacturersModelName``
institution, lab      ``InstitutionName``, ``InstitutionalDepartmentName``
session_description   ``TaskDescription``
====================  =====================================================  ==================

``n/a`` is no statement. An ``acq_time`` without ``Z`` is read as UTC, as mne-bids does
(noted in ``metadata_notes``).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from ..errors import ConfigError, InputError
from ..io._common import one_line
from ..io.sidecars import read_tsv
from ..store.nwb_meta import at_epoch
from . import annotate, note, values

_SEX = {"male": "M", "m": "M", "female": "F", "f": "F", "other": "O", "o": "O"}
_AGE_UNITS = {"year": "Y", "years": "Y", "month": "M", "months": "M", "week": "W",
              "weeks": "W", "day": "D", "days": "D"}
PARTICIPANTS = "participants.tsv"


def _given(value) -> bool:
    return value is not None and value == value and str(value).strip().lower() not in ("", "n/a")


def scans_file(path: Path) -> Path:
    """The ``sub-X[_ses-Y]_scans.tsv`` beside a recording's datatype folder."""
    folder = path.parent.parent
    name = folder.name if not folder.name.startswith("ses-") else \
        f"{folder.parent.name}_{folder.name}"
    return folder / f"{name}_scans.tsv"


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not readable JSON ({one_line(e)})") from None
    return data if isinstance(data, dict) else {}


def _age(value, units: str, where: str) -> str | None:
    text = str(value).strip()
    if text.endswith("+") and text[:-1].replace(".", "", 1).isdigit():
        return f"P{float(text[:-1]):g}{units}/"  # BIDS' deprecated "89+": at least 89
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"{where}: age {value!r} is not a number") from None
    if not number >= 0:
        raise InputError(f"{where}: age {value!r} is negative")
    return f"P{number:g}{units}"


def _participant(root: Path, subject: str, attrs: dict) -> tuple[dict, dict]:
    path = root / PARTICIPANTS
    out: dict = {}
    if not path.is_file():
        return {"species": "Homo sapiens"}, {"species": "BIDS default (no participants.tsv)"}
    table = read_tsv(path, dtype=str)
    src = f"BIDS {PARTICIPANTS}"
    if "species" not in table.columns:
        out["species"] = ("Homo sapiens", "BIDS default (participants.tsv has no species column)")
    if "participant_id" not in table.columns:
        raise InputError(f"{path}: missing column 'participant_id'")
    rows = table[table["participant_id"].astype(str).str.strip() == f"sub-{subject}"]
    if len(rows):
        row = rows.iloc[0]
        where = f"{path} (sub-{subject})"
        if _given(row.get("species")):
            try:
                out["species"] = (values.species(row["species"]), src)
            except ConfigError:
                note(attrs, f"species: {where} gives {row['species']!r}, not a binomial or "
                            "NCBI taxon; not used")
        if _given(row.get("sex")):
            code = _SEX.get(str(row["sex"]).strip().lower())
            if code:
                out["sex"] = (code, src)
            else:
                note(attrs, f"sex: {where} gives {row['sex']!r}, not a BIDS sex; not used")
        if _given(row.get("age")):
            meta = _json(root / "participants.json") if (root / "participants.json").is_file() \
                else {}
            age = meta.get("age") if isinstance(meta.get("age"), dict) else {}
            unit = str(age.get("Units", "years")).strip().lower()
            if unit in _AGE_UNITS:
                out["age"] = (_age(row["age"], _AGE_UNITS[unit], where), src)
            else:
                note(attrs, f"age: participants.json gives age units {unit!r}, not years, "
                            "months, weeks or days; not used")
        for key in ("strain", "genotype"):
            if _given(row.get(key)):
                out[key] = (str(row[key]).strip(), src)
    return {k: v for k, (v, _) in out.items()}, {k: s for k, (_, s) in out.items()}


def _acq_time(path: Path, attrs: dict) -> str | None:
    scans = scans_file(path)
    if not scans.is_file():
        return None
    table = read_tsv(scans, dtype=str)
    if "filename" not in table.columns or "acq_time" not in table.columns:
        return None
    rel = f"{path.parent.name}/{path.name}"
    rows = table[table["filename"].astype(str).str.strip() == rel]
    if not len(rows) or not _given(rows.iloc[0]["acq_time"]):
        return None
    text = str(rows.iloc[0]["acq_time"]).strip()
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{scans}: acq_time {text!r} of {rel} is not an ISO 8601 "
                         "date-time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
        note(attrs, f"session_start_time: {scans.name} acq_time {text!r} has no 'Z'; read as "
                    "UTC, as mne-bids does")
    if at_epoch(t):
        note(attrs, f"session_start_time: {scans.name} acq_time {text!r} is the Unix epoch "
                    "(the placeholder of an unknown or anonymized date); not used")
        return None
    return t.isoformat()


def _sidecar(meta: dict) -> dict:
    out: dict = {}
    devices = []
    for prefix, kind in (("", "acquisition system"), ("Cap", "cap")):
        maker, model = meta.get(f"{prefix}Manufacturer"), meta.get(f"{prefix}ManufacturersModelName")
        if not (_given(maker) or _given(model)):
            continue
        d = {"name": str(model if _given(model) else maker).strip()}
        if _given(maker):
            d["manufacturer"] = str(maker).strip()
        if _given(model):
            d["model"] = str(model).strip()
        extra = [kind]
        if not prefix:
            extra += [f"{w} {meta[k]}" for k, w in (("DeviceSerialNumber", "serial"),
                                                    ("SoftwareVersions", "software"))
                      if _given(meta.get(k))]
        d["description"] = "; ".join(extra)
        devices.append(d)
    if len({d["name"] for d in devices}) < len(devices):
        devices[-1]["name"] += " (cap)"
    if devices:
        out["devices"] = devices
    for key, field in (("institution", "InstitutionName"), ("lab", "InstitutionalDepartmentName"),
                       ("session_description", "TaskDescription")):
        if _given(meta.get(field)):
            out[key] = str(meta[field]).strip()
    return out


def annotate_bids(attrs: dict, path) -> dict:
    """Write what the BIDS dataset around recording ``path`` states into ``attrs``.

    Parameters
    ----------
    attrs : dict
        Dataset attrs, changed in place (after the header's: BIDS wins).
    path : path-like
        A recording inside a BIDS tree (:func:`neurodag.io.bids.find_root`).

    Returns
    -------
    dict
        ``attrs``. The files read are among :func:`neurodag.io.bids.recording_files`.
    """
    from ..io.bids import bids_path

    path = Path(path)
    bp = bids_path(path)
    vals, srcs = _participant(Path(bp.root), bp.subject, attrs)
    acq = _acq_time(path, attrs)
    if acq is not None:
        vals["session_start_time"], srcs["session_start_time"] = acq, "BIDS scans.tsv acq_time"
    sidecar = bp.find_matching_sidecar(suffix=bp.datatype, extension=".json", on_error="ignore")
    if sidecar is not None:
        side = _sidecar(_json(Path(sidecar)))
        vals.update(side)
        srcs.update({k: f"BIDS {Path(sidecar).name}" for k in side})
    return annotate(attrs, vals, srcs)
