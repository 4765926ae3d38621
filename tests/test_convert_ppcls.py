"""ppcls converter: a Paddle inference archive served over HTTP, .pdparams with a PaddleClas architecture,
random weights, and hostile inputs (an archive escaping its folder, a .pdparams pickle that runs code)."""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import tarfile
from pathlib import Path

import numpy as np
import onnx
import paddle
import pytest
from paddle.static import InputSpec

from tests.factories import WITH_WEIGHTS, CodeRunningPickle, make_model, onnx_logits, run_convert, run_pipeline
from tests.fault_server import FaultServer
from zoo.errors import ConversionError, ZooError
from zoo.pipeline.steps.base import StepInputs
from zoo.pipeline.steps.fetch import FetchStep

PADDLE_PRE = {"resize": 73, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
SIZE = 64


def _inference_archive(folder: Path, extra: dict[str, bytes] | None = None) -> tuple[bytes, paddle.nn.Layer]:
    """A PaddleClas-style inference archive (`<name>_infer/inference.json + .pdiparams`) of a real model."""
    paddle.seed(5)
    layer = paddle.vision.models.mobilenet_v3_small(num_classes=10, scale=0.5)
    layer.eval()
    paddle.jit.save(layer, str(folder / "tiny_infer" / "inference"),
                    input_spec=[InputSpec([None, 3, SIZE, SIZE], "float32", "x")])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted((folder / "tiny_infer").iterdir()):
            tar.add(path, arcname=f"tiny_infer/{path.name}")
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), layer


def _served_model(server: FaultServer, data: bytes):  # type: ignore[no-untyped-def]
    url = server.add("/models/tiny_infer.tar", data)
    weights = {"url": url, "format": "paddle-inference", "sha256": hashlib.sha256(data).hexdigest()}
    return make_model("ppcls", "tiny_infer", input_size=SIZE, weights=weights, preprocess=PADDLE_PRE)


def _fetch(model, root: Path) -> Path:  # type: ignore[no-untyped-def]
    workdir = root / "fetch"
    workdir.mkdir(parents=True)
    return FetchStep().run(model, StepInputs(), workdir, WITH_WEIGHTS).outputs["weights"]


