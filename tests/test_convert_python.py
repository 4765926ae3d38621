"""python converter: a `module:function` entry point returning a torch module, with and without a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.entrypoints.tiny_net import build
from tests.factories import WITH_WEIGHTS, make_model, onnx_logits, run_convert, run_pipeline
from zoo.errors import ConversionError

ENTRY = "tests.entrypoints.tiny_net:build"


def test_entry_point_with_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(9)
    source = build(num_classes=10).eval()
    weights = tmp_path / "tiny.pth"
    torch.save({"state_dict": source.state_dict()}, weights)

    model = make_model("python", "tiny_net", source={"entrypoint": ENTRY})
    results = run_pipeline(model, tmp_path / "run", WITH_WEIGHTS, weights)
    assert results["convert"].metrics["params"] == sum(p.numel() for p in source.parameters())
    x = np.random.default_rng(8).standard_normal((1, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        want = source(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(onnx_logits(results["simplify"].outputs["onnx"], x), want, atol=1e-5)


def test_entry_point_with_random_weights(tmp_path: Path) -> None:
    model = make_model("python", "tiny_net", source={"entrypoint": ENTRY})
    results = run_pipeline(model, tmp_path)
    assert results["convert"].metrics["random_weights"] is True
    assert results["validate"].metrics["top1_agreement"] == 1.0


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("tests.entrypoints.missing_module:build", "cannot import 'tests.entrypoints.missing_module'"),
        ("tests.entrypoints.tiny_net:nowhere", "has no callable 'nowhere'"),
        ("tests.entrypoints.tiny_net:not_a_module", "returned str, not a torch.nn.Module"),
    ],
)
def test_bad_entry_points_are_named(tmp_path: Path, entrypoint: str, message: str) -> None:
    model = make_model("python", "tiny_net", source={"entrypoint": entrypoint})
    with pytest.raises(ConversionError, match=message):
        run_convert(model, tmp_path)


def test_editing_the_entry_point_module_changes_the_convert_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's code enters the convert step's fields, found without importing it (its package
    would import torch, and `zoo plan` must not)."""
    import sys

    from tests.factories import RANDOM
    from zoo.pipeline.steps.convert import ConvertStep

    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('importing the package runs user code')\n")
    (package / "net.py").write_text("def build(num_classes):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = make_model("python", "net", source={"entrypoint": "userpkg.net:build"})
    before = ConvertStep().fields(model, RANDOM)["code"]
    (package / "net.py").write_text("def build(num_classes):\n    return None  # edited\n")
    after = ConvertStep().fields(model, RANDOM)["code"]
    assert len(before) == 64 and before != after
    assert "userpkg" not in sys.modules
    assert "code" not in ConvertStep().fields(make_model("timm", "test_resnet"), RANDOM), \
        "libraries that run no user code keep their keys"
