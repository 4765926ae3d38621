"""The eval step (opt-in, `zoo eval`): top-1/top-5 of the simplified ONNX on a labelled data set.

Its key covers the data set's identity (which images, with their sizes and modification
times), the limit, the pre-processing, the batch size and the manifest fields the verdict and
the pipelines read, so a later `zoo sync` keeps the result in the record exactly while none
of them, nor the ONNX, changed. The prediction files (`predictions-<pipeline>.txt`) are its
outputs and land in the model folder. See `zoo.measure.evaluate` for the measurement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepReport, StepResult
from zoo.pipeline.steps.simplify import ONNX

if TYPE_CHECKING:
    from zoo.measure.datasets import Dataset, Sample
    from zoo.measure.evaluate import EvalResult, Verdict

_Settings = TypeVar("_Settings")
#: Manifest fields that change neither the pre-processing nor the verdict.
_NOT_READ = {"reported", "reference", "license", "tags", "title", "validate_"}


@dataclass(frozen=True)
class EvalSettings:
    """What `zoo eval` was asked to measure (the data set is a folder on this machine)."""

    data: str
    labels: str | None = None
    limit: int | None = None
    pipelines: tuple[str, ...] = ("source",)
    batch: int = 16
    threads: int | None = None
    workers: int | None = None

    def samples(self, model: Model) -> tuple[Dataset, tuple[Sample, ...]]:
        """The data set and the images chosen from it."""
        from zoo.measure.datasets import open_dataset

        dataset = open_dataset(Path(self.data), label_file=Path(self.labels) if self.labels else None,
                               num_classes=model.num_classes)
        return dataset, dataset.interleaved(self.limit)


class EvalStep(Step):
    kind = "eval"
    version = 1
    heavy = True
    opt_in = True
    needs = ("simplify",)
    tools = ("onnxruntime",)

    def __init__(self, settings: EvalSettings | None = None):
        #: None for a step that only carries an earlier result forward (it never runs).
        self.settings = settings

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        settings = given(self.settings, self.kind)
        _, samples = settings.samples(model)
        return {
            "data": samples_identity(samples),
            "images": len(samples),
            "limit": settings.limit,
            "preprocess": list(settings.pipelines),
            "batch": settings.batch,
            "model": model.model_dump(mode="json", exclude=_NOT_READ),
            "random_weights": options.random_weights,
        }

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        return run_eval(model, given(self.settings, self.kind), inputs[ONNX], workdir, random_weights=options.random_weights,
                        report=inputs.report)


def run_eval(model: Model, settings: EvalSettings, onnx: Path, folder: Path, *, random_weights: bool,
             report: StepReport) -> StepResult:
    """Evaluate `onnx`, writing the prediction files into `folder`; the step's result."""
    from zoo.deploy.emulate import pipelines
    from zoo.measure.evaluate import evaluate, verdict

    dataset, samples = settings.samples(model)
    predictions = {name: folder / f"predictions-{name}.txt" for name in settings.pipelines}
    report.start(len(samples))
    result = evaluate(model, samples, onnx, pipelines=pipelines(model, settings.pipelines),
                      batch=settings.batch, threads=settings.threads, workers=settings.workers,
                      predictions=predictions, progress=report.advance)
    judged = verdict(model, result, random_weights=random_weights)
    return StepResult(outputs={f"predictions-{name}": path for name, path in predictions.items()},
                      metrics=_metrics(result, judged, onnx, dataset.describe()), warnings=list(result.notes))



def samples_identity(samples: Sequence[Sample]) -> str:
    """Digest of the evaluated images: names, labels, sizes and modification times (not where they live)."""
    digest = hashlib.sha256()
    for sample in samples:
        stat = sample.path.stat()
        digest.update(f"{sample.name}\t{sample.label}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def measured_file(path: Path) -> dict[str, str]:
    """The `onnx` metric of a measurement: which file it measured."""
    from zoo.store.blobs import sha256_file

    return {"name": path.name, "digest": sha256_file(path)[0]}


def _metrics(result: EvalResult, judged: Verdict, onnx: Path, dataset: str) -> dict[str, Any]:
    """The metrics `zoo.pipeline.record` documents for eval, plus the verdict's details."""
    primary = judged.pipeline
    score = result.scores[primary]
    metrics: dict[str, Any] = {
        "top1": round(score.top1, 4),
        "top5": round(score.top5, 4),
        "images": result.images,
        "preprocess": primary,
        "dataset": dataset,
        "compared": judged.compared,
        "passed": judged.passed,
        "reason": judged.reason,
        "checks": checks_metrics(judged),
        "converted_to_rgb": result.converted,
        "images_per_second": round(result.images_per_second, 2),
        "batch": result.batch,
        "onnx": measured_file(onnx),
    }
    if len(result.scores) == 2:
        other = next(name for name in result.scores if name != primary)
        metrics[other] = {"top1": round(result.scores[other].top1, 4), "top5": round(result.scores[other].top5, 4)}
        metrics["top1_changed"] = round(result.top1_changed or 0.0, 6)
        metrics["logit_cosine"] = round(result.logit_cosine or 0.0, 6)
    return metrics


def checks_metrics(judged: Verdict) -> dict[str, dict[str, Any]]:
    """Each check of a verdict as the record keeps it, by metric."""
    return {c.metric: {"expected": c.expected, "tolerance": round(c.tolerance, 4), "measured": c.measured,
                       "passed": c.passed} for c in judged.checks}


def given(settings: _Settings | None, kind: str) -> _Settings:
    """An opt-in step's settings; a step made without them only carries an earlier result forward."""
    if settings is None:
        raise RuntimeError(f"this {kind} step only carries an earlier result forward; it cannot run")
    return settings
