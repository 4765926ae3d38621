"""Blocking validation and honest simplification: graphs made wrong on purpose must be caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from tests.factories import make_model, run_convert, run_simplify, run_validate
from zoo.errors import StepError, ValidationFailed
from zoo.measure.simplify import simplify
from zoo.measure.validate import compare
from zoo.pipeline.steps.base import StepResult

ARCH = "test_resnet"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> StepResult:
    """One honest timm conversion (random weights, seed 0), shared read-only by the tests."""
    return run_convert(make_model("timm", ARCH), tmp_path_factory.mktemp("honest"))


def _copy(converted: StepResult, root: Path) -> StepResult:
    """A private copy of the convert step's outputs that a test may tamper with."""
    folder = root / "convert"
    folder.mkdir(parents=True)
    outputs = {name: Path(shutil.copy(path, folder / path.name)) for name, path in converted.outputs.items()}
    return StepResult(outputs=outputs, metrics=dict(converted.metrics))


def _perturb(path: Path, amount: float) -> None:
    """Add `amount` to the classifier bias of the graph at `path` (a weight changed on the way)."""
    proto = onnx.load(str(path))
    bias = next(t for t in proto.graph.initializer if t.name.endswith("fc.bias"))
    values = numpy_helper.to_array(bias).copy()
    values[0] += amount
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    onnx.save(proto, str(path))


def test_honest_conversion_passes(converted: StepResult, tmp_path: Path) -> None:
    model = make_model("timm", ARCH)
    convert = _copy(converted, tmp_path)
    result = run_validate(model, tmp_path, convert, run_simplify(model, tmp_path, convert))
    assert result.metrics["max_abs"] <= 1e-4 and result.metrics["cosine"] > 0.999999
    assert result.metrics["simplified_vs_raw"]["max_abs"] <= 1e-5
    assert result.metrics["thresholds"] == {"atol": 1e-4, "rtol": 1e-3, "min_top1_agreement": 1.0}


def test_normalisation_baked_in_twice_is_caught(converted: StepResult, tmp_path: Path) -> None:
    """A converter that folds mean/std into the graph although the deploy toolchain already applies them."""
    import timm

    from zoo.sources.torch_export import calibrate_batchnorm

    model = make_model("timm", ARCH)
    torch.manual_seed(0)  # the converter's seeded initialisation: same weights as the reference
    network = timm.create_model(ARCH, pretrained=False, num_classes=10)
    calibrate_batchnorm(network, model, 0)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    class NormaliseAgain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.network((x - mean) / std)

    def export_as_raw(module: torch.nn.Module, root: Path) -> StepResult:
        convert = _copy(converted, root)
        torch.onnx.export(module.eval(), (torch.zeros(1, 3, 64, 64),), str(convert.outputs["raw_onnx"]),
                          dynamo=False, input_names=["input"], output_names=["output"], opset_version=11)
        return convert

    control = export_as_raw(network, tmp_path / "control")  # the same weights exported honestly pass
    run_validate(model, tmp_path / "control", control, run_simplify(model, tmp_path / "control", control))

    convert = export_as_raw(NormaliseAgain(), tmp_path / "twice")
    simplified = run_simplify(model, tmp_path / "twice", convert)
    with pytest.raises(ValidationFailed) as caught:
        run_validate(model, tmp_path / "twice", convert, simplified)
    message = str(caught.value)
    assert "ONNX Runtime (simplified graph) vs the source framework disagree" in message
    assert "abs error" in message and "(atol 0.0001 + 1e-06 x largest |logit|)" in message


def test_perturbed_weight_is_caught(converted: StepResult, tmp_path: Path) -> None:
    model = make_model("timm", ARCH)
    convert = _copy(converted, tmp_path)
    _perturb(convert.outputs["raw_onnx"], 1e-3)
    simplified = run_simplify(model, tmp_path, convert)
    with pytest.raises(ValidationFailed, match=r"abs error 0\.001 on .* > its limit 0\.0001"):
        run_validate(model, tmp_path, convert, simplified)


def test_relaxed_thresholds_need_and_carry_a_reason(converted: StepResult, tmp_path: Path) -> None:
    reason = "fp16 weights upstream; logits differ by up to 1e-3"
    model = make_model("timm", ARCH, validate={"atol": 1e-2, "rtol": 0.5, "reason": reason})
    convert = _copy(converted, tmp_path)
    _perturb(convert.outputs["raw_onnx"], 1e-3)
    result = run_validate(model, tmp_path, convert, run_simplify(model, tmp_path, convert))
    assert result.metrics["max_abs"] == pytest.approx(1e-3, rel=1e-3)
    assert result.metrics["reason"] == reason
    assert result.warnings == [f"validation thresholds relaxed: {reason}"]


