"""The four lock modules' documentation, as ansible-doc renders it with the lock doc fragment.

What the lock modules share is written once, in ``doc_fragments/lock.py``; each module keeps
only its own options and returns. One ansible-doc call renders all four: the rendered options
must be the ones each action plugin (or host_lock's module) validates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.irdrive.ops.plugins.action import pg_lock as pg_lock_action
from ansible_collections.irdrive.ops.plugins.action import s3_lock as s3_lock_action
from ansible_collections.irdrive.ops.plugins.action import target_lock as target_lock_action
from ansible_collections.irdrive.ops.plugins.doc_fragments import lock
from ansible_collections.irdrive.ops.plugins.modules import (
    host_lock,
    pg_lock,
    s3_lock,
    target_lock,
)

REPO = Path(__file__).resolve().parents[3]
SPECS: dict[str, dict[str, dict[str, Any]]] = {
    "target_lock": target_lock_action.ARGUMENT_SPEC,
    "pg_lock": pg_lock_action.ARGUMENT_SPEC,
    "s3_lock": s3_lock_action.ARGUMENT_SPEC,
    "host_lock": host_lock.ARGUMENT_SPEC,
}
MODULES = {
    "target_lock": target_lock,
    "pg_lock": pg_lock,
    "s3_lock": s3_lock,
    "host_lock": host_lock,
}
SHARED_OPTIONS = {"state", "wait"}
BACKEND_OPTIONS = {"holder", "duration"}
SHARED_RETURNS = {
    *("state", "holder", "reentered", "took_over"),
    *("waited", "conflicts", "held_by", "since"),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    """``ansible-doc -j`` of the four lock modules, keyed by short name."""
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    names = [f"irdrive.ops.{name}" for name in SPECS]
    out = subprocess.run(
        [str(ansible_doc), "-j", *names], capture_output=True, text=True, env=env, check=True
    )
    return {name.rsplit(".", 1)[1]: doc for name, doc in json.loads(out.stdout).items()}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_rendered_options_are_the_validated_ones(rendered: dict[str, Any], name: str) -> None:
    options = rendered[name]["doc"]["options"]
    spec = SPECS[name]
    assert sorted(options) == sorted(spec)
    for option, arg in spec.items():
        documented = options[option]
        assert documented["type"] == arg["type"], option
        assert documented.get("default") == arg.get("default"), option
        assert documented.get("choices") == arg.get("choices"), option
        assert bool(documented.get("required")) == bool(arg.get("required")), option
        assert sorted(documented.get("aliases", [])) == sorted(arg.get("aliases", [])), option
    attributes = rendered[name]["doc"]["attributes"]
    assert attributes["diff_mode"]["support"] == "none"
    assert attributes["check_mode"]["support"] == "full"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_shared_parts_come_from_the_fragment_only(rendered: dict[str, Any], name: str) -> None:
    module = MODULES[name]
    own_doc = yaml.safe_load(module.DOCUMENTATION)
    own_return = yaml.safe_load(module.RETURN)
    shared = SHARED_OPTIONS | (BACKEND_OPTIONS if name != "target_lock" else set())
    assert "irdrive.ops.lock" in own_doc["extends_documentation_fragment"]
    assert not shared & set(own_doc["options"]), "documented again in the module"
    assert own_return["extends_documentation_fragment"] == "irdrive.ops.lock"
    assert not SHARED_RETURNS & set(own_return)
    # Rendered, every lock module returns the same keys: the fragment's and its own four.
    assert set(rendered[name]["return"]) == SHARED_RETURNS | {
        "written",
        "lock",
        "lease",
        "error_kind",
    }
    fragment = yaml.safe_load(lock.ModuleDocFragment.RETURN)
    for key in SHARED_RETURNS:
        assert rendered[name]["return"][key]["description"] == fragment[key]["description"]
    # The module's own fields complete the fragment's: its lease's description, the sample here.
    lease = rendered[name]["return"]["lease"]
    assert lease["sample"] == fragment["lease"]["sample"] and lease["type"] == "dict"
    assert lease["description"] == own_return["lease"]["description"]
    assert rendered[name]["return"]["error_kind"]["type"] == "str"
    assert "V(locked)" in rendered[name]["return"]["error_kind"]["description"]


def test_fragment_options_match_the_lock_spec() -> None:
    from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import LOCK_ARG_SPEC

    options = yaml.safe_load(lock.ModuleDocFragment.DOCUMENTATION)["options"]
    options |= yaml.safe_load(lock.ModuleDocFragment.BACKEND)["options"]
    assert set(options) == SHARED_OPTIONS | BACKEND_OPTIONS
    for name, documented in options.items():
        assert documented["type"] == LOCK_ARG_SPEC[name]["type"], name
        assert documented.get("default") == LOCK_ARG_SPEC[name].get("default"), name
