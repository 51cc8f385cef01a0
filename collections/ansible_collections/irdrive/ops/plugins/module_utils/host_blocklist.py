# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Blocking addresses on a host: an nftables drop set and an nginx deny include.

nftables: one table (``inet irdrive``) with two interval sets (``blocked_v4``,
``blocked_v6``) and an input chain that drops traffic from either set. The sets hold the
collapsed union of everything blocked (overlapping networks would be refused by an interval
set), so unblocking a network that is only covered by a wider blocked one leaves it blocked.
Every change is one ``nft -f`` transaction: table, sets, chain and rules are declared (a no-op
when they exist) and the set's elements replaced, so a half-applied state cannot happen.

nginx: a file of sorted ``deny <cidr>;`` lines owned by irdrive, included by the server's
configuration. After writing it the configuration is checked with ``nginx -t``; a failing
check puts the previous file back. nginx is reloaded only when it runs (its pid file names a
live process): a stopped nginx picks the file up when it starts.

This file runs on the managed hosts: keep it Python 3.10 compatible (Debian 12 has 3.11), stdlib only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.irdrive.ops.plugins.module_utils.errors import (
    InvalidInputError,
    InvalidStateError,
    IrdriveOpsError,
)
from ansible_collections.irdrive.ops.plugins.module_utils.files import write_atomic
from ansible_collections.irdrive.ops.plugins.module_utils.ipblock import (
    Network,
    as_network,
    collapse,
    covered,
    sort_key,
    sorted_strings,
)

#: ``run(argv, data) -> (rc, stdout, stderr)``; the module passes ``AnsibleModule.run_command``.
Runner = Callable[..., "tuple[int, str, str]"]

DENY_HEADER = (
    "# Managed by irdrive (block_ips): addresses denied by incident response.\n"
    "# Edit with `irdrive run block-ips`; manual changes are kept only as deny lines.\n"
)
_DENY_LINE = re.compile(r"^\s*deny\s+([^;\s]+)\s*;")
_PID_LINE = re.compile(r"^\s*pid\s+([^;\s]+)\s*;", re.MULTILINE)


@dataclass(frozen=True)
class NftNames:
    table: str = "irdrive"
    set_v4: str = "blocked_v4"
    set_v6: str = "blocked_v6"
    chain: str = "input"
    priority: int = -10

    def set_for(self, version: int) -> str:
        return self.set_v4 if version == 4 else self.set_v6


# ---- nftables ---------------------------------------------------------------------------
def _elements(raw: list[Any]) -> list[Network]:
    import ipaddress

    found: list[Network] = []
    for item in raw or []:
        value = item.get("elem", {}).get("val", item) if isinstance(item, dict) else item
        if isinstance(value, str):
            network = as_network(value)
            if network is not None:
                found.append(network)
        elif isinstance(value, dict) and "prefix" in value:
            network = as_network(f"{value['prefix']['addr']}/{value['prefix']['len']}")
            if network is not None:
                found.append(network)
        elif isinstance(value, dict) and "range" in value:
            low, high = (ipaddress.ip_address(v) for v in value["range"])
            found.extend(ipaddress.summarize_address_range(low, high))  # type: ignore[arg-type]
    return found


def nft_state(run: Runner, names: NftNames) -> dict[str, Any]:
    """What the host's irdrive table holds: ``{exists, sets: {4: [...], 6: [...]}, rules}``."""
    rc, out, err = run(["nft", "-j", "list", "table", "inet", names.table])
    state: dict[str, Any] = {"exists": False, "sets": {4: [], 6: []}, "rules": {4: False, 6: False}}
    if rc != 0:
        if "No such file or directory" in err or "does not exist" in err:
            return state
        raise InvalidStateError(f"nft list table inet {names.table} failed: {err.strip()}")
    state["exists"] = True
    for obj in json.loads(out or "{}").get("nftables", []):
        if "set" in obj:
            nft_set = obj["set"]
            for version in (4, 6):
                if nft_set.get("name") == names.set_for(version):
                    state["sets"][version] = collapse(_elements(nft_set.get("elem") or []))
                    state.setdefault("present_sets", set()).add(version)
        elif "rule" in obj and obj["rule"].get("chain") == names.chain:
            text = json.dumps(obj["rule"].get("expr") or [])
            for version in (4, 6):
                if f'"@{names.set_for(version)}"' in text and '"drop"' in text:
                    state["rules"][version] = True
    return state


