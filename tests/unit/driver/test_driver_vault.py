"""The driver keeps secrets off disk: extra vars sealed as Ansible Vault 1.1 (without importing
Ansible; Ansible opens it), and ansible-runner's command file kept in memory until scrubbed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from irdrive.runner import VAULT_KEY_ENV, seal_extravars, vault_encrypt


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4000])
def test_ansible_decrypts_what_the_driver_encrypts(size: int) -> None:
    from ansible.parsing.vault import VaultLib, VaultSecret

    plaintext = os.urandom(size)
    text = vault_encrypt(plaintext, b"s3cret-key")
    assert text.startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    assert all(len(line) <= 80 for line in text.splitlines())
    vault = VaultLib([("default", VaultSecret(b"s3cret-key"))])
    assert vault.decrypt(text) == plaintext
    # Each document has its own salt, and the wrong key is refused by the HMAC.
    assert vault_encrypt(plaintext, b"s3cret-key") != text
    wrong = VaultLib([("default", VaultSecret(b"other"))])
    with pytest.raises(Exception, match="(?i)decrypt"):
        wrong.decrypt(text)


def test_sealed_extra_vars_hold_no_secret_in_clear(tmp_path: Path) -> None:
    from ansible.parsing.vault import VaultLib, VaultSecret

    path = tmp_path / "env" / "extravars"
    path.parent.mkdir()
    env, script = seal_extravars(path, {"db_password": "hunter2-ü", "irdrive_run_id": "r1"})
    assert "hunter2" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    vault = VaultLib([("default", VaultSecret(env[VAULT_KEY_ENV].encode()))])
    assert json.loads(vault.decrypt(path.read_text())) == {
        "db_password": "hunter2-ü",
        "irdrive_run_id": "r1",
    }
    assert script.read_text().startswith("#!/bin/sh")


def test_the_command_file_is_in_memory_until_it_is_settled_scrubbed(tmp_path: Path) -> None:
    """ansible-runner writes the environment to artifacts/<ident>/command before the playbook
    starts; the path leads to a pipe, and what lands on disk is scrubbed."""
    import codecs

    from irdrive.redact import Redactor
    from irdrive.runner import CommandFileInMemory

    secret = "s3cr3t-canary-value"
    path = tmp_path / "artifacts" / "ansible" / "command"
    trap = CommandFileInMemory(path, Redactor([secret]))
    env = {"AWS_SECRET_ACCESS_KEY": secret, "PATH": "/usr/bin", "BIG": "x" * 200_000}
    # What ansible-runner does (ansible_runner/runner.py), big enough to fill a pipe's buffer.
    with codecs.open(str(path), "w", encoding="utf-8") as fh:
        os.chmod(str(path), stat.S_IRUSR | stat.S_IWUSR)
        json.dump({"command": ["ansible-playbook"], "cwd": "/x", "env": env}, fh)
    assert path.is_symlink() and not path.is_file()  # nothing of it on disk
    trap.settle()
    trap.settle()  # once
    assert path.is_file() and not path.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert secret not in text
    data = json.loads(text)
    assert data["env"]["PATH"] == "/usr/bin" and data["env"]["BIG"] == "x" * 200_000
    assert data["env"]["AWS_SECRET_ACCESS_KEY"] != secret


def test_a_command_file_never_written_settles_empty(tmp_path: Path) -> None:
    from irdrive.redact import Redactor
    from irdrive.runner import CommandFileInMemory

    path = tmp_path / "command"
    CommandFileInMemory(path, Redactor([])).settle()
    assert path.is_file() and path.read_text() == ""
