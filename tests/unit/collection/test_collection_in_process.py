"""plugin_utils/in_process.py: a module's main() run in the worker, as its own process would.

The result is what the module prints (no_log values censored, warnings collected, not shown
uncensored by the controller), an exception ends it like a dying process, and the worker's
environment, working folder, module globals and atexit callbacks are given back afterwards.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import _internal, basic
from ansible.module_utils._internal import _traceback
from ansible_collections.irdrive.ops.plugins.plugin_utils import in_process
from collection_fakes import COLLECTIONS

PLUGINS = COLLECTIONS / "ansible_collections" / "irdrive" / "ops" / "plugins"
SECRET = "canary-in-process-7d1f"


def fake_module(body: Any) -> types.ModuleType:
    module = types.ModuleType("fake_module")
    module.main = body  # type: ignore[attr-defined]
    return module


def echo_main() -> None:
    module = basic.AnsibleModule(
        argument_spec={"password": {"type": "str", "no_log": True}, "name": {"type": "str"}},
        supports_check_mode=True,
    )
    module.warn(f"about {module.params['name']}")
    module.exit_json(
        changed=not module.check_mode,
        echoed=module.params["password"],
        said=f"the password is {module.params['password']}",
        cwd=os.getcwd(),
        env=os.environ.get("IRDRIVE_TEST_ENV"),
    )


def test_no_log_values_are_censored_and_warnings_are_returned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = in_process.run_module_main(
        fake_module(echo_main),
        {"password": SECRET, "name": "backend", "_ansible_check_mode": True},
        {"IRDRIVE_TEST_ENV": "from the task"},
    )
    assert output.rc == 0 and output.stderr == ""
    assert SECRET not in output.stdout
    result = json.loads(output.stdout)
    assert result["echoed"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["said"] == "the password is ********"
    assert result["changed"] is False  # check mode reached the module
    assert result["env"] == "from the task"
    assert [w["event"]["msg"] for w in result["warnings"]] == ["about backend"]
    assert SECRET not in capsys.readouterr().err


def test_process_state_and_module_globals_are_given_back(tmp_path: Path) -> None:
    exits: list[str] = []

    def messy_main() -> None:
        import atexit

        os.chdir(tmp_path)
        os.environ["IRDRIVE_LEFT_BEHIND"] = "1"
        atexit.register(exits.append, "cleaned")
        basic.AnsibleModule(argument_spec={}).exit_json(changed=False)

    cwd, is_controller, enabled = (
        os.getcwd(),
        _internal.is_controller,
        _traceback._is_traceback_enabled,
    )
    output = in_process.run_module_main(fake_module(messy_main), {})
    assert output.rc == 0
    assert os.getcwd() == cwd
    assert "IRDRIVE_LEFT_BEHIND" not in os.environ
    assert exits == ["cleaned"]
    assert basic._ANSIBLE_ARGS is None
    assert _internal.is_controller == is_controller
    assert _traceback._is_traceback_enabled is enabled


def test_an_exception_ends_the_module_like_its_process() -> None:
    def broken_main() -> None:
        raise RuntimeError("the module broke")

    output = in_process.run_module_main(fake_module(broken_main), {})
    assert output.rc == 1
    assert output.stdout == ""
    assert "RuntimeError: the module broke" in output.stderr
    assert output.as_command_result()["stderr_lines"][-1] == "RuntimeError: the module broke"


def test_fail_json_sets_the_exit_code() -> None:
    def failing_main() -> None:
        basic.AnsibleModule(argument_spec={}).fail_json(msg="no", error_kind="invalid_input")

    output = in_process.run_module_main(fake_module(failing_main), {})
    assert output.rc == 1
    assert json.loads(output.stdout)["error_kind"] == "invalid_input"


def action_plugin_modules() -> dict[str, str]:
    """Action plugin file name -> the MODULE it names, for the in-process action plugins."""
    found = {}
    for path in sorted((PLUGINS / "action").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == [
                "MODULE"
            ]:
                found[path.stem] = ast.literal_eval(node.value)
    return found


def test_every_listed_module_has_its_action_plugin_and_no_host_module_does() -> None:
    plugins = action_plugin_modules()
    assert plugins == {name: name for name in in_process.MODULES}
    assert all((PLUGINS / "modules" / f"{name}.py").exists() for name in plugins)
    assert not {"host_blocklist", "storage_cleanup"} & set(plugins)


def test_preload_imports_only_the_collections_in_process_modules() -> None:
    name, host_side = (f"{in_process.MODULES_PACKAGE}.{m}" for m in ("pg_health", "host_blocklist"))
    sys.modules.pop(name, None)
    sys.modules.pop(host_side, None)
    in_process.preload("ansible.builtin.debug")
    in_process.preload("irdrive.ops.host_blocklist")
    in_process.preload(None)
    assert name not in sys.modules and host_side not in sys.modules
    in_process.preload("irdrive.ops.pg_health")
    assert name in sys.modules


def test_preload_of_an_aws_module_sets_up_its_boto3_client_for_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parent reads the service model into boto3's default session, which every worker
    forked after inherits; a module without AWS_SERVICES leaves boto3 alone."""
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    in_process.preload("irdrive.ops.pg_health")
    assert boto3.DEFAULT_SESSION is None
    in_process.preload("irdrive.ops.route53_record")
    session = boto3.DEFAULT_SESSION
    assert session is not None
    loaded = [key for key in session._loader._cache if "route53" in repr(key)]
    assert loaded, "the route53 service model was not read"
    assert session.get_credentials() is None or session.get_credentials().access_key != "warm"


