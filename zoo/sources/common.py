"""What every converter shares: its result, the reference outputs, and the ONNX stamp.

A converter has the source framework's model in memory only while it runs, and the
validate step runs later (possibly in another process). So right after exporting, each
converter also runs the *source framework* on the validation inputs — a real photograph
preprocessed exactly as the manifest says, plus seeded random inputs — and saves the
inputs and logits next to the ONNX file (``<model stem>.reference.npz``). Validation then
compares ONNX Runtime against that file; steps exchange files only.

Framework imports (torch, paddle, onnx) stay inside functions: importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from zoo import onnxfile
from zoo.atomic import atomic_path
from zoo.errors import ConversionError
from zoo.manifest.schema import Model

if TYPE_CHECKING:
    import numpy as np

#: The real photograph every model is validated on (CC0, see zoo/data/chelsea.LICENSE.txt).
PHOTO = Path(__file__).resolve().parent.parent / "data" / "chelsea.jpg"
#: Seeded random inputs added to the photograph (standard normal in the normalised space).
RANDOM_INPUTS = 2
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


@dataclass(frozen=True)
class ConvertResult:
    """What a converter produced. `params` is counted the way the source framework counts."""

    onnx: Path
    reference: Path
    input_name: str
    output_name: str
    params: int
    opset: int
    random_weights: bool
    tool_versions: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


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


def weights_label(weights: Path | None, seed: int) -> str:
    """How the ONNX metadata and the record describe the weights."""
    if weights is None:
        return f"random initialisation (seed {seed}); untrained, never report accuracy"
    return weights.name


def validation_inputs(model: Model, seed: int) -> tuple[list[str], np.ndarray]:
    """The photograph preprocessed as the manifest says, then seeded random inputs: [K, C, H, W]."""
    import numpy as np
    from PIL import Image

    from zoo.measure.preprocess import source_pipeline

    with Image.open(PHOTO) as image:
        photo = source_pipeline(image, model)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((RANDOM_INPUTS, *model.input_size), dtype=np.float32)
    names = [f"photo:{PHOTO.name}"] + [f"random:{seed}:{i}" for i in range(RANDOM_INPUTS)]
    return names, np.concatenate([photo[None], noise]).astype(np.float32)


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


def write_reference(
    forward: Callable[[np.ndarray], np.ndarray], model: Model, onnx_path: Path, seed: int
) -> Path:
    """Run the source framework (`forward`: [1,C,H,W] -> logits) on the validation inputs and save them.

    Inputs go through one at a time (batch 1), as the exported graph will be fed.
    """
    import numpy as np

    names, inputs = validation_inputs(model, seed)
    logits = np.stack([np.asarray(forward(inputs[i : i + 1]), dtype=np.float32)[0] for i in range(len(inputs))])
    target = reference_path(model, onnx_path)
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, names=np.asarray(names), inputs=inputs, logits=logits)
    return target


def stamp(onnx_path: Path, model: Model, params: int, weights: Path | None, seed: int) -> None:
    """Write the model id, parameter count and weights origin into the ONNX file's metadata.

    Random weights are thereby recorded in the output itself, not only in the record.
    """
    import onnx

    proto = onnx.load(str(onnx_path))
    values = {META_MODEL: model.id, META_PARAMS: str(params), META_WEIGHTS: weights_label(weights, seed)}
    onnxfile.set_metadata(proto, values)
    onnxfile.save(proto, onnx_path)














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
