"""Selecting models: ids, bare names across sources, globs, filters, unknown ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import VALID, write_manifest
from zoo.errors import SelectionError
from zoo.manifest.catalog import load_catalog, manifest_files

MMCLS = """\
family: demo-mm
title: Demo mmcls
defaults:
  source: {library: mmcls}
  preprocess: {resize: 288, interpolation: bicubic, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375],
               value_range: "0..255"}
models:
  - {name: demo_csp50, input_size: 256, tags: [cnn]}
  - {name: Demo_DarkNet, input_size: 256}
"""


@pytest.fixture()
def catalog(tmp_path: Path):  # type: ignore[no-untyped-def]
    write_manifest(tmp_path, VALID, "demo.yaml")
    write_manifest(tmp_path, MMCLS, "mm.yaml")
    return load_catalog(files=manifest_files([tmp_path]))


def ids(models) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.id for m in models]


def test_full_id(catalog) -> None:  # type: ignore[no-untyped-def]
    assert ids(catalog.select(["timm/demo_csp50"])) == ["timm/demo_csp50"]


def test_bare_name_selects_every_source(catalog) -> None:  # type: ignore[no-untyped-def]
    assert ids(catalog.select(["demo_csp50"])) == ["mmcls/demo_csp50", "timm/demo_csp50"]


def test_case_insensitive_glob(catalog) -> None:  # type: ignore[no-untyped-def]
    assert ids(catalog.select(["MMCLS/demo*"])) == ["mmcls/demo_csp50", "mmcls/Demo_DarkNet"]
    assert ids(catalog.select(["*darknet*"])) == ["mmcls/Demo_DarkNet"]


def test_filters(catalog) -> None:  # type: ignore[no-untyped-def]
    assert ids(catalog.select(source="timm")) == ["timm/demo_csp50", "timm/demo_cspx50"]
    assert ids(catalog.select(family="demo-mm")) == ["mmcls/demo_csp50", "mmcls/Demo_DarkNet"]
    assert ids(catalog.select(tag="cnn")) == ["mmcls/demo_csp50"]
    assert ids(catalog.select(["demo*"], source="mmcls", tag="cnn")) == ["mmcls/demo_csp50"]
    assert len(catalog.select(all_models=True)) == 4


def test_patterns_do_not_duplicate(catalog) -> None:  # type: ignore[no-untyped-def]
    assert ids(catalog.select(["demo_csp50", "timm/*"])) == [
        "mmcls/demo_csp50", "timm/demo_csp50", "timm/demo_cspx50"]


def test_unknown_id_lists_close_matches(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SelectionError, match="did you mean: .*demo_csp50"):
        catalog.select(["demo_csp5"])
    with pytest.raises(SelectionError, match="zoo list"):
        catalog.select(["vgg16"])


def test_nothing_selected_without_arguments(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SelectionError, match="--all"):
        catalog.select([])
    with pytest.raises(SelectionError, match="selected no model"):
        catalog.select(source="ppcls")


def test_family_defaults_fill_dataset_and_family(catalog) -> None:  # type: ignore[no-untyped-def]
    model = catalog.models["mmcls/Demo_DarkNet"]
    assert model.family == "demo-mm" and model.dataset == "ImageNet-1k"
    assert model.source.arch == "Demo_DarkNet"


def test_env_and_option_folders_are_both_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(tmp_path / "a", VALID)
    write_manifest(tmp_path / "b", MMCLS)
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path / "a"))
    catalog = load_catalog([tmp_path / "b"])
    assert {"timm/demo_csp50", "mmcls/demo_csp50"} <= set(catalog.models)


def test_missing_manifest_folder_is_a_problem(tmp_path: Path) -> None:
    catalog = load_catalog([tmp_path / "nope"])
    assert any("does not exist" in p.message for p in catalog.problems)


def test_same_family_twice_is_a_problem(tmp_path: Path) -> None:
    write_manifest(tmp_path, VALID, "one.yaml")
    write_manifest(tmp_path, VALID, "two.yaml")
    catalog = load_catalog(files=sorted(tmp_path.glob("*.yaml")))
    assert [p.message for p in catalog.problems] == ["family `demo` is also defined in " + str(tmp_path / "one.yaml")]
