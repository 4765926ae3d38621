"""Manifest values are checked strictly and whole: no trailing newline slips past a pattern, URLs
parse, numbers are numbers (finite, within sane bounds), field names survive in messages, and
`zoo lint` reports every problem of a file. Arbitrary YAML never gives a traceback."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import VALID, edit_valid, run_zoo, write_manifest
from zoo.errors import ManifestError
from zoo.manifest.catalog import load_catalog

SHA = "ab" * 32
URL = "url: https://example.org/demo_csp50_ra-d3e8d487.pth"

#: (case id, edit of the valid manifest, field the problem names, text in its message)
REFUSED = [
    ("name-newline", ("name: demo_csp50", 'name: "demo_csp50\\n"'), "models[0].name", "control character"),
    ("family-newline", ("family: demo", 'family: "demo\\n"'), "family", "control character"),
    ("sha-newline", ("      hash_prefix: d3e8d487", f'      sha256: "{SHA}\\n"'), "models[0].weights.sha256", "64"),
    ("prefix-newline", ("hash_prefix: d3e8d487", 'hash_prefix: "d3e8d487\\n"'), "models[0].weights.hash_prefix",
     "hex"),
    ("url-space", (URL, "url: 'https://example.org/demo csp50.pth'"), "models[0].weights.url", "space"),
    ("url-no-host", (URL, "url: 'https:///demo_csp50.pth'"), "models[0].weights.url", "has no host"),
    ("url-bad-ipv6", (URL, "url: 'http://[::1/x.pth'"), "models[0].weights.url", "cannot be parsed"),
    ("url-bad-port", (URL, "url: 'http://example.org:99999/x.pth'"), "models[0].weights.url", "cannot be parsed"),
    ("url-no-file", (URL, "url: 'https://example.org/'"), "models[0].weights.url", "names no file"),
    ("paper-no-scheme", ('url: "https://example.org/paper"', 'url: "example.org/paper"'), "paper.url",
     "http://, https:// or file://"),
    ("huge-input-size", ("input_size: 256", "input_size: 1000000000"), "models[0].input_size", "1..8192"),
    ("infinite-std", ("std: [0.229, 0.224, 0.225]", "std: [0.229, .inf, 0.225]"), "defaults.preprocess.std[1]",
     "finite"),
    ("nan-mean", ("mean: [0.485, 0.456, 0.406]", "mean: [.nan, 0.456, 0.406]"), "defaults.preprocess.mean[0]",
     "finite"),
    ("crop-pct-text", ("crop_pct: 0.887", 'crop_pct: "0.887"'), "defaults.preprocess.crop_pct", "not str"),
    ("top1-text", ("top1: 79.582", 'top1: "79.582"'), "models[0].expected.top1", "not str"),
    ("size-bool", ("format: pth", "format: pth\n      size: true"), "models[0].weights.size", "not bool"),
    ("bracket-key", ("    crop_pct: 0.887", "    crop_pct: 0.887\n    'crop[pct]': 1"),
     "defaults.preprocess.crop[pct]", "unknown field"),
]


@pytest.mark.parametrize(("edit", "field", "needle"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_values_are_checked_strictly(tmp_path: Path, edit: tuple[str, str], field: str, needle: str) -> None:
    catalog = load_catalog(files=[write_manifest(tmp_path, edit_valid(*edit))])
    fields = [(p.field, f"{p.message} {p.hint}") for p in catalog.problems]
    assert any(f == field and needle in text for f, text in fields), fields


def test_a_broken_header_does_not_hide_the_models_problems(tmp_path: Path) -> None:
    text = edit_valid("family: demo", "family: Demo Family").replace("input_size: 224", "input_size: nope")
    path = write_manifest(tmp_path / "manifests", text)
    fields = [p.field for p in load_catalog(files=[path]).problems]
    assert fields == ["family", "models[1].input_size"]
    result = run_zoo("lint", cwd=tmp_path)
    assert result.returncode == 1 and "demo.yaml:1:" in result.stdout + result.stderr
    assert "models[1].input_size" in result.stdout + result.stderr


def test_a_bad_url_is_a_lint_error_not_a_traceback_in_fetch(tmp_path: Path) -> None:
    write_manifest(tmp_path / "manifests", edit_valid(URL, "url: 'http://[::1/x.pth'"))
    result = run_zoo("fetch", "timm/demo_csp50", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "run `zoo lint`" in result.stderr


# -- property: whatever the text, loading gives models or located problems, in bounded memory ---------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
FIELDS = ["family", "title", "defaults", "models", "paper", "input_size", "preprocess", "weights", "source"]


#: Python memory one load of a small text may use at its peak (alias bombs, in bounded memory too, are
#: tests/test_hostile_manifests.py's, under an address-space limit).
PEAK_BYTES = 16 << 20


def _load(tmp: Path, text: str) -> None:
    """Load `text` as a manifest: only located problems may come out, within `PEAK_BYTES`."""
    path = tmp / "m.yaml"
    path.write_text(text, encoding="utf-8")
    tracemalloc.start()
    try:
        catalog = load_catalog(files=[path])
        peak = tracemalloc.get_traced_memory()[1]
    except ManifestError as exc:  # never raised by load_catalog, which collects problems
        pytest.fail(f"load_catalog raised {exc}")
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES
    for problem in catalog.problems:
        assert problem.file == path and problem.line >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300))
def test_arbitrary_text_gives_only_problems(tmp_path: Path, text: str) -> None:
    _load(tmp_path, text)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(FIELDS), value=VALUES)
def test_arbitrary_values_in_a_valid_manifest_give_only_problems(tmp_path: Path, key: str, value: object) -> None:
    data = yaml.safe_load(VALID)
    target = data["models"][0] if key in ("input_size", "preprocess", "weights", "source") else data
    target[key] = value
    _load(tmp_path, yaml.safe_dump(data))
