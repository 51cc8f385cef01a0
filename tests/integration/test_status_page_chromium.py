"""The status page in a real browser: ``irdrive status-page build`` run as a command over
records full of internal detail, then Debian's headless Chromium at a phone's viewport
(390x844): a screenshot of the right size that is not blank, the page laid out without
sideways scrolling and with readable text, and the text Chromium rendered holding the public
wording and none of the internal fields. No lab needed; scripts/system-deps installs chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import requires
from incident_pages import INTERNAL, PUBLIC, RESPONDER, seed

from irdrive.incidents.store import open_incidents

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = (390, 844)

pytestmark = [
    pytest.mark.slow,
    requires(CHROMIUM, "chromium (Debian's package; scripts/system-deps installs it)"),
]

# What Chromium laid out, measured in a frame of a phone's width around the page (headless
# Chromium keeps its window at least 500 pixels wide when it dumps the DOM; the screenshot
# is taken at the phone's size itself). The page has no script; this harness does.
HARNESS = """<!DOCTYPE html>
<html lang="en"><body style="margin:0">
<iframe id="page" src="%(page)s" style="border:0;width:%(w)dpx;height:%(h)dpx"></iframe>
<script>
document.getElementById("page").addEventListener("load", (event) => {
  const doc = event.target.contentDocument;
  const win = event.target.contentWindow;
  const texts = [...doc.querySelectorAll("main *")].filter((e) =>
    [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    text: doc.body.innerText,
    dom: doc.documentElement.outerHTML,
    scrollWidth: doc.documentElement.scrollWidth,
    viewport: win.innerWidth,
    fontSize: parseFloat(win.getComputedStyle(doc.body).fontSize),
    smallest: Math.min(...texts.map((e) => parseFloat(win.getComputedStyle(e).fontSize))),
  });
  document.body.appendChild(out);
});
</script>
</body></html>
"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # root in CI containers
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={PHONE[0]},{PHONE[1]}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and how many distinct byte values the image's pixel data has."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


class Probe(HTMLParser):
    """The harness's findings: the text of its <pre id="probe">."""

    def __init__(self) -> None:
        super().__init__()
        self.probe = ""
        self._in_probe = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_probe = ("id", "probe") in attrs

    def handle_endtag(self, tag: str) -> None:
        self._in_probe = False

    def handle_data(self, data: str) -> None:
        if self._in_probe:
            self.probe += data


def test_status_page_in_headless_chromium(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["IRDRIVE_DB_URL"] = f"sqlite:///{tmp_path / 'history.db'}"
    env["IRDRIVE_USER"] = RESPONDER
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "driver"), str(REPO / "lab")])
    os.environ["IRDRIVE_DB_URL"] = env["IRDRIVE_DB_URL"]
    try:
        with open_incidents() as store:
            ids = seed(store, datetime.now(UTC))
    finally:
        del os.environ["IRDRIVE_DB_URL"]
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "irdrive.cli", "status-page", "build", str(site), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["active"] == 2

    shot = tmp_path / "phone.png"
    result = chromium(tmp_path / "profile", f"--screenshot={shot}", (site / "index.html").as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    width, height, distinct = png_facts(shot.read_bytes())
    assert (width, height) == PHONE
    assert distinct > 16, "the screenshot is blank"

    # Layout at the phone's width, measured by the harness around the page.
    harness = tmp_path / "harness.html"
    page = (site / "index.html").as_uri()
    harness.write_text(HARNESS % {"page": page, "w": PHONE[0], "h": PHONE[1]})
    laid = chromium(
        tmp_path / "profile",
        "--allow-file-access-from-files",
        "--virtual-time-budget=3000",
        "--dump-dom",
        harness.as_uri(),
    )
    assert laid.returncode == 0, laid.stderr[-2000:]
    found = Probe()
    found.feed(laid.stdout)
    facts = json.loads(found.probe)
    assert facts["viewport"] == PHONE[0]
    assert facts["scrollWidth"] <= PHONE[0], "the page scrolls sideways on a phone"
    assert facts["fontSize"] >= 16 and facts["smallest"] >= 14, facts
    rendered = " ".join(facts["text"].split())
    for public in (*PUBLIC.values(), "Major outage", "Service disruption affecting streaming"):
        assert public in rendered, public
    assert "Impact: Partial outage" in rendered and "Status: Identified" in rendered
    for name, value in INTERNAL.items():
        assert value not in facts["dom"], f"internal {name} in the page's DOM"
        assert value not in rendered, f"internal {name} rendered"
    assert ids["p1"] in (site / "status.json").read_text()
