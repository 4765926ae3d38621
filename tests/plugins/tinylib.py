"""tinylib: a source library kept outside zoo, registered by the tests through $ZOO_SOURCES.

A complete example of a plugin library. Its architectures are `tinyN`: a 3x3 convolution with
N filters, ReLU, global average pooling and a linear head. Its weights come as `.npz` files
(a format no built-in library loads), its "framework" is numpy — `forward` below computes the
reference logits — and its converter builds the ONNX graph with `onnx.helper`. Like every
library it imports numpy and onnx only when converting, so `zoo lint` stays light.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.base import ConvertRequest, ConvertResult, SourceLibrary
from zoo.sources.common import check_fits, finish
from zoo.sources.transform import TORCHVISION_RULES

if TYPE_CHECKING:
    import numpy as np

#: Folder where each conversion leaves a marker file, when set: lets tests count conversions
#: across processes and machines (a cluster test asks "was this model converted once?").
MARKERS_ENV = "TINYLIB_MARKERS"
#: Seconds a conversion of a model whose name starts with `slow` takes, when set (so that a test
#: can kill the process converting it); it first leaves a `started-<name>-<pid>` marker.
SLOW_ENV = "TINYLIB_SLOW_SECONDS"
#: Architecture names: `tiny` and the number of convolution filters.
ARCH = re.compile(r"^tiny([1-9][0-9]*)$")
INPUT_NAME = "pixels"
OUTPUT_NAME = "logits"
#: The arrays a weights file holds: convolution, then linear head (PyTorch's layouts).
KEYS = ("conv_w", "conv_b", "fc_w", "fc_b")


class TinyLib(SourceLibrary):
    name = "tinylib"
    weight_formats = frozenset({"npz"})
    default_opset = 13
    input_name = INPUT_NAME
    eval_rules = TORCHVISION_RULES
    tools = ("numpy", "onnx")

    def check(self, model: Model) -> list[str]:
        if not ARCH.match(model.source.arch or ""):
            return [f"tinylib architectures are named tinyN (N convolution filters), not {model.source.arch!r}"]
        return []

    def convert(self, request: ConvertRequest) -> ConvertResult:
        """Load (or draw, seeded) the weights, write the ONNX graph, then the numpy reference."""
        from zoo import onnxfile

        model = request.model
        shapes = expected_shapes(model)
        weights = load(request.weights, shapes) if request.weights else random_weights(shapes, request.seed)
        onnxfile.save(graph(model, weights), request.out)
        _count_conversion(model)
        return finish(request, lambda batch: forward(weights, batch), params=sum(a.size for a in weights.values()),
                      opset=model.opset, tools=self.tools)


def expected_shapes(model: Model) -> dict[str, tuple[int, ...]]:
    match = ARCH.match(model.source.arch or "")
    assert match is not None, "checked when the manifest was validated"
    filters, channels = int(match.group(1)), model.input_size[0]
    return {"conv_w": (filters, channels, 3, 3), "conv_b": (filters,),
            "fc_w": (model.num_classes, filters), "fc_b": (model.num_classes,)}


def load(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` weights file (no pickles), which must fit the architecture exactly."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key].astype(np.float32) for key in archive.files}
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{path}: not a readable .npz file: {exc}") from exc
    check_fits(shapes, {key: array.shape for key, array in arrays.items()}, path)
    return arrays


def random_weights(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """He-initialised convolution and head, zero biases: logits of order 1 on normalised inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = {}
    for key, shape in shapes.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = np.sqrt(2.0 / fan_in) if key.endswith("_w") else 0.0
        weights[key] = (rng.standard_normal(shape) * scale).astype(np.float32)
    return weights


def forward(weights: dict[str, np.ndarray], batch: np.ndarray) -> np.ndarray:
    """tinylib's own forward pass in numpy: [N, C, H, W] -> logits [N, classes]."""
    import numpy as np

    padded = np.pad(batch, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # N, C, H, W, 3, 3
    features = np.einsum("nchwij,fcij->nfhw", windows, weights["conv_w"]) + weights["conv_b"][:, None, None]
    pooled = np.maximum(features, 0).mean(axis=(2, 3))
    return pooled @ weights["fc_w"].T + weights["fc_b"]


def graph(model: Model, weights: dict[str, np.ndarray]) -> object:
    """The ONNX graph Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm at the model's opset."""
    from onnx import TensorProto, helper, numpy_helper

    batch: int | str = "batch" if model.deploy.dynamic_batch else 1
    nodes = [
        helper.make_node("Conv", [INPUT_NAME, "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], [OUTPUT_NAME], transB=1),
    ]
    body = helper.make_graph(
        nodes, "tinylib",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [batch, *model.input_size])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [batch, model.num_classes])],
        initializer=[numpy_helper.from_array(weights[key], key) for key in KEYS],
    )
    return helper.make_model(body, opset_imports=[helper.make_opsetid("", model.opset)])


LIBRARY = TinyLib()


def _count_conversion(model: Model) -> None:
    """Leave a marker for this conversion in $TINYLIB_MARKERS, if the tests set it (and dawdle first
    for `slow*` models when $TINYLIB_SLOW_SECONDS says so)."""
    import os
    import time
    import uuid

    folder = os.environ.get(MARKERS_ENV)
    if not folder:
        return
    if model.name.startswith("slow") and os.environ.get(SLOW_ENV):
        Path(folder, f"started-{model.name}-{os.getpid()}").touch()
        time.sleep(float(os.environ[SLOW_ENV]))
    Path(folder, f"convert-{model.name}-{uuid.uuid4().hex}").touch()
