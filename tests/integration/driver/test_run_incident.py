"""`irdrive run ... --incident` with real ansible-runner runs of the fixture runbook on
localhost (no lab): the run recorded in the incident's timeline, refused before anything runs
for an unknown or closed incident, never failed by a timeline that cannot be written, and no
secret in any row of the history database."""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from irdrive.cli import cli
from irdrive.errors import TargetUnreachable
from irdrive.incidents import runlink
from irdrive.incidents.store import open_incidents

TOKEN = "CANARY-token-7c91e2"  # the runbook's no_log parameter, from -e @FILE
ENV_CANARY = "CANARY-pg-1f0a3d"  # a secret environment variable, echoed by a task
ECHO_PG = "{{ lookup('env', 'PGPASSWORD') }}"


@pytest.fixture
def db(project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "history.db"
    monkeypatch.setenv("IRDRIVE_DB_URL", f"sqlite:///{path}")
    monkeypatch.setenv("IRDRIVE_USER", "oncall-bob")
    monkeypatch.setenv("PGPASSWORD", ENV_CANARY)
    monkeypatch.delenv("IRDRIVE_INCIDENT", raising=False)
    return path


def open_incident(title: str = "Demo payments down") -> str:
    with open_incidents() as store:
        return store.open(title=title, severity="P1", actor="oncall-bob").id


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["run", "demo-failover", "-i", "local", "--yes", *args])


def raw_rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')]  # noqa: S608


def runs(state_dir: Path) -> list[Path]:
    return sorted((state_dir / "runs").glob("*")) if (state_dir / "runs").exists() else []


def test_a_run_is_recorded_and_no_secret_reaches_any_row(
    db: Path, state_dir: Path, tmp_path: Path
) -> None:
    ident = open_incident()
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text(f"api_token: {TOKEN}\n")
    res = run("-e", f"reason=pg {ECHO_PG}", "-e", f"@{secrets_file}", "--json", "--incident", ident)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["incident"] == {
        "id": ident,
        "entries_written": report["incident"]["entries_written"],
        "timeline_updated": True,
        "problems": [],
    }
    assert f"Recording in incident {ident} (P1, INVESTIGATING)" in res.stderr
    with open_incidents() as store:
        entries = store.timeline(ident)
        assert store.verify(ident).ok
        assert store.get(ident).runbook == "demo-failover"
    assert report["incident"]["entries_written"] == len(entries) - 1  # all but "opened"
    kinds = [e.kind for e in entries]
    assert kinds[:3] == ["opened", "run.start", "field"] and kinds[-1] == "run.end"
    assert kinds.count("verify") == 2 and kinds.count("change") == 2
    start = entries[1]
    assert start.data["parameters"]["api_token"] == "********"
    assert start.data["command"] == shlex.join(
        ["irdrive", "run", "demo-failover", "-e", f"reason=pg {ECHO_PG}", "-e", f"@{secrets_file}"]
        + ["-i", "local", "--incident", ident]
    )
    assert start.data["run_id"] == Path(report["run_dir"]).name
    censored = next(e for e in entries if e.kind == "change" and e.data.get("censored"))
    assert censored.data["task"] == "Call the API with the token"
    # The echo of the environment's secret happened, and reached no row.
    echoed = [e for e in entries if e.kind == "task.end" and e.data["task"].startswith("Echo")]
    assert echoed and echoed[0].data["status"] == "ok"
    rows = raw_rows(db)
    assert any(ident in row for row in rows)
    assert [row for row in rows if TOKEN in row or ENV_CANARY in row] == []
    for path in db.parent.glob(f"{db.name}*"):
        data = path.read_bytes()
        assert TOKEN.encode() not in data and ENV_CANARY.encode() not in data


def test_a_failed_check_run_is_recorded_with_its_failure(db: Path) -> None:
    ident = open_incident()
    res = run("-e", "reason=drill", "-e", "fail_now=true", "--check", "--incident", ident)
    assert res.exit_code == 1, res.output
    with open_incidents() as store:
        entries = store.timeline(ident)
    recorded = f"Timeline of {ident}: {len(entries) - 1} entries recorded"
    assert recorded in " ".join(res.output.split())
    assert entries[1].data["check"] is True and "check mode" in entries[1].summary
    failed = [e for e in entries if e.kind == "task.end" and e.data["status"] == "failed"]
    assert [e.data["task"] for e in failed] == ["Fail on request"]
    assert failed[0].data["msg"] == "requested failure"
    end = entries[-1]
    assert end.kind == "run.end" and end.data["exit_code"] == 1 and end.data["check"] is True
    assert end.data["errors"] == ["Fail on request [localhost]: requested failure"]


