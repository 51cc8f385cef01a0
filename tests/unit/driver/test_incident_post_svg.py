"""The post-mortem's timeline picture: valid XML with a title and description, the marks of
detection, status changes, actions, verifications and recovery in time order (their x order
follows their times), the severity targets drawn inside the axis or named beyond it, and the
same bytes for the same record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
from incident_post_records import CANARY, Env, at, make_env, resolved_p1

from irdrive.incidents.store import NewEntry
from irdrive.incidents.svg import LEFT, RIGHT, WIDTH, timeline_svg

NS = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    return make_env(tmp_path, monkeypatch)


def shape_x(group: ElementTree.Element) -> float:
    """The x of a mark's shape: a circle's centre, a square's centre, a polygon's top point."""
    for child in group:
        if child.tag == NS + "circle":
            return float(child.get("cx", "nan"))
        if child.tag == NS + "rect":
            return float(child.get("x", "nan")) + 6
        if child.tag == NS + "polygon":
            return float(child.get("points", "").split()[0].split(",")[0])
    raise AssertionError("a mark without a shape")


def parse(text: str) -> ElementTree.Element:
    return ElementTree.fromstring(text.encode())


def marks(root: ElementTree.Element) -> list[ElementTree.Element]:
    return [g for g in root.iter(NS + "g") if g.get("class") == "mark"]


def targets(root: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {g.get("data-target", ""): g for g in root.iter(NS + "g") if g.get("class") == "target"}


def test_resolved_incident_marks_in_order_with_targets(env: Env) -> None:
    with env.store() as store:
        inc = resolved_p1(store)
        entries = store.timeline(inc.id)
    text = timeline_svg(inc, entries, NOW)
    root = parse(text)
    assert root.tag == NS + "svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "pm-title pm-desc"
    title = root.find(NS + "title")
    desc = root.find(NS + "desc")
    assert title is not None and title.text == f"Timeline of {inc.id} (P1): Payments failing"
    assert desc is not None and desc.text is not None
    assert "acknowledged 6m 00s after detection (respond target 30m 00s: met)" in desc.text
    assert "resolved 1h 10m after the start (resolve target 4h 00m: met)" in desc.text
    assert "1 changes and 1 verifications" in desc.text

    found = marks(root)
    assert [(g.get("data-kind"), g.get("data-lane")) for g in found] == [
        ("started", "detection"),
        ("detected", "detection"),
        ("status", "status"),  # IDENTIFIED
        ("change", "action"),
        ("verify", "verify"),
        ("status", "status"),  # MONITORING
        ("resolved", "recovery"),
    ]
    assert [g.get("data-at") for g in found] == [
        at(m).isoformat() for m in (0, 4, 10, 13, 15, 20, 70)
    ]
    xs = [shape_x(g) for g in found]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    # The axis runs from the impact (left edge) to the resolution (right edge).
    assert xs[0] == pytest.approx(LEFT) and xs[-1] == pytest.approx(WIDTH - RIGHT)
    texts = ["".join(g.itertext()) for g in found]
    assert texts[3].endswith("payments processor: primary -…")  # labels are cut at 30
    assert "payments processor: primary -> segpay" in texts[3]  # the tooltip has it whole

    # Respond target: detection (4m) + 30m = 34m, inside the 70-minute axis, with its band.
    drawn = targets(root)
    respond = drawn["respond"]
    assert respond.get("data-at") == at(34).isoformat() and respond.get("data-beyond") is None
    line = respond.find(NS + "line")
    assert line is not None
    x = float(line.get("x1", "nan"))
    assert x == pytest.approx(LEFT + (WIDTH - LEFT - RIGHT) * 34 / 70, abs=0.1)
    assert xs[5] < x < xs[6]  # MONITORING before the target, resolution after it
    band = [r for r in root.iter(NS + "rect") if r.get("class") == "target-band"]
    assert len(band) == 1
    # Resolve target: T0 + 4h, beyond the end of the axis: named, not drawn.
    resolve = drawn["resolve"]
    assert resolve.get("data-at") == at(240).isoformat() and resolve.get("data-beyond") == "true"
    assert "resolve target 4h 00m → 2h 50m beyond" in "".join(resolve.itertext())
    # Deterministic, and nothing from the entries' data.
    assert timeline_svg(inc, entries, NOW) == text
    assert CANARY not in text


def test_breached_resolve_target_is_drawn_before_the_recovery(env: Env) -> None:
    with env.store() as store:
        inc = store.open(title="Outage", severity="P0", actor="a", started_at=at(0), now=at(2))
        store.update(inc.id, actor="a", escalation_level=2, now=at(10))
        store.append(
            inc.id,
            [
                # A run's entries carry their events' times: this one is earlier than the
                # escalation appended before it, and is drawn before it.
                NewEntry("change", "scaled api to 6", "run:r1", {}, at(8)),
                NewEntry("change", "rolled back api to rev 41", "run:r2", {}, at(30)),
                NewEntry("verify", "api rollout available", "run:r2", {"ok": False}, at(35)),
                NewEntry(
                    "run.end",
                    "platform-outage FAILED (exit 1)",
                    "run:r2",
                    {"runbook": "platform-outage", "exit_code": 1, "check": False},
                    at(36),
                ),
                # A --check run changed nothing: not drawn.
                NewEntry("change", "would change db [lab]", "run:c", {"check": True}, at(40)),
                NewEntry("verify", "verified: db", "run:c", {"check": True}, at(41)),
                NewEntry(
                    "run.end", "db ok (check)", "run:c", {"exit_code": 0, "check": True}, at(42)
                ),
                NewEntry("change", "restarted database", "run:r3", {}, at(50)),
                NewEntry("verify", "api healthy", "run:r3", {"ok": True}, at(55)),
            ],
        )
        store.set_status(inc.id, "RESOLVED", actor="a", now=at(90))
        inc = store.get(inc.id)
        entries = store.timeline(inc.id)
    root = parse(timeline_svg(inc, entries, NOW))
    found = marks(root)
    assert [g.get("data-kind") for g in found] == [
        "started",
        "detected",
        "change",
        "escalation",
        "change",
        "verify",
        "run.failed",
        "change",
        "verify",
        "resolved",
    ]
    assert found[6].get("data-failed") == "true"
    assert "run of platform-outage failed" in "".join(found[6].itertext())
    assert [g.get("data-seq") for g in found[2:4]] == ["3", "2"]
    assert "escalated to L2" in "".join(found[3].itertext())
    assert [g.get("data-failed") for g in found if g.get("data-kind") == "verify"] == [
        "true",
        None,
    ]
    drawn = targets(root)
    assert drawn["respond"].get("data-beyond") is None  # 2m + 15m = 17m
    assert drawn["resolve"].get("data-beyond") is None  # 60m < 90m
    line = drawn["resolve"].find(NS + "line")
    assert line is not None
    x = float(line.get("x1", "nan"))
    xs = [shape_x(g) for g in found]
    assert xs == sorted(xs)
    assert xs[8] < x < xs[9]  # the last verification before the target, recovery after it
    assert [r for r in root.iter(NS + "rect") if r.get("class") == "breach-zone"]


def test_open_incident_is_drawn_up_to_now(env: Env) -> None:
    with env.store() as store:
        inc = store.open(title="Slow", severity="P3", actor="a", started_at=at(0), now=at(0))
        store.note(inc.id, "looking at the slow query log", actor="alice")
        inc = store.get(inc.id)
        entries = store.timeline(inc.id)
    now = at(45)
    root = parse(timeline_svg(inc, entries, now))
    found = marks(root)
    assert [g.get("data-kind") for g in found] == ["detected"]  # started == detected: one mark
    assert "(open: drawn up to now)" in "".join(root.itertext())
    ticks = ["".join(g.itertext()) for g in root.iter(NS + "g") if g.get("class") == "tick"]
    assert ticks == ["+0", "+10m", "+20m", "+30m", "+40m"]
    short = parse(timeline_svg(inc, entries, at(0.75)))  # 45 seconds: drawn over a minute
    ticks = ["".join(g.itertext()) for g in short.iter(NS + "g") if g.get("class") == "tick"]
    assert ticks == ["+0", "+10s", "+20s", "+30s", "+40s", "+50s", "+1m"]
    assert {name: g.get("data-beyond") for name, g in targets(root).items()} == {
        "respond": "true",
        "resolve": "true",
    }
