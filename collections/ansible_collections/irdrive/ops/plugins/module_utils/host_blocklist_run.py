# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The whole ``host_blocklist`` task on the host, with or without ``AnsibleModule``.

``host_result`` is the task: parse the addresses, take the host's lock file, change (or read)
the nft sets and the nginx deny include, give the lock back. The module calls it with
``AnsibleModule``'s ``run_command`` and ``get_bin_path``. The action plugin's lean path sends
these module_utils to the host's ``python3 -I -S`` over the connection's stdin and calls
``lean_main``, which does the same with the standard library (``subprocess``, a PATH search
that also looks in the sbin folders, as ``get_bin_path`` does) and prints the task result as
one JSON line. Both ways run this code, so the return values are the same.

This file runs on the managed hosts: standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import IrdriveOpsError
from ansible_collections.irdrive.ops.plugins.module_utils.host_blocklist import (
    HostOptions,
    NftNames,
    converge,
)
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import parse_networks
from ansible_collections.irdrive.ops.plugins.module_utils.lock_file import under_host_lock

#: ``run(argv, data=None) -> (rc, stdout, stderr)`` and ``which(name) -> path or None``.
Run = Callable[..., "tuple[int, str, str]"]
Which = Callable[[str], "str | None"]

#: Where ``get_bin_path`` looks besides PATH (nft and nginx live in sbin).
SBIN = ("/sbin", "/usr/sbin", "/usr/local/sbin")
#: The options of type ``path`` (expanded on the host, as the module's validator does there).
PATH_OPTIONS = ("nginx_deny_path", "nginx_conf_path", "lock_directory")


def host_result(
    params: dict[str, Any], check_mode: bool, diff: bool, run: Run, which: Which
) -> tuple[dict[str, Any], list[str]]:
    """The task's result and its warnings; raises ``IrdriveOpsError`` (nothing written)."""
    networks = parse_networks(params["addresses"])
    nft = which("nft") if params["nft"] else None
    if params["nft"] and not nft:
        raise IrdriveOpsError("nft is not installed on this host (set nft=false to skip it)")

    def run_resolved(argv: list[str], data: str | None = None) -> tuple[int, str, str]:
        if argv and argv[0] == "nft" and nft:
            argv = [nft, *argv[1:]]
        return run(argv, data=data)

    opts = HostOptions(
        state=params["state"],
        nft=params["nft"],
        names=NftNames(table=params["nft_table"]),
        deny_path=params["nginx_deny_path"] or "",
        nginx_conf=params["nginx_conf_path"] or "",
        nginx=params["nginx_binary"],
        reload=params["nginx_reload"],
    )

    def change() -> dict[str, Any]:
        return converge(run_resolved, networks, opts, check_mode=check_mode, which=which)

    # Lock, change and release in this one run on the host (the lock is host_lock's file).
    result = under_host_lock(params, check_mode, change)
    warnings = [*result.pop("warnings"), *result.get("host_lock", {}).pop("warnings", [])]
    missing: set[str] = set()
    for part in ("nft", "nginx"):
        missing.update((result.get(part) or {}).get("missing", []))
    result["missing"] = sorted(missing)
    if diff:
        result["diff"] = {"before": result["before"], "after": result["after"]}
    return result, warnings


# ---- the lean path: no AnsibleModule, the standard library only ----------------------------
def which(name: str) -> str | None:
    """``name``'s executable on PATH or in the sbin folders (an absolute name: itself)."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    folders = [*os.environ.get("PATH", "").split(os.pathsep), *SBIN]
    for folder in folders:
        candidate = os.path.join(folder or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def run_command(argv: list[str], data: str | None = None) -> tuple[int, str, str]:
    """``argv``'s exit code and output, ``data`` on its stdin, in the C locale (as Ansible's)."""
    import subprocess

    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}
    try:
        done = subprocess.run(
            argv,
            input=None if data is None else data.encode("utf-8"),
            stdin=subprocess.DEVNULL if data is None else None,
            capture_output=True,
            env=env,
            check=False,
        )
    except OSError as error:  # not found, not executable: as run_command reports it
        return 127 if isinstance(error, FileNotFoundError) else 126, "", str(error)
    return (
        done.returncode,
        done.stdout.decode("utf-8", "surrogateescape"),
        done.stderr.decode("utf-8", "surrogateescape"),
    )


def lean_result(params: dict[str, Any], check_mode: bool, diff: bool) -> dict[str, Any]:
    """The task result as the module would return it (``failed`` with ``error_kind`` too)."""
    params = dict(params)
    for name in PATH_OPTIONS:
        if params.get(name):
            params[name] = os.path.expanduser(os.path.expandvars(params[name]))
    try:
        result, warnings = host_result(params, check_mode, diff, run_command, which)
    except IrdriveOpsError as error:
        return {"failed": True, "changed": False, "msg": str(error), **error.to_result()}
    except Exception as error:  # noqa: BLE001 - the task fails naming it, as a module would
        import traceback  # only on this path: every import costs each host's run

        return {
            "failed": True,
            "changed": False,
            "msg": f"host_blocklist failed on the host: {type(error).__name__}: {error}",
            "exception": traceback.format_exc(),
        }
    if warnings:
        result["warnings"] = warnings
    return result


def lean_main(request: dict[str, Any]) -> None:
    """Print ``lean_result`` of ``request`` (params, check_mode, diff) as one JSON line."""
    result = lean_result(request["params"], bool(request["check_mode"]), bool(request["diff"]))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
