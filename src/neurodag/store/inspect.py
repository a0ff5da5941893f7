"""nwbinspector on our NWB files: the data gate, and what DANDI would still need.

One inspection (nwbinspector's checks at every importance, and pynwb's validation) gives
two readings:

- the gate (:func:`problems`): CRITICAL and BEST_PRACTICE_VIOLATION messages, and
  ERROR/PYNWB_VALIDATION, under nwbinspector's default importances, except the checks of
  :data:`METADATA_CHECKS`. A file that fails it is not written (see
  :func:`neurodag.ingest.write`).
- the DANDI profile (:func:`dandi_findings`): every message with the importance
  nwbinspector's ``dandi`` config gives it (the checks ``dandi validate`` runs; there
  sex, age and species are CRITICAL). What a source did not state is reported here, not
  invented to pass: see :mod:`neurodag.metadata`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError

#: Subject metadata a source may not state: reported under the DANDI profile, not a gate.
METADATA_CHECKS = frozenset({
    "check_subject_sex", "check_subject_age", "check_subject_proper_age_range",
    "check_subject_species_exists", "check_subject_species_form",
})
#: The levels of importance, most serious first.
LEVELS = ("ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION",
          "BEST_PRACTICE_SUGGESTION")
_GATE = LEVELS[:4]


def _dandi_levels() -> dict[str, str]:
    """Check name -> importance under nwbinspector's ``dandi`` config (a small YAML file)."""
    from nwbinspector import load_config

    return {check: level for level, checks in load_config("dandi").items() for check in checks}


def inspect_file(path, *, ignore: Sequence[str] = ()) -> list[dict]:
    """Run nwbinspector (every importance) and pynwb's validation on an NWB file.

    Parameters
    ----------
    path : path-like
        An NWB file.
    ignore : sequence of str
        Names of checks to skip (e.g. ``"check_data_orientation"`` for recordings with
        fewer time points than channels, whose time-first layout that heuristic calls
        transposed).

    Returns
    -------
    list of dict
        One per message: ``check``, ``importance`` (nwbinspector's default), ``dandi``
        (its importance under the ``dandi`` config), ``location``, ``object`` and a
        one-line ``message`` (for a crashed check, nwbinspector's summary without the
        traceback).

    Raises
    ------
    InputError
        If the file does not exist.
    """
    from nwbinspector import Importance, inspect_nwbfile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such NWB file")
    with warnings.catch_warnings():
        # Its interval checks take nanmax over stop_time, which is NaN for instantaneous
        # events (see nwb.py), and warn about the all-NaN slice.
        warnings.simplefilter("ignore", RuntimeWarning)
        messages = list(inspect_nwbfile(nwbfile_path=path, ignore=list(ignore) or None,
                                        importance_threshold=Importance.BEST_PRACTICE_SUGGESTION))
    levels = _dandi_levels()
    out = []
    for m in messages:
        text = str(m.message).strip()
        if m.importance == Importance.ERROR:  # a crashed check: its summary, no traceback
            text = str(m.check_function_name)
        name = str(m.check_function_name or "")
        out.append({
            "check": name, "importance": m.importance.name,
            "dandi": levels.get(name, m.importance.name),
            "location": m.location or "/", "object": f"{m.object_type} '{m.object_name}'",
            "message": " ".join(text.split()),
        })
    return out


def _line(f: dict, level: str) -> str:
    return f"{level}: {f['location']} ({f['object']}): {f['message']}"


def problems(findings: list[dict]) -> list[str]:
    """The gate: default-profile CRITICAL/BEST_PRACTICE_VIOLATION (and ERROR,
    PYNWB_VALIDATION) lines, metadata checks aside, most serious first."""
    bad = [f for f in findings
           if f["importance"] in _GATE and f["check"] not in METADATA_CHECKS]
    return [_line(f, f["importance"]) for f in sorted(bad, key=lambda f: _GATE.index(f["importance"]))]


