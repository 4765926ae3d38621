"""The bench step (opt-in, `zoo bench`): CPU latency of the simplified ONNX per batch size.

Its key covers the batch sizes, threads, repeats, warm-up runs and the machine (CPU, cores,
OS; the ONNX Runtime version is a tool), so a later `zoo sync` on the same machine keeps the
result in the record while the ONNX is unchanged. See `zoo.measure.bench` for the measurement.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepReport, StepResult
from zoo.pipeline.steps.eval import given, measured_file
from zoo.pipeline.steps.simplify import ONNX


@dataclass(frozen=True)
class BenchSettings:
    """What `zoo bench` was asked to time."""

    batches: tuple[int, ...] = (1, 4, 8)
    threads: int | None = None
    repeats: int = 20
    warmup: int = 3

    @property
    def runs(self) -> int:
        """Inference runs in all, warm-up included (the unit of progress)."""
        return len(set(self.batches)) * (self.repeats + self.warmup)


class BenchStep(Step):
    kind = "bench"
    version = 1
    heavy = True
    opt_in = True
    needs = ("simplify",)
    tools = ("onnxruntime",)

    def __init__(self, settings: BenchSettings | None = None):
        #: None for a step that only carries an earlier result forward (it never runs).
        self.settings = settings

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        from zoo.measure.bench import host_description

        settings = given(self.settings, self.kind)
        return {
            "batches": sorted(set(settings.batches)),
            "threads": settings.threads or os.cpu_count() or 1,
            "repeats": settings.repeats,
            "warmup": settings.warmup,
            "machine": host_description(),
            "input_size": list(model.input_size),
        }

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        return run_bench(model, given(self.settings, self.kind), inputs[ONNX], inputs.report)


def run_bench(model: Model, settings: BenchSettings, onnx: Path, report: StepReport) -> StepResult:
    """Time `onnx`; the step's result (metrics as `zoo.pipeline.record` documents them)."""
    from zoo.measure.bench import benchmark

    report.start(settings.runs)
    result = benchmark(onnx, model.input_size, batches=settings.batches, threads=settings.threads,
                       repeats=settings.repeats, warmup=settings.warmup, progress=report.advance)
    metrics = {
        "latency_ms": {str(b): {"median": round(v.median, 3), "p90": round(v.p90, 3)} for b, v in result.latency.items()},
        "machine": result.machine,
        "threads": result.threads,
        "repeats": result.repeats,
        "warmup": result.warmup,
        "skipped": {str(b): reason for b, reason in result.skipped.items()},
        "onnx": measured_file(onnx),
    }
    return StepResult(metrics=metrics, warnings=result.notes)

