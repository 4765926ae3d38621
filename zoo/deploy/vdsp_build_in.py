"""The vdsp_params JSON, current "build_in" dialect; docs/formats.md, "vdsp_params, build_in".

One fused op: resize to a fixed width x height, convert the colour, crop at the written
offsets (the resize-only op carries no crop keys), normalise with float16 statistics.
"""

from __future__ import annotations

from typing import Any

from zoo.deploy import vdsp
from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.output import Output, parse_json

DIALECT = Dialect("build_in vdsp_params")

OP_RESIZE_CROP = "FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR"
OP_RESIZE = "FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR"
#: The resize types this dialect writes (the first is what `auto` falls back to).
RESIZE_TYPES = (vdsp.RESIZE_CV, vdsp.RESIZE_PILLOW)


def op_type(crop: bool) -> str:
    """The fused op: with a crop when the resize is larger than the input."""
    return OP_RESIZE_CROP if crop else OP_RESIZE


def spec(c: DeployContext) -> dict[str, Any]:
    """The build_in vdsp_params for `c`."""
    crop = {"CropX": c.crop.x, "CropY": c.crop.y} if c.crop.enabled else {}
    resize = c.resize
    return {
        "OpType": c.graph.op_type,
        "OpConfig": {
            "IimageFormat": c.colour.image_format,
            "IimageWidth": resize.width, "IimageHeight": resize.height,
            "OimageWidth": c.input.width, "OimageHeight": c.input.height,
            **crop,
            "ResizeWidth": resize.width, "ResizeHeight": resize.height,
            "IimageWidthPitch": resize.width, "IimageHeightPitch": resize.height,
            "Mean": list(c.normalise.mean_fp16),
            "Std": list(c.normalise.std_fp16),
            "NormaType": c.normalise.norm_type,
            "ColorCvtCode": c.colour.cvt_code,
            "ResizeType": resize.type,
        },
    }


OUTPUT = Output(DIALECT, "vdsp/build_in.json.j2", "{stem}-vdsp_params.json", parse_json, spec,
                command=vdsp.VAMP_COMMAND)
