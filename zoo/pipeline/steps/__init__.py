"""Pipeline steps, one module per step kind (see `zoo.pipeline.steps.base` for the contract).

`PIPELINE` lists the step classes in pipeline order as "module:Class" strings, so that
importing this package costs nothing; `pipeline_steps()` imports them when a plan is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoo.pipeline.steps.base import Step

PIPELINE: tuple[str, ...] = (
    "zoo.pipeline.steps.fetch:FetchStep",
    "zoo.pipeline.steps.convert:ConvertStep",
    "zoo.pipeline.steps.simplify:SimplifyStep",
    "zoo.pipeline.steps.validate:ValidateStep",
    "zoo.pipeline.steps.render:RenderStep",
)


def pipeline_steps() -> list[Step]:
    """One instance of every step class of the pipeline, in pipeline order."""
    steps = []
    for target in PIPELINE:
        module, name = target.split(":")
        steps.append(getattr(importlib.import_module(module), name)())
    return steps
