"""The convert step: fetched weights (or a seeded random initialisation) in, raw ONNX out.

Besides the raw graph it publishes the reference file: the source framework's logits on
the validation inputs, computed in the same worker right after export, which the validate
step compares ONNX Runtime against (see `zoo.sources.common`). The step computes those
inputs (the photograph through the reference preprocessing, then seeded random ones) and
hands them to the source library's converter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.schema import Frontend, Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult
from zoo.sources import registry
from zoo.sources.base import ConvertRequest, ValidationInputs

#: Output names (unique within a model's pipeline; `onnx` is the simplified graph).
RAW_ONNX = "raw_onnx"
REFERENCE = "reference"
TORCHSCRIPT = "torchscript"
#: The real photograph every model is validated on (CC0, see zoo/data/chelsea.LICENSE.txt).
PHOTO = Path(__file__).resolve().parents[2] / "data" / "chelsea.jpg"
#: Seeded random inputs added to the photograph (standard normal in the normalised space).
RANDOM_INPUTS = 2


class ConvertStep(Step):
    kind = "convert"
    version = 2
    heavy = True
    needs = ("fetch",)
    def tools_for(self, model: Model) -> tuple[str, ...]:
        """The tools differ per source library (torch + timm, paddle + paddle2onnx, ...)."""
        return registry.get(model.source.library).tools_for(model)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        source = model.source
        fields: dict[str, Any] = {
            "model": model.id,  # stamped into the ONNX file's metadata
            "library": source.library,
            "arch": source.arch,
            "entrypoint": source.entrypoint,
            "weights_format": None if _random_init(model, options) or model.weights is None
            else model.weights.format,
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
        if model.deploy.frontend != Frontend.onnx:  # only then: the keys of ONNX-only models stay as they were
            fields["frontend"] = model.deploy.frontend.value
        code = registry.get(source.library).code_digest(model)
        if code is not None:  # user code the conversion runs (only then: other keys stay as they were)
            fields["code"] = code
        return fields

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        from zoo.sources.common import weights_label

        weights = None if _random_init(model, options) else inputs.get("weights")
        if weights is None and not options.random_weights:
            raise ConversionError(
                f"{model.id} has no weights to convert (its manifest has no `weights`); "
                "sync it with --random-weights"
            )
        out = workdir / f"{model.stem}.raw.onnx"
        request = ConvertRequest(model, weights, out, options.seed, validation_inputs(model, options.seed))
        library = registry.get(model.source.library)
        try:
            result = library.convert(request)
        except ModuleNotFoundError as exc:  # the one place a missing framework is explained
            from zoo.sources.install import missing_module

            raise missing_module(library.name, library.extra, exc) from exc
        warnings = list(result.warnings)
        if result.random_weights:
            warnings.append(f"random weights (seed {options.seed}): the ONNX is untrained, for pipeline checks only")
        torchscript = {TORCHSCRIPT: result.torchscript} if result.torchscript else {}
        return StepResult(
            outputs={RAW_ONNX: result.onnx, REFERENCE: result.reference, **torchscript},
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


def validation_inputs(model: Model, seed: int) -> ValidationInputs:
    """The photograph preprocessed as the manifest says, then seeded random inputs: [K, C, H, W]."""
    import numpy as np
    from PIL import Image

    from zoo.measure.preprocess import source_pipeline

    with Image.open(PHOTO) as image:
        photo = source_pipeline(image, model)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((RANDOM_INPUTS, *model.input_size), dtype=np.float32)
    names = (f"photo:{PHOTO.name}", *(f"random:{seed}:{i}" for i in range(RANDOM_INPUTS)))
    return ValidationInputs(names, np.concatenate([photo[None], noise]).astype(np.float32))


def _random_init(model: Model, options: RunOptions) -> bool:
    """`--random-weights` replaces a download for every library that builds an architecture; for
    one that does not (the file *is* the model), the file is still fetched and used as it is."""
    return options.random_weights and registry.get(model.source.library).builds_architecture
