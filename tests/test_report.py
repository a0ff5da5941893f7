"""Dataset report pages: what they show matches the stores they were made from."""

from __future__ import annotations

import re
import struct
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import yaml

from neurodag import schema, store
from neurodag.errors import InputError
from neurodag.report import collect, figures, pages

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"

EEG_CONFIG = {"modality": "eeg", "source": {"synthetic": "eeg"},
              "preprocess": {"bandpass": [1, 40]}}
EEG_SINE_V, EOG_SINE_V = 20e-6, 200e-6



class Page(HTMLParser):
    """Everything the tests read from a page: links, images, ids, tables, text by id."""

    def __init__(self, path: Path):
        super().__init__()
        self.links, self.images, self.ids = [], [], set()
        self.tables: list[dict] = []  # {"id", "class", "rows": [[cell, ...]], "open": details}
        self.text_by_id: dict[str, str] = {}
        self.pre: list[str] = []
        self._in_pre = False
        self.tags = Counter()
        self._cell = None
        self._row = None
        self._details_open: list[bool] = []
        self._capture: list[tuple[str, str, list[str]]] = []
        self.feed(path.read_text(encoding="utf-8"))
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] += 1
        if "id" in a:
            self.ids.add(a["id"])
            self._capture.append((tag, a["id"], []))
        if tag in ("a", "link") and "href" in a:
            self.links.append(a["href"])
        if tag == "img":
            self.images.append(a["src"])
        if tag == "details":
            self._details_open.append("open" in a)
        if tag == "table":
            self.tables.append({"id": a.get("id"), "class": a.get("class"), "rows": [],
                                "open": self._details_open[-1] if self._details_open else None})
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = []
        if tag == "pre":
            self.pre.append("")
            self._in_pre = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.tables[-1]["rows"].append(self._row)
            self._row = None
        if tag == "details":
            self._details_open.pop()
        if tag == "pre":
            self._in_pre = False
        if self._capture and self._capture[-1][0] == tag:
            _, id_, parts = self._capture.pop()
            self.text_by_id[id_] = "".join(parts).strip()

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for _, _, parts in self._capture:
            parts.append(data)
        if self._in_pre:
            self.pre[-1] += data

    def table(self, *, id=None, cls=None) -> list[dict]:
        return [t for t in self.tables if (id is None or t["id"] == id)
                and (cls is None or t["class"] == cls)]


def body_rows(table: dict) -> list[list[str]]:
    return table["rows"][1:]  # first row is the header


def as_dict(rows, key=0):
    return {r[key]: r for r in rows}


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def eeg_store(path: Path, *, sfreq: float, seconds: float, events, session: str, seed: int,
              n_eeg: int = 30) -> Path:
    rng = np.random.default_rng(seed)
    n = int(seconds * sfreq)
    t = np.arange(n) / sfreq
    sine = np.sin(2 * np.pi * 10 * t)[:, None]
    x = np.concatenate([EEG_SINE_V * sine + 1e-7 * rng.standard_normal((n, n_eeg)),
                        EOG_SINE_V * sine, np.zeros((n, 1))], axis=1)
    names = [f"E{i:02d}" for i in range(n_eeg)] + ["EOG", "STI"]
    types = ["eeg"] * n_eeg + ["eog", "stim"]
    pos = np.full((n_eeg + 2, 3), np.nan)
    pos[:n_eeg] = np.column_stack([np.linspace(-0.08, 0.08, n_eeg), np.full(n_eeg, 0.0123),
                                   np.full(n_eeg, 0.05)])
    ds = schema.build(x, sfreq=sfreq, channels=names, channel_types=types, modality="eeg",
                      subject="07", session=session, positions=pos, events=events,
                      source=f"/data/sub-07/ses-{session}/eeg.vhdr", source_sha256="ab" * 32)
    return store.write_signal(ds, path)


def events(labels: dict[str, int], spacing: float, first: float = 1.0) -> dict:
    lab = [k for k, n in labels.items() for _ in range(n)]
    return {"onset": first + spacing * np.arange(len(lab)), "duration": np.zeros(len(lab)),
            "label": lab}



