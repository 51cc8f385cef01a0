"""The bench's arithmetic and its one JSON object, from fake reports and fake sections: no lab."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as bench_main
from bench import runbooks
from irdrive.catalog import Catalog
from irdrive.paths import find_project


def task(name: str, duration: float | None, host: str = "localhost", **extra: Any) -> dict:
    return {
        "task": name,
        "host": host,
        "duration": duration,
        "action": extra.get("action", "irdrive.ops.step"),
        "role": extra.get("role"),
        "status": "ok",
    }


def report(tasks: list[dict], duration: float, outcome: str = "SUCCESS") -> dict:
    return {"outcome": outcome, "duration": duration, "tasks": tasks, "errors": []}


RUNS = [
    [
        task("Restart", 3.0, action="irdrive.ops.rollout_restart"),
        task("Check health", 0.5),
        task("Check health", 0.7),  # one step twice in a run: 1.2 s in all
        task("Measure storage", 2.0, host="web", action="ansible.builtin.shell"),
        task("Measure storage", 1.0, host="db", action="ansible.builtin.shell"),
        task("Lock", 0.1),
        task("Still running", None),
    ],
    [
        task("Restart", 5.0, action="irdrive.ops.rollout_restart"),
        task("Check health", 1.0),
        task("Measure storage", 2.2, host="web", action="ansible.builtin.shell"),
        task("Measure storage", 0.9, host="db", action="ansible.builtin.shell"),
        task("Lock", 0.3),
        task("Only once", 9.0),
    ],
    [
        task("Restart", 4.0, action="irdrive.ops.rollout_restart"),
        task("Check health", 1.4),
        task("Measure storage", 2.4, host="web", action="ansible.builtin.shell"),
        task("Measure storage", 1.1, host="db", action="ansible.builtin.shell"),
        task("Lock", 0.2),
    ],
]


def test_slowest_steps_are_medians_per_task_and_host_slowest_first() -> None:
    slowest = runbooks.slowest_steps(RUNS)
    got = [(s["task"], s["host"], s["duration_s"], s["runs"]) for s in slowest]
    assert got == [
        ("Only once", "localhost", 9.0, 1),
        ("Restart", "localhost", 4.0, 3),
        ("Measure storage", "web", 2.2, 3),
        ("Check health", "localhost", 1.2, 3),
        ("Measure storage", "db", 1.0, 3),
    ]
    assert slowest[1]["action"] == "irdrive.ops.rollout_restart"
    assert slowest[2]["action"] == "ansible.builtin.shell"
    assert len(runbooks.slowest_steps(RUNS, top=2)) == 2


def test_summarize_takes_medians_of_wall_run_and_start_up() -> None:
    samples = [
        runbooks.sample_from(report(tasks, duration=run), 0, wall, "payments-failover")
        for tasks, run, wall in zip(RUNS, (7.0, 9.0, 8.0), (8.0, 12.0, 9.5), strict=True)
    ]
    res = runbooks.summarize(samples)
    assert res["recover_s"] == 9.5
    assert res["run_s"] == 8.0
    assert res["overhead_s"] == 1.5  # of 1.0, 3.0, 1.5
    assert res["rounds"] == {"wall_s": [8.0, 12.0, 9.5], "run_s": [7.0, 9.0, 8.0]}
    assert [s["task"] for s in res["slowest"]][:2] == ["Only once", "Restart"]


@pytest.mark.parametrize(("rc", "outcome"), [(1, "FAILED"), (0, "NOT RESOLVED"), (2, "SUCCESS")])
def test_a_run_without_a_verified_recovery_stops_the_bench(rc: int, outcome: str) -> None:
    failed = dict(report(RUNS[0], 5.0, outcome), errors=["Restart [localhost]: timed out"])
    with pytest.raises(runbooks.BenchError, match="timed out") as err:
        runbooks.sample_from(failed, rc, 6.0, "platform-outage")
    assert f"exit {rc}, outcome {outcome}" in str(err.value)


def test_the_cases_are_the_catalogs_incident_runbooks() -> None:
    """A runbook the catalog files under a severity is one the bench must time."""
    incident = {rb.name for rb in Catalog(find_project()).runbooks() if rb.severity}
    assert {c.runbook for c in runbooks.CASES} == incident
    assert len(incident) == 5
    with pytest.raises(runbooks.BenchError, match="unknown runbook nope"):
        runbooks.select(runbooks.CASES, ["nope"])
    assert [c.runbook for c in runbooks.select(runbooks.CASES, ["streaming-outage"])] == [
        "streaming-outage"
    ]


def test_only_takes_sections_and_runbook_names() -> None:
    names = [c.runbook for c in runbooks.CASES]
    assert bench_main.parse_only([], names) == (list(bench_main.SECTIONS), [])
    assert bench_main.parse_only(["api-step,fleet"], names) == (["fleet", "api_step"], [])
    assert bench_main.parse_only(["payments-failover"], names) == (
        ["runbooks"],
        ["payments-failover"],
    )
    with pytest.raises(bench_main.BenchError, match="not a section"):
        bench_main.parse_only(["payments_failover"], names)


class Recorder:
    """Fake sections: each records its call and returns fixed figures."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.labs: list[tuple[int, Path]] = []

    def fleet(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("fleet", kw))
        return {"hosts_3_s": 4.0, "hosts_30_s": 10.0, "shell_30_s": 20.0, "rounds": {}}

    def payments(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("payments", kw))
        return {"irdrive_s": 6.0, "shell_s": 2.0, "floor_s": 1.5, "rounds": {}}

    def runbooks(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("runbooks", kw))
        return {
            "payments-failover": {
                "recover_s": 6.0,
                "run_s": 5.0,
                "overhead_s": 1.0,
                "slowest": runbooks.slowest_steps(RUNS),
            }
        }

    def api_step(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("api_step", kw))
        return {"in_process_above_debug_s": 0.09, "module_above_debug_s": 0.8}

    def cli(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("cli", kw))
        return {"help_s": 0.11, "list_s": 0.35, "rounds": {}}

    @contextlib.contextmanager
    def lab(self, port_base: int, lab_dir: Path) -> Iterator[None]:
        self.labs.append((port_base, lab_dir))
        yield

    def measures(self) -> dict[str, Any]:
        return {s: getattr(self, s) for s in bench_main.SECTIONS}


