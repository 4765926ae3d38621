"""Computing the deploy context of a model: one builder per group of `zoo.deploy.context`.

Sizes, crop offsets and float16 statistics come from `zoo.manifest.derived` (never
recomputed here); the engine's names from `zoo.deploy.vdsp`; the resize type of each dialect
from `zoo.deploy.resize_filter`; the legacy codes and each build YAML's default calibration
count from the dialects' modules. The compiled folder is `{name}-{dtype}-{calibrate_mode}-{C}_{H}_{W}-vacc`
(fp16 builds have no calibration and use `none` for the mode, as the published fp16 folders
do), and every path is relative to the model's output folder, which holds the ONNX file and
receives the compiled model: run `vamc` and `vamp` from there (docs/formats.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from zoo import onnxfile
from zoo.deploy import model_info, vamc, vamc_legacy, vdsp, vdsp_build_in, vdsp_sdk1, vdsp_vamp
from zoo.deploy.approximations import approximations
from zoo.deploy.context import (
    Colour,
    Crop,
    DeployContext,
    Dialect,
    Graph,
    Identity,
    Input,
    Legacy,
    Normalise,
    Paths,
    Quantize,
    Resize,
)
from zoo.deploy.resize_filter import written_types
from zoo.errors import RenderError
from zoo.manifest.derived import Derived, derive
from zoo.manifest.schema import Color, Dtype, Frontend, Model, ValueRange
from zoo.sources import registry
from zoo.sources.common import torchscript_path

T = TypeVar("T")

#: Where the compiled model goes, relative to the model folder (vamc workspace).
WORKSPACE = "deploy_weights"
#: Calibration folder written when none is given (the name upstream uses); a placeholder.
CALIB_PLACEHOLDER = "ILSVRC2012_img_calib"


def build_context(
    model: Model,
    *,
    input_name: str | None = None,
    onnx_path: Path | None = None,
    model_dir: Path | None = None,
    dtype: str | None = None,
    calib_dir: str | None = None,
) -> DeployContext:
    """Compute the deploy context of `model`; a model the formats cannot describe is a `RenderError`.

    `input_name` wins; else the first graph input of `onnx_path` (read with onnx, lazily);
    else the library's export convention. `onnx_path` becomes the checkpoint, relative to
    `model_dir` (the folder the files are written to) when absolute; without it the
    checkpoint is `{stem}.onnx` in that folder; with `deploy.frontend: pytorch` it is the
    TorchScript file beside it, `{stem}.torchscript.pt`. `dtype` overrides the manifest's.
    """
    derived = _checked_derive(model)
    network_input = _input(model, input_name, onnx_path)
    quantize = _quantize(model, dtype, calib_dir)
    crop = _crop(model, derived)
    normalise = _normalise(model, derived)
    colour = _colour(model)
    resize_types = written_types(model)
    legacy = _legacy(model, crop, colour, normalise, resize_types)
    return DeployContext(
        identity=Identity(model.id, model.name, model.stem, model.source.library, model.family),
        input=network_input,
        resize=_resize(model, derived, resize_types),
        crop=crop,
        normalise=normalise,
        colour=colour,
        quantize=quantize,
        graph=Graph(
            frontend=model.deploy.frontend.value,
            extra_ops=model.deploy.extra_ops.value if model.deploy.extra_ops else None,
            op_type=vdsp_build_in.op_type(crop.enabled),
        ),
        legacy=legacy,
        paths=_paths(model, quantize, onnx_path, model_dir),
        approximations=approximations(model, derived, legacy.op_type, quantize.enabled, resize_types),
        notes=(*_assumed_input_note(model, network_input), *_calibration_note(quantize, calib_dir)),
    )


def _checked_derive(model: Model) -> Derived:
    """The derived numbers of a model the VDSP formats can describe."""
    channels, height, width = model.input_size
    if channels != 3:
        raise RenderError(
            f"{model.id}: input has {channels} channel(s); the VDSP formats describe "
            "3-channel RGB_PLANAR images only"
        )
    derived = derive(model)
    if derived.resize_height < height or derived.resize_width < width:
        raise RenderError(
            f"{model.id}: preprocess resizes to {derived.resize_width}x{derived.resize_height}, smaller than "
            f"the {width}x{height} input; fix `preprocess.resize` in the manifest"
        )
    return derived


def _input(model: Model, given: str | None, onnx_path: Path | None) -> Input:
    name, name_from, onnx_shape = _input_name(model, given, onnx_path)
    if onnx_shape is not None and onnx_shape != model.input_size:
        raise RenderError(
            f"{model.id}: the ONNX file {onnx_path} takes input {list(onnx_shape)} but the manifest says "
            f"{list(model.input_size)}; re-export or fix `input_size`"
        )
    channels, height, width = model.input_size
    return Input(name, name_from, (1, channels, height, width), channels, height, width)


def _input_name(
    model: Model, given: str | None, onnx_path: Path | None
) -> tuple[str, str, tuple[int, int, int] | None]:
    """(name, where it came from, the ONNX input's C,H,W when read and static)."""
    if given is not None:
        return given, "given", None
    if onnx_path is not None:
        name, shape = read_onnx_input(onnx_path)
        return name, "onnx", shape
    return registry.get(model.source.library).input_name, "convention", None


def read_onnx_input(path: Path) -> tuple[str, tuple[int, int, int] | None]:
    """Name and static C,H,W of the first real graph input of an ONNX file (onnx imported here only)."""
    inputs = onnxfile.real_inputs(onnxfile.load(path, weights=False, error=RenderError).graph)
    if not inputs:
        raise RenderError(f"the ONNX file {path} has no graph input")
    values = onnxfile.dims(inputs[0])
    if len(values) == 4 and values[1] and values[2] and values[3]:
        return inputs[0].name, (values[1], values[2], values[3])
    return inputs[0].name, None


def _assumed_input_note(model: Model, network_input: Input) -> list[str]:
    """A model whose file *is* the graph keeps the file's input name, a guess until the file is read."""
    if network_input.name_from == "convention" and not registry.get(model.source.library).builds_architecture:
        return [f"input name `{network_input.name}` is assumed (library `{model.source.library}` keeps the name "
                "its file has); `zoo sync` fills in the file's real name"]
    return []


def _resize(model: Model, derived: Derived, resize_types: dict[Dialect, str | None]) -> Resize:
    build_in = resize_types[vdsp_build_in.DIALECT]
    assert build_in is not None  # the build_in dialect writes every resize type a manifest can choose
    return Resize(
        height=derived.resize_height,
        width=derived.resize_width,
        interpolation=model.preprocess.interpolation.value,
        type=build_in,
        short_edge=min(derived.resize_height, derived.resize_width),
    )


def _crop(model: Model, derived: Derived) -> Crop:
    _, height, width = model.input_size
    return Crop(
        enabled=(derived.resize_height, derived.resize_width) != (height, width),
        x=derived.crop_x,
        y=derived.crop_y,
        mode=model.preprocess.crop_mode.value,
        size=min(height, width),
    )


def _normalise(model: Model, derived: Derived) -> Normalise:
    pre = model.preprocess
    bgr = pre.color == Color.BGR
    return Normalise(
        value_range=pre.value_range.value,
        div255=pre.value_range == ValueRange.unit,
        mean=derived.mean,
        std=derived.std,
        calib_mean=_network_order(derived.mean, bgr),
        calib_std=_network_order(derived.std, bgr),
        mean_fp16=_network_order(derived.mean_fp16, bgr),
        std_fp16=_network_order(derived.std_fp16, bgr),
        mean_bits=_network_order(derived.mean_bits, bgr),
        std_bits=_network_order(derived.std_bits, bgr),
        norm_type=vdsp.norm_type(pre.value_range == ValueRange.byte, pre.mean, pre.std),
    )


def _network_order(values: tuple[T, T, T], bgr: bool) -> tuple[T, T, T]:
    """Per-channel values in the order the network's input channels have (VDSP normalises
    after converting the colour, so a BGR model's statistics go B, G, R)."""
    return (values[2], values[1], values[0]) if bgr else values


def _colour(model: Model) -> Colour:
    """The decoder of the vamc calibration pipeline yields RGB, so a BGR network needs a `CvtColor` op."""
    network, images = model.preprocess.color, model.deploy.image_color
    return Colour(
        color=network.value,
        image_color=images.value,
        cvt_code=vdsp.color_cvt_code(images == Color.BGR, network == Color.BGR),
        image_format=vdsp.IMAGE_FORMAT,
        calib_cvt_code=vamc.CVT_TO_BGR if network == Color.BGR else None,
    )


def check_dtype(dtype: str | None) -> Dtype | None:
    """The `--dtype` override as a `Dtype` (None: the manifest's); a `RenderError` names the choices."""
    try:
        return Dtype(dtype) if dtype is not None else None
    except ValueError:
        raise RenderError(f"--dtype {dtype!r} is not one of: {', '.join(d.value for d in Dtype)}") from None


def _quantize(model: Model, dtype: str | None, calib_dir: str | None) -> Quantize:
    chosen = check_dtype(dtype) or model.deploy.dtype
    enabled = chosen == Dtype.int8
    return Quantize(
        dtype=chosen.value,
        enabled=enabled,
        calibrate_mode=model.deploy.calibrate_mode.value if enabled else "none",
        per_channel=model.deploy.per_channel,
        calib_dir=calib_dir if calib_dir is not None else CALIB_PLACEHOLDER,
        calib_count=model.deploy.calib_count or vamc.CALIB_COUNT,
        sampler_suffix=model.deploy.sampler_suffix,
        data_transport_mode=model.deploy.compile.data_transport_mode,
        dense_special_config=model.deploy.compile.dense_special_config,
    )


def _calibration_note(quantize: Quantize, calib_dir: str | None) -> list[str]:
    if quantize.enabled and calib_dir is None:
        return [f"int8 calibration folder `{CALIB_PLACEHOLDER}` is a placeholder; "
                "pass --calib-dir (e.g. the output of `zoo calib`)"]
    return []


def _legacy(model: Model, crop: Crop, colour: Colour, normalise: Normalise,
            resize_types: dict[Dialect, str | None]) -> Legacy:
    """Each legacy dialect's form of the settings; None where it has none (rendering it then fails)."""
    _, height, width = model.input_size
    op = vdsp_sdk1.op_type(model.preprocess.crop_mode, crop.enabled, height == width)
    sdk1_resize = resize_types[vdsp_sdk1.DIALECT]
    vamp_norm = normalise.norm_type if normalise.norm_type in vdsp_vamp.NORM_TYPES else None
    return Legacy(
        op_type=op,
        crop=op == vdsp_sdk1.OP_RESIZE_CROP,
        image_format=vdsp_sdk1.IMAGE_FORMAT,
        resize_type=vdsp_sdk1.RESIZE_CODES[sdk1_resize] if sdk1_resize is not None else None,
        color_cvt_code=vdsp_sdk1.COLOR_CODES.get(colour.cvt_code),
        color_space=vdsp_sdk1.COLOR_SPACE,
        norm_type=vdsp_sdk1.NORM_CODES.get(normalise.norm_type),
        vamp_resize_type=resize_types[vdsp_vamp.DIALECT],
        vamp_color_cvt_code=vdsp_vamp.COLOR_CVT_CODES.get(colour.cvt_code),
        vamp_norm_type=vamp_norm,
        calib_count=model.deploy.calib_count or vamc_legacy.CALIB_COUNT,
    )


def _paths(model: Model, quantize: Quantize, onnx_path: Path | None, model_dir: Path | None) -> Paths:
    channels, height, width = model.input_size
    compiled = f"{model.name}-{quantize.dtype}-{quantize.calibrate_mode}-{channels}_{height}_{width}-vacc"
    return Paths(
        checkpoint=_checkpoint(model, onnx_path, model_dir),
        workspace=f"./{WORKSPACE}/",
        compiled_folder=compiled,
        compiled_model=f"{WORKSPACE}/{compiled}/{model.name}",
        model_lib=f"{WORKSPACE}/{compiled}/{model.name}.so",
        model_graph=f"{WORKSPACE}/{compiled}/{model.name}.json",
        model_params=f"{WORKSPACE}/{compiled}/{model.name}.params",
        hw_config_file=model_info.HW_CONFIG_FILE,
    )


def _checkpoint(model: Model, onnx_path: Path | None, model_dir: Path | None) -> str:
    """What vamc reads, relative to the model folder: the ONNX file, or the TorchScript file beside it."""
    path = onnx_path if onnx_path is not None else Path(f"{model.stem}.onnx")
    if model.deploy.frontend == Frontend.pytorch:
        path = torchscript_path(model, path)
    if path.is_absolute() and model_dir is not None:
        return Path(os.path.relpath(path, model_dir.absolute())).as_posix()
    return path.as_posix()
