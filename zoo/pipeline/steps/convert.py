"""The convert step: fetched weights (or a seeded random initialisation) in, raw ONNX out.

Besides the raw graph it publishes the reference file: the source framework's logits on
the validation inputs, computed in the same worker right after export, which the validate
step compares ONNX Runtime against (see `zoo.sources.common`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.schema import Library, Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult

#: Output names (unique within a model's pipeline; `onnx` is the simplified graph).
RAW_ONNX = "raw_onnx"
REFERENCE = "reference"


class ConvertStep(Step):
    kind = "convert"
    version = 1
    heavy = True
    needs = ("fetch",)
    def tools_for(self, model: Model) -> tuple[str, ...]:
        """The tools differ per source library (torch + timm, paddle + paddle2onnx, ...)."""
        from zoo.sources import TOOLS

        return TOOLS[model.source.library]

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        source = model.source
        return {
            "library": source.library.value,
            "arch": source.arch,
            "entrypoint": source.entrypoint,
            "weights_format": None if _random_init(model, options) or model.weights is None
            else model.weights.format.value,
            "random_weights": _random_init(model, options),
            # the seed drives the random init and the random validation inputs
            "seed": options.seed,
            "num_classes": model.num_classes,
            "input_size": list(model.input_size),
            # the photograph in the reference file is preprocessed as the manifest says
            "preprocess": model.preprocess.model_dump(mode="json"),
            "opset": model.opset,
            "dynamic_batch": model.deploy.dynamic_batch,
        }

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        from zoo.sources import convert
        from zoo.sources.common import weights_label

        weights = None if _random_init(model, options) else inputs.get("weights")
        if weights is None and not options.random_weights:
            raise ConversionError(
                f"{model.id} has no weights to convert (its manifest has no `weights`); "
                "sync it with --random-weights"
            )
        result = convert(model, weights, workdir / f"{model.stem}.raw.onnx", seed=options.seed)
        warnings = list(result.warnings)
        if result.random_weights:
            warnings.append(f"random weights (seed {options.seed}): the ONNX is untrained, for pipeline checks only")
        return StepResult(
            outputs={RAW_ONNX: result.onnx, REFERENCE: result.reference},
            metrics={
                "input_name": result.input_name,
                "output_name": result.output_name,
                "params": result.params,
                "opset": result.opset,
                "random_weights": result.random_weights,
                "weights": weights_label(weights, options.seed),
                "tool_versions": result.tool_versions,
            },
            warnings=warnings,
        )


def _random_init(model: Model, options: RunOptions) -> bool:
    """`--random-weights` replaces a download for every source with an architecture; an ONNX
    source has none (the file *is* the model), so it is still fetched and used as it is."""
    return options.random_weights and model.source.library != Library.onnx
