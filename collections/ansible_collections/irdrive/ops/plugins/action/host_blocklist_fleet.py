# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of module ``host_blocklist_fleet``: host_blocklist's lean program on many
hosts at once, from one task on the controller.

A task per host costs the controller a worker process, the task's templating and the action's
setup for every host (about 0.2 CPU-seconds each on a fleet); this task pays that once. For each
host it builds the host's connection as ansible-core's ``TaskExecutor`` does for a task on that
host, then sends host_blocklist's lean program (``host_program``/``host_command`` of that action
plugin) over it with ``exec_command(cmd, in_data=program)`` and parses the one JSON line with
``parse_host_output``: the same code on the host, so the same result per host.

Which ansible-core internals this relies on (read from 2.21's ``executor/task_executor.py``,
``_get_connection``, ``_set_connection_options`` and ``_set_plugin_options``):
  - ``task_vars['hostvars'].raw_get(host)``: the host's variables, untemplated, as the variable
    manager gives them for that host (templated here in the host's own context);
  - ``PlayContext().set_task_and_variable_override(task, variables, templar)``: the connection
    fields a task on that host would get (remote address, port, user), kept for plugins that
    still read the play context;
  - ``connection_loader.get(name, play_context, task_uuid=..., ansible_playbook_pid=...)``,
    ``connection.set_become_plugin(None)``, ``connection._resolve_option_variables(vars,
    templar)`` and ``connection.set_options(task_keys=..., var_options=...)``, and the shell
    plugin's ``set_options`` with ``C.config.get_plugin_vars('shell', name)`` templated;
  - ``connection.is_pipelining_enabled()`` and the shell's ``SHELL_FAMILY``.
A host that needs more (become, a connection without pipelining, a non-POSIX shell, or
``irdrive_host_blocklist_lean: false``) is left to a per-host task: it is returned in
``fallback``. The hosts run in threads, at most ``forks`` at a time; the connections are
created, configured and closed in this worker process, each used by one thread only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible import constants as C
from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.playbook.play_context import PlayContext
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import connection_loader
from ansible_collections.irdrive.ops.plugins.action.host_blocklist import (
    host_command,
    host_program,
    parse_host_output,
    validate,
)
from ansible_collections.irdrive.ops.plugins.module_utils.target_lock import default_holder
from ansible_collections.irdrive.ops.plugins.modules.host_blocklist_fleet import argument_spec

#: The fleet's own options; the rest are host_blocklist's, passed on per host.
FLEET_OPTIONS = ("hosts", "host_vars", "lock")

#: A host's job: () -> its host_blocklist result (runs in a thread).
Job = Callable[[], dict[str, Any]]


class ActionModule(ActionBase):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        checked = ArgumentSpecValidator(argument_spec()).validate(dict(self._task.args))
        if checked.error_messages:
            msg = "; ".join(checked.error_messages)
            result.update(failed=True, changed=False, msg=msg, error_kind="invalid_input")
            return result
        args = checked.validated_parameters
        base = {k: v for k, v in args.items() if k not in FLEET_OPTIONS}
        if args["lock"] and not base.get("lock_holder"):
            # As host_blocklist names it: ansible-playbook's pid, the same for the whole run.
            base["lock_holder"] = default_holder(task_vars, pid=os.getppid())
        hostvars = task_vars.get("hostvars")
        jobs: dict[str, Job] = {}
        done: dict[str, dict[str, Any]] = {}
        fallback: list[str] = []
        for host in dict.fromkeys(args["hosts"]):  # each once, in the given order
            hvars = hostvars.raw_get(host) if hostvars is not None else None
            if not isinstance(hvars, dict):
                done[host] = {"failed": True, "changed": False, "msg": "not in the inventory",
                              "error_kind": "invalid_input"}  # fmt: skip
                continue
            templar = self._templar.copy_with_new_env(available_variables=hvars)
            params = host_params(
                base, args["host_vars"], host, args["lock"], _templated(templar, hvars)
            )
            params, failure = validate(params)
            if failure:
                done[host] = failure
                continue
            try:
                job = self._job(host, hvars, templar, params)
            except Exception as error:  # noqa: BLE001 - this host fails, naming why; not the rest
                done[host] = {"failed": True, "changed": False,
                              "msg": f"could not set up its connection: {to_text(error)}"}  # fmt: skip
                continue
            if job is None:
                fallback.append(host)
            else:
                jobs[host] = job
        done.update(run_jobs(jobs, _forks(task_vars)))
        ordered = {host: done[host] for host in dict.fromkeys(args["hosts"]) if host in done}
        result.update(fleet_result(ordered, fallback, args["state"]))
        return result

    def _job(
        self, host: str, hvars: dict[str, Any], templar: Any, params: dict[str, Any]
    ) -> Job | None:
        """The host's job, or None when this host is left to a per-host task (fallback)."""
        lean = hvars.get("irdrive_host_blocklist_lean", True)
        if not boolean(templar.template(lean), strict=False):
            return None
        become = hvars.get("ansible_become")
        if boolean(templar.template(become) if become is not None else self._task.become):
            return None
        conn = self._connect(host, hvars, templar)
        if getattr(conn._shell, "SHELL_FAMILY", "") != "sh" or not conn.is_pipelining_enabled():
            conn.close()
            return None
        program = host_program(params, bool(self._task.check_mode), bool(self._task.diff))
        python = str(templar.template(hvars.get("ansible_python_interpreter") or ""))
        cmd = host_command(self._compute_environment_string(), python)

        def job() -> dict[str, Any]:
            try:
                rc, stdout, stderr = conn.exec_command(cmd, in_data=program, sudoable=False)
            finally:
                conn.close()
            return parse_host_output(rc, to_text(stdout, errors="surrogate_or_strict"),
                                     to_text(stderr, errors="surrogate_or_strict"))  # fmt: skip

        return job

    def _connect(self, host: str, hvars: dict[str, Any], templar: Any) -> Any:
        """The host's connection plugin, set up as TaskExecutor sets one up for a task there."""
        name = templar.template(hvars.get("ansible_connection")) or C.DEFAULT_TRANSPORT
        play_context = PlayContext()
        play_context.password = self._play_context.password  # -k / --ask-pass, for every host
        play_context = play_context.set_task_and_variable_override(
            task=self._task, variables=hvars, templar=templar
        )
        play_context.connection = name
        play_context.remote_addr = play_context.remote_addr or host
        conn = connection_loader.get(
            name,
            play_context,
            task_uuid=self._task._uuid,
            ansible_playbook_pid=to_text(os.getppid()),
        )
        if conn is None:
            raise AnsibleConnectionFailure(f"the connection plugin {name!r} was not found")
        conn.set_become_plugin(None)
        task_keys = self._task.dump_attrs()
        task_keys["timeout"] = play_context.timeout
        task_keys.pop("retries", None)
        if play_context.password:
            task_keys["password"] = play_context.password
        conn.set_options(
            task_keys=task_keys, var_options=conn._resolve_option_variables(hvars, templar)
        )
        shell_vars = C.config.get_plugin_vars("shell", conn._shell._load_name)
        conn._shell.set_options(
            task_keys=task_keys,
            var_options={k: templar.template(hvars[k]) for k in shell_vars if k in hvars},
        )
        return conn


def _templated(templar: Any, hvars: dict[str, Any]) -> Callable[[str], Any]:
    def value(var: str) -> Any:
        return templar.template(hvars[var]) if var in hvars else None

    return value


def _forks(task_vars: dict[str, Any]) -> int:
    try:
        return max(1, int(task_vars.get("ansible_forks") or C.DEFAULT_FORKS))
    except (TypeError, ValueError):
        return int(C.DEFAULT_FORKS)


def host_params(
    base: dict[str, Any],
    host_vars: dict[str, str],
    host: str,
    lock: bool,
    value: Callable[[str], Any],
) -> dict[str, Any]:
    """host_blocklist's arguments for ``host``: the task's, with each option of ``host_vars``
    the host defines (not None or empty) taken from it; the lock key is the host's name."""
    params = dict(base)
    for option, var in host_vars.items():
        found = value(var)
        if found is not None and found != "":
            params[option] = found
    params["lock_key"] = host if lock else ""
    return params


def run_jobs(jobs: dict[str, Job], forks: int) -> dict[str, dict[str, Any]]:
    """Each host's result: its job's, or unreachable/failed naming the error it raised."""
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=min(forks, len(jobs))) as pool:
        futures = {host: pool.submit(job) for host, job in jobs.items()}
        results: dict[str, dict[str, Any]] = {}
        for host, future in futures.items():
            try:
                results[host] = future.result()
            except AnsibleConnectionFailure as error:
                msg = " ".join(to_text(error.message).split())
                results[host] = {"unreachable": True, "changed": False, "msg": msg,
                                 "error_kind": "unreachable"}  # fmt: skip
            except Exception as error:  # noqa: BLE001 - one host's error fails that host only
                results[host] = {"failed": True, "changed": False,
                                 "msg": f"{type(error).__name__}: {to_text(error)}"}  # fmt: skip
    return results


