"""The vdsp_params JSON, legacy "vamp" dialect; docs/formats.md, "vdsp_params, vamp".

One `{Property, DType, ParamType, Value}` entry per setting, in a fixed order, with the
engine's enum names as values. It resizes the shorter side and crops one square size, so it
cannot describe a non-square input. It writes only the values of published vamp files; others
(`BILINEAR_PILLOW`, `BGR2RGB`, `EQUAL`) are a `RenderError`.
"""

from __future__ import annotations

from typing import Any

from zoo.deploy import vdsp
from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.output import Output, parse_json, refuse_unwritable
from zoo.deploy.vdsp_sdk1 import statistics_bits, unwritable
from zoo.errors import RenderError

DIALECT = Dialect("vamp vdsp_params")

OP_TYPE = "RGB_RESIZE_CVTCOLOR_CROP_NORMALIZATION_TENSORIZATION_U8"
COLOR_SPACE = "COLOR_SPACE_BT709"
#: The values this dialect writes (the first resize type is what `auto` falls back to).
RESIZE_TYPES = (vdsp.RESIZE_CV,)
COLOR_CVT_CODES = {code: f"COLOR_{code}" for code in (vdsp.NO_CHANGE, vdsp.RGB2BGR)}
NORM_TYPES = (vdsp.NORM_DIV255_MEAN_STD, vdsp.NORM_DIV255, vdsp.NORM_MEAN_STD)


def spec(c: DeployContext) -> dict[str, Any]:
    """The vamp vdsp_params for `c`; a non-square input is a `RenderError`."""
    legacy = c.legacy
    refuse_unwritable(c, DIALECT, unwritable(c, legacy.vamp_resize_type, legacy.vamp_color_cvt_code,
                                             legacy.vamp_norm_type))
    if c.input.height != c.input.width:
        raise RenderError(
            f"{c.identity.model_id}: the vamp vdsp_params dialect crops a single square size (crop_size) and "
            f"cannot describe the {c.input.width}x{c.input.height} input; use --profile build_in"
        )
    entries = [
        ("iimage_format", "UINT_32", c.colour.image_format),
        ("iimage_width", "INT", c.resize.width),
        ("iimage_height", "INT", c.resize.height),
        ("iimage_width_pitch", "UINT_32", c.resize.width),
        ("iimage_height_pitch", "UINT_32", c.resize.height),
        ("short_edge_threshold", "INT", c.resize.short_edge),
        ("crop_size", "UINT_32", c.crop.size),
        *(((name, "UINT_16", value) for name, value in statistics_bits(c).items())),
        ("norma_type", "INT", legacy.vamp_norm_type),
        ("resize_type", "INT", legacy.vamp_resize_type),
        ("color_cvt_code", "UINT_16", legacy.vamp_color_cvt_code),
        ("color_space", "UINT_16", COLOR_SPACE),
    ]
    return {
        "vdsp_op_type": OP_TYPE,
        "config": [{"Property": p, "DType": t, "ParamType": "ELEMENT", "Value": v} for p, t, v in entries],
    }


OUTPUT = Output(DIALECT, "vdsp/vamp.json.j2", "vamp/{stem}-vdsp_params.json", parse_json, spec,
                command=vdsp.VAMP_COMMAND)
