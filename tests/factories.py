"""Builders the tests share: manifest texts and files, model objects, weight files and tiny
classifiers, images and labelled datasets, workspaces, and small real pipeline steps.

Everything here is real: files on disk, `Model`s validated by the schema, ONNX graphs that
ONNX Runtime runs. Servers, clusters and workspaces a test requests by name are fixtures in
`tests/conftest.py`; those fixtures are built from the functions below.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import StepError
from zoo.manifest.catalog import load_catalog
from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult

if TYPE_CHECKING:
    import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: Set to 1 where an install without some extras is intended; tests needing what it lacks then skip.
LIGHT_ENV = "ZOO_TEST_LIGHT"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IMAGENET_STATS = {"mean": list(MEAN), "std": list(STD)}
#: The ImageNet statistics on the 0..255 scale, as mmcls configs write them.
BYTE_STATS = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "value_range": "0..255"}


# ---------------------------------------------------------------------------------------------- manifest texts
#: A valid family manifest to start from (malformed variants are edits of it).
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


def require(module: str) -> Any:
    """`module` imported for a test. Missing, it fails the test (CI must never skip it silently),
    unless $ZOO_TEST_LIGHT=1 says this install lacks extras on purpose: then the test skips."""
    import importlib

    import pytest

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get(LIGHT_ENV) == "1":
            pytest.skip(f"{module} is not installed (${LIGHT_ENV}=1: a light install)")
        pytest.fail(f"this test needs {module}, which is not installed ({exc}); `make setup` installs every "
                    f"extra, or set {LIGHT_ENV}=1 where a light install is intended", pytrace=False)


def edit_valid(old: str, new: str) -> str:
    """`VALID` with its first `old` replaced by `new`."""
    assert old in VALID, f"test bug: {old!r} not in the valid manifest"
    return VALID.replace(old, new, 1)


#: Malformed manifests: (case id, manifest text, expected line, expected field, text in message or hint).
MALFORMED_CASES = [
    ("misspelt-key", edit_valid("    crop_pct: 0.887", "    crop_pc: 0.887"), 8, "defaults.preprocess.crop_pc",
     "did you mean `crop_pct`?"),
    ("misspelt-top-level", edit_valid("description:", "descripton:"), 3, "descripton", "did you mean `description`?"),
    ("misspelt-model-key", edit_valid("    input_size: 256", "    input_sise: 256"), 15, "models[0].input_sise",
     "did you mean `input_size`?"),
    ("unknown-key-no-match", edit_valid("    input_size: 224", "    input_size: 224\n    colour_space: x"), 24,
     "models[1].colour_space", "unknown field"),
    ("bad-library", edit_valid("library: timm", "library: timmy"), 6, "defaults.source.library",
     "'timmy' is not allowed"),
    ("bad-interpolation", edit_valid("interpolation: bilinear", "interpolation: cubic"), 9,
     "defaults.preprocess.interpolation", "bicubic"),
    ("mean-two-values", edit_valid("mean: [0.485, 0.456, 0.406]", "mean: [0.485, 0.456]"), 10,
     "defaults.preprocess.mean", "exactly 3 values"),
    ("std-zero", edit_valid("std: [0.229, 0.224, 0.225]", "std: [0.229, 0, 0.225]"), 11, "defaults.preprocess.std",
     "must be > 0"),
    ("crop-pct-above-one", edit_valid("crop_pct: 0.887", "crop_pct: 1.2"), 8, "defaults.preprocess.crop_pct",
     "less than or equal to 1"),
    ("crop-pct-zero", edit_valid("crop_pct: 0.887", "crop_pct: 0"), 8, "defaults.preprocess.crop_pct",
     "greater than 0"),
    ("mean-on-255-scale", edit_valid("mean: [0.485, 0.456, 0.406]", "mean: [123.7, 116.3, 103.5]"), 7,
     "defaults.preprocess", "value_range: 0..255"),
    ("top5-below-top1", edit_valid("top5: 94.704", "top5: 70.1"), 20, "models[0].expected", "cannot be below top1"),
    ("fraction-as-percent", edit_valid("{top1: 79.582, top5: 94.704}", "{top1: 0.79582, top5: 0.94704}"), 20,
     "models[0].expected", "did you mean `unit: fraction`?"),
    ("percent-as-fraction", edit_valid("expected: {unit: percent}", "expected: {unit: fraction}"), 20,
     "models[0].expected", "did you mean `unit: percent`?"),
    ("missing-unit", edit_valid("  expected: {unit: percent}\n", ""), 19, "models[0].expected.unit",
     "required field is missing"),
    ("ftp-url", edit_valid("url: https://example.org/demo_csp50", "url: ftp://example.org/demo_csp50"), 17,
     "models[0].weights.url", "http://, https:// or file://"),
    ("short-sha256", edit_valid("      hash_prefix: d3e8d487", "      sha256: abc123"), 19,
     "models[0].weights.sha256", "64 lowercase hex"),
    ("sha-disagrees-with-prefix", edit_valid("      hash_prefix: d3e8d487", "      hash_prefix: d3e8d487\n"
     "      sha256: " + "ab" * 32), 16, "models[0].weights", "does not start with hash_prefix"),
    ("bad-hash-prefix", edit_valid("hash_prefix: d3e8d487", "hash_prefix: xyz"), 19, "models[0].weights.hash_prefix",
     "hex digits"),
    ("format-for-other-library", edit_valid("format: pth", "format: pdparams"), 14, "models[0]",
     "cannot be loaded by timm"),
    ("unknown-format", edit_valid("format: pth", "format: pt"), 18, "models[0].weights.format", "is not allowed"),
    ("negative-size", edit_valid("format: pth", "format: pth\n      size: -5"), 19, "models[0].weights.size",
     "greater than 0"),
    ("no-resize-rule", edit_valid("    crop_pct: 0.887\n", ""), 7, "defaults.preprocess",
     "either `crop_pct` or `resize`"),
    ("both-resize-rules", edit_valid("    crop_pct: 0.887", "    crop_pct: 0.887\n    resize: 288"), 7,
     "defaults.preprocess", "not both"),
    ("input-size-string", edit_valid("input_size: 256", "input_size: big"), 15, "models[0].input_size", "valid"),
    ("input-size-channels", edit_valid("input_size: 256", "input_size: [4, 256, 256]"), 15, "models[0].input_size",
     "channels must be 1 or 3"),
    ("relaxed-without-reason", edit_valid("    input_size: 224", "    input_size: 224\n    validate: {atol: 0.01}"),
     24, "models[1].validate", "reason"),
    ("python-without-entrypoint", edit_valid("library: timm", "library: python"), 6, "defaults.source",
     "needs `entrypoint"),
    ("entrypoint-on-timm", edit_valid("version: 0.6.5}", "version: 0.6.5, entrypoint: 'pkg.mod:fn'}"), 6,
     "defaults.source", "only used with library `python`"),
    ("bad-entrypoint", edit_valid("library: timm", "library: python, entrypoint: 'not an entrypoint'"), 6,
     "defaults.source.entrypoint", "package.module:function"),
    ("bad-name", edit_valid("name: demo_csp50", "name: demo csp 50"), 14, "models[0].name", "letters, digits"),
    ("duplicate-key", edit_valid("    input_size: 256", "    input_size: 256\n    input_size: 257"), 16,
     "models[0].input_size", "duplicate key"),
    ("duplicate-id", edit_valid("name: demo_cspx50", "name: demo_csp50"), 22, "models[1].name", "not unique"),
    ("bad-family-slug", edit_valid("family: demo", "family: Demo Family"), 1, "family", "lowercase slug"),
    ("no-models", VALID.split("models:")[0] + "models: []\n", 13, "models", "at least 1"),
    ("model-not-mapping", edit_valid("  - name: demo_cspx50", "  - just a string\n  - name: demo_cspx50"), 22,
     "models[1]", "must be a mapping"),
    ("yaml-syntax", edit_valid("title: Demo family", "title: [Demo family"), 3, "", "YAML syntax"),
    ("tab-indent", edit_valid("  source:", "\tsource:"), 6, "", "YAML syntax"),
    ("not-a-mapping", "- just\n- a list\n", 1, "", "must be a mapping"),
    ("empty-file", "", 1, "", "file is empty"),
    ("paper-bad-url", edit_valid('url: "https://example.org/paper"', 'url: "www.example.org"'), 4, "paper.url",
     "http://, https:// or file://"),
    ("bad-dtype", edit_valid("  expected: {unit: percent}", "  expected: {unit: percent}\n  deploy: {dtype: int4}"),
     13, "defaults.deploy.dtype", "'int4' is not allowed"),
    ("latency-bad-precision", edit_valid("reported: {flops_g: 10.038, params_m: 21.576}",
     "reported: {latency: [{device: V100, precision: FP64, batch_ms: {1: 2.8}}]}"), 21,
     "models[0].reported.latency[0].precision", "is not allowed"),
    ("negative-flops", edit_valid("flops_g: 10.038", "flops_g: -1"), 21, "models[0].reported.flops_g",
     "greater than 0"),
    ("yaml-merge-key", edit_valid("  - name: demo_cspx50", "  - <<: {a: 1}\n    name: demo_cspx50"), 22,
     "models[1]", "merge keys"),
]

#: The worked example of docs/formats.md: timm cspresnet50, input 256, crop_pct 0.887.
WORKED_EXAMPLE = """\
family: cspnet
title: CSPNet (worked example)
models:
  - name: cspresnet50
    source: {library: timm, version: "0.6.5"}
    input_size: 256
    preprocess: {crop_pct: 0.887, interpolation: bilinear, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
    deploy: {dtype: int8, calibrate_mode: percentile, per_channel: true, extra_ops: softmax}
"""

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


def variants_manifest() -> str:
    """A family file holding every entry of `VARIANTS` (timm models resizing with OpenCV, as in
    `preprocessed_model`, so each shows only the approximation of its own variant)."""
    lines = ["family: variants", "title: Preprocessing variants", "defaults:", "  source: {library: timm}", "models:"]
    for name, size, pre in VARIANTS:
        merged = {**IMAGENET_STATS, "resize_backend": "cv2", **pre}
        lines.append(f"  - name: {name}")
        lines.append(f"    input_size: {size}")
        lines.append(f"    preprocess: {json.dumps(merged)}")
    return "\n".join(lines) + "\n"


def tiny_manifest(names: list[str], *, weights_url: str | None = None, size: int = 32, extra: str = "") -> str:
    """A family manifest with one timm model per name (weights from `weights_url` if given); the
    test steps below choose what they do by these names."""
    lines = [
        "family: tiny",
        "title: Tiny test family",
        "defaults:",
        "  source: {library: timm}",
        f"  input_size: {size}",
        "  preprocess: {crop_pct: 0.875, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}",
        "  expected: {top1: 70.5, unit: percent}",
    ]
    if weights_url:
        lines.append(f"  weights: {{url: '{weights_url}', format: pth}}")
    if extra:
        lines.append(extra.rstrip())
    lines.append("models:")
    lines += [f"  - name: {name}" for name in names]
    return "\n".join(lines) + "\n"


def colour_manifest(weights: Path, *, expected: tuple[float, float] | None = None) -> str:
    """A family manifest for the colour classifier (library onnx, weights a file:// URL)."""
    accuracy = f"\n    expected: {{unit: percent, top1: {expected[0]}, top5: {expected[1]}}}" if expected else ""
    return f"""\
family: fixture
title: Fixture classifiers
models:
  - name: colours
    source: {{library: onnx}}
    weights: {{url: "{weights.as_uri()}", format: onnx}}
    input_size: 32
    preprocess:
      crop_pct: 0.875
      interpolation: bilinear
      mean: {list(MEAN)}
      std: {list(STD)}{accuracy}
"""


#: $ZOO_SOURCES value that registers the tinylib plugin (tests/plugins/tinylib.py).
PLUGIN = "tests.plugins.tinylib:LIBRARY"


def tinylib_manifest(weights: Path, *, library: str = "tinylib", name: str = "tiny8") -> str:
    """A family of the tinylib plugin: one model, 5 classes, weights from `weights` (.npz)."""
    return f"""\
family: tinyfam
title: Models of the tinylib plugin
defaults:
  source: {{library: {library}}}
  input_size: 32
  num_classes: 5
  preprocess: {{crop_pct: 0.875, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
models:
  - name: {name}
    weights: {{url: "{weights.as_uri()}", format: npz}}
"""


RESNET50 = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/ResNet50_pretrained.pdparams"


def resnet50_family(family: str, models: str) -> str:
    """A PaddleClas ResNet50 family read against `../configs/ResNet50.yaml` (224 after 256): the
    defaults follow that config; `models` (the YAML list items) may depart from it."""
    return f"""\
family: {family}
title: {family.capitalize()}
defaults:
  source: {{library: ppcls, arch: ResNet50, config: ../configs/ResNet50.yaml}}
  weights: {{url: "{RESNET50}", format: pdparams}}
  input_size: 224
  preprocess:
    resize: 256
    resize_backend: cv2
    mean: [0.485, 0.456, 0.406]
    std: [0.229, 0.224, 0.225]
models:
{models}"""


def paddleclas_config(resize_short: int = 256, crop: int = 224, *, interpolation: str | None = None,
                      backend: str | None = None, to_rgb: bool = True) -> str:
    """An eval config in PaddleClas's YAML format (`ppcls/configs/ImageNet/<Family>/<Model>.yaml`)."""
    resize = f"            resize_short: {resize_short}\n"
    resize += f"            interpolation: {interpolation}\n" if interpolation else ""
    resize += f"            backend: {backend}\n" if backend else ""
    return f"""\
Global:
  image_shape: [3, {crop}, {crop}]
Arch:
  name: ResNet50
  class_num: 1000
DataLoader:
  Eval:
    dataset:
      name: ImageNetDataset
      image_root: ./dataset/ILSVRC2012/
      transform_ops:
        - DecodeImage:
            to_rgb: {to_rgb}
            channel_first: False
        - ResizeImage:
{resize}        - CropImage:
            size: {crop}
        - NormalizeImage:
            scale: 1.0/255.0
            mean: [0.485, 0.456, 0.406]
            std: [0.229, 0.224, 0.225]
            order: ''
        - ToCHWImage:
"""


# ------------------------------------------------------------------------------- manifest files and models
def write_manifest(folder: Path, text: str, name: str = "demo.yaml") -> Path:
    """Write `text` as `folder/name` (creating the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def write_tiny_manifest(folder: Path, names: list[str], **options: Any) -> Path:
    """`tiny_manifest(names, **options)` as `folder/tiny.yaml`."""
    return write_manifest(folder, tiny_manifest(names, **options), "tiny.yaml")


def load_models(path: Path) -> dict[str, Model]:
    """The models of one manifest file by id, in file order, loaded alone (no shipped manifests)."""
    catalog = load_catalog(files=[path])
    assert not catalog.problems, catalog.problems
    return catalog.models


def make_model(library: str, name: str, *, input_size: int | list[int] = 64, num_classes: int = 10,
               **fields: Any) -> Model:
    """A resolved model entry as a family manifest would give it (small, 10 classes: quick to convert).

    `source` adds to the source, `preprocess` replaces ImageNet's; other `fields` go in as given.
    """
    source = {"library": library, **fields.pop("source", {})}
    data = {
        "name": name,
        "family": "test",
        "source": source,
        "input_size": input_size,
        "num_classes": num_classes,
        "preprocess": fields.pop("preprocess", {"crop_pct": 0.875, **IMAGENET_STATS}),
        **fields,
    }
    return Model.model_validate(data)


def preprocessed_model(name: str = "m", *, library: str = "timm", input_size: int | list[int] = 224,
                       deploy: dict[str, Any] | None = None, **preprocess: Any) -> Model:
    """A model described by its preprocessing: ImageNet statistics unless `preprocess` says otherwise.

    It resizes with OpenCV (`resize_backend: cv2`) unless told otherwise, so that the PIL
    resize-filter approximation does not show up in tests about other approximations.
    """
    pre = {**IMAGENET_STATS, "resize_backend": "cv2", **preprocess}
    if "crop_pct" not in pre and "resize" not in pre:
        pre["crop_pct"] = 0.875
    fields = {} if deploy is None else {"deploy": deploy}
    return make_model(library, name, input_size=input_size, num_classes=1000, family="fixture", preprocess=pre,
                      **fields)


# ---------------------------------------------------------------------------------------------- weight files
def tiny8_weights(path: Path) -> dict[str, np.ndarray]:
    """Trained-looking weights of tinylib's `tiny8` (8 filters, 5 classes) saved as the plugin's .npz format."""
    import numpy as np

    rng = np.random.default_rng(11)
    weights = {
        "conv_w": rng.normal(0, 0.3, (8, 3, 3, 3)), "conv_b": rng.normal(0, 0.1, 8),
        "fc_w": rng.normal(0, 0.5, (5, 8)), "fc_b": rng.normal(0, 0.1, 5),
    }
    arrays = {key: value.astype(np.float32) for key, value in weights.items()}
    np.savez(path, **arrays)
    return arrays


class CodeRunningPickle:
    """Unpickling this calls `open(marker, "w")`, i.e. creates a file: code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


# ------------------------------------------------------------------------------------ the colour classifier
# It averages each channel of its (normalised) input and scores every class by minus the squared
# distance to that class's colour, which is affine in the channel means:
#     logit_k = 2 <x, m_k> - |m_k|^2      (the |x|^2 term is the same for every k and dropped)
# so one `GlobalAveragePool -> Flatten -> Gemm` graph predicts the nearest class colour. Classes
# without a colour get a bias far below any real score. The colours are grey levels spaced
# evenly along a line, so the ranking of classes for an image of colour k is |k - j| and the
# top-5 of an interior level k is exactly {k-2 .. k+2}.

#: ImageNet class index of each grey level (spread over the 1000 classes, in level order).
LEVEL_CLASSES = (0, 65, 130, 207, 281, 340, 409, 517, 620, 734, 851, 999)
LEVELS = len(LEVEL_CLASSES)


def grey(level: int) -> int:
    """The 0..255 grey value of a level: evenly spaced, 23 apart, far from the JPEG error."""
    return 2 + 23 * level


def colour_classifier(path: Path, *, size: int = 32, baked_batch: bool = False) -> Path:
    """Write the nearest-grey-level classifier as ONNX (input `input`, output `logits`).

    Batch 1, as the upstream export recipes write graphs. `baked_batch` flattens
    with a Reshape to the constant shape [1, 3], so the graph cannot run other batch sizes.
    """
    import numpy as np
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
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


# ------------------------------------------------------------------------------ images and labelled datasets
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


def scenario_accuracy() -> tuple[float, float]:
    """Top-1 and top-5 in percent the colour classifier scores on `scenario()`: 52.38 and 90.48."""
    items, top1, top5 = scenario()
    return 100 * top1 / len(items), 100 * top5 / len(items)


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
    from zoo.measure.datasets import wnids

    for item in items:
        folder = root / wnids()[item.label]
        folder.mkdir(parents=True, exist_ok=True)
        _save(item, folder / f"{item.name}{_suffix(item)}", _size(item))
    return root


def label_file(root: Path, items: list[Item], *, wnid_labels: bool = False) -> Path:
    """Write `items` as `root/val/<name>` plus `root/val_label.txt` (the deployment guides' layout)."""
    from zoo.measure.datasets import wnids

    images = root / "val"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for item in items:
        name = f"{item.name}{_suffix(item)}"
        _save(item, images / name, _size(item))
        lines.append(f"{name} {wnids()[item.label] if wnid_labels else item.label}")
    (root / "val_label.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_photographs(folder: Path) -> list[Path]:
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


# -------------------------------------------------------------------------------------------------- workspaces
def run_zoo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `zoo` command as a user runs it, in `cwd` (manifests in `cwd/manifests`), with a private store."""
    environment = {**os.environ, "ZOO_HOME": str(cwd / "store"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", "manifests", *args], cwd=cwd,
                          capture_output=True, text=True, env=environment, timeout=600)


def synced_workspace(root: Path, *, expected: tuple[float, float] | None = None, baked_batch: bool = False) -> Path:
    """A working folder holding the colour classifier's manifest, its ONNX weights, the two datasets
    (`data/folders`, `data/ImageNet`) and `out/onnx-colours/` written by a real `zoo sync`."""
    (root / "manifests").mkdir(parents=True, exist_ok=True)  # the weights sit there: its file URLs may reach them
    weights = colour_classifier(root / "manifests" / "colours.onnx", baked_batch=baked_batch)
    write_manifest(root / "manifests", colour_manifest(weights, expected=expected), "fixture.yaml")
    items, _, _ = scenario()
    class_folders(root / "data" / "folders", items)
    label_file(root / "data" / "ImageNet", items)
    result = run_zoo("sync", "onnx/colours", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def tinylib_workspace(root: Path, more_models: str = "") -> Path:
    """`root/manifests/tinyfam.yaml` with tinylib's tiny8 (weights `root/manifests/tiny8.npz`, beside it, where
    its file URL may reach) and `more_models` (YAML list items, random weights)."""
    weights = root / "manifests" / "tiny8.npz"
    weights.parent.mkdir(parents=True, exist_ok=True)
    tiny8_weights(weights)
    write_manifest(root / "manifests", tinylib_manifest(weights) + more_models, "tinyfam.yaml")
    return root


def resnet50_workspace(root: Path, text: str, name: str) -> tuple[Path, Path]:
    """`text` (a `resnet50_family`) as `root/manifests/<name>`, and the PaddleClas config it names
    as `root/configs/ResNet50.yaml`, outside the manifest folder; returns both paths."""
    manifest = write_manifest(root / "manifests", text, name)
    config = root / "configs" / "ResNet50.yaml"
    config.parent.mkdir()
    config.write_text(paddleclas_config(), encoding="utf-8")
    return manifest, config


# ------------------------------------------------------------------------------------------ test pipeline steps
# Small real steps: they do real file work (concatenate, write sub-folders) and leave a marker line
# each time they really run, so tests can tell "ran" from "cached" without trusting the pipeline.
# What a step does is chosen by the model's name, so one run can mix behaviours: `slow` sleeps
# $ZOO_TEST_SLEEP seconds in `build`, `crash` calls os._exit(137), `kill` sends itself SIGKILL,
# `fail` raises a StepError, `bug` raises a ValueError. `Measure` is an opt-in step (like eval).

MARKERS_ENV = "ZOO_TEST_MARKERS"
SLEEP_ENV = "ZOO_TEST_SLEEP"
#: A distribution that is not installed unless a test creates its metadata.
TEST_TOOL = "zoo-test-tool"


def _mark(kind: str, model: Model, event: str) -> None:
    folder = os.environ.get(MARKERS_ENV)
    if folder:
        with open(Path(folder) / f"{model.stem}.{kind}.log", "a", encoding="utf-8") as handle:
            handle.write(f"{event} {time.time():.6f} {os.getpid()}\n")


def marks(folder: Path, stem: str, kind: str, event: str = "end") -> list[tuple[float, int]]:
    """(time, pid) of every `event` line a step left for a model."""
    path = folder / f"{stem}.{kind}.log"
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name, stamp, pid = line.split()
        if name == event:
            found.append((float(stamp), int(pid)))
    return found


class Source(Step):
    """Light: writes the fields it reads to a file (the model's "source")."""

    kind = "source"
    tools = (TEST_TOOL,)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"name": model.name, "input_size": model.input_size, "seed": options.seed}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        _mark(self.kind, model, "start")
        path = workdir / f"{model.stem}.src.txt"
        path.write_text(f"{model.name} {list(model.input_size)} seed={options.seed}\n", encoding="utf-8")
        _mark(self.kind, model, "end")
        return StepResult(outputs={"src": path}, metrics={"chars": path.stat().st_size})


class Build(Step):
    """Heavy (worker process): concatenates its inputs; misbehaves as the model's name says."""

    kind = "build"
    heavy = True
    needs = ("fetch", "source")

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"mean": model.preprocess.mean}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        _mark(self.kind, model, "start")
        if "crash" in model.name:
            os._exit(137)
        if "kill" in model.name:
            os.kill(os.getpid(), signal.SIGKILL)
        if "fail" in model.name:
            raise StepError(f"{model.id}: told to fail")
        if "bug" in model.name:
            raise ValueError("a bug in the step")
        if "slow" in model.name:
            time.sleep(float(os.environ.get(SLEEP_ENV, "1")))
        path = workdir / f"{model.stem}.built.txt"
        parts = [inputs[name].read_bytes() for name in sorted(inputs)]
        path.write_bytes(b"".join(parts) + f"mean={list(model.preprocess.mean)}\n".encode())
        _mark(self.kind, model, "end")
        return StepResult(outputs={"built": path}, metrics={"bytes": path.stat().st_size, "inputs": sorted(inputs)},
                          warnings=["built by a test step"])


class Measure(Step):
    """Opt-in, light: measures the built file, as `zoo eval` measures an ONNX file."""

    kind = "measure"
    opt_in = True
    needs = ("build",)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"unit": "bytes"}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        _mark(self.kind, model, "start")
        size = inputs["built"].stat().st_size
        path = workdir / f"{model.stem}.measured.txt"
        path.write_text(f"{size} bytes\n", encoding="utf-8")
        _mark(self.kind, model, "end")
        return StepResult(outputs={"measured": path}, metrics={"bytes": size})


