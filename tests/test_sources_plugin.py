"""A source library kept outside zoo (tests/plugins/tinylib.py), registered through $ZOO_SOURCES only.

Everything runs through the real `zoo` command in fresh processes: lint, schema, render and a
whole `zoo sync`, whose convert step runs in a spawned worker that must find the plugin too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.factories import PLUGIN, ROOT, tinylib_manifest, tinylib_workspace
from tests.import_probe import HEAVY, zoo_imports
from tests.plugins.tinylib import forward
from zoo.pipeline.record import read_record


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """A folder with `manifests/tinyfam.yaml` and the weights file it names."""
    return tinylib_workspace(tmp_path)


def plugin_env(root: Path) -> dict[str, str]:
    return {"ZOO_SOURCES": PLUGIN, "ZOO_HOME": str(root / "store"), "PYTHONPATH": str(ROOT)}


def zoo(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", "manifests", *args], cwd=root,
                          env={**os.environ, **plugin_env(root)}, capture_output=True, text=True, timeout=600)


def test_lint_accepts_the_plugin_library_without_a_framework(workspace: Path) -> None:
    result, imported = zoo_imports("lint", "manifests/tinyfam.yaml", env=plugin_env(workspace), cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert imported == [], f"zoo lint imported {imported}"


def test_sync_converts_validates_and_renders_through_the_plugin(workspace: Path) -> None:
    result = zoo(workspace, "sync", "tinylib/tiny8", "-j", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    folder = workspace / "out" / "tinylib-tiny8"
    record = read_record(folder)
    assert record is not None
    assert {kind: step.status for kind, step in record.steps.items()} == {
        "fetch": "ran", "convert": "ran", "simplify": "ran", "validate": "ran", "render": "ran"}
    convert = record.steps["convert"].metrics
    assert (convert["input_name"], convert["opset"], convert["params"]) == ("pixels", 13, 8 * 27 + 8 + 5 * 8 + 5)
    assert set(convert["tool_versions"]) == {"numpy", "onnx"}
    assert record.steps["validate"].metrics["max_abs"] <= 1e-5

    import onnxruntime

    weights = dict(np.load(workspace / "manifests" / "tiny8.npz"))
    batch = np.random.default_rng(5).standard_normal((1, 3, 32, 32), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(folder / "tinylib-tiny8.onnx"))
    np.testing.assert_allclose(session.run(None, {"pixels": batch})[0], forward(weights, batch), atol=1e-5)
    build = yaml.safe_load((folder / "tinylib_tiny8.yaml").read_text(encoding="utf-8"))
    assert build["frontend"]["shape"] == {"pixels": [1, 3, 32, 32]}


def test_render_names_the_plugin_input_before_any_onnx_exists(workspace: Path) -> None:
    result = zoo(workspace, "render", "tinylib/tiny8", "--out", "rendered")
    assert result.returncode == 0, result.stdout + result.stderr
    build = yaml.safe_load((workspace / "rendered" / "tinylib-tiny8" / "tinylib_tiny8.yaml").read_text())
    assert build["frontend"]["shape"] == {"pixels": [1, 3, 32, 32]}


def test_an_unknown_library_is_a_lint_error_listing_the_plugin(workspace: Path) -> None:
    path = workspace / "manifests" / "tinyfam.yaml"
    path.write_text(tinylib_manifest(workspace / "manifests" / "tiny8.npz", library="tinylibb"), encoding="utf-8")
    result = zoo(workspace, "lint", str(path))
    assert result.returncode == 1
    assert "defaults.source.library: 'tinylibb' is not allowed" in result.stderr, result.stderr
    assert "'tinylib'" in result.stderr and "'timm'" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_the_plugin_checks_its_own_manifest_rules(workspace: Path) -> None:
    path = workspace / "manifests" / "tinyfam.yaml"
    path.write_text(tinylib_manifest(workspace / "manifests" / "tiny8.npz", name="big"), encoding="utf-8")
    result = zoo(workspace, "lint", str(path))
    assert result.returncode == 1
    assert "models[0]: tinylib architectures are named tinyN (N convolution filters), not 'big'" in result.stderr


def test_schema_lists_the_plugin_library_and_its_weights_format(workspace: Path) -> None:
    result = zoo(workspace, "schema")
    assert result.returncode == 0, result.stderr
    definitions = json.loads(result.stdout)["$defs"]
    assert definitions["Source"]["properties"]["library"]["enum"] == [
        "mmcls", "onnx", "ppcls", "python", "timm", "tinylib", "torchvision"]
    assert definitions["Weights"]["properties"]["format"]["enum"] == [
        "npz", "onnx", "paddle-inference", "pdparams", "pth", "safetensors"]


def test_a_plugin_that_fails_to_import_is_a_clean_error(workspace: Path) -> None:
    env = {**os.environ, **plugin_env(workspace), "ZOO_SOURCES": "tests.plugins.no_such_plugin:LIBRARY"}
    result = subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", "manifests", "lint"], cwd=workspace,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "cannot import the source library plugin `tests.plugins.no_such_plugin:LIBRARY`" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_light_commands_stay_light_with_the_plugin(workspace: Path) -> None:
    for args in (["list"], ["show", "tinylib/tiny8"], ["schema"]):
        result, imported = zoo_imports("--manifests", "manifests", *args, env=plugin_env(workspace),
                                       cwd=workspace, watch=HEAVY)
        assert result.returncode == 0, result.stderr
        assert imported == [], f"zoo {' '.join(args)} imported {imported}"
