"""The arithmetic of each source library's eval transform, where the libraries disagree.

The libraries agree on the steps (resize the shorter side, center crop, scale to 0..1,
normalise) but not on their arithmetic: how the resized size is rounded, how the crop offset
is rounded, and how pixels are scaled to 0..1. `SourceRules` holds those three choices; the
reference pipeline (`zoo.measure.preprocess.source_pipeline`) applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zoo.manifest.derived import crop_offset, scale_size
from zoo.manifest.schema import Library, Preprocess

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SourceRules:
    """The arithmetic of one library's eval transform, where the libraries disagree."""

    #: center mode: (image width, image height, preprocess, input height, input width) -> resized (w, h)
    resized_size: Callable[[int, int, Preprocess, int, int], tuple[int, int]]
    #: (resized side, cropped side) -> index of the first pixel kept
    crop_offset: Callable[[int, int], int]
    #: float32 pixels on 0..255 -> 0..1
    unit_scale: Callable[[np.ndarray], np.ndarray]


def _shorter_side(pre: Preprocess, height: int, width: int) -> int:
    """The shorter-side length PaddleClas' `resize_short` and mmpretrain's `ResizeEdge` are given."""
    return pre.resize if pre.resize is not None else min(scale_size(pre, height, width))


def _truncate_longer(w: int, h: int, short: int) -> tuple[int, int]:
    """The shorter side becomes `short`, the longer one `int(short * long / shorter)` (truncated)."""
    if w <= h:
        return short, int(short * h / w)
    return int(short * w / h), short


def keep_ratio(w: int, h: int, target_h: int, target_w: int, *, fit_longest: bool) -> tuple[int, int]:
    """timm `ResizeKeepRatio`: one ratio for both sides so that the image covers the target
    (`fit_longest=False`) or fits inside it (border mode); sides rounded."""
    ratios = (h / target_h, w / target_w)
    ratio = max(ratios) if fit_longest else min(ratios)
    return round(w / ratio), round(h / ratio)


def _torchvision_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """torchvision `Resize(int)` for a square target; timm's `ResizeKeepRatio` for another one."""
    target_h, target_w = scale_size(pre, height, width)
    if target_h == target_w:
        return _truncate_longer(w, h, target_h)
    return keep_ratio(w, h, target_h, target_w, fit_longest=False)


def _mmcv_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """mmpretrain `ResizeEdge(scale, edge='short')` (mmcls 0.x `Resize(size=(scale, -1))`)."""
    return _truncate_longer(w, h, _shorter_side(pre, height, width))


def _paddle_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """PaddleClas `ResizeImage(resize_short)`: both sides times `resize_short / shorter`, each
    rounded with Python's `round` (so the longer side is rounded, not truncated)."""
    percent = float(_shorter_side(pre, height, width)) / min(w, h)
    return int(round(w * percent)), int(round(h * percent))


def _floor_offset(outer: int, inner: int) -> int:
    """PaddleClas `CropImage`: `(outer - inner) // 2`."""
    return (outer - inner) // 2


def _divide_by_255(array: np.ndarray) -> np.ndarray:
    """torchvision `ToTensor`: `x / 255`."""
    import numpy as np

    return array / np.float32(255.0)


def _times_reciprocal_255(array: np.ndarray) -> np.ndarray:
    """PaddleClas `NormalizeImage(scale=1.0/255.0)`: `x * float32(1/255)`, which can differ from
    `x / 255` in the last bit."""
    import numpy as np

    return array * np.float32(1.0 / 255.0)


_TORCHVISION_RULES = SourceRules(_torchvision_size, crop_offset, _divide_by_255)


#: Each library's eval transform, as its source code computes it (the tests compare with it).
SOURCE_RULES: dict[Library, SourceRules] = {
    Library.timm: _TORCHVISION_RULES,  # timm's eval transform is built of torchvision transforms
    Library.torchvision: _TORCHVISION_RULES,
    Library.python: _TORCHVISION_RULES,
    Library.onnx: _TORCHVISION_RULES,
    # mmpretrain ResizeEdge + mmcv CenterCrop (`int(round(...))`) + ClsDataPreprocessor (x - mean) / std
    Library.mmcls: SourceRules(_mmcv_size, crop_offset, _divide_by_255),
    # PaddleClas ResizeImage + CropImage + NormalizeImage
    Library.ppcls: SourceRules(_paddle_size, _floor_offset, _times_reciprocal_255),
}

