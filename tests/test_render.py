"""Rendering deployment files: golden files, format checks, overrides, errors, the CLI.

Golden files (tests/golden/render/{int8,fp16}/timm-cspresnet50/) hold the docs/formats.md worked
example rendered in both profiles. After an intended change of the templates, regenerate them
by rendering `factories.WORKED_EXAMPLE` with `render_model(..., dtype=d)` into
`tests/golden/render/{d}` for both profiles, and review the diff line by line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.factories import VARIANTS, WORKED_EXAMPLE, load_models, variants_manifest, write_manifest
from tests.import_probe import HEAVY, zoo_imports
from tests.readers import parse, vamp_values
from zoo.deploy.profiles import PROFILES
from zoo.deploy.render import render_all, render_model
from zoo.errors import RenderError
from zoo.manifest.catalog import load_catalog
from zoo.manifest.schema import Model

GOLDEN = Path(__file__).parent / "golden" / "render"
ZOO = Path(sys.executable).parent / "zoo"


@pytest.fixture()
def worked(tmp_path: Path) -> Model:
    return load_models(write_manifest(tmp_path / "manifests", WORKED_EXAMPLE, "fixture.yaml"))["timm/cspresnet50"]


@pytest.fixture()
def variants(tmp_path: Path) -> dict[str, Model]:
    return load_models(write_manifest(tmp_path / "manifests", variants_manifest(), "fixture.yaml"))


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- golden files
@pytest.mark.parametrize("dtype", ["int8", "fp16"])
def test_worked_example_matches_golden_files(worked: Model, tmp_path: Path, dtype: str) -> None:
    out = tmp_path / "out"
    for profile in PROFILES:
        render_model(worked, out_dir=out, profile=profile, dtype=dtype)
    assert tree(out) == tree(GOLDEN / dtype)


def test_golden_files_hold_the_formats_md_numbers() -> None:
    """Independent of the templates: the worked example's values, read from the golden files."""
    folder = GOLDEN / "int8" / "timm-cspresnet50"
    config = parse(folder / "timm-cspresnet50-vdsp_params.json")["OpConfig"]
    assert (config["ResizeWidth"], config["OimageWidth"], config["CropX"], config["CropY"]) == (288, 256, 16, 16)
    assert config["Mean"] == [0.485107421875, 0.4560546875, 0.406005859375]
    assert config["Std"] == [0.22900390625, 0.2239990234375, 0.2249755859375]
    # timm resizes with PIL's bilinear filter, which BILINEAR_PILLOW reproduces exactly
    assert (config["NormaType"], config["ColorCvtCode"], config["ResizeType"]) == (
        "DIV255_MINUSMEAN_DIVSTD", "NO_CHANGE", "BILINEAR_PILLOW")
    sdk1 = parse(folder / "sdk1.0" / "timm-cspresnet50-vdsp_params.json")
    assert sdk1 == {
        "vdsp_op_type": 300, "iimage_format": 5000, "iimage_width": 288, "iimage_height": 288,
        "iimage_width_pitch": 288, "iimage_height_pitch": 288, "short_edge_threshold": 288, "resize_type": 1,
        "color_cvt_code": 2, "color_space": 0, "crop_size": 256, "meanr": 14275, "meang": 14156, "meanb": 13951,
        "stdr": 13140, "stdg": 13099, "stdb": 13107, "norma_type": 4,
    }
    vamp = parse(folder / "vamp" / "timm-cspresnet50-vdsp_params.json")
    assert [e["Property"] for e in vamp["config"]] == [
        "iimage_format", "iimage_width", "iimage_height", "iimage_width_pitch", "iimage_height_pitch",
        "short_edge_threshold", "crop_size", "meanr", "meang", "meanb", "stdr", "stdg", "stdb", "norma_type",
        "resize_type", "color_cvt_code", "color_space"]
    assert vamp_values(vamp)["meanr"] == 14275 and vamp_values(vamp)["color_cvt_code"] == "COLOR_NO_CHANGE"
    vamc = parse(folder / "timm_cspresnet50.yaml")
    assert vamc["frontend"]["shape"] == {"input": [1, 3, 256, 256]}
    assert vamc["dataset"]["sampler"] == {"suffix": "JPEG", "get_data_num": 50}  # upstream's current count
    legacy = parse(folder / "sdk1.0" / "timm_cspresnet50.yaml")
    assert legacy["dataset"]["sampler"] == {"suffix": "JPEG", "get_data_num": 1000}  # the legacy files' count
    assert vamc["dataset"]["process_ops"][1:3] == [{"type": "Resize", "size": [288, 288]},
                                                   {"type": "CenterCrop", "crop_size": [256, 256]}]
    info = parse(folder / "model_info_cspresnet50.json")
    assert info["model_lib_path"] == "deploy_weights/cspresnet50-int8-percentile-3_256_256-vacc/cspresnet50.so"


