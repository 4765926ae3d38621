"""`zoo diff`: upstream-style deployment files against what zoo renders, every difference classified."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.factories import ROOT, resnet50_family, resnet50_workspace
from zoo.deploy.audit import Verdict, dialect_of, flatten, same_value

#: Two models against one PaddleClas config (224 after 256): one follows it, one knowingly does not.
FAMILY = resnet50_family("audited", """\
  - name: follows
  - name: departs
    input_size: 256
    preprocess: {resize: 292}
    deviations:
      input_size: evaluated at 256 px for this test
      preprocess.resize: resized to 292 for this test
""")


def build_in_vdsp(resize: int, crop: int, mean: str = "0.485, 0.456, 0.406", resize_type: str = "BILINEAR_CV") -> str:
    """A vdsp_params file as the upstream zoo writes them (statistics as decimals, not float16)."""
    offset = (resize - crop) // 2
    return f"""{{
  "OpType": "FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR",
  "OpConfig": {{
    "IimageFormat": "RGB_PLANAR",
    "IimageWidth": {resize}, "IimageHeight": {resize},
    "OimageWidth": {crop}, "OimageHeight": {crop}.0,
    "CropX": {offset}, "CropY": {offset},
    "ResizeWidth": {resize}, "ResizeHeight": {resize},
    "IimageWidthPitch": {resize}, "IimageHeightPitch": {resize},
    "Mean": [{mean}],
    "Std": [0.229, 0.224, 0.225],
    "NormaType": "DIV255_MINUSMEAN_DIVSTD",
    "ColorCvtCode": "NO_CHANGE",
    "ResizeType": "{resize_type}"
  }}
}}
"""


VAMC = """\
name: follows
frontend:
  shape: {x: [1, 3, 224, 224]}
  type: onnx
  checkpoint: /models/ppcls/follows.onnx
  dtype: fp32
backend:
  type: tvm_vacc
  dtype: int8
  compile: {cluster_mode: 0}
  quantize: {calibrate_mode: max, quantize_per_channel: true}
dataset:
  type: tvm
  path: ./ILSVRC2012_img_calib/
  sampler: {suffix: JPEG, get_data_num: 1000}
  process_ops:
  - type: DecodeImage
  - type: Resize
    size: [292, 292]
  - type: CenterCrop
    crop_size: [224, 224]
  - type: Normalize
    div255: true
    mean: [0.485, 0.456, 0.406]
    std: [0.229, 0.224, 0.225]
  - type: ToTensor
workspace:
  path: ./deploy_weights/
