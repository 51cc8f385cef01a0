# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Run one of the collection's API modules in the worker process instead of shipping it.

A module task pays for AnsiballZ and a new interpreter (about 0.75 s) on every task. The modules
whose work is API calls (Kubernetes, AWS, HTTP, PostgreSQL over the network) gain nothing from
that when the task runs on the controller. Their action plugins (``InProcessModuleAction``)
import the module and run its ``main()`` in the worker, with the arguments ``_execute_module``
would send it and the same post-processing of what it prints: the result is the one the module
task would have had, ``no_log`` censoring, warnings, deprecations and internal keys included.

Anywhere else (ssh, become, async), or with ``irdrive_in_process: false``, the action runs the
module the ordinary way. The worker is forked per task, but its environment, working folder,
standard streams and the module globals that ``ansible.module_utils.basic`` keeps are restored
after the module, and its ``atexit`` callbacks run then (a forked worker never runs them).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import json
import os
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ansible.module_utils import _internal, basic
from ansible.module_utils._internal import _traceback
from ansible.module_utils.common import json as module_json
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

MODULES_PACKAGE = "ansible_collections.irdrive.ops.plugins.modules"
PROFILE = "legacy"  # the serialization profile ansible-core gives modules without metadata
SWITCH_VAR = "irdrive_in_process"
LOCAL_CONNECTIONS = frozenset(("local", "ansible.builtin.local", "ansible.legacy.local"))
# The modules with an in-process action plugin (plugins/action/<name>.py). Host-side modules
# (host_blocklist, storage_cleanup) are not here: they run on the hosts, over ssh.
MODULES = frozenset(
    (
        "cloudfront_info",
        "configmap_keys",
        "evidence_manifest",
        "evidence_upload",
        "http_health",
        "iam_key_rotate",
        "k8s_evidence",
        "k8s_secret_rotate",
        "k8s_workload_health",
        "kill_switch",
        "nacl_deny_entries",
        "pg_evidence",
        "pg_health",
        "pg_maintenance",
        "pg_slow_queries",
        "platform_cache",
        "platform_diagnose",
        "rollback",
        "rollout_restart",
        "route53_record",
        "scale",
        "secretsmanager_rotate",
        "session_revoke",
        "targets_present",
        "waf_ip_set",
    )
)
COLLECTION_PREFIX = "irdrive.ops."


@dataclass(frozen=True)
class ModuleOutput:
    """What the module process would have left: its exit code and standard streams."""

    rc: int
    stdout: str
    stderr: str

    def as_command_result(self) -> dict[str, Any]:
        """The shape ``ActionBase._low_level_execute_command`` returns."""
        return {
            "rc": self.rc,
            "stdout": self.stdout,
            "stdout_lines": self.stdout.splitlines(),
            "stderr": self.stderr,
            "stderr_lines": self.stderr.splitlines(),
        }


def encode_module_args(module_args: dict[str, Any]) -> bytes:
    """The module's stdin under AnsiballZ: ``{"ANSIBLE_MODULE_ARGS": ...}`` in the profile."""
    encoder = module_json.get_module_encoder(PROFILE, module_json.Direction.CONTROLLER_TO_MODULE)
    return json.dumps({"ANSIBLE_MODULE_ARGS": module_args}, cls=encoder).encode()


@contextlib.contextmanager
def module_globals(args: bytes) -> Iterator[None]:
    """Hand ``args`` to the next ``AnsibleModule`` and give back every global it sets.

    While the module runs, ``ansible.module_utils`` behaves as in a module process: warnings and
    deprecations are collected for the result (and censored with it), not displayed at once
    uncensored; tracebacks follow the module's ``_ansible_tracebacks_for``; the JSON profiles
    are the module side's.
    """
    saved = (
        basic._ANSIBLE_ARGS,
        basic._ANSIBLE_PROFILE,
        getattr(basic, "_PARSED_MODULE_ARGS", None),
        _traceback._module_tracebacks_enabled_events,
        dict(module_warnings._global_warnings),
        dict(module_warnings._global_deprecations),
        _internal.is_controller,
        _traceback._is_traceback_enabled,
    )
    basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = args, PROFILE
    _traceback._module_tracebacks_enabled_events = None
    _internal.is_controller = False
    _traceback._is_traceback_enabled = _traceback._is_module_traceback_enabled
    module_warnings._global_warnings.clear()
    module_warnings._global_deprecations.clear()
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = saved[0], saved[1]
        basic._PARSED_MODULE_ARGS = saved[2]
        _internal.is_controller, _traceback._is_traceback_enabled = saved[6], saved[7]
        _traceback._module_tracebacks_enabled_events = saved[3]
        module_warnings._global_warnings.clear()
        module_warnings._global_warnings.update(saved[4])
        module_warnings._global_deprecations.clear()
        module_warnings._global_deprecations.update(saved[5])


