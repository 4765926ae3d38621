"""The deploy context on its own: every number and code the deployment files will carry."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.factories import BYTE_STATS, preprocessed_model
from zoo.deploy import model_info, vamc, vamc_legacy, vdsp_build_in, vdsp_sdk1, vdsp_vamp
from zoo.deploy.approximations import FP16_TOLERANCE
from zoo.deploy.builders import build_context
from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.vdsp_build_in import OP_RESIZE, OP_RESIZE_CROP
from zoo.errors import RenderError
from zoo.manifest.derived import derive
from zoo.manifest.schema import Model

VAMC, VAMC_LEGACY, MODEL_INFO = vamc.DIALECT, vamc_legacy.DIALECT, model_info.DIALECT
VDSP_BUILD_IN, VDSP_SDK1, VDSP_VAMP = vdsp_build_in.DIALECT, vdsp_sdk1.DIALECT, vdsp_vamp.DIALECT
ALL = [VAMC, VAMC_LEGACY, VDSP_BUILD_IN, VDSP_SDK1, VDSP_VAMP, MODEL_INFO]
BUILD_IN = [VAMC, VDSP_BUILD_IN, MODEL_INFO]
SDK1 = [VAMC_LEGACY, VDSP_SDK1, VDSP_VAMP, MODEL_INFO]


def kinds(ctx: DeployContext, dialects: list[Dialect]) -> list[str]:
    return [line.split(":", 1)[0] for line in ctx.approximations_for(dialects)]


def test_worked_example() -> None:
    """docs/formats.md: timm cspresnet50, S=256, crop_pct 0.887 -> 288, crop 16, fp16 stats, bits."""
    ctx = build_context(preprocessed_model("cspresnet50", input_size=256, crop_pct=0.887))
    assert (ctx.resize.height, ctx.resize.width, ctx.crop.x, ctx.crop.y) == (288, 288, 16, 16)
    assert ctx.normalise.mean_fp16 == (0.485107421875, 0.4560546875, 0.406005859375)
    assert ctx.normalise.std_fp16 == (0.22900390625, 0.2239990234375, 0.2249755859375)
    assert ctx.normalise.mean_bits == (14275, 14156, 13951) and ctx.normalise.std_bits == (13140, 13099, 13107)
    assert (ctx.normalise.norm_type, ctx.colour.cvt_code, ctx.resize.type) == (
        "DIV255_MINUSMEAN_DIVSTD", "NO_CHANGE", "BILINEAR_CV")
    assert ctx.graph.op_type == OP_RESIZE_CROP and ctx.crop.enabled
    assert (ctx.legacy.op_type, ctx.legacy.image_format, ctx.legacy.resize_type) == (300, 5000, 1)
    assert (ctx.legacy.color_cvt_code, ctx.legacy.color_space, ctx.legacy.norm_type) == (2, 0, 4)
    assert (ctx.resize.short_edge, ctx.crop.size, ctx.legacy.vamp_color_cvt_code) == (288, 256, "COLOR_NO_CHANGE")
    assert ctx.input.name == "input" and ctx.input.name_from == "convention"
    assert ctx.input.shape == (1, 3, 256, 256)
    assert ctx.paths.compiled_folder == "cspresnet50-int8-percentile-3_256_256-vacc"
    assert ctx.paths.model_lib == "deploy_weights/cspresnet50-int8-percentile-3_256_256-vacc/cspresnet50.so"
    assert ctx.paths.checkpoint == "timm-cspresnet50.onnx"
    assert ctx.quantize.enabled and ctx.quantize.dtype == "int8" and ctx.quantize.calibrate_mode == "percentile"
    # only the square-resize approximation; the sdk1.0/vamp shorter-side resize is exact
    assert kinds(ctx, BUILD_IN) == ["resize"] and kinds(ctx, [VDSP_SDK1, VDSP_VAMP]) == []


def test_statistics_come_from_zoo_preprocess() -> None:
    model = preprocessed_model(input_size=256, crop_pct=0.887)
    derived, ctx = derive(model), build_context(model)
    assert (ctx.normalise.mean, ctx.normalise.std, ctx.normalise.mean_fp16, ctx.normalise.std_bits) == (
        derived.mean, derived.std, derived.mean_fp16, derived.std_bits)


@pytest.mark.parametrize(
    ("size", "pre", "resize", "crop"),
    [
        (224, {"crop_pct": 0.875}, 256, 16),
        (256, {"crop_pct": 0.887}, 288, 16),
        (299, {"crop_pct": 0.875}, 341, 21),  # floor, not round (upstream wrote 342)
        (224, {"crop_pct": 0.95}, 235, 6),  # (235-224)/2 = 5.5 rounds half to even: 6
        (224, {"resize": 233}, 233, 4),  # 4.5 rounds half to even: 4
        (256, {"resize": 288}, 288, 16),  # PaddleClas states the resize itself
        (224, {"crop_pct": 1.0}, 224, 0),
    ],
)
def test_resize_and_crop(size: int, pre: dict[str, float], resize: int, crop: int) -> None:
    ctx = build_context(preprocessed_model(input_size=size, **pre))
    assert (ctx.resize.height, ctx.resize.width, ctx.crop.x, ctx.crop.y) == (resize, resize, crop, crop)
    assert ctx.crop.enabled == (resize != size)
    assert ctx.graph.op_type == (OP_RESIZE_CROP if resize != size else OP_RESIZE)
    # the legacy dialects always resize the shorter side then crop: exact for center mode
    assert (ctx.legacy.op_type, ctx.resize.short_edge, ctx.crop.size) == (300, resize, size)


def test_bicubic_is_flagged_everywhere_it_resizes() -> None:
    ctx = build_context(preprocessed_model(interpolation="bicubic"))
    lines = [line for line in ctx.approximations_for(ALL) if line.startswith("interpolation")]
    assert len(lines) == 1 and "bicubic" in lines[0] and "BILINEAR_CV" in lines[0]
    for dialect in (VAMC, VAMC_LEGACY, VDSP_BUILD_IN, VDSP_SDK1, VDSP_VAMP):
        assert "interpolation" in kinds(ctx, [dialect])
    assert kinds(ctx, [MODEL_INFO]) == []
    assert "interpolation" not in kinds(build_context(preprocessed_model(interpolation="bilinear")), ALL)


@pytest.mark.parametrize("interpolation", ["lanczos", "nearest"])
def test_other_interpolations_are_flagged(interpolation: str) -> None:
    assert "interpolation" in kinds(build_context(preprocessed_model(interpolation=interpolation)), BUILD_IN)


def test_bgr_model_converts_and_orders_statistics_by_channel() -> None:
    rgb = build_context(preprocessed_model())
    ctx = build_context(preprocessed_model(color="BGR"))
    assert (ctx.colour.cvt_code, ctx.legacy.color_cvt_code, ctx.legacy.vamp_color_cvt_code) == ("RGB2BGR", 4, "COLOR_RGB2BGR")
    # VDSP converts colour before normalising: statistics follow the network's channels (B, G, R)
    assert ctx.normalise.mean_fp16 == rgb.normalise.mean_fp16[::-1] and ctx.normalise.std_bits == rgb.normalise.std_bits[::-1]
    assert ctx.normalise.mean == rgb.normalise.mean  # the legacy calibration pipeline keeps the source's (RGB) statistics
    # the current one converts to BGR right after decoding, so its statistics follow the network's channels
    assert ctx.colour.calib_cvt_code == "COLOR_RGB2BGR" and rgb.colour.calib_cvt_code is None
    assert ctx.normalise.calib_mean == rgb.normalise.mean[::-1] and ctx.normalise.calib_std == rgb.normalise.std[::-1]
    assert kinds(ctx, [VAMC]) == ["resize"] and kinds(ctx, [VAMC_LEGACY]) == ["resize", "colour"]
    fp16 = build_context(preprocessed_model(color="BGR"), dtype="fp16")
    assert "colour" not in kinds(fp16, ALL)  # no calibration, nothing to approximate


def test_byte_statistics() -> None:
    ctx = build_context(preprocessed_model("mm", library="mmcls", input_size=256, crop_pct=0.887, **BYTE_STATS))
    assert (ctx.normalise.norm_type, ctx.legacy.norm_type, ctx.normalise.div255) == ("MINUSMEAN_DIVSTD", 3, False)
    # the values of the published mmcls vamp file
    assert ctx.normalise.mean_bits == (22459, 22340, 22136) and ctx.normalise.std_bits == (21325, 21284, 21292)
    assert ctx.normalise.mean_fp16[0] == 123.6875
    assert "fp16 statistics" not in kinds(ctx, ALL)


def test_mean_zero_std_one_is_div255() -> None:
    ctx = build_context(preprocessed_model(mean=[0, 0, 0], std=[1, 1, 1]))
    assert (ctx.normalise.norm_type, ctx.legacy.norm_type, ctx.normalise.div255) == ("DIV255", 6, True)


def test_squash_is_exact_for_fixed_resizes_and_approximated_by_short_edge() -> None:
    ctx = build_context(preprocessed_model(crop_pct=0.875, crop_mode="squash"))
    assert kinds(ctx, BUILD_IN) == []
    assert kinds(ctx, [VDSP_SDK1]) == ["resize"] and kinds(ctx, [VDSP_VAMP]) == ["resize"]
    assert ctx.legacy.op_type == 300
    # without a crop the sdk1.0 op 301 (resize to the input size) is exactly a squash; vamp is not
    whole = build_context(preprocessed_model(crop_pct=1.0, crop_mode="squash"))
    assert (whole.legacy.op_type, whole.legacy.crop) == (301, False)
    assert kinds(whole, [VDSP_SDK1]) == [] and kinds(whole, [VDSP_VAMP]) == ["resize"]


def test_border_mode_is_approximated_by_every_resize() -> None:
    ctx = build_context(preprocessed_model(crop_mode="border"))
    line = ctx.approximations_for(BUILD_IN)[0]
    assert "border" in line and "224x224" in line
    assert kinds(ctx, [VDSP_SDK1, VDSP_VAMP]) == ["resize"]


def test_non_square_input() -> None:
    ctx = build_context(preprocessed_model(input_size=[3, 224, 320], crop_pct=0.875))
    assert (ctx.input.height, ctx.input.width, ctx.resize.height, ctx.resize.width) == (224, 320, 256, 365)
    assert (ctx.crop.x, ctx.crop.y) == (22, 16)  # (365-320)/2 = 22.5 -> 22
    assert ctx.input.shape == (1, 3, 224, 320) and ctx.paths.compiled_folder.endswith("-3_224_320-vacc")
    assert (ctx.legacy.op_type, ctx.legacy.crop) == (301, False)
    assert kinds(ctx, [VDSP_SDK1]) == ["non-square input"]
    assert kinds(ctx, [VAMC]) == ["resize", "non-square input"]
    assert kinds(ctx, [VDSP_BUILD_IN]) == ["resize"]


def test_fp16_rounding_beyond_tolerance_is_flagged() -> None:
    assert "fp16 statistics" not in kinds(build_context(preprocessed_model()), ALL)
    ctx = build_context(preprocessed_model(std=[0.229, 0.224, 1e-5]))  # float16 subnormal
    (line,) = [x for x in ctx.approximations_for(ALL) if x.startswith("fp16")]
    assert "std 1e-05 -> 1.0013580322265625e-05" in line and f"{FP16_TOLERANCE:g}" in line
    assert kinds(ctx, [VDSP_SDK1]) == ["fp16 statistics"]
    assert "fp16 statistics" not in kinds(ctx, [VAMC])  # vamc gets the exact values


def test_dtype_fp16_has_no_calibration() -> None:
    model = preprocessed_model("net", input_size=256, crop_pct=0.887)
    ctx = build_context(model, dtype="fp16")
    assert (ctx.quantize.dtype, ctx.quantize.enabled, ctx.quantize.calibrate_mode) == ("fp16", False, "none")
    assert ctx.paths.compiled_folder == "net-fp16-none-3_256_256-vacc"
    assert ctx.notes == ()  # no placeholder calibration folder to warn about
    int8 = build_context(model)
    assert int8.quantize.enabled and any("--calib-dir" in n for n in int8.notes)
    assert build_context(model, calib_dir="calib/imagenet").quantize.calib_dir == "calib/imagenet"
    manifest_fp16 = build_context(preprocessed_model(deploy={"dtype": "fp16", "calibrate_mode": "max"}))
    assert manifest_fp16.quantize.dtype == "fp16" and manifest_fp16.quantize.calibrate_mode == "none"
    with pytest.raises(RenderError, match="int4"):
        build_context(model, dtype="int4")


def test_deploy_block_reaches_the_context() -> None:
    ctx = build_context(preprocessed_model(deploy={"calibrate_mode": "kl_divergence", "per_channel": False,
                                           "extra_ops": "softmax", "calib_count": 500}))
    assert (ctx.quantize.calibrate_mode, ctx.quantize.per_channel, ctx.graph.extra_ops, ctx.quantize.calib_count) == (
        "kl_divergence", False, "softmax", 500)
    assert build_context(preprocessed_model()).graph.extra_ops is None


def test_input_name_convention_given_and_from_onnx(tmp_path: Path) -> None:
    assert build_context(preprocessed_model(library="ppcls")).input.name == "x"
    assert build_context(preprocessed_model(library="torchvision")).input.name == "input"
    given = build_context(preprocessed_model(library="ppcls"), input_name="inputs")
    assert (given.input.name, given.input.name_from) == ("inputs", "given")
    onnx_model = _onnx_file(tmp_path / "net.onnx", "images", [1, 3, 224, 224])
    ctx = build_context(preprocessed_model(library="ppcls"), onnx_path=onnx_model, model_dir=tmp_path)
    assert (ctx.input.name, ctx.input.name_from, ctx.paths.checkpoint) == ("images", "onnx", "net.onnx")
    dynamic = _onnx_file(tmp_path / "dyn.onnx", "data", ["batch", 3, 224, 224])
    assert build_context(preprocessed_model(), onnx_path=dynamic).input.name == "data"


def test_onnx_file_that_disagrees_with_the_manifest(tmp_path: Path) -> None:
    onnx_model = _onnx_file(tmp_path / "net.onnx", "input", [1, 3, 256, 256])
    with pytest.raises(RenderError, match=r"net.onnx takes input \[3, 256, 256\].*says \[3, 224, 224\]"):
        build_context(preprocessed_model(input_size=224), onnx_path=onnx_model)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    with pytest.raises(RenderError, match="cannot read the ONNX file"):
        build_context(preprocessed_model(), onnx_path=broken)


def test_checkpoint_is_relative_to_the_model_folder(tmp_path: Path) -> None:
    model_dir = tmp_path / "out" / "timm-m"
    inside = build_context(preprocessed_model(), input_name="input", onnx_path=model_dir / "m-sim.onnx", model_dir=model_dir)
    assert inside.paths.checkpoint == "m-sim.onnx"
    outside = build_context(preprocessed_model(), input_name="input", onnx_path=tmp_path / "onnx" / "m.onnx",
                            model_dir=model_dir)
    assert outside.paths.checkpoint == "../../onnx/m.onnx"
    relative = build_context(preprocessed_model(), input_name="input", onnx_path=Path("onnx/m.onnx"), model_dir=model_dir)
    assert relative.paths.checkpoint == "onnx/m.onnx"


def test_models_the_formats_cannot_describe() -> None:
    with pytest.raises(RenderError, match="1 channel"):
        build_context(preprocessed_model(input_size=[1, 224, 224]))
    with pytest.raises(RenderError, match="smaller than the 224x224 input"):
        build_context(preprocessed_model(resize=200))


def _onnx_file(path: Path, name: str, shape: list[int | str]) -> Path:
    """A one-node ONNX graph (Identity) with the given input name and shape."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", [name], ["out"])], "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)],
    )
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_onnx_library_input_name_is_flagged_until_the_file_is_read(tmp_path: Path) -> None:
    data = preprocessed_model().model_dump(by_alias=True)
    data["source"] = {"library": "onnx"}
    data["weights"] = {"url": "https://example.org/net.onnx", "format": "onnx"}
    model = Model.model_validate(data)
    assert any("input name `input`" in note for note in build_context(model, dtype="fp16").notes)
    onnx_model = _onnx_file(tmp_path / "net.onnx", "data", [1, 3, 224, 224])
    assert build_context(model, dtype="fp16", onnx_path=onnx_model).notes == ()


