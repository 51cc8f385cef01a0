"""Benchmark: the driver's own start-up, ``irdrive --help`` and ``irdrive list``.

Each is one ``irdrive`` process, started the way a responder starts it (the console script),
timed wall clock from spawn to exit; the median of ``rounds`` runs after one warm-up run (the
parse cache and the page cache are what a responder's second command finds). A benchmark, not
a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

COMMANDS = {"help_s": ["--help"], "list_s": ["list"]}


def irdrive() -> str:
    return str(Path(sys.executable).parent / "irdrive")


def time_once(args: list[str]) -> float:
    start = time.monotonic()
    subprocess.run([irdrive(), *args], check=True, capture_output=True)
    return time.monotonic() - start


def measure(rounds: int, **_: Any) -> dict[str, Any]:
    """``{"help_s": median, "list_s": median, "rounds": {...}}`` (at least 5 runs each)."""
    runs = max(5, rounds)
    raw: dict[str, list[float]] = {}
    for key, args in COMMANDS.items():
        time_once(args)  # warm-up
        raw[key] = [round(time_once(args), 3) for _ in range(runs)]
    return {key: round(statistics.median(ts), 3) for key, ts in raw.items()} | {"rounds": raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    figures = measure(parser.parse_args().rounds)
    print(f"irdrive --help {figures['help_s']:.3f}s   irdrive list {figures['list_s']:.3f}s")


if __name__ == "__main__":
    main()
