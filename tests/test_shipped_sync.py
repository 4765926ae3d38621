"""The product end to end in the default suite: the smallest shipped model of every source library
(by reported params x input pixels), synced together by the real `zoo sync --random-weights`.
The whole zoo runs in the slow `tests/test_whole_zoo.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.factories import ROOT
from zoo.manifest.catalog import load_catalog
from zoo.manifest.schema import Model


def _cost(model: Model) -> float:
    params = float(model.reported.params_m) if model.reported.params_m is not None else float("inf")
    return params * model.input_size[1] * model.input_size[2]


def smallest_per_library() -> dict[str, Model]:
    chosen: dict[str, Model] = {}
    for model in load_catalog().models.values():
        library = model.source.library
        if library not in chosen or _cost(model) < _cost(chosen[library]):
            chosen[library] = model
    return dict(sorted(chosen.items()))


SMALLEST = smallest_per_library()


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One `zoo sync` of every chosen model, 2 steps at a time; (output folder, its --json report)."""
    root = tmp_path_factory.mktemp("shipped")
    env = {**os.environ, "ZOO_HOME": str(root / "store"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "zoo_cli", "sync", *(m.id for m in SMALLEST.values()),
                             "--random-weights", "-j", "2", "--out", str(root / "out"), "--json"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root / "out", json.loads(result.stdout)


def test_every_library_with_shipped_models_is_covered() -> None:
    assert {"timm", "mmcls", "ppcls"} <= set(SMALLEST)


@pytest.mark.parametrize("library", sorted(SMALLEST))
def test_the_smallest_shipped_model_syncs_end_to_end(synced: tuple[Path, dict[str, Any]], library: str) -> None:
    out, document = synced
    model = SMALLEST[library]
    report = next(r for r in document["models"] if r["model"] == model.id)
    steps = {s["step"]: s["status"] for s in document["steps"] if s["model"] == model.id}
    assert steps == {"convert": "ran", "simplify": "ran", "validate": "ran", "render": "ran"}
    assert report["random_weights"] and report["parity"]["max_abs"] <= model.validate_.atol
    assert report["parity"]["top1_agreement"] >= model.validate_.min_top1_agreement
    folder = out / model.stem
    build = f"{model.source.library}_{model.name}.yaml"
    assert {f"{model.stem}.onnx", build, f"{model.stem}-vdsp_params.json"} <= set(report["files"])
    assert all((folder / name).is_file() for name in report["files"])
    assert f"cd {report['folder']} && vamc compile {build}" in report["next"]
