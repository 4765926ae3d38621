"""How big and how costly a model is — one definition each, reproducible from the exported graph.

Definitions (the docs state them next to the numbers):

- **params**: the number of elements in the model's parameter tensors, *as the source
  framework counts them* (`sum(p.numel() for p in module.parameters())` in PyTorch, where
  BatchNorm running statistics are buffers and not counted; `layer.parameters()` in Paddle,
  where they are parameters and are counted, as PaddleClas tables do). The converter counts
  them and stamps the number into the ONNX metadata (``zoo.params``).
- **MACs**: multiply-accumulate operations of one image (batch 1) at the manifest's input
  size, summed over the graph's Conv, ConvTranspose, Gemm and MatMul nodes, with tensor
  shapes from ONNX shape inference. Element-wise operations, activations, pooling and
  normalisation are not counted.
- **FLOPs** = 2 x MACs (one multiply plus one add). ``flops_g`` is FLOPs / 1e9.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from zoo import onnxfile
from zoo.errors import MeasureError

#: The node types whose multiply-accumulates are counted.
COUNTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def flops_g(macs: int) -> float:
    """GFLOPs from MACs: FLOPs = 2 x MACs, in units of 1e9."""
    return 2 * macs / 1e9


def count_macs(onnx_path: Path, input_shape: list[int]) -> int:
    """MACs of the graph at `input_shape` ([1, C, H, W]) over Conv/ConvTranspose/Gemm/MatMul nodes."""
    import onnx

    proto = onnx.load(str(onnx_path))
    _drop_weight_values(proto)
    _pin_input(proto, input_shape)
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    shapes = _known_shapes(inferred.graph)
    total = 0
    for node in inferred.graph.node:
        if node.op_type in COUNTED_OPS:
            total += _node_macs(node, shapes, onnx_path)
    return total


def _drop_weight_values(proto: Any) -> None:
    """Forget the values of large float initializers: counting needs their shapes only, and shape
    inference copies the whole model (for a 100 MB graph, most of the time spent). Small tensors,
    such as the shapes a Reshape reads, keep their values for data propagation."""
    import onnx

    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}
    for tensor in proto.graph.initializer:
        if tensor.data_type in floats and (len(tensor.raw_data) > _KEEP_BYTES or len(tensor.float_data) > _KEEP_BYTES):
            tensor.ClearField("raw_data")
            tensor.ClearField("float_data")


#: Initializers up to this many bytes (or values) keep their data while MACs are counted.
_KEEP_BYTES = 4096


def _node_macs(node: Any, shapes: dict[str, list[int]], onnx_path: Path) -> int:
    def shape(name: str) -> list[int]:
        found = shapes.get(name)
        if found is None:
            raise MeasureError(
                f"{onnx_path}: cannot count MACs: the shape of `{name}` (input/output of "
                f"{node.op_type} node {node.name!r}) is not known after ONNX shape inference"
            )
        return found

    if node.op_type == "Conv":
        # every output element takes (C_in / group) * kH * kW multiply-accumulates
        return math.prod(shape(node.output[0])) * math.prod(shape(node.input[1])[1:])
    if node.op_type == "ConvTranspose":
        # every input element is spread over (C_out / group) * kH * kW outputs
        return math.prod(shape(node.input[0])) * math.prod(shape(node.input[1])[1:])
    if node.op_type == "Gemm":
        trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
        a = shape(node.input[0])
        inner = a[0] if trans_a else a[1]
        return math.prod(shape(node.output[0])) * inner
    # MatMul (numpy semantics): every output element is a dot product over A's last axis
    return math.prod(shape(node.output[0])) * shape(node.input[0])[-1]


def _pin_input(proto: Any, input_shape: list[int]) -> None:
    """Set the (single) real input's shape to `input_shape`, so a dynamic batch is measured at 1."""
    value = onnxfile.real_inputs(proto.graph)[0]
    dims = value.type.tensor_type.shape.dim
    del dims[:]
    for size in input_shape:
        dims.add().dim_value = size


def _known_shapes(graph: Any) -> dict[str, list[int]]:
    """Fully known shapes of every value in the graph: inputs, outputs, inferred values, initialisers."""
    shapes: dict[str, list[int]] = {t.name: list(t.dims) for t in graph.initializer}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if all(d is not None for d in dims):
            shapes[value.name] = dims  # type: ignore[assignment]
    for node in graph.node:
        if node.op_type == "Constant":
            tensor = next((a.t for a in node.attribute if a.name == "value"), None)
            if tensor is not None:
                shapes[node.output[0]] = list(tensor.dims)
    return shapes

