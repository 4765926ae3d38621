"""`zoo import`: manifests written from the libraries' own configs, into new or existing family files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.factories import ROOT, VALID, paddleclas_config, write_manifest
from zoo.errors import ManifestError
from zoo.manifest.catalog import load_catalog
from zoo.manifest.edit import with_models

#: inception_v3 as a person would transcribe it from timm 0.6.5's pretrained cfg.
HAND_WRITTEN = """\
family: inception
title: Inception
models:
  - name: inception_v3
    source: {library: timm, version: "0.6.5"}
    weights:
      url: https://download.pytorch.org/models/inception_v3_google-1a9a5a14.pth
      format: pth
      hash_prefix: 1a9a5a14
    input_size: 299
    preprocess: {crop_pct: 0.875, interpolation: bicubic, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
"""

#: A family file with comments, a trailing comment after the models, and entries separated by blank lines.
COMMENTED = VALID.replace("models:\n", "models:  # two demo models\n").replace(
    "  - name: demo_cspx50\n", "  # the second one\n  - name: demo_cspx50\n"
).replace("  - name: demo_cspx50", "\n  - name: demo_cspx50") + "# end of the family\n"


PADDLE = """\
family: paddle
title: Paddle
defaults:
  source: {library: ppcls, config: standard}
  input_size: 224
  preprocess: {resize: 256, resize_backend: cv2, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
models:
  - name: ResNet50
"""


def zoo(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # the shipped zoo holds many of the architectures these tests import: leave it out
    environment = {**os.environ, "ZOO_HOME": str(cwd / "home"), "PYTHONPATH": str(ROOT), "ZOO_NO_SHIPPED": "1",
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo_cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=300, check=False)


def test_import_lint_render_round_trip_gives_timm_s_resize(tmp_path: Path, timm_065_index: dict[str, str]) -> None:
    done = zoo(tmp_path, "--manifests", "imported", "import", "timm", "inception_v3@0.6.5",
               "--into", "imported/inception.yaml", env=timm_065_index)
    assert done.returncode == 0, done.stderr
    assert "added 1 model(s) to imported/inception.yaml: timm/inception_v3" in done.stdout
    written = yaml.safe_load((tmp_path / "imported" / "inception.yaml").read_text())
    assert written["defaults"]["source"] == {"library": "timm", "version": "0.6.5"}
    assert zoo(tmp_path, "--manifests", "imported", "lint").returncode == 0
    write_manifest(tmp_path / "by-hand", HAND_WRITTEN, "inception.yaml")
    for folder in ("imported", "by-hand"):
        rendered = zoo(tmp_path, "--manifests", folder, "render", "timm/inception_v3", "--out", f"out-{folder}")
        assert rendered.returncode == 0, rendered.stderr
    ours, theirs = (tmp_path / "out-imported" / "timm-inception_v3"), (tmp_path / "out-by-hand" / "timm-inception_v3")
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    for file in ours.iterdir():
        assert file.read_bytes() == (theirs / file.name).read_bytes(), file.name
    vdsp = (ours / "timm-inception_v3-vdsp_params.json").read_text()
    assert '"ResizeWidth": 341' in vdsp  # floor(299 / 0.875), not upstream's 342


def test_import_into_an_existing_family_keeps_its_comments_and_layout(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "manifests", COMMENTED)
    done = zoo(tmp_path, "--manifests", "manifests", "import", "ppcls", "ResNet50", "AlexNet", "--family", "demo",
               "--config", "standard")
    assert done.returncode == 0, done.stderr
    text = manifest.read_text()
    head, added = text[:len(COMMENTED) - len("# end of the family\n")], text[len(COMMENTED) - len("# end of the family\n"):]
    assert head == COMMENTED[:len(head)]  # everything before the insertion point is untouched
    assert added.endswith("\n# end of the family\n")
    assert added.startswith("\n  - name: ResNet50\n    source:\n      library: ppcls\n")  # blank line, like the others
    models = load_catalog([tmp_path / "manifests"]).models
    resnet = models["ppcls/ResNet50"]
    # the family's crop_pct default is silenced: the library states a resize
    assert (resnet.preprocess.resize, resnet.preprocess.crop_pct) == (256, None)
    assert resnet.source.version and resnet.source.config == "standard"
    assert "interpolation" not in added and "mean" not in added  # the family defaults say it already
    assert "crop_pct: null" in added


def test_dry_run_prints_and_writes_nothing_and_existing_models_are_skipped(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "manifests", COMMENTED)
    write_manifest(tmp_path / "manifests", PADDLE, "paddle.yaml")
    first = zoo(tmp_path, "--manifests", "manifests", "import", "ppcls", "ResNet5*", "--family", "demo",
                "--config", "standard", "--dry-run")
    assert first.returncode == 0, first.stderr
    assert "  - name: ResNet50_vd\n" in first.stdout and "  - name: ResNet50\n" not in first.stdout
    assert "ppcls/ResNet50: skipped: ppcls/ResNet50 is already in" in first.stderr
    assert f"would add {first.stdout.count('- name: ')} model(s) to manifests/demo.yaml" in first.stdout
    assert manifest.read_text() == COMMENTED
    again = zoo(tmp_path, "--manifests", "manifests", "import", "ppcls", "ResNet50", "--family", "paddle",
                "--config", "standard")
    assert again.returncode == 1
    assert "nothing to import" in again.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("ppcls", "ResNet50", "--config", "standard"), "say where the models go: --family F"),
    (("ppcls", "ResNet50", "--family", "nope", "--config", "standard"), "there is no family 'nope'; give --into FILE"),
    (("ppcls", "ResNet50", "--into", "new.yaml"), "ppcls's package ships no eval configs: give --config"),
    (("ppcls", "NoSuchNet", "--into", "new.yaml", "--config", "standard"),
     "ppcls (installed) has no architecture matching NoSuchNet"),
    (("ppcls", "ResNet50", "--into", "new.yaml", "--config", "missing.yaml"),
     "cannot read the PaddleClas config missing.yaml"),
    (("ppcls", "ResNet50", "--into", "new.yaml", "--config", "eval.txt"),
     "source.config: config 'eval.txt' must name a .yaml file"),
])
def test_mistakes_are_explained_without_a_traceback(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "eval.txt").write_text(paddleclas_config(), encoding="utf-8")  # readable, but not named .yaml
    done = zoo(tmp_path, "import", *args)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "new.yaml").exists()


def test_a_flow_style_models_list_is_not_rewritten(tmp_path: Path) -> None:
    text = "family: f\ntitle: F\nmodels: [{name: a}]\n"
    with pytest.raises(ManifestError, match="no block-style `models:` list to add to"):
        with_models(text, [{"name": "b"}], tmp_path / "f.yaml")


def test_entries_follow_the_indentation_and_spacing_of_the_file(tmp_path: Path) -> None:
    text = "family: f\nmodels:\n- name: a\n  notes: >-\n    folded\n    text\n- name: b\n  input_size: 224\nother: 1\n"
    updated = with_models(text, [{"name": "c", "preprocess": {"mean": [0.5, 0.5, 0.5]}}], tmp_path / "f.yaml")
    assert updated == text.replace("other: 1\n", "- name: c\n  preprocess:\n    mean: [0.5, 0.5, 0.5]\nother: 1\n")