def nft_script(names: NftNames, sets: dict[int, list[Network]], rules_ok: bool) -> str:
    """One transaction: declare table, sets and chain; replace both sets' elements."""
    t = f"inet {names.table}"
    lines = [
        f"table {t} {{",
        f"    set {names.set_v4} {{ type ipv4_addr; flags interval; }}",
        f"    set {names.set_v6} {{ type ipv6_addr; flags interval; }}",
        f"    chain {names.chain} {{ type filter hook input priority {names.priority}; "
        "policy accept; }",
        "}",
    ]
    for version in (4, 6):
        lines.append(f"flush set {t} {names.set_for(version)}")
        if sets[version]:
            elements = ", ".join(str(n) for n in sets[version])
            lines.append(f"add element {t} {names.set_for(version)} {{ {elements} }}")
    if not rules_ok:
        lines += [
            f"flush chain {t} {names.chain}",
            f"add rule {t} {names.chain} ip saddr @{names.set_v4} drop",
            f"add rule {t} {names.chain} ip6 saddr @{names.set_v6} drop",
        ]
    return "\n".join(lines) + "\n"


def plan_nft(
    current: dict[str, Any], networks: list[Network], state: str
) -> tuple[dict[int, list[Network]], list[str], list[str], list[str]]:
    """Wanted set contents, and which networks are added, removed or already as wanted."""
    sets = {4: list(current["sets"][4]), 6: list(current["sets"][6])}
    added: list[str] = []
    removed: list[str] = []
    already: list[str] = []
    for network in networks:
        bucket = sets[network.version]
        if state == "present":
            if covered(network, bucket):
                already.append(str(network))
            else:
                bucket.append(network)
                added.append(str(network))
        elif network in bucket:
            bucket.remove(network)
            removed.append(str(network))
        else:
            already.append(str(network))
    return {4: collapse(sets[4]), 6: collapse(sets[6])}, added, removed, already


# ---- nginx ------------------------------------------------------------------------------
def read_deny_file(path: str) -> tuple[str | None, list[str]]:
    """The file's text (``None`` when missing) and the networks of its deny lines."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, []
    found: list[Network] = []
    for line in text.splitlines():
        match = _DENY_LINE.match(line)
        network = as_network(match.group(1)) if match else None
        if network is not None:
            found.append(network)
    return text, sorted_strings(found)


def render_deny_file(networks: list[str]) -> str:
    ordered = sorted_strings(as_network(n) for n in networks)
    return DENY_HEADER + "".join(f"deny {n};\n" for n in ordered)


def nginx_running(conf_path: str) -> bool:
    """True when the pid file named in ``conf_path`` (default /run/nginx.pid) is a live pid."""
    pid_path = "/run/nginx.pid"
    try:
        with open(conf_path, encoding="utf-8") as handle:
            match = _PID_LINE.search(handle.read())
        if match:
            pid_path = match.group(1)
        with open(pid_path, encoding="utf-8") as handle:
            pid = int(handle.read().strip() or "0")
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def nginx_check(run: Runner, nginx: str, conf_path: str) -> None:
    rc, out, err = run([nginx, "-t", "-q", "-c", conf_path])
    if rc != 0:
        detail = (err or out).strip().splitlines()
        raise InvalidStateError(
            f"nginx -t -c {conf_path} failed: {detail[-1] if detail else 'rc ' + str(rc)}"
        )


# ---- the whole host ---------------------------------------------------------------------
@dataclass
class HostOptions:
    state: str
    nft: bool = True
    names: NftNames = NftNames()
    deny_path: str = ""
    nginx_conf: str = ""
    nginx: str = "nginx"
    reload: bool = True


def mismatch(after: dict[str, Any], networks: list[Network], state: str) -> dict[str, list[str]]:
    """Per part, networks not blocked (``present``) or still blocked (``absent``) in ``after``."""
    found: dict[str, list[str]] = {}
    if "nft" in after:
        blocked = [as_network(n) for n in after["nft"]["v4"] + after["nft"]["v6"]]
        found["nft"] = [
            str(n)
            for n in networks
            if covered(n, blocked) != (state == "present")  # type: ignore[arg-type]
        ]
    if "nginx_deny" in after:
        denied = set(after["nginx_deny"])
        found["nginx"] = [str(n) for n in networks if (str(n) in denied) != (state == "present")]
    return found


def read_host(run: Runner, opts: HostOptions) -> dict[str, Any]:
    """The host's blocklist as it is: nft sets (and table/rules state) and the deny include."""
    state: dict[str, Any] = {}
    if opts.nft:
        state["nft"] = nft_state(run, opts.names)
    if opts.deny_path:
        state["nginx"] = read_deny_file(opts.deny_path)
    return state