def test_json_layout_is_four_space_one_value_per_line(worked: Model, tmp_path: Path) -> None:
    for profile in PROFILES:
        result = render_model(worked, out_dir=tmp_path, profile=profile)
        for file in (f for f in result.files if f.suffix == ".json"):
            text = file.read_text()
            assert text == json.dumps(json.loads(text), indent=4) + "\n", file


# ----------------------------------------------------------------------------- variants
@pytest.mark.parametrize(("name", "resize", "crop", "op"), [
    ("crop0875", 256, 16, "CROP"),
    ("crop0887", 288, 16, "CROP"),
    ("crop095", 235, 6, "CROP"),  # 5.5 -> 6
    ("crop1", 224, None, "RESIZE"),
    ("inception", 341, 21, "CROP"),
    ("resize_given", 288, 16, "CROP"),
    ("half_down", 233, 4, "CROP"),  # 4.5 -> 4
])
def test_resize_and_crop_variants(variants: dict[str, Model], tmp_path: Path, name: str, resize: int,
                                  crop: int | None, op: str) -> None:
    model = variants[f"timm/{name}"]
    size = model.input_size[1]
    render_model(model, out_dir=tmp_path, profile="build_in")
    render_model(model, out_dir=tmp_path, profile="sdk1")
    folder = tmp_path / model.stem
    config = parse(folder / f"{model.stem}-vdsp_params.json")
    assert config["OpType"] == f"FUSION_OP_RGB_RESIZE_CVTCOLOR_{'CROP_' if op == 'CROP' else ''}NORM_TENSOR"
    assert (config["OpConfig"]["ResizeWidth"], config["OpConfig"]["OimageHeight"]) == (resize, size)
    assert config["OpConfig"].get("CropX") == crop and config["OpConfig"].get("CropY") == crop
    sdk1 = parse(folder / "sdk1.0" / f"{model.stem}-vdsp_params.json")
    assert (sdk1["vdsp_op_type"], sdk1["short_edge_threshold"], sdk1["crop_size"]) == (300, resize, size)
    vamp = vamp_values(parse(folder / "vamp" / f"{model.stem}-vdsp_params.json"))
    assert (vamp["short_edge_threshold"], vamp["crop_size"]) == (resize, size)
    for vamc in (parse(folder / f"timm_{name}.yaml"), parse(folder / "sdk1.0" / f"timm_{name}.yaml")):
        ops = vamc["dataset"].get("process_ops") or vamc["dataset"]["transform_ops"]
        assert ops[1] == {"type": "Resize", "size": [resize, resize]}
        assert ops[2] == {"type": "CenterCrop", "crop_size": [size, size]}


