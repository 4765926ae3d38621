"""The dialect registry: every dialect module is complete, listed in a profile, and its files
render, parse back with its own parser and match its own spec."""

from __future__ import annotations

import copy
import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import zoo.deploy
from tests.factories import VARIANTS, WORKED_EXAMPLE, load_models, variants_manifest, write_manifest
from zoo.deploy.builders import build_context
from zoo.deploy.output import Output
from zoo.deploy.profiles import DEFAULT_PROFILE, PROFILES, profile_outputs
from zoo.deploy.render import differences, render_model
from zoo.deploy.templating import BUILTIN_TEMPLATES
from zoo.errors import RenderError
from zoo.manifest.schema import Model


def dialect_outputs() -> dict[str, Output]:
    """The `OUTPUT` of every module of zoo/deploy that declares one, by module name."""
    found = {}
    for info in pkgutil.iter_modules(zoo.deploy.__path__):
        module = importlib.import_module(f"zoo.deploy.{info.name}")
        if isinstance(getattr(module, "OUTPUT", None), Output):
            found[info.name] = module.OUTPUT
    return found


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> list[Model]:
    folder = tmp_path_factory.mktemp("manifests")
    found = load_models(write_manifest(folder, variants_manifest(), "variants.yaml"))
    found.update(load_models(write_manifest(folder, WORKED_EXAMPLE, "worked.yaml")))
    return list(found.values())


def test_every_dialect_module_is_rendered_by_a_profile() -> None:
    outputs = dialect_outputs()
    assert sorted(outputs) == ["model_info", "vamc", "vamc_legacy", "vdsp_build_in", "vdsp_sdk1", "vdsp_vamp"]
    listed = {output for files in PROFILES.values() for output in files}
    assert listed == set(outputs.values())
    assert DEFAULT_PROFILE in PROFILES


def test_dialects_are_distinct_and_their_templates_exist() -> None:
    outputs = list(dialect_outputs().values())
    for attribute in ("dialect", "template", "path"):
        values = [getattr(output, attribute) for output in outputs]
        assert len(set(values)) == len(values), attribute
    assert len({output.dialect.name for output in outputs}) == len(outputs)
    for output in outputs:
        assert (BUILTIN_TEMPLATES / output.template).is_file(), output.template


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_renders_files_that_parse_back_to_their_spec(models: list[Model], profile: str,
                                                                   tmp_path: Path) -> None:
    assert len(models) == len(VARIANTS) + 1
    for model in models:
        for dtype in ("int8", "fp16"):
            result = render_model(model, out_dir=tmp_path / dtype, profile=profile, dtype=dtype)
            assert len(result.files) == len(PROFILES[profile])
            for output in profile_outputs(profile):
                path = result.folder / output.path_for(result.context)
                assert path in result.files
                parsed = output.parse(path.read_text(encoding="utf-8"))
                assert differences(output.spec(result.context), parsed) == [], path


def test_a_spec_catches_a_value_the_context_determines(models: list[Model], tmp_path: Path) -> None:
    """Each dialect's spec is strict: a file with one value off, or a key too many, does not match."""
    for name, outputs in PROFILES.items():
        result = render_model(models[0], out_dir=tmp_path, profile=name)
        for output in outputs:
            spec = output.spec(result.context)
            parsed = output.parse((result.folder / output.path_for(result.context)).read_text(encoding="utf-8"))
            expected = copy.deepcopy(parsed)
            where = _one_value_off(parsed)
            assert differences(spec, parsed) == [f"{where}: expected {_leaf(expected, where)!r}, found 'wrong'"]
            assert differences(spec, {**expected, "extra": 1}) == ["the document: unexpected key `extra`"]


def _one_value_off(doc: dict[str, Any], path: str = "") -> str:
    """Set the first exact leaf of `doc` (a string or number the context determines) to 'wrong'; its path."""
    for key, value in doc.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            return _one_value_off(value, where)
        if isinstance(value, str | int) and not isinstance(value, bool):
            doc[key] = "wrong"
            return where
    raise AssertionError(f"no exact leaf in {doc}")


def _leaf(doc: dict[str, Any], where: str) -> Any:
    for key in where.split("."):
        doc = doc[key]
    return doc


def test_paths_and_commands_of_the_worked_example(models: list[Model]) -> None:
    context = build_context(next(m for m in models if m.name == "cspresnet50"))
    outputs = dialect_outputs()
    assert {name: o.path_for(context) for name, o in outputs.items()} == {
        "model_info": "model_info_cspresnet50.json",
        "vamc": "timm_cspresnet50.yaml",
        "vamc_legacy": "sdk1.0/timm_cspresnet50.yaml",
        "vdsp_build_in": "timm-cspresnet50-vdsp_params.json",
        "vdsp_sdk1": "sdk1.0/timm-cspresnet50-vdsp_params.json",
        "vdsp_vamp": "vamp/timm-cspresnet50-vdsp_params.json",
    }
    commands = [output.command_for(context) for output in PROFILES["sdk1"]]
    assert commands == [
        "vamc build sdk1.0/timm_cspresnet50.yaml",
        None,
        "vamp -m deploy_weights/cspresnet50-int8-percentile-3_256_256-vacc/cspresnet50 "
        "--vdsp_params vamp/timm-cspresnet50-vdsp_params.json -i 8 -p 1 -b 16",
        None,
    ]
    assert outputs["vamc"].command_for(context) == "vamc compile timm_cspresnet50.yaml"


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(RenderError, match=r"unknown profile 'sdk2'; choose one of: build_in, sdk1"):
        profile_outputs("sdk2")
