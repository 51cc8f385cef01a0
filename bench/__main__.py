"""One bench for every runbook: ``python -m bench`` (``make bench``; BENCH_ARGS passes options).

Runs, in one bench run and with the same number of rounds:
  fleet      block-ips on 3 and 30 hosts and the serial shell loop (bench/fleet.py, its own lab)
  payments   payments-failover: irdrive, the shell script, the direct-API floor
  runbooks   each incident runbook from its lab fault to verified recovery, its slowest steps
  api-step   one API step above an ``ansible.builtin.debug`` task
  cli        ``irdrive --help`` and ``irdrive list``
payments and runbooks share one bench lab (each round resets it). Prints medians and ratios
against the targets of issue 10; with ``--json`` exactly one JSON object on stdout (progress
goes to stderr): ``{"payments_failover": {...}, "fleet": {...}, "runbooks": {NAME: {...}},
"api_step": {...}, "cli": {...}, "ratios": {...}}``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PORT_BASE = 17700  # the demo lab is on 17600, the test labs from 17800
DEFAULT_LAB_DIR = REPO / ".state" / "bench-lab"
FLEET_PORT_OFFSET = 20  # the fleet lab's ports: the bench lab's base + 20 (a lab spans 10)
SECTIONS = ("fleet", "payments", "runbooks", "api_step", "cli")
# The section modules under bench/; each has measure(rounds, ...) -> dict.
MODULES = {
    "fleet": "bench.fleet",
    "payments": "bench.payments_failover",
    "runbooks": "bench.runbooks",
    "api_step": "bench.api_step",
    "cli": "bench.cli",
}
FLEET_KEYS = ("hosts_3_s", "hosts_30_s", "shell_30_s")
PAYMENTS_KEYS = ("irdrive_s", "shell_s", "floor_s")
# Issue 10's targets: (ratio key, what it is, its bound or None, "<=" or "<").
TARGETS: tuple[tuple[str, str, float | None, str], ...] = (
    ("payments_irdrive_over_floor", "payments-failover irdrive / floor", 3.0, "<="),
    ("payments_irdrive_over_shell", "payments-failover irdrive / shell script", None, ""),
    ("fleet_30_over_3", "block-ips 30 hosts / 3 hosts", 3.0, "<="),
    ("fleet_irdrive_30_over_shell_30", "block-ips 30 hosts irdrive / shell loop", 1.0, "<"),
    ("api_step_in_process_above_debug_s", "API step above debug, in-process (s)", 0.15, "<="),
    ("api_step_module_above_debug_s", "API step above debug, as a module (s)", None, ""),
    ("cli_list_s", "irdrive list (s)", 0.3, "<="),
    ("cli_help_s", "irdrive --help (s)", 0.15, "<="),
)

Measure = Callable[..., dict[str, Any]]


class BenchError(RuntimeError):
    """A section failed, or returned figures without the keys the bench reports."""


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_measure(section: str) -> Measure | None:
    """The section's measure(), imported when it runs; None when its module is not there."""
    name = MODULES[section]
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
    return module.measure  # type: ignore[no-any-return]


def parse_only(items: Sequence[str], runbook_names: Sequence[str]) -> tuple[list[str], list[str]]:
    """``--only`` values: section names (``api-step`` or ``api_step``) or runbook names, which
    select the runbooks section for those runbooks. Returns (sections, runbooks)."""
    sections: list[str] = []
    runbooks: list[str] = []
    for item in (n.strip() for raw in items for n in raw.split(",")):
        if not item:
            continue
        if item.replace("-", "_") in SECTIONS:
            sections.append(item.replace("-", "_"))
        elif item in runbook_names:
            runbooks.append(item)
            sections.append("runbooks")
        else:
            known = ", ".join([s.replace("_", "-") for s in SECTIONS] + list(runbook_names))
            raise BenchError(f"--only {item}: not a section or an incident runbook ({known})")
    chosen = [s for s in SECTIONS if s in sections] if sections else list(SECTIONS)
    return chosen, runbooks


def require_keys(section: str, figures: Mapping[str, Any], keys: Sequence[str]) -> None:
    missing = [k for k in keys if not isinstance(figures.get(k), int | float)]
    if missing:
        raise BenchError(f"{section}: measure() returned no {', '.join(missing)}")


