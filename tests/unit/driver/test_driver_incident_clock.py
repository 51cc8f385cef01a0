"""Severity clocks and escalation with a frozen clock: every level boundary, each severity,
a breach exactly at and just past the target; the roster file, good and malformed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from irdrive.errors import UsageError
from irdrive.incidents.clock import (
    Roster,
    escalation,
    level_at,
    load_roster,
    next_escalation,
    parse_roster,
    resolve_clock,
    respond_clock,
    triggers,
)
from irdrive.incidents.model import RESOLVED, Incident

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
REPO = Path(__file__).resolve().parents[3]

TARGETS = {  # the playbook's matrix: respond, resolve
    "P0": (timedelta(minutes=15), timedelta(hours=1)),
    "P1": (timedelta(minutes=30), timedelta(hours=4)),
    "P2": (timedelta(hours=2), timedelta(hours=24)),
    "P3": (timedelta(hours=4), timedelta(hours=72)),
}


def incident(severity: str = "P2", **kw: Any) -> Incident:
    base: dict[str, Any] = {"started_at": T0, "detected_at": T0}
    base.update(kw)
    return Incident(id="INC-20261202-030000", title="Payments failing", severity=severity, **base)


# -- clocks ------------------------------------------------------------------------------


@pytest.mark.parametrize("sev", sorted(TARGETS))
def test_respond_clock_is_met_at_the_target_and_breached_just_past_it(sev: str) -> None:
    target = TARGETS[sev][0]
    inc = incident(sev)
    at = respond_clock(inc, T0 + target)
    assert at.target_s == target.total_seconds()
    assert at.elapsed_s == target.total_seconds() and at.left_s == 0
    assert not at.breached and at.running
    assert at.deadline == T0 + target
    past = respond_clock(inc, T0 + target + US)
    assert past.breached and past.left_s is not None and past.left_s < 0
    half = respond_clock(inc, T0 + target / 2)
    assert half.left_s == pytest.approx(target.total_seconds() / 2) and not half.breached


@pytest.mark.parametrize("sev", sorted(TARGETS))
def test_resolve_clock_runs_from_the_start_of_the_impact(sev: str) -> None:
    target = TARGETS[sev][1]
    # The impact began 5 minutes before irdrive knew of it: the resolution clock counts them.
    inc = incident(sev, started_at=T0 - timedelta(minutes=5))
    assert resolve_clock(inc, T0).elapsed_s == 300
    at = resolve_clock(inc, T0 - timedelta(minutes=5) + target)
    assert not at.breached and at.left_s == 0
    assert resolve_clock(inc, T0 - timedelta(minutes=5) + target + US).breached
    # The response clock starts at detection.
    assert respond_clock(inc, T0 + timedelta(minutes=1)).elapsed_s == 60


def test_clocks_stop_when_acknowledged_and_resolved() -> None:
    inc = incident(
        "P0",
        acknowledged_at=T0 + timedelta(minutes=20),
        resolved_at=T0 + timedelta(minutes=50),
        status=RESOLVED,
    )
    later = T0 + timedelta(days=3)
    respond, resolve = respond_clock(inc, later), resolve_clock(inc, later)
    assert respond.elapsed_s == 1200 and respond.breached and not respond.running  # 20m > 15m
    assert resolve.elapsed_s == 3000 and not resolve.breached and not resolve.running
    assert resolve.to_dict()["end"] == (T0 + timedelta(minutes=50)).isoformat()


def test_a_clock_without_a_start_time_has_no_elapsed_time() -> None:
    inc = incident(started_at=None, detected_at=None)
    clock = resolve_clock(inc, T0)
    assert clock.elapsed_s is None and clock.left_s is None and not clock.breached


# -- escalation levels ----------------------------------------------------------------------


@pytest.mark.parametrize("sev", ["P2", "P3"])
def test_p2_p3_climb_l1_l2_l3_on_the_unresolved_time(sev: str) -> None:
    inc = incident(sev)
    assert level_at(inc, T0) == 1
    assert level_at(inc, T0 + timedelta(minutes=30) - US) == 1
    assert level_at(inc, T0 + timedelta(minutes=30)) == 2
    assert level_at(inc, T0 + timedelta(hours=2) - US) == 2
    assert level_at(inc, T0 + timedelta(hours=2)) == 3
    # No clock takes a P2/P3 to L4: that needs a security breach or a responder's call.
    assert level_at(inc, T0 + timedelta(days=10)) == 3
    assert next_escalation(inc, T0 + timedelta(days=10)) is None


@pytest.mark.parametrize("sev", ["P0", "P1"])
def test_p0_p1_engage_the_team_lead_at_once(sev: str) -> None:
    inc = incident(sev)
    esc = escalation(inc, T0, None)
    assert esc.level == 2
    assert esc.why == f"a {sev} incident engages the team lead at once"
    assert esc.raised  # recorded level 1


def test_p1_reaches_l3_after_two_hours() -> None:
    inc = incident("P1")
    assert level_at(inc, T0 + timedelta(hours=2) - US) == 2
    assert level_at(inc, T0 + timedelta(hours=2)) == 3
    assert level_at(inc, T0 + timedelta(hours=100)) == 3


def test_p0_extended_outage_at_its_resolution_target_then_major_at_twice_it() -> None:
    inc = incident("P0")
    assert level_at(inc, T0 + timedelta(hours=1) - US) == 2
    esc = escalation(inc, T0 + timedelta(hours=1), None)
    assert esc.level == 3
    assert esc.why == "extended outage: unresolved at the P0 resolution target (1h)"
    assert level_at(inc, T0 + timedelta(hours=2) - US) == 3
    major = escalation(inc, T0 + timedelta(hours=2), None)
    assert major.level == 4
    assert "major incident: a P0 unresolved at twice its resolution target (2h)" in major.why


def test_next_escalation_and_when() -> None:
    p2 = incident("P2")
    assert next_escalation(p2, T0 + timedelta(minutes=10)) == (
        2,
        T0 + timedelta(minutes=30),
        "unresolved after 30 minutes",
    )
    assert next_escalation(p2, T0 + timedelta(minutes=30))[:2] == (3, T0 + timedelta(hours=2))  # type: ignore[index]
    p0 = incident("P0")
    assert next_escalation(p0, T0 + timedelta(minutes=5))[:2] == (3, T0 + timedelta(hours=1))  # type: ignore[index]
    assert next_escalation(p0, T0 + timedelta(hours=1))[:2] == (4, T0 + timedelta(hours=2))  # type: ignore[index]
    assert next_escalation(p0, T0 + timedelta(hours=2)) is None
    # Impact that began 23 hours before detection: the P2 target (24h) comes before 2 hours
    # unresolved, so the extended outage is the next step.
    late = incident("P2", started_at=T0 - timedelta(hours=23))
    nxt = next_escalation(late, T0 + timedelta(minutes=30))
    assert nxt is not None and nxt[:2] == (3, T0 + timedelta(hours=1))
    assert "extended outage" in nxt[2]


def test_when_a_clock_called_for_the_level() -> None:
    p2 = escalation(incident("P2"), T0 + timedelta(hours=3), None)
    assert p2.level == 3 and p2.reached_at == T0 + timedelta(hours=2)
    p0 = escalation(
        incident("P0", started_at=T0 - timedelta(minutes=10)), T0 + timedelta(hours=3), None
    )
    assert p0.level == 4 and p0.reached_at == T0 + timedelta(minutes=110)  # 2h after the start
    assert p0.to_dict()["reached_at"] == (T0 + timedelta(minutes=110)).isoformat()
    # The record, not a clock, called for it: the time is not known.
    p1 = escalation(incident("P1"), T0 + timedelta(minutes=5), None)
    assert p1.level == 2 and p1.reached_at is None
    sec = escalation(incident("P3", runbook="security-breach"), T0 + timedelta(hours=9), None)
    assert sec.level == 4 and sec.reached_at is None


def test_a_resolved_incident_stops_escalating_at_its_resolution() -> None:
    inc = incident("P2", status=RESOLVED, resolved_at=T0 + timedelta(minutes=20))
    esc = escalation(inc, T0 + timedelta(hours=5), None)
    assert esc.level == 1 and esc.resolved and not esc.raised
    assert esc.next_level is None and esc.next_at is None
    assert esc.engage == "nobody new: the incident is RESOLVED"
    late = incident("P2", status=RESOLVED, resolved_at=T0 + timedelta(minutes=45))
    assert escalation(late, T0 + timedelta(hours=5), None).level == 2


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"runbook": "security-breach"}, "security breach: runbook security-breach"),
        ({"services": ["web", "security"]}, "security breach: the security service is affected"),
        ({"details": {"security": True}}, "security breach (declared by a responder)"),
        ({"details": {"security": "yes"}}, "security breach (declared by a responder)"),
        ({"details": {"legal": True}}, "legal issue (declared by a responder)"),
        (
            {"details": {"business_impact": True}},
            "major incident: business impact exceeds thresholds",
        ),
    ],
)
def test_l4_at_once_for_security_breaches_legal_issues_and_major_incidents(
    kw: dict[str, Any], why: str
) -> None:
    esc = escalation(incident("P3", **kw), T0, None)
    assert esc.level == 4 and esc.why == why
    assert esc.engage == "no roster: engage the Executive Team (L4)"


def test_flags_that_are_off_do_not_escalate() -> None:
    inc = incident("P3", details={"security": False, "legal": "no", "extended_outage": ""})
    assert [t.level for t in triggers(inc, T0)] == [1]


def test_a_declared_extended_outage_is_l3() -> None:
    esc = escalation(incident("P3", details={"extended_outage": True}), T0, None)
    assert esc.level == 3 and esc.why == "extended outage (declared by a responder)"


def test_escalation_to_dict_has_stable_keys() -> None:
    data = escalation(incident("P2"), T0 + timedelta(minutes=31), None).to_dict()
    assert set(data) == {
        "level",
        "name",
        "why",
        "reached_at",
        "triggers",
        "recorded_level",
        "response_s",
        "people",
        "channels",
        "engage",
        "next_level",
        "next_at",
        "next_why",
        "resolved",
    }
    assert data["name"] == "Team Lead" and data["response_s"] == 1800
    assert data["next_at"] == (T0 + timedelta(hours=2)).isoformat()


# -- roster ------------------------------------------------------------------------------


ROSTER = """
levels:
  L1:
    people: [{name: Ana, contact: "+1-555-0100"}]
    channels: ["#oncall"]
  L2:
    people: [Dana]
