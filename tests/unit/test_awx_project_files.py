"""What AWX reads besides the playbooks: collections/requirements.yml, the custom credential
types, and the execution environment (built with ``ansible-builder create``)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OWN = {"ansible.builtin", "ansible.legacy", "irdrive.ops"}
FQCN = re.compile(r"\b([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\.[a-z_][a-z0-9_]*\b")
ARGS_COMMON = (
    REPO / "collections/ansible_collections/irdrive/ops/plugins/module_utils/args_common.py"
)


def requirements() -> dict[str, str]:
    data = yaml.safe_load((REPO / "collections/requirements.yml").read_text())
    return {c["name"]: str(c["version"]) for c in data["collections"]}


def used_collections() -> set[str]:
    """Collections named by a module, lookup, filter or module_defaults group in what AWX runs."""
    found = set()
    files = [*REPO.joinpath("playbooks").rglob("*.yml"), *REPO.joinpath("roles").rglob("*.yml")]
    files += list(REPO.joinpath("roles").rglob("*.j2"))
    for path in files:
        for line in path.read_text().splitlines():
            code = line.split("#", 1)[0]
            for name in FQCN.findall(code):
                namespace = name.split(".")[0]
                if namespace in {"ansible", "irdrive", "kubernetes", "amazon", "community"}:
                    found.add(name)
    return found - OWN


def test_requirements_name_every_external_collection() -> None:
    used = used_collections()
    assert used, "the scan found nothing: it is broken"
    assert used <= set(requirements()), used - set(requirements())


def test_requirements_pin_the_versions_the_tests_run() -> None:
    spec = importlib.util.find_spec("ansible_collections")
    assert spec is not None and spec.submodule_search_locations
    roots = [Path(p) for p in spec.submodule_search_locations]
    for name, version in requirements().items():
        manifests = [r / name.replace(".", "/") / "MANIFEST.json" for r in roots]
        manifest = next((m for m in manifests if m.is_file()), None)
        assert manifest is not None, f"{name} is not installed"
        installed = json.loads(manifest.read_text())["collection_info"]["version"]
        assert installed == version, (name, installed, version)


def credential_types() -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted(REPO.glob("awx/credential_types/*.yml"))]


def read_by_the_project() -> str:
    parts = [ARGS_COMMON.read_text()]
    for folder in ("roles", "playbooks", "inventories"):
        parts += [p.read_text() for p in REPO.joinpath(folder).rglob("*.yml")]
    return "\n".join(parts)


def templates(value: Any) -> list[str]:
    """The templates of an injector's value: a string, or the leaves of a nested dict (AWX
    21.10 and later injects nested extra vars, ansible/awx#13267)."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in templates(v)]
    assert isinstance(value, str), value
    return [value]


def test_credential_types_inject_what_the_runbooks_read() -> None:
    types = credential_types()
    assert {t["name"] for t in types} == {
        "irdrive PostgreSQL",
        "irdrive platform admin token",
        "irdrive processor API keys",
    }
    text = read_by_the_project()
    env_fallbacks = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', ARGS_COMMON.read_text()))
    for ctype in types:
        assert ctype["kind"] in ("cloud", "net")  # what AWX allows a custom type
        fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
        assert set(ctype["inputs"].get("required", [])) <= set(fields)
        secrets = {name for name, f in fields.items() if f.get("secret")}
        injectors = ctype["injectors"]
        for kind in ("env", "extra_vars"):
            for var, value in injectors.get(kind, {}).items():
                assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var), var
                for template in templates(value):
                    named = set(re.findall(r"\b([a-z_]+)\b", template.strip("{} "))) - {"or"}
                    assert named and named <= set(fields), (ctype["name"], var, template)
                if kind == "env":
                    assert var in env_fallbacks, f"no module reads the env var {var}"
                else:
                    # Read by a role, playbook or inventory, and not only defined there.
                    assert re.search(rf"\b{var}\b", text), f"nothing reads {var}"
        for secret in secrets:
            injected = [t for v in injectors.values() for x in v.values() for t in templates(x)]
            assert any(secret in t for t in injected), secret
        assert any(re.search(r"password|token|key", s) for s in secrets)


