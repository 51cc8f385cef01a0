"""The playbook's three communication templates filled from incident records (open with no
actions, with a run's changes, resolved), with a frozen clock and exact text; the user
template shows no internal field; the channels file and its checks; redacted channel labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from irdrive.errors import UsageError
from irdrive.incidents import comms
from irdrive.incidents.model import ActionItem, Incident, TimelineEntry

T0 = datetime(2026, 12, 2, 3, 15, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def incident(**changes: object) -> Incident:
    base: dict[str, object] = {
        "id": "INC-20261202-031500",
        "title": "Payments failing on db-1 (10.20.30.40)",
        "severity": "P1",
        "commander": "alice",
        "services": ["payments", "checkout"],
        "started_at": T0 - timedelta(minutes=5),
        "detected_at": T0,
    }
    base.update(changes)
    return Incident(**base)  # type: ignore[arg-type]


def entry(seq: int, minutes: int, kind: str, summary: str, **data: object) -> TimelineEntry:
    return TimelineEntry(
        incident_id="INC-20261202-031500",
        seq=seq,
        at=T0 + timedelta(minutes=minutes),
        kind=kind,
        summary=summary,
        actor="run:abc" if kind in ("change", "verify", "run.start", "run.end") else "alice",
        data=dict(data),
    )


RUN = [
    entry(1, 0, "opened", "P1 opened: Payments failing"),
    entry(2, 2, "note", "seen from 10.20.30.40 on db-1.internal: pool exhausted"),
    entry(3, 3, "run.start", "payments-failover started"),
    entry(4, 4, "change", "payments processor: stripe -> segpay"),
    entry(5, 5, "verify", "payments health green on segpay"),
    entry(6, 6, "run.end", "payments-failover succeeded: changed=1"),
    entry(7, 7, "status", "INVESTIGATING -> MONITORING: failed over", note="failed over to segpay"),
]


def test_internal_alert_of_a_new_incident_has_every_field_filled() -> None:
    text = comms.render("internal", incident(), [RUN[0]], tz=BERLIN, now=T0)
    assert text == "\n".join(
        [
            "🚨 INCIDENT ALERT - P1",
            "",
            "Incident ID: INC-20261202-031500",
            "Severity: P1",
            "Status: INVESTIGATING",
            "Started: 2026-12-02 03:10 UTC (04:10 CET)",
            "Incident Commander: alice",
            "",
            "Summary: Payments failing on db-1 (10.20.30.40)",
            "",
            "Impact:",
            "- Users Affected: unknown",
            "- Services Affected: payments, checkout",
            "- Business Impact: not yet assessed",
            "",
            "Current Actions:",
            "- None recorded yet",
            "",
            # P1's cadence is an hour after detection (the record's next_update_at)
            "Next Update: 2026-12-02 04:15 UTC (05:15 CET)",
        ]
    )


def test_internal_alert_lists_the_runs_changes_and_verifications() -> None:
    inc = incident(
        status="MONITORING",
        commander=None,
        summary="Card payments fail at the processor",
        users_affected="~30% of checkouts",
        impact="Lost card revenue",
        last_update_at=T0 + timedelta(minutes=1),
    )
    text = comms.render("internal", inc, RUN, tz=None, now=T0 + timedelta(minutes=8))
    assert "Incident Commander: not assigned" in text
    assert "Summary: Card payments fail at the processor" in text
    assert "- Users Affected: ~30% of checkouts" in text
    assert "- Business Impact: Lost card revenue" in text
    actions = text.split("Current Actions:\n", 1)[1].split("\n\n", 1)[0]
    assert actions.splitlines() == [
        "- 03:19 UTC payments processor: stripe -> segpay",
        "- 03:20 UTC payments health green on segpay",
        "- 03:21 UTC payments-failover succeeded: changed=1",
        "- 03:22 UTC INVESTIGATING -> MONITORING: failed over",
    ]
    # the last update was at 03:16, so the next is due at 04:16 (no zone: UTC alone)
    assert text.endswith("Next Update: 2026-12-02 04:16 UTC")


def test_a_sent_message_gives_the_next_update_one_cadence_after_it() -> None:
    now = T0 + timedelta(minutes=20)
    sent = comms.render("internal", incident(severity="P0"), [], now=now, sending=True)
    assert sent.endswith("Next Update: 2026-12-02 04:05 UTC")  # P0: every 30 minutes
    # a preview of an overdue incident: due now + cadence, not a time already past
    late = T0 + timedelta(hours=3)
    preview = comms.render("internal", incident(), [], now=late)
    assert preview.endswith("Next Update: 2026-12-02 07:15 UTC")


def test_only_the_latest_actions_are_listed_and_the_rest_counted() -> None:
    many = [entry(i, i, "change", f"change {i}") for i in range(1, 13)]
    lines = comms.current_actions(many)
    assert lines[0] == "(4 earlier in the timeline)"
    assert lines[1:] == [
        f"{(T0 + timedelta(minutes=i)):%H:%M} UTC change {i}" for i in range(5, 13)
    ]


def test_stakeholder_update_of_an_open_incident() -> None:
    inc = incident(
        status="IDENTIFIED",
        impact="Card checkouts fail",
        root_cause="Processor stripe rejects all charges",
        users_affected="12,000",
        details={"revenue_impact": "$40k/hour"},
    )
    actions = [
        ActionItem(inc.id, "Add processor health alert", "bob", "P1", "2026-12-09"),
        ActionItem(inc.id, "Document failover", "carol", "P2", None, status="in-progress"),
        ActionItem(inc.id, "Old idea", "dave", "P3", None, status="wont-do"),
    ]
    text = comms.render(
        "stakeholder", inc, RUN[:6], actions, tz=BERLIN, now=T0 + timedelta(minutes=45)
    )
    assert text == "\n".join(
        [
            "Incident Update - INC-20261202-031500",
            "",
            "Status: IDENTIFIED",
            "Impact: Card checkouts fail",
            "Root Cause: Processor stripe rejects all charges",
            "Resolution: Apply the fix for the identified cause",
            "ETA: not yet available; P1 resolution target 2026-12-02 07:10 UTC (08:10 CET)",
            "",
            "Key Metrics:",
            "- Users Affected: 12,000",
            "- Revenue Impact: $40k/hour",
            "- Duration: 50m 00s (ongoing)",
            "",
            "Next Actions:",
            "- Add processor health alert (owner bob, P1, due 2026-12-09)",
            "- Document failover (owner carol, P2)",
            "",
            "Next Update: 2026-12-02 04:15 UTC (05:15 CET)",
        ]
    )


def test_stakeholder_update_of_a_resolved_incident() -> None:
    inc = incident(
        status="RESOLVED",
        runbook="payments-failover",
        resolved_at=T0 + timedelta(minutes=40),
        details={"eta": "ignored once resolved"},
    )
    resolved_note = entry(8, 40, "status", "MONITORING -> RESOLVED", note="segpay holding")
    text = comms.render("stakeholder", inc, [*RUN, resolved_note], now=T0 + timedelta(hours=2))
    assert "Status: RESOLVED" in text
    assert "Root Cause: not yet known" in text
    assert "Resolution: resolved at 2026-12-02 03:55 UTC: segpay holding" in text
    assert "ETA: resolved at 2026-12-02 03:55 UTC" in text
    assert "- Duration: 45m 00s\n" in text  # started 03:10, resolved 03:55, not "now"
    assert "Next Actions:\n- Post-incident review and its action items" in text
    assert text.endswith("Next Update: None: the incident is RESOLVED")


def test_stakeholder_plan_is_the_last_status_note_or_the_runbook() -> None:
    open_run = incident(runbook="payments-failover")
    assert "Resolution: runbook payments-failover" in comms.render(
        "stakeholder", open_run, RUN[:6], now=T0
    )
    assert "Resolution: failed over to segpay" in comms.render("stakeholder", open_run, RUN, now=T0)
    eta = incident(details={"eta": "04:30 UTC"})
    assert "ETA: 04:30 UTC\n" in comms.render("stakeholder", eta, [], now=T0)


def test_user_communication_of_an_open_incident() -> None:
    inc = incident(public_summary="Some card payments may fail. Please retry in a few minutes.")
    text = comms.render("user", inc, RUN, tz=BERLIN, now=T0, status_page_url="status.example.com")
    assert text == "\n".join(
        [
            "Service Status Update",
            "",
            "We are currently experiencing a service disruption that may affect payments, "
            "checkout.",
            "",
            "What's happening: Some card payments may fail. Please retry in a few minutes.",
            "What we're doing: Our engineers are investigating and working to restore service.",
            "Expected resolution: We will share an estimate as soon as we have one.",
            "",
            "We apologize for any inconvenience. Updates at: status.example.com",
        ]
    )


def test_user_communication_of_a_resolved_incident() -> None:
    inc = incident(severity="P2", status="RESOLVED", resolved_at=T0 + timedelta(minutes=40))
    text = comms.render("user", inc, RUN, now=T0 + timedelta(hours=1))
    assert "We experienced degraded performance that affected payments, checkout." in text
    assert "What's happening: Service has been restored." in text
    assert "Expected resolution: Resolved at 2026-12-02 03:55 UTC" in text
    assert text.endswith("Updates at: status.platform.com")


@pytest.mark.parametrize("status", ["INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED"])
def test_user_communication_shows_no_internal_field(status: str) -> None:
    inc = incident(
        status=status,
        commander="alice.commander",
        scribe="sam.scribe",
        comms_lead="carl.comms",
        summary="db-1.internal at 10.20.30.40 ran out of connections",
        impact="INTERNAL-IMPACT-TEXT",
        root_cause="ROOT-CAUSE-TEXT on 192.168.7.8",
        users_affected="INTERNAL-USERS-COUNT",
        runbook="payments-failover",
        resolved_at=T0 + timedelta(hours=1) if status == "RESOLVED" else None,
        details={"eta": "INTERNAL-ETA", "revenue_impact": "INTERNAL-REVENUE"},
    )
    text = comms.render("user", inc, RUN, tz=BERLIN, now=T0 + timedelta(hours=2))
    for internal in (
        "alice",
        "sam.scribe",
        "carl.comms",
        "db-1",
        "10.20.30.40",
        "192.168.7.8",
        "INTERNAL-",
        "ROOT-CAUSE",
        "pool exhausted",  # a note
        "segpay",  # a change, a status note
        "payments-failover",  # the runbook
        "INC-",
        "P1",
    ):
        assert internal not in text, internal
    # and the template cannot reach them: its context holds the user-facing values alone
    assert set(comms.user_context(inc, status_page_url="x")) == {
        "experiencing",
        "may_affect",
        "issue",
        "services",
        "happening",
        "doing",
        "expected",
        "status_page_url",
    }


def test_every_template_renders_for_every_status_and_severity() -> None:
    for sev in ("P0", "P1", "P2", "P3"):
        for status in ("INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED", "CLOSED"):
            inc = incident(severity=sev, status=status, resolved_at=T0)
            for template in comms.TEMPLATES:
                text = comms.render(template, inc, RUN, now=T0)
                assert "None" not in text.replace("None recorded", "").replace("None:", "")
                assert "{{" not in text and "[" not in text.split("\n", 1)[0]


def test_unknown_template_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown template 'public': one of internal, user"):
        comms.render("public", incident())


# -- the channels file -------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "comms.yml"
    path.write_text(text)
    return path


def test_channels_per_severity_with_names_templates_and_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
status_page_url: status.example.com
timeout: 3
channels:
  p0:
    - name: ops-slack
      url: "slack://${SLACK_A}/${SLACK_B}/${SLACK_C}"
    - url: "json://hooks.example.com:8443/irdrive/${HOOK_TOKEN}"
      templates: [internal, stakeholder]
  default:
    - "mailto://${MAIL_USER}:${MAIL_PASSWORD}@mail.example.com"
""",
    )
    cfg = comms.load_config(path)
    assert cfg.status_page_url == "status.example.com" and cfg.timeout_s == 3
    assert [c.label for c in cfg.for_incident("P0", "internal")] == [
        "ops-slack",
        "json://hooks.example.com:8443/…",
    ]
    assert [c.label for c in cfg.for_incident("P0", "user")] == ["ops-slack"]
    assert [c.label for c in cfg.for_incident("P2", "user")] == ["mailto://mail.example.com/…"]
    assert cfg.for_incident("P0", "internal")[0].where == "channels.P0[0]"


