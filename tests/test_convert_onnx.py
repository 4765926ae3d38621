"""onnx converter: an ONNX file checked, converted to the requested opset, and validated against itself."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from tests.entrypoints.tiny_net import build
from tests.factories import RANDOM, WITH_WEIGHTS, make_model, run_convert, run_pipeline
from zoo.errors import ConversionError


def _onnx_file(path: Path, opset: int) -> Path:
    torch.manual_seed(2)
    module = build(num_classes=10).eval()
    torch.onnx.export(module, (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False,
                      input_names=["images"], output_names=["scores"], opset_version=opset)
    return path


def _model(**extra: object):  # type: ignore[no-untyped-def]
    weights = {"url": "https://example.org/tiny.onnx", "format": "onnx"}
    return make_model("onnx", "tiny", weights=weights, **extra)


def test_onnx_file_is_converted_to_the_requested_opset(tmp_path: Path) -> None:
    given = _onnx_file(tmp_path / "tiny.onnx", opset=11)
    results = run_pipeline(_model(deploy={"opset": 13}), tmp_path / "run", WITH_WEIGHTS, given)
    raw = onnx.load(str(results["convert"].outputs["raw_onnx"]))
    assert raw.opset_import[0].version == 13
    assert results["convert"].metrics["opset"] == 13
    assert results["convert"].metrics["input_name"] == "images"
    assert results["validate"].metrics["max_abs"] <= 1e-5
    assert any("opset converted from 11 to 13" in w for w in results["convert"].warnings)


def test_impossible_opset_conversion_is_explained(tmp_path: Path) -> None:
    given = _onnx_file(tmp_path / "tiny.onnx", opset=13)
    with pytest.raises(ConversionError, match="cannot take the graph from opset 13 to 11.*remove `deploy.opset`"):
        run_convert(_model(deploy={"opset": 11}), tmp_path / "run", WITH_WEIGHTS, given)


def test_onnx_file_keeps_its_opset_unless_asked(tmp_path: Path) -> None:
    given = _onnx_file(tmp_path / "tiny.onnx", opset=12)
    convert = run_convert(_model(), tmp_path / "run", WITH_WEIGHTS, given)
    assert onnx.load(str(convert.outputs["raw_onnx"])).opset_import[0].version == 12


def test_broken_onnx_file_is_a_clear_error(tmp_path: Path) -> None:
    given = _onnx_file(tmp_path / "tiny.onnx", opset=12)
    given.write_bytes(given.read_bytes()[:200])
    with pytest.raises(ConversionError, match=r"tiny\.onnx: not a valid ONNX model"):
        run_convert(_model(), tmp_path / "run", WITH_WEIGHTS, given)


def test_random_weights_cannot_apply_to_an_onnx_source(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="no architecture to initialise"):
        run_convert(_model(), tmp_path)


def test_random_weights_still_fetch_and_use_an_onnx_source(tmp_path: Path) -> None:
    """`--random-weights` replaces downloads of architectures; an ONNX file is the model itself."""
    from zoo.pipeline.steps.fetch import FetchStep

    model = _model()
    assert FetchStep().applies(model, RANDOM)
    assert not FetchStep().applies(make_model("timm", "test_resnet", weights={
        "url": "https://example.org/t.pth", "format": "pth"}), RANDOM)
    given = _onnx_file(tmp_path / "tiny.onnx", opset=12)
    convert = run_convert(model, tmp_path / "run", RANDOM, given)
    assert convert.metrics["random_weights"] is False
    assert convert.metrics["input_name"] == "images"
