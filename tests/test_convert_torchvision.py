"""torchvision converter: a small real architecture with a checkpoint, and random weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision

from tests.factories import WITH_WEIGHTS, make_model, onnx_logits, run_pipeline


def test_squeezenet_checkpoint_converts_and_validates(tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = torchvision.models.get_model("squeezenet1_1", weights=None, num_classes=10).eval()
    weights = tmp_path / "squeezenet1_1-0123abcd.pth"
    torch.save(source.state_dict(), weights)

    model = make_model("torchvision", "squeezenet1_1", input_size=96)
    results = run_pipeline(model, tmp_path / "run", WITH_WEIGHTS, weights)

    assert results["convert"].metrics["params"] == sum(p.numel() for p in source.parameters())
    assert results["validate"].metrics["max_abs"] <= 1e-4
    x = np.random.default_rng(5).standard_normal((1, 3, 96, 96), dtype=np.float32)
    with torch.no_grad():
        want = source(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(onnx_logits(results["simplify"].outputs["onnx"], x), want, atol=1e-4)


def test_random_weights_are_seeded(tmp_path: Path) -> None:
    model = make_model("torchvision", "squeezenet1_1", input_size=96)
    first = run_pipeline(model, tmp_path / "a")["convert"]
    second = run_pipeline(model, tmp_path / "b")["convert"]
    with np.load(first.outputs["reference"]) as a, np.load(second.outputs["reference"]) as b:
        np.testing.assert_array_equal(a["logits"], b["logits"])