@contextlib.contextmanager
def shared_lab(port_base: int, lab_dir: Path) -> Iterator[None]:
    """The bench lab for payments and runbooks: started once (if it is not up) for both,
    stopped after them; a lab that was already up is left up."""
    from irdrive_lab.control import manager
    from irdrive_lab.control.config import LabConfig

    cfg = LabConfig(dir=Path(lab_dir).resolve(), port_base=port_base)
    started = not manager.is_up(cfg)
    if started:
        t0 = time.monotonic()
        manager.up(cfg)
        progress(f"bench lab up in {time.monotonic() - t0:.1f}s ({cfg.dir})")
    try:
        yield
    finally:
        if started:
            manager.down(cfg)


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    return round(num / den, 2)


def ratios(results: Mapping[str, Any]) -> dict[str, float | None]:
    """The ratios issue 10 sets targets on, from the sections that ran."""
    out: dict[str, float | None] = {}
    pay = results.get("payments_failover")
    if pay:
        out["payments_irdrive_over_floor"] = ratio(pay["irdrive_s"], pay["floor_s"])
        out["payments_irdrive_over_shell"] = ratio(pay["irdrive_s"], pay["shell_s"])
    fleet = results.get("fleet")
    if fleet:
        out["fleet_30_over_3"] = ratio(fleet["hosts_30_s"], fleet["hosts_3_s"])
        out["fleet_irdrive_30_over_shell_30"] = ratio(fleet["hosts_30_s"], fleet["shell_30_s"])
    api = results.get("api_step")
    if api:
        out["api_step_in_process_above_debug_s"] = api["in_process_above_debug_s"]
        out["api_step_module_above_debug_s"] = api["module_above_debug_s"]
    cli = results.get("cli")
    if cli:
        out["cli_list_s"] = cli["list_s"]
        out["cli_help_s"] = cli["help_s"]
    return out


def run_all(
    sections: Sequence[str],
    rounds: int,
    port_base: int = DEFAULT_PORT_BASE,
    lab_dir: Path = DEFAULT_LAB_DIR,
    runbooks: Sequence[str] = (),
    measures: Mapping[str, Measure | None] | None = None,
    lab: Callable[[int, Path], contextlib.AbstractContextManager[Any]] | None = None,
) -> dict[str, Any]:
    """Run the selected sections; ``measures`` (section -> measure, None: not there) and ``lab``
    (default :func:`shared_lab`) replace the real ones in tests. Returns the bench's one JSON
    object."""
    lab = lab or shared_lab
    found = dict(measures) if measures is not None else {s: load_measure(s) for s in sections}
    results: dict[str, Any] = {"rounds": rounds}
    skipped: dict[str, str] = {}

    def measure_of(section: str) -> Measure | None:
        fn = found.get(section)
        if fn is None:
            skipped[section] = f"{MODULES[section].replace('.', '/')}.py is not there"
            progress(f"{section}: skipped, {skipped[section]}")
        return fn

    if "fleet" in sections and (fleet := measure_of("fleet")):
        progress("fleet: block-ips on 3 and 30 hosts, and the shell loop")
        figures = fleet(
            rounds=rounds,
            port_base=port_base + FLEET_PORT_OFFSET,
            lab_dir=lab_dir.with_name(lab_dir.name + "-fleet"),
        )
        require_keys("fleet", figures, FLEET_KEYS)
        results["fleet"] = figures
    if "payments" in sections or "runbooks" in sections:
        with lab(port_base, lab_dir):
            if "payments" in sections and (pay := measure_of("payments")):
                progress("payments: irdrive, the shell script, the direct-API floor")
                figures = pay(rounds=rounds, port_base=port_base, lab_dir=lab_dir)
                require_keys("payments", figures, PAYMENTS_KEYS)
                results["payments_failover"] = figures
            if "runbooks" in sections and (books := measure_of("runbooks")):
                progress("runbooks: each incident runbook, fault to verified recovery")
                figures = books(
                    rounds=rounds, port_base=port_base, lab_dir=lab_dir, only=list(runbooks)
                )
                for name, res in figures.items():
                    require_keys(f"runbooks {name}", res, ("recover_s",))
                results["runbooks"] = figures
    if "api_step" in sections and (api := measure_of("api_step")):
        progress("api step: an API step above ansible.builtin.debug")
        figures = api(rounds=rounds)
        require_keys("api_step", figures, ("in_process_above_debug_s", "module_above_debug_s"))
        results["api_step"] = figures
    if "cli" in sections and (cli := measure_of("cli")):
        progress("cli: irdrive --help and irdrive list")
        figures = cli(rounds=rounds)
        require_keys("cli", figures, ("help_s", "list_s"))
        results["cli"] = figures
    results["ratios"] = ratios(results)
    if skipped:
        results["skipped"] = skipped
    return results


