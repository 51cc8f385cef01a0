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


# ---- the host's lock file, taken by the module around its change (lock_key) ------------------
def _lock_file(locks: Path, host: str = "web1") -> dict[str, Any]:
    return dict(json.loads((locks / f"{host}.json").read_text()))


def _locked(paths: dict[str, Any], locks: Path, **extra: Any) -> dict[str, Any]:
    return {
        **paths,
        "addresses": ["203.0.113.45"],
        "nft": False,
        "lock_key": "web1",
        "lock_directory": str(locks),
        "lock_holder": "run A",
        "lock_wait": 0,
        **extra,
    }


def test_the_change_is_made_under_the_hosts_lock_and_gives_it_back(
    run_module, nft, paths, tmp_path
) -> None:
    locks = tmp_path / "locks"
    result, failed = run_module(host_blocklist, _locked(paths, locks))
    assert not failed and result["changed"], result
    assert result["host_lock"]["state"] == "acquired" and result["host_lock"]["holder"] == "run A"
    assert result["host_lock"]["released"] == "released"
    assert result["host_lock"]["lock"].endswith(f"{locks}/web1.json")
    # host_lock's file: written (version 1), then released (version 2, no holder).
    assert _lock_file(locks)["holder"] == "" and _lock_file(locks)["version"] == 2


def test_another_runs_lock_refuses_naming_it_and_changes_nothing(
    run_module, nft, paths, tmp_path
) -> None:
    from ansible_collections.irdrive.ops.plugins.modules import host_lock

    locks = tmp_path / "locks"
    held, _ = run_module(
        host_lock, {"key": "web1", "directory": str(locks), "holder": "run B", "wait": 0}
    )
    assert held["state"] == "acquired"
    result, failed = run_module(host_blocklist, _locked(paths, locks))
    assert failed and result["error_kind"] == "locked" and result["held_by"] == "run B"
    assert "is locked by run B" in result["msg"]
    assert not Path(paths["nginx_deny_path"]).exists() and nft.calls == []
    assert _lock_file(locks)["holder"] == "run B"  # left as it was


def test_a_failed_change_still_gives_the_lock_back(run_module, nft, paths, tmp_path) -> None:
    locks = tmp_path / "locks"
    nft.nginx_rc = 1
    result, failed = run_module(host_blocklist, _locked(paths, locks))
    assert failed and "nginx -t" in result["msg"]
    assert _lock_file(locks)["holder"] == "" and _lock_file(locks)["version"] == 2


def test_a_lock_this_run_holds_is_reentered_and_left_to_its_taker(
    run_module, nft, paths, tmp_path
) -> None:
    from ansible_collections.irdrive.ops.plugins.modules import host_lock

    locks = tmp_path / "locks"
    run_module(host_lock, {"key": "web1", "directory": str(locks), "holder": "run A", "wait": 0})
    result, failed = run_module(host_blocklist, _locked(paths, locks))
    assert not failed and result["host_lock"]["state"] == "reentered"
    assert result["host_lock"]["released"] == "not_taken"
    assert _lock_file(locks)["holder"] == "run A"  # the outer task gives it back


def test_check_mode_reads_the_lock_and_writes_nothing(run_module, nft, paths, tmp_path) -> None:
    locks = tmp_path / "locks"
    result, failed = run_module(host_blocklist, _locked(paths, locks), check_mode=True)
    assert not failed and result["changed"]
    assert result["host_lock"]["state"] == "would_acquire" and not locks.exists()
    assert not Path(paths["nginx_deny_path"]).exists()


def test_a_stale_lock_is_taken_over_with_a_warning(
    run_module, nft, paths, tmp_path, capsys
) -> None:
    locks = tmp_path / "locks"
    locks.mkdir()
    stale = {"holder": "dead run", "duration": 60, "acquire_time": 1.0, "renew_time": 2.0}
    (locks / "web1.json").write_text(json.dumps({**stale, "transitions": 0, "version": 4}))
    result, failed = run_module(host_blocklist, _locked(paths, locks))
    assert not failed and result["host_lock"]["took_over"]["holder"] == "dead run"
    # module.warn: in the result in-process, on stderr from the ansible-core harness.
    warned = [*result.get("warnings", []), capsys.readouterr().err]
    assert any("took over the stale lock of dead run" in w for w in warned), warned
    assert _lock_file(locks)["holder"] == "" and _lock_file(locks)["transitions"] == 1


def test_the_lock_needs_the_holder_its_action_names(run_module, nft, paths, tmp_path) -> None:
    result, failed = run_module(host_blocklist, _locked(paths, tmp_path, lock_holder=None))
    assert failed and result["error_kind"] == "invalid_input" and "lock_holder" in result["msg"]
    assert nft.calls == []
