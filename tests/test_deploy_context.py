"""The deploy context on its own: every number and code the deployment files will carry."""

from __future__ import annotations

from pathlib import Path

import pytest
from render_support import BYTE_STATS, make_model

from zoo.deploy.context import (
    FP16_TOLERANCE,
    OP_RESIZE,
    OP_RESIZE_CROP,
    DeployContext,
    Dialect,
    build_context,
)
from zoo.errors import RenderError
from zoo.manifest.derived import derive
from zoo.manifest.schema import Model

ALL = list(Dialect)
BUILD_IN = [Dialect.vamc, Dialect.vdsp_build_in, Dialect.model_info]
SDK1 = [Dialect.vamc_legacy, Dialect.vdsp_sdk1, Dialect.vdsp_vamp, Dialect.model_info]


def kinds(ctx: DeployContext, dialects: list[Dialect]) -> list[str]:
    return [line.split(":", 1)[0] for line in ctx.approximations_for(dialects)]


def test_worked_example() -> None:
    """FORMATS.md: timm cspresnet50, S=256, crop_pct 0.887 -> 288, crop 16, fp16 stats, bits."""
    ctx = build_context(make_model("cspresnet50", input_size=256, crop_pct=0.887))
    assert (ctx.resize_height, ctx.resize_width, ctx.crop_x, ctx.crop_y) == (288, 288, 16, 16)
    assert ctx.mean_fp16 == (0.485107421875, 0.4560546875, 0.406005859375)
    assert ctx.std_fp16 == (0.22900390625, 0.2239990234375, 0.2249755859375)
    assert ctx.mean_bits == (14275, 14156, 13951) and ctx.std_bits == (13140, 13099, 13107)
    assert (ctx.norm_type, ctx.color_cvt_code, ctx.resize_type) == (
        "DIV255_MINUSMEAN_DIVSTD", "NO_CHANGE", "BILINEAR_CV")
    assert ctx.op_type == OP_RESIZE_CROP and ctx.crop
    assert (ctx.legacy_op_type, ctx.legacy_image_format, ctx.legacy_resize_type) == (300, 5000, 1)
    assert (ctx.legacy_color_cvt_code, ctx.legacy_color_space, ctx.legacy_norm_type) == (2, 0, 4)
    assert (ctx.short_edge, ctx.crop_size, ctx.vamp_color_cvt_code) == (288, 256, "COLOR_NO_CHANGE")
    assert ctx.input_name == "input" and ctx.input_name_from == "convention"
    assert ctx.input_shape == (1, 3, 256, 256)
    assert ctx.compiled_folder == "cspresnet50-int8-percentile-3_256_256-vacc"
    assert ctx.model_lib_path == "deploy_weights/cspresnet50-int8-percentile-3_256_256-vacc/cspresnet50.so"
    assert ctx.checkpoint == "timm-cspresnet50.onnx"
    assert ctx.quantize and ctx.dtype == "int8" and ctx.calibrate_mode == "percentile"
    # only the square-resize approximation; the sdk1.0/vamp shorter-side resize is exact
    assert kinds(ctx, BUILD_IN) == ["resize"] and kinds(ctx, [Dialect.vdsp_sdk1, Dialect.vdsp_vamp]) == []


