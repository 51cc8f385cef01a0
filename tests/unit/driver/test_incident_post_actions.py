"""``irdrive incident action add|list|done|status``: action items across incidents, overdue
ones marked, each change in its incident's timeline; bad input (a bad date or priority, an
unknown incident or item) is one line, exit 2, and writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from incident_post_records import Env, at, make_env

from irdrive.cli import cli
from irdrive.commands import incident_post

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setattr(incident_post, "_now", lambda: NOW)
    monkeypatch.setenv("COLUMNS", "160")  # rich's table width off a terminal
    return make_env(tmp_path, monkeypatch)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["incident", "action", *args])
    return result.exit_code, result.stdout, result.stderr


def two_incidents(env: Env) -> tuple[str, str]:
    with env.store() as store:
        a = store.open(title="Payments", severity="P1", actor="a", now=at(0)).id
        b = store.open(title="Video", severity="P2", actor="a", now=at(60)).id
    return a, b


def test_add_list_done_across_incidents(env: Env) -> None:
    a, b = two_incidents(env)
    code, out, err = run(
        "add", a, "--action", "Alert on processor errors", "--owner", "bob",
        "--due", "2026-11-24", "--priority", "p1", "--json",
    )  # fmt: skip
    assert code == 0, err
    first = json.loads(out)
    assert {k: first[k] for k in ("id", "incident_id", "owner", "priority", "due", "status")} == {
        "id": 1,
        "incident_id": a,
        "owner": "bob",
        "priority": "P1",
        "due": "2026-11-24",
        "status": "open",
    }
    code, out, err = run("add", b, "--action", "Cache warm-up runbook", "--owner", "carol",
                         "--due", "2026-12-09")  # fmt: skip
    assert code == 0, err
    assert (
        out == f"Action item #2 added to {b}: Cache warm-up runbook (carol, P2, due 2026-12-09)\n"
    )
    code, out, err = run("add", b, "--action", "Document CDN failover", "--owner", "dan")
    assert code == 0, err

    code, out, _ = run("list", "--json")
    items = json.loads(out)
    assert [(i["id"], i["incident_id"], i["overdue"]) for i in items] == [
        (1, a, True),  # due 2026-11-24, today is 2026-11-25
        (2, b, False),
        (3, b, False),  # no due date: never overdue
    ]
    code, out, _ = run("list", b, "--json")
    assert [i["id"] for i in json.loads(out)] == [2, 3]
    code, out, _ = run("list", "--overdue", "--json")
    assert [i["id"] for i in json.loads(out)] == [1]
    code, out, _ = run("list")
    assert code == 0 and "OVERDUE" in out and "Alert on processor errors" in out

    code, out, err = run("done", "1")
    assert (code, out) == (0, "Action item #1 open -> done: Alert on processor errors\n"), err
    code, out, _ = run("done", "1")
    assert out == "Action item #1 is already done: Alert on processor errors\n"
    code, out, err = run("status", "2", "--set", "in-progress", "--json")
    assert code == 0 and json.loads(out)["status"] == "in-progress", err
    code, out, _ = run("status", "3", "--set", "wont-do")
    assert code == 0
    code, out, _ = run("list", "--status", "pending", "--json")
    assert [(i["id"], i["status"]) for i in json.loads(out)] == [(2, "in-progress")]
    code, out, _ = run("list", "--status", "done", "--json")
    done = json.loads(out)
    assert [i["id"] for i in done] == [1] and done[0]["overdue"] is False
    assert done[0]["done_at"] == NOW.isoformat()
    # Each change is in its incident's timeline, chained.
    with env.store() as store:
        kinds = [(e.kind, e.data.get("action_id")) for e in store.timeline(a)]
        assert kinds == [("opened", None), ("action", 1), ("action", 1)]
        assert store.verify(a).ok and store.verify(b).ok


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--due", "2026-13-01"], "invalid due date '2026-13-01': YYYY-MM-DD"),
        (["--due", "next week"], "invalid due date 'next week'"),
        (["--priority", "P5"], "invalid priority 'P5': one of P0, P1, P2, P3"),
        (["--owner", "  "], "an action item needs an action and an owner"),
    ],
)
def test_add_refuses_bad_input_and_writes_nothing(env: Env, args: list[str], message: str) -> None:
    a, _ = two_incidents(env)
    base = {"--action": "Fix it", "--owner": "bob", "--due": "2026-12-01", "--priority": "P2"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    code, out, err = run("add", a, *[x for pair in base.items() for x in pair])
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1
    with env.store() as store:
        assert store.actions() == []
        assert [e.kind for e in store.timeline(a)] == ["opened"]


def test_unknown_incident_and_item_are_refused(env: Env) -> None:
    two_incidents(env)
    code, _, err = run("add", "INC-20991231-000000", "--action", "x", "--owner", "bob")
    assert code == 2 and "no incident INC-20991231-000000" in err
    code, _, err = run("add", "not-an-id", "--action", "x", "--owner", "bob")
    assert code == 2 and "invalid incident id 'not-an-id'" in err
    code, _, err = run("done", "42")
    assert code == 2 and err == "Error: no action item #42\n"
    code, _, err = run("done", "0")
    assert code == 2 and "a positive number" in err
    code, _, err = run("list", "INC-20991231-000000")
    assert code == 2 and "no incident INC-20991231-000000" in err
    code, _, err = run("status", "1", "--set", "finished")
    assert code == 2 and "finished" in err
    with env.store() as store:
        assert store.actions() == []
