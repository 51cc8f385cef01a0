"""``irdrive incident comms --send`` through apprise to a local HTTP receiver: JSON and form
webhooks, apprise's own Slack plugin aimed at the receiver, a failed delivery (a closed port, an
HTTP 500), what the timeline records, the exit codes, ``notify()`` never raising, and the
canary: a token in a channel URL reaches no output, error, timeline row or database byte."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner

from irdrive.cli import cli
from irdrive.incidents import comms
from irdrive.incidents.store import open_incidents

CANARY = "CANARY-7f3a91c2e5"
REPO = Path(__file__).resolve().parents[3]


@dataclass
class Receiver:
    port: int
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that keeps every POST and answers ``status``."""
    rec = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            rec.requests.append(
                {
                    "path": self.path,
                    "type": self.headers.get("Content-Type", ""),
                    "body": self.rfile.read(length).decode(),
                }
            )
            self.send_response(rec.status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IRDRIVE_DB_URL", f"sqlite:///{tmp_path / 'history.db'}")
    monkeypatch.setenv("IRDRIVE_USER", "alice")
    monkeypatch.setenv("IRDRIVE_TZ", "Europe/Berlin")
    monkeypatch.setenv("IRDRIVE_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("IRDRIVE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("IRDRIVE_COMMS_CONFIG", str(tmp_path / "comms.yml"))
    monkeypatch.setenv("HOOK_TOKEN", CANARY)
    return tmp_path


def channels(env: Path, text: str) -> None:
    (env / "comms.yml").write_text(text)


def open_incident(**kw: Any) -> str:
    with open_incidents() as store:
        inc = store.open(
            title=kw.pop("title", "Payments failing"),
            severity=kw.pop("severity", "P1"),
            actor="alice",
            commander="alice",
            services=["payments"],
            **kw,
        )
    return inc.id


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["incident", "comms", *args])


def everything_recorded(env: Path, ident: str) -> str:
    """The timeline as JSON and the database file's bytes: where a leak would show."""
    with open_incidents() as store:
        rows = json.dumps([e.to_dict() for e in store.timeline(ident)])
    return rows + (env / "history.db").read_bytes().decode("latin-1")


def test_send_to_json_and_form_webhooks_records_each_delivery(
    env: Path, receiver: Receiver
) -> None:
    channels(
        env,
        f"""
channels:
  P1:
    - name: ops-json
      url: "json://127.0.0.1:{receiver.port}/hook/${{HOOK_TOKEN}}"
    - "form://127.0.0.1:{receiver.port}/form?token=${{HOOK_TOKEN}}"
  default: ["json://127.0.0.1:{closed_port()}/never"]
""",
    )
    ident = open_incident()
    result = invoke(ident, "--send")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("🚨 INCIDENT ALERT - P1\n\nIncident ID: " + ident)
    assert result.stderr.splitlines() == [
        "sent to ops-json",
        f"sent to form://127.0.0.1:{receiver.port}/…",
    ]
    title, body = text.rstrip("\n").split("\n", 1)
    by_path = {r["path"].split("?")[0]: r for r in receiver.requests}
    sent_json = json.loads(by_path[f"/hook/{CANARY}"]["body"])
    assert sent_json["title"] == title
    assert sent_json["message"] == body.strip("\n")
    assert sent_json["type"] == "failure"  # an open P1
    form = parse_qs(by_path["/form"]["body"])
    assert form["title"] == [title] and form["message"] == [body.strip("\n")]
    assert "Incident Commander: alice" in form["message"][0]

    with open_incidents() as store:
        inc = store.get(ident)
        notes = [e for e in store.timeline(ident) if e.kind == "notify"]
    assert [(e.summary, e.data["ok"], e.actor) for e in notes] == [
        ("internal update sent to ops-json", True, "alice"),
        (f"internal update sent to form://127.0.0.1:{receiver.port}/…", True, "alice"),
    ]
    assert notes[0].data["text"] == text.rstrip("\n")
    assert inc.last_update_at == notes[0].at  # the next update falls due a cadence later
    assert CANARY not in result.output + everything_recorded(env, ident)


def test_a_failed_delivery_is_recorded_and_reported_and_the_rest_still_sent(
    env: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # apprise logs its URLs, tokens and all, at DEBUG
    port = closed_port()
    channels(
        env,
        f"""
channels:
  P2:
    - "json://127.0.0.1:{port}/down/${{HOOK_TOKEN}}"
    - name: up
      url: "json://127.0.0.1:{receiver.port}/up"
""",
    )
    ident = open_incident(severity="P2")
    result = invoke(ident, "--template", "stakeholder", "--send")
    assert result.exit_code == 0  # one channel got it: the update is out
    down = f"json://127.0.0.1:{port}/…"
    assert result.stderr.splitlines() == [
        f"FAILED to {down}: A Connection error occurred sending JSON notification to 127.0.0.1.",
        "sent to up",
    ]
    with open_incidents() as store:
        notes = [e for e in store.timeline(ident) if e.kind == "notify"]
    assert [(n.data["channel"], n.data["ok"]) for n in notes] == [(down, False), ("up", True)]
    assert notes[0].summary.startswith(f"stakeholder update FAILED to {down}: A Connection")
    assert CANARY not in result.output + everything_recorded(env, ident) + caplog.text


def test_every_channel_failing_exits_1_and_keeps_the_update_due(
    env: Path, receiver: Receiver
) -> None:
    receiver.status = 500
    channels(
        env,
        f"""
channels:
  default:
    - "json://127.0.0.1:{receiver.port}/err/${{HOOK_TOKEN}}"
    - "json://127.0.0.1:{closed_port()}/x/${{HOOK_TOKEN}}"
""",
    )
    ident = open_incident(severity="P0")
    result = invoke(ident, "--send", "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["sent"] is False and out["last_update_at"] is None
    assert [d["ok"] for d in out["deliveries"]] == [False, False]
    assert "500" in out["deliveries"][0]["reason"]
    assert len(receiver.requests) == 1  # it was tried
    with open_incidents() as store:
        inc = store.get(ident)
        notes = [e for e in store.timeline(ident) if e.kind == "notify"]
    assert inc.last_update_at is None and len(notes) == 2
    assert not any(n.data["ok"] for n in notes)
    assert CANARY not in result.output + everything_recorded(env, ident)


def test_slack_plugin_aimed_at_the_local_receiver(
    env: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apprise's Slack plugin posts to a fixed https://hooks.slack.com/services; no URL option
    moves it, so the test points that class attribute at the receiver: the real plugin builds
    and posts its Slack payload from a slack:// URL and the tokens in the environment."""
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{receiver.port}/services")
    monkeypatch.setenv("SLACK_A", "T1JJ3T3L2")
    monkeypatch.setenv("SLACK_B", "A1BRTD4JD")
    monkeypatch.setenv("SLACK_C", CANARY.replace("-", "") + "xyzXYZ")
    channels(
        env,
        """
channels:
  P1:
    - "slack://${SLACK_A}/${SLACK_B}/${SLACK_C}/#incidents"
""",
    )
    # a token pasted into the record is masked in what is sent, too
    ident = open_incident(public_summary=f"Payments may fail ({CANARY.replace('-', '')}xyzXYZ)")
    result = invoke(ident, "--template", "user", "--send")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "sent to slack://…"
    (req,) = receiver.requests
    assert req["path"] == f"/services/T1JJ3T3L2/A1BRTD4JD/{CANARY.replace('-', '')}xyzXYZ"
    payload = json.loads(req["body"])
    posted = json.dumps(payload, ensure_ascii=False)
    assert payload["channel"] == "#incidents"
    assert "Service Status Update" in posted
    assert "We are currently experiencing a service disruption that may affect payments." in posted
    assert "What's happening: Payments may fail (********)" in posted
    for secret in ("T1JJ3T3L2", "A1BRTD4JD"):
        assert secret not in result.output + everything_recorded(env, ident)
    with open_incidents() as store:  # the record keeps what was typed; what was sent does not
        rows = json.dumps([e.to_dict() for e in store.timeline(ident)])
    assert CANARY.replace("-", "") not in result.output + rows + req["body"]


def test_without_send_nothing_is_sent_or_recorded(env: Path, receiver: Receiver) -> None:
    channels(env, f'channels: {{P1: ["json://127.0.0.1:{receiver.port}/x"]}}\n')
    ident = open_incident()
    result = invoke(ident, "--template", "stakeholder", "--tz", "UTC")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Incident Update - {ident}\n")
    assert receiver.requests == []
    with open_incidents() as store:
        assert [e.kind for e in store.timeline(ident)] == ["opened"]
    # no comms file at all is fine for a render
    (env / "comms.yml").unlink()
    assert invoke(ident).exit_code == 0


def test_an_overdue_update_is_pointed_out(env: Path) -> None:
    from datetime import UTC, datetime, timedelta

    with open_incidents() as store:
        inc = store.open(
            title="Slow pages",
            severity="P0",
            actor="alice",
            now=datetime.now(UTC) - timedelta(hours=1),
        )
    due = (inc.detected_at + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M UTC")
    result = invoke(inc.id, "--tz", "UTC")
    assert result.exit_code == 0
    assert result.stderr.startswith("Update overdue by 30m 0")  # P0: due 30 minutes after
    assert result.stderr.rstrip().endswith(f"(due {due}): irdrive incident comms {inc.id} --send")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (None, "no comms config at "),
        ("channels: {P0: ['json://127.0.0.1:9/x']}\n", "no channel in .* takes the internal"),
        (
            "channels: {P1: [{url: 'json://127.0.0.1:9/x', templates: [user]}]}\n",
            "no channel in .* takes the internal template for P1",
        ),
        (
            "channels: {P1: [{name: a, url: 'json://127.0.0.1:9/${HOOK_TOKEN}'}, "
            "{name: b, url: 'json://127.0.0.1:9/${UNSET_TOKEN_VAR}'}]}\n",
            r"comms channel b \(channels.P1\[1\]\) uses \$\{UNSET_TOKEN_VAR\}, which is not set",
        ),
        (
            "channels: {P1: ['json://127.0.0.1:9/ok', 'nosuchservice://${HOOK_TOKEN}/x']}\n",
            r"comms channel nosuchservice://… \(channels.P1\[1\]\): apprise cannot use this URL",
        ),
        ("channels: {P1: [json://x]\n", "comms config .* cannot be read"),
    ],
)
def test_a_bad_channels_file_sends_nothing_and_records_nothing(
    env: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, config: str | None, message: str
) -> None:
    import re

    monkeypatch.delenv("UNSET_TOKEN_VAR", raising=False)
    if config is not None:
        channels(env, config.replace("127.0.0.1:9", f"127.0.0.1:{receiver.port}"))
    ident = open_incident()
    result = invoke(ident, "--send")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert re.search(message, line), line
    assert result.stdout == ""
    assert receiver.requests == []
    assert CANARY not in result.output
    with open_incidents() as store:
        assert [e.kind for e in store.timeline(ident)] == ["opened"]
        assert store.get(ident).last_update_at is None


def test_bad_input_is_one_line(env: Path) -> None:
    result = invoke("INC-20990101-000000")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no incident INC-20990101-000000 in the history store")
    assert invoke("nope").stderr.strip() == "Error: invalid incident id 'nope': INC-YYYYMMDD-HHMMSS"
    ident = open_incident()
    assert invoke(ident, "--template", "public").exit_code == 2
    bad_tz = invoke(ident, "--tz", "Mars/Olympus")
    assert bad_tz.exit_code == 2 and "unknown time zone 'Mars/Olympus'" in bad_tz.stderr


def test_json_output_has_stable_keys(env: Path, receiver: Receiver) -> None:
    channels(env, f'channels: {{default: [{{name: r, url: "json://127.0.0.1:{receiver.port}/"}}]}}')
    ident = open_incident()
    out = json.loads(invoke(ident, "--template", "user", "--send", "--json").stdout)
    assert set(out) == {
        "incident_id",
        "template",
        "text",
        "sent",
        "deliveries",
        "last_update_at",
        "next_update_at",
    }
    assert out["sent"] is True and out["template"] == "user"
    assert out["text"].startswith("Service Status Update\n")
    (delivery,) = out["deliveries"]
    assert set(delivery) == {"channel", "ok", "at", "reason"}
    assert out["last_update_at"] == delivery["at"]
    assert out["last_update_at"].endswith("+00:00")


# -- notify(): for other commands; never raises ------------------------------------------


def test_notify_sends_and_records_for_a_caller(env: Path, receiver: Receiver) -> None:
    channels(env, f'channels: {{P1: [{{name: r, url: "json://127.0.0.1:{receiver.port}/"}}]}}')
    ident = open_incident()
    with open_incidents() as store:
        (delivery,) = comms.notify(store, ident, "internal", "run:abc")
        assert delivery.ok and delivery.channel == "r"
        last = store.timeline(ident)[-1]
        assert (last.kind, last.actor, last.summary) == (
            "notify",
            "run:abc",
            "internal update sent to r",
        )
        assert store.get(ident).last_update_at == delivery.at
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ("channels: {P1: [json://x]\n", "cannot be read"),
        ("channels: {P1: ['json://127.0.0.1:9/${UNSET_TOKEN_VAR}']}\n", "is not set"),
        ("channels: {P1: ['json://127.0.0.1:9/${HOOK_TOKEN}']}\n", "Connection error"),
    ],
)
def test_notify_never_raises_and_records_the_failure(
    env: Path, monkeypatch: pytest.MonkeyPatch, config: str, reason: str
) -> None:
    monkeypatch.delenv("UNSET_TOKEN_VAR", raising=False)
    channels(env, config.replace("127.0.0.1:9", f"127.0.0.1:{closed_port()}"))
    ident = open_incident()
    with open_incidents() as store:
        (delivery,) = comms.notify(store, ident, "internal", "run:abc")
        assert not delivery.ok and reason in delivery.reason
        last = store.timeline(ident)[-1]
        assert last.kind == "notify" and last.data["ok"] is False and reason in last.summary
        assert store.get(ident).last_update_at is None
    assert CANARY not in delivery.reason + everything_recorded(env, ident)


def test_notify_with_nothing_configured_or_no_incident_does_not_raise(env: Path) -> None:
    ident = open_incident()
    with open_incidents() as store:
        assert comms.notify(store, ident, "internal", "alice") == []  # no comms file
        (missing,) = comms.notify(store, "INC-20990101-000000", "internal", "alice")
        assert not missing.ok and "no incident INC-20990101-000000" in missing.reason
        assert [e.kind for e in store.timeline(ident)] == ["opened"]


def test_the_example_channels_file_loads_and_apprise_takes_every_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = comms.load_config(REPO / "configs" / "comms.example.yml")
    for name in (
        "SLACK_TOKEN_A",
        "SLACK_TOKEN_B",
        "SLACK_TOKEN_C",
        "PAGERDUTY_INTEGRATION_KEY",
        "PAGERDUTY_API_KEY",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "TEAMS_WORKFLOW",
        "TEAMS_SIGNATURE",
        "STATUS_HOOK_TOKEN",
    ):
        monkeypatch.setenv(name, "T1JJ3T3L2" if name.startswith("SLACK") else "abcDEF123456")
    seen = set()
    for chans in cfg.channels.values():
        for ch in chans:
            prepared = comms.prepare(ch, timeout_s=cfg.timeout_s)
            assert prepared.plugin.socket_connect_timeout == 5
            seen.add(ch.label)
    assert seen == {"incident-slack", "pagerduty", "exec-email", "teams", "status-webhook"}


def test_the_command_imports_nothing_heavy_until_it_runs(env: Path) -> None:
    """`irdrive incident --help` lists comms; loading its module pulls in no apprise, Jinja2,
    SQLAlchemy or rich (they load when it runs), and the whole command works as a process."""
    import subprocess
    import sys

    code = (
        "import sys, irdrive.commands.incident_comms, irdrive.incidents.comms; "
        "print([m for m in ('apprise', 'jinja2', 'sqlalchemy', 'rich') if m in sys.modules])"
    )
    import os

    penv = dict(os.environ, PYTHONPATH=str(REPO / "driver"))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=penv
    ).stdout
    assert out.strip() == "[]"
    ident = open_incident()
    done = subprocess.run(
        [sys.executable, "-m", "irdrive.cli", "incident", "comms", ident, "-t", "user"],
        capture_output=True,
        text=True,
        env=penv,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Service Status Update\n\nWe are currently experiencing")


def test_a_receiver_that_never_answers_fails_within_the_timeout(env: Path) -> None:
    """A listening socket that never replies: apprise's read timeout (``timeout:`` in the
    channels file) ends the wait, and the delivery is recorded as failed."""
    import time

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the kernel; nothing ever answers
        port = silent.getsockname()[1]
        channels(env, f'timeout: 1\nchannels: {{default: ["json://127.0.0.1:{port}/x"]}}\n')
        ident = open_incident()
        started = time.monotonic()
        result = invoke(ident, "--send")
        elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert elapsed < 8, elapsed
    assert result.stderr.startswith(f"FAILED to json://127.0.0.1:{port}/…: ")


def test_a_slack_compatible_incoming_webhook_on_any_host(env: Path, receiver: Receiver) -> None:
    """Without patching anything: apprise's Mattermost plugin posts a Slack-compatible incoming
    webhook payload (``{"text": ...}``) to /hooks/<token> on the host the URL names."""
    channels(
        env,
        f"""
channels:
  default:
    - name: chat
      url: "mmost://127.0.0.1:{receiver.port}/${{HOOK_TOKEN}}"
""",
    )
    ident = open_incident(severity="P3")
    result = invoke(ident, "--template", "stakeholder", "--send")
    assert result.exit_code == 0, result.output
    (req,) = receiver.requests
    assert req["path"] == f"/hooks/{CANARY}"
    payload = json.loads(req["body"])
    assert f"Incident Update - {ident}" in payload["text"]
    assert "Resolution: Find the cause and restore service" in payload["text"]
    assert CANARY not in result.output + everything_recorded(env, ident)


def test_notify_does_not_raise_when_the_store_fails_under_it(
    env: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from irdrive.errors import TargetUnreachable
    from irdrive.incidents.store import IncidentStore

    channels(env, f'channels: {{P1: [{{name: r, url: "json://127.0.0.1:{receiver.port}/"}}]}}')
    ident = open_incident()

    def gone(*args: Any, **kwargs: Any) -> Any:
        raise TargetUnreachable(f"history store unreachable (token {CANARY})")

    with open_incidents() as store:
        monkeypatch.setattr(IncidentStore, "append", gone)
        (sent,) = comms.notify(store, ident, "internal", "run:abc")  # sent; not recorded
        assert sent.ok and len(receiver.requests) == 1
        monkeypatch.setattr(IncidentStore, "timeline", gone)
        (failed,) = comms.notify(store, ident, "internal", "run:abc")
        assert not failed.ok and failed.reason == "history store unreachable (token ********)"
    assert len(receiver.requests) == 1
