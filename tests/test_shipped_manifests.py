"""The zoo's own manifests carry every seed model with the seeds' numbers, digit for digit.

The expectations below are transcribed by hand from the seed documents (the VastModelZOO CSPNet
page and the PaddleClas CSPNet, Others, ResNeSt and ConvNeXt pages) and from the upstream configs
(timm 0.6.5 pretrained cfgs, mmcls v0.23.1 test pipelines, PaddleClas `resize_short`/crop), never
read back from the manifests, so a mistyped number on either side makes a test fail.
Numbers are compared as strings so that `0.5720` is not accepted for `0.572`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

import pytest

from zoo.manifest.catalog import SHIPPED_MANIFESTS, Catalog, load_catalog, manifest_files
from zoo.manifest.derived import derive
from zoo.manifest.schema import Accuracy, AccuracyUnit, Model


class Row(NamedTuple):
    """One row of a seed's accuracy table; `None` where the seed shows '-' or nothing."""

    top1: str
    top5: str
    ref_top1: str | None
    ref_top5: str | None
    unit: str
    flops_g: str
    params_m: str
    input_size: int


VAST = "percent"  # VastModelZOO writes accuracy in percent
PADDLE = "fraction"  # PaddleClas writes it as a fraction

SEED_ROWS: dict[str, Row] = {
    # seed 001: VastModelZOO CSPNet page, timm 0.6.5 and mmcls v0.23.1 rows
    "timm/cspresnet50": Row("79.582", "94.704", None, None, VAST, "10.038", "21.576", 256),
    "timm/cspresnext50": Row("80.050", "94.946", None, None, VAST, "6.832", "20.512", 224),
    "timm/cspdarknet53": Row("80.062", "95.084", None, None, VAST, "14.519", "27.607", 256),
    "mmcls/cspresnet50": Row("79.55", "94.68", None, None, VAST, "6.96", "21.62", 256),
    "mmcls/cspresnext50": Row("79.96", "94.96", None, None, VAST, "6.22", "20.57", 224),
    "mmcls/cspdarknet53": Row("80.05", "95.07", None, None, VAST, "10.08", "27.64", 256),
    # seed 000: PaddleClas CSPNet page
    "ppcls/CSPDarkNet53": Row("0.7725", "0.9355", None, None, PADDLE, "5.041", "27.678", 256),
    # seed 002: PaddleClas Others page
    "ppcls/AlexNet": Row("0.567", "0.792", "0.5720", None, PADDLE, "1.370", "61.090", 224),
    "ppcls/SqueezeNet1_0": Row("0.596", "0.817", "0.575", None, PADDLE, "1.550", "1.240", 224),
    "ppcls/SqueezeNet1_1": Row("0.601", "0.819", None, None, PADDLE, "0.690", "1.230", 224),
    "ppcls/DarkNet53": Row("0.780", "0.941", "0.772", "0.938", PADDLE, "18.580", "41.600", 256),
    "ppcls/SENet154_vd": Row("0.814", "0.955", None, None, PADDLE, "45.830", "114.290", 224),
    # seed 003: PaddleClas ResNeSt page (input sizes from the PaddleClas configs)
    "ppcls/ResNeSt50_fast_1s1x64d": Row("0.8061", "0.9527", "0.8035", None, PADDLE, "5.40", "26.3", 224),
    "ppcls/ResNeSt50": Row("0.8102", "0.9546", "0.8103", None, PADDLE, "5.40", "27.5", 224),
    "ppcls/ResNeSt101": Row("0.8279", "0.9642", "0.8283", None, PADDLE, "10.25", "48.4", 256),
    "ppcls/ResNeSt200": Row("0.8418", "0.9698", "0.8384", None, PADDLE, "17.50", "70.4", 320),
    "ppcls/ResNeSt269": Row("0.8444", "0.9698", "0.8454", None, PADDLE, "22.54", "111.2", 416),
    # seed 004: PaddleClas ConvNeXt page
    "ppcls/ConvNeXt_tiny": Row("0.8203", "0.9590", "0.821", None, PADDLE, "4.458", "28.583", 224),
    "ppcls/ConvNeXt_small": Row("0.8313", "0.9643", "0.831", None, PADDLE, "8.688", "50.210", 224),
    "ppcls/ConvNeXt_base_224": Row("0.8384", "0.9676", "0.838", None, PADDLE, "15.360", "88.573", 224),
    "ppcls/ConvNeXt_base_384": Row("0.8490", "0.9727", "0.851", None, PADDLE, "45.138", "88.573", 384),
    "ppcls/ConvNeXt_large_224": Row("0.8426", "0.9690", "0.843", None, PADDLE, "34.340", "197.740", 224),
    "ppcls/ConvNeXt_large_384": Row("0.8527", "0.9749", "0.855", None, PADDLE, "101.001", "197.740", 384),
}

