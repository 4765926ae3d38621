"""Rendering speed: `render_all` and `zoo render --all`, for the shipped zoo and 1,000 generated models.

Goal (issue 3): rendering all seed models takes well under a second. The generated zoo
(written to a temporary folder) varies the preprocessing (crop_pct, explicit resize,
interpolation, colour order, 0..255 statistics, crop mode, dtype) so that every branch of
the deploy context and every template runs. Each measurement renders into a fresh folder
("cold") and then again into the same folder ("warm": every file is unchanged, so nothing is
rewritten).

Run: .venv/bin/python benchmarks/render_bench.py [--models 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zoo.deploy.profiles import PROFILES
from zoo.deploy.render import render_all
from zoo.manifest.catalog import load_catalog, manifest_files
from zoo.manifest.schema import Model

PER_FILE = 50
VARIANTS = [
    "{crop_pct: 0.875}",
    "{crop_pct: 0.887, interpolation: bicubic}",
    "{crop_pct: 0.95, color: BGR}",
    "{resize: 320}",
    "{crop_pct: 1.0, crop_mode: squash}",
    "{crop_pct: 0.9, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], value_range: '0..255'}",
]


def generate(folder: Path, count: int) -> None:
    """`count` models in families of `PER_FILE`, cycling through `VARIANTS` and input sizes."""
    for start in range(0, count, PER_FILE):
        lines = [f"family: bench{start // PER_FILE:03d}", "title: Benchmark family", "defaults:",
                 "  source: {library: timm}",
                 "  preprocess: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}", "models:"]
        for index in range(start, min(start + PER_FILE, count)):
            lines += [f"  - name: bench_{index:05d}", f"    input_size: {(224, 256, 288, 299)[index % 4]}",
                      f"    preprocess: {VARIANTS[index % len(VARIANTS)]}",
                      f"    deploy: {{dtype: {('int8', 'fp16')[index % 2]}}}"]
        (folder / f"bench{start // PER_FILE:03d}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def time_render_all(models: list[Model], profile: str, repeats: int) -> tuple[float, float, int]:
    """Median seconds of a cold and of a warm `render_all`, and the number of files written."""
    cold, warm, files = [], [], 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            batch = render_all(models, out_dir=Path(out), profile=profile)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            render_all(models, out_dir=Path(out), profile=profile)
            warm.append(time.perf_counter() - start)
            assert not batch.failures, list(batch.failures.items())[:3]
            files = sum(len(r.files) for r in batch.results)
    return statistics.median(cold), statistics.median(warm), files


def time_cli(extra: list[str], repeats: int) -> float:
    """Median wall time of `zoo render --all` in a subprocess (start-up and catalog load included)."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "zoo_cli", *extra, "render", "--all", "--out", out],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    shipped = list(load_catalog().models.values())
    with tempfile.TemporaryDirectory() as manifests:
        generate(Path(manifests), args.models)
        start = time.perf_counter()
        catalog = load_catalog(files=manifest_files([Path(manifests)]))
        load_seconds = time.perf_counter() - start
        assert not catalog.problems, catalog.problems[:3]
        generated = list(catalog.models.values())

        print(f"loading {len(generated)} generated manifests: {load_seconds:.3f} s")
        print(f"{'zoo':>10} {'profile':>9} {'models':>7} {'files':>6} {'cold s':>8} {'warm s':>8} {'ms/model':>9}")
        for label, models in (("shipped", shipped), ("generated", generated)):
            for profile in PROFILES:
                cold, warm, files = time_render_all(models, profile, args.repeats)
                print(f"{label:>10} {profile:>9} {len(models):7d} {files:6d} {cold:8.3f} {warm:8.3f} "
                      f"{1000 * cold / max(len(models), 1):9.2f}")

        print("\n`zoo render --all` end to end (subprocess, profile build_in):")
        print(f"  shipped zoo ({len(shipped)} models): {time_cli([], args.repeats):.3f} s")
        total = len(shipped) + len(generated)
        print(f"  shipped + generated ({total} models): {time_cli(['--manifests', manifests], args.repeats):.3f} s")


if __name__ == "__main__":
    main()
