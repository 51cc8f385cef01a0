"""The public status page (irdrive.incidents.statuspage, ``irdrive status-page build``): the
page data is an allow-list (a record full of internal fields, addresses and a canary shows none
of them), the JSON feed keeps its schema, the window and the overall status, the public wording
of status updates, the page's accessibility basics and contrast, atomic writes, and the
command's one-line refusals that write nothing. In Chromium:
tests/integration/test_status_page_chromium.py."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from incident_pages import CANARY, INTERNAL, PUBLIC, RESPONDER, seed

from irdrive.cli import cli
from irdrive.errors import UsageError
from irdrive.incidents import statuspage as sp
from irdrive.incidents.model import Incident, TimelineEntry
from irdrive.incidents.store import IncidentStore, open_incidents

NOW = datetime(2026, 12, 2, 3, 15, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IncidentStore]:
    monkeypatch.setenv("IRDRIVE_DB_URL", f"sqlite:///{tmp_path / 'history.db'}")
    monkeypatch.setenv("IRDRIVE_USER", RESPONDER)
    with open_incidents() as store:
        yield store


@pytest.fixture
def seeded(db: IncidentStore) -> dict[str, Any]:
    return seed(db, NOW)


def built(db: IncidentStore, folder: Path, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    sp.build(db, folder, now=NOW, **kwargs)
    html = (folder / "index.html").read_text()
    feed = json.loads((folder / "status.json").read_text())
    return html, feed


# -- the allow-list ---------------------------------------------------------------------------


def test_no_internal_field_reaches_the_page_or_the_feed(
    db: IncidentStore, seeded: dict[str, Any], tmp_path: Path
) -> None:
    html, feed = built(db, tmp_path / "site")
    raw_json = (tmp_path / "site" / "status.json").read_text()
    for name, value in INTERNAL.items():
        assert value not in html, f"internal {name} in index.html"
        assert value not in raw_json, f"internal {name} in status.json"
    # pieces of them too: the host's short name, the run's actor, the address's first octets
    for fragment in ("pay-db-01", "10.20.", "192.0.2", "Carla", "Ursula", "CHG-4711", "run:"):
        assert fragment not in html and fragment not in raw_json, fragment
    for text in PUBLIC.values():
        assert text in html and text in raw_json
    assert "Service disruption affecting streaming" in html  # the P0 has no public text


class Guarded:
    """Stands in for a record: reading any attribute outside ``allowed`` fails the test."""

    def __init__(self, real: Any, allowed: set[str]) -> None:
        self._real, self._allowed = real, allowed

    def __getattr__(self, name: str) -> Any:
        if name not in self._allowed:
            raise AssertionError(f"the status page read {type(self._real).__name__}.{name}")
        return getattr(self._real, name)


class GuardedData(dict[str, Any]):
    """An entry's data: reading a key outside ``allowed`` fails the test."""

    def __init__(self, data: dict[str, Any], allowed: set[str]) -> None:
        super().__init__(data)
        self._allowed = allowed

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self._allowed:
            raise AssertionError(f"the status page read entry data {key!r}")
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.get(key)


INCIDENT_READS = {
    "id",
    "severity",
    "status",
    "services",
    "public_summary",
    "started_at",
    "detected_at",
    "resolved_at",
    "closed_at",
    "is_open",
}
ENTRY_READS = {"seq", "kind", "at", "data"}
DATA_READS = {"to", "reopen", "field", "after"}


def test_the_page_data_reads_only_the_allowed_fields(
    db: IncidentStore, seeded: dict[str, Any]
) -> None:
    incident = db.get(seeded["p1"])
    entries = db.timeline(incident.id)
    guarded_entries = [
        Guarded(
            TimelineEntry(**{**e.__dict__, "data": GuardedData(e.data, DATA_READS)}), ENTRY_READS
        )
        for e in entries
    ]
    item = sp.public_incident(
        Guarded(incident, INCIDENT_READS),  # type: ignore[arg-type]
        guarded_entries,  # type: ignore[arg-type]
        NOW,
    )
    assert set(item) == set(sp.FEED_SCHEMA["$defs"]["incident"]["properties"])
    assert item["name"] == PUBLIC["summary_1"]
    assert item["message"] == PUBLIC["summary_2"]
    assert item["services"] == ["payments", "checkout"]


