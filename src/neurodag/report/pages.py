"""HTML pages: one per dataset (:func:`dataset_page`) and an index of them (:func:`index_page`).

A dataset page ``reports/{dataset}.html`` keeps its figures and a ``summary.json`` in the
sibling folder ``reports/{dataset}/``; both are written under temporary names and renamed
at the end, so a failure leaves no page. Pages link a ``style.css`` copied beside them and
use only relative links, so they work from the file system.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

import jinja2
import yaml

from .. import __version__
from ..errors import ConfigError, InputError
from ..provenance import now
from ..store import atomic_path
from . import archive, collect, figures, sections, spectra
from . import qc as qc_figures

SUMMARY = "summary.json"
CSS = "style.css"
#: Channel tables longer than this start collapsed.
OPEN_CHANNEL_ROWS = 32


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("neurodag.report", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _write_css(folder: Path) -> None:
    """Copy the stylesheet beside the pages (replaced in one rename, safe for parallel jobs)."""
    css = (files("neurodag.report") / "templates" / CSS).read_text(encoding="utf-8")
    target = folder / CSS
    if target.is_file() and target.read_text(encoding="utf-8") == css:
        return
    tmp = folder / f".{CSS}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    tmp.write_text(css, encoding="utf-8")
    os.replace(tmp, target)


def _href(target: Path, start: Path) -> str:
    """Relative, URL-quoted link from folder ``start`` to ``target``."""
    rel = os.path.relpath(Path(target).absolute(), Path(start).absolute())
    return quote(Path(rel).as_posix())


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "session"
    slug, i = base, 1
    while slug in taken:
        i += 1
        slug = f"{base}-{i}"
    taken.add(slug)
    return slug


def _fmt_seconds(seconds: float) -> str:
    text = f"{seconds:.2f} s"
    if seconds >= 120:
        h, m = divmod(int(round(seconds / 60)), 60)
        text += f" ({h} h {m:02d} min)" if h else f" ({m} min)"
    return text


def _fmt_range(values) -> str:
    values = sorted(set(values))
    if not values:
        return ""
    lo, hi = values[0], values[-1]
    return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"


def _config_yaml(name: str, config: Mapping | None) -> str | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise ConfigError(f"datasets.{name}: expected a mapping, got {type(config).__name__}")
    plain = json.loads(json.dumps(dict(config), default=str))
    return yaml.safe_dump({name: plain}, sort_keys=False, allow_unicode=True,
                          default_flow_style=False)


def _session_section(session: collect.Session, slug: str, fig_dir: Path, link: str) -> dict:
    signal_png, psd_png = f"{slug}_signal.png", f"{slug}_psd.png"
    signal_caption = figures.plot_signal(session, fig_dir / signal_png)
    psd_caption, psd_skipped = spectra.plot_psd(session, fig_dir / psd_png)
    qc = qc_figures.session_qc(session, fig_dir, slug, link)
    if qc is not None:
        qc["href"] = _href(qc.pop("qc_path"), fig_dir.parent)
    return {
        "key": session.key,
        "anchor": f"session-{slug}",
        "signal": {"src": f"{link}/{quote(signal_png)}", "caption": signal_caption},
        "psd": None if psd_caption is None else
        {"src": f"{link}/{quote(psd_png)}", "caption": psd_caption},
        "psd_skipped": psd_skipped or "",
        "events": collect.event_counts(session),
        "provenance": collect.provenance(session),
        "qc": qc,
    }


def _channel_groups(sessions: list[collect.Session]) -> list[dict]:
    """One channel table per distinct channel set, naming the sessions that share it."""
    groups: dict[tuple, dict] = {}
    for s in sessions:
        rows = collect.channel_rows(s)
        key = tuple(tuple(r.values()) for r in rows)
        groups.setdefault(key, {"sessions": [], "rows": rows})["sessions"].append(s.key)
    return [dict(g, open=len(g["rows"]) <= OPEN_CHANNEL_ROWS) for g in groups.values()]


def _dataset_summary(name: str, description: str, page: Path, rows: list[dict]) -> dict:
    return {
        "dataset": name,
        "description": description,
        "page": page.name,
        "modality": ", ".join(dict.fromkeys(r["modality"] for r in rows)),
        "n_sessions": len(rows),
        "n_subjects": len({r["subject"] for r in rows}),
        "n_channels_min": min(r["n_channels"] for r in rows),
        "n_channels_max": max(r["n_channels"] for r in rows),
        "sfreq": sorted({r["sfreq"] for r in rows}),
        "duration_s": sum(r["duration_s"] for r in rows),
        "n_events": sum(r["n_events"] for r in rows),
        "sessions": rows,
        "neurodag_version": __version__,
        "created": now(),
    }


def _product_summary(name: str, description: str, page: Path, modality: str,
                     analyses: list[dict]) -> dict:
    """The summary of a page without sessions of signal (a connectome dataset)."""
    facts = {k: v for a in analyses for k, v in a["facts"]}
    return {
        "dataset": name, "description": description, "page": page.name, "modality": modality,
        "n_sessions": int(facts.get("annotations", 0)), "n_subjects": 0,
        "n_channels_min": 300, "n_channels_max": 300, "sfreq": [], "duration_s": 0.0,
        "n_events": 0, "sessions": [], "neurodag_version": __version__, "created": now(),
    }


def dataset_page(
    name: str,
    sessions: Mapping[str, str | Path],
    out_html: str | Path,
    *,
    description: str = "",
    config: Mapping | None = None,
    products: Mapping[str, str | Path] | None = None,
    modality: str | None = None,
) -> Path:
    """Write the report page of one dataset.

    Parameters
    ----------
    name : str
        Dataset name, as in the config.
    sessions : mapping of str to path-like
        Session id -> that session's contract store (``raw.zarr``), in display order.
    out_html : path-like
        The page, e.g. ``results/reports/{dataset}.html``. Figures and ``summary.json`` go to
        the sibling folder named after it (``results/reports/{dataset}/``).
    description : str
        A sentence or two shown under the title.
    config : mapping, optional
        The dataset's config entry, shown as YAML.
    products : mapping of str to path-like, optional
        Dataset-level products, ``{kind: path}`` with kinds of
        :data:`neurodag.report.sections.BUILDERS` (``homogenized``, ``connectome``, ...),
        each shown as a section. A page may have products and no sessions (connectomes).
    modality : str, optional
        Shown when there are no sessions to take it from.

    Returns
    -------
    Path
        ``out_html``.

    Raises
    ------
    InputError
        Naming the store of the first session that cannot be read; no page is written.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"dataset name must be a non-empty string, got {name!r}")
    out_html = Path(out_html)
    if out_html.suffix != ".html":
        raise InputError(f"{out_html}: a report page must end in .html")
    products = dict(products or {})
    if not isinstance(sessions, Mapping) or not (sessions or products):
        raise InputError(f"{out_html}: dataset {name!r} has no sessions to report")
    config_yaml = _config_yaml(name, config)
    fig_dir = out_html.with_suffix("")
    opened = [collect.open_session(k, p) for k, p in sessions.items()]
    rows = [collect.summary(s) for s in opened]
    taken: set[str] = set()
    slugs = [_slug(s.key, taken) for s in opened]
    with atomic_path(out_html) as tmp_html, atomic_path(fig_dir) as tmp_dir:
        tmp_dir.mkdir()
        link = quote(fig_dir.name)
        analyses = [sections.build(kind, path, tmp_dir, link) for kind, path in products.items()]
        summary = (_dataset_summary(name, description, out_html, rows) if rows else
                   _product_summary(name, description, out_html, modality or "", analyses))
        session_sections = [_session_section(s, slug, tmp_dir, link)
                            for s, slug in zip(opened, slugs, strict=True)]
        (tmp_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        table = [
            dict(row, anchor=f"session-{slug}", duration_text=_fmt_seconds(row["duration_s"]),
                 types_text=", ".join(f"{t} {n}" for t, n in row["channel_types"].items()))
            for row, slug in zip(rows, slugs, strict=True)
        ]
        html = _env().get_template("dataset.html").render(
            title=f"{name} — neurodag", name=name, description=description, summary=summary,
            duration_text=_fmt_seconds(summary["duration_s"]),
            sfreq_text=_fmt_range(summary["sfreq"]),
            channels_text=_fmt_range([summary["n_channels_min"], summary["n_channels_max"]]),
            config_yaml=config_yaml, sessions=table, channel_groups=_channel_groups(opened),
            sections=session_sections, analyses=analyses, summary_href=f"{link}/{SUMMARY}",
            css=CSS, archive=archive.section(opened),
        )
        tmp_html.write_text(html, encoding="utf-8")
        _write_css(out_html.parent)
    return out_html


def read_summary(page: str | Path) -> dict:
    """The summary a dataset page wrote beside itself (``{page folder}/summary.json``)."""
    path = Path(page).with_suffix("") / SUMMARY
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no summary beside the page; rebuild it with dataset_page") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable summary ({type(e).__name__})") from None


