"""`zoo lint`, `zoo render --all` and `zoo docs` over the whole shipped zoo, against the seed zoo.

Goal (issue 13): with the migrated VastModelZOO families (300+ models), lint + render < 2 s and
docs < 5 s. The baseline, measured in the same run, is the same commands on a copy of the package
whose manifests hold only the seed models (every entry without an `upstream` block).
Run: .venv/bin/python benchmarks/whole_zoo_bench.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "zoo lint": ["lint"],
    "zoo render --all": ["render", "--all", "--out", "{out}/render"],
    "zoo docs": ["docs", "--out", "{out}/docs"],
}


def seed_copy(folder: Path) -> Path:
    """The packages with manifests holding only the seed models (no `upstream` block)."""
    for package in ("zoo", "zoo_cli"):
        shutil.copytree(ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    manifests = folder / "zoo" / "manifests"
    for file in sorted(manifests.glob("*.yaml")):
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
        document["models"] = [m for m in document["models"] if "upstream" not in m]
        if document["models"]:
            file.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
        else:
            file.unlink()
    return folder


def median_seconds(args: list[str], path: Path, out: Path, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds (user + system of the child): on a shared machine CPU is the steadier one."""
    env = {**os.environ, "PYTHONPATH": str(path), "ZOO_HOME": str(out / "store")}
    walls, cpus = [], []
    for _ in range(repeats):
        shutil.rmtree(out / "render", ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "zoo_cli", *[a.format(out=out) for a in args]], env=env,
                              cwd=out, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return statistics.median(walls), statistics.median(cpus)


def models_in(path: Path) -> int:
    return sum(len(yaml.safe_load(f.read_text(encoding="utf-8"))["models"])
               for f in (path / "zoo" / "manifests").glob("*.yaml"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as scratch:
        seed = seed_copy(Path(scratch) / "seed")
        print(f"whole zoo: {models_in(ROOT)} models; seed zoo: {models_in(seed)} models")
        print(f"{'command':20} {'whole s':>8} {'seed s':>8} {'ratio':>6} {'whole cpu':>10} {'seed cpu':>9} {'ratio':>6}")
        totals = [0.0, 0.0, 0.0, 0.0]
        for name, command in COMMANDS.items():
            whole, whole_cpu = median_seconds(command, ROOT, Path(scratch), args.repeats)
            base, base_cpu = median_seconds(command, seed, Path(scratch), args.repeats)
            row = [whole, base, whole_cpu, base_cpu]
            print(f"{name:20} {whole:8.3f} {base:8.3f} {whole / base:6.2f} {whole_cpu:10.3f} {base_cpu:9.3f} "
                  f"{whole_cpu / base_cpu:6.2f}")
            if name != "zoo docs":
                totals = [t + v for t, v in zip(totals, row, strict=True)]
        whole, base, whole_cpu, base_cpu = totals
        print(f"{'lint + render':20} {whole:8.3f} {base:8.3f} {whole / base:6.2f} {whole_cpu:10.3f} {base_cpu:9.3f} "
              f"{whole_cpu / base_cpu:6.2f}")
    print("goal: lint + render < 2 s, docs < 5 s for the whole zoo")


if __name__ == "__main__":
    main()
