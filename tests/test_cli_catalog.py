"""`zoo list/show/lint/schema/--version` run as a user runs them: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.factories import VALID, write_manifest
from tests.import_probe import HEAVY, zoo_imports


def zoo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_version() -> None:
    result = zoo("--version")
    assert result.returncode == 0 and "zoo, version" in result.stdout


def test_list_json_with_user_manifests(tmp_path: Path) -> None:
    write_manifest(tmp_path, VALID)
    result = zoo("--manifests", str(tmp_path), "list", "timm/*", "--source", "timm", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert set(rows) >= {"timm/demo_csp50", "timm/demo_cspx50"}
    assert rows["timm/demo_csp50"]["top1"] == 79.582
    assert rows["timm/demo_csp50"]["weights"] == "unpinned"


def test_list_table_mentions_broken_files(tmp_path: Path) -> None:
    write_manifest(tmp_path, VALID)
    write_manifest(tmp_path, "family: [", "broken.yaml")
    result = zoo("--manifests", str(tmp_path), "list", "timm/demo*")
    assert result.returncode == 0
    assert "timm/demo_cspx50" in result.stdout
    assert "broken.yaml" in result.stderr and "zoo lint" in result.stderr


def test_show_json_has_derived_numbers(tmp_path: Path) -> None:
    write_manifest(tmp_path, VALID)
    result = zoo("--manifests", str(tmp_path), "show", "timm/demo_csp50", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["derived"]["resize_height"] == 288 and doc["derived"]["crop_x"] == 16
    assert doc["derived"]["mean_bits"] == [14275, 14156, 13951]
    assert doc["weights"]["hash_prefix"] == "d3e8d487"


def test_show_prints_numbers_with_their_written_digits(tmp_path: Path) -> None:
    write_manifest(tmp_path, VALID)
    result = zoo("--manifests", str(tmp_path), "show", "timm/demo_cspx50")
    assert result.returncode == 0, result.stderr
    assert "top1: 80.050" in result.stdout and "unit: percent" in result.stdout
    assert "input_size: [3, 224, 224]" in result.stdout and "crop_pct: 0.875" in result.stdout


def test_show_unknown_model_is_a_clean_error(tmp_path: Path) -> None:
    write_manifest(tmp_path, VALID)
    result = zoo("--manifests", str(tmp_path), "show", "timm/demo_csp5")
    assert result.returncode == 1
    assert "did you mean" in result.stderr and "Traceback" not in result.stderr


def test_lint_clean_folder_exits_zero(tmp_path: Path) -> None:
    write_manifest(tmp_path, VALID)
    result = zoo("lint", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "1 file(s), 2 model(s), 0 problem(s)" in result.stdout


def test_lint_missing_path(tmp_path: Path) -> None:
    result = zoo("lint", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_schema_is_json_schema() -> None:
    result = zoo("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "zoo model family manifest"
    assert "Preprocess" in schema["$defs"]


def test_light_commands_import_no_heavy_framework(tmp_path: Path) -> None:
    """list/show/lint/schema must start without torch, paddle, onnx or onnxruntime."""
    write_manifest(tmp_path, VALID)
    for args in (["list"], ["show", "timm/demo_csp50"], ["lint"], ["schema"]):
        result, imported = zoo_imports("--manifests", str(tmp_path), *args, watch=(*HEAVY, "matplotlib"))
        assert result.returncode == 0 and imported == [], (args, imported, result.stderr[-500:])


def test_file_system_refusal_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = zoo("docs", "--out", str(blocker / "docs"))
    assert result.returncode == 1
    assert f"Not a directory: {blocker / 'docs'}" in result.stderr and "permissions" in result.stderr
    assert "Traceback" not in result.stderr
    debug = zoo("--debug", "docs", "--out", str(blocker / "docs"))
    assert "Traceback" in debug.stderr and "NotADirectoryError" in debug.stderr
