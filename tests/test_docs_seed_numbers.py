"""Every number of the seed documents' tables appears, digit for digit, in the row of its model.

The rows below are transcribed by hand from the seed pages (PaddleClas CSPNet, VastModelZOO
CSPNet, PaddleClas "others", ResNeSt, ConvNeXt). Empty seed cells are "-" in the generated
pages. The pages are generated from the shipped manifests without records, as CI does.
"""

from __future__ import annotations

import pytest

from tests.readers import model_cell, one_row, section
from zoo.docs import pages as docs
from zoo.manifest.catalog import SHIPPED_MANIFESTS, load_catalog, manifest_files

NA = "-"

# (page, model id, stem, display name): Top1, Top5, Reference top1, Reference top5, FLOPs (G), Params (M)
PADDLE_MODEL_ROWS = [
    # PaddleClas CSPNet page
    ("cspnet", "ppcls-CSPDarkNet53", "CSPDarkNet53", ["0.7725", "0.9355", NA, NA, "5.041", "27.678"]),
    # PaddleClas "others" page
    ("ppcls-others", "ppcls-AlexNet", "AlexNet", ["0.567", "0.792", "0.5720", NA, "1.370", "61.090"]),
    ("ppcls-others", "ppcls-SqueezeNet1_0", "SqueezeNet1_0", ["0.596", "0.817", "0.575", NA, "1.550", "1.240"]),
    ("ppcls-others", "ppcls-SqueezeNet1_1", "SqueezeNet1_1", ["0.601", "0.819", NA, NA, "0.690", "1.230"]),
    ("ppcls-others", "ppcls-DarkNet53", "DarkNet53", ["0.780", "0.941", "0.772", "0.938", "18.580", "41.600"]),
    ("ppcls-others", "ppcls-SENet154_vd", "SENet154_vd", ["0.814", "0.955", NA, NA, "45.830", "114.290"]),
    # ResNeSt page
    ("resnest", "ppcls-ResNeSt50_fast_1s1x64d", "ResNeSt50_fast_1s1x64d", ["0.8061", "0.9527", "0.8035", NA, "5.40", "26.3"]),
    ("resnest", "ppcls-ResNeSt50", "ResNeSt50", ["0.8102", "0.9546", "0.8103", NA, "5.40", "27.5"]),
    ("resnest", "ppcls-ResNeSt101", "ResNeSt101", ["0.8279", "0.9642", "0.8283", NA, "10.25", "48.4"]),
    ("resnest", "ppcls-ResNeSt200", "ResNeSt200", ["0.8418", "0.9698", "0.8384", NA, "17.50", "70.4"]),
    ("resnest", "ppcls-ResNeSt269", "ResNeSt269", ["0.8444", "0.9698", "0.8454", NA, "22.54", "111.2"]),
    # ConvNeXt page
    ("convnext", "ppcls-ConvNeXt_tiny", "ConvNeXt_tiny", ["0.8203", "0.9590", "0.821", NA, "4.458", "28.583"]),
    ("convnext", "ppcls-ConvNeXt_small", "ConvNeXt_small", ["0.8313", "0.9643", "0.831", NA, "8.688", "50.210"]),
    ("convnext", "ppcls-ConvNeXt_base_224", "ConvNeXt_base_224", ["0.8384", "0.9676", "0.838", NA, "15.360", "88.573"]),
    ("convnext", "ppcls-ConvNeXt_base_384", "ConvNeXt_base_384", ["0.8490", "0.9727", "0.851", NA, "45.138", "88.573"]),
    ("convnext", "ppcls-ConvNeXt_large_224", "ConvNeXt_large_224", ["0.8426", "0.9690", "0.843", NA, "34.340", "197.740"]),
    ("convnext", "ppcls-ConvNeXt_large_384", "ConvNeXt_large_384", ["0.8527", "0.9749", "0.855", NA, "101.001", "197.740"]),
]

TIMM = "[timm@0.6.5](https://github.com/rwightman/pytorch-image-models/blob/v0.6.5/timm/models/cspnet.py)"
MMCLS = "[mmcls@0.23.1](https://github.com/open-mmlab/mmclassification/blob/v0.23.1/configs/cspnet/README.md)"

# VastModelZOO CSPNet page: (stem, name, source cell): top1, top5, flops(G), params(M), input size
VASTAI_ROWS = [
    ("timm-cspresnet50", "CSPResNet50", TIMM, ["79.582", "94.704", "10.038", "21.576", "256"]),
    ("timm-cspresnext50", "CSPResNeXt50", TIMM, ["80.050", "94.946", "6.832", "20.512", "224"]),
    ("timm-cspdarknet53", "CSPDarkNet53", TIMM, ["80.062", "95.084", "14.519", "27.607", "256"]),
    ("mmcls-cspresnet50", "CSPResNet50", MMCLS, ["79.55", "94.68", "6.96", "21.62", "256"]),
    ("mmcls-cspresnext50", "CSPResNeXt50", MMCLS, ["79.96", "94.96", "6.22", "20.57", "224"]),
    ("mmcls-cspdarknet53", "CSPDarkNet53", MMCLS, ["80.05", "95.07", "10.08", "27.64", "256"]),
]

