"""Every malformed manifest gives a located error (file:line:col, field, what, hint), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.manifest_support import VALID, write
from zoo.manifest.catalog import load_catalog


def edit(old: str, new: str) -> str:
    assert old in VALID, f"test bug: {old!r} not in the valid manifest"
    return VALID.replace(old, new, 1)


# (case id, manifest text, expected line, expected field, text in message or hint)
CASES = [
    ("misspelt-key", edit("    crop_pct: 0.887", "    crop_pc: 0.887"), 8, "defaults.preprocess.crop_pc",
     "did you mean `crop_pct`?"),
    ("misspelt-top-level", edit("description:", "descripton:"), 3, "descripton", "did you mean `description`?"),
    ("misspelt-model-key", edit("    input_size: 256", "    input_sise: 256"), 15, "models[0].input_sise",
     "did you mean `input_size`?"),
    ("unknown-key-no-match", edit("    input_size: 224", "    input_size: 224\n    colour_space: x"), 24,
     "models[1].colour_space", "unknown field"),
    ("bad-library", edit("library: timm", "library: timmy"), 6, "defaults.source.library", "'timmy' is not allowed"),
    ("bad-interpolation", edit("interpolation: bilinear", "interpolation: cubic"), 9,
     "defaults.preprocess.interpolation", "bicubic"),
    ("mean-two-values", edit("mean: [0.485, 0.456, 0.406]", "mean: [0.485, 0.456]"), 10,
     "defaults.preprocess.mean", "exactly 3 values"),
    ("std-zero", edit("std: [0.229, 0.224, 0.225]", "std: [0.229, 0, 0.225]"), 11, "defaults.preprocess.std",
     "must be > 0"),
    ("crop-pct-above-one", edit("crop_pct: 0.887", "crop_pct: 1.2"), 8, "defaults.preprocess.crop_pct",
     "less than or equal to 1"),
    ("crop-pct-zero", edit("crop_pct: 0.887", "crop_pct: 0"), 8, "defaults.preprocess.crop_pct", "greater than 0"),
    ("mean-on-255-scale", edit("mean: [0.485, 0.456, 0.406]", "mean: [123.7, 116.3, 103.5]"), 7,
     "defaults.preprocess", "value_range: 0..255"),
    ("top5-below-top1", edit("top5: 94.704", "top5: 70.1"), 20, "models[0].expected", "cannot be below top1"),
    ("fraction-as-percent", edit("{top1: 79.582, top5: 94.704}", "{top1: 0.79582, top5: 0.94704}"), 20,
     "models[0].expected", "did you mean `unit: fraction`?"),
    ("percent-as-fraction", edit("expected: {unit: percent}", "expected: {unit: fraction}"), 20,
     "models[0].expected", "did you mean `unit: percent`?"),
    ("missing-unit", edit("  expected: {unit: percent}\n", ""), 19, "models[0].expected.unit",
     "required field is missing"),
    ("ftp-url", edit("url: https://example.org/demo_csp50", "url: ftp://example.org/demo_csp50"), 17,
     "models[0].weights.url", "http://, https:// or file://"),
    ("short-sha256", edit("      hash_prefix: d3e8d487", "      sha256: abc123"), 19, "models[0].weights.sha256",
     "64 lowercase hex"),
    ("sha-disagrees-with-prefix", edit("      hash_prefix: d3e8d487", "      hash_prefix: d3e8d487\n      sha256: "
     + "ab" * 32), 16, "models[0].weights", "does not start with hash_prefix"),
    ("bad-hash-prefix", edit("hash_prefix: d3e8d487", "hash_prefix: xyz"), 19, "models[0].weights.hash_prefix",
     "hex digits"),
    ("format-for-other-library", edit("format: pth", "format: pdparams"), 14, "models[0]",
     "cannot be loaded by timm"),
    ("unknown-format", edit("format: pth", "format: pt"), 18, "models[0].weights.format", "is not allowed"),
    ("negative-size", edit("format: pth", "format: pth\n      size: -5"), 19, "models[0].weights.size",
     "greater than 0"),
    ("no-resize-rule", edit("    crop_pct: 0.887\n", ""), 7, "defaults.preprocess", "either `crop_pct` or `resize`"),
    ("both-resize-rules", edit("    crop_pct: 0.887", "    crop_pct: 0.887\n    resize: 288"), 7,
     "defaults.preprocess", "not both"),
    ("input-size-string", edit("input_size: 256", "input_size: big"), 15, "models[0].input_size", "valid"),
    ("input-size-channels", edit("input_size: 256", "input_size: [4, 256, 256]"), 15, "models[0].input_size",
     "channels must be 1 or 3"),
    ("relaxed-without-reason", edit("    input_size: 224", "    input_size: 224\n    validate: {atol: 0.01}"), 24,
     "models[1].validate", "reason"),
    ("python-without-entrypoint", edit("library: timm", "library: python"), 6, "defaults.source",
     "needs `entrypoint"),
    ("entrypoint-on-timm", edit("version: 0.6.5}", "version: 0.6.5, entrypoint: 'pkg.mod:fn'}"), 6,
     "defaults.source", "only used with library `python`"),
    ("bad-entrypoint", edit("library: timm", "library: python, entrypoint: 'not an entrypoint'"), 6,
     "defaults.source.entrypoint", "package.module:function"),
    ("bad-name", edit("name: demo_csp50", "name: demo csp 50"), 14, "models[0].name", "letters, digits"),
    ("duplicate-key", edit("    input_size: 256", "    input_size: 256\n    input_size: 257"), 16,
     "models[0].input_size", "duplicate key"),
    ("duplicate-id", edit("name: demo_cspx50", "name: demo_csp50"), 22, "models[1].name", "not unique"),
    ("bad-family-slug", edit("family: demo", "family: Demo Family"), 1, "family", "lowercase slug"),
    ("no-models", VALID.split("models:")[0] + "models: []\n", 13, "models", "at least 1"),
    ("model-not-mapping", edit("  - name: demo_cspx50", "  - just a string\n  - name: demo_cspx50"), 22,
     "models[1]", "must be a mapping"),
    ("yaml-syntax", edit("title: Demo family", "title: [Demo family"), 3, "", "YAML syntax"),
    ("tab-indent", edit("  source:", "\tsource:"), 6, "", "YAML syntax"),
    ("not-a-mapping", "- just\n- a list\n", 1, "", "must be a mapping"),
    ("empty-file", "", 1, "", "file is empty"),
    ("paper-bad-url", edit('url: "https://example.org/paper"', 'url: "www.example.org"'), 4, "paper.url",
     "http://, https:// or file://"),
    ("bad-dtype", edit("  expected: {unit: percent}", "  expected: {unit: percent}\n  deploy: {dtype: int4}"), 13,
     "defaults.deploy.dtype", "'int4' is not allowed"),
    ("latency-bad-precision", edit("reported: {flops_g: 10.038, params_m: 21.576}",
     "reported: {latency: [{device: V100, precision: FP64, batch_ms: {1: 2.8}}]}"), 21,
     "models[0].reported.latency[0].precision", "is not allowed"),
    ("negative-flops", edit("flops_g: 10.038", "flops_g: -1"), 21, "models[0].reported.flops_g", "greater than 0"),
    ("yaml-merge-key", edit("  - name: demo_cspx50", "  - <<: {a: 1}\n    name: demo_cspx50"), 22,
     "models[1]", "merge keys"),
]


@pytest.mark.parametrize(("text", "line", "field", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_manifest_is_located(tmp_path: Path, text: str, line: int, field: str, needle: str) -> None:
    path = write(tmp_path, text)
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
    assert len(CASES) >= 30


def test_a_broken_model_does_not_hide_its_siblings(tmp_path: Path) -> None:
    path = write(tmp_path, edit("input_size: 224", "input_size: nope"))
    catalog = load_catalog(files=[path])
    assert list(catalog.models) == ["timm/demo_csp50"]
    assert len(catalog.problems) == 1


def test_a_broken_file_does_not_stop_other_files(tmp_path: Path) -> None:
    write(tmp_path, "family: [", name="broken.yaml")
    write(tmp_path, VALID, name="good.yaml")
    catalog = load_catalog(files=sorted(tmp_path.glob("*.yaml")))
    assert set(catalog.models) == {"timm/demo_csp50", "timm/demo_cspx50"}
    assert [p.file.name for p in catalog.problems] == ["broken.yaml"]


def test_defaults_error_points_at_defaults(tmp_path: Path) -> None:
    """A bad value inherited from `defaults` is reported once per model, at the defaults line."""
    path = write(tmp_path, edit("interpolation: bilinear", "interpolation: cubic"))
    problems = load_catalog(files=[path]).problems
    assert {(p.line, p.field) for p in problems} == {(9, "defaults.preprocess.interpolation")}


def test_lint_cli_prints_location_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, edit("    crop_pct: 0.887", "    crop_pc: 0.887"))
    result = subprocess.run([sys.executable, "-m", "zoo_cli", "lint", str(path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{path}:8:5: defaults.preprocess.crop_pc: unknown field `crop_pc` (hint: did you mean `crop_pct`?)" \
        in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
