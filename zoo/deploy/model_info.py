"""The model_info JSON, the runtime's "three-piece" description; docs/formats.md, "model_info".

It names the compiled library, graph and parameters inside the compiled folder; where the
hardware description lives is a site setting, so any string passes the check.
"""

from __future__ import annotations

from typing import Any

from zoo.deploy.context import DeployContext, Dialect
from zoo.deploy.output import ANY_STR, Output, parse_json

DIALECT = Dialect("model_info")

#: The runtime's hardware description, as the published model_info files name it.
HW_CONFIG_FILE = "classification/common/hw_config/hw_conf.bin"


def spec(c: DeployContext) -> dict[str, Any]:
    """The model_info for `c`."""
    return {
        "model_name": c.identity.name,
        "model_lib_path": c.paths.model_lib,
        "model_graph_path": c.paths.model_graph,
        "model_params_path": c.paths.model_params,
        "hw_config_file": ANY_STR,
    }


OUTPUT = Output(DIALECT, "model_info.json.j2", "model_info_{name}.json", parse_json, spec)
