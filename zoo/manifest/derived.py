"""Numbers derived from a model's preprocessing, computed once for everything that prints them.

The resize size is floored (`floor(S / crop_pct)`), crop offsets use Python's half-to-even
`round` (torchvision's `CenterCrop`), and mean/std are rounded to float16 the way the VDSP
engine stores them. `zoo show`, the deploy context and the source pipeline all read them here.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Protocol

from zoo.manifest.schema import Model


def fp16(value: float) -> float:
    """`value` rounded to IEEE half precision (round half to even) and read back."""
    return struct.unpack("<e", struct.pack("<e", value))[0]


def fp16_bits(value: float) -> int:
    """The IEEE half-precision bit pattern of `value` as an unsigned 16-bit integer."""
    return struct.unpack("<H", struct.pack("<e", value))[0]


class ResizeRule(Protocol):
    """How the size before cropping is stated: a `Preprocess`, or a library's own config."""

    @property
    def crop_pct(self) -> float | None: ...

    @property
    def resize(self) -> int | None: ...


def scale_size(pre: ResizeRule, height: int, width: int) -> tuple[int, int]:
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

