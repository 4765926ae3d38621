"""Makes this interpreter a light install (zoo without extras): with this folder on PYTHONPATH,
Python runs this file at start-up and every import of a framework fails as if it were missing.
Worker processes inherit PYTHONPATH, so they are light too. Used by tests/test_light_install.py."""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder

#: Top-level modules of the extras (`zoo[timm,torchvision,mmcls,ppcls]`).
ABSENT = frozenset({"torch", "torchvision", "timm", "mmpretrain", "mmengine", "mmcv", "paddle", "paddle2onnx",
                    "paddleclas", "ppcls", "safetensors"})


class _Absent(MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Absent())
