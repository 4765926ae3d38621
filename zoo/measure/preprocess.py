"""The reference preprocessing: what each source library's eval transform feeds the network.

Validation and `zoo eval --preprocess source` use it, so that ONNX Runtime is compared with
the source framework on exactly the pixels the library itself would compute.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from zoo.errors import ZooError
from zoo.manifest.derived import scale_size
from zoo.manifest.schema import Color, CropMode, Interpolation, Model, Preprocess, ResizeBackend, ValueRange
from zoo.measure.imaging import PIL_FILTERS, resize_bicubic_cv, resize_bilinear_cv, resize_pil
from zoo.sources import registry
from zoo.sources.transform import keep_ratio

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def source_pipeline(image: Image.Image, model: Model) -> np.ndarray:
    """Preprocess a PIL image exactly as the source library's eval transform does.

    Returns a float32 CHW array (no batch axis): resize (shorter side, squash or keep-ratio by
    `crop_mode`), center crop, scale to the model's value range, normalise, and reorder
    channels for BGR-trained models. Size rounding, crop offsets and the 0..1 scaling follow
    the source library's `eval_rules`; squash and border mode follow timm for every library.

    The resize filter follows `resize_backend`: `pil` is Pillow itself (what torchvision, timm,
    mmcv's `pillow` backend and PaddleClas' `pil` backend call); `cv2` is OpenCV's 8-bit
    `INTER_LINEAR` or `INTER_CUBIC` emulated in numpy (`resize_bilinear_cv`,
    `resize_bicubic_cv`), so OpenCV is not needed.

    The one remaining difference is decoding: the image arrives decoded by Pillow, while
    PaddleClas and mmpretrain decode with OpenCV; two libjpeg builds may differ by a few
    levels on some JPEG pixels. From the same RGB pixels on, the result equals the source
    library's (tests/test_source_pipeline.py).
    """
    import numpy as np

    pre = model.preprocess
    rules = registry.get(model.source.library).eval_rules
    resize = _resizer(model)
    _, height, width = model.input_size
    pixels = np.asarray(image.convert("RGB"))
    image_h, image_w = pixels.shape[:2]
    target_h, target_w = scale_size(pre, height, width)
    if pre.crop_mode == CropMode.squash:
        new_w, new_h = target_w, target_h
    elif pre.crop_mode == CropMode.border:
        new_w, new_h = keep_ratio(image_w, image_h, target_h, target_w, fit_longest=True)
    else:
        new_w, new_h = rules.resized_size(image_w, image_h, pre, height, width)
    if (new_h, new_w) != (image_h, image_w):  # every library leaves an image of the right size alone
        pixels = resize(pixels, new_h, new_w)
    if pre.crop_mode == CropMode.border:
        pixels = _pad_to(pixels, height, width, _border_fill(pre))
    elif new_h < height or new_w < width:
        raise ZooError(
            f"{model.id}: the image resized to {new_w}x{new_h} is smaller than the {width}x{height} input; "
            "preprocess.resize must be at least the input size"
        )
    top = rules.crop_offset(pixels.shape[0], height)
    left = rules.crop_offset(pixels.shape[1], width)
    array: np.ndarray = pixels[top : top + height, left : left + width].astype(np.float32)
    if pre.value_range == ValueRange.unit:
        array = rules.unit_scale(array)
    array = (array - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    if pre.color == Color.BGR:
        array = array[..., ::-1]
    return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)


def _resizer(model: Model) -> Callable[[np.ndarray, int, int], np.ndarray]:
    """`(uint8 HWC pixels, height, width) -> pixels` with the filter `model`'s source uses."""
    pre = model.preprocess
    if pre.resize_backend == ResizeBackend.pil:
        return functools.partial(resize_pil, resample=PIL_FILTERS[pre.interpolation.value])
    opencv = {Interpolation.bilinear: resize_bilinear_cv, Interpolation.bicubic: resize_bicubic_cv}
    if pre.interpolation not in opencv:
        raise ZooError(
            f"{model.id}: preprocess.interpolation `{pre.interpolation.value}` with resize_backend `cv2` "
            f"has no OpenCV emulation (known: {', '.join(i.value for i in opencv)}); "
            "use one of those, or resize_backend `pil` if the source resizes with Pillow"
        )
    return opencv[pre.interpolation]


def _border_fill(pre: Preprocess) -> tuple[int, int, int]:
    """timm's padding colour in border mode: the mean, on the 0..255 scale, rounded."""
    scale = 255.0 if pre.value_range == ValueRange.unit else 1.0
    return (round(pre.mean[0] * scale), round(pre.mean[1] * scale), round(pre.mean[2] * scale))


def _pad_to(pixels: np.ndarray, height: int, width: int, fill: tuple[int, int, int]) -> np.ndarray:
    """Pad with `fill`, image centred (left/top pad floored), so that a crop of `height x width`
    fits (timm's `CenterCropOrPad`)."""
    import numpy as np

    h, w = pixels.shape[:2]
    if h >= height and w >= width:
        return pixels
    canvas = np.empty((max(height, h), max(width, w), 3), np.uint8)
    canvas[...] = fill
    top, left = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
    canvas[top : top + h, left : left + w] = pixels
    return canvas

