"""The lab's database credentials: made once per lab folder, private, shared by every part."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

from irdrive_lab.control import credentials
from irdrive_lab.control.config import LabConfig
from irdrive_lab.kube.sim import seed


def test_made_once_private_and_stable(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path / "lab", port_base=20000)
    first = credentials.lab_credentials(cfg)
    assert set(first) == set(credentials.LOGIN_ROLES)
    assert len(set(first.values())) == len(first)  # every role its own password
    path = cfg.dir / credentials.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.lab_credentials(cfg) == first
    assert not [p for p in cfg.dir.iterdir() if p.name.startswith(".")]  # no temp file left


def test_an_older_file_is_upgraded(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path, port_base=20000)
    (tmp_path / credentials.FILE_NAME).write_text(json.dumps({"irdrive": "old"}))
    upgraded = credentials.lab_credentials(cfg)
    assert set(upgraded) == set(credentials.LOGIN_ROLES)


def test_every_seed_names_the_same_live_login(tmp_path: Path) -> None:
    cfg = LabConfig(dir=tmp_path, port_base=20000)
    live = credentials.app_secret(cfg)
    assert live["username"] == credentials.APP_USERS[0]
    assert live["password"] == credentials.lab_credentials(cfg)[credentials.APP_USERS[0]]
    secrets = {s["metadata"]["name"]: s for s in seed.secrets(live)}
    data = secrets["db-credentials"]["data"]
    assert base64.b64decode(data["username"]).decode() == live["username"]
    assert base64.b64decode(data["password"]).decode() == live["password"]
