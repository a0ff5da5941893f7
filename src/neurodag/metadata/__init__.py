"""Recording metadata from the source, never invented.

The contract carries metadata as flat Dataset attrs (:data:`KEYS`): ``session_start_time``
(ISO 8601 with a UTC offset), ``species`` (Latin binomial or NCBI taxon IRI), ``sex`` (M,
F, U, O; XX/XO for C. elegans), ``age`` (ISO 8601 duration or range), ``date_of_birth``,
``strain``, ``genotype``, ``subject_description``, ``experimenter`` (list),
``institution``, ``lab``, ``session_description``, ``keywords`` (list),
``related_publications`` (list) and ``devices`` (list of ``{name, manufacturer, model,
description}``). Beside them:

``metadata_sources``  ``{key: where the value came from}`` ("config", "meas_date",
                      "BIDS participants.tsv", ...)
``start_time_source`` where ``session_start_time`` came from, or ``"unknown"``
``metadata_missing``  what DANDI still needs and no one stated (species, sex, age or
                      date of birth, session_start_time)
``metadata_notes``    source values that were not used, and why

Sources, later ones overriding earlier ones (each layer is written with
:func:`annotate`): the file header (:mod:`.header`: MNE's ``meas_date``,
``subject_info``, ``device_info``, ``experimenter``; the EDF+ recording field; the KIT
system) or an NWB file of another tool (:mod:`.nwb`: its session, subject and device
fields), then BIDS sidecars (:mod:`.bids`: ``participants.tsv``, ``*_scans.tsv``
``acq_time``, the recording's JSON), then the dataset's config (:func:`apply`, a
``metadata:`` key with ``subjects:`` and ``sessions:`` overrides, see :func:`resolve`).
Every source's values pass the checks config's pass (:mod:`.values`, in :func:`annotate`):
one in another form is noted and not used. A value that no source states stays absent: no placeholder species, sex or age is ever
written, and NWB's mandatory start time falls back to a documented marker (see
:mod:`neurodag.store.nwb_meta`) while ``start_time_source`` says ``"unknown"``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError, InputError, suggest
from .values import KEYS, LIST_KEYS, check, is_worm  # noqa: F401

SOURCES = "metadata_sources"
MISSING = "metadata_missing"
NOTES = "metadata_notes"
START_SOURCE = "start_time_source"
UNKNOWN = "unknown"
#: What DANDI needs of every file (nwbinspector's dandi profile, CRITICAL and
#: BEST_PRACTICE_VIOLATION), and a true recording date.
DANDI_NEEDS = ("species", "sex", "age", "session_start_time")
#: Config keys beside the metadata keys: per-subject and per-session overrides.
OVERRIDES = ("subjects", "sessions")


def annotate(attrs: dict, values: Mapping, source) -> dict:
    """Write a source's ``values`` into ``attrs``, each with its source (later layers win).

    Every metadata key (:data:`KEYS`) is checked and normalised (:func:`check`) first: a
    value a source states in another form (a species "mouse", a sex "unknown") is not
    used, and :func:`note` says so. Keys that are not metadata keys (``source_subject_id``)
    are written as given.

    Parameters
    ----------
    attrs : dict
        Dataset attrs, changed in place.
    values : mapping
        Metadata keys; None values are skipped.
    source : str or mapping
        One source for every key, or ``{key: source}``.

    Returns
    -------
    dict
        ``attrs``.
    """
    sources = dict(attrs.get(SOURCES) or {})
    species = attrs.get("species")
    if values.get("species") is not None:
        try:
            species = check({"species": values["species"]})["species"]
        except ConfigError:
            pass  # noted below
    for key, value in values.items():
        if value is None:
            continue
        origin = source if isinstance(source, str) else source[key]
        if key in KEYS:
            try:  # the sex is checked against the species that applies (XX/XO for worms)
                value = check({key: value}, key, species_context=species)[key]
            except ConfigError as e:
                note(attrs, f"{key}: {origin} gives {value!r}; not used "
                            f"({str(e).split(': ', 1)[-1]})")
                continue
        attrs[key] = value
        sources[key] = origin
        if key == "session_start_time":
            attrs[START_SOURCE] = origin
    if sources:
        attrs[SOURCES] = sources
    return attrs


def note(attrs: dict, text: str) -> None:
    """Record a source value that was not used (shown in the report, kept in provenance)."""
    attrs[NOTES] = [*attrs.get(NOTES, []), text]


def missing(attrs: Mapping) -> list[str]:
    """The keys of :data:`DANDI_NEEDS` that ``attrs`` lack (age counts as given with a
    date of birth)."""
    out = []
    for key in DANDI_NEEDS:
        have = attrs.get(key) or (key == "age" and attrs.get("date_of_birth"))
        if not have:
            out.append(key)
    return out


def finalize(attrs: dict) -> dict:
    """Set ``start_time_source`` ("unknown" when no one gave a start) and
    ``metadata_missing``; return ``attrs``."""
    if not attrs.get("session_start_time"):
        attrs.pop("session_start_time", None)
        attrs[START_SOURCE] = UNKNOWN
    elif not attrs.get(START_SOURCE):
        attrs[START_SOURCE] = (attrs.get(SOURCES) or {}).get("session_start_time", "recording")
    attrs[MISSING] = missing(attrs)
    return attrs


def resolve(config_meta: Mapping | None, *, session: str, subject: str | None = None) -> dict:
    """The config metadata of one session: the dataset's keys, then ``subjects[subject]``,
    then ``sessions[session]`` (each key of a later level replaces the earlier one)."""
    config_meta = dict(config_meta or {})
    out = {k: v for k, v in config_meta.items() if k not in OVERRIDES}
    if subject is not None:
        out.update((config_meta.get("subjects") or {}).get(str(subject), {}))
    out.update((config_meta.get("sessions") or {}).get(str(session), {}))
    return out


def check_config(config_meta: Mapping, where: str, sessions: Mapping[str, str]) -> None:
    """Check a dataset's ``metadata:`` entry; ConfigError naming the key.

    Parameters
    ----------
    config_meta : mapping
        The entry: metadata keys plus optional ``subjects: {label: {...}}`` and
        ``sessions: {id: {...}}``.
    where : str
        Key path of the entry, e.g. ``"config: datasets.x.metadata"``.
    sessions : mapping
        ``{session id: subject label}`` of the dataset (override keys must be among them).
    """
    base = {k: v for k, v in config_meta.items() if k not in OVERRIDES}
    check(base, where)
    for level, known in (("subjects", sorted(set(sessions.values()))), ("sessions", sorted(sessions))):
        for label, values in (config_meta.get(level) or {}).items():
            if str(label) not in known:
                raise ConfigError(f"{where}.{level}.{label}: no such "
                                  f"{level[:-1]} in this dataset{suggest(label, known)}"
                                  f" (it has {', '.join(known)})")
            check(values, f"{where}.{level}.{label}")
    for sid, sub in sessions.items():
        values = resolve(config_meta, session=sid, subject=sub)
        # Each level is valid alone; the sex must also suit the species that applies.
        check({k: values[k] for k in ("species", "sex") if k in values},
              f"{where} (session {sid})")


def apply(attrs: dict, config_meta: Mapping | None, where: str = "metadata") -> dict:
    """Lay the config's metadata of this session over what the sources gave, then
    :func:`finalize`. ``config_meta`` is one session's (see :func:`resolve`)."""
    if config_meta:
        annotate(attrs, check(config_meta, where, species_context=attrs.get("species")),
                 "config")
    return finalize(attrs)


def check_attrs(attrs: Mapping, where: str) -> None:
    """InputError naming ``where`` and the attr when a metadata attr is malformed."""
    present = {k: attrs[k] for k in KEYS if attrs.get(k) not in (None, "", [])}
    try:
        check(present, f"{where}: attr")
    except ConfigError as e:
        raise InputError(str(e)) from None


def summary(attrs: Mapping) -> str:
    """One line: the start time and its source, and what DANDI still needs."""
    start = attrs.get("session_start_time")
    text = (f"started {start} ({attrs.get(START_SOURCE, 'source not recorded')})" if start
            else "start time unknown")
    need = [k for k in missing(attrs) if k != "session_start_time"]
    return text + (f"; DANDI still needs {', '.join(need)}" if need else "")
