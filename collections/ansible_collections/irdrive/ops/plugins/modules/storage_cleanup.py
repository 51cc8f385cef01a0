# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: storage_cleanup
short_description: Report a storage folder's disk use and delete its stale temporary files
version_added: 0.1.0
description:
  - Reports the disk use of the filesystem that holds O(path) (as C(df) does) and of the
    folder itself, and lists the files below O(path) whose names match O(patterns) and that
    were last modified at least O(min_age) ago.
  - With O(state=absent) it deletes those files, then looks again and returns what is left
    and the disk use after, so that a play can verify the clean-up from this one call.
    With O(state=present) it only reports.
  - Only regular files are matched. Symbolic links are neither followed nor deleted, so a
    link cannot lead the clean-up out of O(path). Files younger than O(min_age) (work in
    progress, such as a running transcode) are left alone.
  - "Replaces C(find PATH -name '*.tmp' -delete) with one idempotent, check-mode-safe call:
    a second run finds nothing to delete and reports no change."
author:
  - irdrive maintainers (@irdrive)
options:
  path:
    description: The folder to report on and clean. The root folder is refused.
    type: path
    required: true
  patterns:
    description: Shell-style patterns (C(fnmatch)) matched against file names.
    type: list
    elements: str
    default: ["*.tmp"]
  min_age:
    description:
      - Only files last modified at least this long ago are stale. A whole number with an
        optional unit C(s), C(m), C(h), C(d) or C(w); a bare number is seconds.
    type: str
    default: 1h
  recurse:
    description: Whether to look in sub-folders too.
    type: bool
    default: true
  state:
    description:
      - V(absent) deletes the stale files; V(present) only reports them.
    type: str
    choices: [absent, present]
    default: absent
  list_limit:
    description: How many file entries to return in RV(files) at most (counts are never cut).
    type: int
    default: 500
attributes:
  check_mode:
    description: Lists the files a real run would delete and deletes nothing.
    support: full
  diff_mode:
    description: Shows the stale files before and after.
    support: full
notes:
  - Bytes freed are counted twice, as apparent size (RV(bytes_freed)) and as blocks on disk
    (RV(allocated_bytes_freed)); they differ for sparse files.
"""

EXAMPLES = r"""
- name: Clean transcoder leftovers older than an hour from the video storage
  irdrive.ops.storage_cleanup:
    path: /var/lib/videos
    min_age: 1h
  register: video_cleanup

- name: Verify no old temporary files are left
  ansible.builtin.assert:
    that: video_cleanup.after.stale_files == 0

- name: Only report the disk use of the upload folder
  irdrive.ops.storage_cleanup:
    path: /var/www/uploads
    patterns: ["*.part", "*.tmp"]
    min_age: 2d
    state: present
"""

RETURN = r"""
path:
  description: The folder, with links resolved.
  returned: always
  type: str
  sample: /var/lib/videos
min_age_seconds:
  description: O(min_age) in seconds.
  returned: always
  type: int
  sample: 3600
files:
  description:
    - The stale files found, sorted by path; deleted unless in check mode or with
      O(state=present).
  returned: always
  type: list
  elements: dict
  sample:
    - path: /var/lib/videos/transcode-0001.mp4.tmp
      size: 1048576
      allocated: 1048576
      age_seconds: 9000
files_count:
  description: How many stale files were found (RV(files) may be cut at O(list_limit)).
  returned: always
  type: int
  sample: 133
removed:
  description: How many files were deleted; 0 in check mode and with O(state=present).
  returned: always
  type: int
  sample: 133
bytes_freed:
  description: Apparent size of the deleted files (what they would free in check mode).
  returned: always
  type: int
  sample: 139460608
allocated_bytes_freed:
  description: Disk blocks, in bytes, of the deleted files (what they would free in check mode).
  returned: always
  type: int
  sample: 139460608
before:
  description: Disk use before; the prior state this clean-up replaced.
  returned: always
  type: dict
  sample:
    path: /var/lib/videos
    mount: /var/lib/videos
    size_bytes: 67108864
    used_bytes: 65095680
    available_bytes: 2013184
    used_percent: 97.0
    folder_bytes: 65060864
    stale_files: 133
    stale_bytes: 43253760
    fresh_files: 67
after:
  description:
    - Disk use after, looked up again once the files were deleted. In check mode and with
      O(state=present) it is the same as RV(before).
  returned: always
  type: dict
  sample:
    path: /var/lib/videos
    mount: /var/lib/videos
    size_bytes: 67108864
    used_bytes: 21841920
    available_bytes: 45266944
    used_percent: 32.5
    folder_bytes: 21807104
    stale_files: 0
    stale_bytes: 0
    fresh_files: 67
errors:
  description: Files that could not be deleted, with the reason. The task fails when any.
  returned: always
  type: list
  elements: dict
  sample: []
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail
from ansible_collections.irdrive.ops.plugins.module_utils.storage import (
    check_folder,
    parse_age,
    remove,
    scan,
    usage,
)


def argument_spec() -> dict[str, Any]:
    return {
        "path": {"type": "path", "required": True},
        "patterns": {"type": "list", "elements": "str", "default": ["*.tmp"]},
        "min_age": {"type": "str", "default": "1h"},
        "recurse": {"type": "bool", "default": True},
        "state": {"type": "str", "choices": ["absent", "present"], "default": "absent"},
        "list_limit": {"type": "int", "default": 500},
    }


def run_module(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    min_age = parse_age(params["min_age"])
    path = check_folder(params["path"])
    patterns = params["patterns"] or ["*.tmp"]
    found = scan(path, patterns, min_age, params["recurse"])
    before = usage(path, found)
    delete = params["state"] == "absent" and not module.check_mode
    removed, errors = remove(found.stale) if delete and found.stale else ([], [])
    after = usage(path, scan(path, patterns, min_age, params["recurse"])) if removed else before
    counted = removed if delete else found.stale
    result: dict[str, Any] = {
        "changed": params["state"] == "absent" and bool(found.stale),
        "path": path,
        "min_age_seconds": min_age,
        "files": [f.to_dict() for f in found.stale[: max(params["list_limit"], 0)]],
        "files_count": len(found.stale),
        "removed": len(removed),
        "bytes_freed": sum(f.size for f in counted),
        "allocated_bytes_freed": sum(f.allocated for f in counted),
        "before": before,
        "after": after,
        "errors": errors,
    }
    if module._diff and result["changed"]:
        result["diff"] = {
            "before": "".join(f"{f.path}\n" for f in found.stale),
            "after": "",
            "before_header": f"{path}: {', '.join(patterns)} at least {min_age}s old",
            "after_header": f"{path}: after clean-up",
        }
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        return run_module(module)

    result = result_or_fail(module, work)
    if result["errors"]:
        first = result["errors"][0]
        module.fail_json(
            msg=f"{len(result['errors'])} file(s) could not be deleted, first "
            f"{first['path']}: {first['error']}",
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