def dandi_findings(findings: list[dict]) -> list[dict]:
    """Every finding under the DANDI profile, most serious first:
    ``{check, severity, location, object, message}``."""
    rows = [{"check": f["check"], "severity": f["dandi"], "location": f["location"],
             "object": f["object"], "message": f["message"]} for f in findings]
    return sorted(rows, key=lambda r: (LEVELS.index(r["severity"]), r["check"]))


def dandi_clean(rows: list[dict]) -> bool:
    """No message above BEST_PRACTICE_SUGGESTION under the DANDI profile."""
    return all(r["severity"] == "BEST_PRACTICE_SUGGESTION" for r in rows)


def inspect_nwb(path, *, ignore: Sequence[str] = ()) -> list[str]:
    """nwbinspector's serious messages about an NWB file (the gate of :func:`problems`).

    Parameters
    ----------
    path : path-like
        An NWB file.
    ignore : sequence of str
        Names of nwbinspector checks to skip (e.g. ``"check_data_orientation"`` for
        fMRI with more parcels than volumes, which NWB stores correctly but the check's
        heuristic calls CRITICAL).

    Returns
    -------
    list of str
        ``"IMPORTANCE: location (type 'name'): message"`` per message of importance
        ERROR, PYNWB_VALIDATION, CRITICAL or BEST_PRACTICE_VIOLATION, except the subject
        metadata checks (:data:`METADATA_CHECKS`, reported by :func:`dandi_findings`).
        Empty when the file passes.

    Raises
    ------
    InputError
        If the file does not exist.
    """
    return problems(inspect_file(path, ignore=ignore))


#: Provenance attrs of the recording copied into the DANDI report.
_PROVENANCE = ("source", "source_sha256", "config_digest", "neurodag_version", "created")


def dandi_report(path, findings: list[dict], attrs, *, skipped: Sequence[str] = ()) -> dict:
    """What the DANDI profile says about an NWB file, with the metadata behind it.

    Parameters
    ----------
    path : path-like
        The NWB file.
    findings : list of dict
        :func:`inspect_file` of it.
    attrs : mapping
        The attrs of the Dataset written (metadata and provenance).
    skipped : sequence of str
        Checks that were not run, to be said so.

    Returns
    -------
    dict
        ``file``, ``profile``, ``clean`` (no CRITICAL or BEST_PRACTICE_VIOLATION),
        ``counts`` per severity, ``findings`` (:func:`dandi_findings`), ``skipped``, the
        metadata attrs ``metadata_missing``, ``start_time_source``, ``metadata_sources``,
        ``metadata_notes``, and provenance.
    """
    from importlib.metadata import version

    from .. import metadata

    rows = dandi_findings(findings)
    return {
        "file": Path(path).name,
        "profile": f"nwbinspector {version('nwbinspector')} config 'dandi'",
        "clean": dandi_clean(rows),
        "counts": {level: sum(r["severity"] == level for r in rows) for level in LEVELS},
        "findings": rows,
        "skipped": list(skipped),
        "metadata_missing": metadata.missing(attrs),
        "start_time_source": attrs.get(metadata.START_SOURCE, metadata.UNKNOWN),
        "metadata_sources": dict(attrs.get(metadata.SOURCES) or {}),
        "metadata_notes": list(attrs.get(metadata.NOTES) or []),
        "provenance": {k: attrs[k] for k in _PROVENANCE if k in attrs},
    }


def report_lines(report: dict) -> list[str]:
    """The report as log lines: a summary, then one line per finding above suggestions."""
    from .. import metadata

    counts = ", ".join(f"{n} {level}" for level, n in report["counts"].items() if n) or "nothing"
    lines = [f"DANDI profile ({report['profile']}) on {report['file']}: {counts}"
             + ("" if report["clean"] else "; not clean")]
    need = [k for k in report["metadata_missing"] if k != "session_start_time"]
    start = ("start time unknown" if report["start_time_source"] == metadata.UNKNOWN
             else f"start time from {report['start_time_source']}")
    lines.append(f"metadata: {start}; DANDI still needs {', '.join(need) or 'nothing'}")
    lines += [f"DANDI {r['severity']}: {r['check']} {r['location']}: {r['message']}"
              for r in report["findings"] if r["severity"] != "BEST_PRACTICE_SUGGESTION"]
    return lines
