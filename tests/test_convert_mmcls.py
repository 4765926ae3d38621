"""mmcls converter (mmpretrain): a small real config with an mmcls-style checkpoint, exported as logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.factories import WITH_WEIGHTS, make_model, onnx_logits, run_convert, run_pipeline
from zoo.errors import ConversionError

CONFIG = "resnet18_8xb16_cifar10"
CIFAR = {"crop_pct": 1.0, "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616]}


def test_checkpoint_exports_backbone_neck_head_logits(tmp_path: Path) -> None:
    import mmpretrain

    torch.manual_seed(11)
    classifier = mmpretrain.get_model(CONFIG, pretrained=False).eval()
    weights = tmp_path / "resnet18_b16x8_cifar10.pth"
    torch.save({"meta": {"epoch": 200}, "state_dict": classifier.state_dict()}, weights)

    model = make_model("mmcls", "resnet18_cifar", input_size=32, source={"arch": CONFIG}, preprocess=CIFAR)
    results = run_pipeline(model, tmp_path / "run", WITH_WEIGHTS, weights)
    assert results["convert"].metrics["params"] == sum(p.numel() for p in classifier.parameters())

    # The graph is backbone -> neck -> head, before softmax, with no data preprocessor inside:
    # it takes the already-normalised tensor the deploy toolchain produces.
    x = np.random.default_rng(4).standard_normal((1, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        want = classifier.head(classifier.neck(classifier.backbone(torch.from_numpy(x)))).numpy()
    got = onnx_logits(results["simplify"].outputs["onnx"], x)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert not np.allclose(got.sum(), 1.0)


def test_unknown_config_is_named(tmp_path: Path) -> None:
    model = make_model("mmcls", "nope", source={"arch": "resnet18_does_not_exist"})
    try:
        run_convert(model, tmp_path)
    except ConversionError as exc:
        assert "mmpretrain" in str(exc) and "resnet18_does_not_exist" in str(exc)
    else:
        raise AssertionError("an unknown mmpretrain config must fail")
