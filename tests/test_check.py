"""`zoo check`: manifests against their library's own config, run as the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.factories import ROOT, resnet50_family, resnet50_workspace, write_manifest
from tests.import_probe import zoo_imports
from zoo.sources.packages import installed_version

#: One model per class of disagreement, all against the same PaddleClas config (224 after 256, bilinear, RGB).
PADDLE_FAMILY = resnet50_family("checked", """\
  - name: agrees
  - name: resize
    preprocess: {resize: 288}
  - name: crop
    preprocess: {crop_mode: squash}
  - name: interpolation
    preprocess: {interpolation: bicubic}
  - name: statistics
    preprocess: {mean: [0.5, 0.5, 0.5]}
  - name: input_size
    input_size: 256
  - name: colour
    preprocess: {color: BGR}
""")

ONNX_FAMILY = """\
family: plain-onnx
title: An ONNX file
models:
  - name: graph
    source: {library: onnx}
    weights: {url: "https://example.org/graph.onnx", format: onnx}
    input_size: 224
    preprocess: {resize: 256, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
"""

TIMM_FAMILY = """\
family: timm-pinned
title: timm at 0.6.5
defaults:
  source: {library: timm, version: "0.6.5"}
  preprocess: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
models:
  - name: inception_v3
    input_size: 299
    preprocess: {resize: 342, interpolation: bicubic, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
  - name: ghostnet_100
    input_size: 224
    preprocess: {crop_pct: 0.95}
  - name: no_such_arch_xyz
    input_size: 224
    preprocess: {crop_pct: 0.875}
"""


def zoo_check(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # only the test's manifests: the shipped zoo holds models of the same ids
    environment = {**os.environ, "ZOO_HOME": str(folder / "home"), "PYTHONPATH": str(ROOT), "ZOO_NO_SHIPPED": "1",
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", str(folder / "manifests"), "check", *args],
                          capture_output=True, text=True, env=environment, timeout=300, check=False)


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_check_reports_each_class_of_disagreement_where_it_is_written(tmp_path: Path) -> None:
    manifest, config = resnet50_workspace(tmp_path, PADDLE_FAMILY, "checked.yaml")
    done = zoo_check(tmp_path, "--family", "checked")
    assert done.returncode == 1, done.stderr
    version = installed_version("paddleclas")
    library = f"(paddleclas {version} and {config})"
    expected = [
        f"{manifest}:{line_of(manifest, 'resize: 288')}: preprocess.resize: manifest 288, library 256 {library}",
        f"{manifest}:{line_of(manifest, 'squash')}: preprocess.crop_mode: manifest squash, library center {library}",
        f"{manifest}:{line_of(manifest, 'bicubic')}: preprocess.interpolation: manifest bicubic, library bilinear "
        f"{library}",
        f"{manifest}:{line_of(manifest, '0.5, 0.5')}: preprocess.mean: manifest [0.5, 0.5, 0.5], library "
        f"[0.485, 0.456, 0.406] {library}",
        f"{manifest}:{line_of(manifest, 'input_size: 256')}: input_size: manifest [3, 256, 256], library "
        f"[3, 224, 224] {library}",
        f"{manifest}:{line_of(manifest, 'color: BGR')}: preprocess.color: manifest BGR, library RGB {library}",
    ]
    errors = [line.removeprefix("error: ") for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert sorted(errors) == sorted(expected)  # nothing about `agrees`; the 256 px model's resize agrees
    assert "warning" not in done.stderr
    assert "checked 7 of 7 model(s): 6 unexplained disagreement(s), 0 explained, 0 not checked" in done.stdout


def test_check_accepts_a_written_reason_and_flags_a_stale_one(tmp_path: Path) -> None:
    explained = PADDLE_FAMILY.replace(
        "    preprocess: {interpolation: bicubic}\n",
        "    preprocess: {interpolation: bicubic}\n    deviations: {preprocess.interpolation: the checkpoint was tuned "
        "with bicubic}\n",
    ).replace("  - name: agrees\n", "  - name: agrees\n    deviations: {preprocess.color: once BGR}\n")
    manifest, _ = resnet50_workspace(tmp_path, explained, "checked.yaml")
    done = zoo_check(tmp_path, "ppcls/interpolation", "agrees")
    assert done.returncode == 0, done.stderr
    assert f"{manifest}:{line_of(manifest, 'bicubic')}: preprocess.interpolation: manifest bicubic" in done.stdout
    assert "(explained in deviations)" in done.stdout
    assert (f"{manifest}:{line_of(manifest, 'once BGR')}: deviations.preprocess.color: the manifest now agrees"
            in done.stderr)
    assert "0 unexplained disagreement(s), 1 explained" in done.stdout


def test_a_library_that_cannot_be_checked_is_a_warning(tmp_path: Path) -> None:
    write_manifest(tmp_path / "manifests", ONNX_FAMILY, "graph.yaml")
    done = zoo_check(tmp_path, "onnx/graph")
    assert done.returncode == 0, done.stderr
    assert "warning: onnx: library `onnx` does not read its own configs, so its models cannot be checked" in done.stderr
    assert "checked 0 of 1 model(s)" in done.stdout


def test_check_at_the_pinned_timm_version_and_what_the_installed_one_changes(
    tmp_path: Path, timm_065_index: dict[str, str]
) -> None:
    manifest = write_manifest(tmp_path / "manifests", TIMM_FAMILY, "timm.yaml")
    done = zoo_check(tmp_path, "--family", "timm-pinned", env=timm_065_index)
    assert done.returncode == 1, done.stderr
    errors = [line.removeprefix("error: ") for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"{manifest}:{line_of(manifest, 'crop_pct: 0.95')}: preprocess.crop_pct: manifest crop_pct 0.95 (resize 235 "
        "at 224), library crop_pct 0.875 (resize 256 at 224) (timm 0.6.5)",
        f"{manifest}:{line_of(manifest, 'resize: 342')}: preprocess.resize: manifest 342, library crop_pct 0.875 "
        "(resize 341 at 299) (timm 0.6.5)",
        "timm/no_such_arch_xyz: not checked: library timm 0.6.5 has no architecture 'no_such_arch_xyz'",
    ]
    installed = installed_version("timm")
    heading = f"warning: timm {installed} is installed, the manifests pin 0.6.5"
    assert f"{heading}: the config is the same in both for inception_v3" in done.stderr
    assert f"{heading}: ghostnet_100's config changes in {installed}: preprocess.interpolation bilinear -> bicubic" \
        in done.stderr


def test_check_and_import_keep_frameworks_out_of_the_zoo_process(tmp_path: Path) -> None:
    """timm is read in a child; PaddleClas from source text and YAML: the command itself stays light."""
    resnet50_workspace(tmp_path, PADDLE_FAMILY, "checked.yaml")
    manifests = str(tmp_path / "manifests")
    env = {"ZOO_HOME": str(tmp_path / "home")}
    for args in (("check", "--family", "checked"), ("import", "ppcls", "ResNet18", "--into", str(tmp_path / "new.yaml"),
                                                    "--config", "standard", "--dry-run")):
        result, imported = zoo_imports("--manifests", manifests, *args, env=env)
        assert result.returncode in (0, 1), result.stderr
        assert imported == [], f"zoo {args[0]} imported {imported}"
