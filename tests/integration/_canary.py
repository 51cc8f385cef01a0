"""The canary sweep's tools: canaries, and a sweep that counts where any secret's value
turns up (command lines of live processes, files, output). Used by test_canary_sweep.py
(runbooks) and the drill tests (a drill's event log, molecule output and history record);
the secrets a rotation wrote in the lab are read here too, to sweep for them."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from _runbook import aws_client
from kubernetes import client, config

K8S_SECRETS = ("db-credentials", "processor-api-keys", "jwt-signing-key")
API_KEYS = ("platform/ccbill-api-key", "platform/segpay-api-key")
ENV_SECRETS = ("AWS_SECRET_ACCESS_KEY", "PGPASSWORD", "K8S_AUTH_API_KEY")


def new_canaries() -> dict[str, str]:
    names = (*ENV_SECRETS, "cache_admin_token", "maintenance_login_password")
    return {name: f"CANARY{secrets.token_hex(8)}" for name in names}


class Sweep:
    """Counts canary hits by place; samples /proc and the state folder while a run is live."""

    def __init__(self, canaries: dict[str, str]) -> None:
        self.canaries = {name: value.encode() for name, value in canaries.items()}
        self.hits: dict[str, set[str]] = {}
        self.samples = 0
        self.saw_playbook = False

    def check(self, where: str, data: bytes) -> None:
        for name, value in self.canaries.items():
            if value in data:
                self.hits.setdefault(where, set()).add(name)

    def proc_cmdlines(self) -> None:
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile
            # The driver starts ansible-playbook's CLI through irdrive.playbook_process.
            self.saw_playbook |= b"ansible-playbook" in cmdline or b"playbook_process" in cmdline
            self.check(f"during run: /proc/{proc.name}/cmdline {cmdline[:80]!r}", cmdline)
        self.samples += 1

    def folder(self, folder: Path, phase: str = "after") -> int:
        files = 0
        for path in folder.rglob("*"):
            try:
                if path.is_file():
                    self.check(f"{phase} run: {path}", path.read_bytes())
                    files += 1
            except OSError:
                continue
        return files

    def run(self, argv: list[str], env: dict[str, str], state: Path) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out: dict[str, bytes] = {}

        def drain() -> None:
            out["stdout"], out["stderr"] = proc.communicate(timeout=300)

        reader = threading.Thread(target=drain)
        reader.start()
        n = 0
        while reader.is_alive():
            self.proc_cmdlines()
            if n % 25 == 0:
                self.folder(state, "during")  # the artifacts as they are written
            n += 1
            time.sleep(0.01)
        reader.join()
        self.check("stdout", out.get("stdout", b""))
        self.check("stderr", out.get("stderr", b""))
        return proc


def current(lab: dict[str, Any], name: str) -> tuple[str, str]:
    got = aws_client(lab, "secretsmanager").get_secret_value(
        SecretId=name, VersionStage="AWSCURRENT"
    )
    return got["VersionId"], got["SecretString"]


def k8s_secret(lab: dict[str, Any], name: str) -> client.V1Secret:
    core = client.CoreV1Api(config.new_client_from_config(config_file=lab["kubeconfig"]))
    return core.read_namespaced_secret(name, "platform")


def secret_values(lab: dict[str, Any], *, seeded: bool = False) -> list[str]:
    """Every current secret value of the rotated parts (the canaries). ``seeded``: the lab as
    seeded, before any rotation, has no stored deployer access key yet."""
    values = [current(lab, name)[1] for name in API_KEYS]
    values.append(json.loads(current(lab, "platform/db-password")[1])["password"])
    if not seeded:
        deployer = json.loads(current(lab, "platform/deployer-access-key")[1])
        values.append(deployer["SecretAccessKey"])
    for name in K8S_SECRETS:
        data = k8s_secret(lab, name).data
        values += [base64.b64decode(v).decode() for k, v in data.items() if k != "username"]
    return values
