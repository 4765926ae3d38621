"""The profiles: which files one deployment needs.

- ``build_in`` (default): vamc build YAML (current dialect), vdsp_params (build_in dialect),
  model_info JSON;
- ``sdk1``: vamc build YAML (legacy dialect), vdsp_params (sdk1.0 and vamp dialects),
  model_info JSON.

The legacy files sit in sub-folders named like upstream's, so both profiles fit in one model
folder. A new dialect is one module (its `OUTPUT`), one template and its name here.
"""

from __future__ import annotations

from zoo.deploy import model_info, vamc, vamc_legacy, vdsp_build_in, vdsp_sdk1, vdsp_vamp
from zoo.deploy.output import Output
from zoo.errors import RenderError

PROFILES: dict[str, tuple[Output, ...]] = {
    "build_in": (vamc.OUTPUT, vdsp_build_in.OUTPUT, model_info.OUTPUT),
    "sdk1": (vamc_legacy.OUTPUT, vdsp_sdk1.OUTPUT, vdsp_vamp.OUTPUT, model_info.OUTPUT),
}
DEFAULT_PROFILE = "build_in"


def profile_outputs(name: str) -> tuple[Output, ...]:
    """The files of profile `name`; an unknown name is a `RenderError` listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise RenderError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
