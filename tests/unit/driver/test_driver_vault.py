"""The driver seals extra vars as Ansible Vault 1.1 without importing Ansible; Ansible opens it."""

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