V100_NOTE_TRT8 = "精度类型为 FP32，推理过程使用 TensorRT-8.0.3.4。"
V100_NOTE_TRT = "精度类型为 FP32，推理过程使用 TensorRT。"
T4_NOTE_TRT = "推理过程使用 TensorRT。"
T4_NOTE_TRT8 = "推理过程使用 TensorRT-8.0.3.4。"


class Latency(NamedTuple):
    """One latency table: batch sizes 1, 4, 8 in milliseconds (`None` for '-')."""

    device: str
    precision: str
    size: int | None  # the seed's Size column, only where it differs from the input size
    bs1: str | None
    bs4: str | None
    bs8: str | None
    note: str


SEED_LATENCY: dict[str, list[Latency]] = {
    "ppcls/CSPDarkNet53": [Latency("V100", "FP32", None, "2.80", "5.43", "9.48", V100_NOTE_TRT8)],
    "ppcls/AlexNet": [
        Latency("V100", "FP32", None, "0.81", "1.50", "2.33", V100_NOTE_TRT),
        Latency("T4", "FP16", None, "1.06447", "1.70435", "2.38402", T4_NOTE_TRT),
        Latency("T4", "FP32", None, "1.44993", "2.46696", "3.72085", T4_NOTE_TRT),
    ],
    "ppcls/SqueezeNet1_0": [
        Latency("V100", "FP32", None, "0.68", "1.64", "2.62", V100_NOTE_TRT),
        Latency("T4", "FP16", None, "0.97162", "2.06719", "3.67499", T4_NOTE_TRT),
        Latency("T4", "FP32", None, "0.96736", "2.53221", "4.54047", T4_NOTE_TRT),
    ],
    "ppcls/SqueezeNet1_1": [
        Latency("V100", "FP32", None, "0.62", "1.30", "2.09", V100_NOTE_TRT),
        Latency("T4", "FP16", None, "0.81378", "1.62919", "2.68044", T4_NOTE_TRT),
        Latency("T4", "FP32", None, "0.76032", "1.877", "3.15298", T4_NOTE_TRT),
    ],
    "ppcls/DarkNet53": [
        Latency("V100", "FP32", None, "2.79", "6.42", "10.89", V100_NOTE_TRT),
        Latency("T4", "FP16", None, "3.18101", "5.88419", "10.14964", T4_NOTE_TRT),
        Latency("T4", "FP32", None, "4.10829", "12.1714", "22.15266", T4_NOTE_TRT),
    ],
    "ppcls/SENet154_vd": [
        Latency("V100", "FP32", None, "34.83", "51.22", "69.74", V100_NOTE_TRT),
        Latency("T4", "FP16", None, "49.85733", "54.37267", "74.70447", T4_NOTE_TRT),
        Latency("T4", "FP32", None, "53.79794", "66.31684", "121.59885", T4_NOTE_TRT),
    ],
    "ppcls/ResNeSt50_fast_1s1x64d": [
        Latency("V100", "FP32", None, "2.43", "4.34", "6.96", V100_NOTE_TRT8),
        Latency("T4", "FP16", None, "3.46466", "5.56647", "9.11848", T4_NOTE_TRT8),
        Latency("T4", "FP32", None, "3.45405", "8.72680", "15.48710", T4_NOTE_TRT8),
    ],
    "ppcls/ResNeSt50": [
        Latency("V100", "FP32", None, "13.08", "16.38", "23.18", V100_NOTE_TRT8),
        Latency("T4", "FP16", None, "7.05851", "8.97676", "13.34704", T4_NOTE_TRT8),
        Latency("T4", "FP32", None, "6.16248", "12.0633", "21.49936", T4_NOTE_TRT8),
    ],
    "ppcls/ResNeSt101": [Latency("V100", "FP32", None, "19.16", "22.62", "32.59", V100_NOTE_TRT8)],
    "ppcls/ResNeSt200": [Latency("V100", "FP32", 224, None, None, None, V100_NOTE_TRT8)],
    "ppcls/ResNeSt269": [Latency("V100", "FP32", 224, None, None, None, V100_NOTE_TRT8)],
}

