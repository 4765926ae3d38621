"""Every deployment setting of the published classifier files, one fixture model per setting.

Golden files (tests/golden/render/settings/) hold `SETTINGS` rendered in both profiles, int8;
a model whose setting the legacy dialects cannot say has no sdk1 files (that refusal is tested
below). After an intended change of the templates, regenerate them with
`PYTHONPATH=. python -c "from tests.test_deploy_settings import regenerate; regenerate()"` and
review the diff line by line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.factories import load_models, write_manifest
from tests.readers import parse, vamp_values
from zoo.deploy.builders import build_context
from zoo.deploy.profiles import PROFILES
from zoo.deploy.render import render_all
from zoo.manifest.schema import Model

GOLDEN = Path(__file__).parent / "golden" / "render" / "settings"

SETTINGS = """\
family: settings
title: One deployment setting per model
defaults:
  source: {library: timm}
  input_size: 224
  preprocess: {crop_pct: 0.875, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
models:
  - name: pil_bilinear
  - name: explicit_cv
    deploy: {resize_type: BILINEAR_CV}
  - name: explicit_pillow
    preprocess: {resize_backend: cv2}
    deploy: {resize_type: BILINEAR_PILLOW}
  - name: bgr_images
    deploy: {image_color: BGR}
  - name: bgr_network
    preprocess: {color: BGR}
  - name: raw_pixels
    preprocess: {color: BGR, value_range: "0..255", mean: [0, 0, 0], std: [1, 1, 1]}
  - name: mse
    deploy: {calibrate_mode: mse}
  - name: compile_options
    deploy: {compile: {data_transport_mode: 1, dense_special_config: [1, 4096, 4096]}}
  - name: sampler
    deploy: {sampler_suffix: jpg, calib_count: 1000}
  - name: softmax
    deploy: {extra_ops: softmax}
  - name: torchscript
    deploy: {frontend: pytorch}
"""

#: What the legacy (sdk1) profile cannot say, by model: the setting its error names.
LEGACY_REFUSES = {
    "explicit_pillow": "ResizeType BILINEAR_PILLOW (deploy.resize_type)",
    "bgr_images": "ColorCvtCode BGR2RGB (deploy.image_color, preprocess.color)",
    "raw_pixels": "NormaType EQUAL (preprocess.value_range, mean, std)",
    "mse": "quant_mode mse (deploy.calibrate_mode)",
    "compile_options": "compile options (deploy.compile)",
    "torchscript": "frontend pytorch (deploy.frontend)",
}


def settings_models(folder: Path) -> list[Model]:
    return list(load_models(write_manifest(folder, SETTINGS, "settings.yaml")).values())


def render_settings(models: list[Model], out: Path) -> dict[str, dict[str, str]]:
    """Render every model in both profiles into `out`; the failures by profile."""
    return {profile: render_all(models, out_dir=out, profile=profile).failures for profile in PROFILES}


def regenerate() -> None:
    """Rewrite the golden files (see the module docstring)."""
    import tempfile

    shutil.rmtree(GOLDEN, ignore_errors=True)
    with tempfile.TemporaryDirectory() as folder:
        render_settings(settings_models(Path(folder)), GOLDEN)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    out = tmp_path_factory.mktemp("settings")
    return out / "out", render_settings(settings_models(out / "manifests"), out / "out")


def test_settings_match_golden_files(rendered: tuple[Path, dict[str, dict[str, str]]]) -> None:
    out, failures = rendered
    assert failures["build_in"] == {}
    assert tree(out) == tree(GOLDEN)


def test_legacy_profile_refuses_what_it_cannot_say(rendered: tuple[Path, dict[str, dict[str, str]]]) -> None:
    _, failures = rendered
    refused = {model_id.removeprefix("timm/"): message for model_id, message in failures["sdk1"].items()}
    assert sorted(refused) == sorted(LEGACY_REFUSES)
    for name, setting in LEGACY_REFUSES.items():
        assert f"has no known form for {setting}" in refused[name], refused[name]
        assert "use --profile build_in" in refused[name]
        assert not (GOLDEN / f"timm-{name}" / "sdk1.0").exists()


def _build_in(name: str) -> tuple[dict, dict]:
    """The golden build YAML and build_in vdsp_params OpConfig of a settings model."""
    folder = GOLDEN / f"timm-{name}"
    return parse(folder / f"timm_{name}.yaml"), parse(folder / f"timm-{name}-vdsp_params.json")["OpConfig"]


def test_golden_files_hold_the_published_values() -> None:
    """Independent of the templates: each setting as the published files write it."""
    assert _build_in("pil_bilinear")[1]["ResizeType"] == "BILINEAR_PILLOW"
    assert _build_in("explicit_cv")[1]["ResizeType"] == "BILINEAR_CV"
    assert _build_in("explicit_pillow")[1]["ResizeType"] == "BILINEAR_PILLOW"
    assert _build_in("bgr_images")[1]["ColorCvtCode"] == "BGR2RGB"
    vamc, config = _build_in("raw_pixels")  # the published megvii ShuffleNet files
    assert (config["NormaType"], config["ColorCvtCode"]) == ("EQUAL", "RGB2BGR")
    assert vamc["dataset"]["process_ops"][:2] == [{"type": "DecodeImage"}, {"type": "CvtColor", "code": "COLOR_RGB2BGR"}]
    assert vamc["dataset"]["process_ops"][4] == {"type": "Normalize", "div255": False, "mean": [0, 0, 0],
                                                 "std": [1, 1, 1]}
    assert _build_in("mse")[0]["backend"]["quantize"]["calibrate_mode"] == "mse"
    backend = _build_in("compile_options")[0]["backend"]
    assert backend["compile"] == {"cluster_mode": 0, "data_transport_mode": 1, "dense_special_config": [1, 4096, 4096]}
    assert backend["quantize"]["dense_special_config"] == [1, 4096, 4096]
    assert _build_in("sampler")[0]["dataset"]["sampler"] == {"suffix": "jpg", "get_data_num": 1000}
    assert _build_in("softmax")[0]["graph"] == {"extra_ops": {"type": "softmax"}}
    frontend = _build_in("torchscript")[0]["frontend"]
    assert (frontend["type"], frontend["checkpoint"]) == ("pytorch", "timm-torchscript.torchscript.pt")
    assert "CvtColor" not in str(_build_in("pil_bilinear")[0]) and "graph" not in _build_in("pil_bilinear")[0]


def test_bgr_network_calibrates_in_bgr() -> None:
    """The calibration pipeline converts to BGR after decoding, so its statistics go B, G, R."""
    vamc, config = _build_in("bgr_network")
    ops = vamc["dataset"]["process_ops"]
    assert [op["type"] for op in ops] == ["DecodeImage", "CvtColor", "Resize", "CenterCrop", "Normalize", "ToTensor"]
    assert ops[4]["mean"] == [0.406, 0.456, 0.485] and ops[4]["std"] == [0.225, 0.224, 0.229]
    assert config["ColorCvtCode"] == "RGB2BGR" and config["Mean"][0] == 0.406005859375
    assert "colour" not in (GOLDEN / "timm-bgr_network" / "timm_bgr_network.yaml").read_text()
    legacy = parse(GOLDEN / "timm-bgr_network" / "sdk1.0" / "timm_bgr_network.yaml")
    assert legacy["dataset"]["transform_ops"][3]["mean"] == [0.485, 0.456, 0.406]  # no conversion there: RGB
    assert "# approximation: colour:" in (GOLDEN / "timm-bgr_network" / "sdk1.0" / "timm_bgr_network.yaml").read_text()


def test_legacy_files_keep_opencv_bilinear_and_report_it() -> None:
    folder = GOLDEN / "timm-pil_bilinear"
    assert parse(folder / "sdk1.0" / "timm-pil_bilinear-vdsp_params.json")["resize_type"] == 1
    assert vamp_values(parse(folder / "vamp" / "timm-pil_bilinear-vdsp_params.json"))["resize_type"] == "BILINEAR_CV"
    legacy_yaml = (folder / "sdk1.0" / "timm_pil_bilinear.yaml").read_text()
    assert "# approximation: resize filter: the source resizes with PIL" in legacy_yaml
    assert "resize filter" not in (folder / "timm_pil_bilinear.yaml").read_text()
    explicit = (GOLDEN / "timm-explicit_pillow" / "timm_explicit_pillow.yaml").read_text()
    assert "# approximation: resize filter: the source resizes with OpenCV" in explicit


def test_calibration_count_is_the_profiles_unless_the_manifest_says(tmp_path: Path) -> None:
    models = {m.name: m for m in settings_models(tmp_path)}
    default, stated = build_context(models["pil_bilinear"]), build_context(models["sampler"])
    assert (default.quantize.calib_count, default.legacy.calib_count) == (50, 1000)
    assert (stated.quantize.calib_count, stated.legacy.calib_count) == (1000, 1000)


@pytest.mark.parametrize(("deploy", "message"), [
    ({"resize_type": "BILINEAR"}, "'auto', 'BILINEAR_CV' or 'BILINEAR_PILLOW'"),
    ({"calibrate_mode": "entropy"}, "'percentile', 'kl_divergence', 'max' or 'mse'"),
    ({"image_color": "GBR"}, "'RGB' or 'BGR'"),
    ({"sampler_suffix": ".jpg"}, "without the dot"),
    ({"sampler_suffix": "on"}, "YAML reads as a boolean"),
    ({"compile": {"data_transport_mode": -1}}, "greater than or equal to 0"),
    ({"compile": {"dense_special_config": []}}, "at least 1 item"),
    ({"compile": {"dense_special_config": [1, 0]}}, "greater than 0"),
    ({"compile": {"cluster_mode": 1}}, "Extra inputs are not permitted"),
    ({"calib_count": 0}, "greater than 0"),
    ({"frontend": "keras"}, "'onnx' or 'pytorch'"),
])
def test_settings_are_validated(deploy: dict, message: str) -> None:
    data = {"name": "m", "family": "f", "source": {"library": "timm"}, "input_size": 224,
            "preprocess": {"crop_pct": 0.875, "mean": [0.5] * 3, "std": [0.5] * 3}, "deploy": deploy}
    with pytest.raises(ValidationError, match=message):
        Model.model_validate(data)


def test_torchscript_needs_a_torch_library() -> None:
    data = {"name": "m", "family": "f", "source": {"library": "ppcls"}, "input_size": 224,
            "preprocess": {"resize": 256, "mean": [0.5] * 3, "std": [0.5] * 3}, "deploy": {"frontend": "pytorch"}}
    with pytest.raises(ValidationError, match="deploy.frontend `pytorch` needs one of the libraries .*timm.*; "
                                              "library `ppcls` exports ONNX only"):
        Model.model_validate(data)