@contextlib.contextmanager
def process_state(environment: dict[str, str]) -> Iterator[list[Callable[[], Any]]]:
    """Set the task's ``environment:``; restore the environment and working folder after.

    Yields the list the module's ``atexit`` callbacks are collected in; they run on the way out.
    """
    saved_environ, saved_cwd = dict(os.environ), os.getcwd()
    exit_callbacks: list[Callable[[], Any]] = []

    def register(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        exit_callbacks.append(lambda: func(*args, **kwargs))
        return func

    os.environ.update({str(key): str(value) for key, value in environment.items()})
    real_register, atexit.register = atexit.register, register  # type: ignore[assignment]
    try:
        yield exit_callbacks
    finally:
        atexit.register = real_register  # type: ignore[assignment]
        for callback in reversed(exit_callbacks):
            with contextlib.suppress(Exception):
                callback()
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)


def run_module_main(
    module: ModuleType, module_args: dict[str, Any], environment: dict[str, str] | None = None
) -> ModuleOutput:
    """Run ``module.main()`` as AnsiballZ would; return its exit code and standard streams.

    ``module_args`` are the task's arguments with the ``_ansible_*`` keys of
    ``ActionBase._update_module_args``. An exception out of the module becomes exit code 1 with
    its traceback on stderr, as the module process would have ended.
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    rc = 0
    with (
        process_state(environment or {}),
        module_globals(encode_module_args(module_args)),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            module.main()
        except SystemExit as done:
            rc = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except Exception:  # the module process would have died with this traceback
            rc = 1
            stderr.write(traceback.format_exc())
    return ModuleOutput(rc, stdout.getvalue(), stderr.getvalue())


def load_module(name: str) -> ModuleType:
    """The collection's module ``name`` (``plugins/modules/<name>.py``), imported."""
    return importlib.import_module(f"{MODULES_PACKAGE}.{name}")


def preload(action: str | None) -> None:
    """Import the module of ``action`` (an FQCN) if it runs in-process; anything else is a no-op.

    For the strategy, in the ansible-playbook process before it forks the task's worker: the
    worker then inherits the module and its libraries (boto3 alone takes 0.4 s to import)
    instead of importing them again for every task. A module that names ``AWS_SERVICES`` also
    has those boto3 clients' set-up done here once (``aws_clients.warm``). Never fails the run;
    the worker imports what is missing.
    """
    if not action or not action.startswith(COLLECTION_PREFIX):
        return
    name = action[len(COLLECTION_PREFIX) :]
    if name in MODULES:
        with contextlib.suppress(Exception):
            module = load_module(name)
            services = getattr(module, "AWS_SERVICES", ())
            if services:  # the AWS modules: a boto3 client's set-up too (aws_clients.warm)
                from ansible_collections.irdrive.ops.plugins.module_utils import aws_clients

                aws_clients.warm(tuple(services))


class InProcessModuleAction(ActionBase):
    """Action plugin of an API module: in-process on the controller, the module elsewhere.

    A subclass names its module in ``MODULE``.
    """

    MODULE = ""
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def runs_in_process(self, task_vars: dict[str, Any]) -> bool:
        """True when the module would run on the controller as the controller's own user.

        A local connection covers ``localhost`` and ``delegate_to: localhost``; become and async
        need the module process, and ``irdrive_in_process: false`` forces it.
        """
        switch = task_vars.get(SWITCH_VAR, True)
        if not boolean(self._templar.template(switch), strict=False):
            return False
        if self._task.async_val or self._play_context.become:
            return False
        connection = getattr(self._connection, "_load_name", None)
        return connection in LOCAL_CONNECTIONS or self._connection.transport == "local"

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars if task_vars is not None else {}
        if self.runs_in_process(task_vars):
            result.update(self.execute_in_process(task_vars))
            return result
        wrap_async = bool(self._task.async_val)
        result.update(self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def execute_in_process(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        """The module's result as ``_execute_module`` returns it, from a run in this process."""
        module_name = self._task.action
        module_args = dict(self._task.args)
        self._update_module_args(module_name, module_args, task_vars)
        environment: dict[str, str] = {}
        self._compute_environment_string(raw_environment_out=environment)
        output = run_module_main(load_module(self.MODULE), module_args, environment)
        parsed = self._parse_returned_data(output.as_command_result(), PROFILE)  # type: ignore[arg-type]
        parsed.remove_internal_keys()
        return parsed.as_result_dict(for_round_trip=True)
