"""Time `zoo plan --all`: the shipped catalog, and a generated catalog of many models.

Planning reads manifests, the action cache and package metadata, never a heavy framework;
this shows what that costs as the zoo grows. Each figure is the median wall time of the
whole command (interpreter start included) in a fresh store, where every step "will run"
and each is explained.

Run: .venv/bin/python benchmarks/plan_bench.py [--models N] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generated_catalog(folder: Path, count: int) -> None:
    """`count` models spread over families of 20, like a large zoo's manifests."""
    folder.mkdir(parents=True, exist_ok=True)
    for family in range((count + 19) // 20):
        lines = [
            f"family: gen{family:03d}",
            f"title: Generated family {family}",
            "defaults:",
            "  source: {library: timm}",
            "  preprocess: {crop_pct: 0.875, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}",
            "models:",
        ]
        for index in range(family * 20, min(count, family * 20 + 20)):
            lines += [
                f"  - name: gen_model_{index:04d}",
                f"    input_size: {224 + 32 * (index % 3)}",
                f"    weights: {{url: 'https://example.org/w/gen_model_{index:04d}.pth', format: pth}}",
            ]
        (folder / f"gen{family:03d}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def median_seconds(argv: list[str], env: dict[str, str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"command failed: {' '.join(argv)}\n{result.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=500, help="Size of the generated catalog.")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="zoo-plan-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "ZOO_HOME": str(work / "store")}
        generated_catalog(work / "generated", args.models)
        zoo = [sys.executable, "-m", "zoo_cli"]
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("zoo plan --all (shipped)", [*zoo, "plan", "--all"]),
            (f"zoo plan --all (+{args.models} generated)", [*zoo, "--manifests", str(work / "generated"),
                                                            "plan", "--all"]),
        ]
        count = subprocess.run([*zoo, "list", "--json"], env=env, capture_output=True, text=True, check=False).stdout
        shipped = count.count('"id"')
        print(f"{'command':40} {'median s':>9}")
        for name, argv in rows:
            print(f"{name:40} {median_seconds(argv, env, args.repeats):9.3f}")
        print(f"(shipped catalog: {shipped} models, 5 steps each; generated: {args.models} more)")


if __name__ == "__main__":
    main()