"""


def section(lines: list[str], heading: str) -> list[str]:
    """The indented lines under the line starting with `heading` (one file's report)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(heading)) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start:end]


def zoo_diff(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZOO_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", str(tmp_path / "manifests"), "diff", *args],
                          capture_output=True, text=True, env=env, timeout=300, check=False, cwd=tmp_path)


def test_diff_classifies_every_field_of_a_folder_of_files(tmp_path: Path) -> None:
    resnet50_workspace(tmp_path, FAMILY, "audited.yaml")
    upstream = tmp_path / "upstream"
    (upstream / "vdsp_params").mkdir(parents=True)
    (upstream / "vdsp_params" / "ppcls-follows-vdsp_params.json").write_text(build_in_vdsp(292, 224, resize_type="BICUBIC"))
    (upstream / "vdsp_params" / "ppcls-departs-vdsp_params.json").write_text(build_in_vdsp(256, 224))
    (upstream / "ppcls_follows.yaml").write_text(VAMC)
    (upstream / "notes.json").write_text('{"author": "someone"}')
    done = zoo_diff(tmp_path, "upstream")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    follows = section(lines, "upstream/vdsp_params/ppcls-follows-vdsp_params.json: ppcls/follows, build_in")
    departs = section(lines, "upstream/vdsp_params/ppcls-departs-vdsp_params.json: ppcls/departs, build_in")
    # the file resizes to 292 where the library and zoo say 256: the library agrees with zoo
    assert "  OpConfig.ResizeWidth: library agrees with zoo: file 292, zoo 256, library 256" in follows
    assert "  OpConfig.CropX: library agrees with zoo: file 34, zoo 16, library 16" in follows
    assert "  OpConfig.OimageHeight: format-only: file 224.0, zoo 224, library 224" in follows
    assert any(line.startswith("  OpConfig.Mean: format-only: file [0.485, 0.456, 0.406]") for line in follows)
    # VDSP has no bicubic; the resize type is zoo's deployment choice, not a library fact
    assert "  OpConfig.ResizeType: differs: file 'BICUBIC', zoo 'BILINEAR_CV', library 'BILINEAR_CV'" in follows
    # the manifest knowingly departs from the library, and the file follows the library
    assert "  OpConfig.ResizeWidth: library agrees with the file: file 256, zoo 292, library 256" in departs
    assert "  OpConfig.OimageWidth: library agrees with the file: file 224, zoo 256, library 224" in departs
    vamc = section(lines, "upstream/ppcls_follows.yaml: ppcls/follows, vamc build YAML "
                          f"(library: paddleclas {_paddleclas()} and {tmp_path / 'configs' / 'ResNet50.yaml'})")
    assert "  dataset.process_ops[Resize].size: library agrees with zoo: file [292, 292], zoo [256, 256], " \
           "library [256, 256]" in vamc
    assert "  backend.quantize.calibrate_mode: differs: file 'max', zoo 'percentile', library 'percentile'" in vamc
    assert "  frontend.checkpoint: differs: file '/models/ppcls/follows.onnx', zoo 'ppcls-follows.onnx', " \
           "library 'ppcls-follows.onnx'" in vamc
    assert "  dataset.path: format-only: file './ILSVRC2012_img_calib/', zoo 'ILSVRC2012_img_calib', " \
           "library 'ILSVRC2012_img_calib'" in vamc
    assert "warning: upstream/notes.json: skipped: not a deployment file zoo knows" in done.stderr
    assert lines[-1].startswith("3 of 4 file(s) compared: ")


def test_a_file_is_matched_by_the_model_name_it_holds_or_by_model(tmp_path: Path) -> None:
    resnet50_workspace(tmp_path, FAMILY, "audited.yaml")
    (tmp_path / "build.yaml").write_text(VAMC)  # `name: follows` inside
    (tmp_path / "params.json").write_text(build_in_vdsp(256, 224))
    done = zoo_diff(tmp_path, "build.yaml", "params.json")
    assert done.stdout.startswith("build.yaml: ppcls/follows, vamc build YAML"), done.stdout
    assert "warning: params.json: skipped: no model of the catalog matches its name; give --model ID" in done.stderr
    forced = zoo_diff(tmp_path, "params.json", "--model", "ppcls/departs")
    assert "params.json: ppcls/departs, build_in vdsp_params" in forced.stdout
    assert "1 of 1 file(s) compared" in forced.stdout


def test_format_only_covers_number_types_float16_case_and_paths() -> None:
    assert same_value(224, 224.0) and same_value(0.485, 0.485107421875) and not same_value(0.485, 0.4875)
    assert same_value("bilinear_cv", "BILINEAR_CV") and same_value("./deploy_weights/", "deploy_weights")
    assert not same_value([256, 256], [256]) and not same_value(True, 1.0) and same_value(False, False)
    assert flatten({"config": [{"Property": "crop_size", "Value": 224}], "ops": [{"type": "A"}, {"type": "B", "x": 1}]}) \
        == {"config[crop_size].Property": "crop_size", "config[crop_size].Value": 224, "ops[A].type": "A",
            "ops[B].type": "B", "ops[B].x": 1}
    assert [v.value for v in Verdict] == ["equal", "format-only", "library agrees with zoo",
                                          "library agrees with the file", "differs"]


def _paddleclas() -> str:
    from zoo.sources.packages import installed_version

    return installed_version("paddleclas") or ""


def test_the_dialect_is_read_from_the_content() -> None:
    vamp = {"vdsp_op_type": "RGB_RESIZE_CVTCOLOR_CROP_NORMALIZATION_TENSORIZATION_U8", "config": []}
    assert dialect_of(vamp) == "vamp vdsp_params"
    assert dialect_of({"vdsp_op_type": 300}) == "sdk1.0 vdsp_params"
    assert dialect_of({"model": {}, "engine": {}}) == "legacy vamc build YAML"
    assert dialect_of({"author": "x"}) is None and dialect_of(["not", "a", "mapping"]) is None
