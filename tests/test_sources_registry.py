"""The source-library registry: built-ins by name, plugins from $ZOO_SOURCES and entry points, and its refusals.

Each test builds its own `Registry` (with its own environment), so nothing it registers
leaks into the registry the rest of the process uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.plugins.tinylib import LIBRARY as TINYLIB
from tests.plugins.tinylib import TinyLib
from zoo.errors import SourceLibraryError
from zoo.sources.base import ConvertRequest, ConvertResult, SourceLibrary
from zoo.sources.registry import PLUGINS_ENV, Registry
from zoo.sources.transform import TORCHVISION_RULES

BUILT_INS = ["mmcls", "onnx", "ppcls", "python", "timm", "torchvision"]


def registry(plugins: str = "") -> Registry:
    return Registry(environ={PLUGINS_ENV: plugins} if plugins else {})


def test_built_ins_are_imported_by_name_only_when_asked_for() -> None:
    fresh = registry()
    assert fresh.names() == BUILT_INS
    library = fresh.get("ppcls")
    assert (library.name, library.default_opset, library.input_name) == ("ppcls", 10, "x")
    assert library.weight_formats == {"pdparams", "paddle-inference"}


def test_importing_the_registry_is_cheap() -> None:
    import subprocess

    code = "import sys, zoo.sources.registry; print(sorted(m for m in sys.modules if m.startswith('zoo.sources.')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['zoo.sources.base', 'zoo.sources.registry']"


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(SourceLibraryError, match=r"unknown source library 'timmy'; known libraries: "
                       r"mmcls, onnx, ppcls, python, timm, tinylib, torchvision"):
        registry("tests.plugins.tinylib:LIBRARY").get("timmy")


def test_plugins_from_the_environment_are_registered_in_order() -> None:
    fresh = registry(" tests.plugins.tinylib:LIBRARY , ")
    assert fresh.get("tinylib") is TINYLIB
    assert "tinylib" in fresh.names()


def test_the_same_library_twice_is_fine_another_one_under_its_name_is_not() -> None:
    fresh = registry("tests.plugins.tinylib:LIBRARY")
    assert fresh.register(TINYLIB) is TINYLIB
    with pytest.raises(SourceLibraryError, match="source library `tinylib` is registered twice"):
        fresh.register(TinyLib())


def test_a_plugin_cannot_take_a_built_in_name() -> None:
    class FakeTimm(TinyLib):
        name = "timm"

    with pytest.raises(SourceLibraryError, match=r"`timm` is registered twice: <source library 'timm' "
                       r"\(zoo.sources.timm.Timm\)>"):
        registry().register(FakeTimm())


@pytest.mark.parametrize(("plugins", "message"), [
    ("tests.plugins.no_such_plugin:LIBRARY",
     r"cannot import the source library plugin `tests.plugins.no_such_plugin:LIBRARY` \(from \$ZOO_SOURCES\): "
     r"No module named 'tests.plugins.no_such_plugin'; install it, add its folder to PYTHONPATH"),
    ("tests.plugins.tinylib", r"\$ZOO_SOURCES item 'tests.plugins.tinylib' is not of the form package.module:ATTR"),
    ("tests.plugins.tinylib:NOPE", r"module tests.plugins.tinylib has no attribute 'NOPE'"),
    ("tests.plugins.tinylib:TinyLib", r"`tests.plugins.tinylib:TinyLib` \(from \$ZOO_SOURCES\) is ABCMeta, "
                                      r"not a SourceLibrary instance"),
])
def test_a_broken_plugin_is_named(plugins: str, message: str) -> None:
    fresh = registry(plugins)
    with pytest.raises(SourceLibraryError, match=message):
        fresh.names()
    with pytest.raises(SourceLibraryError, match=message):
        fresh.get("tinylib")  # reported by every lookup, not only the first
    assert fresh.get("timm").name == "timm", "built-ins need no plugin"


class NoInputName(SourceLibrary):
    """A plugin that forgot `input_name`."""

    name = "noinput"
    weight_formats = frozenset({"pth"})
    default_opset = 11
    eval_rules = TORCHVISION_RULES

    def convert(self, request: ConvertRequest) -> ConvertResult:
        raise AssertionError("never converts")


def test_an_incomplete_or_misnamed_library_is_refused() -> None:
    with pytest.raises(SourceLibraryError, match=r"source library <source library 'noinput' .*> does not set input_name"):
        registry().register(NoInputName())
    with pytest.raises(SourceLibraryError, match="has the name 'Tiny Lib'; use lowercase letters"):
        registry().register(type("Spaced", (TinyLib,), {"name": "Tiny Lib"})())


def test_plugins_from_installed_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package that declares `[zoo.sources] tinylib = tests.plugins.tinylib:LIBRARY` (real metadata on sys.path)."""
    info = tmp_path / "zoo_tinylib-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-tinylib\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[zoo.sources]\ntinylib = tests.plugins.tinylib:LIBRARY\n",
                                           encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry().get("tinylib") is TINYLIB
    (info / "entry_points.txt").write_text("[zoo.sources]\nbroken = tests.plugins.gone:LIBRARY\n", encoding="utf-8")
    with pytest.raises(SourceLibraryError, match=r"cannot load the source library plugin of entry point "
                       r"`broken = tests.plugins.gone:LIBRARY` of the `zoo.sources` group"):
        registry().names()