def test_statistics_come_from_zoo_preprocess() -> None:
    model = make_model(input_size=256, crop_pct=0.887)
    derived, ctx = derive(model), build_context(model)
    assert (ctx.mean, ctx.std, ctx.mean_fp16, ctx.std_bits) == (
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
    ctx = build_context(make_model(input_size=size, **pre))
    assert (ctx.resize_height, ctx.resize_width, ctx.crop_x, ctx.crop_y) == (resize, resize, crop, crop)
    assert ctx.crop == (resize != size)
    assert ctx.op_type == (OP_RESIZE_CROP if resize != size else OP_RESIZE)
    # the legacy dialects always resize the shorter side then crop: exact for center mode
    assert (ctx.legacy_op_type, ctx.short_edge, ctx.crop_size) == (300, resize, size)


def test_bicubic_is_flagged_everywhere_it_resizes() -> None:
    ctx = build_context(make_model(interpolation="bicubic"))
    lines = [line for line in ctx.approximations_for(ALL) if line.startswith("interpolation")]
    assert len(lines) == 1 and "bicubic" in lines[0] and "BILINEAR_CV" in lines[0]
    for dialect in (Dialect.vamc, Dialect.vamc_legacy, Dialect.vdsp_build_in, Dialect.vdsp_sdk1, Dialect.vdsp_vamp):
        assert "interpolation" in kinds(ctx, [dialect])
    assert kinds(ctx, [Dialect.model_info]) == []
    assert "interpolation" not in kinds(build_context(make_model(interpolation="bilinear")), ALL)


@pytest.mark.parametrize("interpolation", ["lanczos", "nearest"])
def test_other_interpolations_are_flagged(interpolation: str) -> None:
    assert "interpolation" in kinds(build_context(make_model(interpolation=interpolation)), BUILD_IN)


def test_bgr_model_converts_and_orders_statistics_by_channel() -> None:
    rgb = build_context(make_model())
    ctx = build_context(make_model(color="BGR"))
    assert (ctx.color_cvt_code, ctx.legacy_color_cvt_code, ctx.vamp_color_cvt_code) == ("RGB2BGR", 4, "COLOR_RGB2BGR")
    # VDSP converts colour before normalising: statistics follow the network's channels (B, G, R)
    assert ctx.mean_fp16 == rgb.mean_fp16[::-1] and ctx.std_bits == rgb.std_bits[::-1]
    assert ctx.mean == rgb.mean  # the calibration pipeline keeps the source's (RGB) statistics
    assert kinds(ctx, [Dialect.vamc]) == ["resize", "colour"]
    fp16 = build_context(make_model(color="BGR"), dtype="fp16")
    assert "colour" not in kinds(fp16, ALL)  # no calibration, nothing to approximate


def test_byte_statistics() -> None:
    ctx = build_context(make_model("mm", library="mmcls", input_size=256, crop_pct=0.887, **BYTE_STATS))
    assert (ctx.norm_type, ctx.legacy_norm_type, ctx.div255) == ("MINUSMEAN_DIVSTD", 3, False)
    # the values of the published mmcls vamp file
    assert ctx.mean_bits == (22459, 22340, 22136) and ctx.std_bits == (21325, 21284, 21292)
    assert ctx.mean_fp16[0] == 123.6875
    assert "fp16 statistics" not in kinds(ctx, ALL)


def test_mean_zero_std_one_is_div255() -> None:
    ctx = build_context(make_model(mean=[0, 0, 0], std=[1, 1, 1]))
    assert (ctx.norm_type, ctx.legacy_norm_type, ctx.div255) == ("DIV255", 6, True)


def test_squash_is_exact_for_fixed_resizes_and_approximated_by_short_edge() -> None:
    ctx = build_context(make_model(crop_pct=0.875, crop_mode="squash"))
    assert kinds(ctx, BUILD_IN) == []
    assert kinds(ctx, [Dialect.vdsp_sdk1]) == ["resize"] and kinds(ctx, [Dialect.vdsp_vamp]) == ["resize"]
    assert ctx.legacy_op_type == 300
    # without a crop the sdk1.0 op 301 (resize to the input size) is exactly a squash; vamp is not
    whole = build_context(make_model(crop_pct=1.0, crop_mode="squash"))
    assert (whole.legacy_op_type, whole.legacy_crop) == (301, False)
    assert kinds(whole, [Dialect.vdsp_sdk1]) == [] and kinds(whole, [Dialect.vdsp_vamp]) == ["resize"]


def test_border_mode_is_approximated_by_every_resize() -> None:
    ctx = build_context(make_model(crop_mode="border"))
    line = ctx.approximations_for(BUILD_IN)[0]
    assert "border" in line and "224x224" in line
    assert kinds(ctx, [Dialect.vdsp_sdk1, Dialect.vdsp_vamp]) == ["resize"]


def test_non_square_input() -> None:
    ctx = build_context(make_model(input_size=[3, 224, 320], crop_pct=0.875))
    assert (ctx.height, ctx.width, ctx.resize_height, ctx.resize_width) == (224, 320, 256, 365)
    assert (ctx.crop_x, ctx.crop_y) == (22, 16)  # (365-320)/2 = 22.5 -> 22
    assert ctx.input_shape == (1, 3, 224, 320) and ctx.compiled_folder.endswith("-3_224_320-vacc")
    assert (ctx.legacy_op_type, ctx.legacy_crop) == (301, False)
    assert kinds(ctx, [Dialect.vdsp_sdk1]) == ["non-square input"]
    assert kinds(ctx, [Dialect.vamc]) == ["resize", "non-square input"]
    assert kinds(ctx, [Dialect.vdsp_build_in]) == ["resize"]


def test_fp16_rounding_beyond_tolerance_is_flagged() -> None:
    assert "fp16 statistics" not in kinds(build_context(make_model()), ALL)
    ctx = build_context(make_model(std=[0.229, 0.224, 1e-5]))  # float16 subnormal
    (line,) = [x for x in ctx.approximations_for(ALL) if x.startswith("fp16")]
    assert "std 1e-05 -> 1.0013580322265625e-05" in line and f"{FP16_TOLERANCE:g}" in line
    assert kinds(ctx, [Dialect.vdsp_sdk1]) == ["fp16 statistics"]
    assert "fp16 statistics" not in kinds(ctx, [Dialect.vamc])  # vamc gets the exact values


def test_dtype_fp16_has_no_calibration() -> None:
    model = make_model("net", input_size=256, crop_pct=0.887)
    ctx = build_context(model, dtype="fp16")
    assert (ctx.dtype, ctx.quantize, ctx.calibrate_mode) == ("fp16", False, "none")
    assert ctx.compiled_folder == "net-fp16-none-3_256_256-vacc"
    assert ctx.notes == ()  # no placeholder calibration folder to warn about
    int8 = build_context(model)
    assert int8.quantize and any("--calib-dir" in n for n in int8.notes)
    assert build_context(model, calib_dir="calib/imagenet").calib_dir == "calib/imagenet"
    manifest_fp16 = build_context(make_model(deploy={"dtype": "fp16", "calibrate_mode": "max"}))
    assert manifest_fp16.dtype == "fp16" and manifest_fp16.calibrate_mode == "none"
    with pytest.raises(RenderError, match="int4"):
        build_context(model, dtype="int4")


def test_deploy_block_reaches_the_context() -> None:
    ctx = build_context(make_model(deploy={"calibrate_mode": "kl_divergence", "per_channel": False,
                                           "extra_ops": "softmax", "calib_count": 500}))
    assert (ctx.calibrate_mode, ctx.per_channel, ctx.extra_ops, ctx.calib_count) == (
        "kl_divergence", False, "softmax", 500)
    assert build_context(make_model()).extra_ops is None


def test_input_name_convention_given_and_from_onnx(tmp_path: Path) -> None:
    assert build_context(make_model(library="ppcls")).input_name == "x"
    assert build_context(make_model(library="torchvision")).input_name == "input"
    given = build_context(make_model(library="ppcls"), input_name="inputs")
    assert (given.input_name, given.input_name_from) == ("inputs", "given")
    onnx_model = _onnx_file(tmp_path / "net.onnx", "images", [1, 3, 224, 224])
    ctx = build_context(make_model(library="ppcls"), onnx_path=onnx_model, model_dir=tmp_path)
    assert (ctx.input_name, ctx.input_name_from, ctx.checkpoint) == ("images", "onnx", "net.onnx")
    dynamic = _onnx_file(tmp_path / "dyn.onnx", "data", ["batch", 3, 224, 224])
    assert build_context(make_model(), onnx_path=dynamic).input_name == "data"


def test_onnx_file_that_disagrees_with_the_manifest(tmp_path: Path) -> None:
    onnx_model = _onnx_file(tmp_path / "net.onnx", "input", [1, 3, 256, 256])
    with pytest.raises(RenderError, match=r"net.onnx takes input \[3, 256, 256\].*says \[3, 224, 224\]"):
        build_context(make_model(input_size=224), onnx_path=onnx_model)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    with pytest.raises(RenderError, match="cannot read the ONNX file"):
        build_context(make_model(), onnx_path=broken)


def test_checkpoint_is_relative_to_the_model_folder(tmp_path: Path) -> None:
    model_dir = tmp_path / "out" / "timm-m"
    inside = build_context(make_model(), input_name="input", onnx_path=model_dir / "m-sim.onnx", model_dir=model_dir)
    assert inside.checkpoint == "m-sim.onnx"
    outside = build_context(make_model(), input_name="input", onnx_path=tmp_path / "onnx" / "m.onnx",
                            model_dir=model_dir)
    assert outside.checkpoint == "../../onnx/m.onnx"
    relative = build_context(make_model(), input_name="input", onnx_path=Path("onnx/m.onnx"), model_dir=model_dir)
    assert relative.checkpoint == "onnx/m.onnx"


def test_models_the_formats_cannot_describe() -> None:
    with pytest.raises(RenderError, match="1 channel"):
        build_context(make_model(input_size=[1, 224, 224]))
    with pytest.raises(RenderError, match="smaller than the 224x224 input"):
        build_context(make_model(resize=200))


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
    data = make_model().model_dump(by_alias=True)
    data["source"] = {"library": "onnx"}
    data["weights"] = {"url": "https://example.org/net.onnx", "format": "onnx"}
    model = Model.model_validate(data)
    assert any("input name `input`" in note for note in build_context(model, dtype="fp16").notes)
    onnx_model = _onnx_file(tmp_path / "net.onnx", "data", [1, 3, 224, 224])
    assert build_context(model, dtype="fp16", onnx_path=onnx_model).notes == ()


def test_pil_resize_filter_is_flagged_for_vdsp_only() -> None:
    pil = build_context(make_model(input_size=256, crop_pct=0.887, resize_backend="pil"))
    assert kinds(pil, [Dialect.vdsp_build_in]) == ["resize filter", "resize"]
    assert kinds(pil, [Dialect.vdsp_sdk1, Dialect.vdsp_vamp]) == ["resize filter"]
    assert "resize filter" not in kinds(pil, [Dialect.vamc, Dialect.vamc_legacy])
    cv2 = build_context(make_model(input_size=256, crop_pct=0.887, resize_backend="cv2"))
    assert "resize filter" not in kinds(cv2, ALL)
