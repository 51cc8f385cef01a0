# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: evidence_manifest
short_description: Seal an evidence bundle with a SHA-256 manifest and custody log, or verify one
version_added: 0.1.0
description:
  - With O(state=sealed), writes the inline O(artifacts) into the bundle folder O(path), hashes
    every file in it with SHA-256 and writes C(manifest.json) and C(MANIFEST.sha256) (the
    C(sha256sum -c) format), then appends a C(sealed) entry to the append-only custody log
    C(custody.jsonl) - who (O(actor), default C($USER)), when (UTC), the tool and the
    irdrive.ops version, the controller's host name, the incident id and the SHA-256 of
    C(manifest.json). Each custody line carries the SHA-256 of the line before it.
  - A bundle is sealed once. Sealing a sealed bundle verifies it and changes nothing, so a
    re-run with the same bundle reports no change; a sealed bundle that fails verification is
    never re-sealed, the task fails.
  - With O(state=verified), recomputes every hash and fails, naming each file that is missing,
    altered (one flipped byte is enough) or not in the manifest, and when C(manifest.json) is
    not the one the custody log recorded at sealing or the custody chain is broken.
attributes:
  check_mode:
    description: Reports what would be sealed or verified; writes nothing.
    support: full
  diff_mode:
    description: Nothing to diff; a sealed bundle never changes.
    support: none
author:
  - irdrive maintainers (@irdrive)
options:
  path:
    description: The bundle folder.
    type: path
    required: true
  state:
    description: V(sealed) seals the bundle (or verifies an already sealed one); V(verified) only verifies.
    type: str
    choices: [sealed, verified]
    default: sealed
  incident_id:
    description:
      - The incident the evidence belongs to. Required to seal; when verifying, the bundle must
        belong to it.
    type: str
  artifacts:
    description:
      - Artifacts to write into the bundle before sealing, such as lines gathered on remote
        hosts. Ignored when the bundle is already sealed.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path inside the bundle.
        type: str
        required: true
      content:
        description: The text to write.
        type: str
        required: true
  metadata:
    description: What was collected and how (window, selectors, sources); stored in C(manifest.json).
    type: dict
    default: {}
  actor:
    description: Who collects, for the custody log. Default C($USER).
    type: str
  missing_ok:
    description: With O(state=verified), a folder that is not a sealed bundle is reported (RV(sealed=false)) instead of failing.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Seal the bundle
  irdrive.ops.evidence_manifest:
    path: "{{ bundle_dir }}"
    incident_id: INC-1042
    artifacts:
      - path: hosts/web/access-4xx.log
        content: "{{ web_lines.stdout }}\n"
    metadata:
      window: 24h

- name: Verify a bundle before handing it over
  irdrive.ops.evidence_manifest:
    path: /srv/evidence/INC-1042-20261127T031200Z
    state: verified
"""

RETURN = r"""
sealed:
  description: Whether the bundle is sealed (after the task; predicted in check mode).
  returned: always
  type: bool
  sample: true
bundle:
  description: The bundle folder.
  returned: always
  type: str
  sample: /srv/evidence/INC-1042-20261127T031200Z
verification:
  description: The result of verifying a sealed bundle - problems name the files.
  returned: when the bundle was sealed before the task
  type: dict
  sample: {"ok": false, "files": 31, "altered": ["k8s/state/pods.yaml"],
           "problems": ["k8s/state/pods.yaml: altered (sha256 9f... != 1c...)"],
           "manifest_sha256": "4e1f...", "incident_id": "INC-1042", "custody_entries": 1}
files:
  description: The artifacts the manifest lists (or would list) with SHA-256 and size.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "db/auth_logs.csv", "sha256": "1c9e...", "size": 40211}]
custody:
  description: The custody entry appended by this task.
  returned: when the task sealed the bundle
  type: dict
  sample: {"event": "sealed", "incident_id": "INC-1042", "actor": "alice",
           "at": "2026-11-27T03:12:40Z", "tool": "irdrive.ops.evidence_manifest",
           "tool_version": "0.1.0", "host": "bastion-1", "manifest_sha256": "4e1f...",
           "files": 31, "prev": null}
