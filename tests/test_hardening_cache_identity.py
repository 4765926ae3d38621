"""What a cached result depends on is in its key: the user's whole package for a `python` entry
point, and for unpinned weights the file they would come from (a mirror file's size and time,
an HTTP file's validators), so a changed file is noticed and an unchanged one is not fetched again."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.factories import RANDOM, colour_classifier, colour_manifest, make_model, run_zoo, write_manifest
from tests.fault_server import FaultServer
from zoo.pipeline.steps.convert import ConvertStep
from zoo.pipeline.steps.fetch import FetchStep
from zoo.store.blobs import sha256_file
from zoo.store.fetch.download import fetch


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


def _gets(server: FaultServer, path: str) -> int:
    return len(server.requests(path, method="GET"))


def test_an_unpinned_download_is_reused_while_the_server_validators_hold(tmp_path: Path,
                                                                         fault_server: FaultServer) -> None:
    url = fault_server.add("/w.pth", b"first version " * 100)
    dest = tmp_path / "downloads" / "w.pth"
    first = fetch(url, dest)
    again = fetch(url, dest)
    assert _gets(fault_server, "/w.pth") == 1 and again.attempts == 0 and again.sha256 == first.sha256
    fault_server.add("/w.pth", b"second version, other bytes " * 100)  # new ETag and Last-Modified
    changed = fetch(url, dest)
    assert _gets(fault_server, "/w.pth") == 2 and changed.sha256 != first.sha256
    assert changed.sha256 == sha256_file(dest)[0]


def test_without_validators_an_unpinned_file_is_fetched_again(tmp_path: Path, fault_server: FaultServer) -> None:
    url = fault_server.add("/plain.pth", b"no validators " * 100, etag=False, last_modified=False)
    for _ in range(2):
        fetch(url, tmp_path / "plain.pth")
    assert _gets(fault_server, "/plain.pth") == 2


def test_a_different_file_in_weights_from_is_noticed(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "w.pth").write_bytes(b"A" * 500)
    model = make_model("timm", "w", weights={"url": "https://example.org/w.pth", "format": "pth"})
    options = replace(RANDOM, random_weights=False, weights_from=(str(mirror),), offline=True)
    dest = tmp_path / "downloads" / "w.pth"
    first_key = FetchStep().fields(model, options)
    first = fetch(model.weights.url, dest, mirrors=options.weights_from, offline=True)  # type: ignore[union-attr]
    assert fetch(model.weights.url, dest, mirrors=options.weights_from, offline=True).attempts == 0  # type: ignore[union-attr]
    (mirror / "w.pth").write_bytes(b"B" * 500)  # the same name and size, other bytes
    os.utime(mirror / "w.pth", ns=(1_000_000_000, 1_000_000_000))
    assert FetchStep().fields(model, options) != first_key
    second = fetch(model.weights.url, dest, mirrors=options.weights_from, offline=True)  # type: ignore[union-attr]
    assert second.sha256 != first.sha256 and second.sha256 == hashlib.sha256(b"B" * 500).hexdigest()


def test_fetch_sync_and_lock_download_an_unpinned_file_once(tmp_path: Path, fault_server: FaultServer) -> None:
    weights = colour_classifier(tmp_path / "colours.onnx")
    url = fault_server.add("/colours.onnx", weights.read_bytes())
    write_manifest(tmp_path / "manifests", colour_manifest(weights).replace(weights.as_uri(), url), "fixture.yaml")
    for command in (["fetch", "onnx/colours"], ["sync", "onnx/colours"], ["fetch", "onnx/colours"],
                    ["lock", "onnx/colours"], ["sync", "onnx/colours"]):
        result = run_zoo(*command, cwd=tmp_path)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert _gets(fault_server, "/colours.onnx") == 1