#: Size before the center crop, as each upstream states it: timm floor(S / crop_pct)
#: (0.887 for 256 px, 0.875 for 224 px), the mmcls v0.23.1 `Resize` size, PaddleClas `resize_short`.
UPSTREAM_RESIZE: dict[str, int] = {
    "timm/cspresnet50": 288,
    "timm/cspresnext50": 256,
    "timm/cspdarknet53": 288,
    "mmcls/cspresnet50": 288,
    "mmcls/cspresnext50": 256,
    "mmcls/cspdarknet53": 288,
    "ppcls/CSPDarkNet53": 288,
    "ppcls/AlexNet": 256,
    "ppcls/SqueezeNet1_0": 256,
    "ppcls/SqueezeNet1_1": 256,
    "ppcls/DarkNet53": 292,
    "ppcls/SENet154_vd": 256,
    "ppcls/ResNeSt50_fast_1s1x64d": 256,
    "ppcls/ResNeSt50": 256,
    "ppcls/ResNeSt101": 288,
    "ppcls/ResNeSt200": 320,
    "ppcls/ResNeSt269": 416,
    "ppcls/ConvNeXt_tiny": 256,
    "ppcls/ConvNeXt_small": 256,
    "ppcls/ConvNeXt_base_224": 256,
    "ppcls/ConvNeXt_base_384": 384,
    "ppcls/ConvNeXt_large_224": 256,
    "ppcls/ConvNeXt_large_384": 384,
}

#: mmpretrain model names; VastModelZOO's mmcls "cspdarknet53" is mmcls's CSPDarkNet50.
MMCLS_ARCH = {
    "mmcls/cspresnet50": "cspresnet50_3rdparty_8xb32_in1k",
    "mmcls/cspresnext50": "cspresnext50_3rdparty_8xb32_in1k",
    "mmcls/cspdarknet53": "cspdarknet50_3rdparty_8xb32_in1k",
}