def test_the_incident_comes_from_the_environment_by_default(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = open_incident()
    monkeypatch.setenv("IRDRIVE_INCIDENT", ident)
    res = run("-e", "reason=env", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["incident"]["id"] == ident
    monkeypatch.setenv("IRDRIVE_INCIDENT", "  ")  # blank: no incident
    res = run("-e", "reason=env", "--json")
    assert res.exit_code == 0 and "incident" not in json.loads(res.stdout)
    with open_incidents() as store:
        assert [e.kind for e in store.timeline(ident)].count("run.start") == 1


def closed_incident() -> str:
    ident = open_incident()
    with open_incidents() as store:
        store.set_status(ident, "RESOLVED", actor="oncall-bob")
    return ident


@pytest.mark.parametrize(
    ("incident", "code", "message"),
    [
        ("INC-20991231-000000", 2, "no incident INC-20991231-000000 in the history store"),
        ("INC-12", 2, "invalid incident id 'INC-12'"),
        ("{closed}", 2, "is RESOLVED: a run attaches only to an open incident"),
    ],
)
def test_an_unknown_or_closed_incident_is_refused_before_anything_runs(
    db: Path, state_dir: Path, incident: str, code: int, message: str
) -> None:
    closed = closed_incident()
    before = db.read_bytes()
    res = run("-e", "reason=x", "--incident", incident.format(closed=closed))
    assert res.exit_code == code, res.output
    assert res.output.startswith("Error: ") and message in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert runs(state_dir) == []  # nothing ran
    assert db.read_bytes() == before  # nothing written


def test_a_history_store_that_does_not_exist_is_not_created(
    db: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IRDRIVE_DB_URL")  # the default: history.db in the state folder
    res = run("-e", "reason=x", "--incident", "INC-20261202-031500")
    assert res.exit_code == 2, res.output
    assert res.output == (
        f"Error: no incident INC-20261202-031500: the history store {state_dir / 'history.db'} "
        "does not exist yet (`irdrive incident open` makes it)\n"
    )
    assert not db.exists() and not (state_dir / "history.db").exists()
    assert runs(state_dir) == []


def test_an_unreachable_history_store_is_refused_before_anything_runs(
    db: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRDRIVE_DB_URL", "postgresql://irdrive:pw@127.0.0.1:1/irdrive")
    res = run("-e", "reason=x", "--incident", "INC-20261202-031500")
    assert res.exit_code == 3, res.output
    assert res.output.startswith("Error: history store") and "pw@" not in res.output
    assert runs(state_dir) == []


@pytest.fixture
def store_gone(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The history store answers the incident check, then is gone for every later write."""
    calls: list[int] = []
    real = runlink.open_incidents

    def flaky(url: str | None = None, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:
            raise TargetUnreachable("history store sqlite:///gone.db: unable to open database")
        return real(url, **kw)

    monkeypatch.setattr(runlink, "open_incidents", flaky)
    return calls


@pytest.mark.parametrize(("args", "code"), [((), 0), (("-e", "fail_now=true"), 1)])
def test_a_timeline_that_cannot_be_written_never_changes_the_run(
    db: Path, store_gone: list[int], args: tuple[str, ...], code: int
) -> None:
    ident = open_incident()
    res = run("-e", "reason=x", *args, "--json", "--incident", ident)
    assert res.exit_code == code, res.output
    report = json.loads(res.stdout)
    assert report["exit_code"] == code and report["status"] in ("successful", "failed")
    warnings = [line for line in res.stderr.splitlines() if "timeline not updated" in line]
    assert (
        warnings
        == [
            f"Warning: incident timeline not updated: {ident}: history store sqlite:///gone.db: "
            "unable to open database"
        ]
        * 2
    )  # run.start, then the rest
    assert report["incident"]["timeline_updated"] is False
    assert len(report["incident"]["problems"]) == 2
    assert len(store_gone) == 3  # the check, run.start, the end
    with open_incidents() as store:
        assert [e.kind for e in store.timeline(ident)] == ["opened"]


def test_a_plain_run_imports_no_sqlalchemy(project_dir: Path) -> None:
    """`irdrive run` without --incident stays as fast to start as before."""
    code = (
        "import sys\n"
        "from irdrive.cli import main\n"
        "try:\n"
        "    main(['run', 'health-check', '-i', 'local', '--yes', '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print('sqlalchemy' in sys.modules, 'irdrive.incidents.store' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_a_declined_confirmation_records_nothing(
    db: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = open_incident()
    monkeypatch.setattr("irdrive.session.stdin_is_interactive", lambda: True)
    res = CliRunner().invoke(
        cli,
        ["run", "demo-failover", "-i", "local", "-e", "reason=x", "--incident", ident],
        input="n\n",
    )
    assert res.exit_code == 2, res.output
    assert "not confirmed" in res.output
    with open_incidents() as store:
        assert [e.kind for e in store.timeline(ident)] == ["opened"]
    assert runs(state_dir) == []


def test_a_driver_crash_mid_run_leaves_its_start_and_an_error_end(
    db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ident = open_incident()
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text(f"api_token: {TOKEN}\n")

    def crash(self: Any, on_update: Any = None, run_dir: Any = None) -> Any:
        raise OSError(f"disk full writing {run_dir}/report.json (token {TOKEN})")

    monkeypatch.setattr("irdrive.session.Session.run", crash)
    res = run("-e", "reason=x", "-e", f"@{secrets_file}", "--incident", ident)
    assert isinstance(res.exception, OSError)
    with open_incidents() as store:
        entries = store.timeline(ident)
        assert store.verify(ident).ok
    assert [e.kind for e in entries] == ["opened", "run.start", "field", "run.end"]
    end = entries[-1]
    assert end.data["outcome"] == "ERROR" and end.actor == f"run:{entries[1].data['run_id']}"
    assert end.summary.startswith("demo-failover ERROR: OSError: disk full writing")
    assert TOKEN not in end.summary and "********" in end.summary


def test_a_timeline_entry_that_cannot_be_built_never_changes_the_run(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = open_incident()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("hosts")

    monkeypatch.setattr(runlink, "run_entries", broken)
    res = run("-e", "reason=x", "--json", "--incident", ident)
    assert res.exit_code == 0, res.output
    assert f"Warning: incident timeline not updated: {ident}: 'hosts'" in res.stderr
    with open_incidents() as store:
        assert [e.kind for e in store.timeline(ident)] == ["opened", "run.start", "field"]


def _comms_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "comms.yml"
    path.write_text(f"timeout: 2\nchannels:\n  default:\n    - name: hook\n      url: {url}\n")
    return path


def test_notify_sends_the_update_after_the_run_and_records_it(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    got: list[str] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    monkeypatch.setenv(
        "IRDRIVE_COMMS_CONFIG", str(_comms_file(tmp_path, f"json://127.0.0.1:{port}/"))
    )
    ident = open_incident()
    try:
        res = run("-e", "reason=drill", "--incident", ident, "--notify", "internal")
    finally:
        server.shutdown()
        server.server_close()
    assert res.exit_code == 0, res.output
    assert len(got) == 1 and ident in got[0] and "Current Actions" in got[0]
    with open_incidents() as store:
        entries = store.timeline(ident)
    notify = entries[-1]  # after the run's own entries: the update tells what the run did
    assert (notify.kind, notify.data["ok"]) == ("notify", True), notify
    assert [e.kind for e in entries].index("run.end") < len(entries) - 1


def test_a_failed_notification_never_fails_the_run_and_is_recorded(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(
        "IRDRIVE_COMMS_CONFIG", str(_comms_file(tmp_path, f"json://127.0.0.1:{port}/"))
    )
    ident = open_incident()
    res = run("-e", "reason=drill", "--incident", ident, "--notify", "internal", "--json")
    assert res.exit_code == 0, res.output
    assert f"Warning: notification of {ident} to hook failed" in res.stderr
    report = json.loads(res.stdout)
    assert report["incident"]["notified"][0]["ok"] is False
    with open_incidents() as store:
        last = store.timeline(ident)[-1]
    assert (last.kind, last.data["ok"]) == ("notify", False)


def test_notify_without_an_incident_is_bad_input(db: Path, state_dir: Path) -> None:
    res = run("-e", "reason=drill", "--notify", "internal")
    assert res.exit_code == 2
    assert "--notify sends an incident's communication: give --incident INC-ID" in res.output
    assert runs(state_dir) == []
