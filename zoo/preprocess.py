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
    else:
        image = _resize_shorter(image, target_h, target_w, resample)
    if pre.crop_mode == CropMode.border:
        image = _pad_to(image, height, width)
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


def _resize_shorter(image: Image.Image, target_h: int, target_w: int, resample: int) -> Image.Image:
    """torchvision `Resize(int)` for square targets; keep-ratio fit for non-square ones."""
    w, h = image.size
    if target_h == target_w:
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = target_h, int(target_h * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        ratio = max(target_h / h, target_w / w)
        new_w, new_h = round(w * ratio), round(h * ratio)
    if (new_w, new_h) == (w, h):
        return image
    return image.resize((new_w, new_h), resample)


def _pad_to(image: Image.Image, height: int, width: int) -> Image.Image:
    """Pad with black so that a crop of `height x width` fits (timm's `border` mode)."""
    from PIL import Image as PILImage

    if image.width >= width and image.height >= height:
        return image
    canvas = PILImage.new("RGB", (max(width, image.width), max(height, image.height)))
    canvas.paste(image, ((canvas.width - image.width) // 2, (canvas.height - image.height) // 2))
    return canvas
