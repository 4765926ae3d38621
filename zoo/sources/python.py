"""python: a `module:function` entry point returning a `torch.nn.Module`, plus an optional checkpoint.

For models published in their authors' own repositories rather than a library. The
function is called with `num_classes=` when it accepts that argument. The module must be
importable (installed, or on PYTHONPATH).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.common import ConvertResult
from zoo.sources.torch_export import build_and_export


def convert(model: Model, weights: Path | None, out: Path, *, seed: int = 0) -> ConvertResult:
    """Call the entry point (seeded), load `weights` if given, export."""
    import torch

    entrypoint = model.source.entrypoint or ""

    def build() -> Any:
        function = _resolve(model.id, entrypoint)
        kwargs = {"num_classes": model.num_classes} if "num_classes" in _parameters(function) else {}
        module = function(**kwargs)
        if not isinstance(module, torch.nn.Module):
            raise ConversionError(
                f"{model.id}: entry point {entrypoint} returned {type(module).__name__}, not a torch.nn.Module"
            )
        return module

    return build_and_export(build, model, weights, out, seed=seed, tools=())


def _resolve(model_id: str, entrypoint: str) -> Any:
    module_name, _, attribute = entrypoint.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConversionError(
            f"{model_id}: cannot import {module_name!r} for entry point {entrypoint} ({exc}); "
            "install the package or add its folder to PYTHONPATH"
        ) from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConversionError(f"{model_id}: {module_name} has no callable {attribute!r} (entry point {entrypoint})")
    return function


def _parameters(function: Any) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()
