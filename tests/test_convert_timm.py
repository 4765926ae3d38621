"""timm converter: random weights, real checkpoints (.pth with wrappers, .safetensors), and bad checkpoints."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from tests.factories import WITH_WEIGHTS, CodeRunningPickle, make_model, onnx_logits, run_convert, run_pipeline
from zoo.errors import ConversionError
from zoo.onnxfile import read_metadata
from zoo.sources.common import META_WEIGHTS

ARCH = "test_resnet"


def _trained_like(seed: int = 7) -> torch.nn.Module:
    """A test_resnet whose weights differ from the converter's seed-0 init (stands in for trained weights)."""
    import timm

    torch.manual_seed(seed)
    module = timm.create_model(ARCH, pretrained=False, num_classes=10).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so buffers matter
        for layer in module.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.uniform_(-0.1, 0.1)
                layer.running_var.uniform_(0.5, 1.5)
    return module


def test_random_weights_pipeline_passes_and_is_labelled(tmp_path: Path) -> None:
    import timm

    model = make_model("timm", ARCH)
    results = run_pipeline(model, tmp_path)
    convert, simplify, validate = results["convert"], results["simplify"], results["validate"]

    torch.manual_seed(0)
    expected = timm.create_model(ARCH, pretrained=False, num_classes=10)
    params = sum(p.numel() for p in expected.parameters())
    buffers = sum(b.numel() for b in expected.buffers())
    assert buffers > 0 and convert.metrics["params"] == params  # BatchNorm statistics are not parameters
    assert convert.metrics["random_weights"] is True
    assert convert.metrics["input_name"] == "input" and convert.metrics["output_name"] == "output"
    assert "random" in read_metadata(simplify.outputs["onnx"])[META_WEIGHTS]
    assert any("random weights" in w for w in convert.warnings)
    with np.load(convert.outputs["reference"]) as reference:  # BatchNorm calibrated: trained-like magnitudes
        assert 0 < np.abs(reference["logits"]).max() < 100

    raw = onnx.load(str(convert.outputs["raw_onnx"]))
    assert raw.opset_import[0].version == 11
    assert simplify.metrics["simplified"] is True and simplify.metrics["reason"] == "", simplify.metrics["reason"]
    assert simplify.metrics["nodes_after"] <= simplify.metrics["nodes_before"]
    macs = simplify.metrics["macs"]
    assert macs > 0 and simplify.metrics["flops_g"] == pytest.approx(2 * macs / 1e9)
    assert validate.metrics["max_abs"] <= 1e-4 and validate.metrics["top1_agreement"] == 1.0
    assert validate.metrics["inputs"][0] == "photo:chelsea.jpg"


@pytest.mark.parametrize("wrapping", ["state_dict+module", "model", "safetensors"])
def test_checkpoint_is_loaded_and_exported_faithfully(tmp_path: Path, wrapping: str) -> None:
    source = _trained_like()
    state = source.state_dict()
    if wrapping == "safetensors":
        from safetensors.torch import save_file

        weights = tmp_path / "w.safetensors"
        save_file(state, str(weights))
    else:
        weights = tmp_path / "w.pth"
        if wrapping == "model":
            torch.save({"model": state, "epoch": 3}, weights)
        else:
            torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, weights)

    model = make_model("timm", ARCH)
    results = run_pipeline(model, tmp_path / "run", WITH_WEIGHTS, weights)
    assert results["convert"].metrics["random_weights"] is False
    assert read_metadata(results["simplify"].outputs["onnx"])[META_WEIGHTS] == weights.name

    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        want = source(torch.from_numpy(x)).numpy()
    got = onnx_logits(results["simplify"].outputs["onnx"], x)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_corrupted_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    torch.save(_trained_like().state_dict(), weights)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated download
    with pytest.raises(ConversionError, match=r"w\.pth: not a readable PyTorch checkpoint"):
        run_convert(make_model("timm", ARCH), tmp_path / "run", WITH_WEIGHTS, weights)


def test_checkpoint_with_missing_keys_lists_them(tmp_path: Path) -> None:
    state = _trained_like().state_dict()
    del state["fc.weight"], state["fc.bias"]
    state["extra.weight"] = torch.zeros(1)
    weights = tmp_path / "w.pth"
    torch.save(state, weights)
    with pytest.raises(ConversionError) as caught:
        run_convert(make_model("timm", ARCH), tmp_path / "run", WITH_WEIGHTS, weights)
    message = str(caught.value)
    assert "2 missing keys: fc.bias, fc.weight" in message
    assert "1 unexpected keys: extra.weight" in message
    assert not (tmp_path / "run" / "convert" / "timm-test_resnet.raw.onnx").exists()


def test_checkpoint_for_other_num_classes_names_the_shapes(tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    torch.save(_trained_like().state_dict(), weights)  # 10 classes
    with pytest.raises(ConversionError, match=r"shape mismatches: fc\.bias \(checkpoint \(10,\), model \(5,\)\)"):
        run_convert(make_model("timm", ARCH, num_classes=5), tmp_path / "run", WITH_WEIGHTS, weights)


def test_pickle_that_would_run_code_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    weights = tmp_path / "evil.pth"
    with open(weights, "wb") as handle:  # protocol 2, as torch.save writes
        pickle.dump({"state_dict": {"conv.weight": CodeRunningPickle(marker)}}, handle, protocol=2)
    assert not marker.exists()
    refused = r"evil\.pth: refused to load .*asks to import io\.open.* run code"
    with pytest.raises(ConversionError, match=refused):
        run_convert(make_model("timm", ARCH), tmp_path / "run", WITH_WEIGHTS, weights)
    assert not marker.exists()


def test_unknown_architecture_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="timm .* has no architecture 'test_resnet_nope'"):
        run_convert(make_model("timm", "test_resnet_nope"), tmp_path)


def test_dynamic_batch_keeps_the_batch_axis_open(tmp_path: Path) -> None:
    model = make_model("timm", ARCH, deploy={"dynamic_batch": True, "opset": 13})
    results = run_pipeline(model, tmp_path)
    simplified = onnx.load(str(results["simplify"].outputs["onnx"]))
    assert simplified.opset_import[0].version == 13
    batch_axis = simplified.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_axis.dim_param and not batch_axis.HasField("dim_value")
    x = np.random.default_rng(2).standard_normal((3, 3, 64, 64), dtype=np.float32)
    assert onnx_logits(results["simplify"].outputs["onnx"], x).shape == (3, 10)
