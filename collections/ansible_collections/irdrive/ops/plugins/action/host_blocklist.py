# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``host_blocklist``: names the lock's holder, then runs the task on
the host, lean when the connection can take it.

The task changes the host (its nftables sets and nginx include), so it runs there. The module
as a module costs, per host, an interpreter discovery round trip, the AnsiballZ payload built
on the controller and unpacked on the host, and ``ansible.module_utils.basic``'s imports: on a
fleet that is most of the run. The lean path sends the module's own host code (module_utils
``host_blocklist_run`` and the module_utils it imports, standard library only) to the host's
``python3 -I -S`` on stdin, in one command over the connection, and parses the one JSON line it
prints: the same code, so the same return values, check mode, diff, lock and errors.

The arguments are validated here first with the module's argument spec (Ansible's validator),
and the addresses parsed, so bad input fails before the host is contacted. The lean path is
taken when the connection can pipe stdin to a command on the host (Ansible's pipelining
conditions: the connection supports it, pipelining is on, the become method allows it) and the
host's shell is POSIX; otherwise the module runs as a module. The variable
``irdrive_host_blocklist_lean: false`` forces the module.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib.util import find_spec
from typing import Any

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.irdrive.ops.plugins.module_utils.errors import IrdriveOpsError
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import parse_networks
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import default_holder
from ansible_collections.irdrive.ops.plugins.modules.host_blocklist import argument_spec

MODULE_UTILS = "ansible_collections.irdrive.ops.plugins.module_utils."
#: What the lean path sends: the host code and every module_utils it imports.
HOST_CODE = ("errors", "files", "ipblock", "target_lock", "lock_file", "host_blocklist",
             "host_blocklist_run")  # fmt: skip
#: Puts the sources in front of the host's imports and runs the task (the program's head).
BOOTSTRAP = """\
import sys
from importlib.machinery import ModuleSpec
class _Sources:
    def find_spec(self, name, path=None, target=None):
        if name in SOURCES:
            return ModuleSpec(name, self, origin="irdrive:" + name)
        if any(key.startswith(name + ".") for key in SOURCES):
            return ModuleSpec(name, self, is_package=True)
        return None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        source = SOURCES.get(module.__name__)
        if source is not None:
            exec(compile(source, module.__spec__.origin, "exec"), module.__dict__)
sys.meta_path.insert(0, _Sources())
import json
from ansible_collections.irdrive.ops.plugins.module_utils.host_blocklist_run import lean_main
lean_main(json.loads(REQUEST))
"""
#: The host's Python: ``ansible_python_interpreter`` when the inventory sets it, else
#: /usr/bin/python3 (where Ansible's discovery looks first), else PATH's python3. ``{env}``:
#: the task's environment (assignments for the exec'd interpreter).
HOST_COMMAND = "{env} exec {python} -I -S -"
FIND_PYTHON = 'p=/usr/bin/python3; [ -x "$p" ] || p=python3; {env} exec "$p" -I -S -'


@cache
def _sources() -> dict[str, str]:
    sources: dict[str, str] = {}
    for name in HOST_CODE:
        spec = find_spec(MODULE_UTILS + name)
        assert spec is not None and spec.origin, name
        with open(spec.origin, encoding="utf-8") as handle:
            sources[MODULE_UTILS + name] = handle.read()
    return sources


def host_program(params: dict[str, Any], check_mode: bool, diff: bool) -> bytes:
    """The Python program the lean path runs on the host (its stdin)."""
    request = {"params": params, "check_mode": check_mode, "diff": diff}
    head = f"SOURCES = {_sources()!r}\nREQUEST = {json.dumps(request)!r}\n"
    return (head + BOOTSTRAP).encode("utf-8")


def host_command(env: str, python: str) -> str:
    """The shell command that runs the program (stdin) with the host's Python."""
    if python and not python.startswith("auto"):
        return HOST_COMMAND.format(env=env, python=python).strip()
    return FIND_PYTHON.format(env=env).strip()


def parse_host_output(rc: int, stdout: str, stderr: str) -> dict[str, Any]:
    """The task result the host printed (its last JSON object line), or a failure saying why.

    Lines before it (a login banner, a profile's echo) are ignored, as for a module's output.
    """
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                return parsed
    detail = (stderr.strip() or stdout.strip()).splitlines()
    last = detail[-1] if detail else "no output"
    if rc in (126, 127):
        msg = f"python3 could not be run on the host (rc {rc}): {last}"
    else:
        msg = f"host_blocklist printed no result on the host (rc {rc}): {last}"
    return {"failed": True, "changed": False, "msg": msg, "rc": rc,
            "module_stdout": stdout, "module_stderr": stderr}  # fmt: skip


class ActionModule(ActionBase):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if args.get("lock_key") and not args.get("lock_holder"):
            # Workers are forked from ansible-playbook: its pid is the same for the whole run.
            args["lock_holder"] = default_holder(task_vars, pid=os.getppid())
        if not self._lean(task_vars):
            result.update(
                self._execute_module(
                    module_name="irdrive.ops.host_blocklist", module_args=args, task_vars=task_vars
                )
            )
            return result
        params, failure = validate(args)
        if failure:
            result.update(failure)
            return result
        program = host_program(params, bool(self._task.check_mode), bool(self._task.diff))
        python = str(self._templar.template(task_vars.get("ansible_python_interpreter") or ""))
        cmd = host_command(self._compute_environment_string(), python)
        res = self._low_level_execute_command(cmd, sudoable=True, in_data=program)
        result.update(parse_host_output(res["rc"], res["stdout"], res["stderr"]))
        if C.config.get_config_value("INJECT_INVOCATION", variables=task_vars):
            result["invocation"] = {"module_args": params}  # as AnsibleModule adds it
        return result

    def _lean(self, task_vars: dict[str, Any]) -> bool:
        wanted = task_vars.get("irdrive_host_blocklist_lean", True)
        if not boolean(self._templar.template(wanted), strict=False):
            return False
        if getattr(self._connection._shell, "SHELL_FAMILY", "sh") != "sh":
            return False
        return self._is_pipelining_enabled("new")


def validate(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The module's parameters as its validator makes them, or the failed result (bad input).

    Paths stay as given (the host expands ``~`` and variables, as the module does there).
    """
    spec = argument_spec()
    for options in spec.values():
        if options.get("type") == "path":
            options["type"] = "str"
    checked = ArgumentSpecValidator(spec).validate(args)
    if checked.error_messages:
        msg = "; ".join(checked.error_messages)
        return {}, {"failed": True, "changed": False, "msg": msg, "error_kind": "invalid_input"}
    params = checked.validated_parameters
    try:
        parse_networks(params["addresses"])
    except IrdriveOpsError as error:
        return {}, {"failed": True, "changed": False, "msg": str(error), **error.to_result()}
    return params, None
