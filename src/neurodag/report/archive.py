"""The "Metadata and archive" section of a dataset's page.

Per session: the metadata its ``raw.zarr`` carries and where each value came from
(:mod:`neurodag.metadata`), and what nwbinspector's DANDI profile found in its
``raw.nwb`` (the ``dandi.json`` ingest writes beside it, see
:func:`neurodag.store.inspect.dandi_report`): a table of file, check, severity, message.
"""

from __future__ import annotations

from .. import metadata
from ..store import read_json
from ..store.inspect import LEVELS
from .collect import Session

#: The file ingest writes beside raw.nwb (see neurodag.ingest).
REPORT_NAME = "dandi.json"


def _text(value) -> str:
    if isinstance(value, list):
        return ", ".join(d.get("name", str(d)) if isinstance(d, dict) else str(d) for d in value)
    return str(value)


def metadata_row(session: Session) -> dict:
    """What the session's attrs say: start time, subject, devices, and what is missing."""
    a = session.ds.attrs
    sources = a.get(metadata.SOURCES) or {}

    def cell(*keys):
        for key in keys:
            if a.get(key):
                return f"{_text(a[key])} ({sources.get(key, 'source not recorded')})"
        return "—"

    start = a.get("session_start_time")
    return {
        "session": session.key,
        "start": f"{start} ({a.get(metadata.START_SOURCE, '?')})" if start
        else "start time unknown",
        "species": cell("species"), "sex": cell("sex"), "age": cell("age", "date_of_birth"),
        "devices": cell("devices"), "experimenter": cell("experimenter"),
        "missing": ", ".join(k for k in metadata.missing(a)) or "nothing",
        "notes": "; ".join(a.get(metadata.NOTES) or []),
    }


def section(sessions: list[Session]) -> dict | None:
    """Rows for the page: ``metadata`` (one per session), ``findings`` (file, check,
    severity, message, most serious first), ``counts`` per severity, how many files are
    ``clean`` under the DANDI profile and which checks were ``skipped`` for which
    sessions; None without sessions."""
    if not sessions:
        return None
    findings, counts, clean, checked = [], dict.fromkeys(LEVELS, 0), 0, 0
    skipped: dict[str, list[str]] = {}
    for s in sessions:
        path = s.path.parent / REPORT_NAME
        if not path.is_file():
            continue
        report = read_json(path, "DANDI report")
        checked += 1
        clean += bool(report.get("clean"))
        for check in report.get("skipped", []):
            skipped.setdefault(check, []).append(s.key)
        for row in report.get("findings", []):
            counts[row["severity"]] = counts.get(row["severity"], 0) + 1
            findings.append({"file": f"{s.key}/{report.get('file', 'raw.nwb')}", **row})
    findings.sort(key=lambda r: (LEVELS.index(r["severity"]), r["check"], r["file"]))
    return {"metadata": [metadata_row(s) for s in sessions], "findings": findings,
            "counts": {k: v for k, v in counts.items() if v}, "clean": clean,
            "checked": checked, "skipped": skipped}
