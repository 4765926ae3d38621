"""Numbers derived from a model's preprocessing, and the reference pipeline that applies it.

Derived numbers (resize size, crop offsets, float16 statistics) are what the deployment
files and `zoo show` print; the pipeline is what validation and evaluation feed the
network. Both follow the source libraries' rules exactly (timm/torchvision): the resize
size is floored, crop offsets use Python's half-to-even `round`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zoo.manifest import Color, CropMode, Model, Preprocess, ValueRange

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def fp16(value: float) -> float:
    """`value` rounded to IEEE half precision (round half to even) and read back."""
    return struct.unpack("<e", struct.pack("<e", value))[0]


def fp16_bits(value: float) -> int:
    """The IEEE half-precision bit pattern of `value` as an unsigned 16-bit integer."""
    return struct.unpack("<H", struct.pack("<e", value))[0]


def scale_size(pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """Size (H, W) the image is resized to before cropping `height x width`.

    `resize` wins when the source states it; otherwise floor(size / crop_pct) per side.
    For a square input this is the shorter-side target the source libraries use.
    """
    if pre.resize is not None:
        if height == width:
            return pre.resize, pre.resize
        ratio = pre.resize / min(height, width)
        return math.floor(height * ratio), math.floor(width * ratio)
    assert pre.crop_pct is not None  # guaranteed by Preprocess validation
    return math.floor(height / pre.crop_pct), math.floor(width / pre.crop_pct)


def crop_offset(outer: int, inner: int) -> int:
    """Center-crop offset with torchvision's rounding (half to even: 5.5 -> 6, 4.5 -> 4)."""
    return int(round((outer - inner) / 2.0))


@dataclass(frozen=True)
class Derived:
    """Everything `zoo show` and the deploy files compute from one model's preprocessing."""

    input_height: int
    input_width: int
    resize_height: int
    resize_width: int
    crop_x: int
    crop_y: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    mean_fp16: tuple[float, float, float]
    std_fp16: tuple[float, float, float]
    mean_bits: tuple[int, int, int]
    std_bits: tuple[int, int, int]


def derive(model: Model) -> Derived:
    """Compute the derived preprocessing numbers of a model."""
    pre = model.preprocess
    _, height, width = model.input_size
    resize_h, resize_w = scale_size(pre, height, width)
    mean, std = pre.mean, pre.std
    return Derived(
        input_height=height,
        input_width=width,
        resize_height=resize_h,
        resize_width=resize_w,
        crop_x=crop_offset(resize_w, width),
        crop_y=crop_offset(resize_h, height),
        mean=mean,
        std=std,
        mean_fp16=_map3(fp16, mean),
        std_fp16=_map3(fp16, std),
        mean_bits=_map3(fp16_bits, mean),
        std_bits=_map3(fp16_bits, std),
    )


def _map3(fn, values):  # type: ignore[no-untyped-def]
    return (fn(values[0]), fn(values[1]), fn(values[2]))


_PIL_FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3}


def source_pipeline(image: Image.Image, model: Model) -> np.ndarray:
    """Preprocess a PIL image exactly as the source library's eval transform does.

    Returns a float32 CHW array (no batch axis): resize (shorter side, squash or
    keep-ratio by `crop_mode`), center crop, scale to the model's value range,
    normalise, and reorder channels for BGR-trained models.
    """
    import numpy as np

    pre = model.preprocess
    _, height, width = model.input_size
    resample = _PIL_FILTERS[pre.interpolation.value]
    image = image.convert("RGB")
    target_h, target_w = scale_size(pre, height, width)
    if pre.crop_mode == CropMode.squash:
        image = image.resize((target_w, target_h), resample)
    elif pre.crop_mode == CropMode.border:
        image = _resize_keep_ratio(image, target_h, target_w, resample, fit_longest=True)
        image = _pad_to(image, height, width, _border_fill(pre))
    elif target_h == target_w:
        image = _resize_shorter(image, target_h, resample)
    else:
        image = _resize_keep_ratio(image, target_h, target_w, resample, fit_longest=False)
    left = crop_offset(image.width, width)
    top = crop_offset(image.height, height)
    image = image.crop((left, top, left + width, top + height))
    array = np.asarray(image, dtype=np.float32)
    if pre.value_range == ValueRange.unit:
        array = array / np.float32(255.0)
    array = (array - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    if pre.color == Color.BGR:
        array = array[..., ::-1]
    return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)