def test_addresses_and_secret_environment_values_are_withheld_from_public_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGPASSWORD", CANARY)
    clean = sp.PublicText()
    text = clean(
        f"Blocked 203.0.113.9, 198.51.100.0/24 and 2001:db8::1 (key {CANARY}); "
        "release 1.2.3 at 03:15:00, ratio 10.5, build 1.2.3.4567. Traffic from 192.0.2.1."
    )
    for address in ("203.0.113.9", "198.51.100.0", "2001:db8", "192.0.2.1"):
        assert address not in text
    assert CANARY not in text
    assert text.count(sp.WITHHELD) == 4
    assert "release 1.2.3 at 03:15:00, ratio 10.5, build 1.2.3.4567." in text  # kept
    assert text.endswith(f"Traffic from {sp.WITHHELD}.")
    assert clean.withheld == 1 and clean("no address here") == "no address here"
    clean("10.0.0.1")
    assert clean.withheld == 2


def test_a_secret_in_the_environment_never_reaches_the_files(
    db: IncidentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The canary rule: a secret a run had in its environment stays out of the page even when
    a responder pastes it into the public summary."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    incident = db.open(
        title="t", severity="P2", actor=RESPONDER, services=["api"], now=NOW - timedelta(hours=1)
    )
    db.update(incident.id, actor=RESPONDER, public_summary=f"Errors. debug={CANARY}", now=NOW)
    result = CliRunner().invoke(cli, ["status-page", "build", str(tmp_path / "site"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["withheld"] == 1
    assert "Warning: IP addresses or secret values withheld from 1 public text(s)" in (
        result.stderr
    )
    html = (tmp_path / "site" / "index.html").read_text()
    data = (tmp_path / "site" / "status.json").read_text()
    assert CANARY not in html and CANARY not in data and CANARY not in result.output
    assert "Errors. debug=********" in data


# -- the feed ---------------------------------------------------------------------------------


def test_the_feed_keeps_its_schema_window_and_order(
    db: IncidentStore, seeded: dict[str, Any], tmp_path: Path
) -> None:
    _, feed = built(db, tmp_path / "site")
    jsonschema.validate(feed, sp.FEED_SCHEMA)
    assert feed["generated_at"] == "2026-12-02T03:15:00Z"
    assert feed["status"] == {"status": "major_outage", "label": "Major outage"}  # the P0
    assert [i["id"] for i in feed["active"]] == [seeded["p0"], seeded["p1"]]  # worst first
    assert [i["id"] for i in feed["recent"]] == [seeded["resolved"]]  # the P3 is 20 days old
    assert feed["affected_services"] == [
        {"name": "checkout", "impact": "partial_outage", "impact_label": "Partial outage"},
        {"name": "payments", "impact": "partial_outage", "impact_label": "Partial outage"},
        {"name": "streaming", "impact": "major_outage", "impact_label": "Major outage"},
    ]
    p1 = feed["active"][1]
    assert p1["started_at"] == "2026-12-02T02:25:00Z"  # the impact began before detection
    assert p1["resolved_at"] is None and p1["duration_s"] == 50 * 60
    assert p1["status"] == "identified" and p1["impact"] == "partial_outage"
    resolved = feed["recent"][0]
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == "2026-11-29T03:15:00Z"
    assert resolved["duration_s"] == 2 * 3600

    _, wide = built(db, tmp_path / "wide", days=30)
    jsonschema.validate(wide, sp.FEED_SCHEMA)
    assert [i["id"] for i in wide["recent"]] == [seeded["resolved"], seeded["old"]]


def test_open_incidents_come_first_when_there_are_too_many(
    db: IncidentStore, seeded: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_open = db.open(
        title="x", severity="P3", actor=RESPONDER, services=["search"], now=NOW - timedelta(10)
    )
    monkeypatch.setattr(sp, "MAX_INCIDENTS", 3)
    _, feed = built(db, tmp_path / "site")
    assert {i["id"] for i in feed["active"]} == {seeded["p0"], seeded["p1"], old_open.id}
    assert feed["recent"] == []


def test_public_text_is_escaped_in_the_page(db: IncidentStore, tmp_path: Path) -> None:
    inc = db.open(title="t", severity="P2", actor=RESPONDER, services=["<b>api</b>"], now=NOW)
    db.update(inc.id, actor=RESPONDER, public_summary='<script>alert("x")</script> & more')
    html, feed = built(db, tmp_path / "site", title="Status <i>now</i>")
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in html
    assert feed["active"][0]["name"] == '<script>alert("x")</script> & more'  # JSON: as typed


def test_an_empty_store_is_all_systems_operational(db: IncidentStore, tmp_path: Path) -> None:
    html, feed = built(db, tmp_path / "site", title="Example status")
    jsonschema.validate(feed, sp.FEED_SCHEMA)
    assert feed["status"] == {"status": "operational", "label": "All systems operational"}
    assert feed["active"] == feed["recent"] == feed["affected_services"] == []
    assert "All systems operational" in html and "No active incidents." in html
    assert "<title>All systems operational · Example status</title>" in html


def test_status_updates_use_public_wording_only(db: IncidentStore) -> None:
    inc = db.open(title="internal", severity="P2", actor=RESPONDER, services=["api"], now=NOW)
    at = NOW
    for status, note in (
        ("IDENTIFIED", "db-7 is the culprit"),
        ("MONITORING", "restarted pgbouncer"),
        ("RESOLVED", "done, thanks all"),
        ("CLOSED", "post-mortem filed"),
    ):
        at += timedelta(minutes=10)
        db.set_status(inc.id, status, actor=RESPONDER, note=note, now=at)
    db.set_status(inc.id, "INVESTIGATING", actor=RESPONDER, reopen=True, now=at + timedelta(1))
    db.update(
        inc.id, actor=RESPONDER, severity="P1", services=["api", "web"], now=at + timedelta(2)
    )
    incident = db.get(inc.id)
    item = sp.public_incident(incident, db.timeline(inc.id), at + timedelta(3))
    messages = [(u["status"], u["message"]) for u in reversed(item["updates"])]
    assert messages == [
        ("investigating", sp.STATUS_WORDING["INVESTIGATING"]),
        ("identified", sp.STATUS_WORDING["IDENTIFIED"]),
        ("monitoring", sp.STATUS_WORDING["MONITORING"]),
        ("resolved", sp.STATUS_WORDING["RESOLVED"]),
        ("investigating", sp.REOPENED_WORDING),  # CLOSED told users nothing new
        ("investigating", "The impact is now: partial outage."),
        ("investigating", "Affected services: api, web."),
    ]
    assert item["active"] and item["resolved_at"] is None and item["impact"] == "partial_outage"


def test_a_long_public_summary_is_shortened_for_the_headline() -> None:
    long = "Payments " + "are slow " * 30 + "today."
    incident = Incident(
        id="INC-20261202-031500",
        title="x",
        severity="P3",
        public_summary=long,
        started_at=NOW,
        detected_at=NOW,
    )
    item = sp.public_incident(incident, [], NOW)
    assert item["name"].endswith("…") and len(item["name"]) <= sp.MAX_HEADLINE
    assert item["message"] == " ".join(long.split())
    assert item["impact_label"] == "Minor issue" and item["updates"] == []


# -- the page ---------------------------------------------------------------------------------


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def test_the_page_is_semantic_self_contained_html(
    db: IncidentStore, seeded: dict[str, Any], tmp_path: Path
) -> None:
    html, feed = built(db, tmp_path / "site")
    assert html.startswith("<!DOCTYPE html>\n")
    page = Outline()
    page.feed(html)
    assert page.all("html") == [{"lang": "en"}]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in page.all(
        "meta"
    )
    for landmark in ("header", "main", "footer"):
        assert len(page.all(landmark)) == 1, landmark
    assert len(page.all("h1")) == 1 and len(page.all("h2")) == 3
    assert len(page.all("h3")) >= 3 and len(page.all("article")) == 3
    assert not page.all("script") and not page.all("img") and not page.all("iframe")
    for attrs in page.all("link") + page.all("a"):
        assert not str(attrs.get("href")).startswith(("http:", "https:", "//")), attrs
    times = [attrs["datetime"] for attrs in page.all("time")]
    assert times and all(datetime.fromisoformat(str(t)).tzinfo is not None for t in times), times
    # The status is told in words, not by colour alone.
    for label in ("Major outage", "Impact: Partial outage", "Status: Identified", "Resolved"):
        assert label in html
    assert "Last updated" in html and "Times are in UTC" in html


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("scheme", sorted(sp.PALETTE))
def test_text_colours_meet_wcag_aa(scheme: str) -> None:
    p = sp.PALETTE[scheme]
    for fg in ("fg", "muted", "link"):
        for bg in ("bg", "card"):
            assert contrast(p[fg], p[bg]) >= 4.5, (scheme, fg, bg)
    for key, (background, _) in sp.BADGES.items():
        assert contrast(sp.BADGE_FG, background) >= 4.5, key


def test_contrast_check_can_fail() -> None:
    assert contrast("#777777", "#ffffff") < 4.5 < contrast("#000000", "#ffffff")


# -- writing ----------------------------------------------------------------------------------


def test_files_are_replaced_whole_and_readable_by_a_web_server(
    db: IncidentStore, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("old page")
    built(db, site)
    assert sorted(p.name for p in site.iterdir()) == ["index.html", "status.json"]  # no temps
    for name in sp.FILES:
        assert stat.S_IMODE((site / name).stat().st_mode) == 0o644
    assert "old page" not in (site / "index.html").read_text()


def test_a_failed_write_leaves_the_old_files_and_no_temporary_ones(
    db: IncidentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("old page")
    (site / "status.json").write_text("{}")
    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(sp.os, "fsync", failing_fsync)
    with pytest.raises(sp.IrdriveError, match="No space left on device"):
        sp.build(db, site, now=NOW)
    assert (site / "index.html").read_text() == "old page"
    assert (site / "status.json").read_text() == "{}"
    assert sorted(p.name for p in site.iterdir()) == ["index.html", "status.json"]


# -- the command ------------------------------------------------------------------------------


def test_build_command_json_and_human_output(
    db: IncidentStore, seeded: dict[str, Any], tmp_path: Path
) -> None:
    site = tmp_path / "www" / "status"
    result = CliRunner().invoke(cli, ["status-page", "build", str(site), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["files"] == [str(site / "index.html"), str(site / "status.json")]
    assert out["status"] == {"status": "major_outage", "label": "Major outage"}
    assert out["active"] == 2 and out["recent"] == 1
    assert (site / "index.html").is_file() and (site / "status.json").is_file()

    human = CliRunner().invoke(cli, ["status-page", "build", str(site), "--days", "30"])
    assert human.exit_code == 0, human.output
    assert "Status page: Major outage" in human.output
    assert seeded["old"] in human.output and f"Wrote {site / 'index.html'}" in human.output
    for value in (INTERNAL["title"], INTERNAL["commander"], INTERNAL["ip"]):
        assert value not in human.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days must be from 1 to 366, not 0"),
        (["--days", "400"], "--days must be from 1 to 366, not 400"),
        (["--title", "  "], "--title cannot be empty"),
        (["--title", "x" * 101], "--title is longer than 100 characters"),
    ],
)
def test_bad_options_are_refused_and_write_nothing(
    db: IncidentStore, tmp_path: Path, args: list[str], message: str
) -> None:
    site = tmp_path / "site"
    result = CliRunner().invoke(cli, ["status-page", "build", str(site), *args])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"Error: {message}"]
    assert not site.exists()


def test_a_file_in_the_way_is_refused(db: IncidentStore, tmp_path: Path) -> None:
    blocker = tmp_path / "site"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="exists and is not a folder"):
        sp.build(db, blocker, now=NOW)
    nested = CliRunner().invoke(cli, ["status-page", "build", str(blocker / "inner")])
    assert nested.exit_code == 2 and "is not a folder" in nested.output
    assert blocker.read_text() == "not a folder"


def test_an_unreachable_database_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRDRIVE_DB_URL", "postgresql://irdrive:pw-canary@127.0.0.1:1/irdrive")
    site = tmp_path / "site"
    result = CliRunner().invoke(cli, ["status-page", "build", str(site)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "pw-canary" not in result.output
    assert not site.exists()
