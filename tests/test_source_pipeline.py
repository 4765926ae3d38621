"""`zoo.measure.preprocess.source_pipeline` equals each source library's own eval transform on real
photographs.

timm: the reference is exactly what timm users run,
`timm.data.create_transform(**timm.data.resolve_data_config({}, model=timm.create_model(arch)))`,
with the model's pretrained config varied through `pretrained_cfg_overlay` to cover each rule
(crop_pct, interpolation, crop_mode, non-square input, statistics).

PaddleClas and mmpretrain: the references are those libraries' transforms, built as their
ImageNet eval configs build them, for every preprocessing the shipped manifests use (plus the
OpenCV filters no shipped manifest uses yet). Both sides get the same RGB pixels, so JPEG
decoding (OpenCV's libjpeg there, Pillow's here) is the one difference left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from tests.factories import require, write_photographs
from zoo.errors import ZooError
from zoo.manifest.catalog import SHIPPED_MANIFESTS, load_catalog, manifest_files
from zoo.manifest.schema import Model
from zoo.measure.datasets import load_rgb
from zoo.measure.imaging import resize_bicubic_cv
from zoo.measure.preprocess import source_pipeline


@pytest.fixture(scope="module")
def timm() -> ModuleType:
    return require("timm")


VARIANTS = [
    # (architecture, pretrained-config overlay)
    ("cspresnet50", {}),  # the real config: 256, crop_pct 0.887, bilinear
    ("test_resnet", {}),  # 160, crop_pct 0.95, bilinear, mean/std 0.5
    ("test_efficientnet", {}),  # 160, crop_pct 0.95, bicubic
    ("test_resnet", {"crop_pct": 0.875, "interpolation": "bicubic", "input_size": (3, 224, 224)}),
    ("test_resnet", {"crop_pct": 0.875, "input_size": (3, 299, 299)}),  # 341: floor, not round
    ("test_resnet", {"crop_pct": 1.0, "interpolation": "bicubic", "input_size": (3, 192, 192)}),
    ("test_resnet", {"crop_pct": 0.9, "crop_mode": "squash", "interpolation": "bicubic"}),
    ("test_resnet", {"crop_pct": 1.0, "crop_mode": "squash"}),
    ("test_resnet", {"crop_pct": 0.95, "crop_mode": "border", "interpolation": "bicubic"}),
    ("test_resnet", {"crop_pct": 1.0, "crop_mode": "border", "mean": (0.485, 0.456, 0.406)}),
    ("test_resnet", {"crop_pct": 0.875, "input_size": (3, 160, 224)}),  # non-square: keep-ratio resize
    ("test_resnet", {"crop_pct": 0.95, "crop_mode": "squash", "input_size": (3, 176, 128)}),
    ("test_resnet", {"crop_pct": 0.95, "crop_mode": "border", "input_size": (3, 128, 192)}),
]


def _model_for(config: dict) -> Model:
    """The manifest entry a user writes for a timm model with this data config."""
    return Model.model_validate({
        "name": "under_test",
        "family": "test",
        "source": {"library": "timm"},
        "input_size": list(config["input_size"]),
        "preprocess": {
            "crop_pct": config["crop_pct"],
            "crop_mode": config["crop_mode"],
            "interpolation": config["interpolation"],
            "mean": list(config["mean"]),
            "std": list(config["std"]),
        },
    })


@pytest.mark.parametrize(("arch", "overlay"), VARIANTS, ids=[f"{a}-{o}" for a, o in VARIANTS])
def test_equals_timm_eval_transform(arch: str, overlay: dict, photos: list, timm: ModuleType) -> None:
    from timm.data import create_transform, resolve_data_config

    network = timm.create_model(arch, pretrained=False, pretrained_cfg_overlay=overlay)
    config = resolve_data_config({}, model=network)
    for key, value in overlay.items():
        assert config[key] == value, f"timm did not take the overlay {key}={value}"
    transform = create_transform(**config)
    model = _model_for(config)
    for image in photos:
        expected = transform(image).numpy()
        got = source_pipeline(image, model)
        assert got.shape == expected.shape == tuple(config["input_size"])
        assert got.dtype == np.float32
        assert np.abs(got - expected).max() <= 1e-6, (image.size, config)


def test_photographs_cover_both_orientations_and_formats(tmp_path: Path) -> None:
    """The comparison above is only as good as its inputs: landscape, portrait-free square,
    grayscale, JPEG and PNG must all be there."""
    paths = write_photographs(tmp_path)
    decoded = [load_rgb(p) for p in paths]
    sizes = {image.size for image, _ in decoded}
    assert any(w > h for w, h in sizes) and any(w == h for w, h in sizes)
    assert {p.suffix for p in paths} == {".jpeg", ".png"}
    assert "L" in {mode for _, mode in decoded}


def test_portrait_photograph(photos: list, timm: ModuleType) -> None:
    """A portrait image (taller than wide) takes the other branch of the shorter-side rule."""
    from timm.data import create_transform, resolve_data_config

    portrait = photos[0].transpose(2)  # ROTATE_90: 451x300 -> 300x451
    assert portrait.height > portrait.width
    for overlay in ({}, {"crop_mode": "border", "crop_pct": 0.9}, {"input_size": (3, 160, 224)}):
        network = timm.create_model("test_resnet", pretrained=False, pretrained_cfg_overlay=overlay)
        config = resolve_data_config({}, model=network)
        expected = create_transform(**config)(portrait).numpy()
        assert np.abs(source_pipeline(portrait, _model_for(config)) - expected).max() <= 1e-6


# PaddleClas and mmpretrain ----------------------------------------------------------------

#: A portrait crop of the astronaut (283 x 357) whose resized sides leave odd margins to crop
#: (99 px for PaddleClas 256 -> 224, 107 px for mmcv 288 -> 256): the half-to-even offset
#: (mmcv) and the floored one (PaddleClas) part ways there.
PORTRAIT_CROP = (slice(40, 397), slice(120, 403))

#: One level of an 8-bit pixel after normalisation, for the tightest std the manifests use.
ONE_LEVEL = 1 / 57.12


@pytest.fixture(scope="module")
def pixels(photos: list) -> list[np.ndarray]:
    """RGB uint8 arrays both sides of each comparison get: the decoded photographs (a grey one
    among them), the astronaut's portrait crop and the cat turned on its side."""
    arrays = [np.asarray(image.convert("RGB")) for image in photos]
    astronaut, chelsea = arrays[2], arrays[0]
    assert astronaut.shape == (512, 512, 3) and chelsea.shape == (300, 451, 3)
    return arrays + [np.ascontiguousarray(astronaut[PORTRAIT_CROP]), np.ascontiguousarray(chelsea.transpose(1, 0, 2))]


