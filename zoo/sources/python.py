"""python: a `module:function` entry point returning a `torch.nn.Module`, plus an optional checkpoint.

For models published in their authors' own repositories rather than a library. The
function is called with `num_classes=` when it accepts that argument. The module must be
importable (installed, or on PYTHONPATH). Its source file enters the convert step's cache
key, so editing the user's code converts again.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from importlib.machinery import PathFinder
from typing import Any

from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.torch_export import TorchLibrary


class Python(TorchLibrary):
    name = "python"
    needs_entrypoint = True
    tools = ("torch", "onnx")
    extra = "torchvision"

    def build(self, model: Model) -> Any:
        import torch

        entrypoint = model.source.entrypoint or ""
        function = _resolve(model.id, entrypoint)
        kwargs = {"num_classes": model.num_classes} if "num_classes" in _parameters(function) else {}
        module = function(**kwargs)
        if not isinstance(module, torch.nn.Module):
            raise ConversionError(
                f"{model.id}: entry point {entrypoint} returned {type(module).__name__}, not a torch.nn.Module"
            )
        return module

    def code_digest(self, model: Model) -> str | None:
        """sha256 of the entry point's module file, found without importing it (None if not found:
        the conversion then fails and names the module)."""
        module_name = (model.source.entrypoint or "").partition(":")[0]
        origin = _module_file(module_name)
        if origin is None:
            return None
        with open(origin, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()


def _module_file(dotted: str) -> str | None:
    """The source file of module `dotted`, located on sys.path the way `import` would, without
    running any package's `__init__` (importing user code may import torch)."""
    parts = dotted.split(".")
    search: list[str] | None = None  # sys.path for the top-level package
    spec = None
    for depth in range(1, len(parts) + 1):
        spec = PathFinder.find_spec(".".join(parts[:depth]), search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    return spec.origin if spec is not None and spec.has_location else None


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


LIBRARY = Python()
