"""Every malformed manifest gives a located error (file:line:col, field, what, hint), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import MALFORMED_CASES, VALID, edit_valid, write_manifest
from zoo.manifest.catalog import load_catalog


@pytest.mark.parametrize(("text", "line", "field", "needle"), [c[1:] for c in MALFORMED_CASES],
                         ids=[c[0] for c in MALFORMED_CASES])
def test_malformed_manifest_is_located(tmp_path: Path, text: str, line: int, field: str, needle: str) -> None:
    path = write_manifest(tmp_path, text)
    catalog = load_catalog(files=[path])
    assert catalog.problems, "a malformed manifest must produce a problem"
    rendered = [str(p) for p in catalog.problems]
    match = [p for p in catalog.problems if needle in f"{p.message} {p.hint}"]
    assert match, f"no problem mentions {needle!r}: {rendered}"
    problem = match[0]
    assert problem.file == path
    assert problem.line == line, rendered
    assert problem.column >= 1
    assert problem.field == field, rendered


def test_there_are_at_least_thirty_cases() -> None:
    assert len(MALFORMED_CASES) >= 30


def test_a_broken_model_does_not_hide_its_siblings(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, edit_valid("input_size: 224", "input_size: nope"))
    catalog = load_catalog(files=[path])
    assert list(catalog.models) == ["timm/demo_csp50"]
    assert len(catalog.problems) == 1


def test_a_broken_file_does_not_stop_other_files(tmp_path: Path) -> None:
    write_manifest(tmp_path, "family: [", name="broken.yaml")
    write_manifest(tmp_path, VALID, name="good.yaml")
    catalog = load_catalog(files=sorted(tmp_path.glob("*.yaml")))
    assert set(catalog.models) == {"timm/demo_csp50", "timm/demo_cspx50"}
    assert [p.file.name for p in catalog.problems] == ["broken.yaml"]


def test_defaults_error_points_at_defaults(tmp_path: Path) -> None:
    """A bad value inherited from `defaults` is reported once per model, at the defaults line."""
    path = write_manifest(tmp_path, edit_valid("interpolation: bilinear", "interpolation: cubic"))
    problems = load_catalog(files=[path]).problems
    assert {(p.line, p.field) for p in problems} == {(9, "defaults.preprocess.interpolation")}


def test_lint_cli_prints_location_without_traceback(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, edit_valid("    crop_pct: 0.887", "    crop_pc: 0.887"))
    result = subprocess.run([sys.executable, "-m", "zoo_cli", "lint", str(path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{path}:8:5: defaults.preprocess.crop_pc: unknown field `crop_pc` (hint: did you mean `crop_pct`?)" \
        in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
