"""python: a `module:function` entry point returning a `torch.nn.Module`, plus an optional checkpoint.

For models published in their authors' own repositories rather than a library. The
function is called with `num_classes=` when it accepts that argument. The module must be
importable (installed, or on PYTHONPATH). Its source (the module's file, or every `.py` file of
its top-level package) enters the convert step's cache key, so editing the user's code converts again.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from importlib.machinery import PathFinder
from pathlib import Path
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
        """sha256 over the user's code the entry point can run: every `.py` file of its top-level
        package (a helper module edited beside the entry point counts too), or its module file;
        found without importing anything. None if not found: the conversion then names the module."""
        found = _code_files((model.source.entrypoint or "").partition(":")[0])
        if found is None:
            return None
        root, files = found
        digest = hashlib.sha256()
        for path in files:
            with open(path, "rb") as handle:
                digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
                digest.update(hashlib.file_digest(handle, "sha256").digest())
        return digest.hexdigest()


#: Bounds on the code hashed for a key (a package that large is not the user's model code).
MAX_CODE_FILES = 2000


def _code_files(dotted: str) -> tuple[Path, list[Path]] | None:
    """(folder, files): the module's file, or every `.py` file of its top-level package (sorted),
    located on sys.path the way `import` would, without running any package's `__init__` (it
    may import torch)."""
    top = PathFinder.find_spec(dotted.split(".")[0]) if dotted else None
    if top is None or _module_file(dotted) is None:
        return None
    folders = [Path(f) for f in top.submodule_search_locations or []]
    if not folders:
        return Path(str(top.origin)).parent, [Path(str(top.origin))]
    files = sorted(p for p in folders[0].rglob("*.py") if p.is_file())
    if len(files) > MAX_CODE_FILES:
        raise ConversionError(f"{dotted}: its package {folders[0].name} holds over {MAX_CODE_FILES} .py files; "
                              "keep the model's code in a package of its own")
    return folders[0], files


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
