"""The simplify step: onnxsim at the model's input shape (bounded in time), then the model's size and cost.

The published `onnx` output is onnxsim's graph, or — when onnxsim failed or ran too long —
an unchanged copy of the raw graph with `simplified: false` and the reason. The MACs are
counted on this graph; definitions are in `zoo.measure.macs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult
from zoo.pipeline.steps.convert import RAW_ONNX

#: Output name of the graph to deploy.
ONNX = "onnx"


class SimplifyStep(Step):
    kind = "simplify"
    version = 1
    heavy = True
    needs = ("convert",)
    tools = ("onnx", "onnxsim")

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"input_size": list(model.input_size), "dynamic_batch": model.deploy.dynamic_batch}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        from zoo.measure.macs import MeasureError, count_macs, flops_g
        from zoo.measure.simplify import simplify

        raw = inputs[RAW_ONNX]
        converted = inputs.metrics.get("convert", {})  # facts of the raw file, whose digest is in our key
        input_name, params = converted["input_name"], converted.get("params")
        shape = [1, *model.input_size]
        outcome = simplify(
            raw,
            workdir / f"{model.stem}.onnx",
            input_name=input_name,
            input_shape=shape,
            dynamic_batch=model.deploy.dynamic_batch,
        )
        warnings = [] if outcome.simplified else [f"not simplified, raw graph kept: {outcome.reason}"]
        metrics: dict[str, Any] = {
            "input_name": input_name,
            "simplified": outcome.simplified,
            "reason": outcome.reason,
            "nodes_before": outcome.nodes_before,
            "nodes_after": outcome.nodes_after,
            "params": params,
            "params_m": None if params is None else params / 1e6,
        }
        try:
            macs = count_macs(outcome.path, shape)
        except MeasureError as exc:
            warnings.append(str(exc))
            metrics.update(macs=None, flops_g=None)
        else:
            metrics.update(macs=macs, flops_g=flops_g(macs))
        return StepResult(outputs={ONNX: outcome.path}, metrics=metrics, warnings=warnings)
