"""Start-up time of the light commands against a bare interpreter.

Goal (issue 2): `zoo list`, `zoo show`, `zoo lint` within 0.3 s of `python -c pass`.
Run: .venv/bin/python benchmarks/cli_startup.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "zoo --version": [sys.executable, "-m", "zoo_cli", "--version"],
    "zoo list": [sys.executable, "-m", "zoo_cli", "list"],
    "zoo show timm/cspresnet50": [sys.executable, "-m", "zoo_cli", "show", "timm/cspresnet50"],
    "zoo lint": [sys.executable, "-m", "zoo_cli", "lint"],
}


def median_seconds(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    baseline = None
    print(f"{'command':32} {'median s':>9} {'above python':>13}")
    for name, argv in COMMANDS.items():
        seconds = median_seconds(argv, args.repeats)
        baseline = seconds if baseline is None else baseline
        print(f"{name:32} {seconds:9.3f} {seconds - baseline:13.3f}")
    print("goal: every zoo command <= 0.300 s above the bare interpreter")


if __name__ == "__main__":
    main()