def test_no_file_is_no_channels_unless_required(tmp_path: Path) -> None:
    assert comms.load_config(tmp_path / "none.yml").channels == {}
    with pytest.raises(UsageError, match=r"no comms config at .*none.yml: set \$IRDRIVE_COMMS"):
        comms.load_config(tmp_path / "none.yml", required=True)


def test_the_default_file_is_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IRDRIVE_COMMS_CONFIG", raising=False)
    monkeypatch.setenv("IRDRIVE_CONFIG", str(tmp_path / "cfg" / "config.toml"))
    assert comms.config_path() == tmp_path / "cfg" / "comms.yml"
    monkeypatch.setenv("IRDRIVE_COMMS_CONFIG", str(tmp_path / "other.yml"))
    assert comms.config_path() == tmp_path / "other.yml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected a mapping with `channels:`"),
        ("chanels: {}\n", "unknown key 'chanels'"),
        ("channels: [json://x]\n", "channels must map a severity"),
        ("channels:\n  P5: [json://x]\n", "channels has 'P5': one of P0, P1, P2, P3, default"),
        ("channels:\n  P1: json://x\n", "channels.P1 must be a list"),
        ("channels:\n  P1: [12]\n", r"channels.P1\[0\] must be an apprise URL"),
        ("channels:\n  P1: [{name: x}]\n", r"channels.P1\[0\] needs `url`"),
        ("channels:\n  P1: [not-a-url]\n", r"channels.P1\[0\] needs `url`"),
        ("channels:\n  P1: [{url: 'json://x', to: y}]\n", "unknown key 'to'"),
        ("channels:\n  P1: [{url: 'json://x', templates: [public]}]\n", "unknown template"),
        ("channels:\n  P1: [{url: 'json://x', name: ''}]\n", "name must be a non-empty"),
        ("timeout: 0\n", "timeout must be more than 0"),
        ("timeout: fast\n", "timeout must be a number"),
        ("status_page_url: ''\n", "status_page_url must be a non-empty string"),
        ("channels: {P1: [json://x]\n", "cannot be read"),
    ],
)
def test_a_malformed_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        comms.load_config(write(tmp_path, text))
    assert "\n" not in str(info.value)
    assert str(tmp_path / "comms.yml") in str(info.value)


