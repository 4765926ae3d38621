"""`zoo.preprocess.source_pipeline` equals timm's own eval transform on real photographs.

The reference is exactly what timm users run:
`timm.data.create_transform(**timm.data.resolve_data_config({}, model=timm.create_model(arch)))`,
with the model's pretrained config varied through `pretrained_cfg_overlay` to cover each rule
(crop_pct, interpolation, crop_mode, non-square input, statistics).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eval_support import photographs

from zoo.datasets import load_rgb
from zoo.manifest import Model
from zoo.preprocess import source_pipeline

timm = pytest.importorskip("timm")

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


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list:
    return [load_rgb(path)[0] for path in photographs(tmp_path_factory.mktemp("photos"))]


@pytest.mark.parametrize(("arch", "overlay"), VARIANTS, ids=[f"{a}-{o}" for a, o in VARIANTS])
def test_equals_timm_eval_transform(arch: str, overlay: dict, images: list) -> None:
    from timm.data import create_transform, resolve_data_config

    network = timm.create_model(arch, pretrained=False, pretrained_cfg_overlay=overlay)
    config = resolve_data_config({}, model=network)
    for key, value in overlay.items():
        assert config[key] == value, f"timm did not take the overlay {key}={value}"
    transform = create_transform(**config)
    model = _model_for(config)
    for image in images:
        expected = transform(image).numpy()
        got = source_pipeline(image, model)
        assert got.shape == expected.shape == tuple(config["input_size"])
        assert got.dtype == np.float32
        assert np.abs(got - expected).max() <= 1e-6, (image.size, config)


def test_photographs_cover_both_orientations_and_formats(tmp_path: Path) -> None:
    """The comparison above is only as good as its inputs: landscape, portrait-free square,
    grayscale, JPEG and PNG must all be there."""
    paths = photographs(tmp_path)
    decoded = [load_rgb(p) for p in paths]
    sizes = {image.size for image, _ in decoded}
    assert any(w > h for w, h in sizes) and any(w == h for w, h in sizes)
    assert {p.suffix for p in paths} == {".jpeg", ".png"}
    assert "L" in {mode for _, mode in decoded}


def test_portrait_photograph(images: list) -> None:
    """A portrait image (taller than wide) takes the other branch of the shorter-side rule."""
    from timm.data import create_transform, resolve_data_config

    portrait = images[0].transpose(2)  # ROTATE_90: 451x300 -> 300x451
    assert portrait.height > portrait.width
    for overlay in ({}, {"crop_mode": "border", "crop_pct": 0.9}, {"input_size": (3, 160, 224)}):
        network = timm.create_model("test_resnet", pretrained=False, pretrained_cfg_overlay=overlay)
        config = resolve_data_config({}, model=network)
        expected = create_transform(**config)(portrait).numpy()
        assert np.abs(source_pipeline(portrait, _model_for(config)) - expected).max() <= 1e-6
