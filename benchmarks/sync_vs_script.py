"""What the orchestration costs: cold `zoo sync` against a bare conversion script, and -j 2 against -j 1.

1. Cold `zoo sync timm/cspresnet50 --weights-from MIRROR` (empty store, weights served from a
   local mirror folder; an unpinned copy of the shipped entry, see `bench_manifests`) against
   a bare script doing the same core work in one process: build the model, load the
   checkpoint, torch.onnx.export, onnxsim, one ONNX Runtime check.
   Goal (issue 5): ratio <= 1.25. zoo also validates on a photograph plus random inputs,
   checks the simplified graph against the raw one, measures MACs and renders deploy files.
2. `zoo sync` of the four shipped models with the smallest reported FLOPs, with random
   weights and an empty store, at -j 1 and at -j 2.

Both run `zoo` as a user does (a subprocess), so interpreter start and imports are counted.
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
BENCH_NAME = "cspresnet50_bench"

BARE_SCRIPT = """
import sys
import numpy as np, onnx, onnxruntime, onnxsim, timm, torch
weights, raw, simplified = sys.argv[1:4]
model = timm.create_model("cspresnet50", pretrained=False, num_classes=1000)
model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
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


def bench_manifests(folder: Path) -> str:
    """A manifest folder holding a copy of timm/cspresnet50 whose weights are not pinned.

    The shipped entry pins the upstream file's hash prefix, which a locally made checkpoint
    cannot match; the copy is the same model under another name, so the shipped one is untouched.
    """
    import yaml

    from zoo.manifest.catalog import load_catalog

    model = load_catalog().models[SHIPPED_ID]
    entry = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    entry.pop("family")
    entry["name"] = BENCH_NAME
    entry["weights"] = {"url": f"https://example.invalid/{BENCH_NAME}.pth", "format": "pth"}
    folder.mkdir(parents=True)
    family = {"family": "bench", "title": "benchmark copy", "models": [entry]}
    (folder / "bench.yaml").write_text(yaml.safe_dump(family, sort_keys=False), encoding="utf-8")
    return f"timm/{BENCH_NAME}"


def make_mirror(folder: Path) -> Path:
    """A mirror folder holding a checkpoint under the benchmark manifest's file name (random weights, seeded)."""
    import timm
    import torch

    torch.manual_seed(0)
    network = timm.create_model("cspresnet50", pretrained=False, num_classes=1000)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{BENCH_NAME}.pth"
    torch.save(network.state_dict(), path)
    return path


def zoo(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoo_cli", *args]


def sync_against_script(work: Path, repeats: int) -> None:
    mirror = work / "mirror"
    weights = make_mirror(mirror)
    manifests = work / "manifests"
    model_id = bench_manifests(manifests)
    sync_times, bare_times = [], []
    for attempt in range(repeats):
        run = work / f"run{attempt}"
        run.mkdir()
        sync_times.append(timed(zoo("--manifests", str(manifests), "sync", model_id, "--weights-from", str(mirror),
                                    "--store", str(run / "store"), "--out", str(run / "out"), "-j", "1"), run))
        bare_times.append(timed([sys.executable, "-c", BARE_SCRIPT, str(weights), str(run / "raw.onnx"),
                                 str(run / "sim.onnx")], run))
    sync, bare = statistics.median(sync_times), statistics.median(bare_times)
    print(f"cold zoo sync {SHIPPED_ID} (local mirror): {sync:6.1f} s  (runs: {_list(sync_times)})")
    print(f"bare export + onnxsim + ORT check      : {bare:6.1f} s  (runs: {_list(bare_times)})")
    print(f"ratio sync / bare                      : {sync / bare:6.2f}   (goal <= 1.25)")


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