class Publish(Step):
    """Light: writes a file into a sub-folder of the output (paths relative to the work folder)."""

    kind = "publish"
    needs = ("build",)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        return {"profile": options.profile}

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        _mark(self.kind, model, "start")
        path = workdir / "deploy" / f"{model.stem}.{options.profile}.txt"
        path.parent.mkdir()
        built = inputs["built"]
        path.write_text(f"{built.name} {inputs.metrics['build']['bytes']}\n", encoding="utf-8")
        _mark(self.kind, model, "end")
        return StepResult(outputs={"deploy": path})


def make_steps(*, fetch: bool = False) -> list[Step]:
    """source -> build -> publish, with the real fetch step first if `fetch`."""
    steps: list[Step] = [Source(), Build(), Publish()]
    if fetch:
        from zoo.pipeline.steps.fetch import FetchStep

        steps.insert(0, FetchStep())
    return steps


# ---------------------------------------------------------------------------- the real steps, in this process
# The steps run exactly as `execute_node` runs them (`Step.run` with a work folder and the
# upstream outputs), only in this process, so a test can look at every intermediate file.

RANDOM = RunOptions(random_weights=True, seed=0)
WITH_WEIGHTS = RunOptions(random_weights=False, seed=0)


def run_convert(model: Model, root: Path, options: RunOptions = RANDOM, weights: Path | None = None) -> StepResult:
    from zoo.pipeline.steps.convert import ConvertStep

    fetched = {"fetch": {"weights": weights}} if weights is not None else {}
    return ConvertStep().run(model, StepInputs(fetched), _fresh(root / "convert"), options)