@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Stores of four modalities and their pages, built once for the module."""
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    truth = {}
    eeg = {
        "01": eeg_store(root / "eeg01.zarr", sfreq=250.0, seconds=12.0, session="01", seed=1,
                        events=events({"standard": 5, "target": 3}, spacing=1.0)),
        "02": eeg_store(root / "eeg02.zarr", sfreq=500.0, seconds=8.0, session="02", seed=2,
                        events=events({"standard": 2, "target": 1, "novel": 1}, spacing=1.5)),
    }
    truth["eeg"] = {"01": (250.0, 12.0, 32, {"standard": 5, "target": 3}),
                    "02": (500.0, 8.0, 32, {"standard": 2, "target": 1, "novel": 1})}
    n_parcels = 48
    fmri = {}
    for ses, n_vol in (("run1", 150), ("run2", 12)):
        ds = schema.build(rng.standard_normal((n_vol, n_parcels)), sfreq=0.5,
                          channels=[f"parcel{i:02d}" for i in range(n_parcels)],
                          channel_types="bold", modality="fmri", session=ses,
                          region=[f"network{i % 7}" for i in range(n_parcels)])
        fmri[ses] = store.write_signal(ds, root / f"fmri_{ses}.zarr")
    n_cells = 40
    ds = schema.build(np.cumsum(rng.standard_normal((1800, n_cells)), axis=0) * 0.01,
                      sfreq=30.0, channels=[f"cell{i:03d}" for i in range(n_cells)],
                      channel_types="neuron", units="dF/F", modality="calcium")
    calcium = {"01": store.write_signal(ds, root / "calcium.zarr")}
    counts = (rng.random((2000, 60)) < 0.03).astype(np.float64)
    ds = schema.build(counts, sfreq=100.0, channels=[f"unit{i:02d}" for i in range(60)],
                      channel_types="neuron", units="count", modality="spikes",
                      events=events({"stim": 4}, spacing=3.0))
    spikes = {"01": store.write_signal(ds, root / "spikes.zarr")}

    out = root / "results" / "reports"
    built = {
        "eeg_study": pages.dataset_page("eeg_study", eeg, out / "eeg_study.html",
                                        description="Oddball <b>EEG</b>", config=EEG_CONFIG),
        "rest_fmri": pages.dataset_page("rest_fmri", fmri, out / "rest_fmri.html"),
        "calcium": pages.dataset_page("calcium", calcium, out / "calcium.html"),
        "spikes": pages.dataset_page("spikes", spikes, out / "spikes.html"),
    }
    index = pages.index_page(built, out / "index.html", title="All data")
    return {"root": root, "out": out, "pages": built, "index": index, "truth": truth,
            "stores": {"eeg_study": eeg, "rest_fmri": fmri, "calcium": calcium,
                       "spikes": spikes}}



def test_every_link_and_image_resolves_to_a_file(site):
    for page in [*site["pages"].values(), site["index"]]:
        p = Page(page)
        refs = p.links + p.images
        assert refs, page
        for ref in refs:
            url = urlparse(ref)
            assert not url.scheme and not url.netloc, f"{page}: non-local link {ref}"
            if not url.path:
                assert url.fragment in p.ids, f"{page}: dangling anchor {ref}"
                continue
            assert (page.parent / unquote(url.path)).is_file(), f"{page}: broken link {ref}"


def test_figures_are_readable_pngs_with_content(site):
    import matplotlib.image as mpimg

    n = 0
    for page in site["pages"].values():
        for src in Page(page).images:
            path = page.parent / unquote(src)
            width, height = png_size(path)
            assert width >= 500 and height >= 250, (path, width, height)
            assert path.stat().st_size > 10_000
            pixels = mpimg.imread(path)
            assert float(pixels[..., :3].std()) > 0.05  # not a blank canvas
            n += 1
    # eeg: 2 signal + 2 psd; fmri: 2 signal + 1 psd (run2 too short); calcium 2; spikes 2
    assert n == 4 + 3 + 2 + 2


def test_figures_live_in_the_folder_named_after_the_page(site):
    for name, page in site["pages"].items():
        for src in Page(page).images:
            assert Path(unquote(src)).parts[0] == name


def test_description_is_escaped_not_rendered_as_html(site):
    assert Page(site["pages"]["eeg_study"]).tags["b"] == 0
    assert "Oddball &lt;b&gt;EEG&lt;/b&gt;" in site["pages"]["eeg_study"].read_text()


def test_config_excerpt_is_the_dataset_entry_as_yaml(site):
    p = Page(site["pages"]["eeg_study"])
    assert yaml.safe_load(p.pre[0]) == {"eeg_study": EEG_CONFIG}



def test_session_table_matches_the_stores(site):
    p = Page(site["pages"]["eeg_study"])
    (table,) = p.table(id="session-table")
    header = table["rows"][0]
    rows = as_dict(body_rows(table))
    assert set(rows) == {"01", "02"}
    for ses, (sfreq, seconds, n_ch, ev) in site["truth"]["eeg"].items():
        r = dict(zip(header, rows[ses], strict=True))
        assert float(r["sfreq (Hz)"]) == sfreq
        assert float(r["duration"].split()[0]) == pytest.approx(seconds, abs=0.005)
        assert int(r["channels"]) == n_ch
        assert r["by type"] == "eeg 30, eog 1, stim 1"
        assert int(r["events"]) == sum(ev.values())
        assert r["subject"] == "07"
        assert r["source"] == f"/data/sub-07/ses-{ses}/eeg.vhdr"
    assert p.text_by_id["duration"].startswith("20.00 s")
    assert p.text_by_id["n-events"] == "12"
    assert p.text_by_id["sfreq"] == "250–500 Hz"


def test_event_counts_by_label_match_the_stores(site):
    p = Page(site["pages"]["eeg_study"])
    tables = p.table(cls="event-table")
    assert len(tables) == 2
    for table, (_, _, _, ev) in zip(tables, site["truth"]["eeg"].values(), strict=True):
        assert {label: int(n) for label, n in body_rows(table)} == ev


def test_channel_table_lists_every_channel_with_positions_in_mm(site):
    p = Page(site["pages"]["eeg_study"])
    ds = store.read_signal(site["stores"]["eeg_study"]["01"])
    (table,) = p.table(cls="channel-table")  # both sessions share one channel set
    header = table["rows"][0]
    rows = [dict(zip(header, r, strict=True)) for r in body_rows(table)]
    assert [r["name"] for r in rows] == ds["channel"].values.tolist()
    assert [r["type"] for r in rows] == ds["channel_type"].values.tolist()
    assert [float(r["x (mm)"]) for r in rows[:30]] == pytest.approx(
        np.linspace(-80, 80, 30), abs=0.051)
    assert {r["y (mm)"] for r in rows[:30]} == {"12.3"}
    assert rows[-1]["x (mm)"] == ""  # stim channel: position unknown
    assert table["open"] is True  # 32 channels: shown open


def test_large_channel_table_is_collapsed_and_has_regions(site):
    p = Page(site["pages"]["spikes"])
    (table,) = p.table(cls="channel-table")
    assert len(body_rows(table)) == 60
    assert table["open"] is False
    (fmri,) = Page(site["pages"]["rest_fmri"]).table(cls="channel-table")
    assert [r[3] for r in body_rows(fmri)] == [f"network{i % 7}" for i in range(48)]


def test_short_fmri_run_has_no_spectrum_and_says_why(site):
    p = Page(site["pages"]["rest_fmri"])
    assert not any("run2_psd" in src for src in p.images)
    assert any("run1_psd" in src for src in p.images)
    assert "12 samples: too few for a spectrum" in site["pages"]["rest_fmri"].read_text()


def test_trace_scale_is_per_channel_type_in_display_units(site):
    # A 10 Hz sine of amplitude A spans 2A between its 1st and 99th percentiles; a row
    # spacing is that range over ROW_FILL.
    text = site["pages"]["eeg_study"].read_text()
    eeg = float(re.search(r"eeg: 1 row = ([\d.]+) µV", text).group(1))
    eog = float(re.search(r"eog: 1 row = ([\d.]+) µV", text).group(1))
    assert eeg == pytest.approx(2 * EEG_SINE_V * 1e6 / figures.ROW_FILL, rel=0.02)
    assert eog == pytest.approx(2 * EOG_SINE_V * 1e6 / figures.ROW_FILL, rel=0.02)


def test_summary_json_matches_the_stores(site):
    s = pages.read_summary(site["pages"]["eeg_study"])
    assert s["n_sessions"] == 2 and s["n_events"] == 12
    assert s["sfreq"] == [250.0, 500.0]
    assert s["duration_s"] == pytest.approx(20.0)
    assert [x["events"] for x in s["sessions"]] == [
        dict(sorted(ev.items())) for *_, ev in site["truth"]["eeg"].values()]



def test_index_links_every_dataset_page_with_its_summary(site):
    p = Page(site["index"])
    (table,) = p.table(id="dataset-table")
    header = table["rows"][0]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in body_rows(table)}
    assert set(rows) == set(site["pages"])
    assert sorted(unquote(h) for h in p.links if h.endswith(".html")) == sorted(
        f"{name}.html" for name in site["pages"])
    assert rows["eeg_study"]["modality"] == "eeg"
    assert rows["eeg_study"]["sessions"] == "2"
    assert rows["rest_fmri"]["sfreq (Hz)"] == "0.5"
    assert rows["rest_fmri"]["duration"].startswith("324.00 s")  # (150 + 12) volumes x 2 s
    assert rows["spikes"]["events"] == "4"
    assert rows["calcium"]["channels"] == "40"


def test_index_links_are_relative_from_another_folder(site, tmp_path):
    index = pages.index_page({"calcium": site["pages"]["calcium"]}, tmp_path / "site" / "i.html")
    (href,) = [h for h in Page(index).links if h.endswith(".html")]
    assert not Path(unquote(href)).is_absolute()
    assert (index.parent / unquote(href)).resolve() == site["pages"]["calcium"].resolve()
    assert (index.parent / "style.css").is_file()


def test_index_without_a_summary_names_the_missing_file(tmp_path):
    page = tmp_path / "orphan.html"
    page.write_text("<html></html>")
    with pytest.raises(InputError, match=r"orphan[/\\]summary\.json: no summary"):
        pages.index_page({"orphan": page}, tmp_path / "index.html")
    assert not (tmp_path / "index.html").exists()



def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_missing_store_leaves_no_page_and_names_it(site, tmp_path):
    out = tmp_path / "reports" / "broken.html"
    sessions = {"01": site["stores"]["calcium"]["01"], "02": tmp_path / "nope.zarr"}
    with pytest.raises(InputError) as err:
        pages.dataset_page("broken", sessions, out)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "nope.zarr") in msg
    assert not out.exists() and not out.with_suffix("").exists()
    assert _leftovers(out.parent) == []


def test_corrupt_chunk_midway_leaves_no_page_and_names_the_store(site, tmp_path):
    import shutil

    bad = tmp_path / "bad.zarr"
    shutil.copytree(site["stores"]["calcium"]["01"], bad)
    chunks = sorted(p for p in (bad / "signal").rglob("*") if p.is_file() and p.name != "zarr.json")
    assert chunks
    for c in chunks:
        c.write_bytes(b"not a compressed chunk")
    out = tmp_path / "reports" / "bad.html"
    sessions = {"good": site["stores"]["spikes"]["01"], "bad": bad}
    with pytest.raises(InputError) as err:
        pages.dataset_page("bad", sessions, out)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{bad}: cannot read samples")
    assert _leftovers(out.parent) == []  # no page, no figure folder, no temporaries


def test_rebuilding_a_page_replaces_it_whole(site, tmp_path):
    out = tmp_path / "r" / "ds.html"
    pages.dataset_page("ds", {"a": site["stores"]["calcium"]["01"]}, out)
    pages.dataset_page("ds", {"b": site["stores"]["spikes"]["01"]}, out)
    assert sorted(p.name for p in out.with_suffix("").iterdir()) == [
        "b_psd.png", "b_signal.png", "summary.json"]
    assert _leftovers(out.parent) == ["ds", "ds.html", "style.css"]


def test_bad_arguments_raise_one_line_input_errors(site, tmp_path):
    one = {"01": site["stores"]["calcium"]["01"]}
    with pytest.raises(InputError, match="must end in .html"):
        pages.dataset_page("x", one, tmp_path / "x.htm")
    with pytest.raises(InputError, match="has no sessions"):
        pages.dataset_page("x", {}, tmp_path / "x.html")
    with pytest.raises(InputError, match=r"datasets\.x: expected a mapping"):
        pages.dataset_page("x", one, tmp_path / "x.html", config=["not", "a", "mapping"])



def test_long_recording_reads_at_most_a_minute_of_samples(tmp_path, monkeypatch):
    sfreq, minutes = 200.0, 10
    n = int(minutes * 60 * sfreq)
    x = np.random.default_rng(3).standard_normal((n, 4)) * 1e-5
    path = store.write_signal(schema.build(x, sfreq=sfreq, channels=list("abcd"),
                                           channel_types="eeg", modality="eeg"),
                              tmp_path / "long.zarr")
    read = []
    real = collect.load_window

    def spy(session, start, stop, channels=None):
        read.append(stop - start)
        return real(session, start, stop, channels)

    monkeypatch.setattr(figures, "load_window", spy)
    monkeypatch.setattr(pages.spectra, "load_window", spy)
    page = pages.dataset_page("long", {"01": path}, tmp_path / "long.html")
    assert read == [int(figures.TRACE_SECONDS * sfreq), int(60 * sfreq)]
    (table,) = Page(page).table(id="session-table")
    assert body_rows(table)[0][5].startswith("600.00 s (10 min)")


def test_large_arrays_show_a_subset_of_traces_spanning_the_array(tmp_path):
    n_ch = 128
    ds = schema.build(np.zeros((100, n_ch + 2)), sfreq=100.0,
                      channels=[f"c{i}" for i in range(n_ch)] + ["EOG1", "EOG2"],
                      channel_types=["seeg"] * n_ch + ["eog", "eog"], modality="seeg")
    session = collect.open_session("01", store.write_signal(ds, tmp_path / "s.zarr"))
    picks = figures.trace_channels(session)
    assert len(picks) == figures.MAX_TRACES + 2
    assert picks[0] == 0 and n_ch - 1 in picks and {n_ch, n_ch + 1} <= set(picks)


def test_trace_envelope_spans_the_window_and_keeps_every_peak():
    n = 7900  # not a multiple of the number of bins
    time_s = np.arange(n) / 1000.0
    x = np.random.default_rng(4).standard_normal((n, 2))
    x[-1, 0], x[3, 1] = 50.0, -50.0
    t, env = figures._envelope(time_s, x)
    assert env.shape[0] <= figures.MAX_PLOT_POINTS
    assert t[-1] >= time_s[-1] - 2 * n / figures.MAX_PLOT_POINTS / 1000.0
    np.testing.assert_array_equal(env.max(axis=0), x.max(axis=0))
    np.testing.assert_array_equal(env.min(axis=0), x.min(axis=0))


def test_small_arrays_show_every_channel_as_a_trace(site):
    # 30 EEG + EOG + stim fit on one figure: nothing is left out.
    assert site["pages"]["eeg_study"].read_text().count("all 32 channels, samples") == 2



def _contract_from_mne(raw, modality: str):
    kinds = {"eeg", "mag", "grad", "eog", "ecg", "emg", "stim", "misc", "seeg", "ecog"}
    types = [t if t in kinds else "misc" for t in raw.get_channel_types()]
    ann = raw.annotations
    return schema.build(
        raw.get_data().T, sfreq=raw.info["sfreq"], channels=raw.ch_names, channel_types=types,
        modality=modality, positions=np.array([ch["loc"][:3] for ch in raw.info["chs"]]),
        events={"onset": ann.onset, "duration": ann.duration, "label": ann.description},
        source=str(raw.filenames[0]),
    )


@pytest.mark.skipif(not REAL.is_dir(), reason="real recordings not available")
def test_real_brainvision_and_kit_recordings(tmp_path):
    mne = pytest.importorskip("mne")
    eeg = mne.io.read_raw_brainvision(REAL / "test.vhdr", preload=True, verbose="error")
    meg = mne.io.read_raw_kit(REAL / "test.sqd", preload=True, verbose="error")
    eeg_page = pages.dataset_page(
        "vhdr", {"01": store.write_signal(_contract_from_mne(eeg, "eeg"), tmp_path / "e.zarr")},
        tmp_path / "reports" / "vhdr.html")
    meg_page = pages.dataset_page(
        "kit", {"01": store.write_signal(_contract_from_mne(meg, "meg"), tmp_path / "m.zarr")},
        tmp_path / "reports" / "kit.html")

    p = Page(eeg_page)
    header, row = p.table(id="session-table")[0]["rows"]
    r = dict(zip(header, row, strict=True))
    assert int(r["channels"]) == len(eeg.ch_names) == 32
    assert float(r["sfreq (Hz)"]) == eeg.info["sfreq"] == 1000.0
    assert float(r["duration"].split()[0]) == pytest.approx(eeg.n_times / 1000.0)
    (events_table,) = p.table(cls="event-table")
    assert {k: int(v) for k, v in body_rows(events_table)} == Counter(eeg.annotations.description)

    p = Page(meg_page)
    (channels,) = p.table(cls="channel-table")
    assert [row[0] for row in body_rows(channels)] == meg.ch_names
    assert channels["open"] is False  # 193 channels
    assert "mag: 1 row = " in meg_page.read_text() and " fT" in meg_page.read_text()
    for src in p.images:
        assert png_size(meg_page.parent / unquote(src))[0] >= 500


@pytest.mark.parametrize(("text", "message"), [
    ("{", r"s1/metrics.json: unreadable metrics.json \(JSONDecodeError"),
    ('{"session": "s1"}', r"s1/metrics.json: metrics.json lacks 'modality'; rerun its step"),
])
def test_a_corrupt_or_incomplete_metrics_file_is_one_line(tmp_path, text, message):
    from neurodag.report import sections

    folder = tmp_path / "glmhmm" / "s1"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(text)
    with pytest.raises(InputError, match=message):
        sections.build("glmhmm", {"s1": folder}, tmp_path / "figs", "figs")