def test_env_expansion_names_a_missing_variable_and_never_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ch = comms.Channel("ops", "json://h.example.com/${TOKEN_A}/${TOKEN_B}", "channels.P1[0]")
    monkeypatch.setenv("TOKEN_A", "CANARY-aaaa")
    monkeypatch.delenv("TOKEN_B", raising=False)
    with pytest.raises(UsageError) as info:
        ch.expand()
    assert str(info.value) == "comms channel ops (channels.P1[0]) uses ${TOKEN_B}, which is not set"
    monkeypatch.setenv("TOKEN_B", "CANARY-bbbb")
    assert ch.expand() == (
        "json://h.example.com/CANARY-aaaa/CANARY-bbbb",
        ["CANARY-aaaa", "CANARY-bbbb"],
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("json://127.0.0.1:8080/hook/abcdef?token=xyz", "json://127.0.0.1:8080/…"),
        ("https://hooks.slack.com/services/T1/B2/C3", "https://hooks.slack.com/…"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7", "slack://…"),
        ("slack://${SLACK_A}/${SLACK_B}", "slack://…"),
        ("mailto://user:pass@mail.example.com?to=a@b.c", "mailto://mail.example.com/…"),
        ("pagerduty://integrationkey@apikey", "pagerduty://…"),
        ("form://localhost/x", "form://localhost/…"),
        ("json://[::1]:9000/x", "json://[::1]:9000/…"),
    ],
)
def test_a_channel_is_shown_without_its_secret_parts(url: str, shown: str) -> None:
    assert comms.redacted(url) == shown