def test_bicubic_bgr_and_byte_statistics(variants: dict[str, Model], tmp_path: Path) -> None:
    bicubic = render_model(variants["timm/bicubic"], out_dir=tmp_path)
    assert any("bicubic" in a for a in bicubic.approximations)
    yaml_text = (bicubic.folder / "timm_bicubic.yaml").read_text()
    assert all(f"# approximation: {a}" in yaml_text for a in bicubic.approximations)
    assert parse(bicubic.folder / "timm-bicubic-vdsp_params.json")["OpConfig"]["ResizeType"] == "BILINEAR_CV"

    bgr = render_model(variants["timm/bgr"], out_dir=tmp_path, profile="sdk1")
    assert parse(bgr.folder / "sdk1.0" / "timm-bgr-vdsp_params.json")["color_cvt_code"] == 4
    vamp = vamp_values(parse(bgr.folder / "vamp" / "timm-bgr-vdsp_params.json"))
    assert vamp["color_cvt_code"] == "COLOR_RGB2BGR" and vamp["meanr"] == 13951  # 0.406: blue comes first
    render_model(variants["timm/bgr"], out_dir=tmp_path)
    current = parse(bgr.folder / "timm-bgr-vdsp_params.json")["OpConfig"]
    assert current["ColorCvtCode"] == "RGB2BGR" and current["Mean"][0] == 0.406005859375

    byte = render_model(variants["timm/bytes"], out_dir=tmp_path, profile="sdk1")
    legacy = parse(byte.folder / "sdk1.0" / "timm_bytes.yaml")
    assert legacy["dataset"]["transform_ops"][3] == {
        "type": "Normalize", "div255": False, "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}
    assert parse(byte.folder / "sdk1.0" / "timm-bytes-vdsp_params.json")["norma_type"] == 3
    render_model(variants["timm/bytes"], out_dir=tmp_path)
    assert parse(byte.folder / "timm_bytes.yaml")["dataset"]["process_ops"][3]["div255"] is False
    assert parse(byte.folder / "timm-bytes-vdsp_params.json")["OpConfig"]["NormaType"] == "MINUSMEAN_DIVSTD"

    unit = render_model(variants["timm/unit_stats"], out_dir=tmp_path, profile="sdk1")
    assert parse(unit.folder / "sdk1.0" / "timm-unit_stats-vdsp_params.json")["norma_type"] == 6


def test_squash_approximation_depends_on_the_profile(variants: dict[str, Model], tmp_path: Path) -> None:
    assert render_model(variants["timm/squash"], out_dir=tmp_path).approximations == []
    sdk1 = render_model(variants["timm/squash"], out_dir=tmp_path, profile="sdk1")
    (line,) = sdk1.approximations
    assert "short_edge_threshold" in line and "sdk1.0 vdsp_params" in line and "vamp vdsp_params" in line
    assert f"# approximation: {line}" in (sdk1.folder / "sdk1.0" / "timm_squash.yaml").read_text()


def test_int8_and_fp16_blocks(worked: Model, tmp_path: Path) -> None:
    int8 = render_model(worked, out_dir=tmp_path / "a", calib_dir="calib/imagenet")
    doc = parse(int8.folder / "timm_cspresnet50.yaml")
    assert doc["backend"]["quantize"] == {"calibrate_mode": "percentile", "quantize_per_channel": True}
    assert doc["dataset"]["path"] == "calib/imagenet" and int8.notes == []
    fp16 = render_model(worked, out_dir=tmp_path / "b", dtype="fp16")
    doc = parse(fp16.folder / "timm_cspresnet50.yaml")
    assert doc["backend"]["dtype"] == "fp16" and "quantize" not in doc["backend"] and "dataset" not in doc
    legacy = render_model(worked, out_dir=tmp_path / "b", dtype="fp16", profile="sdk1")
    doc = parse(legacy.folder / "sdk1.0" / "timm_cspresnet50.yaml")
    assert doc["engine"]["common"]["do_quantization"] is False
    assert "calibration" not in doc["engine"] and "dataset" not in doc


def test_non_square_model(tmp_path: Path) -> None:
    models = load_models(write_manifest(tmp_path / "m", "family: wide\ntitle: Wide\nmodels:\n  - name: wide\n"
                                        "    source: {library: timm}\n    input_size: [3, 224, 320]\n"
                                        "    preprocess: {crop_pct: 0.875, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n",
                                        "fixture.yaml"))
    model = models["timm/wide"]
    result = render_model(model, out_dir=tmp_path / "out")
    config = parse(result.folder / "timm-wide-vdsp_params.json")["OpConfig"]
    assert (config["ResizeWidth"], config["ResizeHeight"], config["CropX"], config["CropY"]) == (365, 256, 22, 16)
    assert any(a.startswith("non-square input") for a in result.approximations)
    with pytest.raises(RenderError, match="vamp vdsp_params dialect .* 320x224 input; use --profile build_in"):
        render_model(model, out_dir=tmp_path / "out", profile="sdk1")
    assert not (result.folder / "sdk1.0").exists()  # nothing of the failed profile was written


# ----------------------------------------------------------------------------- templates
def test_user_template_overrides_by_relative_path(worked: Model, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "templates"
    user.mkdir()
    builtin = (Path(__file__).parent.parent / "zoo" / "templates" / "model_info.json.j2").read_text()
    (user / "model_info.json.j2").write_text(builtin.replace("{{ paths.hw_config_file }}", "site/hw/{{ identity.name }}.bin"))
    result = render_model(worked, out_dir=tmp_path / "a", templates_dir=user)
    assert parse(result.folder / "model_info_cspresnet50.json")["hw_config_file"] == "site/hw/cspresnet50.bin"
    golden = GOLDEN / "int8" / "timm-cspresnet50"
    assert (result.folder / "timm_cspresnet50.yaml").read_bytes() == (golden / "timm_cspresnet50.yaml").read_bytes()

    monkeypatch.setenv("ZOO_TEMPLATES", str(user))
    via_env = render_model(worked, out_dir=tmp_path / "b")
    assert parse(via_env.folder / "model_info_cspresnet50.json")["hw_config_file"] == "site/hw/cspresnet50.bin"
    monkeypatch.setenv("ZOO_TEMPLATES", str(tmp_path / "missing"))
    with pytest.raises(RenderError, match=r"templates folder .*missing \(\$ZOO_TEMPLATES\) does not exist"):
        render_model(worked, out_dir=tmp_path / "c")


def test_undefined_variable_names_file_line_and_variable(worked: Model, tmp_path: Path) -> None:
    user = tmp_path / "templates" / "vdsp"
    user.mkdir(parents=True)
    (user / "build_in.json.j2").write_text('{\n    "OpType": "{{ graph.op_type }}",\n    "W": {{ resize.widht }}\n}\n')
    with pytest.raises(RenderError) as caught:
        render_model(worked, out_dir=tmp_path / "out", templates_dir=tmp_path / "templates")
    message = str(caught.value)
    assert f"{user / 'build_in.json.j2'}:3:" in message
    assert "undefined variable `resize.widht`" in message and "did you mean `resize.width`" in message
    assert not (tmp_path / "out").exists()  # nothing of the model was published


def test_names_from_before_the_groups_point_to_their_group(worked: Model, tmp_path: Path) -> None:
    """Templates see the context's groups; a flat name of an older template override says where it went."""
    user = tmp_path / "templates"
    user.mkdir()
    for text, hint in [("{{ name }}", "did you mean `identity.name`, `input.name`?"),
                       ("{{ resize_width }}", "did you mean `resize.width`"),
                       ("{{ crop_x }}", "did you mean `crop.x`")]:
        (user / "model_info.json.j2").write_text(f'{{\n  "model_name": "{text}"\n}}\n')
        with pytest.raises(RenderError) as caught:
            render_model(worked, out_dir=tmp_path / "out", templates_dir=user)
        assert "model_info.json.j2:2: undefined variable" in str(caught.value) and hint in str(caught.value)


def test_template_syntax_error_is_located(worked: Model, tmp_path: Path) -> None:
    user = tmp_path / "templates"
    user.mkdir()
    (user / "model_info.json.j2").write_text('{\n  "model_name": "{{ identity.name }}"\n{% if quantize.enabled %}\n}\n')
    with pytest.raises(RenderError, match=r"model_info.json.j2:\d+: template syntax error"):
        render_model(worked, out_dir=tmp_path / "out", templates_dir=user)


def test_template_runtime_error_is_located(worked: Model, tmp_path: Path) -> None:
    user = tmp_path / "templates"
    user.mkdir()
    (user / "model_info.json.j2").write_text('{\n  "model_name": "{{ identity.name }}",\n  "x": {{ input.width / 0 }}\n}\n')
    with pytest.raises(RenderError, match=r"model_info.json.j2:3: template error: division by zero"):
        render_model(worked, out_dir=tmp_path / "out", templates_dir=user)

def test_output_that_breaks_the_format_is_not_written(worked: Model, tmp_path: Path) -> None:
    user = tmp_path / "templates" / "vdsp"
    user.mkdir(parents=True)
    builtin = (Path(__file__).parent.parent / "zoo" / "templates" / "vdsp" / "build_in.json.j2").read_text()
    (user / "build_in.json.j2").write_text(
        builtin.replace('"CropX": {{ crop.x }}', '"CropX": 15').replace('"ResizeType"', '"ResizeKind"'))
    with pytest.raises(RenderError) as caught:
        render_model(worked, out_dir=tmp_path / "out", templates_dir=tmp_path / "templates")
    message = str(caught.value)
    assert "build_in.json.j2" in message and "OpConfig.CropX: expected 16, found 15" in message
    assert "missing key `ResizeType`" in message and "unexpected key `ResizeKind`" in message
    assert not (tmp_path / "out").exists()

    (user / "build_in.json.j2").write_text("{ not json")
    with pytest.raises(RenderError, match="does not parse"):
        render_model(worked, out_dir=tmp_path / "out", templates_dir=tmp_path / "templates")


def test_yaml_override_must_keep_the_approximation_comments(variants: dict[str, Model], tmp_path: Path) -> None:
    user = tmp_path / "templates" / "vamc"
    user.mkdir(parents=True)
    builtin = (Path(__file__).parent.parent / "zoo" / "templates" / "vamc" / "build.yaml.j2").read_text()
    (user / "build.yaml.j2").write_text(builtin.replace("# approximation: {{ line }}", "# {{ notes }}"))
    with pytest.raises(RenderError, match="approximation comment missing: interpolation"):
        render_model(variants["timm/bicubic"], out_dir=tmp_path / "out", templates_dir=tmp_path / "templates")


# ----------------------------------------------------------------------------- writing
def test_writes_are_atomic_and_idempotent(worked: Model, tmp_path: Path) -> None:
    first = render_model(worked, out_dir=tmp_path)
    stamps = {f: f.stat().st_mtime_ns for f in first.files}
    second = render_model(worked, out_dir=tmp_path)
    assert {f: f.stat().st_mtime_ns for f in second.files} == stamps  # unchanged files are not rewritten
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    render_model(worked, out_dir=tmp_path, dtype="fp16")
    assert "fp16" in (first.folder / "timm_cspresnet50.yaml").read_text()
    assert first.metrics()["files"] == ["timm_cspresnet50.yaml", "timm-cspresnet50-vdsp_params.json",
                                        "model_info_cspresnet50.json"]
    sdk1 = render_model(worked, out_dir=tmp_path, profile="sdk1")
    assert sdk1.metrics()["files"] == ["sdk1.0/timm_cspresnet50.yaml", "sdk1.0/timm-cspresnet50-vdsp_params.json",
                                       "vamp/timm-cspresnet50-vdsp_params.json", "model_info_cspresnet50.json"]


def test_render_all_isolates_failures(tmp_path: Path, variants: dict[str, Model]) -> None:
    wide = load_models(write_manifest(tmp_path / "w", "family: wide\ntitle: W\nmodels:\n  - name: wide\n"
                                      "    source: {library: timm}\n    input_size: [3, 224, 320]\n"
                                      "    preprocess: {crop_pct: 0.875, mean: [0, 0, 0], std: [1, 1, 1]}\n",
                                      "fixture.yaml"))
    models = [wide["timm/wide"], *variants.values()]
    batch = render_all(models, out_dir=tmp_path / "out", profile="sdk1")
    assert list(batch.failures) == ["timm/wide"] and "vamp" in batch.failures["timm/wide"]
    assert len(batch.results) == len(VARIANTS)
    with pytest.raises(RenderError, match="unknown profile 'sdk2'"):
        render_all(models, out_dir=tmp_path / "out", profile="sdk2")


def test_every_shipped_model_renders_and_parses_back(tmp_path: Path) -> None:
    """Every model in build_in, the profile VastModelZOO deploys with; the seed models in every profile."""
    catalog = load_catalog()
    models = list(catalog.models.values())
    assert models, "no shipped manifests found in zoo/manifests"
    for profile, outputs in PROFILES.items():
        if profile != "build_in":
            models = [m for m in models if m.upstream is None]
        batch = render_all(models, out_dir=tmp_path, profile=profile)
        assert batch.failures == {}
        assert len(batch.results) == len(models)
        for result in batch.results:
            assert len(result.files) == len(outputs)
            for file in result.files:
                doc = parse(file)
                assert isinstance(doc, dict) and doc, file


# ----------------------------------------------------------------------------- the CLI
CLI_MANIFEST = """\
family: clifix
title: CLI fixture
defaults:
  source: {library: timm}
  preprocess: {crop_pct: 0.875, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
models:
  - {name: clifix_plain, input_size: 224}
  - {name: clifix_bicubic, input_size: 224, preprocess: {interpolation: bicubic}}
  - {name: clifix_wide, input_size: [3, 224, 320]}
"""


def zoo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ZOO), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ZOO_TEMPLATES": ""})


def test_cli_renders_and_warns(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "clifix.yaml").write_text(CLI_MANIFEST)
    result = zoo(tmp_path, "--manifests", "manifests", "render", "timm/clifix_plain", "clifix_bicubic",
                 "--calib-dir", "calib")
    assert result.returncode == 0, result.stderr
    assert "out/timm-clifix_bicubic/timm-clifix_bicubic-vdsp_params.json" in result.stdout
    warning = "warning: timm/clifix_bicubic: approximation: interpolation: the source resizes with bicubic"
    assert warning in result.stderr
    assert "Traceback" not in result.stderr and "placeholder" not in result.stderr
    assert "rendered 2 model(s), profile build_in" in result.stdout
    doc = yaml.safe_load((tmp_path / "out" / "timm-clifix_plain" / "timm_clifix_plain.yaml").read_text())
    assert doc["dataset"]["path"] == "calib"

    fp16 = zoo(tmp_path, "--manifests", "manifests", "render", "--family", "clifix", "--dtype", "fp16",
               "--out", "deploy")
    assert fp16.returncode == 0, fp16.stderr
    assert "quantize" not in (tmp_path / "deploy" / "timm-clifix_wide" / "timm_clifix_wide.yaml").read_text()


def test_cli_failures_exit_non_zero_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "clifix.yaml").write_text(CLI_MANIFEST)
    result = zoo(tmp_path, "--manifests", "manifests", "render", "clifix_*", "--profile", "sdk1")
    assert result.returncode == 1
    assert "error: timm/clifix_wide:" in result.stderr and "use --profile build_in" in result.stderr
    assert "1 failure(s)" in result.stdout and "Traceback" not in result.stderr
    assert (tmp_path / "out" / "timm-clifix_plain" / "vamp" / "timm-clifix_plain-vdsp_params.json").is_file()

    unknown = zoo(tmp_path, "--manifests", "manifests", "render", "timm/clifix_plian")
    assert unknown.returncode == 1 and "did you mean" in unknown.stderr
    missing = zoo(tmp_path, "--manifests", "manifests", "render", "clifix_plain", "--templates", "nowhere")
    assert missing.returncode == 1 and "templates folder nowhere (--templates) does not exist" in missing.stderr
    nothing = zoo(tmp_path, "render")
    assert nothing.returncode == 1 and "--all" in nothing.stderr


def test_cli_imports_no_heavy_framework(tmp_path: Path) -> None:
    result, imported = zoo_imports("render", "--all", "--out", str(tmp_path / "out"), watch=(*HEAVY, "numpy"))
    assert result.returncode == 0, result.stderr
    assert imported == []
