"""Names: the canonical C. elegans neurons and EEG 10-05 electrodes, and how labels map to them.

C. elegans
----------
The canonical order is the 300 hermaphrodite neurons shipped with neurodag
(``neurodag/data/celegans_neurons.txt``: cect's preferred names, 302 neurons without
CANL/CANR, sorted alphabetically). :func:`normalize_neuron` maps a recording's or a
connectome's label to one of them, or to None:

- surrounding white space is removed and case is ignored (``"aval"`` -> ``"AVAL"``);
- zero padding of a trailing number is removed (``"VB01"`` -> ``"VB1"``, ``"DD01"`` ->
  ``"DD1"``, ``"AS010"`` -> ``"AS10"``); ``"AS10"`` itself is kept as it is;
- ``AWCON``/``AWCOFF`` (the AWC pair named by its state: one side expresses str-2, which
  side varies from animal to animal) become ``AWCL``/``AWCR`` only when the caller says
  which side is ON (``awc_on="L"`` or ``"R"``); otherwise they map to None, so they go to
  the extra slots of a recording and are dropped from a connectome. Guessing a side would
  put half of the AWC data on the wrong neuron. The WormNeuroAtlas files name AWC this way;
  their anatomical connectome has no AWCON/AWCOFF synapses (the White and Witvliet data it
  sums call them AWCL/AWCR), so dropping them loses only the functional atlas's AWC rows
  (see :mod:`neurodag.homogenize.connectomes`);
- anything else that is not canonical maps to None: unlabelled ROIs (``"ROI0012"``),
  numbers, uncertain labels (``"AVAL?"``), other cells (CANL, muscles such as ``MDL01``,
  glia, male-specific neurons).

EEG
---
:func:`normalize_eeg` maps a channel name to a 10-05 name, the electrode names of MNE's
``standard_1005`` montage (now called ``colin27_1005``; 343 names), or to None:

- prefixes ``"EEG"`` and ``"POL"`` followed by a space, ``-``, ``_`` or ``:`` are removed,
  and trailing dots (PhysioNet EDF pads names with dots: ``"Fc5."``);
- one reference suffix is removed: ``-REF``, ``-LE`` (linked ears), ``-RE``, ``-AR``,
  ``-AVG``, ``-AV``, ``-A1``, ``-A2``, ``-M1``, ``-M2``, ``-LM`` (any case, joined by
  ``-`` or ``_``). Any other ``X-Y`` is a bipolar derivation and maps to None;
- case is matched against the 10-05 names (``"FP1"`` -> ``"Fp1"``, ``"FPZ"`` -> ``"Fpz"``);
- the old 10-20 temporal names are renamed by :data:`OLD_10_20`
  (T3 -> T7, T4 -> T8, T5 -> P7, T6 -> P8), so that old and new recordings share names.

:func:`normalize_eeg_names` applies this to a recording's whole list: it also spots the
BioSemi "ABC" layout (``A1 ... A32, B1 ... B32, ...``: at least 3 names ``[A-H]<number>``
that are not 10-05 names), whose ``A1``, ``C3`` or ``I1`` are not the 10-05 positions of
those names, and then maps every ``<letter><number>`` name to None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources

from ..errors import InputError

#: Old 10-20 names and the 10-05 names that replaced them (Oostenveld & Praamstra 2001).
OLD_10_20 = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
#: Reference suffixes removed from EEG channel names (compared in upper case).
REFERENCE_SUFFIXES = ("REF", "LE", "RE", "AR", "AVG", "AV", "A1", "A2", "M1", "M2", "LM")
#: AWC neurons named by state, and which of them is the ON one.
AWC_STATE = {"AWCON": True, "AWCOFF": False}

_PADDED = re.compile(r"^([A-Z]+?)0+(\d+)$")
_EEG_PREFIX = re.compile(r"^(?:EEG|POL)[\s\-_:]+", re.IGNORECASE)
_ABC = re.compile(r"^[A-H]\d{1,3}$")
_LETTER_NUMBER = re.compile(r"^[A-Z]\d{1,3}$")
#: This many ``[A-H]<number>`` names that are not 10-05 names mark a BioSemi ABC layout.
_ABC_MIN = 3


@lru_cache(maxsize=1)
def canonical_neurons() -> tuple[str, ...]:
    """The 300 canonical hermaphrodite neurons, in canonical (alphabetical) order."""
    text = resources.files("neurodag").joinpath("data/celegans_neurons.txt").read_text()
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != 300 or len(set(names)) != 300 or list(names) != sorted(names):
        raise RuntimeError("neurodag/data/celegans_neurons.txt must list 300 unique sorted names")
    return names


@lru_cache(maxsize=1)
def _canonical_set() -> frozenset[str]:
    return frozenset(canonical_neurons())


def check_side(awc_on, where: str) -> str | None:
    """``awc_on`` as "L"/"R" (None stays None); InputError naming ``where`` otherwise."""
    if awc_on is None:
        return None
    side = str(awc_on).strip().upper()
    if side not in ("L", "R"):
        raise InputError(f"{where} must be 'L' or 'R' (the side of AWCON), got "
                         f"{awc_on!r}")
    return side


def normalize_neuron(name, *, awc_on: str | None = None) -> str | None:
    """The canonical name of a C. elegans neuron label, or None if it is not one.

    Parameters
    ----------
    name : str
        A label from a recording or a connectome.
    awc_on : {"L", "R"}, optional
        Which AWC is the ON neuron in this animal; without it AWCON/AWCOFF map to None.

    Returns
    -------
    str or None
        One of :func:`canonical_neurons`, or None (unlabelled, unknown or ambiguous).

    Examples
    --------
    >>> normalize_neuron("vb01"), normalize_neuron("AS10"), normalize_neuron("ROI0012")
    ('VB1', 'AS10', None)
    >>> normalize_neuron("AWCON"), normalize_neuron("AWCON", awc_on="R")
    (None, 'AWCR')
    """
    side = check_side(awc_on, "normalize_neuron: awc_on")
    label = str(name).strip().upper()
    if label in AWC_STATE:
        if side is None:
            return None
        on = AWC_STATE[label]
        return "AWC" + (side if on else ("R" if side == "L" else "L"))
    canon = _canonical_set()
    if label in canon:
        return label
    padded = _PADDED.match(label)
    if padded:
        label = padded[1] + str(int(padded[2]))
        if label in canon:
            return label
    return None


def map_neurons(names: Iterable, *, awc_on: str | None = None) -> list[tuple[str | None, str]]:
    """Map a recording's labels to canonical neurons, one ``(canonical or None, reason)`` each.

    A canonical neuron is given to the first label that maps to it; later labels mapping
    to the same neuron get None (reason ``"duplicate of <label>"``), so that no neuron is
    filled twice. Reasons: ``"canonical"``, ``"renamed from <label>"``, ``"AWC side unknown"``,
    ``"not a canonical neuron"``, ``"duplicate of <label>"``.
    """
    side = check_side(awc_on, "map_neurons: awc_on")
    out: list[tuple[str | None, str]] = []
    first: dict[str, str] = {}
    for raw in names:
        label = str(raw)
        canon = normalize_neuron(label, awc_on=side)
        if canon is None:
            why = ("AWC side unknown" if label.strip().upper() in AWC_STATE
                   else "not a canonical neuron")
            out.append((None, why))
        elif canon in first:
            out.append((None, f"duplicate of {first[canon]}"))
        else:
            first[canon] = label
            out.append((canon, "canonical" if canon == label else f"renamed from {label}"))
    return out


# -- EEG ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def eeg_1005_names() -> tuple[str, ...]:
    """The 10-05 electrode names (MNE's ``colin27_1005``, formerly ``standard_1005``),
    without the old temporal names of :data:`OLD_10_20`."""
    import mne

    names = mne.channels.make_standard_montage("colin27_1005").ch_names
    return tuple(n for n in names if n not in OLD_10_20)


@lru_cache(maxsize=1)
def _eeg_lookup() -> dict[str, str]:
    lookup = {n.upper(): n for n in eeg_1005_names()}
    lookup.update({old.upper(): new for old, new in OLD_10_20.items()})
    return lookup


def _strip_eeg(name: str) -> str | None:
    label = _EEG_PREFIX.sub("", str(name).strip()).rstrip(".").strip()
    parts = re.split(r"[-_]", label)
    if len(parts) == 2 and parts[1].upper() in REFERENCE_SUFFIXES:
        label = parts[0]
    elif len(parts) != 1:
        return None
    return label or None


def normalize_eeg(name) -> str | None:
    """The 10-05 name of an EEG channel name, or None if it is not one.

    Examples
    --------
    >>> normalize_eeg("EEG Fp1-REF"), normalize_eeg("FP1"), normalize_eeg("T3")
    ('Fp1', 'Fp1', 'T7')
    >>> normalize_eeg("Fp1-F7") is None
    True
    """
    label = _strip_eeg(name)
    return None if label is None else _eeg_lookup().get(label.upper())


def is_abc_layout(names: Sequence) -> bool:
    """Whether ``names`` look like a BioSemi ABC cap (``A1..A32, B1..B32, ...``)."""
    lookup = _eeg_lookup()
    stripped = [_strip_eeg(n) or "" for n in names]
    odd = [s for s in stripped if _ABC.match(s.upper()) and s.upper() not in lookup]
    return len(odd) >= _ABC_MIN


def normalize_eeg_names(names: Sequence) -> list[str | None]:
    """10-05 names for a recording's channel names (None where there is none).

    Besides :func:`normalize_eeg` per name, a BioSemi ABC layout (:func:`is_abc_layout`)
    maps every ``<letter><number>`` name to None, and a 10-05 name reached by a second
    channel (``"Fp1"`` and ``"EEG FP1-REF"``) goes to the first one only.
    """
    abc = is_abc_layout(names)
    out: list[str | None] = []
    seen: set[str] = set()
    for raw in names:
        stripped = _strip_eeg(raw) or ""
        if abc and _LETTER_NUMBER.match(stripped.upper()):
            out.append(None)
            continue
        name = normalize_eeg(raw)
        if name in seen:
            name = None
        if name is not None:
            seen.add(name)
        out.append(name)
    return out
