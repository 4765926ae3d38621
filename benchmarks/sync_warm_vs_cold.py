"""Cold `zoo sync` against a warm re-run with nothing changed.

Goal (issue 4): the warm run under 1 s and at least 100x faster than the cold one.

By default it syncs a few tiny timm models (`test_*` architectures) with --random-weights
through the whole pipeline (convert, simplify, validate, render) in a fresh store, so it
needs no network. `--manifests DIR --select PATTERN` times other models instead (their
weights must then be reachable, or use --random-weights as well).

Run: .venv/bin/python benchmarks/sync_warm_vs_cold.py [--jobs N] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_support import timed

TINY = ["test_resnet", "test_efficientnet", "test_convnext", "test_byobnet"]


def tiny_manifest(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.yaml"
    lines = [
        "family: bench",
        "title: Tiny models for the sync benchmark",
        "defaults:",
        "  source: {library: timm}",
        "  input_size: 160",
        "  preprocess: {crop_pct: 0.875, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}",
        "models:",
        *[f"  - name: {name}" for name in TINY],
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifests", type=Path, help="Manifest folder (default: a generated tiny family).")
    parser.add_argument("--select", nargs="*", default=["timm/test_*"], help="Model ids or globs to sync.")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="Warm runs (the median is reported).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="zoo-sync-bench-") as tmp:
        work = Path(tmp)
        manifests = args.manifests.resolve() if args.manifests else tiny_manifest(work / "manifests").parent
        env = {**os.environ, "ZOO_HOME": str(work / "store")}
        argv = [sys.executable, "-m", "zoo_cli", "--manifests", str(manifests), "sync", *args.select,
                "--random-weights", "-j", str(args.jobs), "--out", str(work / "out")]
        cold = timed(argv, work, env)
        warm_runs = [timed(argv, work, env) for _ in range(args.repeats)]
        warm = statistics.median(warm_runs)
        bare = statistics.median(timed([sys.executable, "-c", "pass"], work, env) for _ in range(3))
        models = len(list((work / "out").glob("*/record.json")))

    print(f"models synced          {models}")
    print(f"cold sync              {cold:8.3f} s")
    print(f"warm sync (median/{args.repeats})   {warm:8.3f} s   (runs: {', '.join(f'{w:.3f}' for w in warm_runs)})")
    print(f"python -c pass         {bare:8.3f} s")
    print(f"cold / warm            {cold / warm:8.1f} x")
    print(f"goal: warm < 1 s ({'met' if warm < 1 else 'NOT met'}), >= 100x faster "
          f"({'met' if cold / warm >= 100 else 'NOT met'})")


if __name__ == "__main__":
    main()
