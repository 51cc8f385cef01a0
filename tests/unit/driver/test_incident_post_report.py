"""``irdrive incident report``: the post-mortem draft of a resolved and of an open incident
(exact MTTD/MTTA/MTTR against the targets, met and breached), the timeline table, the action
items, the SVG embedded in the HTML, times in the responder's zone, bad input (nothing
written), and nothing from a timeline entry's data in any file."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from incident_post_records import CANARY, Env, at, make_env, resolved_p1

from irdrive.cli import cli
from irdrive.commands import incident_post
from irdrive.incidents.stats import BREACHED, MET, PENDING, measure
from irdrive.incidents.store import NewEntry

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setattr(incident_post, "_now", lambda: NOW)
    return make_env(tmp_path, monkeypatch)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["incident", *args])
    return result.exit_code, result.stdout, result.stderr


def test_measures_of_a_resolved_incident_are_exact(env: Env) -> None:
    with env.store() as store:
        inc = resolved_p1(store)
    m = measure(inc, NOW)
    assert (m.detect_s, m.acknowledge_s, m.resolve_s) == (240.0, 360.0, 4200.0)
    assert (m.respond_target_s, m.resolve_target_s) == (1800, 14400)
    assert (m.respond, m.resolve) == (MET, MET)


def test_measures_breach_and_pending(env: Env) -> None:
    with env.store() as store:
        p0 = store.open(title="Outage", severity="P0", actor="a", started_at=at(0), now=at(2))
        store.set_status(p0.id, "IDENTIFIED", actor="a", now=at(2 + 16))  # 16m > 15m
        store.set_status(p0.id, "RESOLVED", actor="a", now=at(61))  # 61m > 60m
        p0 = store.get(p0.id)
        p2 = store.open(title="Slow", severity="P2", actor="a", started_at=at(0), now=at(1))
    m = measure(p0, NOW)
    assert (m.acknowledge_s, m.resolve_s, m.respond, m.resolve) == (
        960.0,
        3660.0,
        BREACHED,
        BREACHED,
    )
    # Open: pending while inside the targets, breached once past them.
    early = measure(p2, at(30))
    assert (early.acknowledge_s, early.resolve_s, early.respond, early.resolve) == (
        None,
        None,
        PENDING,
        PENDING,
    )
    late = measure(p2, at(60 * 25))
    assert (late.respond, late.resolve) == (BREACHED, BREACHED)


def test_report_of_a_resolved_incident(env: Env) -> None:
    with env.store() as store:
        inc = resolved_p1(store)
        store.update(inc.id, actor="alice", root_cause="Primary processor TLS certificate expired")
        store.add_action(
            inc.id,
            action="Alert on processor certificate expiry",
            owner="bob",
            priority="P1",
            due="2026-11-18",
            actor="alice",
            now=at(80),
        )
    out = env.tmp / "reports"
    code, stdout, stderr = run("report", inc.id, "--out", str(out), "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["draft_open"] is False
    assert result["measures"] == {
        "detect_s": 240.0,
        "acknowledge_s": 360.0,
        "resolve_s": 4200.0,
        "respond_target_s": 1800,
        "resolve_target_s": 14400,
        "respond": "met",
        "resolve": "met",
    }
    files = {key: Path(path) for key, path in result["files"].items()}
    assert sorted(p.name for p in out.iterdir()) == [f"{inc.id}.{x}" for x in ("html", "md", "svg")]
    assert files == {
        "markdown": out / f"{inc.id}.md",
        "html": out / f"{inc.id}.html",
        "svg": out / f"{inc.id}.svg",
    }
    md = files["markdown"].read_text()
    assert md.startswith(f"# Post-mortem: {inc.id} — Payments failing\n")
    assert "Draft" not in md
    assert "Card payments fail at the primary processor." in md  # summary
    assert "Checkout down for card payments." in md  # impact
    assert "| Detection (MTTD: detected - impact began) | 4m 00s | - | - |" in md
    assert "| Response (MTTA: acknowledged - detected) | 6m 00s | 30m 00s | met |" in md
    assert "| Resolution (MTTR: resolved - impact began) | 1h 10m | 4h 00m | met |" in md
    assert "| Resolved | 2026-11-20 04:10 UTC |" in md
    assert f"![Timeline of {inc.id} against its severity targets]({inc.id}.svg)" in md
    # The timeline table: every entry, in order, with time, kind, actor and summary.
    rows = [line for line in md.splitlines() if line.startswith("| ") and " | run:r1 | " in line]
    assert rows == [
        "| 3 | 2026-11-20 03:12:00 UTC | run.start | run:r1 | run payments-failover started |",
        "| 4 | 2026-11-20 03:13:00 UTC | change | run:r1 | payments processor: primary -> segpay |",
        "| 5 | 2026-11-20 03:15:00 UTC | verify | run:r1 | payments health endpoint green |",
        "| 6 | 2026-11-20 03:16:00 UTC | run.end | run:r1 | run payments-failover ok |",
    ]
    assert "## Root cause\n\nPrimary processor TLS certificate expired\n" in md
    assert (
        "## What went well\n\n"
        "- Acknowledged 6m 00s after detection, inside the 30m 00s respond target. "
        "_(from the record)_\n"
        "- Resolved 1h 10m after the impact began, inside the 4h 00m resolve target. "
        "_(from the record)_\n"
        "- Every verification passed (1). _(from the record)_\n"
        "- _To fill in._\n\n"
        "## What went poorly\n\n- _To fill in._\n"
    ) in md
    assert "| Action | Owner | Due Date | Status | Priority |" in md
    assert (
        "| #1 Alert on processor certificate expiry | bob | 2026-11-18 (overdue) | open | P1 |"
        in md
    )
    # The HTML embeds the picture (no XML declaration inside the page) and parses.
    html = files["html"].read_text()
    assert html.count("<svg ") == 1 and "<?xml" not in html
    assert '<td class="met">met</td>' in html
    HTMLParser().feed(html)
    ElementTree.fromstring(files["svg"].read_text())


def test_report_of_an_open_incident_is_a_draft(env: Env) -> None:
    with env.store() as store:
        inc = store.open(
            title="Video stalls", severity="P1", actor="a", started_at=at(0), now=at(5)
        )
    code, stdout, stderr = run("report", inc.id, "--out", str(env.tmp / "r"))
    assert code == 0, stderr
    assert "draft, still open" in stdout
    md = (env.tmp / "r" / f"{inc.id}.md").read_text()
    assert "**Draft: the incident is still open (INVESTIGATING).**" in md
    # NOW is a day later: both clocks are past their targets without an answer.
    assert (
        "| Response (MTTA: acknowledged - detected) | not acknowledged yet | 30m 00s | BREACHED |"
        in md
    )
    assert (
        "| Resolution (MTTR: resolved - impact began) | not resolved yet | 4h 00m | BREACHED |"
        in md
    )
    assert "| Resolved | not resolved yet |" in md
    assert (
        "## What went poorly\n\n"
        "- Not acknowledged within the 30m 00s respond target. _(from the record)_\n"
        "- Not resolved within the 4h 00m resolve target. _(from the record)_\n"
    ) in md
    assert "_None yet: add them with" in md
    svg = ElementTree.fromstring((env.tmp / "r" / f"{inc.id}.svg").read_text())
    kinds = [g.get("data-kind") for g in svg.iter("{http://www.w3.org/2000/svg}g")]
    assert "resolved" not in kinds and "detected" in kinds


def test_report_breached_and_in_the_responders_zone(env: Env) -> None:
    with env.store() as store:
        inc = store.open(title="Outage", severity="P0", actor="a", started_at=at(0), now=at(2))
        store.set_status(inc.id, "IDENTIFIED", actor="a", now=at(18))
        store.append(
            inc.id,
            [
                NewEntry("verify", "api rollout available", "run:r", {"ok": False}, at(30)),
                NewEntry(
                    "run.end",
                    "platform-outage FAILED (exit 1)",
                    "run:r",
                    {"runbook": "platform-outage", "exit_code": 1},
                    at(40),
                ),
                NewEntry("verify", "api healthy", "run:r", {"ok": True}, at(70)),
                NewEntry("verify", "verified: api (check)", "run:c", {"check": True}, at(71)),
            ],
        )
        store.set_status(inc.id, "RESOLVED", actor="a", now=at(75))
    code, _, stderr = run("report", inc.id, "--out", str(env.tmp), "--tz", "Europe/Berlin")
    assert code == 0, stderr
    md = (env.tmp / f"{inc.id}.md").read_text()
    assert "| Response (MTTA: acknowledged - detected) | 16m 00s | 15m 00s | BREACHED |" in md
    assert "| Resolution (MTTR: resolved - impact began) | 1h 15m | 1h 00m | BREACHED |" in md
    assert "| Impact began | 2026-11-20 03:00 UTC (04:00 CET) |" in md
    assert (
        "## What went poorly\n\n"
        "- Acknowledged 16m 00s after detection, past the 15m 00s respond target. "
        "_(from the record)_\n"
        "- Resolved 1h 15m after the impact began, past the 1h 00m resolve target. "
        "_(from the record)_\n"
        "- 1 run did not succeed: platform-outage FAILED (exit 1). _(from the record)_\n"
        "- 1 of 2 verifications failed: api rollout available. _(from the record)_\n"
    ) in md
    html = (env.tmp / f"{inc.id}.html").read_text()
    assert '<td class="breached">BREACHED</td>' in html


def test_report_goes_to_the_state_folder_by_default(env: Env) -> None:
    with env.store() as store:
        inc = resolved_p1(store)
    code, stdout, stderr = run("report", inc.id)
    assert code == 0, stderr
    assert (env.tmp / "state" / "reports" / f"{inc.id}.html").is_file()
    assert str(env.tmp / "state" / "reports" / f"{inc.id}.md") in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["INC-20991231-000000"], "no incident INC-20991231-000000"),
        (["INC-bogus"], "invalid incident id 'INC-bogus'"),
        (["{id}", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["{id}", "--out", "{file}"], "is a file, not a folder"),
    ],
)
def test_report_bad_input_is_one_line_and_writes_nothing(
    env: Env, args: list[str], message: str
) -> None:
    with env.store() as store:
        inc = resolved_p1(store)
    afile = env.tmp / "a-file"
    afile.write_text("x")
    out = env.tmp / "out"
    args = [a.format(id=inc.id, file=afile) for a in args]
    if "--out" not in args:
        args += ["--out", str(out)]
    code, stdout, stderr = run("report", *args)
    assert code == 2
    assert stderr.startswith("Error: ") and message in stderr and stderr.count("\n") == 1
    assert not out.exists() and afile.read_text() == "x"
    assert stdout == ""


def test_an_unreachable_database_is_one_line_without_its_password(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRDRIVE_DB_URL", "postgresql://irdrive:pw-s3cret@127.0.0.1:1/irdrive")
    code, _, stderr = run("report", "INC-20261120-030400", "--out", str(env.tmp / "o"))
    assert code not in (0, 2) and stderr.startswith("Error: ") and stderr.count("\n") == 1
    assert "pw-s3cret" not in stderr
    assert not (env.tmp / "o").exists()


def test_no_timeline_data_reaches_the_report(env: Env) -> None:
    """A report shows each entry's summary and chosen fields, never its data: the canary in
    run parameters, prior states, results, alert annotations and the record's details stays
    in the store."""
    with env.store() as store:
        inc = resolved_p1(store)
        assert CANARY in json.dumps([e.data for e in store.timeline(inc.id)])
    code, stdout, stderr = run("report", inc.id, "--out", str(env.tmp / "r"), "--json")
    assert code == 0, stderr
    assert CANARY not in stdout + stderr
    texts = [p.read_text() for p in (env.tmp / "r").iterdir()]
    assert len(texts) == 3
    for text in texts:
        assert CANARY not in text
        assert "payments processor: primary -> segpay" in text or "primary -&gt; segpay" in text


def test_markup_in_a_record_is_escaped(env: Env) -> None:
    with env.store() as store:
        inc = store.open(
            title="<script>alert(1)</script> | pipes & co",
            severity="P2",
            actor="a",
            started_at=at(0),
            now=at(1),
        )
        store.note(inc.id, "ran `kubectl get pods | grep <b>`", actor="alice", kind="command")
    code, _, stderr = run("report", inc.id, "--out", str(env.tmp / "r"))
    assert code == 0, stderr
    md = (env.tmp / "r" / f"{inc.id}.md").read_text()
    html = (env.tmp / "r" / f"{inc.id}.html").read_text()
    assert "<script>" not in md and "<script>" not in html and "<b>" not in html
    assert "&lt;script>alert(1)&lt;/script> \\| pipes & co" in md
    assert "kubectl get pods \\| grep &lt;b>" in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | pipes &amp; co" in html
    ElementTree.fromstring((env.tmp / "r" / f"{inc.id}.svg").read_text())


def test_incident_post_imports_nothing_heavy_at_module_top() -> None:
    code = (
        "import sys, irdrive.commands.incident_post; "
        "print(sorted(m for m in ('sqlalchemy', 'jinja2', 'rich', 'ansible') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_secret_environment_values_are_masked_in_the_report(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second guard: the value of a secret environment variable typed into the record (a
    title, a root cause, a note, an action item) is masked in every file of the report."""
    secret = "CANARY-env-93be0c"
    monkeypatch.setenv("PAYMENTS_API_TOKEN", secret)
    with env.store() as store:
        inc = store.open(
            title=f"Payments key {secret} rejected", severity="P1", actor="a", now=at(0)
        )
        store.update(inc.id, actor="a", root_cause=f"the key {secret} was revoked", now=at(1))
        store.append(inc.id, [NewEntry("change", f"set key to {secret}", "run:r", {}, at(2))])
        store.add_action(
            inc.id, action=f"rotate {secret}", owner="bob", priority="P1", due=None, actor="a"
        )
    code, _, stderr = run("report", inc.id, "--out", str(env.tmp / "r"))
    assert code == 0, stderr
    for path in (env.tmp / "r").iterdir():
        text = path.read_text()
        assert secret not in text, path.name
        assert "********" in text, path.name
