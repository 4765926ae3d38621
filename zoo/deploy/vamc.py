"""The vamc build YAML, current dialect (`vamc compile FILE`); docs/formats.md, "vamc build YAML".

Without int8 calibration the file has no `quantize` block and no `dataset`; the calibration
pipeline (`process_ops`) resizes to a fixed width x height and normalises with the source's
own statistics (vamc reads them in full precision).
"""

from __future__ import annotations

from typing import Any

from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.output import ANY_INT, ANY_STR, Output, parse_yaml

DIALECT = Dialect("vamc build YAML")


def spec(c: DeployContext) -> dict[str, Any]:
    """The current build YAML for `c`."""
    backend: dict[str, Any] = {"type": "tvm_vacc", "dtype": c.quantize.dtype, "compile": {"cluster_mode": ANY_INT}}
    doc: dict[str, Any] = {
        "name": c.identity.name,
        "frontend": {"shape": {c.input.name: list(c.input.shape)}, "type": "onnx",
                     "checkpoint": c.paths.checkpoint, "dtype": "fp32"},
        "backend": backend,
        "workspace": {"path": c.paths.workspace},
    }
    if c.quantize.enabled:
        backend["quantize"] = {"calibrate_mode": c.quantize.calibrate_mode,
                               "quantize_per_channel": c.quantize.per_channel}
        doc["dataset"] = {
            "type": "tvm",
            "path": c.quantize.calib_dir,
            "sampler": {"suffix": ANY_STR, "get_data_num": c.quantize.calib_count},
            "process_ops": calibration_ops(c, {"div255": c.normalise.div255}),
        }
    if c.graph.extra_ops:
        doc["graph"] = {"extra_ops": {"type": c.graph.extra_ops}}
    return doc


def calibration_ops(c: DeployContext, div255: dict[str, bool]) -> list[dict[str, Any]]:
    """The calibration pipeline both vamc dialects write; `div255` is the Normalize op's flag, if any."""
    return [
        {"type": "DecodeImage"},
        {"type": "Resize", "size": [c.resize.height, c.resize.width]},
        {"type": "CenterCrop", "crop_size": [c.input.height, c.input.width]},
        {"type": "Normalize", **div255, "mean": list(c.normalise.mean), "std": list(c.normalise.std)},
        {"type": "ToTensor"},
    ]


OUTPUT = Output(DIALECT, "vamc/build.yaml.j2", "{library}_{name}.yaml", parse_yaml, spec, lists_approximations=True,
                command="vamc compile {file}")
