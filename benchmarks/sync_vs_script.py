"""What the orchestration costs: cold and warm `zoo sync` against a bare conversion script, -j 2 against -j 1.

1. Cold `zoo sync timm/cspresnet50 --random-weights` (empty store) against a bare script doing
   the same core work in one process: build the model with random weights, torch.onnx.export,
   onnxsim, one ONNX Runtime check. The pairs are interleaved; the medians are compared.
   Goal: ratio <= 1.25. zoo also sets BatchNorm statistics from a seeded batch, validates on a
   photograph plus random inputs, checks the simplified graph against the raw one, measures
   MACs, renders deploy files and keeps each heavy step isolated in a worker process.
2. Warm `zoo sync` of the same model (everything cached). Goal: <= 0.5 s.
3. `zoo sync` of the four shipped models with the smallest reported FLOPs, with random
   weights and an empty store, at -j 1 and at -j 2.

Everything runs as a user runs it (a subprocess), so interpreter start and imports are counted.
Run: .venv/bin/python benchmarks/sync_vs_script.py [--repeats N] [--skip-jobs]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_support import timed

SHIPPED_ID = "timm/cspresnet50"

BARE_SCRIPT = """
import sys
import numpy as np, onnx, onnxruntime, onnxsim, timm, torch
raw, simplified = sys.argv[1:3]
model = timm.create_model("cspresnet50", pretrained=False, num_classes=1000)
model.eval()
x = torch.randn(1, 3, 256, 256)
torch.onnx.export(model, (x,), raw, dynamo=False, input_names=["input"], output_names=["output"], opset_version=11)
graph, _ = onnxsim.simplify(onnx.load(raw))
onnx.save(graph, simplified)
session = onnxruntime.InferenceSession(simplified, providers=["CPUExecutionProvider"])
with torch.no_grad():
    expected = model(x).numpy()
assert np.abs(session.run(None, {"input": x.numpy()})[0] - expected).max() < 1e-4
"""


def zoo(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoo_cli", *args]


def sync_against_script(work: Path, repeats: int) -> None:
    sync_times, bare_times, warm_times = [], [], []
    for attempt in range(repeats):
        run = work / f"run{attempt}"
        run.mkdir()
        command = zoo("sync", SHIPPED_ID, "--random-weights", "--store", str(run / "store"), "--out",
                      str(run / "out"), "-j", "1")
        sync_times.append(timed(command, run))
        bare_times.append(timed([sys.executable, "-c", BARE_SCRIPT, str(run / "raw.onnx"), str(run / "sim.onnx")], run))
        warm_times.append(timed(command, run))
    sync, bare, warm = (statistics.median(t) for t in (sync_times, bare_times, warm_times))
    print(f"cold zoo sync {SHIPPED_ID} --random-weights: {sync:6.2f} s  (runs: {_list(sync_times)})")
    print(f"bare export + onnxsim + ORT check          : {bare:6.2f} s  (runs: {_list(bare_times)})")
    print(f"ratio cold sync / bare                     : {sync / bare:6.2f}   (goal <= 1.25)")
    print(f"warm zoo sync (all cached)                 : {warm:6.2f} s  (runs: {_list(warm_times)}; goal <= 0.5 s)")


def jobs_comparison(work: Path) -> None:
    from zoo.manifest.catalog import load_catalog

    models = [m for m in load_catalog().models.values() if m.reported.flops_g is not None]
    smallest = [m.id for m in sorted(models, key=lambda m: m.reported.flops_g or 0)[:4]]
    times = {}
    for jobs in (1, 2):
        run = work / f"jobs{jobs}"
        run.mkdir()
        times[jobs] = timed(zoo("sync", *smallest, "--random-weights", "--store", str(run / "store"),
                                "--out", str(run / "out"), "-j", str(jobs)), run)
    print(f"zoo sync of {', '.join(smallest)} --random-weights, empty store:")
    print(f"  -j 1: {times[1]:6.1f} s   -j 2: {times[2]:6.1f} s   speed-up: {times[1] / times[2]:.2f}x "
          f"on {os.cpu_count()} CPUs")


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-jobs", action="store_true", help="only the sync-vs-script comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zoo-sync-bench-") as scratch:
        work = Path(scratch)
        sync_against_script(work, args.repeats)
        if not args.skip_jobs:
            jobs_comparison(work)


if __name__ == "__main__":
    main()
