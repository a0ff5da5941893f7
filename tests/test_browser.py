"""Report pages in a real browser: headless Chromium from the file system, offline.

Each page is loaded with ``file://``; the test fails on a console message (our pages run no
scripts, so any message is an error), a link or image that does not resolve to a file, an
image that is not a readable PNG, or a blank screenshot. Debian's chromium is installed
when missing (root with apt-get), else the tests skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(cmd, capture_output=True, env=env, timeout=900).returncode:
            pytest.skip(f"could not install chromium ({' '.join(cmd)})")
    return shutil.which("chromium")


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append((tag, a[key]))


def _load(chromium: str, page: Path, tmp_path: Path) -> tuple[str, str, Path]:
    """The page's DOM after loading, the browser's log, and a screenshot."""
    shot = tmp_path / f"{page.stem}.png"
    common = [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    shot_run = subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,2400",
                               page.resolve().as_uri()], capture_output=True, text=True,
                              timeout=120)
    return dom.stdout, dom.stderr + shot_run.stderr, shot


def _check_page(chromium: str, page: Path, tmp_path: Path) -> None:
    from PIL import Image

    dom, log, shot = _load(chromium, page, tmp_path)
    console = [line for line in log.splitlines() if ":CONSOLE" in line]
    assert console == [], f"{page.name}: console messages {console[:3]}"
    parser = _Refs()
    parser.feed(dom)
    assert parser.refs, f"{page.name}: the DOM dump is empty"
    for tag, ref in parser.refs:
        url = urlparse(ref)
        assert url.scheme in ("", "file"), f"{page.name}: {ref} leaves the file system"
        if not url.path:  # an anchor on this page
            assert url.fragment in parser.ids, f"{page.name}: no #{url.fragment}"
            continue
        target = (page.parent / unquote(url.path)).resolve()
        assert target.exists(), f"{page.name}: broken {tag} {ref}"
        if tag == "img":
            with Image.open(target) as img:
                img.verify()
                assert img.format == "PNG"
    with Image.open(shot) as img:
        colours = img.convert("L").getextrema()
        assert img.size[0] >= 1000 and colours[1] - colours[0] > 50, f"{page.name}: blank"


def test_index_and_every_dataset_page_work_offline(chromium, small_run, tmp_path):
    reports = small_run / "results" / "reports"
    index = reports / "index.html"
    _check_page(chromium, index, tmp_path)
    linked = set(re.findall(r'href="([^"#]+\.html)"', index.read_text()))
    assert {Path(h).stem for h in linked} == {"tiny_eeg", "tiny_fmri", "tiny_worm",
                                             "tiny_spikes"}
    for href in sorted(linked):
        _check_page(chromium, reports / unquote(href), tmp_path)


def test_a_broken_image_fails_the_check(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<html><body><p>x</p><img src="missing.png"></body></html>')
    with pytest.raises(AssertionError, match="broken img missing.png"):
        _check_page(chromium, page, tmp_path)


def test_a_console_error_fails_the_check(chromium, tmp_path):
    page = tmp_path / "script.html"
    page.write_text('<html><body><p>x</p><script>console.error("boom")</script></body></html>')
    with pytest.raises(AssertionError, match="console messages"):
        _check_page(chromium, page, tmp_path)
