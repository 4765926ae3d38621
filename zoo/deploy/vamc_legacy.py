"""The vamc build YAML, legacy dialect (`vamc build FILE`); docs/formats.md, "vamc build YAML, legacy".

It always names `add_extra_ops_to_graph` (null when nothing is appended) and writes
`div255: false` only for statistics on the 0..255 scale, as upstream writes it.
"""

from __future__ import annotations

from typing import Any

from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.output import ANY_BOOL, ANY_STR, Output, parse_yaml
from zoo.deploy.vamc import calibration_ops

DIALECT = Dialect("legacy vamc build YAML")


def spec(c: DeployContext) -> dict[str, Any]:
    """The legacy build YAML for `c`."""
    engine: dict[str, Any] = {
        "type": "vacc",
        "common": {"do_quantization": c.quantize.enabled},
        "add_extra_ops_to_graph": {"type": c.graph.extra_ops},
    }
    doc: dict[str, Any] = {
        "model": {"name": c.identity.name, "inputs": {c.input.name: list(c.input.shape)},
                  "checkpoint": c.paths.checkpoint},
        "engine": engine,
        "workspace": {"work_dir": c.paths.workspace, "enable_ir": ANY_BOOL, "save_log": ANY_BOOL},
    }
    if c.quantize.enabled:
        engine["calibration"] = {"quant_mode": c.quantize.calibrate_mode, "per_channel": c.quantize.per_channel}
        doc["dataset"] = {
            "path": c.quantize.calib_dir,
            "sampler": {"suffix": ANY_STR, "get_data_num": c.quantize.calib_count},
            "transform_ops": calibration_ops(c, {} if c.normalise.div255 else {"div255": False}),
        }
    return doc


OUTPUT = Output(DIALECT, "vamc/build_legacy.yaml.j2", "sdk1.0/{library}_{name}.yaml", parse_yaml, spec,
                lists_approximations=True, command="vamc build {file}")
