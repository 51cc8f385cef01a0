"""irdrive.ops.host_blocklist against a fake nft (keeps a ruleset, applies our scripts) and
real files for the nginx deny include."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible_collections.irdrive.ops.plugins.modules import host_blocklist


class FakeNft:
    """Just enough nft: `-j list table inet T` and `-f -` with the scripts the module writes."""

    def __init__(self) -> None:
        self.table: dict[str, Any] | None = None
        self.scripts: list[str] = []
        self.nginx_rc = 0
        self.calls: list[list[str]] = []

    def run(self, argv: list[str], data: str | None = None, **_: Any) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        name = Path(argv[0]).name
        if name == "nginx":
            return (self.nginx_rc, "", "" if self.nginx_rc == 0 else "nginx: [emerg] bad deny")
        if argv[1:3] == ["-j", "list"]:
            if self.table is None:
                return 1, "", "Error: No such file or directory\nlist table inet irdrive"
            objs: list[dict[str, Any]] = [{"table": {"family": "inet", "name": "irdrive"}}]
            for set_name, elems in self.table["sets"].items():
                shown = [
                    str(n.network_address)
                    if n.prefixlen == n.max_prefixlen
                    else {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}}
                    for n in elems
                ]
                objs.append({"set": {"name": set_name, "table": "irdrive", "elem": shown}})
            for right in self.table["rules"]:
                objs.append(
                    {
                        "rule": {
                            "chain": "input",
                            "expr": [{"match": {"right": right}}, {"drop": None}],
                        }
                    }
                )
            return 0, json.dumps({"nftables": objs}), ""
        if argv[1:] == ["-f", "-"]:
            self.scripts.append(data or "")
            self._apply(data or "")
            return 0, "", ""
        raise AssertionError(f"unexpected command {argv}")

    def _apply(self, script: str) -> None:
        if self.table is None:
            self.table = {"sets": {"blocked_v4": [], "blocked_v6": []}, "rules": []}
        for line in script.splitlines():
            if m := re.match(r"flush set inet irdrive (\S+)", line):
                self.table["sets"][m.group(1)] = []
            elif m := re.match(r"add element inet irdrive (\S+) \{ (.*) \}", line):
                self.table["sets"][m.group(1)] += [
                    ipaddress.ip_network(e.strip()) for e in m.group(2).split(",")
                ]
            elif line.startswith("flush chain"):
                self.table["rules"] = []
            elif m := re.match(r"add rule inet irdrive input ip6? saddr (@\S+) drop", line):
                self.table["rules"].append(m.group(1))


@pytest.fixture
def nft(monkeypatch: pytest.MonkeyPatch) -> FakeNft:
    fake = FakeNft()
    monkeypatch.setattr(
        basic.AnsibleModule, "run_command", lambda self, argv, **kw: fake.run(argv, **kw)
    )
    monkeypatch.setattr(
        basic.AnsibleModule,
        "get_bin_path",
        lambda self, name, required=False, opt_dirs=None: f"/usr/sbin/{name}",
    )
    return fake


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "conf.d").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\n")
    return {
        "nginx_deny_path": str(tmp_path / "conf.d/irdrive-deny.conf"),
        "nginx_conf_path": str(conf),
    }


def test_block_then_rerun_is_unchanged(run_module, nft, paths) -> None:
    args = {**paths, "addresses": ["203.0.113.45", "198.51.100.0/24", "2001:db8::1"]}
    result, failed = run_module(host_blocklist, args)
    assert not failed, result
    assert result["changed"] and result["mismatch"] == {"nft": [], "nginx": []}
    assert result["after"]["nft"] == {
        "v4": ["198.51.100.0/24", "203.0.113.45/32"],
        "v6": ["2001:db8::1/128"],
    }
    assert nft.table["rules"] == ["@blocked_v4", "@blocked_v6"]
    text = Path(paths["nginx_deny_path"]).read_text()
    assert text.splitlines()[2:] == [
        "deny 198.51.100.0/24;",
        "deny 203.0.113.45/32;",
        "deny 2001:db8::1/128;",
    ]
    assert result["nginx"]["checked"] and not result["nginx"]["reloaded"]  # nginx not running

    scripts = len(nft.scripts)
    again, _ = run_module(host_blocklist, args)
    assert not again["changed"] and len(nft.scripts) == scripts
    assert sorted(again["nft"]["already"]) == sorted(result["nft"]["added"])


def test_check_mode_changes_nothing(run_module, nft, paths) -> None:
    result, _ = run_module(
        host_blocklist, {**paths, "addresses": ["203.0.113.45"]}, check_mode=True, diff=True
    )
    assert result["changed"] and nft.scripts == [] and nft.table is None
    assert not Path(paths["nginx_deny_path"]).exists()
    assert result["diff"]["after"]["nginx_deny"] == ["203.0.113.45/32"]


def test_unblock_removes_and_a_covered_address_is_reported(run_module, nft, paths) -> None:
    run_module(host_blocklist, {**paths, "addresses": ["203.0.113.45", "198.51.100.0/24"]})
    result, _ = run_module(
        host_blocklist, {**paths, "addresses": ["203.0.113.45", "198.51.100.7"], "state": "absent"}
    )
    assert result["changed"] and result["nft"]["removed"] == ["203.0.113.45/32"]
    # 198.51.100.7 is only covered by the /24, which stays blocked: the module says so.
    assert result["mismatch"]["nft"] == ["198.51.100.7/32"]
    assert "deny 203.0.113.45/32;" not in Path(paths["nginx_deny_path"]).read_text()


def test_failed_nginx_check_restores_the_previous_file(run_module, nft, paths) -> None:
    run_module(host_blocklist, {**paths, "addresses": ["203.0.113.45"], "nft": False})
    before = Path(paths["nginx_deny_path"]).read_text()
    nft.nginx_rc = 1
    result, failed = run_module(
        host_blocklist, {**paths, "addresses": ["198.51.100.23"], "nft": False}
    )
    assert failed and "nginx -t" in result["msg"] and "bad deny" in result["msg"]
    assert Path(paths["nginx_deny_path"]).read_text() == before


def test_running_nginx_is_reloaded(run_module, nft, paths, tmp_path) -> None:
    import os

    (tmp_path / "nginx.pid").write_text(str(os.getpid()))
    result, _ = run_module(host_blocklist, {**paths, "addresses": ["203.0.113.45"], "nft": False})
    assert result["nginx"]["reloaded"]
    assert any(c[1:3] == ["-s", "reload"] for c in nft.calls)


def test_query_reports_missing_without_writing(run_module, nft, paths) -> None:
    result, _ = run_module(
        host_blocklist, {**paths, "addresses": ["203.0.113.45"], "state": "query"}
    )
    assert not result["changed"] and result["missing"] == ["203.0.113.45/32"] and nft.scripts == []


def test_invalid_address_fails_before_touching_the_host(run_module, nft, paths) -> None:
    result, failed = run_module(host_blocklist, {**paths, "addresses": ["::1"]})
    assert failed and "'::1' is a loopback address" in result["msg"] and nft.calls == []