def test_secret_parts_of_a_url() -> None:
    parts = comms.secret_parts("json://user:pa55word@10.0.0.1:80/hook/tok3n-xyz?key=k3y-value")
    assert {"pa55word", "hook", "tok3n-xyz", "k3y-value", "user"} <= set(parts)
    assert "10.0.0.1" not in parts
    assert "T1JJ3T3L2" in comms.secret_parts("slack://T1JJ3T3L2/A1BRTD4JD/TIiajk")


def test_overdue_reminder_with_a_frozen_clock() -> None:
    inc = incident(last_update_at=T0 + timedelta(minutes=10))  # P1: next due 04:25
    assert comms.overdue(inc, T0 + timedelta(minutes=69)) is None
    assert comms.overdue(inc, T0 + timedelta(minutes=82), BERLIN) == (
        "Update overdue by 12m 00s (due 2026-12-02 04:25 UTC (05:25 CET)): "
        "irdrive incident comms INC-20261202-031500 --send"
    )
    resolved = incident(status="RESOLVED", resolved_at=T0)
    assert comms.overdue(resolved, T0 + timedelta(days=3)) is None


def test_secret_values_from_the_environment_never_reach_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second guard behind the record's own redaction: a secret variable's value pasted
    into a field, or a channel token, is masked in every template."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "CANARYaws0123")
    monkeypatch.setenv("PAYMENTS_API_TOKEN", "CANARYpay4567")
    inc = incident(
        summary="rotated CANARYaws0123 already",
        impact="CANARYpay4567 leaked",
        public_summary="Retry with key CANARYpay4567",
    )
    for template in comms.TEMPLATES:
        text = comms.render(template, inc, RUN, now=T0, secrets=["segpay"])
        assert "CANARY" not in text and "segpay" not in text
    assert "Business Impact: ******** leaked" in comms.render("internal", inc, now=T0)


def test_a_check_mode_run_is_not_an_action_taken() -> None:
    dry = [
        entry(10, 10, "change", "would change Fail over [localhost]", check=True),
        entry(
            11, 11, "run.end", "payments-failover succeeded (exit 0): 1 would change", check=True
        ),
    ]
    assert comms.current_actions(dry) == ["None recorded yet"]
    real = entry(12, 12, "change", "changed Fail over [localhost]", check=False)
    assert comms.current_actions([*dry, real]) == ["03:27 UTC changed Fail over [localhost]"]


def test_an_address_typed_into_the_public_text_is_withheld_from_users() -> None:
    inc = incident(public_summary="Payments via 10.20.30.40 and fe80::1 may fail. Retry in v1.2.3.")
    text = comms.render("user", inc, now=T0)
    assert (
        "What's happening: Payments via [address withheld] and [address withheld] may fail. "
        "Retry in v1.2.3." in text
    )
