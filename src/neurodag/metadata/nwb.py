"""Metadata an NWB file written by another tool states about itself.

=====================  ===========================================  ==========================
contract key           from                                         source recorded
=====================  ===========================================  ==========================
session_start_time     ``/session_start_time`` (not the Unix epoch  ``nwb:/session_start_time``
                       1970-01-01T00:00:00+00:00, which tools write
                       when they do not know the start; noted)
species, sex, age,     ``/general/subject/...`` (``description``    ``nwb:/general/subject/sex``
date_of_birth, strain, for ``subject_description``)                 ...
genotype
experimenter, lab,     ``/general/...``, ``/session_description``   ``nwb:/general/lab`` ...
institution, keywords,
related_publications,
session_description
devices                ``/general/devices`` (manufacturer and       ``nwb:/general/devices``
                       model from the NWB 2.9 ``DeviceModel``, or
                       the older fields of ``Device``)
=====================  ===========================================  ==========================

Every value goes through the same checks as config's (:func:`neurodag.metadata.annotate`):
a field in another form (a species ``"mouse"``, an age ``"90 days"``) is not used and
``metadata_notes`` says so. Empty fields stay absent.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from ..store.nwb_meta import at_epoch
from . import annotate, note


def _text(value) -> str | None:
    if value is None:
        return None
    value = value.decode() if isinstance(value, bytes) else str(value)
    return value.strip() or None


def _texts(values) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        values = [values]
    out = [t for t in (_text(v) for v in np.asarray(values, dtype=object).ravel()) if t]
    return out or None


def _device(d) -> dict:
    model = getattr(d, "model", None)
    out = {
        "name": d.name,
        "manufacturer": _text(getattr(model, "manufacturer", None)
                              or getattr(d, "manufacturer", None)),
        "model": _text(getattr(model, "name", None) or getattr(d, "model_name", None)
                       or getattr(d, "model_number", None)),
        "description": _text(d.description),
    }
    return {k: v for k, v in out.items() if v}


def annotate_nwb(attrs: dict, nwbfile) -> dict:
    """Write the session, subject and device metadata ``nwbfile`` states into ``attrs``.

    Parameters
    ----------
    attrs : dict
        Dataset attrs, changed in place.
    nwbfile : pynwb.NWBFile
        The open file.

    Returns
    -------
    dict
        ``attrs``, with only the keys the file gives a (well-formed) value for, and
        ``metadata_sources`` naming the NWB field of each (``"nwb:/general/subject/sex"``).
    """
    start = nwbfile.session_start_time
    if start is not None and at_epoch(start):  # neurodag's own marker too (store.nwb_meta)
        note(attrs, f"session_start_time: the file gives {start.isoformat()}, the Unix epoch "
                    "(the placeholder of an unknown start); not used")
        start = None
    fields = {
        "session_start_time": ("/session_start_time", start),
        "session_description": ("/session_description", _text(nwbfile.session_description)),
        "experimenter": ("/general/experimenter", _texts(nwbfile.experimenter)),
        "institution": ("/general/institution", _text(nwbfile.institution)),
        "lab": ("/general/lab", _text(nwbfile.lab)),
        "keywords": ("/general/keywords", _texts(nwbfile.keywords)),
        "related_publications": ("/general/related_publications",
                                 _texts(nwbfile.related_publications)),
    }
    subject = nwbfile.subject
    for key, field in (("species", "species"), ("sex", "sex"), ("age", "age"),
                       ("date_of_birth", "date_of_birth"), ("strain", "strain"),
                       ("genotype", "genotype"), ("subject_description", "description")):
        value = getattr(subject, field, None) if subject is not None else None
        fields[key] = (f"/general/subject/{field}",
                       value if isinstance(value, _dt.datetime) else _text(value))
    devices = [_device(d) for d in nwbfile.devices.values()]
    fields["devices"] = ("/general/devices", devices or None)
    stated = {k: (f, v) for k, (f, v) in fields.items() if v is not None}
    return annotate(attrs, {k: v for k, (_, v) in stated.items()},
                    {k: f"nwb:{f}" for k, (f, _) in stated.items()})
