"""Which environment variables are secret, and how the runner's env artifacts are scrubbed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irdrive.redact import REDACTED, Redactor, env_secrets, is_secret_env, scrub_env
from irdrive.runner import scrub_artifacts

CANARY = "CANARY-env-4b1d"


@pytest.mark.parametrize(
    "name",
    [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "PGPASSWORD",
        "K8S_AUTH_API_KEY",
        "K8S_AUTH_PASSWORD",
        "pgpassword",
        "IRDRIVE_LAB_ADMIN_TOKEN",
        "SLACK_WEBHOOK_SECRET",
        "PAGERDUTY_API_KEY",
        "VAULT_PASSWORD",
        "OTHER_SECRET_ACCESS_KEY",
    ],
)
def test_secret_variables(name: str) -> None:
    assert is_secret_env(name)


@pytest.mark.parametrize(
    "name",
    [
        "AWS_ACCESS_KEY_ID",
        "AWS_REGION",
        "PGUSER",
        "PGHOST",
        "K8S_AUTH_CLIENT_KEY",  # a path to the key, not the key
        "K8S_AUTH_KUBECONFIG",
        "K8S_AUTH_HOST",
        "PATH",
        "TOKEN_FILE",
        "PASSWORD_STORE_DIR",
        "ANSIBLE_CONFIG",
    ],
)
def test_not_secret_variables(name: str) -> None:
    assert not is_secret_env(name)


def test_scrub_env_keeps_names_and_other_values() -> None:
    env = {"PGPASSWORD": CANARY, "PGUSER": "app", "AWS_SESSION_TOKEN": "", "PATH": "/bin"}
    assert scrub_env(env) == {
        "PGPASSWORD": REDACTED,
        "PGUSER": "app",
        "AWS_SESSION_TOKEN": "",
        "PATH": "/bin",
    }
    assert env["PGPASSWORD"] == CANARY  # a copy
    assert env_secrets(env) == [CANARY]


def test_scrub_artifacts_rewrites_command_envvars_and_cmdline(tmp_path: Path) -> None:
    command = tmp_path / "artifacts" / "ansible" / "command"
    command.parent.mkdir(parents=True)
    command.write_text(
        json.dumps(
            {
                "command": ["ansible-playbook", "site.yml"],
                "cwd": "/project",
                "env": {"K8S_AUTH_API_KEY": CANARY, "PGUSER": "app", "COPY": f"x{CANARY}"},
            }
        )
    )
    (tmp_path / "env").mkdir()
    envvars = tmp_path / "env" / "envvars"
    envvars.write_text(json.dumps({"ANSIBLE_CONFIG": "/p/ansible.cfg", "PGPASSWORD": CANARY}))
    cmdline = tmp_path / "env" / "cmdline"
    cmdline.write_text(f"--check --token {CANARY}")
    facts = tmp_path / "artifacts" / "ansible" / "fact_cache"
    facts.mkdir()
    (facts / "localhost").write_text(json.dumps({"ansible_env": {"PGPASSWORD": CANARY}}))

    scrub_artifacts(tmp_path, "ansible", Redactor([CANARY]))

    kept = json.loads(command.read_text())
    assert kept["command"] == ["ansible-playbook", "site.yml"] and kept["cwd"] == "/project"
    assert kept["env"] == {"K8S_AUTH_API_KEY": REDACTED, "PGUSER": "app", "COPY": f"x{REDACTED}"}
    assert json.loads(envvars.read_text()) == {
        "ANSIBLE_CONFIG": "/p/ansible.cfg",
        "PGPASSWORD": REDACTED,
    }
    assert cmdline.read_text() == f"--check --token {REDACTED}"
    assert json.loads((facts / "localhost").read_text()) == {
        "ansible_env": {"PGPASSWORD": REDACTED}
    }


def test_scrub_artifacts_by_name_alone_and_without_files(tmp_path: Path) -> None:
    command = tmp_path / "artifacts" / "ansible" / "command"
    command.parent.mkdir(parents=True)
    command.write_text(json.dumps({"command": [], "cwd": "/", "env": {"PGPASSWORD": CANARY}}))
    scrub_artifacts(tmp_path, "ansible", Redactor([]))  # the rule by name needs no redactor
    assert CANARY not in command.read_text()
    scrub_artifacts(tmp_path / "nothing", "ansible", Redactor([]))  # no artifacts yet: no error


def test_mask_text_is_the_one_masking_of_incident_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    from irdrive.redact import REDACTED, env_redactor, mask_text

    monkeypatch.setenv("SLACK_TOKEN", "xoxb-canary-1234")
    monkeypatch.setenv("PLAIN_VALUE", "not-a-secret")
    text = "token xoxb-canary-1234, run key hunter22, db postgresql://ana:pw-9876@db:5432/x"
    masked = mask_text(text, ["hunter22"])
    assert masked == (f"token {REDACTED}, run key {REDACTED}, db postgresql://ana:***@db:5432/x")
    assert mask_text("not-a-secret") == "not-a-secret"
    # An explicit environment instead of this process's.
    assert env_redactor(env={"X_PASSWORD": "s3cret-x"}).text("a s3cret-x") == f"a {REDACTED}"
    assert env_redactor(env={}).text("xoxb-canary-1234") == "xoxb-canary-1234"
