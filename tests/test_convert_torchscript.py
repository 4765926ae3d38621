"""TorchScript as vamc's frontend (`deploy.frontend: pytorch`): the converter traces the same torch
module it exports to ONNX, validation holds the TorchScript file to the source framework, and the
build YAML compiles it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.factories import (
    WITH_WEIGHTS,
    make_model,
    run_convert,
    run_pipeline,
    run_simplify,
    run_validate,
    write_tiny_manifest,
)
from zoo.deploy.render import render_model
from zoo.errors import ValidationFailed
from zoo.pipeline.record import read_record
from zoo.pipeline.steps.base import RunOptions
from zoo.pipeline.steps.convert import ConvertStep

PYTORCH = {"frontend": "pytorch"}
#: torch deprecates TorchScript in favour of torch.export, which vamc does not read
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")


def test_timm_model_gets_a_torchscript_file_that_validates(tmp_path: Path) -> None:
    torch.manual_seed(7)
    import timm

    source = timm.create_model("test_resnet", pretrained=False, num_classes=10).eval()
    weights = tmp_path / "w.pth"
    torch.save(source.state_dict(), weights)
    model = make_model("timm", "test_resnet", deploy=PYTORCH)
    results = run_pipeline(model, tmp_path / "run", WITH_WEIGHTS, weights)

    convert = results["convert"]
    script = convert.outputs["torchscript"]
    assert script.name == "timm-test_resnet.torchscript.pt" and script.parent == convert.outputs["raw_onnx"].parent
    parity = results["validate"].metrics["torchscript"]
    assert parity["max_abs"] <= 1e-4 and parity["top1_agreement"] == 1.0
    x = np.random.default_rng(3).standard_normal((1, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():  # the file computes what the source module computes
        np.testing.assert_allclose(torch.jit.load(str(script))(torch.from_numpy(x)).numpy(),
                                   source(torch.from_numpy(x)).numpy(), atol=1e-5)


def test_mmcls_logits_wrapper_is_traced(tmp_path: Path) -> None:
    cifar = {"crop_pct": 1.0, "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616]}
    model = make_model("mmcls", "resnet18_cifar", input_size=32, source={"arch": "resnet18_8xb16_cifar10"},
                       preprocess=cifar, deploy=PYTORCH)
    results = run_pipeline(model, tmp_path)
    assert results["validate"].metrics["torchscript"]["max_abs"] <= 1e-4


def test_a_torchscript_file_that_disagrees_fails_validation(tmp_path: Path) -> None:
    model = make_model("torchvision", "squeezenet1_1", input_size=96, deploy=PYTORCH)
    convert = run_convert(model, tmp_path)
    simplify = run_simplify(model, tmp_path, convert)
    torch.manual_seed(11)  # other weights: what a broken trace would compute
    import torchvision

    other = torchvision.models.get_model("squeezenet1_1", weights=None, num_classes=10).eval()
    torch.jit.save(torch.jit.trace(other, torch.zeros(1, 3, 96, 96)), str(convert.outputs["torchscript"]))
    with pytest.raises(ValidationFailed, match="the TorchScript file vs the source framework disagree"):
        run_validate(model, tmp_path, convert, simplify)


def test_onnx_frontend_writes_no_torchscript_and_keeps_its_cache_key(tmp_path: Path) -> None:
    onnx_only = make_model("timm", "test_resnet")
    assert "torchscript" not in run_convert(onnx_only, tmp_path).outputs
    step, options = ConvertStep(), RunOptions(random_weights=True)
    assert "frontend" not in step.fields(onnx_only, options)  # keys of existing models stay as they were
    assert step.fields(make_model("timm", "test_resnet", deploy=PYTORCH), options)["frontend"] == "pytorch"


def test_build_yaml_compiles_the_torchscript_file_beside_the_onnx(tmp_path: Path) -> None:
    model = make_model("timm", "test_resnet", deploy=PYTORCH)
    folder = tmp_path / "out" / model.stem
    folder.mkdir(parents=True)
    onnx_path = folder / f"{model.stem}.onnx"
    shutil.copy(run_convert(make_model("timm", "test_resnet"), tmp_path).outputs["raw_onnx"], onnx_path)
    result = render_model(model, out_dir=tmp_path / "out", onnx_path=onnx_path)
    frontend = yaml.safe_load((folder / "timm_test_resnet.yaml").read_text())["frontend"]
    assert frontend == {"shape": {"input": [1, 3, 64, 64]}, "type": "pytorch",
                        "checkpoint": "timm-test_resnet.torchscript.pt", "dtype": "fp32"}
    assert result.files == [folder / "timm_test_resnet.yaml", folder / "timm-test_resnet-vdsp_params.json",
                            folder / "model_info_test_resnet.json"]


def test_zoo_sync_publishes_the_torchscript_file_the_build_yaml_names(tmp_path: Path) -> None:
    write_tiny_manifest(tmp_path / "manifests", ["test_resnet"], size=64, extra="  deploy: {frontend: pytorch}")
    command = [sys.executable, "-m", "zoo_cli", "--manifests", "manifests", "sync", "timm/test_resnet",
               "--random-weights"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "ZOO_HOME": str(tmp_path / "store")})
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "out" / "timm-test_resnet"
    assert (folder / "timm-test_resnet.torchscript.pt").is_file() and (folder / "timm-test_resnet.onnx").is_file()
    frontend = yaml.safe_load((folder / "timm_test_resnet.yaml").read_text())["frontend"]
    assert (frontend["type"], frontend["checkpoint"]) == ("pytorch", "timm-test_resnet.torchscript.pt")
    record = read_record(folder)
    assert record is not None and record.metric("validate", "torchscript")["max_abs"] <= 1e-4
