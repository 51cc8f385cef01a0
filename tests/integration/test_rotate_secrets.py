"""rotate-secrets against the lab: rotates and verifies each part, idempotent by rotation id,
check-safe, converges after an interruption, refuses bad input, and never leaks a secret."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from _canary import API_KEYS, K8S_SECRETS, current, k8s_secret, secret_values
from _runbook import (
    ANSIBLE_PLAYBOOK,
    aws_client,
    changed_tasks,
    http_json,
    irdrive,
    run_json,
    writes_since,
)
from kubernetes import client, config

from irdrive_lab.control.journal import Journal
from irdrive_lab.faults import faults

pytestmark = pytest.mark.lab

ANSIBLE = str(Path(sys.executable).parent / "ansible")
SUSPICIOUS_IPS = ["203.0.113.45", "203.0.113.77", "203.0.113.99", "198.51.100.23"]
TOKEN_NAMESPACE = uuid.UUID("5b0f7c1e-2d43-4a8e-9d51-6f1a3c0e8b27")


def token(name: str, rotation_id: str) -> str:
    return str(uuid.uuid5(TOKEN_NAMESPACE, f"{name}\n{rotation_id}"))


def pg_login(lab: dict[str, Any], password: str, user: str = "platform_app_a", **kw: Any) -> Any:
    pg = lab["postgres"]
    return psycopg2.connect(
        host=pg["host"],
        port=pg["port"],
        dbname=pg["dbname"],
        user=user,
        password=password,
        connect_timeout=3,
        **kw,
    )


def works(lab: dict[str, Any], password: str, user: str = "platform_app_a") -> bool:
    try:
        pg_login(lab, password, user).close()
    except psycopg2.OperationalError:
        return False
    return True


def pg_log(lab: dict[str, Any]) -> str:
    return "".join(
        p.read_text(errors="replace") for p in Path(lab["postgres"]["log_dir"]).glob("*")
    )


def tree_text(path: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in path.rglob("*") if p.is_file())


@pytest.fixture
def intrusion(clean_lab: dict[str, Any], lab_cfg: Any) -> dict[str, Any]:
    faults.inject(lab_cfg, clean_lab, "intrusion", {"ips": SUSPICIOUS_IPS})
    return clean_lab


def app_password(lab: dict[str, Any]) -> str:
    return str(lab["postgres"]["app_password"])


def test_rotates_every_part_verified_then_same_id_changes_nothing(
    intrusion: dict[str, Any], lab_env: dict[str, str], tmp_path: Path
) -> None:
    lab = intrusion
    old_keys = {n: current(lab, n)[1] for n in API_KEYS}
    old_iam = lab["aws"]["resources"]["iam_user"]["access_key_id"]
    suspicious = pg_login(lab, app_password(lab), application_name="suspicious-client")
    bystander = pg_login(lab, app_password(lab), application_name="bystander")
    params = tmp_path / "params.json"
    params.write_text(
        json.dumps(
            {
                "rotation_id": "INC-4711",
                "targets": ["secretsmanager", "postgres", "k8s", "iam", "sessions"],
                "db_current_password": app_password(lab),
                "session_ips": SUSPICIOUS_IPS,
                "terminate": {"application_names": ["suspicious-client"]},
            }
        )
    )
    rc, report = run_json(lab_env, "rotate-secrets", "-e", f"@{params}")
    assert rc == 0, report
    assert any(v["task"].startswith("Verify every rotated") for v in report["verified"])

    # Secrets Manager: the rotation's version is AWSCURRENT, the old one AWSPREVIOUS.
    for name in (*API_KEYS, "platform/db-password"):
        version, value = current(lab, name)
        assert version == token(name, "INC-4711")
        stages = aws_client(lab, "secretsmanager").describe_secret(SecretId=name)[
            "VersionIdsToStages"
        ]
        assert sorted(s for v in stages.values() for s in v) == ["AWSCURRENT", "AWSPREVIOUS"]
        if name in old_keys:
            assert value != old_keys[name]
    # PostgreSQL: the secret switched to the idle role, whose new password works; the live
    # login was never touched, so the old credential still works too.
    db = json.loads(current(lab, "platform/db-password")[1])
    assert db["username"] == "platform_app_b" and works(lab, db["password"], "platform_app_b")
    assert works(lab, app_password(lab), "platform_app_a")
    # Kubernetes: new values, annotated; consumers restarted with the rotation key.
    data = k8s_secret(lab, "db-credentials").data
    assert base64.b64decode(data["password"]).decode() == db["password"]
    assert base64.b64decode(data["username"]).decode() == "platform_app_b"
    # the restarted backend logs in as the new role
    assert http_json(lab["endpoints"]["platform"] + "/health")[0] == 200
    for name in K8S_SECRETS:
        assert k8s_secret(lab, name).metadata.annotations["irdrive.io/rotation-id"] == "INC-4711"
    assert (
        "Restart the rollouts that consume the rotated Secrets and wait until they are available"
        in changed_tasks(report)
    )
    # IAM: only the new, tested key is left.
    keys = aws_client(lab, "iam").list_access_keys(UserName="platform-deployer")[
        "AccessKeyMetadata"
    ]
    stored = json.loads(current(lab, "platform/deployer-access-key")[1])
    assert [k["AccessKeyId"] for k in keys] == [stored["AccessKeyId"]] != [old_iam]
    # Sessions: revoked, audited; only the suspicious backend was terminated.
    with pg_login(lab, lab["postgres"]["password"], user="irdrive") as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FILTER (WHERE revoked_at IS NULL), count(*) FROM sessions "
            "WHERE ip = ANY(%s::inet[])",
            (SUSPICIOUS_IPS,),
        )
        active, total = cur.fetchone()
        cur.execute("SELECT count(*) FROM audit_log WHERE actor = 'irdrive (INC-4711)'")
        (audited,) = cur.fetchone()
    assert total > 0 and active == 0 and audited == total
    with pytest.raises(psycopg2.OperationalError):
        suspicious.cursor().execute("SELECT 1")
    bystander.cursor().execute("SELECT 1")
    bystander.close()

    # Secrets never leak: not in the PostgreSQL log, the report or the run's artifacts.
    # ... nor the rotator's login, which set the new password
    canaries = secret_values(lab) + list(old_keys.values()) + [lab["postgres"]["rotation_password"]]
    assert len(canaries) >= 9
    logged = pg_log(lab)
    artifacts = tree_text(Path(report["run_dir"])) + json.dumps(report)
    for canary in canaries:
        assert canary not in logged and canary not in artifacts
    assert app_password(lab) not in artifacts  # given as a secret parameter

    # Same rotation id: nothing written anywhere.
    mark = Journal(Path(lab["journal"])).mark()
    rc, again = run_json(lab_env, "rotate-secrets", "-e", f"@{params}")
    assert rc == 0, again
    assert changed_tasks(again) == []
    assert writes_since(lab, mark) == []


def test_check_mode_writes_nothing(
    intrusion: dict[str, Any], lab_env: dict[str, str], tmp_path: Path
) -> None:
    lab = intrusion
    before = {n: current(lab, n)[0] for n in (*API_KEYS, "platform/db-password")}
    params = tmp_path / "params.json"
    params.write_text(
        json.dumps(
            {
                "rotation_id": "INC-CHECK",
                "targets": ["secretsmanager", "postgres", "k8s", "iam", "sessions"],
                "db_current_password": app_password(lab),
                "session_ips": SUSPICIOUS_IPS,
            }
        )
    )
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(lab_env, "rotate-secrets", "--check", "--diff", "-e", f"@{params}")
    assert rc == 0, report
    changed = changed_tasks(report)
    assert (
        "Rotate the database login (the idle one of two roles; staged, set, tested, switched)"
        in changed
    )
    assert "Revoke suspicious sessions and terminate their database backends" in changed
    assert writes_since(lab, mark) == []
    assert {n: current(lab, n)[0] for n in before} == before
    assert works(lab, app_password(lab))


class HealthWatch:
    """Polls the platform's /health in a thread; records every database check it saw."""

    def __init__(self, lab: dict[str, Any]) -> None:
        self.url = lab["endpoints"]["platform"] + "/health"
        self.seen: list[tuple[bool, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            _, body = http_json(self.url)
            db = (body.get("checks") or {}).get("database") or {}
            self.seen.append((bool(db.get("ok")), str(db.get("detail", ""))))
            self._stop.wait(0.25)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def failures(self) -> list[str]:
        return [detail for ok, detail in self.seen if not ok]


def test_alternating_rotation_never_breaks_the_running_backend(
    clean_lab: dict[str, Any], lab_env: dict[str, str], tmp_path: Path
) -> None:
    """Twice, with the platform watched throughout: the backend's login works at every moment.

    Then the single-user strategy, without restarting the consumers, shows why alternating is
    the default: the running backend pods still hold the password it replaced.
    """
    lab = clean_lab
    db_only = tmp_path / "db-only.json"
    db_only.write_text(
        json.dumps(
            {
                "targets": ["postgres", "k8s"],
                "k8s_secrets": [
                    {
                        "name": "db-credentials",
                        "from_secretsmanager": {
                            key: {"secret_id": "platform/db-password", "json_key": key}
                            for key in ("username", "password")
                        },
                    }
                ],
            }
        )
    )
    for rotation_id, live in (("INC-A1", "platform_app_b"), ("INC-A2", "platform_app_a")):
        with HealthWatch(lab) as watch:
            rc, report = run_json(
                lab_env, "rotate-secrets", "-e", f"rotation_id={rotation_id}", "-e", f"@{db_only}"
            )
        assert rc == 0, report
        assert len(watch.seen) > 10 and watch.failures() == []
        db = json.loads(current(lab, "platform/db-password")[1])
        assert db["username"] == live and works(lab, db["password"], live)
    # Each role got a new password once: the seeded one is gone, both current ones work.
    assert not works(lab, app_password(lab))
    changes = {c["target"]: c for c in report["recorded"]["irdrive_changes"]}
    assert changes["secretsmanager/platform/db-password"]["database_login"] == {
        "before": "platform_app_b",
        "after": "platform_app_a",
    }

    rc, report = run_json(
        lab_env,
        "rotate-secrets",
        "-e",
        "rotation_id=INC-S1",
        "-e",
        'targets=["postgres"]',
        "-e",
        "db_strategy=single",
    )
    assert rc == 0, report
    status, body = http_json(lab["endpoints"]["platform"] + "/health")
    assert status == 503 and not body["checks"]["database"]["ok"]
    assert "backend pod" in body["checks"]["database"]["detail"]


def _module(lab_env: dict[str, str], repo_root: Path, module: str, args: dict[str, Any]) -> None:
    res = subprocess.run(
        [
            ANSIBLE,
            "-i",
            "inventories/lab",
            "localhost",
            "-m",
            f"irdrive.ops.{module}",
            "-a",
            json.dumps(args),
        ],
        cwd=repo_root,
        env=lab_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


AWS_ARGS = {
    "endpoint_url": "{{ irdrive_aws_endpoint }}",
    "region": "{{ irdrive_aws_region }}",
    "access_key": "{{ irdrive_aws_access_key }}",
    "secret_key": "{{ irdrive_aws_secret_key }}",
}


def test_interrupted_rotation_keeps_a_working_credential_and_converges(
    clean_lab: dict[str, Any], lab_env: dict[str, str], repo_root: Path
) -> None:
    lab = clean_lab
    db_args = {
        **AWS_ARGS,
        "secret_id": "platform/db-password",
        "rotation_id": "INC-9",
        "json_key": "password",
        "postgres": {
            "login_host": "{{ irdrive_pg_host }}",
            "login_port": "{{ irdrive_pg_port }}",
            "login_db": "{{ irdrive_pg_db }}",
            "alternate_users": "{{ irdrive_pg_app_users }}",
            "group_role": "{{ irdrive_pg_app_group }}",
            "login_user": "{{ irdrive_pg_rotation_user }}",
            "login_password": "{{ irdrive_pg_rotation_password }}",
        },
    }
    # Interrupted after createSecret: staged only (for the idle role), the live login works.
    _module(lab_env, repo_root, "secretsmanager_rotate", {**db_args, "step": "create"})
    sm = aws_client(lab, "secretsmanager")
    pending = json.loads(
        sm.get_secret_value(SecretId="platform/db-password", VersionStage="AWSPENDING")[
            "SecretString"
        ]
    )
    assert pending["username"] == "platform_app_b"
    assert works(lab, app_password(lab)) and not works(lab, pending["password"], "platform_app_b")
    # Interrupted after setSecret: both logins work; AWSCURRENT still names the live one.
    _module(lab_env, repo_root, "secretsmanager_rotate", {**db_args, "step": "set"})
    assert works(lab, pending["password"], "platform_app_b") and works(lab, app_password(lab))
    assert json.loads(current(lab, "platform/db-password")[1])["username"] == "platform_app_a"
    # Another rotation left a stale AWSPENDING on an API key.
    _module(
        lab_env,
        repo_root,
        "secretsmanager_rotate",
        {**AWS_ARGS, "secret_id": API_KEYS[0], "rotation_id": "OTHER", "step": "create"},
    )

    rc, report = run_json(
        lab_env,
        "rotate-secrets",
        "-e",
        "rotation_id=INC-9",
        "-e",
        'targets=["secretsmanager","postgres"]',
    )
    assert rc == 0, report
    version, value = current(lab, "platform/db-password")
    assert version == token("platform/db-password", "INC-9")
    assert json.loads(value) == pending and works(lab, pending["password"], "platform_app_b")
    assert works(lab, app_password(lab))
    stages = sm.describe_secret(SecretId=API_KEYS[0])["VersionIdsToStages"]
    assert stages.get(token(API_KEYS[0], "OTHER")) == []
    assert "AWSPENDING" not in {s for v in stages.values() for s in v}


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        ([], "needs parameter rotate_secrets_rotation_id", 2),
        (["-e", "rotation_id=X", "-e", 'targets=["vault"]'], "must be one or more of", 2),
        (["-e", "rotation_id=X", "-e", "secret_length=short"], "secret_length", 2),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(
    lab: dict[str, Any], lab_env: dict[str, str], args: list[str], message: str, code: int
) -> None:
    mark = Journal(Path(lab["journal"])).mark()
    res = irdrive(lab_env, "run", "rotate-secrets", "--yes", *args)
    assert res.returncode == code, res.stdout + res.stderr
    assert message in res.stderr
    assert writes_since(lab, mark) == []


def test_bad_rotation_id_and_sessions_without_filter_are_refused(
    lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    mark = Journal(Path(lab["journal"])).mark()
    rc, report = run_json(
        lab_env, "rotate-secrets", "-e", "rotation_id=bad id;drop", "-e", 'targets=["sessions"]'
    )
    assert rc == 2, report
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert len(failed) == 1
    assert "rotation_id must be 1-100 of letters" in failed[0]["msg"]
    assert "the sessions target needs session_ips" in failed[0]["msg"]
    assert writes_since(lab, mark) == []


def test_wrong_admin_password_refused_before_anything_rotates(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    """Issue 9 Why #2: the preflight logs in as the admin before the API keys rotate."""
    mark = Journal(Path(clean_lab["journal"])).mark()
    before = current(clean_lab, API_KEYS[0])
    rc, report = run_json(
        lab_env, "rotate-secrets", "-e", "rotation_id=X", "-e", "db_admin_password=wrong"
    )
    assert rc == 2, report
    failed = [t for t in report["tasks"] if t["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["msg"] == (
        "the database refused the login of db_admin_user platform_rotator: check db_admin_password"
    )
    assert [t for t in report["tasks"] if t["status"] == "changed"] == []
    assert writes_since(clean_lab, mark) == []
    assert current(clean_lab, API_KEYS[0]) == before


def test_bad_ranges_are_named_before_any_write(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    mark = Journal(Path(clean_lab["journal"])).mark()
    rc, report = run_json(
        lab_env, "rotate-secrets", "-e", "rotation_id=X", "-e", "rollout_timeout=0"
    )
    assert rc == 2, report
    msg = next(t["msg"] for t in report["tasks"] if t["status"] == "failed")
    assert msg == "rollout_timeout must be a number from 1 to 3600 (got 0)"
    assert writes_since(clean_lab, mark) == []


def test_failed_rotation_message_keeps_how_to_finish(
    clean_lab: dict[str, Any], lab_env: dict[str, str]
) -> None:
    """Issue 9 Why #9: the message was cut before "run again with the same rotation_id"."""
    apps = client.AppsV1Api(config.new_client_from_config(config_file=clean_lab["kubeconfig"]))
    for dep in apps.list_namespaced_deployment("platform").items:
        apps.patch_namespaced_deployment(dep.metadata.name, "platform", {"spec": {"paused": True}})
    rc, report = run_json(
        lab_env,
        "rotate-secrets",
        "-e",
        "rotation_id=INC-cut",
        "-e",
        'targets=["secretsmanager","k8s"]',
        "-e",
        "rollout_timeout=2",
    )
    assert rc == 1, report
    final = [t for t in report["tasks"] if t["status"] == "failed"][-1]
    assert final["msg"].startswith("Secret rotation INC-cut failed at ")
    assert "Run again with the same rotation_id (INC-cut) to finish" in final["msg"]
    assert "Rotated and verified before the failure: platform/ccbill-api-key" in final["msg"]


def test_verbose_run_leaks_no_secret(
    clean_lab: dict[str, Any], lab_env: dict[str, str], repo_root: Path, tmp_path: Path
) -> None:
    lab = clean_lab
    old_values = [current(lab, n)[1] for n in API_KEYS] + [app_password(lab)]
    # Secrets go in as a vars file (as AWX and the driver pass them), not on the command line.
    extra = tmp_path / "extra.json"
    extra.write_text(
        json.dumps(
            {
                "rotate_secrets_rotation_id": "INC-V",
                "rotate_secrets_db_current_password": app_password(lab),
            }
        )
    )
    extra.chmod(0o600)
    res = subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-vvvv",
            "-i",
            "inventories/lab",
            "playbooks/rotate-secrets.yml",
            "-e",
            f"@{extra}",
        ],
        cwd=repo_root,
        env=dict(lab_env, ANSIBLE_CONFIG=str(repo_root / "ansible.cfg")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    output = res.stdout + res.stderr
    for canary in secret_values(lab) + old_values + [lab["postgres"]["rotation_password"]]:
        assert canary not in output
