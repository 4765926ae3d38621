"""Converters: one module per source library, each `convert(model, weights, out, *, seed) -> ConvertResult`.

`weights` is the fetched file (checkpoint, inference archive or ONNX file), or None for
`--random-weights` (seeded initialisation). Each module imports its framework only when
called, so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from zoo.manifest.schema import Library, Model
from zoo.sources.common import ConvertResult

#: The distributions each library's conversion depends on (their versions enter the cache key).
TOOLS: dict[Library, tuple[str, ...]] = {
    Library.timm: ("torch", "timm", "onnx"),
    Library.torchvision: ("torch", "torchvision", "onnx"),
    Library.mmcls: ("torch", "mmpretrain", "mmengine", "onnx"),
    Library.python: ("torch", "onnx"),
    Library.ppcls: ("paddlepaddle", "paddle2onnx", "paddleclas", "onnx"),
    Library.onnx: ("onnx", "onnxruntime"),
}


def convert(model: Model, weights: Path | None, out: Path, *, seed: int = 0) -> ConvertResult:
    """Convert `model` with the converter of its source library, writing the ONNX graph to `out`."""
    module = importlib.import_module(f"zoo.sources.{model.source.library.value}")
    result: ConvertResult = module.convert(model, weights, out, seed=seed)
    return result