# Latency tables: (page, device, row label): Size, then bs=1/4/8 (V100) or FP16 bs=1/4/8, FP32 bs=1/4/8 (T4)
LATENCY_ROWS = [
    ("cspnet", "V100", "CSPDarkNet53 (ppcls)", ["256", "2.80", "5.43", "9.48"]),
    ("ppcls-others", "V100", "AlexNet", ["224", "0.81", "1.50", "2.33"]),
    ("ppcls-others", "V100", "SqueezeNet1_0", ["224", "0.68", "1.64", "2.62"]),
    ("ppcls-others", "V100", "SqueezeNet1_1", ["224", "0.62", "1.30", "2.09"]),
    ("ppcls-others", "V100", "DarkNet53", ["256", "2.79", "6.42", "10.89"]),
    ("ppcls-others", "V100", "SENet154_vd", ["224", "34.83", "51.22", "69.74"]),
    ("ppcls-others", "T4", "AlexNet", ["224", "1.06447", "1.70435", "2.38402", "1.44993", "2.46696", "3.72085"]),
    ("ppcls-others", "T4", "SqueezeNet1_0", ["224", "0.97162", "2.06719", "3.67499", "0.96736", "2.53221", "4.54047"]),
    ("ppcls-others", "T4", "SqueezeNet1_1", ["224", "0.81378", "1.62919", "2.68044", "0.76032", "1.877", "3.15298"]),
    ("ppcls-others", "T4", "DarkNet53", ["256", "3.18101", "5.88419", "10.14964", "4.10829", "12.1714", "22.15266"]),
    ("ppcls-others", "T4", "SENet154_vd", ["224", "49.85733", "54.37267", "74.70447", "53.79794", "66.31684", "121.59885"]),
    ("resnest", "V100", "ResNeSt50_fast_1s1x64d", ["224", "2.43", "4.34", "6.96"]),
    ("resnest", "V100", "ResNeSt50", ["224", "13.08", "16.38", "23.18"]),
    ("resnest", "V100", "ResNeSt101", ["256", "19.16", "22.62", "32.59"]),
    ("resnest", "V100", "ResNeSt200", ["224", NA, NA, NA]),
    ("resnest", "V100", "ResNeSt269", ["224", NA, NA, NA]),
    ("resnest", "T4", "ResNeSt50_fast_1s1x64d", ["224", "3.46466", "5.56647", "9.11848", "3.45405", "8.72680", "15.48710"]),
    ("resnest", "T4", "ResNeSt50", ["224", "7.05851", "8.97676", "13.34704", "6.16248", "12.0633", "21.49936"]),
]

# The remark under each seed latency table, verbatim.
LATENCY_NOTES = [
    ("cspnet", "V100", "精度类型为 FP32，推理过程使用 TensorRT-8.0.3.4。"),
    ("ppcls-others", "V100", "精度类型为 FP32，推理过程使用 TensorRT。"),
    ("ppcls-others", "T4", "推理过程使用 TensorRT。"),
    ("resnest", "V100", "精度类型为 FP32，推理过程使用 TensorRT-8.0.3.4。"),
    ("resnest", "T4", "推理过程使用 TensorRT-8.0.3.4。"),
]


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    catalog = load_catalog(files=manifest_files([SHIPPED_MANIFESTS]))
    assert not catalog.problems, catalog.problems
    generated = docs.generate(catalog, {})
    return {name.removesuffix(".md"): content.decode("utf-8") for name, content in generated.items()}


@pytest.mark.parametrize(("page", "stem", "name", "numbers"), PADDLE_MODEL_ROWS, ids=[r[1] for r in PADDLE_MODEL_ROWS])
def test_paddle_model_rows(pages: dict[str, str], page: str, stem: str, name: str, numbers: list[str]) -> None:
    row = one_row(section(pages[page], "## Models"), model_cell(name, stem))
    assert row[2:8] == numbers


@pytest.mark.parametrize(("stem", "name", "source", "numbers"), VASTAI_ROWS, ids=[r[0] for r in VASTAI_ROWS])
def test_vastai_cspnet_rows(pages: dict[str, str], stem: str, name: str, source: str, numbers: list[str]) -> None:
    row = one_row(section(pages["cspnet"], "## Models"), model_cell(name, stem))
    assert row[1] == source
    top1, top5, flops, params, size = numbers
    assert [row[2], row[3], row[6], row[7], row[8]] == [top1, top5, flops, params, size]


def test_vastai_ppcls_cspdarknet53_row_is_explained(pages: dict[str, str]) -> None:
    """The seed's ppcls cspdarknet53 row (78.0 / 94.1, 18.58 G, 41.6 M) carries DarkNet53's
    numbers; the manifest uses CSPDarkNet53's own and says so in a note beside the model."""
    notes = section(section(pages["cspnet"], "## Models"), "### Notes")
    lines = [n for n in notes.splitlines() if n.startswith("- **CSPDarkNet53 (ppcls)**:")]
    (line,) = [n for n in lines if "VastModelZOO" in n]
    for number in ("78.0", "94.1", "18.58", "41.6"):
        assert number in line


@pytest.mark.parametrize(("page", "device", "label", "numbers"), LATENCY_ROWS,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in LATENCY_ROWS])
def test_latency_rows(pages: dict[str, str], page: str, device: str, label: str, numbers: list[str]) -> None:
    assert one_row(section(pages[page], f"### {device}"), label)[1:] == numbers


@pytest.mark.parametrize(("page", "device", "note"), LATENCY_NOTES, ids=[f"{r[0]}-{r[1]}" for r in LATENCY_NOTES])
def test_latency_notes(pages: dict[str, str], page: str, device: str, note: str) -> None:
    assert f"**Note:** {note}" in section(pages[page], f"### {device}")


def test_every_seed_family_has_a_page_and_the_index_links_it(pages: dict[str, str]) -> None:
    assert {"cspnet", "ppcls-others", "resnest", "convnext", "index"} <= set(pages)
    for family in ("cspnet", "ppcls-others", "resnest", "convnext"):
        assert f"]({family}.md)" in pages["index"]
    assert "No latency is reported for this family." in pages["convnext"]  # the seed says "敬请期待"
