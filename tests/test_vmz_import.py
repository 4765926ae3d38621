"""`zoo import vmz`: a VastModelZOO family folder, in either layout, migrated into a family manifest.

The folders are written here with one disagreement of each kind seeded into the upstream files:
a resize the library contradicts (zoo right), a resize filter that is not the source's (zoo
right), a statistic written unrounded (format), a colour conversion and build settings that are
deployment choices (upstream right). The rows link PaddleClas 2.6.0, the installed version,
which is read without importing paddle or touching the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.factories import run_zoo
from zoo.manifest.catalog import load_catalog
from zoo.manifest.schema import Model

README = """\
# DPN

## Code Source
```
link: https://github.com/PaddlePaddle/PaddleClas
tag: v2.6.0
```

| 模型  | 源码 | top1 | top5 | MACs(G) | params(M) | input size |
| :---: | :--: | :--: | :--: | :---: | :----: | :--------: |
| DPN68 |[ppcls](https://github.com/PaddlePaddle/PaddleClas/blob/v2.6.0/docs/zh_CN/models/DPN.md)|   76.78   |   93.43   |   2.35    |   12.68     |     224       |
| resnet50 |[keras](https://github.com/keras-team/keras/blob/2.3.1/keras/applications/resnet.py)  |   74.86   |   92.038  | 7.76      | 25.6       |   224        |
"""
FP16_MEAN = [0.485107421875, 0.4560546875, 0.406005859375]
FP16_STD = [0.22900390625, 0.2239990234375, 0.2249755859375]


def build_in_vdsp() -> dict[str, Any]:
    """DPN68's build_in vdsp file with the seeded disagreements (resize 257, BGR2RGB, BILINEAR_PILLOW, raw mean)."""
    return {"OpType": "FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR", "OpConfig": {
        "IimageFormat": "RGB_PLANAR", "IimageWidth": 257, "IimageHeight": 256, "OimageWidth": 224,
        "OimageHeight": 224, "CropX": 16, "CropY": 16, "ResizeWidth": 257, "ResizeHeight": 256,
        "IimageWidthPitch": 257, "IimageHeightPitch": 256, "Mean": [0.485, 0.456, 0.406], "Std": FP16_STD,
        "NormaType": "DIV255_MINUSMEAN_DIVSTD", "ColorCvtCode": "BGR2RGB", "ResizeType": "BILINEAR_PILLOW"}}


BUILD_IN_YAML = """\
name: ppcls_dpn68_int8
frontend: {shape: {input: [1, 3, 224, 224]}, type: onnx, checkpoint: weights/dpn68.onnx, dtype: fp32}
graph: {extra_ops: {type: softmax}}
backend: {type: tvm_vacc, dtype: int8, quantize: {calibrate_mode: max, quantize_per_channel: true}}
dataset:
  type: tvm
  path: calib
  sampler: {suffix: JPEG, get_data_num: 100}
  process_ops: [{type: DecodeImage}, {type: Resize, size: [256, 256]}, {type: CenterCrop, crop_size: [224, 224]}]
"""


def vamp_vdsp() -> dict[str, Any]:
    """DPN68's older vamp vdsp file: resize 257 (zoo right), BILINEAR_CV kept by that dialect."""
    values = {"iimage_format": "RGB_PLANAR", "iimage_width": 257, "iimage_height": 257, "iimage_width_pitch": 257,
              "iimage_height_pitch": 257, "short_edge_threshold": 257, "crop_size": 224, "meanr": 14275,
              "meang": 14156, "meanb": 13951, "stdr": 13140, "stdg": 13099, "stdb": 13107,
              "norma_type": "DIV255_MINUSMEAN_DIVSTD", "resize_type": "BILINEAR_CV",
              "color_cvt_code": "COLOR_NO_CHANGE", "color_space": "COLOR_SPACE_BT709"}
    return {"vdsp_op_type": "RGB_RESIZE_CVTCOLOR_CROP_NORMALIZATION_TENSORIZATION_U8",
            "config": [{"Property": k, "DType": "INT", "ParamType": "ELEMENT", "Value": v} for k, v in values.items()]}


LEGACY_YAML = """\
model: {name: dpn68, inputs: {input: [1, 3, 224, 224]}, checkpoint: dpn68.onnx}
engine:
  type: vacc
  common: {do_quantization: true}
  add_extra_ops_to_graph: {type: softmax}
  calibration: {quant_mode: kl_divergence, per_channel: true}
dataset: {path: calib, sampler: {suffix: JPEG, get_data_num: 1000}, transform_ops: [{type: DecodeImage}]}
"""


def family_folder(root: Path, layout: str) -> Path:
    """A `dpn` family folder in the `build_in` or the older `vacc_code` layout."""
    folder = root / "dpn"
    vdsp, build = folder / layout / "vdsp_params", folder / layout / "build"
    vdsp.mkdir(parents=True)
    build.mkdir(parents=True)
    (folder / "README.md").write_text(README, encoding="utf-8")
    document = build_in_vdsp() if layout == "build_in" else vamp_vdsp()
    (vdsp / "ppcls-dpn68-vdsp_params.json").write_text(json.dumps(document, indent=4), encoding="utf-8")
    text = BUILD_IN_YAML if layout == "build_in" else LEGACY_YAML
    (build / "ppcls_dpn.yaml").write_text(text, encoding="utf-8")
    return folder


def migrate(tmp_path: Path, folder: Path) -> tuple[Model, str]:
    done = run_zoo("import", "vmz", str(folder), "--into", "manifests/dpn.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = load_catalog(files=[tmp_path / "manifests/dpn.yaml"])
    assert not catalog.problems
    return catalog.models["ppcls/DPN68"], done.stdout + done.stderr


def verdicts(model: Model) -> dict[str, tuple[str, Any]]:
    assert model.upstream is not None
    return {f.field: (f.verdict.value, json.loads(json.dumps(f.upstream, default=float)))
            for f in model.upstream.fields}


def test_build_in_folder_is_migrated_with_every_disagreement_classified(tmp_path: Path) -> None:
    model, output = migrate(tmp_path, family_folder(tmp_path / "upstream", "build_in"))
    found = verdicts(model)
    assert found["OpConfig.IimageWidth"] == ("zoo right", 257)  # PaddleClas resizes to 256
    assert found["OpConfig.ResizeWidth"] == ("zoo right", 257)
    assert found["OpConfig.ResizeType"] == ("zoo right", "BILINEAR_PILLOW")  # PaddleClas resizes with OpenCV
    assert found["OpConfig.Mean"] == ("format", [0.485, 0.456, 0.406])
    assert found["OpConfig.ColorCvtCode"] == ("upstream right", "BGR2RGB")
    assert found["deploy.calibrate_mode"] == ("upstream right", "max")
    assert found["deploy.calib_count"] == ("upstream right", 100)
    assert found["deploy.extra_ops"] == ("upstream right", "softmax")
    assert "OpConfig.IimageHeight" not in found and "OpConfig.Std" not in found  # equal fields are not listed
    assert (model.deploy.image_color.value, model.deploy.calibrate_mode.value, model.deploy.calib_count) == ("BGR", "max", 100)
    assert model.deploy.extra_ops is not None
    assert (str(model.expected.top1), str(model.reported.flops_g)) == ("76.78", "4.70")  # MACs doubled
    assert model.input_size == (3, 224, 224) and model.preprocess.resize == 256
    assert "keras/resnet50: skipped: zoo has no keras converter" in output
    done = run_zoo("render", "ppcls/DPN68", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rendered = json.loads((tmp_path / "out/ppcls-DPN68/ppcls-DPN68-vdsp_params.json").read_text())["OpConfig"]
    assert (rendered["ColorCvtCode"], rendered["ResizeWidth"]) == ("BGR2RGB", 256)  # adopted; zoo right kept


def test_older_vacc_code_layout_is_read_too(tmp_path: Path) -> None:
    model, _ = migrate(tmp_path, family_folder(tmp_path / "upstream", "vacc_code"))
    found = verdicts(model)
    assert found["config[iimage_width].Value"] == ("zoo right", 257)
    assert found["config[short_edge_threshold].Value"] == ("zoo right", 257)
    assert found["deploy.calibrate_mode"] == ("upstream right", "kl_divergence")
    assert "deploy.calib_count" not in found  # 1000 is what the legacy profile writes anyway
    assert "config[resize_type].Value" not in found  # the vamp dialect can only say BILINEAR_CV


def test_a_readme_without_a_model_table_is_named(tmp_path: Path) -> None:
    folder = family_folder(tmp_path / "upstream", "build_in")
    (folder / "README.md").write_text("# DPN\n\nNo table here.\n", encoding="utf-8")
    done = run_zoo("import", "vmz", str(folder), "--into", "m/dpn.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{folder / 'README.md'}: no model table found" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "m/dpn.yaml").exists()


def test_an_unparseable_vdsp_file_is_named_with_its_line(tmp_path: Path) -> None:
    folder = family_folder(tmp_path / "upstream", "build_in")
    broken = folder / "build_in/vdsp_params/ppcls-dpn68-vdsp_params.json"
    broken.write_text('{\n    "OpType": "FUSION",\n    "OpConfig": {,\n}\n', encoding="utf-8")
    done = run_zoo("import", "vmz", str(folder), "--into", "m/dpn.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{broken}:3:" in done.stderr and "not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("cell", ["8.05.7", "n/a"])
def test_a_number_that_is_not_one_is_named_with_its_line(tmp_path: Path, cell: str) -> None:
    folder = family_folder(tmp_path / "upstream", "build_in")
    readme = folder / "README.md"
    readme.write_text(README.replace("93.43", cell), encoding="utf-8")
    done = run_zoo("import", "vmz", str(folder), "--into", "m/dpn.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{readme}:11: column 'top5' holds '{cell}', not a number" in done.stderr


def test_upstream_block_is_part_of_the_schema() -> None:
    text = yaml.safe_dump({"file": "a.json", "field": "OpConfig.Mean", "verdict": "zoo wrong", "upstream": 1})
    with pytest.raises(ValueError, match="verdict"):
        from zoo.manifest.schema import UpstreamField

        UpstreamField.model_validate(yaml.safe_load(text))
