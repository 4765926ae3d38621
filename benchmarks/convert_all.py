"""Convert every shipped model's architecture with random weights: time, peak memory, params, GFLOPs.

Done-when of issue 5: every seed model's architecture converts with `--random-weights`.
Each model runs convert -> simplify -> validate (the real steps, as `zoo sync` runs them) in
its own fresh process, so the peak memory printed is that model's alone (ru_maxrss of the
worker; the onnxsim child of the simplify step is reported separately, as the peak over
that model's child processes). Params and GFLOPs are zoo's own (definitions in
`zoo.measure.macs`) next to the numbers the manifest reports from upstream.

Run: .venv/bin/python benchmarks/convert_all.py [--only GLOB] [--keep DIR]
"""

from __future__ import annotations

import argparse
import fnmatch
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def convert_one(model: Any, root: str, results: Any) -> None:
    """Worker body: the three steps for one model; report times, metrics and peak memory."""
    from zoo.errors import ZooError
    from zoo.pipeline.steps.base import RunOptions, StepInputs
    from zoo.pipeline.steps.convert import ConvertStep
    from zoo.pipeline.steps.simplify import SimplifyStep
    from zoo.pipeline.steps.validate import ValidateStep

    options = RunOptions(random_weights=True, seed=0)
    report: dict[str, Any] = {"id": model.id, "error": None}
    upstream: dict[str, dict[str, Path]] = {}
    try:
        for step in (ConvertStep(), SimplifyStep(), ValidateStep()):
            workdir = Path(root) / step.kind
            workdir.mkdir(parents=True)
            inputs = StepInputs({kind: upstream[kind] for kind in step.needs if kind in upstream})
            start = time.perf_counter()
            result = step.run(model, inputs, workdir, options)
            report[f"{step.kind}_s"] = time.perf_counter() - start
            report[step.kind] = result.metrics
            upstream[step.kind] = result.outputs
    except ZooError as exc:
        report["error"] = str(exc)
    report["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["child_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results.put(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="*", help="glob over model ids (default: every model)")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args()

    from zoo.manifest.catalog import load_catalog

    models = [m for m in sorted(load_catalog().models.values(), key=lambda m: m.id) if fnmatch.fnmatch(m.id, args.only)]
    context = multiprocessing.get_context("spawn")
    root = args.keep or Path(tempfile.mkdtemp(prefix="zoo-convert-all-"))
    header = (f"{'model':30} {'status':7} {'convert':>8} {'simplify':>8} {'validate':>8} {'peak MB':>8} "
              f"{'onnxsim MB':>10} {'params M':>9} {'reported':>9} {'GFLOPs':>8} {'reported':>9} {'max abs':>9}")
    print(header)
    failures = 0
    for model in models:
        results = context.Queue()
        worker = context.Process(target=convert_one, args=(model, str(root / model.stem), results))
        worker.start()
        worker.join()
        report = results.get() if not results.empty() else {"id": model.id, "error": f"worker exit {worker.exitcode}"}
        failures += report["error"] is not None
        print(_row(model, report), flush=True)
        if report["error"]:
            print(f"    {report['error']}", flush=True)
    print(f"{len(models) - failures}/{len(models)} converted, simplified and validated (outputs in {root})")
    print("params: as the source framework counts; GFLOPs = 2 x MACs of Conv/ConvTranspose/Gemm/MatMul at batch 1 "
          "(zoo.measure.macs); 'reported' = the manifest's upstream numbers")
    return 1 if failures else 0


def _row(model: Any, report: dict[str, Any]) -> str:
    simplify = report.get("simplify", {})
    validate = report.get("validate", {})

    def seconds(kind: str) -> str:
        value = report.get(f"{kind}_s")
        return f"{value:7.1f}s" if value is not None else f"{'-':>8}"

    def number(value: Any, spec: str, width: int) -> str:
        return format(value, spec) if value is not None else f"{'-':>{width}}"

    reported = model.reported
    return (
        f"{model.id:30} {'ok' if not report['error'] else 'FAILED':7} {seconds('convert')} {seconds('simplify')} "
        f"{seconds('validate')} {report.get('peak_mb', 0):8.0f} {report.get('child_peak_mb', 0):10.0f} "
        f"{number(simplify.get('params_m'), '9.3f', 9)} {number(reported.params_m, '>9', 9)} "
        f"{number(simplify.get('flops_g'), '8.3f', 8)} {number(reported.flops_g, '>9', 9)} "
        f"{number(validate.get('max_abs'), '9.1e', 9)}"
    )


if __name__ == "__main__":
    sys.exit(main())
