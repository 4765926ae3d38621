"""The vamc build YAML, current dialect (`vamc compile FILE`); docs/formats.md, "vamc build YAML".

Without int8 calibration the file has no `quantize` block and no `dataset`; the calibration
pipeline (`process_ops`) resizes to a fixed width x height, converts a BGR network's colour
(`CvtColor`, right after decoding) and normalises with the source's own statistics in the
network's channel order (vamc reads them in full precision). Compile options the manifest does
not set are not written.
"""

from __future__ import annotations

from typing import Any

from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.output import ANY_INT, Output, parse_yaml

DIALECT = Dialect("vamc build YAML")

#: Calibration images when the manifest does not say: what upstream's current build files use.
CALIB_COUNT = 50
#: The `CvtColor` code turning the decoder's RGB images into a BGR network's input.
CVT_TO_BGR = "COLOR_RGB2BGR"


def spec(c: DeployContext) -> dict[str, Any]:
    """The current build YAML for `c`."""
    q = c.quantize
    dense = {"dense_special_config": list(q.dense_special_config)} if q.dense_special_config else {}
    transport = {} if q.data_transport_mode is None else {"data_transport_mode": q.data_transport_mode}
    backend: dict[str, Any] = {"type": "tvm_vacc", "dtype": q.dtype,
                               "compile": {"cluster_mode": ANY_INT, **transport, **dense}}
    doc: dict[str, Any] = {
        "name": c.identity.name,
        "frontend": {"shape": {c.input.name: list(c.input.shape)}, "type": c.graph.frontend,
                     "checkpoint": c.paths.checkpoint, "dtype": "fp32"},
        "backend": backend,
        "workspace": {"path": c.paths.workspace},
    }
    if q.enabled:
        backend["quantize"] = {"calibrate_mode": q.calibrate_mode, "quantize_per_channel": q.per_channel, **dense}
        normalize = {"div255": c.normalise.div255, "mean": list(c.normalise.calib_mean),
                     "std": list(c.normalise.calib_std)}
        doc["dataset"] = {
            "type": "tvm",
            "path": q.calib_dir,
            "sampler": {"suffix": q.sampler_suffix, "get_data_num": q.calib_count},
            "process_ops": calibration_ops(c, normalize, c.colour.calib_cvt_code),
        }
    if c.graph.extra_ops:
        doc["graph"] = {"extra_ops": {"type": c.graph.extra_ops}}
    return doc


def calibration_ops(c: DeployContext, normalize: dict[str, Any], cvt_code: str | None) -> list[dict[str, Any]]:
    """The calibration pipeline both vamc dialects write: `normalize` holds the Normalize op's
    settings, `cvt_code` the code of a `CvtColor` op after decoding (None: no conversion)."""
    convert = [{"type": "CvtColor", "code": cvt_code}] if cvt_code else []
    return [
        {"type": "DecodeImage"},
        *convert,
        {"type": "Resize", "size": [c.resize.height, c.resize.width]},
        {"type": "CenterCrop", "crop_size": [c.input.height, c.input.width]},
        {"type": "Normalize", **normalize},
        {"type": "ToTensor"},
    ]


OUTPUT = Output(DIALECT, "vamc/build.yaml.j2", "{library}_{name}.yaml", parse_yaml, spec, lists_approximations=True,
                command="vamc compile {file}")