def _shipped(library: str) -> list[Model]:
    """One shipped model per distinct (input size, preprocessing) of `library`."""
    catalog = load_catalog(files=manifest_files([SHIPPED_MANIFESTS]))
    distinct: dict[str, Model] = {}
    for model in sorted(catalog.models.values(), key=lambda m: m.id):
        if model.source.library == library:
            distinct.setdefault(repr((model.input_size, model.preprocess)), model)
    return list(distinct.values())


def _label(model: Model) -> str:
    pre = model.preprocess
    return f"{pre.resize}-{model.input_size[1]}-{pre.interpolation.value}-{pre.resize_backend.value}"


def _variant(library: str, resize: int, size: int, interpolation: str, backend: str) -> Model:
    """A PaddleClas or mmcls manifest entry resizing the shorter side to `resize` and cropping
    `size`, with ImageNet statistics on the scale that library uses."""
    statistics = ({"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "value_range": "0..255"}
                  if library == "mmcls" else {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})
    return Model.model_validate({
        "name": f"{interpolation}_{backend}", "family": "test", "source": {"library": library}, "input_size": size,
        "preprocess": {"resize": resize, "interpolation": interpolation, "resize_backend": backend, **statistics},
    })


def _with_library(model: Model, library: str) -> Model:
    return model.model_copy(update={"source": model.source.model_copy(update={"library": library})})


Reference = Callable[[np.ndarray], np.ndarray]


def paddleclas_transform(model: Model) -> Reference:
    """PaddleClas' eval transform as its ImageNet configs state it (`ResizeImage resize_short`,
    `CropImage`, `NormalizeImage scale 1.0/255.0 order ''`, then CHW), fed decoded RGB.

    The wheel ships these operators in `paddleclas.deploy.python.preprocess`; the training
    copy (`ppcls/data/preprocess/ops/operators.py`, not in the wheel) differs only in comments,
    a size check and a decorator that unwraps dicts.
    """
    require("cv2")
    ops = require("paddleclas.deploy.python.preprocess")
    pre = model.preprocess
    scale = "1.0/255.0" if pre.value_range.value == "0..1" else 1.0
    steps = [
        ops.ResizeImage(resize_short=pre.resize, interpolation=pre.interpolation.value,
                        backend=pre.resize_backend.value),
        ops.CropImage(size=model.input_size[1]),
        ops.NormalizeImage(scale=scale, mean=list(pre.mean), std=list(pre.std), order=""),
    ]

    def run(rgb: np.ndarray) -> np.ndarray:
        for step in steps:
            rgb = step(rgb)
        return rgb.transpose(2, 0, 1)

    return run


def mmpretrain_transform(model: Model) -> Reference:
    """mmpretrain's eval pipeline as its configs state it (`ResizeEdge edge='short'`, mmcv
    `CenterCrop`, `PackInputs`, then `ClsDataPreprocessor` with `to_rgb=True`), fed the BGR
    pixels `LoadImageFromFile` would give."""
    require("cv2")
    require("mmpretrain")
    from mmcv.transforms import CenterCrop
    from mmpretrain.datasets.transforms import PackInputs, ResizeEdge
    from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor

    pre = model.preprocess
    backend = {"pil": "pillow", "cv2": "cv2"}[pre.resize_backend.value]
    steps = [ResizeEdge(scale=pre.resize, edge="short", backend=backend, interpolation=pre.interpolation.value),
             CenterCrop(crop_size=model.input_size[1]), PackInputs()]
    data_preprocessor = ClsDataPreprocessor(mean=list(pre.mean), std=list(pre.std), to_rgb=True)

    def run(rgb: np.ndarray) -> np.ndarray:
        results = {"img": np.ascontiguousarray(rgb[..., ::-1])}
        for step in steps:
            results = step(results)
        batch = data_preprocessor({"inputs": [results["inputs"]], "data_samples": [results["data_samples"]]})
        return batch["inputs"][0].numpy()

    return run


def _max_difference(model: Model, reference: Reference, pixels: list[np.ndarray]) -> float:
    worst = 0.0
    for rgb in pixels:
        expected, got = reference(rgb), source_pipeline(Image.fromarray(rgb), model)
        assert got.shape == expected.shape == model.input_size and got.dtype == np.float32, rgb.shape
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


@contextlib.contextmanager
def opencv_reference_code() -> Iterator[None]:
    """Run OpenCV's portable C++ code instead of its IPP / CPU-dispatched paths."""
    cv2 = require("cv2")
    before = cv2.useOptimized()
    cv2.setUseOptimized(False)
    try:
        yield
    finally:
        cv2.setUseOptimized(before)


@pytest.mark.parametrize("model", _shipped("ppcls"), ids=_label)
def test_equals_paddleclas_eval_transform(model: Model, pixels: list[np.ndarray]) -> None:
    assert _max_difference(model, paddleclas_transform(model), pixels) == 0


@pytest.mark.parametrize("model", _shipped("mmcls"), ids=_label)
def test_equals_mmpretrain_eval_transform(model: Model, pixels: list[np.ndarray]) -> None:
    assert _max_difference(model, mmpretrain_transform(model), pixels) == 0


def test_shipped_manifests_cover_both_libraries_and_both_backends() -> None:
    """The two tests above are only as broad as the manifests: OpenCV bilinear and Pillow
    bicubic for PaddleClas, Pillow bicubic for mmcls, at every resize size they state."""
    ppcls = {_label(m) for m in _shipped("ppcls")}
    assert {"256-224-bilinear-cv2", "288-256-bilinear-cv2", "292-256-bilinear-cv2", "320-320-bilinear-cv2",
            "416-416-bilinear-cv2", "256-224-bicubic-pil", "384-384-bicubic-pil"} <= ppcls
    assert {"288-256-bicubic-pil", "256-224-bicubic-pil"} <= {_label(m) for m in _shipped("mmcls")}


@pytest.mark.parametrize(("library", "interpolation", "backend"), [
    ("ppcls", "bicubic", "cv2"), ("ppcls", "bilinear", "pil"),
    ("mmcls", "bilinear", "cv2"), ("mmcls", "bicubic", "cv2"), ("mmcls", "bilinear", "pil"),
])
def test_filters_no_shipped_manifest_uses(library: str, interpolation: str, backend: str,
                                          pixels: list[np.ndarray]) -> None:
    """Exact against OpenCV's reference code; against OpenCV's default (optimised) cubic resize,
    at most one 8-bit level (measured: 1 level on about 3% of the resized pixels)."""
    model = _variant(library, 288, 256, interpolation, backend)
    reference = (paddleclas_transform if library == "ppcls" else mmpretrain_transform)(model)
    with opencv_reference_code():
        assert _max_difference(model, reference, pixels) <= 1e-6
    bound = ONE_LEVEL * 1.0001 if (interpolation, backend) == ("bicubic", "cv2") else 1e-6
    assert _max_difference(model, reference, pixels) <= bound


def test_each_library_needs_its_own_rules(pixels: list[np.ndarray]) -> None:
    """The photographs tell the rules apart, so the equalities above can fail: PaddleClas
    rounds the longer side where torchvision and mmcv truncate it, and floors the crop offset
    where they round it half to even. mmcv's `ResizeEdge` and `CenterCrop` compute the very
    numbers torchvision's `Resize(int)` and `CenterCrop` compute."""
    paddle = [_variant("ppcls", 256, 224, "bilinear", "cv2"), _variant("ppcls", 256, 224, "bicubic", "pil")]
    for model in paddle:
        build = paddleclas_transform(model)
        for other in ("mmcls", "timm"):
            assert _max_difference(_with_library(model, other), build, pixels) > 0.1, (model.name, other)
    mmcls = _variant("mmcls", 288, 256, "bicubic", "pil")
    build = mmpretrain_transform(mmcls)
    assert _max_difference(_with_library(mmcls, "ppcls"), build, pixels) > 0.1
    assert _max_difference(_with_library(mmcls, "timm"), build, pixels) == 0


def test_mmcls_0x_normalisation_is_one_float32_step_away(pixels: list[np.ndarray]) -> None:
    """The mmcls manifests quote mmcls 0.23 accuracies. Its `Normalize` (mmcv `imnormalize`:
    subtract, then multiply by 1/std) and mmpretrain's data preprocessor (divide by std) round
    differently; measured: at most 2.4e-7 (one float32 step) on about 11% of the values."""
    require("cv2")
    require("mmpretrain")
    import mmcv
    from mmcv.transforms import CenterCrop
    from mmpretrain.datasets.transforms import ResizeEdge

    model = _shipped("mmcls")[0]
    pre = model.preprocess
    steps = [ResizeEdge(scale=pre.resize, edge="short", backend="pillow", interpolation=pre.interpolation.value),
             CenterCrop(crop_size=model.input_size[1])]
    for rgb in pixels:
        results = {"img": np.ascontiguousarray(rgb[..., ::-1])}
        for step in steps:
            results = step(results)
        expected = mmcv.imnormalize(results["img"], np.array(pre.mean), np.array(pre.std), to_rgb=True)
        got = source_pipeline(Image.fromarray(rgb), model)
        assert np.abs(got - expected.transpose(2, 0, 1)).max() <= 3e-7


def test_bicubic_cv_is_opencv_reference_code_bit_for_bit(pixels: list[np.ndarray]) -> None:
    """`resize_bicubic_cv` against `cv2.resize(INTER_CUBIC)`, shrinking and enlarging, colour and
    grey, at sizes whose rows do and do not fill whole 8-lane vectors."""
    cv2 = require("cv2")
    rng = np.random.default_rng(0)
    grey = np.ascontiguousarray(pixels[0][..., 1])
    # (100, 100) and (100, 223) tell 8-lane from 16-lane vectors (the last values of a row)
    sizes = [(256, 385), (224, 224), (600, 902), (150, 225), (100, 100), (100, 223), (7, 5),
             *map(tuple, rng.integers(8, 640, (6, 2)))]
    worst_default = 0
    for source in (*pixels[:3], grey):
        for height, width in sizes:
            with opencv_reference_code():
                expected = cv2.resize(source, (width, height), interpolation=cv2.INTER_CUBIC)
            got = resize_bicubic_cv(source, height, width)
            assert got.dtype == np.uint8 and np.array_equal(got, expected), (source.shape, height, width)
            default = cv2.resize(source, (width, height), interpolation=cv2.INTER_CUBIC)
            worst_default = max(worst_default, int(np.abs(default.astype(int) - got).max()))
    assert worst_default <= 1


def test_opencv_filter_without_emulation_is_refused(pixels: list[np.ndarray]) -> None:
    model = _variant("ppcls", 256, 224, "lanczos", "cv2")
    with pytest.raises(ZooError, match=r"ppcls/lanczos_cv2: preprocess.interpolation `lanczos`.*resize_backend"):
        source_pipeline(Image.fromarray(pixels[0]), model)


def test_resize_smaller_than_the_input_is_refused(pixels: list[np.ndarray]) -> None:
    model = _variant("ppcls", 200, 224, "bilinear", "cv2")
    with pytest.raises(ZooError, match=r"ppcls/bilinear_cv2: the image resized to 301x200 is smaller than the 224x224"):
        source_pipeline(Image.fromarray(pixels[0]), model)