FAMILY_OF = {
    **dict.fromkeys([i for i in SEED_ROWS if "csp" in i.lower()], "cspnet"),
    **dict.fromkeys(["ppcls/AlexNet", "ppcls/SqueezeNet1_0", "ppcls/SqueezeNet1_1", "ppcls/DarkNet53",
                     "ppcls/SENet154_vd"], "ppcls-others"),
    **dict.fromkeys([i for i in SEED_ROWS if "ResNeSt" in i], "resnest"),
    **dict.fromkeys([i for i in SEED_ROWS if "ConvNeXt" in i], "convnext"),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(files=manifest_files([SHIPPED_MANIFESTS]))


@pytest.fixture(scope="module")
def models(catalog: Catalog) -> dict[str, Model]:
    """The seed models: the shipped ones not migrated from VastModelZOO (those carry an `upstream` block)."""
    return {model_id: model for model_id, model in catalog.models.items() if model.upstream is None}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _table_key(table: Latency) -> tuple[str, str]:
    """Seeds give at most one table per device and precision."""
    return (table.device, table.precision)


def test_shipped_catalog_loads_without_problems(catalog):
    assert [str(p) for p in catalog.problems] == []
    assert {"convnext", "cspnet", "ppcls-others", "resnest"} <= set(catalog.families)


def test_migrated_models_come_from_the_four_libraries_with_their_upstream_files(catalog):
    migrated = [m for m in catalog.models.values() if m.upstream is not None]
    assert len(migrated) > 250
    for model in migrated:
        assert model.source.library in ("timm", "torchvision", "mmcls", "ppcls"), model.id
        assert model.upstream is not None and model.upstream.files, model.id
        assert model.expected is not None and model.expected.unit == AccuracyUnit.percent, model.id


def test_exactly_the_23_seed_models(models):
    assert len(SEED_ROWS) == 23
    assert sorted(models) == sorted(SEED_ROWS)


@pytest.mark.parametrize("model_id", sorted(SEED_ROWS))
def test_accuracy_flops_params_and_size_match_the_seed(models, model_id):
    row, model = SEED_ROWS[model_id], models[model_id]
    assert model.family == FAMILY_OF[model_id]
    assert model.input_size == (3, row.input_size, row.input_size)
    assert model.expected is not None
    assert model.expected.unit == AccuracyUnit(row.unit)
    assert (_text(model.expected.top1), _text(model.expected.top5)) == (row.top1, row.top5)
    if row.ref_top1 is None and row.ref_top5 is None:
        assert model.reference is None or (model.reference.top1, model.reference.top5) == (None, None)
    else:
        assert model.reference is not None
        assert model.reference.unit == AccuracyUnit(row.unit)
        assert (_text(model.reference.top1), _text(model.reference.top5)) == (row.ref_top1, row.ref_top5)
    assert (_text(model.reported.flops_g), _text(model.reported.params_m)) == (row.flops_g, row.params_m)


@pytest.mark.parametrize("model_id", sorted(SEED_ROWS))
def test_latency_tables_are_complete_and_exact(models, model_id):
    tables = models[model_id].reported.latency
    found = [
        Latency(t.device, t.precision.value, t.size, *(_text(t.batch_ms[b]) for b in (1, 4, 8)), t.note or "")
        for t in tables
    ]
    assert all(sorted(t.batch_ms) == [1, 4, 8] for t in tables)
    assert sorted(found, key=_table_key) == sorted(SEED_LATENCY.get(model_id, []), key=_table_key)


@pytest.mark.parametrize("model_id", sorted(SEED_ROWS))
def test_derived_resize_and_crop_follow_upstream(models, model_id):
    model = models[model_id]
    derived = derive(model)
    crop = SEED_ROWS[model_id].input_size
    assert (derived.input_height, derived.input_width) == (crop, crop)
    assert derived.resize_height == derived.resize_width == UPSTREAM_RESIZE[model_id]
    assert derived.resize_height >= crop
    assert derived.crop_x == derived.crop_y == round((UPSTREAM_RESIZE[model_id] - crop) / 2)


def test_convnext_base_384_is_fed_at_384_without_crop_margin(models):
    derived = derive(models["ppcls/ConvNeXt_base_384"])
    assert (derived.input_height, derived.resize_height, derived.crop_x) == (384, 384, 0)
    assert models["ppcls/ConvNeXt_base_384"].preprocess.interpolation.value == "bicubic"


@pytest.mark.parametrize("model_id", sorted(SEED_ROWS))
def test_preprocess_statistics_match_the_library(models, model_id):
    pre = models[model_id].preprocess
    assert pre.color.value == "RGB"
    if model_id.startswith("mmcls/"):
        assert pre.value_range.value == "0..255"
        assert pre.mean == (123.675, 116.28, 103.53) and pre.std == (58.395, 57.12, 57.375)
        assert pre.interpolation.value == "bicubic"
    else:
        assert pre.value_range.value == "0..1"
        assert pre.mean == (0.485, 0.456, 0.406) and pre.std == (0.229, 0.224, 0.225)
        expected = "bicubic" if "ConvNeXt" in model_id else "bilinear"
        assert pre.interpolation.value == expected


@pytest.mark.parametrize("model_id", sorted(SEED_ROWS))
def test_weights_are_real_upstream_files_and_never_guessed(models, model_id):
    model = models[model_id]
    weights = model.weights
    assert weights is not None and weights.url.startswith("https://")
    assert weights.sha256 is None, "checksums are pinned by `zoo lock`, never written by hand"
    named = re.search(r"-([0-9a-f]{8})\.pth$", weights.filename)
    assert weights.hash_prefix == (named.group(1) if named else None)
    library = model.source.library
    if library == "timm":
        assert weights.url.startswith("https://github.com/rwightman/pytorch-image-models/releases/download/")
        assert model.source.arch == model.name and model.source.version == "0.6.5"
    elif library == "mmcls":
        assert weights.url.startswith("https://download.openmmlab.com/mmclassification/v0/cspnet/")
        assert model.source.arch == MMCLS_ARCH[model_id] and model.source.version == "0.23.1"
        assert weights.filename.startswith(MMCLS_ARCH[model_id])
    else:
        assert library == "ppcls" and weights.format == "pdparams"
        assert weights.filename == f"{model.name}_pretrained.pdparams"
        assert model.source.arch == model.name


def test_units_are_converted_to_percent_keeping_digits(models):
    assert Accuracy(top1=Decimal("0.8203"), unit="fraction").percent("top1") == Decimal("82.03")
    assert str(Accuracy(top1=Decimal("0.5720"), unit="fraction").percent("top1")) == "57.20"
    assert Accuracy(top1=Decimal("82.03"), unit="percent").percent("top1") == Decimal("82.03")
    # shipped data: a fraction (PaddleClas) and a percent (VastModelZOO) end up on one scale
    assert str(models["ppcls/ConvNeXt_tiny"].expected.percent("top1")) == "82.03"
    assert str(models["timm/cspdarknet53"].expected.percent("top1")) == "80.062"
    assert str(models["ppcls/CSPDarkNet53"].expected.percent("top5")) == "93.55"


def test_vastmodelzoo_darknet_mixup_is_told_to_readers(models):
    notes = " ".join(models["ppcls/CSPDarkNet53"].reported.notes)
    for number in ("78.0", "94.1", "18.58", "41.6", "DarkNet53"):
        assert number in notes
    assert any("cspdarknet50" in n for n in models["mmcls/cspdarknet53"].reported.notes)


def test_convnext_says_why_it_has_no_latency(models):
    for model in (m for m in models.values() if m.family == "convnext"):
        assert model.reported.latency == ()
        assert any("敬请期待" in note for note in model.reported.notes)
