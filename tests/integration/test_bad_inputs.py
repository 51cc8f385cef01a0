"""Bad input, table-driven: one clear error line, exit 2, and zero writes, for every runbook.

Each case is run as an on-call engineer would run it (``irdrive run ... --yes --json``) against
the test lab. CLI-level cases (``cli``) must fail before ansible-playbook starts: no run folder; they run
in-process through the same entry point (click's runner), the others as real processes.
Role-level cases (``role``) reach the playbook and must be refused by its preflight or by the
role's argument spec, before the first write.

For every case: exit code 2; exactly one error line that names the problem (all its key words,
case-insensitive); no traceback; and zero writes in the lab's journal (Kubernetes, AWS,
PostgreSQL, hosts, platform) while it ran. The cases run in a few threads, one runbook's cases
after each other, and the journal is read after each: a write is blamed on every case that was
running at the time, so a case never passes while another one's write goes unseen.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
import traceback
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _runbook import IRDRIVE

from irdrive_lab.control import manager
from irdrive_lab.control.journal import Journal

WRITE_SOURCES = ("kubernetes", "aws", "postgres", "host", "platform")
CASE_TIMEOUT = 240  # a case that is not refused may run a whole remediation
WORKERS = 3
# The table runs in one module fixture: time for every case, refused or (wrongly) run through.
pytestmark = pytest.mark.timeout(1800)


@dataclass(frozen=True)
class Case:
    id: str
    level: str  # "cli": refused before ansible-playbook runs; "role": by the playbook
    args: tuple[str, ...]  # after `irdrive`; {tmp} is the case's own folder
    words: tuple[str, ...]  # what the one error line must name
    files: dict[str, str] = field(default_factory=dict)  # name -> content, in {tmp}
    env: dict[str, str] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """Cases of one runbook run one after the other (they share its targets and locks)."""
        return self.args[1] if len(self.args) > 1 and self.args[0] == "run" else "cli"


def cli(id: str, *args: str, words: tuple[str, ...], **kw: Any) -> Case:
    return Case(id, "cli", args, words, **kw)


def role(id: str, *args: str, words: tuple[str, ...], **kw: Any) -> Case:
    return Case(id, "role", args, words, **kw)


IP = "203.0.113.50"  # TEST-NET-3: blockable
CASES: list[Case] = [
    # ---- the CLI: runbook, parameters, types, choices, required, -e, -i, environment ----
    cli("unknown-runbook", "run", "nosuch", words=("unknown runbook", "nosuch")),
    cli("unknown-runbook-typo", "run", "scal", words=("unknown runbook", "scal")),
    cli("unknown-runbook-show", "show", "nosuch", words=("unknown runbook", "nosuch")),
    cli("no-runbook-name", "run", words=("missing argument", "name")),
    cli("unknown-option", "run", "scale", "--replicas", "5", words=("no such option",)),
    cli(
        "unknown-parameter",
        *("run", "scale", "-e", "replica=5"),
        words=("unknown parameter", "replica"),
    ),
    cli(
        "unknown-parameter-other-runbook",
        *("run", "kill-switch", "-e", "names=payments", "-e", "state=enabled", "-e", "addresses=1"),
        words=("unknown parameter", "addresses"),
    ),
    cli("extra-var-without-value", "run", "cache", "-e", "clear", words=("clear", "key=value")),
    cli("extra-var-empty-key", "run", "cache", "-e", "=true", words=("key=value",)),
    cli("int-not-a-number", "run", "scale", "-e", "timeout=abc", words=("scale_timeout", "int")),
    cli("bool-not-a-bool", "run", "cache", "-e", "clear=maybe", words=("cache_clear", "bool")),
    cli(
        "float-not-a-number",
        *("run", "diagnose", "-e", "error_min_ratio=high"),
        words=("diagnose_error_min_ratio", "float"),
    ),
    cli("dict-not-a-dict", "run", "scale", "-e", "hpa=backend", words=("scale_hpa", "dict")),
    cli(
        "int-rollback-revision",
        *("run", "rollback", "-e", "deployments=backend", "-e", "to_revision=latest"),
        words=("rollback_to_revision", "int"),
    ),
    cli(
        "int-payments-rollout-timeout",
        *("run", "payments-failover", "-e", "rollout_timeout=soon"),
        words=("processor_failover_rollout_timeout", "int"),
    ),
    cli("int-cdn-ttl", "run", "cdn-failover", "-e", "ttl=1m", words=("cdn_failover_ttl", "int")),
    cli(
        "int-performance-max-ms",
        *("run", "performance-degradation", "-e", "max_response_ms=fast"),
        words=("performance_degradation_max_response_ms", "int"),
    ),
    cli(
        "bool-streaming-clean",
        *("run", "streaming-outage", "-e", "clean=perhaps"),
        words=("storage_clean", "bool"),
    ),
    cli(
        "int-rotate-secret-length",
        *("run", "rotate-secrets", "-e", "rotation_id=R-1", "-e", "secret_length=long"),
        words=("rotate_secrets_secret_length", "int"),
    ),
    cli(
        "bool-platform-outage-rollback",
        *("run", "platform-outage", "-e", "rollback=sometimes"),
        words=("platform_outage_rollback", "bool"),
    ),
    cli(
        "int-db-idle-seconds",
        *("run", "db", "-e", "idle_min_seconds=5m"),
        words=("db_idle_min_seconds", "int"),
    ),
    cli(
        "bool-security-breach-upload",
        *("run", "security-breach", "-e", "incident_id=INC-1", "-e", f"ips={IP}"),
        *("-e", "upload_evidence=perhaps"),
        words=("security_breach_upload_evidence", "bool"),
    ),
    cli(
        "choice-block-state",
        *("run", "block-ips", "-e", f"addresses={IP}", "-e", "state=maybe"),
        words=("block_ips_state", "maybe"),
    ),
    cli(
        "choice-block-target",
        *("run", "block-ips", "-e", f"addresses={IP}", "-e", "targets=firewall"),
        words=("block_ips_targets", "firewall"),
    ),
    cli(
        "choice-kill-switch-state",
        *("run", "kill-switch", "-e", "names=payments", "-e", "state=off"),
        words=("kill_switch_state", "off"),
    ),
    cli(
        "choice-cdn-direction",
        *("run", "cdn-failover", "-e", "direction=sideways"),
        words=("cdn_failover_direction", "sideways"),
    ),
    cli(
        "choice-rotate-target",
        *("run", "rotate-secrets", "-e", "rotation_id=R-1", "-e", "targets=ldap"),
        words=("rotate_secrets_targets", "ldap"),
    ),
    cli(
        "choice-evidence-retention",
        *("run", "preserve-evidence", "-e", "incident_id=INC-1", "-e", "retention_mode=forever"),
        words=("evidence_retention_mode", "forever"),
    ),
    cli("missing-block-addresses", "run", "block-ips", words=("needs", "block_ips_addresses")),
    cli(
        "missing-kill-switch-state",
        *("run", "kill-switch", "-e", "names=payments"),
        words=("needs", "kill_switch_state"),
    ),
    cli("missing-rollback-deployments", "run", "rollback", words=("needs", "rollback_deployments")),
    cli(
        "missing-rotation-id",
        "run",
        "rotate-secrets",
        words=("needs", "rotate_secrets_rotation_id"),
    ),
    cli(
        "missing-evidence-incident",
        *("run", "preserve-evidence"),
        words=("needs", "evidence_incident_id"),
    ),
    cli(
        "missing-breach-ips",
        *("run", "security-breach", "-e", "incident_id=INC-1"),
        words=("needs", "security_breach_ips"),
    ),
    cli(
        "extra-vars-file-missing",
        *("run", "cache", "-e", "@{tmp}/nosuch.yml"),
        words=("nosuch.yml",),
    ),
    cli(
        "extra-vars-file-not-yaml",
        *("run", "cache", "-e", "@{tmp}/broken.yml"),
        words=("broken.yml",),
        files={"broken.yml": "clear: [true\nwarm: {\n"},
    ),
    cli(
        "extra-vars-file-not-a-mapping",
        *("run", "cache", "-e", "@{tmp}/list.yml"),
        words=("list.yml", "mapping"),
        files={"list.yml": "- clear\n- warm\n"},
    ),
    cli(
        "extra-vars-file-unknown-parameter",
        *("run", "cache", "-e", "@{tmp}/vars.yml"),
        words=("unknown parameter", "purge_everything"),
        files={"vars.yml": "purge_everything: true\n"},
    ),
    cli(
        "extra-vars-file-wrong-type",
        *("run", "scale", "-e", "@{tmp}/vars.yml"),
        words=("scale_timeout", "int"),
        files={"vars.yml": "timeout: [1, 2]\n"},
    ),
    cli(
        "inventory-missing",
        *("run", "cache", "-i", "{tmp}/no-such-inventory"),
        words=("inventory", "no-such-inventory"),
    ),
    cli(
        "inventory-not-an-inventory",
        *("run", "cache", "-i", "{tmp}/notes"),
        words=("inventory", "notes"),
        files={"notes/README.txt": "meeting notes, not an inventory\n"},
    ),
    cli(
        "inventory-without-hosts",
        *("run", "cache", "-i", "{tmp}/empty.yml"),
        words=("inventory", "empty.yml"),
        files={"empty.yml": "all:\n  children: {}\n"},
    ),
    cli(
        "lab-port-base-not-a-number",
        *("run", "cache"),
        words=("IRDRIVE_LAB_PORT_BASE", "abc"),
        env={"IRDRIVE_LAB_PORT_BASE": "abc"},
    ),
    cli(
        "lab-port-base-out-of-range",
        *("run", "cache"),
        words=("IRDRIVE_LAB_PORT_BASE", "99999"),
        env={"IRDRIVE_LAB_PORT_BASE": "99999"},
    ),
    # ---- the roles: ceilings, addresses, targets that do not exist, ranges, ids ----------
    role(
        "scale-over-ceiling",
        *("run", "scale", "-e", "deployments=backend=100000000"),
        words=("refused", "100000000"),
    ),
    role(
        "scale-unknown-deployment",
        *("run", "scale", "-e", "deployments=nosuch-deploy=3"),
        words=("nosuch-deploy",),
    ),
    role(
        "scale-negative-replicas",
        *("run", "scale", "-e", "deployments=backend=-2"),
        words=("backend", "-2"),
    ),
    role(
        "scale-zero-timeout",
        *("run", "scale", "-e", "deployments=backend=4", "-e", "timeout=0"),
        words=("timeout",),
    ),
    role(
        "block-everything",
        *("run", "block-ips", "-e", "addresses=0.0.0.0/0"),
        words=("0.0.0.0/0",),
    ),
    role("block-loopback", "run", "block-ips", "-e", "addresses=127.0.0.1", words=("127.0.0.1",)),
    role(
        "block-private-range",
        "run",
        "block-ips",
        "-e",
        "addresses=10.0.0.0/8",
        words=("10.0.0.0/8",),
    ),
    role(
        "block-not-an-address",
        *("run", "block-ips", "-e", "addresses=not-an-ip"),
        words=("not-an-ip",),
    ),
    role(
        "block-octet-over-255",
        *("run", "block-ips", "-e", "addresses=999.1.1.1"),
        words=("999.1.1.1",),
    ),
    role(
        "block-over-address-ceiling",
        *("run", "block-ips", "-e", "addresses=203.0.113.7,203.0.113.8", "-e", "max_addresses=1"),
        words=("2 networks", "at most 1"),
    ),
    role(
        "block-unknown-waf-ip-set",
        *("run", "block-ips", "-e", f"addresses={IP}"),
        *("-e", "waf_ip_set={name: nosuch-ip-set, scope: REGIONAL}"),
        words=("WAF IP set", "nosuch-ip-set", "does not exist"),
    ),
    role(
        "block-unknown-nacl",
        *("run", "block-ips", "-e", f"addresses={IP}", "-e", "nacl_id=acl-0nosuch0nacl0"),
        words=("network ACL", "acl-0nosuch0nacl0", "does not exist"),
    ),
    role(
        "breach-blocks-everything",
        *("run", "security-breach", "-e", "incident_id=INC-9", "-e", "ips=0.0.0.0/0"),
        words=("0.0.0.0/0",),
    ),
    role(
        "breach-malformed-incident-id",
        *("run", "security-breach", "-e", "incident_id=../../etc", "-e", f"ips={IP}"),
        words=("incident_id", "../../etc"),
    ),
    role(
        "evidence-malformed-incident-id",
        *("run", "preserve-evidence", "-e", "incident_id=../../etc/passwd"),
        words=("incident id", "../../etc/passwd"),
    ),
    role(
        "payments-negative-rollout-timeout",
        *("run", "payments-failover", "-e", "rollout_timeout=-5"),
        words=("rollout_timeout", "-5"),
    ),
    role(
        "payments-unknown-configmap",
        *("run", "payments-failover", "-e", "configmap=nosuch-config"),
        words=("nosuch-config",),
    ),
    role(
        "rotate-wrong-db-admin-password",
        *("run", "rotate-secrets", "-e", "rotation_id=R-bad-admin", "-e", "@{tmp}/secrets.yml"),
        words=("password",),
        files={"secrets.yml": "db_admin_password: certainly-not-the-password\n"},
    ),
    role(
        "rotate-unknown-secret",
        *("run", "rotate-secrets", "-e", "rotation_id=R-nosuch", "-e", "targets=secretsmanager"),
        *("-e", "api_key_secrets=platform/nosuch-key"),
        words=("Secrets Manager secret", "platform/nosuch-key", "does not exist"),
    ),
    role(
        "rotate-unknown-k8s-secret",
        *("run", "rotate-secrets", "-e", "rotation_id=R-nosuch-k8s", "-e", "targets=k8s"),
        *("-e", "k8s_secrets=[{name: nosuch-secret, generate: [token]}]"),
        words=("Kubernetes Secret", "nosuch-secret", "does not exist"),
    ),
    role(
        "rotate-malformed-rotation-id",
        *("run", "rotate-secrets", "-e", "rotation_id=a b;c"),
        words=("rotation_id", "a b;c"),
    ),
    role(
        "cdn-unknown-zone",
        *("run", "cdn-failover", "-e", "zone_id=ZNOSUCHZONE"),
        words=("hosted zone", "ZNOSUCHZONE", "does not exist"),
    ),
    role(
        "cdn-unknown-zone-check-mode",
        *("run", "cdn-failover", "-e", "zone_id=ZNOSUCHZONE2", "--check"),
        words=("hosted zone", "ZNOSUCHZONE2", "does not exist"),
    ),
    role(
        "cdn-unknown-origin-deployment",
        *("run", "cdn-failover", "-e", "origin_replicas={nosuch-origin: 2}"),
        words=("unknown origin deployment", "nosuch-origin"),
    ),
    role("cdn-negative-ttl", "run", "cdn-failover", "-e", "ttl=-1", words=("ttl", "-1")),
    role(
        "kill-switch-unknown-name",
        *("run", "kill-switch", "-e", "names=teleport", "-e", "state=disabled"),
        *("-e", "reason=INC-9"),
        words=("teleport",),
    ),
    role(
        "kill-switch-disable-without-reason",
        *("run", "kill-switch", "-e", "names=payments", "-e", "state=disabled"),
        words=("reason",),
    ),
    role(
        "rollback-unknown-deployment",
        *("run", "rollback", "-e", "deployments=nosuch-deploy"),
        words=("nosuch-deploy",),
    ),
    role(
        "rollback-negative-revision",
        *("run", "rollback", "-e", "deployments=backend", "-e", "to_revision=-1"),
        words=("revision", "-1"),
    ),
    role(
        "cache-negative-warm-keys",
        *("run", "cache", "-e", "warm_keys=-1"),
        words=("warm_keys", "-1"),
    ),
    role("cache-zero-timeout", "run", "cache", "-e", "timeout=0", words=("positive timeout (0)",)),
    role(
        "db-wrong-maintenance-password",
        *("run", "db", "-e", "analyze=true", "-e", "@{tmp}/secrets.yml"),
        words=("maintenance login", "maintenance_login_password"),
        files={"secrets.yml": "maintenance_login_password: certainly-not-the-password\n"},
    ),
    role(
        "db-wrong-maintenance-password-check-mode",
        *("run", "db", "-e", "analyze=true", "-e", "@{tmp}/secrets.yml", "--check"),
        words=("maintenance login", "maintenance_login_password"),
        files={"secrets.yml": "maintenance_login_password: not-the-password-either\n"},
    ),
    role(
        "diagnose-zero-log-window",
        *("run", "diagnose", "-e", "log_window=0"),
        words=("log_window", "0"),
    ),
    role(
        "performance-zero-max-ms",
        *("run", "performance-degradation", "-e", "max_response_ms=0"),
        words=("max_response_ms", "0"),
    ),
    role(
        "performance-scale-over-ceiling",
        *("run", "performance-degradation", "-e", "scale={backend: 100000000}"),
        words=("100000000",),
    ),
    role(
        "outage-zero-replicas",
        *("run", "platform-outage", "-e", "scale_replicas=0"),
        words=("scale_replicas", "0"),
    ),
    role(
        "streaming-origin-over-ceiling",
        *("run", "streaming-outage", "-e", "origin_replicas={streaming-service: 100000000}"),
        words=("100000000",),
    ),
]


@dataclass
class Outcome:
    rc: int
    stdout: str
    stderr: str
    started: float
    ended: float
    run_dirs: list[str]
    report: dict[str, Any] | None = None
    writes: list[dict[str, Any]] = field(default_factory=list)


def _prepare(case: Case, root: Path) -> tuple[list[str], Path]:
    tmp = root / case.id
    tmp.mkdir(parents=True)
    for name, content in case.files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(content)
    args = [a.replace("{tmp}", str(tmp)) for a in case.args]
    if args[:1] == ["run"]:
        args += ["--yes", "--json"]
    return args, tmp


def _run_in_process(case: Case, root: Path, env: dict[str, str], journal: Journal) -> Outcome:
    """A CLI-level case: the same ``irdrive`` entry point, without a Python start-up each."""
    from click.testing import CliRunner

    from irdrive.cli import cli as irdrive_cli

    args, tmp = _prepare(case, root)
    state = tmp / "state"
    started = time.time()
    res = CliRunner().invoke(
        irdrive_cli, args, env=env | {"IRDRIVE_STATE_DIR": str(state)} | case.env
    )
    err = res.stderr
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        err += "".join(traceback.format_exception(res.exception))  # shows as a Traceback
    journal.collect()
    return _outcome(res.exit_code, res.stdout, err, started, state)


def _run_case(case: Case, root: Path, env: dict[str, str], journal: Journal) -> Outcome:
    args, tmp = _prepare(case, root)
    state = tmp / "state"
    case_env = env | {"IRDRIVE_STATE_DIR": str(state)} | case.env
    started = time.time()
    proc = subprocess.Popen(
        [IRDRIVE, *args],
        env=case_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=CASE_TIMEOUT)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        # SIGTERM first: the driver stops the playbook's process group (a SIGKILL would
        # leave ansible-playbook, which runs in a session of its own, running on).
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        rc, err = -1, f"{err}\ntimed out after {CASE_TIMEOUT}s"
    journal.collect()  # PostgreSQL and host writes get journaled before the window closes
    return _outcome(rc, out, err, started, state)


def _outcome(rc: int, out: str, err: str, started: float, state: Path) -> Outcome:
    runs = sorted(str(p) for p in state.rglob("*-*"))
    outcome = Outcome(rc, out, err, started, time.time(), runs)
    if out.strip().startswith("{"):
        with contextlib.suppress(ValueError):
            outcome.report = json.loads(out)
    return outcome


@pytest.fixture(scope="module")
def outcomes(
    lab: dict[str, Any], lab_cfg: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Run every case once (a few at a time) and blame each journal write on its cases."""
    manager.reset(lab_cfg)
    state = lab_cfg.read_state()
    env = dict(os.environ)
    env |= {
        "IRDRIVE_LAB_DIR": str(lab_cfg.dir),
        "IRDRIVE_LAB_PORT_BASE": str(lab_cfg.port_base),
        "KUBECONFIG": state["kubeconfig"],
    }
    root = tmp_path_factory.mktemp("bad-inputs")
    journal = Journal(Path(state["journal"]))
    mark = journal.mark()
    groups: dict[str, list[Case]] = defaultdict(list)
    for case in CASES:
        if case.level == "role":
            groups[case.group].append(case)
    results: dict[str, Outcome] = {}
    lock = threading.Lock()

    def run_group(cases: list[Case]) -> None:
        for case in cases:
            run = _run_in_process if case.level == "cli" else _run_case
            outcome = run(case, root, env, journal)
            with lock:
                results[case.id] = outcome
                print(
                    f"  {len(results):3d}/{len(CASES)} {case.id}: exit {outcome.rc} "
                    f"in {outcome.ended - outcome.started:.1f}s",
                    flush=True,
                )

    t0 = time.monotonic()
    # The CLI-level cases first, in-process (CliRunner swaps sys.stdout: one at a time), then
    # the role-level ones in a few threads, one runbook's after each other.
    run_group([c for c in CASES if c.level == "cli"])
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for future in [pool.submit(run_group, cases) for cases in groups.values()]:
            future.result()
    elapsed = time.monotonic() - t0

    entries = [
        e for e in journal.since(mark) if e["source"] in WRITE_SOURCES and not e.get("dry_run")
    ]
    # A role whose own check needs the live state under the lock (scale's ceilings) takes and
    # releases the target's Lease before it refuses: counted apart, not a platform change.
    locks = [e for e in entries if e.get("lock")]
    writes = [e for e in entries if not e.get("lock")]
    for outcome in results.values():
        outcome.writes = [
            e
            for e in writes
            if outcome.started <= float(e.get("logged_at", e["ts"])) <= outcome.ended
        ]
    clean = sum(not o.writes for o in results.values())
    print(
        f"\nbad inputs tried: {len(results)} ({sum(c.level == 'cli' for c in CASES)} CLI-level, "
        f"{sum(c.level == 'role' for c in CASES)} role-level) in {elapsed:.0f}s; "
        f"exit 2: {sum(o.rc == 2 for o in results.values())}; "
        f"zero writes: {clean}; journal writes during the table: {len(writes)} "
        f"(and {len(locks)} lock Lease writes)"
    )
    if writes:  # a case that was not refused changed the lab: put it back for later tests
        manager.reset(lab_cfg)
    shutil.rmtree(root, ignore_errors=True)
    return results


