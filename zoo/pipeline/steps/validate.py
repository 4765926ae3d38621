"""The validate step (blocking): checker, signature and numeric parity; see `zoo.measure.validate`.

A failure fails the model: nothing downstream of it (deploy configs) is produced from a
graph that does not compute what the source framework computes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult
from zoo.pipeline.steps.convert import RAW_ONNX, REFERENCE, TORCHSCRIPT
from zoo.pipeline.steps.simplify import ONNX


class ValidateStep(Step):
    kind = "validate"
    version = 1
    heavy = True
    needs = ("convert", "simplify")
    tools = ("onnx", "onnxruntime")

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {
            "input_size": list(model.input_size),
            "num_classes": model.num_classes,
            "dynamic_batch": model.deploy.dynamic_batch,
            "thresholds": model.validate_.model_dump(mode="json"),
        }

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        from zoo.measure.validate import validate

        report = validate(model, raw=inputs[RAW_ONNX], simplified=inputs[ONNX], reference=inputs[REFERENCE],
                          torchscript=inputs.get(TORCHSCRIPT))
        warnings = []
        if report.reason:
            warnings.append(f"validation thresholds relaxed: {report.reason}")
        return StepResult(metrics=report.metrics(), warnings=warnings)
