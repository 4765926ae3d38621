"""`zoo schema` accepts every valid manifest and flags every misspelt key, checked by independent validators
(`jsonschema` in-process and the `check-jsonschema` command, as editors and CI hooks use them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.factories import MALFORMED_CASES, VALID
from zoo.manifest.catalog import SHIPPED_MANIFESTS
from zoo.manifest.schema import family_json_schema

SHIPPED = sorted(SHIPPED_MANIFESTS.glob("*.yaml"))

#: Malformed-manifest cases a JSON Schema can express: unknown keys, wrong types, enums, ranges, sizes.
SCHEMA_CASES = ("misspelt-key", "misspelt-top-level", "misspelt-model-key", "unknown-key-no-match", "bad-library",
                "bad-interpolation", "mean-two-values", "crop-pct-above-one", "crop-pct-zero", "unknown-format",
                "negative-size", "input-size-string", "bad-dtype", "latency-bad-precision", "negative-flops",
                "no-models", "model-not-mapping", "not-a-mapping")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = family_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_manifest_validates(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_the_valid_test_manifest_validates(validator: jsonschema.Draft202012Validator) -> None:
    assert list(validator.iter_errors(yaml.safe_load(VALID))) == []


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_schema_flags_what_lint_flags(validator: jsonschema.Draft202012Validator, case: str) -> None:
    text = next(c[1] for c in MALFORMED_CASES if c[0] == case)
    assert list(validator.iter_errors(yaml.safe_load(text))), f"{case}: the schema accepted a manifest lint refuses"


def test_check_jsonschema_accepts_the_shipped_zoo(tmp_path: Path) -> None:
    schema = tmp_path / "zoo-manifest.schema.json"
    schema.write_text(json.dumps(family_json_schema()), encoding="utf-8")
    command = [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), *map(str, SHIPPED)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(next(c[1] for c in MALFORMED_CASES if c[0] == "misspelt-key"), encoding="utf-8")
    result = subprocess.run([*command[:5], str(broken)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1 and "crop_pc" in result.stdout + result.stderr
