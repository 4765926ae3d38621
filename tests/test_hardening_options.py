"""Options are checked before any work, a failing step never takes a good published file away,
and `zoo fetch --out` leaves nothing but the weights in the user's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import colour_classifier, colour_manifest, run_zoo, write_manifest
from zoo.pipeline.record import read_record
from zoo.store.blobs import sha256_file


def _published(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p)[0] for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize(("option", "message"), [
    (["--dtype", "int4"], "--dtype 'int4' is not one of: int8, fp16"),
    (["--profile", "sdk2"], "unknown profile 'sdk2'; choose one of: build_in, sdk1"),
])
def test_a_bad_option_stops_sync_before_any_work(colours_workspace: Path, option: list[str], message: str) -> None:
    folder = colours_workspace / "out" / "onnx-colours"
    before = _published(folder)
    for command in ("sync", "plan"):
        result = run_zoo(command, "onnx/colours", "--force", "all", *option, cwd=colours_workspace)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
        assert message in " ".join(result.stderr.split())
        assert "ran" not in result.stdout and "convert" not in result.stdout  # no step was started
    assert _published(folder) == before


def test_a_failing_render_keeps_the_deploy_files_it_published(colours_workspace: Path) -> None:
    folder = colours_workspace / "out" / "onnx-colours"
    before = _published(folder)
    templates = colours_workspace / "broken-templates"
    (templates / "vdsp").mkdir(parents=True)
    (templates / "vdsp" / "build_in.json.j2").write_text("{{ no_such_group.value }}\n", encoding="utf-8")
    result = run_zoo("sync", "onnx/colours", "--templates", str(templates), cwd=colours_workspace)
    assert result.returncode == 1, result.stdout + result.stderr

    record = read_record(folder)
    assert record is not None and record.steps["render"].status == "failed"
    kept = record.steps["render"].outputs
    assert {o.name for o in kept.values()} == {"onnx_colours.yaml", "onnx-colours-vdsp_params.json",
                                               "model_info_colours.json"}
    assert "earlier run" in record.steps["render"].warnings[0]
    after = _published(folder)
    assert {name: after[name] for name in before if name != "record.json"} == \
        {name: digest for name, digest in before.items() if name != "record.json"}
    assert all(after[o.name] == o.digest for o in kept.values())


def test_fetch_out_leaves_only_the_weights_in_the_folder(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()  # a manifest's file:// URLs may reach files in its folder
    weights = colour_classifier(tmp_path / "manifests" / "colours.onnx")
    write_manifest(tmp_path / "manifests", colour_manifest(weights), "fixture.yaml")
    for _ in range(2):  # the second run finds the file already there
        result = run_zoo("fetch", "onnx/colours", "--out", "fetched", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "fetched").iterdir()) == ["colours.onnx"]
    assert sha256_file(tmp_path / "fetched" / "colours.onnx") == sha256_file(weights)
