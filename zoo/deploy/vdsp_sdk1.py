"""The vdsp_params JSON, legacy "sdk1.0" dialect; docs/formats.md, "vdsp_params, sdk1.0".

Integer codes instead of names, float16 bit patterns instead of values. Op 300 resizes the
shorter side (`short_edge_threshold`) and crops one square `crop_size`; op 301 resizes
straight to the input size and crops nothing.

Codes shown by a published example: op 300 and 301, image format 5000 (RGB_PLANAR), resize
type 1 (bilinear), colour code 2 (`NO_CHANGE`), colour space 0, norm type 4
(`DIV255_MINUSMEAN_DIVSTD`). Chosen by zoo, because no example shows them: norm type 3 for
`MINUSMEAN_DIVSTD` (what published files of 0..255-statistics models carry), 6 for `DIV255`
and colour code 4 for `RGB2BGR` (their positions in the VDSP runtime's enums, whose positions
2 and 4 match the codes above). Settings without a code here (`BILINEAR_PILLOW`, `BGR2RGB`,
`EQUAL`) are a `RenderError`, never a guessed code.
"""

from __future__ import annotations

from typing import Any

from zoo.deploy import vdsp
from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.output import Output, parse_json, refuse_unwritable
from zoo.manifest.schema import CropMode

DIALECT = Dialect("sdk1.0 vdsp_params")

OP_RESIZE_CROP = 300
OP_RESIZE = 301
IMAGE_FORMAT = 5000
RESIZE_CODES = {vdsp.RESIZE_CV: 1}
COLOR_SPACE = 0
COLOR_CODES = {vdsp.NO_CHANGE: 2, vdsp.RGB2BGR: 4}
NORM_CODES = {vdsp.NORM_MEAN_STD: 3, vdsp.NORM_DIV255_MEAN_STD: 4, vdsp.NORM_DIV255: 6}


def op_type(crop_mode: CropMode, crop: bool, square: bool) -> int:
    """Op 301 (resize straight to the input size) where that is what the source does, or where
    the input is not square (the legacy crop takes one size); op 300 (shorter side + crop) else."""
    if not square or (crop_mode == CropMode.squash and not crop):
        return OP_RESIZE
    return OP_RESIZE_CROP


def statistics_bits(c: DeployContext) -> dict[str, int]:
    """Mean and std as float16 bit patterns, keyed as both legacy vdsp dialects name them."""
    names = ("meanr", "meang", "meanb", "stdr", "stdg", "stdb")
    return dict(zip(names, (*c.normalise.mean_bits, *c.normalise.std_bits), strict=True))


def unwritable(c: DeployContext, resize: object, colour: object, norm: object) -> list[str]:
    """The model's VDSP settings a legacy vdsp dialect has no form for (its value for them is None)."""
    settings = [
        (resize, f"ResizeType {c.resize.type} (deploy.resize_type)"),
        (colour, f"ColorCvtCode {c.colour.cvt_code} (deploy.image_color, preprocess.color)"),
        (norm, f"NormaType {c.normalise.norm_type} (preprocess.value_range, mean, std)"),
    ]
    return [what for value, what in settings if value is None]


def spec(c: DeployContext) -> dict[str, Any]:
    """The sdk1.0 vdsp_params for `c`: op 300 or op 301; a setting without a code is a `RenderError`."""
    legacy = c.legacy
    refuse_unwritable(c, DIALECT, unwritable(c, legacy.resize_type, legacy.color_cvt_code, legacy.norm_type))
    if c.legacy.crop:
        sizes = {"short_edge_threshold": c.resize.short_edge, "crop_size": c.crop.size}
    else:
        sizes = {"oimage_width": c.input.width, "oimage_height": c.input.height}
    resize = c.resize
    return {
        "vdsp_op_type": c.legacy.op_type,
        "iimage_format": c.legacy.image_format,
        "iimage_width": resize.width, "iimage_height": resize.height,
        "iimage_width_pitch": resize.width, "iimage_height_pitch": resize.height,
        **sizes,
        "resize_type": c.legacy.resize_type,
        "color_cvt_code": c.legacy.color_cvt_code,
        "color_space": c.legacy.color_space,
        **statistics_bits(c),
        "norma_type": c.legacy.norm_type,
    }


OUTPUT = Output(DIALECT, "vdsp/sdk1.0.json.j2", "sdk1.0/{stem}-vdsp_params.json", parse_json, spec)
