"""Fixtures for the evaluation tests: real photographs, labelled solid-colour datasets, and an
ONNX classifier whose accuracy on them is known by construction.

The classifier averages each channel of its (normalised) input and scores every class by
minus the squared distance to that class's colour, which is affine in the channel means:
    logit_k = 2 <x, m_k> - |m_k|^2      (the |x|^2 term is the same for every k and dropped)
so one `GlobalAveragePool -> Flatten -> Gemm` graph predicts the nearest class colour. Classes
without a colour get a bias far below any real score. The colours are grey levels spaced
evenly along a line, so the ranking of classes for an image of colour k is |k - j| and the
top-5 of an interior level k is exactly {k-2 .. k+2}.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.measure.datasets import wnids

#: ImageNet class index of each grey level (spread over the 1000 classes, in level order).
LEVEL_CLASSES = (0, 65, 130, 207, 281, 340, 409, 517, 620, 734, 851, 999)
LEVELS = len(LEVEL_CLASSES)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def grey(level: int) -> int:
    """The 0..255 grey value of a level: evenly spaced, 23 apart, far from the JPEG error."""
    return 2 + 23 * level


def colour_classifier(path: Path, *, batch: int | str = 1, size: int = 32, baked_batch: bool = False) -> Path:
    """Write the nearest-grey-level classifier as ONNX (input `input`, output `logits`).

    Batch 1 by default, as the upstream export recipes write graphs. `baked_batch` flattens
    with a Reshape to the constant shape [1, 3], so the graph cannot run other batch sizes.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    means = np.array([[(grey(k) / 255.0 - m) / s for m, s in zip(MEAN, STD, strict=True)] for k in range(LEVELS)])
    weights = np.zeros((3, 1000), np.float32)
    bias = np.full(1000, -1e4, np.float32)
    for level, cls in enumerate(LEVEL_CLASSES):
        weights[:, cls] = 2 * means[level]
        bias[cls] = -np.sum(means[level] ** 2)
    initializers = [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")]
    if baked_batch:
        flatten = helper.make_node("Reshape", ["pooled", "shape"], ["flat"])
        initializers.append(numpy_helper.from_array(np.array([1, 3], np.int64), "shape"))
    else:
        flatten = helper.make_node("Flatten", ["pooled"], ["flat"], axis=1)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            flatten,
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
        ],
        "colour_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 1000])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def manifest(weights: Path, *, name: str = "colours", expected: tuple[float, float] | None = None,
             size: int = 32) -> str:
    """A family manifest for the fixture classifier (library onnx, weights a file:// URL)."""
    accuracy = f"\n    expected: {{unit: percent, top1: {expected[0]}, top5: {expected[1]}}}" if expected else ""
    return f"""\
family: fixture
title: Fixture classifiers
models:
  - name: {name}
    source: {{library: onnx}}
    weights: {{url: "{weights.as_uri()}", format: onnx}}
    input_size: {size}
    preprocess:
      crop_pct: 0.875
      interpolation: bilinear
      mean: {list(MEAN)}
      std: {list(STD)}{accuracy}
"""


@dataclass(frozen=True)
class Item:
    """One image of a generated dataset: its colour level and the label written for it."""

    name: str
    level: int
    label: int  # ImageNet class index
    mode: str = "RGB"


