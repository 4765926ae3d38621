"""`measured.json`: params and MACs counted by `zoo measure`, committed beside the manifests.

Fast: the shipped file covers every shipped model at its input size; `zoo measure` on the tinylib
plugin's model writes an entry, `--missing` skips it afterwards, `zoo lint` names unmeasured models
and a damaged file is a located error. Slow: a sample of the shipped zoo measured again gives the
committed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.factories import PLUGIN, ROOT, run_zoo, tinylib_workspace
from zoo.errors import ManifestError
from zoo.manifest.catalog import load_catalog
from zoo.manifest.measured import measured_for, read_measured

ENV = {"ZOO_SOURCES": PLUGIN, "PYTHONPATH": str(ROOT)}
SHIPPED = ROOT / "zoo" / "manifests" / "measured.json"


def test_the_shipped_file_measures_every_seed_model_at_its_input_size() -> None:
    """Every seed model is measured; models migrated from VastModelZOO are measured as they come in
    (`zoo lint` names the rest); nothing that is no longer shipped stays in the file."""
    catalog = load_catalog()
    seeds = [m for m in catalog.models.values() if m.upstream is None]
    missing = [m.id for m in seeds if measured_for(m, catalog.families[m.family].file) is None]
    assert not missing, f"not measured: {missing}; run `zoo measure --missing` and commit zoo/manifests/measured.json"
    assert set(read_measured(SHIPPED)) <= set(catalog.models)


def test_measure_writes_the_counts_and_missing_skips_what_is_measured(tmp_path: Path) -> None:
    root = tinylib_workspace(tmp_path)
    lint = run_zoo("lint", "--json", cwd=root, env=ENV)
    assert lint.returncode == 0 and "tinylib/tiny8" in json.loads(lint.stdout)["not_measured"]
    assert "model(s) not measured" in run_zoo("lint", cwd=root, env=ENV).stderr
    measured = run_zoo("measure", "tinylib/tiny8", "--json", cwd=root, env=ENV)
    assert measured.returncode == 0, measured.stderr
    entry = json.loads((root / "manifests" / "measured.json").read_text())["models"]["tinylib/tiny8"]
    assert entry == {"input_size": [3, 32, 32], "params": 269, "macs": 221224}  # the numbers a sync records
    assert json.loads(measured.stdout)["measured"]["tinylib/tiny8"] == entry
    again = run_zoo("measure", "--missing", "--source", "tinylib", "--json", cwd=root, env=ENV)
    assert json.loads(again.stdout)["measured"] == {}
    measured_json = root / "manifests" / "measured.json"
    measured_json.write_text(measured_json.read_text().replace("221224", "221225"), encoding="utf-8")
    check = run_zoo("measure", "tinylib/tiny8", "--check", cwd=root, env=ENV)
    assert check.returncode == 1 and "tinylib/tiny8: " in check.stderr and "'macs': 221225}, measured" in check.stderr
    assert "tinylib/tiny8" not in json.loads(run_zoo("lint", "--json", cwd=root, env=ENV).stdout)["not_measured"]


def test_a_damaged_measured_file_names_itself(tmp_path: Path) -> None:
    broken = tmp_path / "measured.json"
    broken.write_text('{"models": {"timm/a": {"params": 1}}}', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"measured.json:1:1: not a valid measured file: .*zoo measure --all"):
        read_measured(broken)


@pytest.mark.slow
def test_measuring_again_gives_the_committed_numbers(tmp_path: Path) -> None:
    sample = ["timm/cspresnext50", "mmcls/cspresnext50", "ppcls/SqueezeNet1_1"]
    (tmp_path / "manifests").mkdir()
    before = SHIPPED.read_bytes()
    result = run_zoo("measure", *sample, "--check", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert set(document["measured"]) == set(sample) and document["differs"] == {} and document["files"] == []
    assert SHIPPED.read_bytes() == before  # --check writes nothing