def test_pil_resize_filter_is_exact_in_build_in_and_flagged_in_the_legacy_vdsp_files() -> None:
    pil = build_context(preprocessed_model(input_size=256, crop_pct=0.887, resize_backend="pil"))
    assert (pil.resize.type, pil.legacy.vamp_resize_type, pil.legacy.resize_type) == ("BILINEAR_PILLOW", "BILINEAR_CV", 1)
    assert kinds(pil, [VDSP_BUILD_IN]) == ["resize"]
    assert kinds(pil, [VDSP_SDK1, VDSP_VAMP]) == ["resize filter"]
    assert "resize filter" not in kinds(pil, [VAMC, VAMC_LEGACY])
    # an explicit OpenCV filter for a PIL source is written as asked, and reported
    explicit = build_context(preprocessed_model(input_size=256, crop_pct=0.887, resize_backend="pil",
                                        deploy={"resize_type": "BILINEAR_CV"}))
    assert explicit.resize.type == "BILINEAR_CV"
    assert kinds(explicit, [VDSP_BUILD_IN]) == ["resize filter", "resize"]
    cv2 = build_context(preprocessed_model(input_size=256, crop_pct=0.887, resize_backend="cv2"))
    assert cv2.resize.type == "BILINEAR_CV" and "resize filter" not in kinds(cv2, ALL)