def render(results: Mapping[str, Any]) -> str:
    """The human table: medians per section, the ratios against their targets."""
    lines = [f"irdrive bench, medians of {results['rounds']} rounds"]
    pay = results.get("payments_failover")
    if pay:
        lines.append("\npayments-failover, fault -> verified recovery:")
        for way in ("irdrive", "shell", "floor"):
            lines.append(f"  {way:<9} {pay[f'{way}_s']:7.2f}s")
    fleet = results.get("fleet")
    if fleet:
        lines.append("\nblock-ips fleet:")
        for key, label in zip(FLEET_KEYS, ("3 hosts", "30 hosts", "shell 30"), strict=True):
            lines.append(f"  {label:<9} {fleet[key]:7.2f}s")
    books = results.get("runbooks")
    if books:
        from bench.runbooks import render as render_runbooks

        lines.append("\n" + render_runbooks(books, results["rounds"]))
    api = results.get("api_step")
    if api:
        lines.append("\nan API step above ansible.builtin.debug:")
        lines.append(f"  in-process {api['in_process_above_debug_s']:7.3f}s")
        lines.append(f"  module     {api['module_above_debug_s']:7.3f}s")
    cli = results.get("cli")
    if cli:
        lines.append("\nthe driver's start-up:")
        lines.append(f"  irdrive --help {cli['help_s']:7.3f}s")
        lines.append(f"  irdrive list   {cli['list_s']:7.3f}s")
    got = results.get("ratios") or {}
    if got:
        lines.append("\nratios (issue 10 targets):")
        for key, label, bound, op in TARGETS:
            if got.get(key) is None:
                continue
            value = got[key]
            verdict = ""
            if bound is not None:
                met = value < bound if op == "<" else value <= bound
                verdict = f"target {op} {bound:g}: " + ("met" if met else "NOT met")
            lines.append(f"  {label:<42} {value:7.2f}   {verdict}".rstrip())
    for section, why in (results.get("skipped") or {}).items():
        lines.append(f"\nskipped {section}: {why}")
    return "\n".join(lines)


@contextlib.contextmanager
def stdout_kept_for_json() -> Iterator[Any]:
    """Everything written to stdout meanwhile (the sections' subprocesses included) goes to
    stderr; yields a stream on the real stdout for the one JSON object."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with open(saved, "w", closefd=False) as real, contextlib.redirect_stdout(sys.stderr):
            yield real
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: Sequence[str] | None = None) -> None:
    from bench.runbooks import CASES

    runbook_names = [c.runbook for c in CASES]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per section (default 3)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="sections (fleet, payments, runbooks, api-step) or incident runbooks to run; "
        "repeatable or comma-separated; default all",
    )
    parser.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE)
    parser.add_argument("--lab-dir", type=Path, default=DEFAULT_LAB_DIR)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        sections, runbooks = parse_only(args.only, runbook_names)
    except BenchError as exc:
        parser.error(str(exc))
    lab_dir = args.lab_dir.resolve()
    try:
        if args.json:
            with stdout_kept_for_json() as out:
                results = run_all(sections, args.rounds, args.port_base, lab_dir, runbooks)
                progress(render(results))
                out.write(json.dumps(results, indent=2) + "\n")
        else:
            results = run_all(sections, args.rounds, args.port_base, lab_dir, runbooks)
            print(render(results))
    except (BenchError, RuntimeError) as exc:
        raise SystemExit(f"bench failed: {exc}") from None


if __name__ == "__main__":
    main()
