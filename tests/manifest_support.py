"""A valid family manifest to start from, and helpers to write variants of it."""

from __future__ import annotations

from pathlib import Path

VALID = """\
family: demo
title: Demo family
description: A small family used by the tests.
paper: {title: A paper, url: "https://example.org/paper"}
defaults:
  source: {library: timm, version: 0.6.5}
  preprocess:
    crop_pct: 0.887
    interpolation: bilinear
    mean: [0.485, 0.456, 0.406]
    std: [0.229, 0.224, 0.225]
  expected: {unit: percent}
models:
  - name: demo_csp50
    input_size: 256
    weights:
      url: https://example.org/demo_csp50_ra-d3e8d487.pth
      format: pth
      hash_prefix: d3e8d487
    expected: {top1: 79.582, top5: 94.704}
    reported: {flops_g: 10.038, params_m: 21.576}
  - name: demo_cspx50
    input_size: 224
    preprocess: {crop_pct: 0.875}
    expected: {top1: 80.050, top5: 94.946}
"""


def write(folder: Path, text: str, name: str = "demo.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