def test_processor_api_keys_credential_gives_the_roles_a_key_per_processor() -> None:
    """The nested extra var a job gets: processor name -> key, each from a secret field; the
    role's parameter defaults to it, and the lab inventory gives the same name."""
    from jinja2 import Environment, StrictUndefined

    (ctype,) = [t for t in credential_types() if t["name"] == "irdrive processor API keys"]
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    assert all(f["secret"] is True and f["type"] == "string" for f in fields.values())
    assert set(ctype["inputs"]["required"]) == set(fields)
    assert set(ctype["injectors"]) == {"extra_vars"}  # nothing on a command line or in env
    injected = ctype["injectors"]["extra_vars"]["irdrive_processor_api_keys"]
    inputs = {name: f"key-of-{name}" for name in fields}
    env = Environment(undefined=StrictUndefined)
    rendered = {p: env.from_string(t).render(**inputs) for p, t in injected.items()}
    assert rendered == {"ccbill": "key-of-ccbill_api_key", "segpay": "key-of-segpay_api_key"}
    # The processors the lab knows (and the seeded payment-config names) are the ones injected.
    defaults = yaml.safe_load((REPO / "roles/processor_failover/defaults/main.yml").read_text())
    assert "irdrive_processor_api_keys" in defaults["processor_failover_api_keys"]
    spec = yaml.safe_load((REPO / "roles/processor_failover/meta/argument_specs.yml").read_text())
    option = spec["argument_specs"]["main"]["options"]["processor_failover_api_keys"]
    assert option["type"] == "dict" and option["no_log"] is True
    lab_vars = yaml.safe_load((REPO / "inventories/lab/group_vars/all.yml").read_text())
    assert "processor_api_keys" in lab_vars["irdrive_processor_api_keys"]
    configure = yaml.safe_load((REPO / "awx/configure.yml").read_text())
    kinds = configure[0]["vars"]["irdrive_awx_credential_kinds"]
    assert kinds["irdrive processor API keys"] == ctype["name"]


def test_aws_and_kubernetes_credentials_reach_the_modules() -> None:
    """AWX's built-in types inject K8S_AUTH_* and AWS_* env vars: the modules fall back to them."""
    text = ARGS_COMMON.read_text()
    for var in (
        "K8S_AUTH_HOST",
        "K8S_AUTH_API_KEY",
        "K8S_AUTH_VERIFY_SSL",
        "K8S_AUTH_SSL_CA_CERT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECURITY_TOKEN",
        "AWS_SESSION_TOKEN",
    ):
        assert f'"{var}"' in text, var


def test_execution_environment_build_context(tmp_path: Path) -> None:
    builder = shutil.which("ansible-builder", path=str(BIN)) or shutil.which("ansible-builder")
    if builder is None:
        pytest.fail("ansible-builder is not installed (make install: the awx extra)")
    context = tmp_path / "context"
    done = subprocess.run(
        [builder, "create", "-c", str(context), "--output-filename", "Containerfile"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile
    assert "requirements.yml" in containerfile and "requirements.txt" in containerfile
    assert (
        "COPY _build/irdrive_ops /usr/share/ansible/collections/ansible_collections/irdrive/ops"
        in containerfile
    )
    build = context / "_build"
    assert yaml.safe_load((build / "requirements.yml").read_text()) == yaml.safe_load(
        (REPO / "collections/requirements.yml").read_text()
    )
    assert (build / "requirements.txt").read_text() == (REPO / "awx/requirements.txt").read_text()
    assert (build / "irdrive_ops/galaxy.yml").is_file()
    assert (build / "irdrive_ops/plugins/modules/kill_switch.py").is_file()
    # The Python libraries the collection imports are in the EE's requirements.
    wanted = {"kubernetes", "boto3", "botocore", "psycopg2-binary", "PyYAML"}
    listed = {
        re.split(r"[<>=\[ ]", line)[0]
        for line in (build / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert wanted <= listed