def _resize_shorter(image: Image.Image, target: int, resample: int) -> Image.Image:
    """torchvision `Resize(int)`: the shorter side becomes `target`, the longer one is truncated."""
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = target, int(target * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return image
    return image.resize((new_w, new_h), resample)


def _resize_keep_ratio(
    image: Image.Image, target_h: int, target_w: int, resample: int, *, fit_longest: bool
) -> Image.Image:
    """timm `ResizeKeepRatio`: scale both sides by one ratio so that the image covers the target
    (`fit_longest=False`, center mode with a non-square target) or fits inside it (border mode)."""
    w, h = image.size
    ratios = (h / target_h, w / target_w)
    ratio = max(ratios) if fit_longest else min(ratios)
    new_h, new_w = round(h / ratio), round(w / ratio)
    if (new_w, new_h) == (w, h):
        return image
    return image.resize((new_w, new_h), resample)


def _border_fill(pre: Preprocess) -> tuple[int, int, int]:
    """timm's padding colour in border mode: the mean, on the 0..255 scale, rounded."""
    scale = 255.0 if pre.value_range == ValueRange.unit else 1.0
    return (round(pre.mean[0] * scale), round(pre.mean[1] * scale), round(pre.mean[2] * scale))


def _pad_to(image: Image.Image, height: int, width: int, fill: tuple[int, int, int]) -> Image.Image:
    """Pad with `fill` so that a crop of `height x width` fits (timm's `CenterCropOrPad`)."""
    from PIL import Image as PILImage

    if image.width >= width and image.height >= height:
        return image
    canvas = PILImage.new("RGB", (max(width, image.width), max(height, image.height)), fill)
    canvas.paste(image, ((canvas.width - image.width) // 2, (canvas.height - image.height) // 2))
    return canvas


# Deployment pipeline ----------------------------------------------------------------------
#
# What the VDSP engine computes from the generated vdsp_params (current build_in dialect), so
# that its accuracy cost can be measured on a CPU before any hardware is involved: a square
# resize to the configured size (no aspect ratio kept), the colour conversion, the crop at the
# written offsets, and the normalisation with float16 statistics, each arithmetic step rounded
# to float16 as the engine computes in half precision. Every value comes from the deploy
# context (`zoo.deploy.build_context`), the same object the templates print.


@dataclass(frozen=True)
class DeploySpec:
    """The values of a generated vdsp_params file that change the pixels the network sees."""

    resize_height: int
    resize_width: int
    crop: bool
    crop_x: int
    crop_y: int
    height: int
    width: int
    resize_type: str
    color_cvt_code: str
    norm_type: str
    mean: tuple[float, float, float]  # float16 values, in the network's channel order
    std: tuple[float, float, float]


def deploy_spec(model: Model) -> DeploySpec:
    """The deploy pipeline's parameters for `model`, read from its deploy context."""
    from zoo.deploy import build_context

    ctx = build_context(model)
    return DeploySpec(
        resize_height=ctx.resize_height,
        resize_width=ctx.resize_width,
        crop=ctx.crop,
        crop_x=ctx.crop_x,
        crop_y=ctx.crop_y,
        height=ctx.height,
        width=ctx.width,
        resize_type=ctx.resize_type,
        color_cvt_code=ctx.color_cvt_code,
        norm_type=ctx.norm_type,
        mean=ctx.mean_fp16,
        std=ctx.std_fp16,
    )


def deploy_pipeline(image: Image.Image, model: Model, spec: DeploySpec | None = None) -> np.ndarray:
    """Preprocess a PIL image as the generated deployment files describe; float32 CHW.

    Pass `spec` (from `deploy_spec`) when calling it for many images of one model.
    """
    import numpy as np

    spec = spec or deploy_spec(model)
    pixels = np.asarray(image.convert("RGB"))
    pixels = resize_deploy(pixels, spec.resize_height, spec.resize_width, spec.resize_type)
    if spec.color_cvt_code in ("RGB2BGR", "BGR2RGB"):
        pixels = pixels[..., ::-1]
    if spec.crop:
        pixels = pixels[spec.crop_y : spec.crop_y + spec.height, spec.crop_x : spec.crop_x + spec.width]
    return np.ascontiguousarray(_normalise_fp16(pixels, spec).transpose(2, 0, 1), dtype=np.float32)


def resize_deploy(pixels: np.ndarray, height: int, width: int, resize_type: str) -> np.ndarray:
    """Resize uint8 HWC `pixels` to exactly `height x width` with a VDSP resize type.

    `BILINEAR_CV` (and plain `BILINEAR`) emulate OpenCV's `cv2.resize(..., INTER_LINEAR)`;
    `BILINEAR_PILLOW` is Pillow's bilinear filter, which also smooths when shrinking.
    """
    if resize_type in ("BILINEAR_CV", "BILINEAR"):
        return resize_bilinear_cv(pixels, height, width)
    if resize_type == "BILINEAR_PILLOW":
        import numpy as np
        from PIL import Image as PILImage

        resized = PILImage.fromarray(pixels).resize((width, height), _PIL_FILTERS["bilinear"])
        return np.asarray(resized)
    raise ValueError(f"resize type {resize_type!r} has no emulation; known: BILINEAR_CV, BILINEAR, BILINEAR_PILLOW")


#: OpenCV's fixed-point precision for 8-bit bilinear resizing (INTER_RESIZE_COEF_BITS).
_CV_COEF_SCALE = 1 << 11


def resize_bilinear_cv(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV's 8-bit `INTER_LINEAR` resize, bit for bit, in numpy.

    Half-pixel centres, no smoothing when shrinking, and OpenCV's fixed-point arithmetic:
    weights rounded to 1/2048, a horizontal pass kept in integers, then the vertical pass as
    its vectorised code computes it, `((b0*(r0>>4))>>16 + (b1*(r1>>4))>>16 + 2) >> 2`.
    Horizontal weights are clamped at the borders, vertical ones are not (the row index is).
    The tests compare it with cv2 itself.
    """
    import numpy as np

    src_h, src_w = pixels.shape[:2]
    x0, x1, ax0, ax1 = _cv_linear_weights(src_w, width, clamp_weights=True)
    y0, y1, by0, by1 = _cv_linear_weights(src_h, height, clamp_weights=False)
    wide = pixels.astype(np.int64)
    if wide.ndim == 2:
        wide = wide[..., None]
    rows = wide[:, x0] * ax0[None, :, None] + wide[:, x1] * ax1[None, :, None]
    top = (by0[:, None, None] * (rows[y0] >> 4)) >> 16
    bottom = (by1[:, None, None] * (rows[y1] >> 4)) >> 16
    out = np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)
    return out if pixels.ndim == 3 else out[..., 0]


def _cv_linear_weights(src: int, dst: int, *, clamp_weights: bool):  # type: ignore[no-untyped-def]
    """Source indices and fixed-point weights of OpenCV's linear interpolation along one axis."""
    import numpy as np

    position = ((np.arange(dst) + 0.5) * (src / dst) - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    fraction = position - first.astype(np.float32)
    if clamp_weights:
        below, above = first < 0, first >= src - 1
        fraction[below | above] = 0
        first = np.where(below, 0, np.where(above, src - 1, first))
    second = np.clip(first + 1, 0, src - 1)
    first = np.clip(first, 0, src - 1)
    w1 = np.round(fraction.astype(np.float64) * _CV_COEF_SCALE).astype(np.int64)
    w0 = np.round((1 - fraction).astype(np.float64) * _CV_COEF_SCALE).astype(np.int64)
    return first, second, w0, w1


def _normalise_fp16(pixels: np.ndarray, spec: DeploySpec) -> np.ndarray:
    """The VDSP normalisation, every step rounded to float16 (x/255, minus mean, over std)."""
    import numpy as np

    values = pixels.astype(np.float16)
    mean = np.asarray(spec.mean, np.float16)
    std = np.asarray(spec.std, np.float16)
    if spec.norm_type == "DIV255_MINUSMEAN_DIVSTD":
        return ((values / np.float16(255)) - mean) / std
    if spec.norm_type == "DIV255":
        return values / np.float16(255)
    if spec.norm_type == "MINUSMEAN_DIVSTD":
        return (values - mean) / std
    raise ValueError(f"norm type {spec.norm_type!r} has no emulation")
