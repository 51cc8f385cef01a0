"""A real run recorded in an incident (``irdrive run ... --incident``, the fixture runbook on
localhost, no lab) turned into the post-mortem: its changes and verifications are in the table
and the picture, its runbook in the trends, and no secret of the run (a no_log parameter from
-e @FILE, a secret environment variable a task echoes) reaches the report's files, its --json
or the stats."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from irdrive.cli import cli
from irdrive.incidents.store import open_incidents

# `run --incident` is the TIMELINE part of issue 13 (irdrive.incidents.runlink).
pytest.importorskip("irdrive.incidents.runlink", reason="irdrive run --incident not here yet")

TOKEN = "CANARY-pm-token-5b2d90"
ENV_CANARY = "CANARY-pm-pg-c41e77"
NS = "{http://www.w3.org/2000/svg}"


def test_a_real_run_in_the_post_mortem_without_its_secrets(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRDRIVE_DB_URL", f"sqlite:///{tmp_path / 'history.db'}")
    monkeypatch.setenv("IRDRIVE_USER", "oncall-bob")
    monkeypatch.setenv("PGPASSWORD", ENV_CANARY)
    monkeypatch.delenv("IRDRIVE_INCIDENT", raising=False)
    with open_incidents() as store:
        ident = store.open(title="Demo payments down", severity="P1", actor="oncall-bob").id
    secrets_file = tmp_path / "secrets.yml"
    secrets_file.write_text(f"api_token: {TOKEN}\n")
    runner = CliRunner()
    ran = runner.invoke(
        cli,
        ["run", "demo-failover", "-i", "local", "--yes", "--incident", ident]
        + ["-e", "reason=pg {{ lookup('env', 'PGPASSWORD') }}", "-e", f"@{secrets_file}"],
    )
    assert ran.exit_code == 0, ran.output
    with open_incidents() as store:
        store.set_status(ident, "RESOLVED", actor="oncall-bob")

    out = tmp_path / "report"
    made = runner.invoke(cli, ["incident", "report", ident, "--out", str(out), "--json"])
    assert made.exit_code == 0, made.output
    stats = runner.invoke(cli, ["incident", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    for text in (made.output, stats.output, *(p.read_text() for p in out.iterdir())):
        assert TOKEN not in text and ENV_CANARY not in text

    with open_incidents() as store:
        entries = store.timeline(ident)
    changes = [e for e in entries if e.kind == "change"]
    verifications = [e for e in entries if e.kind == "verify"]
    assert changes and verifications
    md = (out / f"{ident}.md").read_text()
    for entry in changes + verifications:
        assert f"| {entry.seq} | " in md
    svg = ElementTree.fromstring((out / f"{ident}.svg").read_text())
    kinds = [g.get("data-kind") for g in svg.iter(NS + "g") if g.get("class") == "mark"]
    assert kinds.count("change") == len(changes) and kinds.count("verify") == len(verifications)
    assert kinds[-1] == "resolved"
    runbooks = json.loads(stats.output)["top_runbooks"]
    assert runbooks == [{"runbook": "demo-failover", "incidents": 1, "runs": 1}]
