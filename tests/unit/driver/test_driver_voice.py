"""One voice for a run's outcome: a mapping written in YAML flow style, each failure told once
and whole, a diagnosis's findings, symptoms left unremedied, and evidence bundles, all read
from structured results (set_stats), never from text."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from irdrive.catalog import Parameter, Runbook
from irdrive.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ParameterError
from irdrive.events import EventCollector
from irdrive.params import parse_extra_vars, validate
from irdrive.render import LiveProgress, render_summary
from irdrive.report import RunReport, TaskResult

T0, T1 = "2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00"
REFUSAL = "refused: backend: asked 100000000 replicas, allowed at most 30; nothing was changed"
ROTATION = (
    'Secret rotation R1 failed at "Rotate the database login": password authentication '
    "failed for user admin. Credentials stay usable: a Secrets Manager secret moves AWSCURRENT only after its "
    "new value passed its test. Run again with the same rotation_id (R1) to finish."
)
FINDING = {
    "id": "db-slow",
    "severity": "high",
    "target": "postgres/10.0.0.6:5432",
    "summary": "the database is slow: 2 sessions idle in transaction (max 0)",
    "runbook": "db",
}


def runbook_with(**specs: dict[str, Any]) -> Runbook:
    rb = Runbook(name="rb", path=Path("rb.yml"))
    rb.parameters = {n: Parameter.from_spec(n, s, "r") for n, s in specs.items()}
    return rb


@pytest.mark.parametrize("kind", ["raw", "dict"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{backend: 5}", {"backend": 5}),
        ("{backend: 5, frontend: 3}", {"backend": 5, "frontend": 3}),
        ('{"backend": 5}', {"backend": 5}),
    ],
)
def test_a_mapping_in_yaml_flow_style_is_accepted(kind: str, text: str, expected: Any) -> None:
    rb = runbook_with(r_deployments={"type": kind})
    given = parse_extra_vars([f"deployments={text}"])
    assert validate(rb, given) == {"r_deployments": expected}


def test_a_list_in_yaml_flow_style_is_accepted() -> None:
    rb = runbook_with(r_ips={"type": "list", "elements": "str"})
    assert validate(rb, {"ips": "[10.0.0.1, 10.0.0.2]"}) == {"r_ips": ["10.0.0.1", "10.0.0.2"]}


def test_a_broken_mapping_is_one_usage_line() -> None:
    rb = runbook_with(r_deployments={"type": "raw"})
    with pytest.raises(
        ParameterError, match=r"^parameter r_deployments must be of type raw"
    ) as err:
        validate(rb, {"deployments": "{backend: [5"})
    assert err.value.exit_code == EXIT_USAGE
    assert "\n" not in str(err.value)


def task(name: str, final: str, res: dict[str, Any], host: str = "localhost") -> list[Any]:
    common = {"task": name, "task_uuid": name, "host": host, "task_action": "x.y"}
    return [
        {"event": "runner_on_start", "created": T0, "event_data": common},
        {"event": final, "created": T1, "event_data": {**common, "res": res}},
    ]


def collect(events: list[dict[str, Any]], **report_args: Any) -> RunReport:
    report = RunReport(runbook="demo", **report_args)
    collector = EventCollector(report)
    for event in events:
        collector.handle(event)
    collector.finish()
    return report


def summary(report: RunReport) -> str:
    out = io.StringIO()
    render_summary(Console(file=out, width=80, color_system=None), report)
    return out.getvalue()


def test_a_rescue_failing_with_the_same_message_is_told_once() -> None:
    events = [
        *task("Scale", "runner_on_failed", {"msg": REFUSAL, "error_kind": "invalid_input"}),
        *task(
            "Fail and say which deployments are in what state", "runner_on_failed", {"msg": REFUSAL}
        ),
    ]
    report = collect(events, status="failed", rc=2)
    assert report.errors == [f"Scale [localhost]: {REFUSAL}"]
    text = summary(report)
    assert text.count("asked 100000000 replicas") == 1
    assert "BAD INPUT" in text and report.exit_code == EXIT_USAGE


def test_a_failure_quoted_whole_in_the_rescues_message_is_told_once_and_never_cut() -> None:
    first = "password authentication failed for user admin"
    events = [
        *task("Rotate the database login", "runner_on_failed", {"msg": first}),
        *task("Fail and say what state the rotation left", "runner_on_failed", {"msg": ROTATION}),
    ]
    report = collect(events, status="failed", rc=2)
    assert report.errors == [f"Fail and say what state the rotation left [localhost]: {ROTATION}"]
    text = " ".join(summary(report).split())
    assert "Run again with the same rotation_id (R1) to finish." in text
    assert "…" not in text


def test_the_live_line_of_a_failure_leaves_its_message_to_the_summary() -> None:
    out = io.StringIO()
    with LiveProgress(Console(file=out, width=80, color_system=None)) as progress:
        progress.update(TaskResult(task="Rotate", host="db", status="failed", msg=ROTATION))
    assert "Credentials" not in out.getvalue()


def test_a_diagnosis_prints_its_findings_with_the_runbook_to_run() -> None:
    report = RunReport(runbook="diagnose", status="successful", rc=0)
    report.recorded = {"irdrive_diagnosis": {"status": "high", "findings": [FINDING]}}
    text = " ".join(summary(report).split())
    assert "Findings:" in text
    assert "[high] the database is slow: 2 sessions idle in transaction (max 0)" in text
    assert "-> irdrive run db" in text
    assert report.exit_code == EXIT_OK and "SUCCESS" in text
    assert report.to_dict()["findings"] == [FINDING]


def test_a_healthy_diagnosis_says_it_found_nothing() -> None:
    report = RunReport(runbook="diagnose", status="successful", rc=0)
    report.recorded = {"irdrive_diagnosis": {"status": "ok", "findings": []}}
    assert "Findings: none" in summary(report)


def test_a_symptom_left_unremedied_is_not_resolved_and_names_the_next_runbook() -> None:
    report = RunReport(runbook="performance-degradation", status="successful", rc=0)
    report.recorded = {"irdrive_unresolved": [FINDING]}
    assert report.exit_code == EXIT_FAILED
    assert report.outcome == "NOT RESOLVED"
    text = " ".join(summary(report).split())
    assert "Not remedied by this runbook:" in text
    assert "NOT RESOLVED (successful; next: irdrive run db, exit 1)" in text
    assert "SUCCESS" not in text
    data = report.to_dict()
    assert data["outcome"] == "NOT RESOLVED" and data["unresolved"] == [FINDING]


def test_in_check_mode_an_unremedied_symptom_is_shown_without_failing() -> None:
    report = RunReport(runbook="performance-degradation", status="successful", rc=0, check=True)
    report.recorded = {"irdrive_unresolved": [FINDING]}
    assert report.exit_code == EXIT_OK
    assert "Not remedied by this runbook:" in summary(report)


def test_the_evidence_bundle_is_printed_with_its_whole_path() -> None:
    bundle = "/var/lib/irdrive/evidence/INC-42-20260101T000000Z-with-a-rather-long-name"
    report = RunReport(runbook="preserve-evidence", status="successful", rc=0)
    report.recorded = {"irdrive_evidence": {"incident_id": "INC-42", "bundle": bundle}}
    assert report.evidence == [bundle]
    assert f"Evidence bundle: {bundle}" in summary(report)  # one line, whole, at width 80
    assert report.to_dict()["evidence"] == [bundle]


def _assert_failure(task_path: str | None = None) -> list[Any]:
    events = task("Check the db runbook's input", "runner_on_failed", {"msg": "bad input"})
    for event in events:
        event["event_data"]["resolved_action"] = "ansible.builtin.assert"
        if task_path:
            event["event_data"]["task_path"] = task_path
    return events


def test_a_roles_own_input_check_failing_before_any_change_is_bad_input() -> None:
    report = collect(_assert_failure(), status="failed", rc=2)
    assert report.tasks[0].error_kind == "invalid_input"
    assert report.exit_code == EXIT_USAGE and report.outcome == "BAD INPUT"


def test_a_check_failing_after_a_change_is_a_failure() -> None:
    events = [*task("Scale", "runner_on_ok", {"changed": True}), *_assert_failure()]
    assert collect(events, status="failed", rc=2).exit_code == EXIT_FAILED


def test_a_verification_assert_failing_is_a_failure_not_bad_input(tmp_path: Path) -> None:
    tasks = tmp_path / "verify.yml"
    tasks.write_text(
        "- name: Verify the blocks\n  tags: [verify]\n  ansible.builtin.assert:\n    that: false\n"
    )
    report = collect(_assert_failure(f"{tasks}:1"), status="failed", rc=2)
    assert report.tasks[0].error_kind is None
    assert report.exit_code == EXIT_FAILED


def test_an_unexpected_error_is_one_line_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from irdrive import cli

    def broken(*args: Any, **kwargs: Any) -> None:
        raise FileNotFoundError(2, "No such file or directory", "/proc/nope/runs")

    monkeypatch.setattr(cli.cli, "main", broken)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "diagnose", "-v"])
    assert exit_info.value.code == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "/proc/nope/runs" in err and "-vvv shows the traceback" in err
    with pytest.raises(FileNotFoundError):  # -vvv: the traceback, for a bug report
        cli.main(["run", "diagnose", "-vvv"])


@pytest.mark.parametrize(
    ("args", "count"),
    [
        ([], 0),
        (["-v"], 1),
        (["-vvv"], 3),
        (["-v", "-vv"], 3),
        (["--verbose"] * 3, 3),
        (["-e", "x=-vvv"], 0),
    ],
)
def test_verbosity_counts_the_v_options(args: list[str], count: int) -> None:
    from irdrive.cli import verbosity

    assert verbosity(args) == count


def test_an_unreadable_extra_vars_file_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "vars.yml"
    broken.write_text("a: [\n")
    with pytest.raises(ParameterError) as err:
        parse_extra_vars([f"@{broken}"])
    assert "\n" not in str(err.value) and str(broken) in str(err.value)


def test_a_name_that_does_not_exist_is_bad_input() -> None:
    events = task(
        "Set the kill switches",
        "runner_on_failed",
        {"msg": "unknown kill switch nothing", "error_kind": "not_found"},
    )
    assert collect(events, status="failed", rc=2).exit_code == EXIT_USAGE


def test_a_broken_lab_state_file_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from irdrive import cli

    (tmp_path / "lab.json").write_text("{garbage")
    monkeypatch.setenv("IRDRIVE_LAB_DIR", str(tmp_path))
    monkeypatch.setenv("IRDRIVE_LAB_PORT_BASE", "18790")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lab", "status"])
    assert exit_info.value.code == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{tmp_path / 'lab.json'} is not valid JSON" in err