def test_simplified_graph_must_match_the_raw_one(converted: StepResult, tmp_path: Path) -> None:
    model = make_model("timm", ARCH)
    convert = _copy(converted, tmp_path)
    simplified = run_simplify(model, tmp_path, convert)
    _perturb(convert.outputs["raw_onnx"], 1e-2)  # raw changed after simplification: the two now differ
    with pytest.raises(ValidationFailed, match="simplified graph vs raw graph disagree"):
        run_validate(model, tmp_path, convert, simplified)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_classes": 12}, r"output `output` has shape \[1, 10\], the manifest says \[1, 12\]"),
        ({"input_size": 72}, r"input `input` has shape \[1, 3, 64, 64\], the manifest says \[1, 3, 72, 72\]"),
        ({"deploy": {"dynamic_batch": True}}, r"the manifest says \[batch \(dynamic\), 3, 64, 64\]"),
    ],
)
def test_signature_is_checked_against_the_manifest(
    converted: StepResult, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    convert = _copy(converted, tmp_path)
    simplified = run_simplify(make_model("timm", ARCH), tmp_path, convert)
    with pytest.raises(ValidationFailed, match=message):
        run_validate(make_model("timm", ARCH, **change), tmp_path, convert, simplified)


def test_checker_failure_is_reported(converted: StepResult, tmp_path: Path) -> None:
    model = make_model("timm", ARCH)
    convert = _copy(converted, tmp_path)
    simplified = run_simplify(model, tmp_path, convert)
    proto = onnx.load(str(simplified.outputs["onnx"]))
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 11  # declared shape contradicts the graph
    onnx.save(proto, str(simplified.outputs["onnx"]))
    with pytest.raises(ValidationFailed, match=r"fails onnx\.checker \(full check\)"):
        run_validate(model, tmp_path, convert, simplified)


def test_simplify_timeout_keeps_the_raw_graph_and_says_so(converted: StepResult, tmp_path: Path) -> None:
    raw = converted.outputs["raw_onnx"]
    outcome = simplify(raw, tmp_path / "out.onnx", input_name="input", input_shape=[1, 3, 64, 64],
                       dynamic_batch=False, timeout=0.01)
    assert outcome.simplified is False
    assert "did not finish within 0.01 s" in outcome.reason
    assert outcome.path.read_bytes() == raw.read_bytes()
    assert outcome.nodes_after == outcome.nodes_before


def test_simplify_timeout_comes_from_the_environment(converted: StepResult, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    raw = converted.outputs["raw_onnx"]
    monkeypatch.setenv("ZOO_SIMPLIFY_TIMEOUT", "0.01")
    outcome = simplify(raw, tmp_path / "out.onnx", input_name="input", input_shape=[1, 3, 64, 64], dynamic_batch=False)
    assert outcome.simplified is False and "did not finish within 0.01 s" in outcome.reason
    for wrong in ("ten", "-5", "0"):
        monkeypatch.setenv("ZOO_SIMPLIFY_TIMEOUT", wrong)
        with pytest.raises(StepError, match=rf"\$ZOO_SIMPLIFY_TIMEOUT='{wrong}' is not a positive number of seconds"):
            simplify(raw, tmp_path / "out.onnx", input_name="input", input_shape=[1, 3, 64, 64], dynamic_batch=False)


def test_simplify_failure_keeps_the_raw_graph_and_says_why(converted: StepResult, tmp_path: Path) -> None:
    raw = converted.outputs["raw_onnx"]
    outcome = simplify(raw, tmp_path / "out.onnx", input_name="no_such_input", input_shape=[1, 3, 64, 64],
                       dynamic_batch=False)
    assert outcome.simplified is False and outcome.reason.startswith("onnxsim failed: ")
    assert outcome.path.read_bytes() == raw.read_bytes()


def test_top1_agreement_counts_ties_within_atol_as_agreement() -> None:
    expected = np.array([[1.0, 1.0 + 5e-5, 0.0, -1.0, -2.0, -3.0]])
    tied = np.array([[1.0 + 6e-5, 1.0, 0.0, -1.0, -2.0, -3.0]])  # picks class 0, within atol of class 1
    assert compare(expected, tied, ["x"], atol=1e-4).top1_agreement == 1.0
    swapped = np.array([[1.0, 0.9, 0.0, -1.0, -2.0, -3.0]])
    expected_clear = np.array([[0.9, 1.0, 0.0, -1.0, -2.0, -3.0]])
    assert compare(expected_clear, swapped, ["x"], atol=1e-4).top1_agreement == 0.0
    parity = compare(expected_clear, swapped, ["x"], atol=1e-4)
    assert parity.max_abs == pytest.approx(0.1) and parity.max_rel == pytest.approx(0.1 / 4.0)
    assert parity.abs_limit == pytest.approx(1e-4 + 1e-6 * 3.0)  # largest |logit| is 3


def test_absolute_limit_grows_with_float32_resolution_only() -> None:
    """Logits of 1500 (seeded random weights) differ by float32 rounding: allowed; trained-size ones are not."""
    large = np.linspace(-1500.0, 1500.0, 10)[None]
    assert compare(large, large + 6e-4, ["x"], atol=1e-4).abs_ratio < 1.0
    small = np.linspace(-15.0, 15.0, 10)[None]
    assert compare(small, small + 6e-4, ["x"], atol=1e-4).abs_ratio > 1.0
