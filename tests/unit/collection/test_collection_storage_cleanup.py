"""irdrive.ops.storage_cleanup run as Ansible runs it, against a real temporary folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ansible_collections.irdrive.ops.plugins.module_utils import storage
from ansible_collections.irdrive.ops.plugins.module_utils.errors import InvalidInputError
from ansible_collections.irdrive.ops.plugins.modules import storage_cleanup

HOUR = 3600


def make(path: Path, age: float, size: int = 4096) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    make(root / "old-1.mp4.tmp", 3 * HOUR)
    make(root / "old-2.mp4.tmp", 2 * HOUR)
    make(root / "sub" / "old-3.tmp", 5 * HOUR)
    make(root / "fresh.mp4.tmp", 60)
    make(root / "intro.mp4", 9 * HOUR)
    return root


def names(result: dict) -> list[str]:
    return [Path(f["path"]).name for f in result["files"]]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800), ("1w", 604800)],
)
def test_parse_age(text: str, seconds: int) -> None:
    assert storage.parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1.5h", "-1h", "1y", "h", None, True])
def test_parse_age_refuses(text: object) -> None:
    with pytest.raises(InvalidInputError, match="is not an age"):
        storage.parse_age(text)


def test_deletes_old_files_only_and_verifies(run_module, videos: Path) -> None:
    result, failed = run_module(storage_cleanup, {"path": str(videos), "min_age": "1h"})
    assert not failed and result["changed"]
    assert names(result) == ["old-1.mp4.tmp", "old-2.mp4.tmp", "old-3.tmp"]
    assert result["removed"] == 3 and result["bytes_freed"] == 3 * 4096
    assert result["before"]["stale_files"] == 3 and result["after"]["stale_files"] == 0
    assert result["after"]["fresh_files"] == 1
    assert result["after"]["folder_bytes"] < result["before"]["folder_bytes"]
    assert sorted(p.name for p in videos.rglob("*") if p.is_file()) == [
        "fresh.mp4.tmp",
        "intro.mp4",
    ]


def test_second_run_changes_nothing(run_module, videos: Path) -> None:
    run_module(storage_cleanup, {"path": str(videos)})
    result, failed = run_module(storage_cleanup, {"path": str(videos)})
    assert not failed and not result["changed"]
    assert result["files"] == [] and result["removed"] == 0


def test_check_mode_lists_and_deletes_nothing(run_module, videos: Path) -> None:
    result, failed = run_module(storage_cleanup, {"path": str(videos)}, check_mode=True, diff=True)
    assert not failed and result["changed"]
    assert result["files_count"] == 3 and result["removed"] == 0
    assert result["bytes_freed"] == 3 * 4096
    assert "old-3.tmp" in result["diff"]["before"] and result["diff"]["after"] == ""
    assert len([p for p in videos.rglob("*.tmp")]) == 4


def test_state_present_only_reports(run_module, videos: Path) -> None:
    result, failed = run_module(storage_cleanup, {"path": str(videos), "state": "present"})
    assert not failed and not result["changed"] and result["files_count"] == 3
    assert len(list(videos.rglob("*.tmp"))) == 4


def test_no_recurse_and_other_patterns(run_module, videos: Path) -> None:
    args = {"path": str(videos), "recurse": False, "patterns": ["*.mp4"], "min_age": "8h"}
    result, failed = run_module(storage_cleanup, args)
    assert not failed and names(result) == ["intro.mp4"]


def test_symlinks_are_not_followed_or_deleted(run_module, tmp_path: Path) -> None:
    outside = make(tmp_path / "outside" / "keep.tmp", 5 * HOUR)
    root = tmp_path / "videos"
    root.mkdir()
    (root / "link.tmp").symlink_to(outside)
    (root / "dir").symlink_to(outside.parent, target_is_directory=True)
    result, failed = run_module(storage_cleanup, {"path": str(root)})
    assert not failed and not result["changed"] and result["files"] == []
    assert outside.exists() and (root / "link.tmp").is_symlink()


@pytest.mark.parametrize(
    ("args", "message", "kind"),
    [
        ({"path": "/"}, "refusing to clean the root folder", "invalid_input"),
        ({"path": "/nonexistent/irdrive-videos"}, "does not exist", "not_found"),
        ({"min_age": "soon"}, "is not an age", "invalid_input"),
    ],
)
def test_bad_input_fails_clearly(
    run_module, videos: Path, args: dict, message: str, kind: str
) -> None:
    result, failed = run_module(storage_cleanup, {"path": str(videos), **args})
    assert failed and message in result["msg"] and result["error_kind"] == kind
    assert len(list(videos.rglob("*.tmp"))) == 4


def test_undeletable_file_fails_and_says_which(
    run_module, videos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_unlink = os.unlink

    def unlink(path: str, *args, **kwargs) -> None:
        if path.endswith("old-2.mp4.tmp"):
            raise PermissionError(13, "Permission denied")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(storage.os, "unlink", unlink)
    result, failed = run_module(storage_cleanup, {"path": str(videos)})
    assert failed and "1 file(s) could not be deleted" in result["msg"]
    assert "old-2.mp4.tmp" in result["msg"] and result["removed"] == 2
    assert result["after"]["stale_files"] == 1