class EchoTemplar:
    def template(self, value: Any) -> Any:
        return value


@pytest.mark.parametrize(
    ("connection", "transport", "become", "async_val", "switch", "expected"),
    [
        pytest.param("ansible.builtin.local", "local", False, 0, None, True, id="localhost"),
        pytest.param("local", "local", False, 0, "true", True, id="short-name"),
        pytest.param("ansible.builtin.ssh", "ssh", False, 0, None, False, id="ssh"),
        pytest.param("ansible.builtin.local", "local", True, 0, None, False, id="become"),
        pytest.param("ansible.builtin.local", "local", False, 30, None, False, id="async"),
        pytest.param("ansible.builtin.local", "local", False, 0, False, False, id="switched-off"),
        pytest.param(
            "ansible.builtin.local", "local", False, 0, "no", False, id="switched-off-str"
        ),
    ],
)
def test_in_process_only_on_the_controller_as_its_user_and_when_not_switched_off(
    connection: str, transport: str, become: bool, async_val: int, switch: Any, expected: bool
) -> None:
    action = in_process.InProcessModuleAction(
        task=types.SimpleNamespace(async_val=async_val),  # type: ignore[arg-type]
        connection=types.SimpleNamespace(_load_name=connection, transport=transport),  # type: ignore[arg-type]
        play_context=types.SimpleNamespace(become=become),  # type: ignore[arg-type]
        loader=None,  # type: ignore[arg-type]
        templar=EchoTemplar(),  # type: ignore[arg-type]
    )
    task_vars = {} if switch is None else {in_process.SWITCH_VAR: switch}
    assert action.runs_in_process(task_vars) is expected


def test_every_aws_module_names_the_boto3_services_it_uses() -> None:
    """AWS_SERVICES of each in-process module names real boto3 services, and every module that
    makes AWS clients names them (so its worker never reads a service model itself)."""
    import re
    from pathlib import Path

    import boto3

    available = set(boto3.session.Session().get_available_services())
    modules_dir = Path(in_process.__file__).resolve().parents[1] / "modules"
    for name in in_process.MODULES:
        module = in_process.load_module(name)
        services = getattr(module, "AWS_SERVICES", ())
        assert set(services) <= available, (name, services)
        source = (modules_dir / f"{name}.py").read_text()
        used = set(re.findall(r"\.client\(\s*\"([a-z0-9-]+)\"", source))
        assert used <= set(services), f"{name} makes {sorted(used)} clients, names {services}"
