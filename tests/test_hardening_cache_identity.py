"""What a cached result depends on is in its key: the user's whole package for a `python` entry
point, and for unpinned weights the file they would come from (a mirror file's size and time,
an HTTP file's validators), so a changed file is noticed and an unchanged one is not fetched again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.factories import RANDOM, make_model
from zoo.pipeline.steps.convert import ConvertStep


def _code_key(entrypoint: str) -> str:
    return str(ConvertStep().fields(make_model("python", "net", source={"entrypoint": entrypoint}), RANDOM)["code"])


def test_editing_a_helper_module_of_the_entry_point_package_changes_the_convert_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "userpkg2"
    (package / "layers").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('importing the package runs user code')\n")
    (package / "net.py").write_text("from userpkg2.layers.conv import block\ndef build():\n    return block()\n")
    (package / "layers" / "__init__.py").write_text("")
    (package / "layers" / "conv.py").write_text("def block():\n    return 1\n")
    (package / "README.txt").write_text("not code")
    monkeypatch.syspath_prepend(str(tmp_path))
    keys = [_code_key("userpkg2.net:build")]
    (package / "layers" / "conv.py").write_text("def block():\n    return 2  # edited\n")
    keys.append(_code_key("userpkg2.net:build"))
    (package / "README.txt").write_text("edited, but not code")
    keys.append(_code_key("userpkg2.net:build"))
    (package / "layers" / "extra.py").write_text("X = 1\n")
    keys.append(_code_key("userpkg2.net:build"))
    assert keys[0] != keys[1] and keys[1] == keys[2] and keys[2] != keys[3]
    assert "userpkg2" not in sys.modules


def test_a_single_module_entry_point_is_keyed_by_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "solo_net.py").write_text("def build():\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = _code_key("solo_net:build")
    (tmp_path / "solo_net.py").write_text("def build():\n    return None  # edited\n")
    assert _code_key("solo_net:build") != before
