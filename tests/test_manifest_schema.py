"""The schema's validators, the defaults merge and the derived preprocessing numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from zoo.manifest.derived import crop_offset, derive, fp16, fp16_bits
from zoo.manifest.schema import Accuracy, Dtype, Model, Preprocess, Validate, deep_merge, family_json_schema

PRE = {"crop_pct": 0.875, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def model(**overrides: object) -> Model:
    data: dict = {
        "name": "m",
        "family": "f",
        "source": {"library": "timm"},
        "input_size": 224,
        "preprocess": PRE,
    }
    return Model.model_validate(deep_merge(data, overrides))


def test_deep_merge_model_wins_and_lists_are_replaced() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}, "the base must not be modified"


def test_arch_defaults_to_name_and_ids() -> None:
    m = model()
    assert m.source.arch == "m"
    assert m.id == "timm/m" and m.stem == "timm-m"
    assert m.input_size == (3, 224, 224)
    assert m.opset == 11
    assert model(source={"library": "ppcls"}).opset == 10
    assert model(deploy={"opset": 13}).opset == 13


def test_models_are_frozen() -> None:
    with pytest.raises(ValidationError):
        model().name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "unit", "percent"),
    [(Decimal("0.8203"), "fraction", Decimal("82.03")), (Decimal("0.5720"), "fraction", Decimal("57.20")),
     (Decimal("80.062"), "percent", Decimal("80.062"))],
)
def test_accuracy_units_convert_to_percent_keeping_digits(value: Decimal, unit: str, percent: Decimal) -> None:
    acc = Accuracy(top1=value, unit=unit)  # type: ignore[arg-type]
    assert str(acc.percent("top1")) == str(percent)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"top1": Decimal("80.1"), "unit": "fraction"}, "did you mean `unit: percent`"),
        ({"top1": Decimal("0.8"), "unit": "percent"}, "did you mean `unit: fraction`"),
        ({"top1": Decimal("80"), "top5": Decimal("70"), "unit": "percent"}, "top5 (70) cannot be below top1"),
        ({"top1": Decimal("180"), "unit": "percent"}, "between 0 and 100"),
    ],
)
def test_accuracy_rejects(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Accuracy.model_validate(data)


def test_reported_deployed_accuracy_per_dtype() -> None:
    deployed = {"int8": {"top1": 78.842, "top5": 94.325}, "fp16": {"top1": 79.19}}
    m = model(reported={"deployed": deployed})
    assert str(m.reported.deployed[Dtype.int8].top1) == "78.842"
    assert m.reported.deployed[Dtype.fp16].top5 is None
    assert model().reported.deployed == {}


@pytest.mark.parametrize(
    ("deployed", "message"),
    [
        ({"int8": {"top1": 100.5}}, "less than or equal to 100"),
        ({"int8": {"top1": -1}}, "greater than or equal to 0"),
        ({"int8": {"top1": 80, "top5": 70}}, "top5 (70) cannot be below top1 (80)"),
        ({"int4": {"top1": 80}}, "Input should be 'int8' or 'fp16'"),
        ({"fp16": {"top5": 90}}, "top1\n  Field required"),
        ({"fp16": {"top1": 80, "unit": "percent"}}, "Extra inputs are not permitted"),
    ],
)
def test_reported_deployed_rejects(deployed: dict, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model(reported={"deployed": deployed})
    assert message in str(caught.value)


def test_preprocess_rules() -> None:
    with pytest.raises(ValidationError, match="either `crop_pct` or `resize`"):
        Preprocess.model_validate({"mean": [0, 0, 0], "std": [1, 1, 1]})
    with pytest.raises(ValidationError, match="not both"):
        Preprocess.model_validate({"crop_pct": 0.9, "resize": 256, "mean": [0, 0, 0], "std": [1, 1, 1]})
    with pytest.raises(ValidationError, match="value_range: 0..255"):
        Preprocess.model_validate({"crop_pct": 0.9, "mean": [123.7, 116.3, 103.5], "std": [58, 57, 57]})
    ok = Preprocess.model_validate(
        {"crop_pct": 0.9, "mean": [123.7, 116.3, 103.5], "std": [58, 57, 57], "value_range": "0..255"}
    )
    assert ok.value_range.value == "0..255"


def test_validate_relaxing_needs_reason() -> None:
    with pytest.raises(ValidationError, match="reason"):
        Validate(atol=1e-2)
    assert Validate(atol=1e-2, reason="fp16 weights upstream").atol == 1e-2
    assert Validate(atol=1e-5).reason is None, "tightening needs no reason"


def test_weights_format_must_fit_library() -> None:
    with pytest.raises(ValidationError, match="cannot be loaded by timm"):
        model(weights={"url": "https://x.org/a.pdparams", "format": "pdparams"})


def test_worked_example_from_formats() -> None:
    """docs/formats.md, "Pre-processing arithmetic": cspresnet50 256/0.887 -> 288, crop 16, fp16 values and bits."""
    d = derive(model(input_size=256, preprocess={"crop_pct": 0.887}))
    assert (d.resize_height, d.resize_width, d.crop_x, d.crop_y) == (288, 288, 16, 16)
    assert d.mean_fp16 == (0.485107421875, 0.4560546875, 0.406005859375)
    assert d.std_fp16 == (0.22900390625, 0.2239990234375, 0.2249755859375)
    assert d.mean_bits == (14275, 14156, 13951)
    assert d.std_bits == (13140, 13099, 13107)
    assert fp16_bits(0.5) == 14336 and fp16(0.5) == 0.5


@pytest.mark.parametrize(("size", "crop_pct", "scale"), [(256, 0.887, 288), (224, 0.875, 256), (299, 0.875, 341)])
def test_scale_is_floored(size: int, crop_pct: float, scale: int) -> None:
    d = derive(model(input_size=size, preprocess={"crop_pct": crop_pct}))
    assert d.resize_height == scale


def test_explicit_resize_wins_and_offsets_round_half_to_even() -> None:
    d = derive(model(input_size=256, preprocess={"crop_pct": None, "resize": 288}))
    assert d.resize_height == 288 and d.crop_x == 16
    assert crop_offset(235, 224) == 6  # 5.5 -> 6
    assert crop_offset(233, 224) == 4  # 4.5 -> 4


def test_json_schema_types_models_and_defaults() -> None:
    schema = family_json_schema()
    assert schema["properties"]["models"]["items"] == {"$ref": "#/$defs/Model"}
    assert "required" not in schema["$defs"]["ModelDefaults"]
    assert "crop_pct" in schema["$defs"]["Preprocess"]["properties"]
    assert "family" not in schema["$defs"]["Model"]["properties"]
