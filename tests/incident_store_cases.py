"""The incident store's behaviour, written once and run on both backends: SQLite
(tests/unit/driver/test_driver_incident_store.py) and the lab's PostgreSQL
(tests/integration/test_incident_store_pg.py). Each case takes a fresh, empty store's URL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from irdrive.errors import UsageError
from irdrive.history.schema import incident_timeline, incidents
from irdrive.incidents.model import GENESIS
from irdrive.incidents.store import IncidentStore, NewEntry, open_incidents

T0 = datetime(2026, 12, 2, 3, 15, 0, 123456, tzinfo=UTC)


def _open(store: IncidentStore, **kw: object) -> str:
    args: dict[str, object] = {
        "title": "Payments failing",
        "severity": "P1",
        "actor": "ana",
        "services": ["payments", "payments", " api "],
        "now": T0,
    }
    args.update(kw)
    return store.open(**args).id  # type: ignore[arg-type]


def _rows(store: IncidentStore, ident: str) -> list[tuple[int, int, str]]:
    with store.store.engine.connect() as conn:
        query = (
            sa.select(incident_timeline.c.id, incident_timeline.c.seq, incident_timeline.c.kind)
            .where(incident_timeline.c.incident_id == ident)
            .order_by(incident_timeline.c.id)
        )
        return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]


def case_open_update_status_round_trip(url: str) -> None:
    with open_incidents(url) as store:
        ident = _open(store, commander="ana")
        assert ident == "INC-20261202-031500"
        inc = store.get(ident.lower())  # ids are case-insensitive
        assert inc.status == "INVESTIGATING" and inc.severity == "P1"
        assert inc.services == ["payments", "api"]
        assert inc.started_at == T0 and inc.started_at.tzinfo == UTC  # microseconds kept
        assert inc.acknowledged_at == T0  # a commander named at opening acknowledges it
        # A second incident in the same second gets a suffix.
        assert _open(store, title="Second") == "INC-20261202-031500-2"

        t1 = T0 + timedelta(minutes=5)
        inc, entries = store.update(
            ident, actor="bo", now=t1, title="Payments down", severity="P0", services=["pay"]
        )
        assert (inc.title, inc.severity, inc.services) == ("Payments down", "P0", ["pay"])
        assert inc.respond_target_s == 900 and inc.resolve_target_s == 3600
        got = {e.data["field"]: (e.data["before"], e.data["after"]) for e in entries}
        assert got == {
            "title": ("Payments failing", "Payments down"),
            "severity": ("P1", "P0"),
            "services": (["payments", "api"], ["pay"]),
        }
        assert all(e.kind == "field" and e.actor == "bo" and e.at == t1 for e in entries)
        same, none = store.update(ident, actor="bo", title="Payments down")
        assert none == [] and same.title == "Payments down"
        inc, (role,) = store.update(ident, actor="bo", now=t1, scribe="cy")
        assert role.kind == "role" and inc.scribe == "cy"

        t2 = T0 + timedelta(minutes=10)
        inc, entry = store.set_status(ident, "identified ", actor="ana", note="bad deploy", now=t2)
        assert inc.identified_at == t2 and entry.data == {
            "from": "INVESTIGATING",
            "to": "IDENTIFIED",
            "note": "bad deploy",
            "reopen": False,
        }
        inc, _ = store.set_status(ident, "MONITORING", actor="ana", now=t2 + timedelta(minutes=1))
        assert inc.mitigated_at == t2 + timedelta(minutes=1)
        inc, _ = store.set_status(ident, "RESOLVED", actor="ana", now=t2 + timedelta(minutes=2))
        assert inc.resolved_at == t2 + timedelta(minutes=2) and not inc.is_open
        inc, _ = store.set_status(ident, "CLOSED", actor="ana", now=t2 + timedelta(minutes=3))
        assert inc.closed_at is not None
        inc, entry = store.set_status(
            ident, "INVESTIGATING", actor="ana", reopen=True, note="back", now=t2 + timedelta(3)
        )
        assert inc.status == "INVESTIGATING" and inc.resolved_at is None and inc.closed_at is None
        assert entry.summary == "reopened CLOSED -> INVESTIGATING: back"
        assert inc.identified_at == t2  # the first time a phase was reached is kept

        timeline = store.timeline(ident)
        assert [e.seq for e in timeline] == list(range(1, len(timeline) + 1))
        assert timeline[0].kind == "opened" and timeline[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in zip(timeline, timeline[1:], strict=False))
        assert store.verify(ident).ok


def case_awkward_data_round_trips_and_verifies(url: str) -> None:
    """Run events carry times, tuples, floats, non-ASCII text and numeric keys: stored as JSON,
    read back the same on every backend, and the chain still verifies."""
    berlin = timezone(timedelta(hours=1))
    data = {
        "when": datetime(2026, 12, 2, 4, 15, tzinfo=berlin),
        "hosts": ("web-1", "web-2"),
        "ratio": 0.1,
        "tiny": 1e-7,
        "big": 2**53 + 1,
        "text": "Zahlungen fallen aus — ✓ 支付",
        "nested": {"b": [1, {"c": None}], "a": True},
        "codes": {200: 5, 503: 2},
    }
    with open_incidents(url) as store:
        ident = _open(store)
        (written,) = store.append(
            ident, [NewEntry("task.end", "restart api", "run:1", data, T0.astimezone(berlin))]
        )
        (_, read) = store.timeline(ident)
        assert read == written
        assert read.at == T0 and read.at.tzinfo == UTC
        assert read.data["hosts"] == ["web-1", "web-2"] and read.data["codes"] == {
            "200": 5,
            "503": 2,
        }
        assert read.data["when"] == "2026-12-02 04:15:00+01:00" and read.data["big"] == 2**53 + 1
        assert store.verify(ident).ok
        with pytest.raises(ValueError, match="not JSON-able"):
            store.append(ident, [NewEntry("note", "x", "a", {"k": {1: "a", "b": 2}})])
        assert len(store.timeline(ident)) == 2


def case_refused_changes_write_nothing(url: str) -> None:
    with open_incidents(url) as store:
        ident = _open(store)
        store.set_status(ident, "RESOLVED", actor="ana", now=T0 + timedelta(minutes=1))
        before = store.timeline(ident)
        record = store.get(ident)
        refusals: list[tuple[Callable[[], object], str]] = [
            (lambda: store.set_status(ident, "INVESTIGATING", actor="x"), "reopen"),
            (lambda: store.set_status(ident, "RESOLVED", actor="x"), "already RESOLVED"),
            (lambda: store.set_status(ident, "FIXED", actor="x"), "invalid status 'FIXED'"),
            (lambda: store.update(ident, actor="x", severity="P9"), "invalid severity"),
            (lambda: store.update(ident, actor="x", title="  "), "title cannot be empty"),
            (lambda: store.update(ident, actor="x", colour="red"), "cannot update colour"),
            (lambda: store.note(ident, "   ", actor="x"), "empty note"),
            (lambda: store.escalate(ident, 7, why="w", engage="e", actor="x"), "level"),
            (
                lambda: store.add_action(
                    ident, action="a", owner="o", priority="P7", due=None, actor="x"
                ),
                "invalid priority",
            ),
            (
                lambda: store.add_action(
                    ident, action="a", owner="o", priority="P1", due="31/12", actor="x"
                ),
                "invalid due date",
            ),
        ]
        for call, words in refusals:
            with pytest.raises(UsageError, match=words):
                call()
        assert store.timeline(ident) == before
        assert store.get(ident) == record
        assert store.actions(ident) == []
        # Reopening an open incident is refused too.
        store.set_status(ident, "INVESTIGATING", actor="ana", reopen=True)
        with pytest.raises(UsageError, match="only a RESOLVED or CLOSED incident"):
            store.set_status(ident, "INVESTIGATING", actor="ana", reopen=True)
        with pytest.raises(UsageError, match="no incident INC-20991231-000000"):
            store.get("INC-20991231-000000")
        with pytest.raises(UsageError, match="invalid incident id"):
            store.timeline("42")
        count = len(store.incidents(limit=None))
        with pytest.raises(UsageError, match="invalid severity"):
            _open(store, severity="P5")
        with pytest.raises(UsageError, match="needs a title"):
            _open(store, title=" ")
        assert len(store.incidents(limit=None)) == count
        assert store.verify(ident).ok


def case_escalation_is_recorded_once(url: str) -> None:
    with open_incidents(url) as store:
        ident = _open(store)
        inc, entry = store.escalate(ident, 2, why="a P1", engage="Dana", actor="irdrive")
        assert inc.escalation_level == 2 and entry is not None
        assert entry.kind == "escalation" and entry.data["why"] == "a P1"
        assert (entry.data["from"], entry.data["to"]) == (1, 2)
        assert (entry.data["before"], entry.data["after"]) == (1, 2)  # as update() writes it
        assert entry.summary == "escalated L1 -> L2: a P1"
        again, none = store.escalate(ident, 2, why="a P1", engage="Dana", actor="irdrive")
        lower, none2 = store.escalate(ident, 1, why="x", engage="x", actor="irdrive")
        assert none is None and none2 is None and lower.escalation_level == 2
        assert [e.kind for e in store.timeline(ident)] == ["opened", "escalation"]


def _tamper(store: IncidentStore, statement: sa.Executable) -> None:
    with store.store.engine.begin() as conn:
        conn.execute(statement)


def case_verify_detects_edits_deletions_and_reordering(url: str) -> None:
    tl = incident_timeline.c
    with open_incidents(url) as store:
        idents = [_open(store, title=f"T{n}", now=T0 + timedelta(seconds=n)) for n in range(4)]
        for ident in idents:
            store.append(
                ident, [NewEntry("note", f"note {n}", "ana", {"n": n}) for n in range(2, 6)]
            )
            assert store.verify(ident).ok and store.verify(ident).entries == 5
        edited, deleted, reordered, truncated = idents

        _tamper(
            store,
            incident_timeline.update()
            .where(tl.incident_id == edited, tl.seq == 3)
            .values(summary="nothing happened"),
        )
        result = store.verify(edited)
        assert not result.ok and result.problems == ["entry 3 (note) was altered"]

        _tamper(store, incident_timeline.delete().where(tl.incident_id == deleted, tl.seq == 3))
        problems = store.verify(deleted).problems
        assert "entry 3 missing: deleted" in problems
        assert any("4 entries, the incident recorded 5" in p for p in problems)

        # Two entries swap places: their rows (the order they were written in) exchange contents.
        rows = _rows(store, reordered)
        id2, id3 = rows[1][0], rows[2][0]
        with store.store.engine.begin() as conn:
            read = {
                r.id: dict(r._mapping)
                for r in conn.execute(sa.select(incident_timeline).where(tl.id.in_([id2, id3])))
            }
            conn.execute(incident_timeline.delete().where(tl.id.in_([id2, id3])))
            for new_id, old_id in ((id2, id3), (id3, id2)):
                conn.execute(incident_timeline.insert().values({**read[old_id], "id": new_id}))
        problems = store.verify(reordered).problems
        assert problems and any("out of order" in p for p in problems), problems
        # The hashes are intact, so only the order gives it away.
        assert not any("altered" in p for p in problems)

        # The newest entry removed: the chain that is left is whole, the head says otherwise.
        _tamper(store, incident_timeline.delete().where(tl.incident_id == truncated, tl.seq == 5))
        problems = store.verify(truncated).problems
        assert problems == ["the timeline has 4 entries, the incident recorded 5: 1 deleted"], (
            problems
        )
        # ...and a forged head that matches the shortened chain is still caught by the count.
        _tamper(
            store,
            incidents.update().where(incidents.c.id == truncated).values(timeline_count=4),
        )
        assert not store.verify(truncated).ok


def case_actions(url: str) -> None:
    with open_incidents(url) as store:
        first, second = _open(store), _open(store, title="Other", now=T0 + timedelta(hours=1))
        a = store.add_action(
            first,
            action="Add alert on 5xx",
            owner="ana",
            priority="p1",
            due="2026-12-09",
            actor="ana",
        )
        b = store.add_action(
            second, action="Runbook docs", owner="bo", priority="P3", due=None, actor="bo"
        )
        assert a.priority == "P1" and a.due == "2026-12-09" and a.status == "open"
        assert a.created_at is not None and a.created_at.tzinfo == UTC
        done = store.set_action_status(a.id, "done", actor="ana", now=T0 + timedelta(days=1))  # type: ignore[arg-type]
        assert done.status == "done" and done.done_at == T0 + timedelta(days=1)
        assert [x.id for x in store.actions()] == [a.id, b.id]
        assert [x.id for x in store.actions(status="open")] == [b.id]
        assert [x.id for x in store.actions(second)] == [b.id]
        kinds = [e.kind for e in store.timeline(first)]
        assert kinds == ["opened", "action", "action"]
        with pytest.raises(UsageError, match="no action item #999"):
            store.action(999)
        with pytest.raises(UsageError, match="invalid status"):
            store.set_action_status(b.id, "finished", actor="x")  # type: ignore[arg-type]
        assert store.verify(first).ok


def case_alert_keys_attach_repeats_to_the_open_incident(url: str) -> None:
    with open_incidents(url) as store:
        ident = _open(store, alert_key="PaymentsDown/payments", source="alert")
        assert store.open_for_alert("PaymentsDown/payments").id == ident  # type: ignore[union-attr]
        assert store.open_for_alert("Other") is None
        e1 = store.attach_alert(
            ident, "PaymentsDown/payments", actor="alert:PaymentsDown", summary="repeat"
        )
        e2 = store.attach_alert(
            ident,
            "PaymentsDown/payments",
            actor="alert:PaymentsDown",
            summary="repeat",
            data={"fingerprint": "f1"},
        )
        assert (e1.data["count"], e2.data["count"]) == (2, 3)
        assert e2.data["fingerprint"] == "f1" and e2.kind == "alert"
        store.set_status(ident, "RESOLVED", actor="ana")
        assert store.open_for_alert("PaymentsDown/payments") is None
        fresh = _open(store, alert_key="PaymentsDown/payments", now=T0 + timedelta(hours=2))
        assert store.open_for_alert("PaymentsDown/payments").id == fresh  # type: ignore[union-attr]
        assert store.verify(ident).ok


def case_open_or_attach(url: str) -> None:
    with open_incidents(url) as store:
        inc, entry, opened = store.open_or_attach(
            "PaymentsDown/payments",
            actor="alert:PaymentsDown",
            summary="PaymentsDown fired again",
            title="Payments down",
            severity="P1",
            services=["payments"],
            source="alert",
            now=T0,
        )
        assert opened and entry.kind == "opened" and inc.id == "INC-20261202-031500"
        again, entry, opened = store.open_or_attach(
            "PaymentsDown/payments",
            actor="alert:PaymentsDown",
            summary="PaymentsDown fired again",
            data={"fingerprint": "f1"},
            title="Payments down",
            severity="P1",
            now=T0 + timedelta(minutes=1),
        )
        assert not opened and again.id == inc.id
        assert entry.kind == "alert" and entry.data == {
            "alert_key": "PaymentsDown/payments",
            "count": 2,
            "fingerprint": "f1",
        }
        # An incident opened by hand in the same second: the alert's takes the next id.
        _open(store, title="By hand", now=T0 + timedelta(hours=1))
        store.set_status(inc.id, "RESOLVED", actor="ana")
        fresh, _, opened = store.open_or_attach(
            "PaymentsDown/payments",
            actor="alert:PaymentsDown",
            summary="again",
            title="Payments down",
            severity="P1",
            now=T0 + timedelta(hours=1),
        )
        assert opened and fresh.id == "INC-20261202-041500-2"
        with pytest.raises(UsageError, match="invalid severity"):
            store.open_or_attach("k", actor="a", summary="s", title="t", severity="P8")
        assert store.open_for_alert("k") is None


def case_concurrent_alerts_open_one_incident(url: str) -> None:
    copies = 6
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(copies)

    def deliver(n: int) -> None:
        try:
            with open_incidents(url) as mine:
                start.wait()
                inc, _, opened = mine.open_or_attach(
                    "DiskFull/db",
                    actor="alert:DiskFull",
                    summary=f"copy {n}",
                    title="Disk full",
                    severity="P2",
                )
                results.append((inc.id, opened))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len({ident for ident, _ in results}) == 1, results
    assert sorted(opened for _, opened in results) == [False] * (copies - 1) + [True]
    with open_incidents(url) as store:
        (ident,) = {i for i, _ in results}
        assert len(store.incidents(limit=None)) == 1
        counts = [e.data["count"] for e in store.timeline(ident) if e.kind == "alert"]
        assert counts == list(range(2, copies + 1))
        assert store.verify(ident).ok


def case_listing(url: str) -> None:
    with open_incidents(url) as store:
        a = _open(store, severity="P2", now=T0)
        b = _open(store, severity="P0", now=T0 + timedelta(days=1))
        c = _open(store, severity="P2", now=T0 + timedelta(days=2))
        store.set_status(b, "RESOLVED", actor="ana")
        assert [i.id for i in store.incidents()] == [c, b, a]
        assert [i.id for i in store.incidents(open_only=True)] == [c, a]
        assert [i.id for i in store.incidents(since=T0 + timedelta(hours=1))] == [c, b]
        assert [i.id for i in store.incidents(severity="p2")] == [c, a]
        assert [i.id for i in store.incidents(limit=1)] == [c]
        # Active since: open, or detected, resolved or closed since then.
        store.set_status(a, "RESOLVED", actor="ana", now=T0 + timedelta(days=3))
        later = T0 + timedelta(days=2, hours=12)
        assert [i.id for i in store.incidents(active_since=later)] == [c, a]
        store.set_status(c, "RESOLVED", actor="ana", now=T0 + timedelta(days=2, hours=1))
        assert [i.id for i in store.incidents(active_since=later)] == [a]


def case_concurrent_appends_never_fork_the_chain(url: str) -> None:
    with open_incidents(url) as store:
        ident = _open(store)
    writers, each = 4, 10
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            with open_incidents(url) as mine:  # its own engine and connections
                start.wait()
                for i in range(each):
                    mine.note(ident, f"writer {n} note {i}", actor=f"w{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    done = threading.Event()
    checks: list[list[str]] = []

    def verify_meanwhile() -> None:
        try:
            with open_incidents(url) as mine:
                while not done.is_set():
                    checks.append(mine.verify(ident).problems)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    verifier = threading.Thread(target=verify_meanwhile)
    verifier.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    verifier.join(timeout=60)
    assert not errors, errors
    # Appends while a verify reads are not tampering.
    assert checks and all(problems == [] for problems in checks), [p for p in checks if p]
    with open_incidents(url) as store:
        timeline = store.timeline(ident)
        result = store.verify(ident)
    assert result.ok, result.problems
    assert [e.seq for e in timeline] == list(range(1, writers * each + 2))
    for n in range(writers):  # each writer's notes in its own order
        mine = [e.summary for e in timeline if e.actor == f"w{n}"]
        assert mine == [f"writer {n} note {i}" for i in range(each)]


def case_public_window_and_run_starts(url: str) -> None:
    with open_incidents(url) as store:
        old = _open(store, title="Old", now=T0 - timedelta(days=10))
        store.set_status(old, "RESOLVED", actor="ana", now=T0 - timedelta(days=9))
        recent = _open(store, title="Recent", now=T0 - timedelta(days=3))
        store.set_status(recent, "RESOLVED", actor="ana", now=T0 - timedelta(days=2))
        stale_open = _open(store, title="Still open", now=T0 - timedelta(days=30))
        newest = _open(store, title="Newest", now=T0)
        window = store.public_window(T0 - timedelta(days=7))
        # Open ones first (newest detected first), then the recently ended; not the old one.
        assert [i.id for i in window] == [newest, stale_open, recent]
        assert [i.id for i in store.public_window(T0 - timedelta(days=7), 2)] == [
            newest,
            stale_open,
        ]
        assert store.public_window(T0 - timedelta(days=60))[-1].id == old

        at = T0 + timedelta(minutes=1)
        store.append(
            newest,
            [
                NewEntry("run.start", "run a", "ana", {"runbook": "rollback", "check": False}, at),
                NewEntry("note", "not a run", "ana", {"runbook": "ignored"}, at),
                NewEntry("run.start", "run b", "ana", {"runbook": "scale", "check": True}, at),
            ],
        )
        starts = store.run_starts([newest, recent])
        assert starts == {
            newest: [{"runbook": "rollback", "check": False}, {"runbook": "scale", "check": True}],
            recent: [],
        }
        assert store.run_starts([]) == {}


CASES = [
    case_open_update_status_round_trip,
    case_awkward_data_round_trips_and_verifies,
    case_refused_changes_write_nothing,
    case_escalation_is_recorded_once,
    case_verify_detects_edits_deletions_and_reordering,
    case_actions,
    case_alert_keys_attach_repeats_to_the_open_incident,
    case_open_or_attach,
    case_concurrent_alerts_open_one_incident,
    case_listing,
    case_public_window_and_run_starts,
    case_concurrent_appends_never_fork_the_chain,
]