def _blocked(state: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "nft" in state:
        sets = state["nft"]["sets"]
        out["nft"] = {"v4": [str(n) for n in sets[4]], "v6": [str(n) for n in sets[6]]}
    if "nginx" in state:
        out["nginx_deny"] = list(state["nginx"][1])
    return out


def converge(
    run: Runner,
    networks: list[Network],
    opts: HostOptions,
    check_mode: bool = False,
    which: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    """Apply (or, with ``state == 'query'``, read) the block on this host; see module docs."""
    wanted = "present" if opts.state == "query" else opts.state
    ordered = sorted(set(networks), key=sort_key)
    current = read_host(run, opts)
    before = _blocked(current)
    result: dict[str, Any] = {"changed": False, "before": before, "after": before, "warnings": []}
    planned: dict[str, Any] = {}
    write_nft = write_nginx = False

    if "nft" in current:
        nft = current["nft"]
        sets, added, removed, already = plan_nft(nft, ordered, wanted)
        rules_ok = nft["rules"][4] and nft["rules"][6]
        write_nft = (bool(added or removed) or (wanted == "present" and not rules_ok)) and not (
            wanted == "absent" and not nft["exists"]
        )
        planned["nft"] = {"v4": [str(n) for n in sets[4]], "v6": [str(n) for n in sets[6]]}
        result["nft"] = {
            "table": f"inet {opts.names.table}",
            "added": added,
            "removed": removed,
            "already": already,
            "rules": rules_ok,
        }

    if "nginx" in current:
        text, existing = current["nginx"]
        have = set(existing)
        names = {str(n) for n in ordered}
        target = sorted(have | names) if wanted == "present" else sorted(have - names)
        new_text = render_deny_file(target)
        write_nginx = new_text != text and not (wanted == "absent" and text is None)
        planned["nginx_deny"] = sorted_strings(as_network(n) for n in target)
        in_file = [str(n) for n in ordered if str(n) in have]
        not_in_file = [str(n) for n in ordered if str(n) not in have]
        result["nginx"] = {
            "path": opts.deny_path,
            "added": not_in_file if wanted == "present" else [],
            "removed": in_file if wanted == "absent" else [],
            "already": in_file if wanted == "present" else not_in_file,
            "checked": False,
            "reloaded": False,
        }

    if opts.state == "query":
        for part, miss in mismatch(before, ordered, "present").items():
            result[part]["missing"] = miss
            result[part]["changed"] = False
        result["mismatch"] = {}
        return result

    if "nft" in result:
        result["nft"]["changed"] = write_nft
    if "nginx" in result:
        result["nginx"]["changed"] = write_nginx
    result["changed"] = write_nft or write_nginx
    result["after"] = {**before, **planned}
    if check_mode or not result["changed"]:
        result["mismatch"] = mismatch(result["after"], ordered, wanted)
        return result
    if write_nft:
        rc, _out, err = run(["nft", "-f", "-"], data=nft_script(opts.names, sets, rules_ok))
        if rc != 0:
            raise InvalidStateError(f"nft -f failed: {err.strip()}")
    if write_nginx:
        _apply_deny_file(run, opts, text, new_text, result, which)
    result["after"] = _blocked(read_host(run, opts))  # read back what the host now holds
    result["mismatch"] = mismatch(result["after"], ordered, wanted)
    return result


def _apply_deny_file(
    run: Runner,
    opts: HostOptions,
    old_text: str | None,
    new_text: str,
    result: dict[str, Any],
    which: Callable[[str], str | None] | None,
) -> None:
    directory = os.path.dirname(opts.deny_path)
    if directory and not os.path.isdir(directory):
        raise InvalidInputError(f"folder {directory} of the nginx deny include does not exist")
    write_atomic(opts.deny_path, new_text)
    nginx = which(opts.nginx) if which else opts.nginx
    if not opts.nginx_conf:
        return
    if not nginx:
        result["warnings"].append(f"{opts.nginx} is not installed: the deny include is not checked")
        return
    try:
        nginx_check(run, nginx, opts.nginx_conf)
    except IrdriveOpsError:
        if old_text is None:
            os.unlink(opts.deny_path)
        else:
            write_atomic(opts.deny_path, old_text)
        raise
    result["nginx"]["checked"] = True
    if opts.reload and nginx_running(opts.nginx_conf):
        rc, _out, err = run([nginx, "-s", "reload", "-c", opts.nginx_conf])
        if rc != 0:
            raise InvalidStateError(f"nginx reload failed: {err.strip()}")
        result["nginx"]["reloaded"] = True