def test_one_bench_run_gives_the_issue_shape_and_the_ratios(tmp_path: Path) -> None:
    fake = Recorder()
    lab_dir = tmp_path / "bench-lab"
    res = bench_main.run_all(
        bench_main.SECTIONS, 3, 18500, lab_dir, measures=fake.measures(), lab=fake.lab
    )
    assert set(res["payments_failover"]) >= {"irdrive_s", "shell_s", "floor_s"}
    assert set(res["fleet"]) >= {"hosts_3_s", "hosts_30_s", "shell_30_s"}
    assert set(res["runbooks"]["payments-failover"]) >= {"recover_s", "slowest"}
    assert res["api_step"]["in_process_above_debug_s"] == 0.09
    assert res["ratios"] == {
        "payments_irdrive_over_floor": 4.0,
        "payments_irdrive_over_shell": 3.0,
        "fleet_30_over_3": 2.5,
        "fleet_irdrive_30_over_shell_30": 0.5,
        "api_step_in_process_above_debug_s": 0.09,
        "api_step_module_above_debug_s": 0.8,
        "cli_list_s": 0.35,
        "cli_help_s": 0.11,
    }
    assert "skipped" not in res
    # payments and runbooks share one lab; the fleet gets its own folder and ports.
    assert fake.labs == [(18500, lab_dir)]
    calls = dict(fake.calls)
    assert calls["payments"] == {"rounds": 3, "port_base": 18500, "lab_dir": lab_dir}
    assert calls["runbooks"]["lab_dir"] == lab_dir and calls["runbooks"]["only"] == []
    assert calls["fleet"]["port_base"] == 18500 + bench_main.FLEET_PORT_OFFSET
    assert calls["fleet"]["lab_dir"] != lab_dir
    json.dumps(res)  # the one JSON object
    table = bench_main.render(res)
    lines = {
        line.split("  ")[1].strip(): line for line in table.splitlines() if line.endswith("met")
    }
    assert lines["payments-failover irdrive / floor"].endswith("target <= 3: NOT met")
    assert lines["block-ips 30 hosts irdrive / shell loop"].endswith("target < 1: met")
    assert lines["API step above debug, in-process (s)"].endswith("target <= 0.15: met")
    assert lines["irdrive list (s)"].endswith("target <= 0.3: NOT met")
    assert lines["irdrive --help (s)"].endswith("target <= 0.15: met")


def test_a_missing_fleet_bench_is_skipped_and_the_rest_runs(tmp_path: Path) -> None:
    fake = Recorder()
    measures = dict(fake.measures(), fleet=None)
    res = bench_main.run_all(
        ["fleet", "api_step"], 1, 18500, tmp_path, measures=measures, lab=fake.lab
    )
    assert "fleet" not in res and res["skipped"] == {"fleet": "bench/fleet.py is not there"}
    assert [c for c, _ in fake.calls] == ["api_step"]
    assert fake.labs == []  # neither payments nor runbooks: no lab
    assert "skipped fleet" in bench_main.render(res)


def test_a_section_without_its_keys_fails_the_bench(tmp_path: Path) -> None:
    fake = Recorder()
    measures = dict(fake.measures(), fleet=lambda **kw: {"hosts_3_s": 1.0})
    with pytest.raises(bench_main.BenchError, match="fleet: measure.. returned no hosts_30_s"):
        bench_main.run_all(["fleet"], 1, 18500, tmp_path, measures=measures, lab=fake.lab)


def test_json_mode_prints_exactly_one_object_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    fake = Recorder()

    def noisy_payments(**kw: Any) -> dict[str, Any]:
        print("a section's print")
        subprocess.run([sys.executable, "-c", "print('a subprocess on fd 1')"], check=True)
        return fake.payments(**kw)

    measures = dict(fake.measures(), payments=noisy_payments)
    monkeypatch.setattr(bench_main, "load_measure", lambda section: measures[section])
    monkeypatch.setattr(bench_main, "shared_lab", fake.lab)
    bench_main.main(["--json", "--rounds", "3", "--only", "payments,api-step"])
    out, err = capfd.readouterr()
    res = json.loads(out)
    assert set(res) == {"rounds", "payments_failover", "api_step", "ratios"}
    assert "a section's print" in err and "a subprocess on fd 1" in err
    assert "ratios (issue 10 targets)" in err  # the table, beside the progress