before:
  description: The bundle before the task sealed it (it was not sealed; whether the folder existed).
  returned: when the task sealed the bundle
  type: dict
  sample: {"sealed": false, "exists": true}
manifest_sha256:
  description: SHA-256 of C(manifest.json).
  returned: when the bundle is sealed
  type: str
  sample: 4e1f0c0d9b...
"""

import json
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.evidence import (
    MANIFEST_JSON,
    MANIFEST_SHA256,
    actor,
    append_custody,
    artifact_files,
    check_incident_id,
    hash_artifacts,
    is_sealed,
    safe_relpath,
    sha256_bytes,
    sha256_file,
    sha256sum_text,
    tool_record,
    utc_now,
    verify_bundle,
    write_file,
)
from ansible_collections.irdrive.ops.plugins.module_utils.module_result import result_or_fail


def argument_spec() -> dict[str, Any]:
    return {
        "path": {"type": "path", "required": True},
        "state": {"type": "str", "choices": ["sealed", "verified"], "default": "sealed"},
        "incident_id": {"type": "str"},
        "artifacts": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "path": {"type": "str", "required": True},
                "content": {"type": "str", "required": True},
            },
        },
        "metadata": {"type": "dict", "default": {}},
        "actor": {"type": "str"},
        "missing_ok": {"type": "bool", "default": False},
    }


def verify_or_raise(bundle: Path, incident_id: str | None) -> dict[str, Any]:
    report = verify_bundle(bundle, incident_id)
    if not report["ok"]:
        raise InvalidStateError(
            f"evidence bundle {bundle} failed verification: " + "; ".join(report["problems"]),
            verification=report,
            sealed=True,
        )
    return report


def seal(module: AnsibleModule, bundle: Path) -> dict[str, Any]:
    p = module.params
    incident_id = check_incident_id(p["incident_id"] or "")
    inline = {safe_relpath(a["path"]): a["content"] for a in p["artifacts"]}
    before = {"sealed": False, "exists": bundle.is_dir()}
    if module.check_mode:
        existing = artifact_files(bundle) if bundle.is_dir() else []
        files = [
            {"path": rel, "sha256": None, "size": None}
            for rel in sorted(set(existing) | set(inline))
        ]
        return {"changed": True, "sealed": True, "files": files, "before": before}
    for rel, content in sorted(inline.items()):
        write_file(bundle / rel, content)
    files = hash_artifacts(bundle)
    if not files:
        raise InvalidInputError(f"{bundle} holds no artifact to seal")
    tool = tool_record("evidence_manifest")
    who = actor(p["actor"])
    manifest = {
        "incident_id": incident_id,
        "bundle": bundle.name,
        "sealed_at": utc_now(),
        "sealed_by": who,
        **tool,
        "metadata": p["metadata"],
        "files": files,
    }
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    write_file(bundle / MANIFEST_SHA256, sha256sum_text(files))
    write_file(bundle / MANIFEST_JSON, data)
    entry = append_custody(
        bundle,
        {
            "event": "sealed",
            "incident_id": incident_id,
            "bundle": bundle.name,
            "actor": who,
            "at": manifest["sealed_at"],
            **tool,
            "manifest_sha256": sha256_bytes(data),
            "files": len(files),
        },
    )
    return {
        "changed": True,
        "before": before,
        "sealed": True,
        "files": files,
        "custody": entry,
        "manifest_sha256": sha256_file(bundle / MANIFEST_JSON),
    }


def run_module(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    bundle = Path(p["path"])
    result: dict[str, Any] = {"bundle": str(bundle), "changed": False}
    if is_sealed(bundle):
        report = verify_or_raise(bundle, p["incident_id"])
        manifest = json.loads((bundle / MANIFEST_JSON).read_text(encoding="utf-8"))
        result.update(
            sealed=True,
            verification=report,
            files=manifest["files"],
            manifest_sha256=report["manifest_sha256"],
        )
        return result
    if p["state"] == "verified":
        if not p["missing_ok"]:
            raise NotFoundError(f"{bundle} is not a sealed evidence bundle (no {MANIFEST_JSON})")
        result.update(sealed=False, files=[])
        return result
    result.update(seal(module, bundle))
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)

    def work() -> dict[str, Any]:
        return run_module(module)

    result = result_or_fail(module, work)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
