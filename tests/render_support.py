"""Fixture manifests and helpers shared by the deploy-context and render tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from zoo.manifest.catalog import load_catalog
from zoo.manifest.schema import Model

#: The worked example of docs/formats.md: timm cspresnet50, input 256, crop_pct 0.887.
WORKED_EXAMPLE = """\
family: cspnet
title: CSPNet (worked example)
models:
  - name: cspresnet50
    source: {library: timm, version: "0.6.5"}
    input_size: 256
    preprocess:
      crop_pct: 0.887
      interpolation: bilinear
      mean: [0.485, 0.456, 0.406]
      std: [0.229, 0.224, 0.225]
    deploy: {dtype: int8, calibrate_mode: percentile, per_channel: true, extra_ops: softmax}
"""

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
BYTE_STATS = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "value_range": "0..255"}

#: One model per preprocessing variant: (name, input size, preprocess overrides).
VARIANTS: list[tuple[str, int, dict[str, Any]]] = [
    ("crop0875", 224, {"crop_pct": 0.875}),
    ("crop0887", 256, {"crop_pct": 0.887}),
    ("crop095", 224, {"crop_pct": 0.95}),
    ("crop1", 224, {"crop_pct": 1.0}),
    ("inception", 299, {"crop_pct": 0.875}),
    ("resize_given", 256, {"resize": 288}),
    ("half_down", 224, {"resize": 233}),
    ("bicubic", 224, {"crop_pct": 0.875, "interpolation": "bicubic"}),
    ("bgr", 224, {"crop_pct": 0.875, "color": "BGR"}),
    ("bytes", 224, {"crop_pct": 0.875, **BYTE_STATS}),
    ("squash", 224, {"crop_pct": 0.875, "crop_mode": "squash"}),
    ("unit_stats", 224, {"crop_pct": 0.875, "mean": [0, 0, 0], "std": [1, 1, 1]}),
]


def make_model(
    name: str = "m",
    *,
    library: str = "timm",
    input_size: int | list[int] = 224,
    deploy: dict[str, Any] | None = None,
    **preprocess: Any,
) -> Model:
    """A resolved model with ImageNet statistics unless `preprocess` says otherwise.

    It resizes with OpenCV (`resize_backend: cv2`) unless told otherwise, so that the PIL
    resize-filter approximation does not show up in tests about other approximations.
    """
    pre = {**IMAGENET, "resize_backend": "cv2", **preprocess}
    if "crop_pct" not in pre and "resize" not in pre:
        pre["crop_pct"] = 0.875
    data: dict[str, Any] = {
        "name": name,
        "family": "fixture",
        "source": {"library": library},
        "input_size": input_size,
        "preprocess": pre,
    }
    if deploy is not None:
        data["deploy"] = deploy
    return Model.model_validate(data)


def variants_manifest() -> str:
    """A family file holding every entry of `VARIANTS` (timm models resizing with OpenCV, as in
    `make_model`, so each shows only the approximation of its own variant)."""
    lines = ["family: variants", "title: Preprocessing variants", "defaults:", "  source: {library: timm}", "models:"]
    for name, size, pre in VARIANTS:
        merged = {**IMAGENET, "resize_backend": "cv2", **pre}
        lines.append(f"  - name: {name}")
        lines.append(f"    input_size: {size}")
        lines.append(f"    preprocess: {json.dumps(merged)}")
    return "\n".join(lines) + "\n"


def load_models(folder: Path, text: str, name: str = "fixture.yaml") -> dict[str, Model]:
    """Write `text` as a manifest in `folder` and load it alone (no shipped manifests)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    catalog = load_catalog(files=[path])
    assert not catalog.problems, catalog.problems
    return catalog.models


def parse(path: Path) -> Any:
    """A generated file, parsed as JSON or YAML by its suffix."""
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def vamp_values(doc: dict[str, Any]) -> dict[str, Any]:
    """The vamp dialect's config list as {Property: Value}."""
    return {entry["Property"]: entry["Value"] for entry in doc["config"]}