def fleet_result(
    hosts: dict[str, dict[str, Any]], fallback: list[str], state: str
) -> dict[str, Any]:
    """The task's result from each host's: changed when any host changed, failed when any
    failed or was unreachable, with one message naming each of those hosts and its error."""
    unreachable = [h for h, r in hosts.items() if r.get("unreachable")]
    failed = [h for h, r in hosts.items() if r.get("failed") and h not in unreachable]
    warnings = [f"{h}: {w}" for h, r in hosts.items() for w in r.get("warnings") or []]
    result: dict[str, Any] = {
        "changed": any(bool(r.get("changed")) for r in hosts.values()),
        "hosts": hosts,
        "failed_hosts": failed,
        "unreachable_hosts": unreachable,
        "fallback": list(fallback),
    }
    if warnings:
        result["warnings"] = warnings
    doing = {"present": "Blocking", "absent": "Unblocking"}.get(state, "Reading the blocklist")
    bad = [h for h in hosts if h in failed or h in unreachable]
    ok = len(hosts) - len(bad)
    if not bad:
        result["msg"] = f"{doing} done on {ok} host(s)" + (
            f"; left to a per-host task: {', '.join(fallback)}" if fallback else ""
        )
        return result
    parts = []
    for host in bad:
        res = hosts[host]
        how = "unreachable" if host in unreachable else "failed"
        changed = "was changed" if res.get("changed") else "was not changed"
        msg = " ".join(str(res.get("msg") or "see its result").split())
        parts.append(f"{host} ({how}, {changed}): {msg}")
    result["failed"] = True
    result["msg"] = (
        f"{doing} failed on {len(bad)} of {len(hosts)} host(s): {'; '.join(parts)}. "
        f"The other {ok} host(s) keep their change."
        + (f" Not done (left to a per-host task): {', '.join(fallback)}." if fallback else "")
        + " Nothing was rolled back: fix the cause and run again."
    )
    kinds = {hosts[h].get("error_kind") for h in bad}
    if len(kinds) == 1 and None not in kinds:
        result["error_kind"] = kinds.pop()
    return result
