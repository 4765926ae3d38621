"""What every converter shares: the reference outputs, the ONNX stamp, checkpoint checks.

A converter has the source framework's model in memory only while it runs, and the
validate step runs later (possibly in another process). So right after exporting, each
converter also runs the *source framework* on the validation inputs it was handed — a real
photograph preprocessed exactly as the manifest says, plus seeded random inputs — and saves
the inputs and logits next to the ONNX file (``<model stem>.reference.npz``). Validation then
compares ONNX Runtime against that file; steps exchange files only.

Framework imports (torch, paddle, onnx) stay inside functions: importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from zoo import onnxfile
from zoo.atomic import atomic_path
from zoo.errors import ConversionError
from zoo.sources.base import ConvertRequest, ConvertResult

if TYPE_CHECKING:
    import numpy as np

    from zoo.manifest.schema import Model


#: Images in the one seeded random batch that sets BatchNorm statistics of random weights.
CALIBRATION_BATCH = 4
#: Input/output names of graphs exported from PyTorch (the published timm recipe uses `input`).
TORCH_INPUT = "input"
TORCH_OUTPUT = "output"
#: Keys of the ONNX `metadata_props` a converter stamps, so the file says where it came from.
META_MODEL = "zoo.model"
META_PARAMS = "zoo.params"
META_WEIGHTS = "zoo.weights"
#: How many key names a checkpoint-mismatch message lists before summarising.
SHOWN_KEYS = 12


def tool_versions(*distributions: str) -> dict[str, str]:
    """Installed versions of the named distributions (those not installed are left out)."""
    versions: dict[str, str] = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def reference_path(model: Model, onnx_path: Path) -> Path:
    """Where a converter saves the source framework's outputs: `<model stem>.reference.npz` beside the ONNX."""
    return onnx_path.with_name(f"{model.stem}.reference.npz")


def torchscript_path(model: Model, onnx_path: Path) -> Path:
    """Where a torch converter saves the TorchScript file (`deploy.frontend: pytorch`): `<model stem>.torchscript.pt` beside the ONNX."""
    return onnx_path.with_name(f"{model.stem}.torchscript.pt")


def weights_label(weights: Path | None, seed: int) -> str:
    """How the ONNX metadata and the record describe the weights."""
    if weights is None:
        return f"random initialisation (seed {seed}); untrained, never report accuracy"
    return weights.name


def calibration_batch(model: Model, seed: int) -> np.ndarray:
    """The seeded standard-normal batch [CALIBRATION_BATCH, C, H, W] setting random weights' BatchNorm statistics.

    Seeded initialisation leaves BatchNorm at mean 0 / variance 1, i.e. no normalisation at
    all: activations of deep networks then grow layer after layer (logits of 1e5 and more),
    attention softmaxes saturate, and validating such a graph measures float32 rounding
    rather than the conversion. One forward pass in training mode on this batch sets the
    statistics, and each channel's variance is then kept at 1 or more, so that BatchNorm
    only ever shrinks activations: a channel that happened to be nearly constant on this
    batch would otherwise multiply float32 rounding by up to 1/sqrt(eps) = 316 per layer.
    Random weights then behave numerically like trained ones (logits of order 1), and
    validation keeps its meaning. Seeded, so the weights are still reproducible.
    """
    import numpy as np

    rng = np.random.default_rng([seed, 1])
    return rng.standard_normal((CALIBRATION_BATCH, *model.input_size), dtype=np.float32)


def write_reference(forward: Callable[[np.ndarray], np.ndarray], request: ConvertRequest) -> Path:
    """Run the source framework (`forward`: [1,C,H,W] -> logits) on the validation inputs and save them.

    Inputs go through one at a time (batch 1), as the exported graph will be fed.
    """
    import numpy as np

    inputs = request.inputs.array
    logits = np.stack([np.asarray(forward(inputs[i : i + 1]), dtype=np.float32)[0] for i in range(len(inputs))])
    target = reference_path(request.model, request.out)
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, names=np.asarray(request.inputs.names), inputs=inputs, logits=logits)
    return target


def stamp(request: ConvertRequest, params: int) -> None:
    """Write the model id, parameter count and weights origin into the metadata of the ONNX file written.

    Random weights are thereby recorded in the output itself, not only in the record.
    """
    import onnx

    proto = onnx.load(str(request.out))
    label = weights_label(request.weights, request.seed)
    onnxfile.set_metadata(proto, {META_MODEL: request.model.id, META_PARAMS: str(params), META_WEIGHTS: label})
    onnxfile.save(proto, request.out)


def finish(request: ConvertRequest, forward: Callable[[np.ndarray], np.ndarray], *, params: int, opset: int,
           tools: tuple[str, ...], warnings: tuple[str, ...] = (), torchscript: Path | None = None) -> ConvertResult:
    """What every converter does once its ONNX file is written: save the source framework's reference
    outputs, stamp the file's metadata, and describe the result (input/output names read from the file)."""
    reference = write_reference(forward, request)
    stamp(request, params)
    input_name, output_name = onnxfile.io_names(request.out)
    return ConvertResult(onnx=request.out, reference=reference, input_name=input_name, output_name=output_name,
                         params=params, opset=opset, random_weights=request.weights is None,
                         tool_versions=tool_versions(*tools), warnings=warnings, torchscript=torchscript)


def check_fits(expected: dict[str, tuple[int, ...]], given: dict[str, tuple[int, ...]], path: Path) -> None:
    """Raise `ConversionError` listing the missing, unexpected and mis-shaped keys of a checkpoint.

    `expected` and `given` map parameter names to shapes (the model's and the checkpoint's).
    Shared by the PyTorch and Paddle loaders: a checkpoint must fit exactly.
    """
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mis_shaped = sorted(
        f"{k} (checkpoint {given[k]}, model {expected[k]})"
        for k in set(given) & set(expected)
        if given[k] != expected[k]
    )
    parts = [
        _listing("missing keys", missing),
        _listing("unexpected keys", unexpected),
        _listing("shape mismatches", mis_shaped),
    ]
    problem = "; ".join(p for p in parts if p)
    if problem:
        raise ConversionError(
            f"{path}: does not fit the architecture: {problem}. "
            "Check `source.arch` and `num_classes` in the manifest against the checkpoint."
        )


def _listing(what: str, keys: list[str]) -> str:
    if not keys:
        return ""
    shown = ", ".join(keys[:SHOWN_KEYS])
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return f"{len(keys)} {what}: {shown}{more}"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for error messages that stay readable."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
