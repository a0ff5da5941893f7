"""The metadata keys and their forms: checked where they enter, one line naming the key.

Every value is normalised to the one form NWB and DANDI take (nwbinspector's ``dandi``
profile checks the same forms): a species as a Latin binomial (``Homo sapiens``) or an
NCBI taxon IRI (``http://purl.obolibrary.org/obo/NCBITaxon_9606``), a sex code, an age as
an ISO 8601 duration or range, dates as ISO 8601 with a UTC offset.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping

from ..errors import ConfigError, suggest

#: Every metadata key of the contract (flat Dataset attrs), in the order they are shown.
KEYS = (
    "session_start_time", "species", "sex", "age", "date_of_birth", "strain", "genotype",
    "subject_description", "experimenter", "institution", "lab", "session_description",
    "keywords", "related_publications", "devices",
)
#: Keys whose value is a list (a single string in config is a list of one).
LIST_KEYS = ("experimenter", "keywords", "related_publications")
TEXT_KEYS = ("strain", "genotype", "subject_description", "institution", "lab",
             "session_description")
DEVICE_KEYS = ("name", "manufacturer", "model", "description")
#: NWB/DANDI sex codes; C. elegans takes XX (hermaphrodite) or XO (male) instead.
SEX_CODES = {"M": "male", "F": "female", "U": "unknown", "O": "other"}
WORM_SEX_CODES = {"XX": "hermaphrodite", "XO": "male"}
TAXON_IRI = "http://purl.obolibrary.org/obo/NCBITaxon_"
#: C. elegans, by name and by NCBI taxon (6239).
WORM_SPECIES = ("Caenorhabditis elegans", TAXON_IRI + "6239")

# nwbinspector's own patterns (checks/_nwbfile_metadata.py), so that what passes here
# passes its dandi profile.
_DURATION = re.compile(r"P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?"
                       r"(\d+(?:\.\d+)?D)?(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?"
                       r"(\d+(?:\.\d+)?S)?)?")
_BINOMIAL = re.compile(r"[A-Z][a-z]* [a-z]+")
_TAXON = re.compile(r"(?:https?://purl\.obolibrary\.org/obo/)?NCBITaxon[_:](\d+)", re.I)


def is_worm(species) -> bool:
    """Whether ``species`` (normalised) names C. elegans."""
    return species in WORM_SPECIES


def species(value, key: str = "species") -> str:
    """A Latin binomial (genus capitalised) or an NCBI taxon IRI; ConfigError otherwise.

    ``NCBITaxon:9606``, ``NCBITaxon_9606`` and the https IRI are written as the
    ``http://purl.obolibrary.org/obo/NCBITaxon_9606`` IRI that DANDI expects.
    """
    text = " ".join(str(value).split()) if isinstance(value, str) else ""
    match = _TAXON.fullmatch(text)
    if match:
        return TAXON_IRI + match.group(1)
    if re.fullmatch(r"[A-Za-z][a-z]* [a-z]+", text):
        text = text[0].upper() + text[1:]
    if not _BINOMIAL.fullmatch(text):
        raise ConfigError(f"{key}: {value!r} is neither a Latin binomial (e.g. 'Homo sapiens') "
                          f"nor an NCBI taxon IRI (e.g. '{TAXON_IRI}9606')")
    return text


def sex(value, key: str = "sex", species_: str | None = None) -> str:
    """A sex code: M, F, U (unknown), O (other); XX or XO for C. elegans."""
    code = str(value).strip().upper() if isinstance(value, str) else ""
    allowed = WORM_SEX_CODES if is_worm(species_) else SEX_CODES
    if code not in allowed:
        codes = ", ".join(f"{c} ({w})" for c, w in allowed.items())
        what = " for C. elegans" if is_worm(species_) else ""
        raise ConfigError(f"{key}: {value!r} is not a sex code{what}; expected one of {codes}"
                          f"{suggest(code, allowed)}")
    return code


#: Seconds per unit, to order the bounds of an age range (years and months on average).
_SECONDS = (365.2425 * 86400, 30.436875 * 86400, 7 * 86400, 86400, None, 3600, 60, 1)


def _duration(text: str) -> float | None:
    """Length of an ISO 8601 duration in seconds (None if it is not one)."""
    match = _DURATION.fullmatch(text)
    if not match:
        return None
    return sum(float(part[:-1]) * unit for part, unit in zip(match.groups(), _SECONDS, strict=True)
               if part and unit)


def age(value, key: str = "age") -> str:
    """An ISO 8601 duration (``P25Y``, ``P3M2W``) or a range ``LOW/HIGH`` with one side
    possibly open (``P18Y/``: 18 years or older; ``P0D/``: any age)."""
    text = str(value).strip() if isinstance(value, str) else ""
    bad = ConfigError(f"{key}: {value!r} is not an ISO 8601 duration (e.g. 'P25Y', 'P90D') "
                      "or range (e.g. 'P18Y/P30Y', 'P18Y/')")
    if "/" not in text:
        if _duration(text) is None:
            raise bad
        return text
    low, _, high = text.partition("/")
    lo = _duration(low) if low else None
    hi = _duration(high) if high else None
    if (low and lo is None) or (high and hi is None) or not (low or high):
        raise bad
    if lo is not None and hi is not None and lo >= hi:
        raise ConfigError(f"{key}: range {text!r} does not increase (its upper bound must be "
                          "the longer duration)")
    return text


def timestamp(value, key: str) -> str:
    """An ISO 8601 date-time with a UTC offset, as ``datetime.isoformat`` writes it."""
    if isinstance(value, _dt.datetime):
        t = value
    else:
        try:
            t = _dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ConfigError(f"{key}: {value!r} is not an ISO 8601 date-time (e.g. "
                              "'2014-04-29T22:19:44+00:00')") from None
    if t.tzinfo is None:
        raise ConfigError(f"{key}: {value!r} has no UTC offset; add one (e.g. '+00:00' or 'Z') "
                          "so that the time is not guessed")
    return t.isoformat()


def birth_date(value, key: str = "date_of_birth") -> str:
    """An ISO 8601 date (``1990-05-01``) or date-time with a UTC offset."""
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value.isoformat()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return _dt.date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        raise ConfigError(f"{key}: {value!r} is not a calendar date")
    return timestamp(value, key)


def text(value, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
    return value.strip()


def text_list(value, key: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"{key}: expected a string or a list of strings, got {value!r}")
    return [text(v, f"{key}[{i}]") for i, v in enumerate(items)]


def devices(value, key: str = "devices") -> list[dict]:
    """A list of ``{name, manufacturer, model, description}`` (name required)."""
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"{key}: expected a list of devices ({{name, manufacturer, model, "
                          f"description}}), got {value!r}")
    out = []
    for i, d in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(d, Mapping):
            raise ConfigError(f"{where}: expected a mapping with a name, got {d!r}")
        for k in d:
            if k not in DEVICE_KEYS:
                raise ConfigError(f"{where}.{k}: unknown key{suggest(k, DEVICE_KEYS)} "
                                  f"(a device takes {', '.join(DEVICE_KEYS)})")
        if "name" not in d:
            raise ConfigError(f"{where}.name: required")
        out.append({k: text(d[k], f"{where}.{k}") for k in DEVICE_KEYS if d.get(k) is not None})
    names = [d["name"] for d in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"{key}: device names repeat ({names})")
    return out


def check(values: Mapping, where: str = "metadata", species_context: str | None = None) -> dict:
    """Normalise a mapping of metadata keys; ConfigError naming ``where.KEY`` on a bad one.

    Parameters
    ----------
    values : mapping
        Keys of :data:`KEYS` (others are an error with the closest key); None values are
        left out.
    where : str
        Prefix of the key in messages, e.g. ``"config: datasets.x.metadata"``.
    species_context : str, optional
        The species that applies when ``values`` has none (a sex is checked against it:
        XX/XO for C. elegans).

    Returns
    -------
    dict
        The values in normal form (lists for list keys).
    """
    out: dict = {}
    for key in values:
        if key not in KEYS:
            raise ConfigError(f"{where}.{key}: unknown metadata key{suggest(key, KEYS)}")
    kinds = {"session_start_time": timestamp, "date_of_birth": birth_date, "species": species,
             "age": age, "devices": devices}
    for key in KEYS:
        value = values.get(key)
        if value is None or key == "sex":
            continue
        name = f"{where}.{key}"
        if key in kinds:
            out[key] = kinds[key](value, name)
        elif key in LIST_KEYS:
            out[key] = text_list(value, name)
        else:
            out[key] = text(value, name)
    if values.get("sex") is not None:
        out["sex"] = sex(values["sex"], f"{where}.sex", out.get("species", species_context))
    return out