def test_the_table_covers_the_cli_and_every_runbook(repo_root: Path) -> None:
    runbooks = {p.stem for p in (repo_root / "playbooks").glob("*.yml")}
    covered = {c.args[1] for c in CASES if c.args[0] == "run" and len(c.args) > 1}
    assert runbooks <= covered, f"no bad-input case for {sorted(runbooks - covered)}"
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


def _error_lines(case: Case, outcome: Outcome) -> list[str]:
    """The lines that could carry the error: the report's errors, else stdout and stderr."""
    if outcome.report is not None:
        return [str(e) for e in outcome.report.get("errors") or []]
    return [line for line in (outcome.stdout + outcome.stderr).splitlines() if line.strip()]


# Known gaps of issue 9 item 1 (a preflight that does not yet read a target or login it
# depends on): strict xfails, so a gap closed makes its test pass unexpectedly and the entry
# must go.
KNOWN_GAPS: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[c.id]))
        if c.id in KNOWN_GAPS
        else c
        for c in CASES
    ],
    ids=[c.id for c in CASES],
)
def test_bad_input_one_line_exit_2_no_writes(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    if outcome.report is not None:
        said = json.dumps(
            {k: outcome.report.get(k) for k in ("status", "exit_code", "errors", "changes")},
            indent=1,
        )
    else:
        said = outcome.stdout[-3000:]
    shown = f"irdrive {' '.join(case.args)}\n--- said\n{said}\n--- stderr\n{outcome.stderr[-2000:]}"
    assert "Traceback" not in outcome.stdout + outcome.stderr, shown
    assert outcome.rc == 2, f"exit {outcome.rc}, expected 2 (bad input)\n{shown}"
    if outcome.report is not None:
        assert outcome.report.get("exit_code") == 2, shown
    lines = _error_lines(case, outcome)
    naming = [ln for ln in lines if all(w.lower() in ln.lower() for w in case.words)]
    assert len(naming) == 1, (
        f"expected exactly one error line naming {case.words}, got {len(naming)} "
        f"of {len(lines)} lines\n{shown}"
    )
    if outcome.report is not None:
        assert len(lines) == 1, f"expected one error, got {len(lines)}: {lines}"
    else:
        errors = [ln for ln in lines if ln.lower().startswith("error")]
        assert len(errors) <= 1, f"more than one error line: {errors}"
    if case.level == "cli":
        assert outcome.run_dirs == [], f"a run started for a CLI-level error: {outcome.run_dirs}"
    overlapping = sorted(
        other
        for other, o in outcomes.items()
        if other != case.id and o.started < outcome.ended and outcome.started < o.ended
    )
    assert outcome.writes == [], (
        f"{len(outcome.writes)} writes while it ran (with {overlapping}): "
        + json.dumps([(w["source"], w["method"], w["path"]) for w in outcome.writes])
    )