def index_page(datasets: Mapping[str, str | Path], out_html: str | Path, *,
               title: str = "neurodag") -> Path:
    """Write an index linking every dataset page, with its summary.

    Parameters
    ----------
    datasets : mapping of str to path-like
        Dataset name -> its page (written by :func:`dataset_page`), in display order.
    out_html : path-like
        The index, e.g. ``results/reports/index.html``.
    title : str
        Page title.

    Returns
    -------
    Path
        ``out_html``.

    Raises
    ------
    InputError
        Naming a page that does not exist or whose summary is missing.
    """
    out_html = Path(out_html)
    if out_html.suffix != ".html":
        raise InputError(f"{out_html}: a report page must end in .html")
    rows = []
    for name, page in datasets.items():
        page = Path(page)
        if not page.is_file():
            raise InputError(f"{page}: no report page for dataset {name!r}")
        s = read_summary(page)
        rows.append({
            "name": str(name),
            "href": _href(page, out_html.parent),
            "modality": s["modality"],
            "n_sessions": s["n_sessions"],
            "n_subjects": s["n_subjects"],
            "channels_text": _fmt_range([s["n_channels_min"], s["n_channels_max"]]),
            "sfreq_text": _fmt_range(s["sfreq"]),
            "duration_text": _fmt_seconds(s["duration_s"]),
            "n_events": s["n_events"],
            "description": s.get("description", ""),
        })
    with atomic_path(out_html) as tmp_html:
        html = _env().get_template("index.html").render(
            title=title, datasets=rows, css=_href(out_html.parent / CSS, out_html.parent),
            created=now(), version=__version__,
        )
        tmp_html.write_text(html, encoding="utf-8")
        _write_css(out_html.parent)
    return out_html
