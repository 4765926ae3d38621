"""Helpers for the converter, validation and measurement tests: small manifests and a direct step runner.

The steps run exactly as `execute_node` runs them (`Step.run` with a work folder and the
upstream outputs), only in this process, so a test can look at every intermediate file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, StepInputs, StepResult

IMAGENET = {"crop_pct": 0.875, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
RANDOM = RunOptions(random_weights=True, seed=0)
WITH_WEIGHTS = RunOptions(random_weights=False, seed=0)


def make_model(library: str, name: str, *, input_size: int = 64, num_classes: int = 10, **extra: Any) -> Model:
    """A resolved model entry as a family manifest would give it."""
    source = {"library": library, **extra.pop("source", {})}
    data = {
        "name": name,
        "family": "test",
        "source": source,
        "input_size": input_size,
        "num_classes": num_classes,
        "preprocess": extra.pop("preprocess", IMAGENET),
        **extra,
    }
    return Model.model_validate(data)


def run_convert(model: Model, root: Path, options: RunOptions = RANDOM, weights: Path | None = None) -> StepResult:
    from zoo.pipeline.steps.convert import ConvertStep

    fetched = {"fetch": {"weights": weights}} if weights is not None else {}
    return ConvertStep().run(model, StepInputs(fetched), _fresh(root / "convert"), options)


def run_simplify(model: Model, root: Path, convert: StepResult, options: RunOptions = RANDOM) -> StepResult:
    from zoo.pipeline.steps.simplify import SimplifyStep

    inputs = StepInputs({"convert": convert.outputs}, {"convert": convert.metrics})
    return SimplifyStep().run(model, inputs, _fresh(root / "simplify"), options)


def run_validate(
    model: Model, root: Path, convert: StepResult, simplify: StepResult, options: RunOptions = RANDOM
) -> StepResult:
    from zoo.pipeline.steps.validate import ValidateStep

    inputs = StepInputs({"convert": convert.outputs, "simplify": simplify.outputs})
    return ValidateStep().run(model, inputs, _fresh(root / "validate"), options)


def run_pipeline(
    model: Model, root: Path, options: RunOptions = RANDOM, weights: Path | None = None
) -> dict[str, StepResult]:
    """convert -> simplify -> validate; raises what the failing step raises."""
    convert = run_convert(model, root, options, weights)
    simplify = run_simplify(model, root, convert, options)
    validate = run_validate(model, root, convert, simplify, options)
    return {"convert": convert, "simplify": simplify, "validate": validate}


def onnx_logits(path: Path, batch: Any) -> Any:
    """ONNX Runtime's output for `batch` on the graph at `path` (first input, first output)."""
    from zoo.onnxfile import io_names, ort_session

    input_name, _ = io_names(path)
    return ort_session(path).run(None, {input_name: batch})[0]


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=False)
    return folder
