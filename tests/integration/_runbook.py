"""Helpers for runbook tests: run irdrive or ansible-playbook against the test lab."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from irdrive_lab.control.journal import Journal

IRDRIVE = str(Path(sys.executable).parent / "irdrive")
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def aws_client(lab: dict[str, Any], service: str) -> Any:
    """A boto3 client for the lab's moto, with the lab's credentials (a test's judge); one per
    lab endpoint and service for the test process (making one parses the service's model)."""
    aws = lab["aws"]
    return _aws_client(
        aws["endpoint"], aws["region"], aws["access_key_id"], aws["secret_access_key"], service
    )


@functools.lru_cache(maxsize=64)
def _aws_client(endpoint: str, region: str, key_id: str, secret: str, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def irdrive(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [IRDRIVE, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def run_json(env: dict[str, str], runbook: str, *args: str) -> tuple[int, dict[str, Any]]:
    """`irdrive run RUNBOOK --yes --json ARGS`; returns (exit code, report)."""
    res = irdrive(env, "run", runbook, "--yes", "--json", *args)
    try:
        report = json.loads(res.stdout)
    except ValueError:
        raise AssertionError(
            f"no JSON report (rc {res.returncode}):\n{res.stdout}\n{res.stderr}"
        ) from None
    return res.returncode, report


def http_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def journal_mark(lab: dict[str, Any]) -> int:
    """A mark for :func:`writes_since`: PostgreSQL's and the hosts' writes so far are folded in."""
    return Journal(Path(lab["journal"])).mark()


def writes_since(lab: dict[str, Any], mark: int) -> list[dict[str, Any]]:
    """Every write to the platform since ``mark``: Kubernetes, AWS, platform, and PostgreSQL
    statements and host changes (nftables objects, the hosts' files), which the read folds in
    (irdrive_lab.control.collect). Dry runs, the lab's own calls and the runs' locks (Lease
    writes, lock rows, S3 lock objects and host lock files, see :func:`lock_writes_since`) are
    left out."""
    return [
        e
        for e in Journal(Path(lab["journal"])).since(mark)
        if e["source"] in ("kubernetes", "aws", "postgres", "platform", "host")
        and not e.get("dry_run")
        and not e.get("lock")
    ]


def lock_writes_since(lab: dict[str, Any], mark: int) -> list[dict[str, Any]]:
    """The runs' lock writes since ``mark``: Lease POST/PUT (kubernetes), irdrive_locks rows
    (postgres), S3 lock objects (aws) and host lock files (host), all journaled lock: true."""
    return [e for e in Journal(Path(lab["journal"])).since(mark) if e.get("lock")]


def changed_tasks(report: dict[str, Any]) -> list[str]:
    return [t["task"] for t in report["tasks"] if t["status"] == "changed"]


def failures(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """What failed or was unreachable, for assertion messages."""
    return [
        (t["task"], t["host"], t["status"], (t.get("msg") or "")[:400])
        for t in report.get("tasks", [])
        if t["status"] in ("failed", "unreachable")
    ] + [("errors", "", "", e) for e in report.get("errors", [])]


def crashlooping_pods(lab: dict[str, Any], app: str) -> list[str]:
    """The app's pods whose container waits in CrashLoopBackOff, as the lab's API shows them."""
    from kubernetes import client, config

    core = client.CoreV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))
    pods = core.list_namespaced_pod("platform", label_selector=f"app={app}").items
    return [
        p.metadata.name
        for p in pods
        for cs in (p.status.container_statuses or [])
        if cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff"
    ]
