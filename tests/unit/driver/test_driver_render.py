"""The rich rendering: live progress, the summary of a run, and the catalog table."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from irdrive.catalog import Catalog
from irdrive.paths import find_project
from irdrive.render import LiveProgress, render_catalog, render_summary
from irdrive.report import RunReport, TaskResult


def render(report: RunReport) -> str:
    out = io.StringIO()
    render_summary(Console(file=out, width=120, no_color=True), report)
    return out.getvalue()


def test_summary_shows_tasks_changes_verified_and_total_time() -> None:
    report = RunReport(runbook="demo", status="successful", rc=0, duration=9.5)
    report.tasks = [
        TaskResult("Switch processor", "localhost", "changed", 2.0, changed=True),
        TaskResult("Rotate key", "localhost", "changed", 0.5, changed=True),
        TaskResult("Check payments", "localhost", "ok", 1.0),
    ]
    report.changes = [
        {
            "task": "Switch processor",
            "host": "localhost",
            "diff": {"before": "ccbill", "after": "segpay"},
        },
        {"task": "Rotate key", "host": "localhost", "censored": True},
    ]
    report.verified = [
        {"task": "Check payments", "host": "localhost", "msg": "payments green on segpay"}
    ]
    text = render(report)
    assert "Switch processor" in text and "changed" in text and "2.00s" in text
    assert "Switch processor [localhost]: ccbill -> segpay" in text
    assert "Rotate key [localhost] (details hidden: no_log)" in text
    assert "✓ Check payments [localhost]: payments green on segpay" in text
    assert "Total time: 9.50s" in text
    assert "SUCCESS" in text


@pytest.mark.parametrize(
    ("status", "rc", "word"), [("failed", 2, "FAILED"), ("successful", 0, "CHECKED")]
)
def test_summary_outcome_line(status: str, rc: int, word: str) -> None:
    report = RunReport(runbook="demo", status=status, rc=rc, check=True, duration=1.0)
    assert word in render(report)
    assert "Would change: nothing" in render(report)


def test_live_progress_prints_finished_tasks() -> None:
    out = io.StringIO()
    progress = LiveProgress(Console(file=out, width=120, no_color=True))
    with progress:
        progress.update(TaskResult(task="Restart", host="k8s"))
        progress.update(
            TaskResult(
                task="Restart", host="k8s", status="failed", duration=1.5, msg="rollout stuck"
            )
        )
    text = out.getvalue()
    assert "✗ failed      Restart k8s 1.50s" in text
    assert "rollout stuck" not in text  # told once, whole, in the summary


def test_the_catalog_is_one_row_per_runbook(project_dir: Path) -> None:
    (project_dir / "playbooks" / "broken.yml").write_text("- hosts: all\n  roles: [nope]\n")
    out = io.StringIO()
    render_catalog(Console(file=out, width=160, no_color=True), Catalog(find_project()).runbooks())
    rows = {line.split()[1]: line for line in out.getvalue().splitlines() if line.startswith("│")}
    assert set(rows) == {"broken", "demo-failover", "health-check"}
    demo = rows["demo-failover"]
    assert "P1" in demo and "P1 Demo Failure" in demo
    assert "Fail the demo service over to its backup, verified." in demo
    # No summary declared: the description's first sentence (here the play name).
    assert "Health check" in rows["health-check"] and "-" in rows["health-check"]
    assert "cannot be read" in rows["broken"]