def test_inference_archive_over_http_converts_and_validates(tmp_path: Path, fault_server: FaultServer) -> None:
    data, layer = _inference_archive(tmp_path / "build")
    model = _served_model(fault_server, data)
    weights = _fetch(model, tmp_path)
    results = run_pipeline(model, tmp_path, WITH_WEIGHTS, weights)

    convert = results["convert"]
    assert convert.metrics["input_name"] == "x"
    assert convert.metrics["params"] == sum(math.prod(p.shape) for p in layer.parameters())
    assert convert.metrics["opset"] == 10
    assert results["validate"].metrics["max_abs"] <= 1e-4
    x = np.random.default_rng(6).standard_normal((1, 3, SIZE, SIZE), dtype=np.float32)
    want = layer(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(onnx_logits(results["simplify"].outputs["onnx"], x), want, atol=1e-4)


def test_archive_escaping_its_folder_is_refused(tmp_path: Path, fault_server: FaultServer) -> None:
    data, _ = _inference_archive(tmp_path / "build", extra={"../../escaped.txt": b"outside"})
    model = _served_model(fault_server, data)
    weights = _fetch(model, tmp_path)
    with pytest.raises(ZooError, match=r"refusing to unpack .*'\.\./\.\./escaped\.txt'"):
        run_convert(model, tmp_path / "run", WITH_WEIGHTS, weights)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not list((tmp_path / "run" / "convert").glob("*.onnx"))


def test_pdparams_with_paddleclas_architecture(tmp_path: Path) -> None:
    from paddleclas.ppcls.arch import backbone

    paddle.seed(21)
    with paddle.utils.unique_name.guard():
        layer = backbone.MobileNetV1_x0_25(class_num=10)
    layer.eval()
    weights = tmp_path / "MobileNetV1_x0_25_pretrained.pdparams"
    paddle.save(layer.state_dict(), str(weights))

    model = make_model("ppcls", "MobileNetV1_x0_25", input_size=SIZE, preprocess=PADDLE_PRE,
                       weights={"url": "https://example.org/MobileNetV1_x0_25_pretrained.pdparams",
                                "format": "pdparams"})
    results = run_pipeline(model, tmp_path / "run", WITH_WEIGHTS, weights)
    assert results["convert"].metrics["params"] == sum(math.prod(p.shape) for p in layer.parameters())
    x = np.random.default_rng(7).standard_normal((1, 3, SIZE, SIZE), dtype=np.float32)
    want = layer(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(onnx_logits(results["simplify"].outputs["onnx"], x), want, atol=1e-4)


def test_random_weights_build_the_architecture(tmp_path: Path) -> None:
    model = make_model("ppcls", "MobileNetV1_x0_25", input_size=SIZE, preprocess=PADDLE_PRE)
    results = run_pipeline(model, tmp_path)
    assert results["convert"].metrics["random_weights"] is True
    assert results["validate"].metrics["top1_agreement"] == 1.0


def test_pdparams_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    weights = tmp_path / "evil.pdparams"
    weights.write_bytes(pickle.dumps({"conv1._conv.weight": CodeRunningPickle(marker)}, protocol=4))
    model = make_model("ppcls", "MobileNetV1_x0_25", input_size=SIZE, preprocess=PADDLE_PRE,
                       weights={"url": "https://example.org/evil.pdparams", "format": "pdparams"})
    with pytest.raises(ConversionError, match=r"evil\.pdparams: refused to load .*asks to import io\.open"):
        run_convert(model, tmp_path / "run", WITH_WEIGHTS, weights)
    assert not marker.exists()


def test_pdparams_with_missing_keys_lists_them(tmp_path: Path) -> None:
    from paddleclas.ppcls.arch import backbone

    with paddle.utils.unique_name.guard():
        layer = backbone.MobileNetV1_x0_25(class_num=10)
    state = {k: v.numpy() for k, v in layer.state_dict().items() if not k.startswith("fc.")}
    weights = tmp_path / "partial.pdparams"
    weights.write_bytes(pickle.dumps(state, protocol=4))
    model = make_model("ppcls", "MobileNetV1_x0_25", input_size=SIZE, preprocess=PADDLE_PRE,
                       weights={"url": "https://example.org/partial.pdparams", "format": "pdparams"})
    with pytest.raises(ConversionError, match=r"2 missing keys: fc\.bias, fc\.weight"):
        run_convert(model, tmp_path / "run", WITH_WEIGHTS, weights)


LEAKY_SAVE = """
import sys, paddle
from paddle.static import InputSpec
paddle.seed(5)
layer = paddle.nn.Sequential(
    paddle.nn.Conv2D(3, 8, 3, stride=2), paddle.nn.BatchNorm2D(8), paddle.nn.LeakyReLU(0.1),
    paddle.nn.Conv2D(8, 8, 3, stride=2), paddle.nn.LeakyReLU(0.2),
    paddle.nn.AdaptiveAvgPool2D(1), paddle.nn.Flatten(), paddle.nn.Linear(8, 10),
)
layer.eval()
paddle.jit.save(layer, sys.argv[1], input_spec=[InputSpec([None, 3, 64, 64], "float32", "x")])
"""


@pytest.mark.parametrize("program", ["inference.json", "inference.pdmodel"])
def test_leaky_relu_slopes_survive_paddle2onnx(tmp_path: Path, program: str) -> None:
    """paddle2onnx 2.1.0 garbles LeakyRelu slopes; the converter restores them from the program.

    `inference.pdmodel` is what older PaddleClas releases ship (saved without PIR).
    """
    import os
    import subprocess
    import sys

    folder = tmp_path / "leaky_infer"
    env = {**os.environ, "FLAGS_enable_pir_api": "1" if program.endswith(".json") else "0"}
    subprocess.run([sys.executable, "-c", LEAKY_SAVE, str(folder / "inference")], env=env, check=True,
                   capture_output=True)
    assert (folder / program).exists()
    archive = tmp_path / "leaky_infer.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(folder, arcname="leaky_infer")
    model = make_model("ppcls", "leaky_infer", input_size=SIZE, preprocess=PADDLE_PRE,
                       weights={"url": "https://example.org/leaky_infer.tar", "format": "paddle-inference"})
    results = run_pipeline(model, tmp_path / "run", WITH_WEIGHTS, archive)
    slopes = [a.f for n in onnx.load(str(results["simplify"].outputs["onnx"])).graph.node
              if n.op_type == "LeakyRelu" for a in n.attribute if a.name == "alpha"]
    assert slopes == pytest.approx([0.1, 0.2])
    # 8*3*3*3 + 8 conv, 4*8 batch norm (scale, shift, mean, variance: Paddle counts all four), 8*8*3*3 + 8, 8*10 + 10
    assert results["convert"].metrics["params"] == 224 + 32 + 584 + 90
    assert results["validate"].metrics["max_abs"] <= 1e-4