services:
  payments:
    L2:
      people: [{name: Riya, contact: riya@example.com}]
      channels: ["#payments"]
"""


def roster_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.yml"
    path.write_text(text)
    return path


def test_roster_names_who_to_engage_with_service_overrides(tmp_path: Path) -> None:
    roster = load_roster(roster_file(tmp_path, ROSTER))
    assert roster is not None
    esc = escalation(incident("P1", services=["payments"]), T0, roster)
    assert esc.engage == "L2 Team Lead: Riya (riya@example.com) on #payments"
    both = escalation(incident("P1", services=["payments", "web"]), T0, roster)
    assert [p.name for p in both.people] == ["Riya", "Dana"]  # web has no override
    l1 = escalation(incident("P3", services=["payments"]), T0, roster)
    assert l1.engage == "L1 On-Call Engineer: Ana (+1-555-0100) on #oncall"
    l3 = escalation(incident("P3"), T0 + timedelta(hours=3), roster)
    assert l3.engage == "the roster names nobody for L3: engage the Engineering Manager"


def test_the_shipped_example_roster_loads() -> None:
    roster = load_roster(REPO / "configs" / "roster.example.yml")
    assert roster is not None and set(roster.levels) == {1, 2, 3, 4}
    assert "payments" in roster.services


def test_default_roster_is_optional_an_explicit_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("IRDRIVE_CONFIG", raising=False)
    monkeypatch.delenv("IRDRIVE_ROSTER", raising=False)
    assert load_roster() is None
    (tmp_path / "xdg" / "irdrive").mkdir(parents=True)
    (tmp_path / "xdg" / "irdrive" / "roster.yml").write_text(ROSTER)
    found = load_roster()
    assert isinstance(found, Roster) and found.path == tmp_path / "xdg" / "irdrive" / "roster.yml"
    monkeypatch.setenv("IRDRIVE_ROSTER", str(tmp_path / "nope.yml"))
    with pytest.raises(UsageError, match=r"roster .*nope.yml does not exist"):
        load_roster()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected a mapping with levels"),
        ("levels: {L5: {people: [a]}}\n", "'L5' is not a level"),
        ("levels: {L1: {people: [{contact: x}]}}\n", r"levels.L1.people\[0\]: needs a name"),
        ("levels: {L1: {people: a}}\n", r"levels.L1.people: expected a list"),
        ("levels: {L1: {pager: x}}\n", "unknown key 'pager'"),
        ("levels: {L1: {channels: [1]}}\n", r"channels\[0\]: expected a channel name"),
        ("oncall: {}\n", "unknown key 'oncall'"),
        ("services: {payments: {L9: {}}}\n", "services.payments: 'L9' is not a level"),
        ("levels: [\n", r"is not valid YAML \(line 2\)"),
    ],
)
def test_a_malformed_roster_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = roster_file(tmp_path, text)
    with pytest.raises(UsageError, match=message) as err:
        load_roster(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_parse_roster_accepts_an_empty_level() -> None:
    roster = parse_roster({"levels": {"l2": None}}, Path("r.yml"))
    assert roster.for_level(2).people == ()