# ----------------------------------------------------------------------------- the groups
def changed_groups(a: DeployContext, b: DeployContext) -> list[str]:
    return sorted(f.name for f in fields(a) if getattr(a, f.name) != getattr(b, f.name))


@pytest.mark.parametrize(("change", "groups"), [
    ({"dtype": "fp16"}, ["approximations", "notes", "paths", "quantize"]),
    ({"calib_dir": "calib"}, ["notes", "quantize"]),
    ({"input_name": "images"}, ["input"]),
    ({"color": "BGR"}, ["approximations", "colour", "legacy", "normalise"]),
    ({"value_range": "0..255", **BYTE_STATS}, ["legacy", "normalise"]),
    ({"interpolation": "bicubic"}, ["approximations", "resize"]),
    ({"crop_pct": 1.0}, ["approximations", "crop", "graph", "resize"]),
    ({"deploy": {"extra_ops": "softmax"}}, ["graph"]),
    ({"deploy": {"image_color": "BGR"}}, ["colour", "legacy"]),
    ({"deploy": {"resize_type": "BILINEAR_PILLOW"}}, ["approximations", "legacy", "resize"]),
    ({"deploy": {"calibrate_mode": "mse"}}, ["paths", "quantize"]),
    ({"deploy": {"calib_count": 200}}, ["legacy", "quantize"]),
    ({"deploy": {"sampler_suffix": "jpg"}}, ["quantize"]),
    ({"deploy": {"compile": {"data_transport_mode": 1}}}, ["quantize"]),
    ({"deploy": {"frontend": "pytorch"}}, ["graph", "paths"]),
    ({"library": "ppcls"}, ["identity", "input", "paths"]),
])
def test_each_group_follows_its_own_part_of_the_model(change: dict[str, Any], groups: list[str]) -> None:
    """One builder per group: a change reaches the groups that print it and no other."""
    options = {key: change.pop(key) for key in ("dtype", "calib_dir", "input_name") if key in change}
    base = {"input_size": 256, "crop_pct": 0.887}
    before = build_context(preprocessed_model(**base))
    after = build_context(preprocessed_model(**{**base, **change}), **options)
    assert changed_groups(before, after) == groups


def test_groups_are_frozen_records() -> None:
    ctx = build_context(preprocessed_model())
    assert [f.name for f in fields(ctx)] == [
        "identity", "input", "resize", "crop", "normalise", "colour", "quantize", "graph", "legacy", "paths",
        "approximations", "notes"]
    for group in fields(ctx):
        value = getattr(ctx, group.name)
        if is_dataclass(value):
            with pytest.raises(FrozenInstanceError):
                setattr(value, fields(value)[0].name, None)
    assert (ctx.identity.model_id, ctx.identity.stem, ctx.identity.library) == ("timm/m", "timm-m", "timm")
    assert ctx.paths.compiled_model == "deploy_weights/m-int8-percentile-3_224_224-vacc/m"


def test_approximations_name_the_files_in_the_order_asked() -> None:
    ctx = build_context(preprocessed_model(crop_pct=0.875, crop_mode="squash"))
    (line,) = ctx.approximations_for([VDSP_VAMP, MODEL_INFO, VDSP_SDK1, VDSP_VAMP])
    assert line.endswith("[vamp vdsp_params, sdk1.0 vdsp_params]")