def scenario() -> tuple[list[Item], int, int]:
    """21 images with known outcomes; returns (items, top-1 hits, top-5 hits): 11 and 19.

    Levels 2..9 are interior, so their top-5 is {k-2..k+2}. Per interior level: one image
    labelled with its own class (top-1 and top-5 hit), one labelled with the class one level
    up (top-5 hit only), and every fourth level one labelled 5 levels away (neither).
    Three images are stored in other modes (L, CMYK, RGBA) to exercise the conversion.
    """
    items: list[Item] = []
    top1 = top5 = 0
    for level in range(2, 10):
        modes = {2: "L", 5: "CMYK", 7: "RGBA"}
        items.append(Item(f"own_{level}", level, LEVEL_CLASSES[level], modes.get(level, "RGB")))
        top1 += 1
        top5 += 1
        items.append(Item(f"near_{level}", level, LEVEL_CLASSES[level + 1]))
        top5 += 1
    for level in (2, 6):
        items.append(Item(f"far_{level}", level, LEVEL_CLASSES[level + 5]))
    for level in (0, 11):  # edge levels: labelled with their own class, a top-1 hit
        items.append(Item(f"edge_{level}", level, LEVEL_CLASSES[level]))
        top1 += 1
        top5 += 1
    items.append(Item("wide_3", 3, LEVEL_CLASSES[3]))
    top1 += 1
    top5 += 1
    return items, top1, top5


def _save(item: Item, path: Path, size: tuple[int, int]) -> None:
    from PIL import Image

    value = grey(item.level)
    image = Image.new("RGB", size, (value, value, value))
    if item.mode == "L":
        image = image.convert("L")
    elif item.mode == "CMYK":
        # PIL's CMYK -> RGB is 255 - C - K per channel; a grey stored as K alone comes back exactly.
        image = Image.new("CMYK", size, (0, 0, 0, 255 - value))
    elif item.mode == "RGBA":
        image = image.convert("RGBA")
    image.save(path)


def _size(item: Item) -> tuple[int, int]:
    return (90, 40) if item.name.startswith("wide") else (48, 64)


def _suffix(item: Item) -> str:
    return ".png" if item.mode == "RGBA" else ".JPEG"


def class_folders(root: Path, items: list[Item]) -> Path:
    """Write `items` as `root/<wnid>/<name>.JPEG`."""
    for item in items:
        folder = root / wnids()[item.label]
        folder.mkdir(parents=True, exist_ok=True)
        _save(item, folder / f"{item.name}{_suffix(item)}", _size(item))
    return root


def label_file(root: Path, items: list[Item], *, wnid_labels: bool = False) -> Path:
    """Write `items` as `root/val/<name>` plus `root/val_label.txt` (the deployment guides' layout)."""
    images = root / "val"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for item in items:
        name = f"{item.name}{_suffix(item)}"
        _save(item, images / name, _size(item))
        lines.append(f"{name} {wnids()[item.label] if wnid_labels else item.label}")
    (root / "val_label.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def photographs(folder: Path) -> list[Path]:
    """scikit-image's real photographs saved as JPEG and PNG (plus a grayscale one)."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fmt in (("chelsea", "JPEG"), ("coffee", "PNG"), ("astronaut", "JPEG"), ("camera", "PNG")):
        path = folder / f"{name}.{fmt.lower()}"
        Image.fromarray(getattr(data, name)()).save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        paths.append(path)
    return paths


def run_zoo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `zoo` command as a user runs it, in `cwd`, with a private store."""
    environment = {**os.environ, "ZOO_HOME": str(cwd / "store"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", "manifests", *args], cwd=cwd,
                          capture_output=True, text=True, env=environment, timeout=600)


def synced_workspace(root: Path, *, expected: tuple[float, float] | None = None, baked_batch: bool = False) -> Path:
    """A working folder holding the fixture manifest, its ONNX weights, the two datasets
    (`data/folders`, `data/ImageNet`) and `out/onnx-colours/` written by a real `zoo sync`."""
    root.mkdir(parents=True, exist_ok=True)
    weights = colour_classifier(root / "colours.onnx", baked_batch=baked_batch)
    (root / "manifests").mkdir(exist_ok=True)
    (root / "manifests" / "fixture.yaml").write_text(manifest(weights, expected=expected), encoding="utf-8")
    items, _, _ = scenario()
    class_folders(root / "data" / "folders", items)
    label_file(root / "data" / "ImageNet", items)
    result = run_zoo("sync", "onnx/colours", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root
