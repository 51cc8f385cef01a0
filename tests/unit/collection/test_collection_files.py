"""The one way files are written: files.write_atomic, and evidence.sync_files on top of it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import evidence
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError
from ansible_collections.irdrive.ops.plugins.module_utils.files import write_atomic


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("existing_mode", "mode", "expected"),
    [
        pytest.param(None, None, 0o644, id="new-file-default"),
        pytest.param(0o640, None, 0o640, id="keeps-the-replaced-files-mode"),
        pytest.param(0o644, 0o600, 0o600, id="explicit-mode-wins"),
    ],
)
def test_write_atomic_modes(tmp_path: Path, existing_mode, mode, expected) -> None:
    target = tmp_path / "deny.conf"
    if existing_mode is not None:
        target.write_text("old\n")
        os.chmod(target, existing_mode)
    write_atomic(target, "new\n", mode=mode)
    assert target.read_text() == "new\n"
    assert mode_of(target) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deny.conf"]  # no temporary left


def test_write_atomic_creates_parents_only_when_asked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "a" / "b.txt", b"x")
    write_atomic(tmp_path / "a" / "b.txt", b"x", parents_mode=0o700)
    assert (tmp_path / "a" / "b.txt").read_bytes() == b"x"
    assert mode_of(tmp_path / "a") == 0o700


@pytest.mark.parametrize(
    ("before", "check_mode", "changed", "after"),
    [
        pytest.param({}, False, True, {"k8s/pods.yaml": b"a", "db/q.csv": b"b"}, id="new"),
        pytest.param({}, True, True, {}, id="new-check-mode-writes-nothing"),
        pytest.param(
            {"k8s/pods.yaml": b"a", "db/q.csv": b"b"},
            False,
            False,
            {"k8s/pods.yaml": b"a", "db/q.csv": b"b"},
            id="same-content-unchanged",
        ),
        pytest.param(
            {"k8s/pods.yaml": b"old"},
            False,
            True,
            {"k8s/pods.yaml": b"a", "db/q.csv": b"b"},
            id="one-differs",
        ),
        pytest.param(
            {"k8s/pods.yaml": b"old"}, True, True, {"k8s/pods.yaml": b"old"}, id="differs-check"
        ),
    ],
)
def test_sync_files(tmp_path: Path, before, check_mode, changed, after) -> None:
    for rel, data in before.items():
        evidence.write_file(tmp_path / rel, data)
    files = {"k8s/pods.yaml": b"a", "db/q.csv": b"b"}
    result = evidence.sync_files(tmp_path, files, check_mode)
    assert result["changed"] is changed
    assert result["before"] == {"files": sorted(before)}
    assert result["files"] == [
        {"path": "db/q.csv", "bytes": 1},
        {"path": "k8s/pods.yaml", "bytes": 1},
    ]
    found = {
        str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
    }
    assert found == after
    for rel in after:
        assert mode_of(tmp_path / rel) == 0o600


def test_sync_files_refuses_paths_outside_the_bundle(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        evidence.sync_files(tmp_path / "bundle", {"../escape.txt": b"x"}, False)
    assert not (tmp_path / "escape.txt").exists()
