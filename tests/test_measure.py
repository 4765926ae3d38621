"""MACs counted from ONNX graphs: a hand-built graph with hand-computed numbers, and a real model
against an independent count taken from PyTorch itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.factories import make_model, run_convert, run_simplify
from zoo.errors import MeasureError
from zoo.measure.macs import count_macs, flops_g


def _weight(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def _hand_built(path: Path, batch: int | str = 1) -> Path:
    """Conv, grouped strided Conv, ConvTranspose, Gemm, MatMul and a batched MatMul on a 1x3x8x8 input."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["y1"], pads=[1, 1, 1, 1]),  # -> 1x4x8x8
        helper.make_node("Conv", ["y1", "w2"], ["y2"], group=2, strides=[2, 2], pads=[1, 1, 1, 1]),  # -> 1x4x4x4
        helper.make_node("ConvTranspose", ["y2", "w3"], ["y3"], strides=[2, 2]),  # -> 1x2x8x8
        helper.make_node("Flatten", ["y3"], ["f"]),  # -> 1x128
        helper.make_node("Gemm", ["f", "w4"], ["g"], transB=1),  # -> 1x10
        helper.make_node("MatMul", ["g", "w5"], ["m"]),  # -> 1x6
        helper.make_node("MatMul", ["y2", "w6"], ["b"]),  # -> 1x4x4x5
        helper.make_node("Relu", ["m"], ["out"]),  # not counted
    ]
    graph = helper.make_graph(
        nodes,
        "hand_built",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, None),
        ],
        initializer=[
            _weight("w1", 4, 3, 3, 3),
            _weight("w2", 4, 2, 3, 3),
            _weight("w3", 4, 2, 2, 2),
            _weight("w4", 10, 128),
            _weight("w5", 10, 6),
            _weight("w6", 4, 5),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


# Hand computation, one line per counted node:
HAND_MACS = (
    (4 * 8 * 8) * (3 * 3 * 3)  # Conv: output elements x (C_in / group) x kH x kW = 6912
    + (4 * 4 * 4) * (2 * 3 * 3)  # grouped Conv: 64 outputs x (4 / 2) x 3 x 3 = 1152
    + (4 * 4 * 4) * (2 * 2 * 2)  # ConvTranspose: input elements x (C_out / group) x kH x kW = 512
    + 10 * 128  # Gemm: M x N x K = 1280
    + 6 * 10  # MatMul: output elements x K = 60
    + (4 * 4 * 5) * 4  # batched MatMul: output elements x K = 320
)


def test_hand_built_graph(tmp_path: Path) -> None:
    assert HAND_MACS == 10236
    assert count_macs(_hand_built(tmp_path / "g.onnx"), [1, 3, 8, 8]) == HAND_MACS
    assert flops_g(HAND_MACS) == pytest.approx(2 * 10236 / 1e9)


def test_dynamic_batch_is_measured_at_batch_one(tmp_path: Path) -> None:
    assert count_macs(_hand_built(tmp_path / "g.onnx", batch="N"), [1, 3, 8, 8]) == HAND_MACS


def test_unknown_shapes_are_an_error_not_an_undercount(tmp_path: Path) -> None:
    weight = _weight("w", 4, 3, 3, 3)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"]), helper.make_node("NoSuchOp", ["y"], ["z"], domain="custom"),
         helper.make_node("MatMul", ["z", "z"], ["out"])],
        "unknown",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        initializer=[weight],
    )
    path = tmp_path / "u.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("custom", 1)])
    onnx.save(model, str(path))
    with pytest.raises(MeasureError, match=r"cannot count MACs: the shape of `(z|out)`"):
        count_macs(path, [1, 3, 8, 8])


def test_real_model_matches_a_count_taken_in_pytorch(tmp_path: Path) -> None:
    """The graph count equals what forward hooks on every Conv2d/Linear of the source module add up."""
    import torch
    import torchvision

    model = make_model("torchvision", "resnet18", input_size=112)
    simplify = run_simplify(model, tmp_path, run_convert(model, tmp_path))

    torch.manual_seed(0)
    module = torchvision.models.get_model("resnet18", weights=None, num_classes=10).eval()
    counted: list[int] = []

    def hook(layer: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
        if isinstance(layer, torch.nn.Conv2d):
            kernel = layer.kernel_size[0] * layer.kernel_size[1]
            counted.append(output.numel() * (layer.in_channels // layer.groups) * kernel)
        else:
            counted.append(output.numel() * layer.in_features)

    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            layer.register_forward_hook(hook)
    with torch.no_grad():
        module(torch.zeros(1, 3, 112, 112))

    assert simplify.metrics["macs"] == sum(counted)
    assert simplify.metrics["params"] == sum(p.numel() for p in module.parameters())
    assert simplify.metrics["params_m"] == pytest.approx(sum(p.numel() for p in module.parameters()) / 1e6)
