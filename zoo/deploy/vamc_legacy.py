"""The vamc build YAML, legacy dialect (`vamc build FILE`); docs/formats.md, "vamc build YAML, legacy".

It always names `add_extra_ops_to_graph` (null when nothing is appended) and writes
`div255: false` only for statistics on the 0..255 scale, as upstream writes it. Its calibration
pipeline has no colour conversion, so it keeps the source's statistics in RGB order. It reads
ONNX only and knows no compile options; a manifest that needs them, or a calibration mode
without a published legacy example (`mse`), is a `RenderError`.
"""

from __future__ import annotations

from typing import Any

from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.output import ANY_BOOL, Output, parse_yaml, refuse_unwritable
from zoo.deploy.vamc import calibration_ops

DIALECT = Dialect("legacy vamc build YAML")

#: Calibration images when the manifest does not say: what the legacy build files use.
CALIB_COUNT = 1000
#: The `quant_mode` values of published legacy build files.
QUANT_MODES = ("percentile", "kl_divergence", "max")


def unwritable(c: DeployContext) -> list[str]:
    """The model's build settings this dialect has no form for."""
    found = []
    if c.graph.frontend != "onnx":
        found.append(f"frontend {c.graph.frontend} (deploy.frontend)")
    if c.quantize.enabled and c.quantize.calibrate_mode not in QUANT_MODES:
        found.append(f"quant_mode {c.quantize.calibrate_mode} (deploy.calibrate_mode)")
    if c.quantize.data_transport_mode is not None or c.quantize.dense_special_config is not None:
        found.append("compile options (deploy.compile)")
    return found


def spec(c: DeployContext) -> dict[str, Any]:
    """The legacy build YAML for `c`; a setting it has no form for is a `RenderError`."""
    refuse_unwritable(c, DIALECT, unwritable(c))
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
        div255 = {} if c.normalise.div255 else {"div255": False}
        normalize = {**div255, "mean": list(c.normalise.mean), "std": list(c.normalise.std)}
        doc["dataset"] = {
            "path": c.quantize.calib_dir,
            "sampler": {"suffix": c.quantize.sampler_suffix, "get_data_num": c.legacy.calib_count},
            "transform_ops": calibration_ops(c, normalize, None),
        }
    return doc


OUTPUT = Output(DIALECT, "vamc/build_legacy.yaml.j2", "sdk1.0/{library}_{name}.yaml", parse_yaml, spec,
                lists_approximations=True, command="vamc build {file}")