def run_simplify(model: Model, root: Path, convert: StepResult, options: RunOptions = RANDOM) -> StepResult:
    from zoo.pipeline.steps.simplify import SimplifyStep

    inputs = StepInputs({"convert": convert.outputs}, {"convert": convert.metrics})
    return SimplifyStep().run(model, inputs, _fresh(root / "simplify"), options)


def run_validate(
    model: Model, root: Path, convert: StepResult, simplify: StepResult, options: RunOptions = RANDOM
) -> StepResult:
    from zoo.pipeline.steps.validate import ValidateStep

    inputs = StepInputs({"convert": convert.outputs, "simplify": simplify.outputs})
    return ValidateStep().run(model, inputs, _fresh(root / "validate"), options)


def run_pipeline(
    model: Model, root: Path, options: RunOptions = RANDOM, weights: Path | None = None
) -> dict[str, StepResult]:
    """convert -> simplify -> validate; raises what the failing step raises."""
    convert = run_convert(model, root, options, weights)
    simplify = run_simplify(model, root, convert, options)
    validate = run_validate(model, root, convert, simplify, options)
    return {"convert": convert, "simplify": simplify, "validate": validate}


def onnx_logits(path: Path, batch: Any) -> Any:
    """ONNX Runtime's output for `batch` on the graph at `path` (first input, first output)."""
    from zoo.onnxfile import io_names, ort_session

    input_name, _ = io_names(path)
    return ort_session(path).run(None, {input_name: batch})[0]


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=False)
    return folder
