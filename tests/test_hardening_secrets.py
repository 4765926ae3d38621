"""Credentials in weight URLs never leave the manifest: every stream a command prints and every
file zoo writes (records, cache entries and keys, lock files, downloads' side files) is searched
for them after real commands against a real server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import colour_classifier, colour_manifest, run_zoo, write_manifest
from tests.fault_server import FaultServer
from zoo.redaction import redact, redact_data

SECRETS = ("PWSECRET1", "TOKSECRET2", "PWSECRET3", "JWTSECRET4", "PASSSECRET5", "HASHSECRET6")


@pytest.mark.parametrize(("url", "masked"), [
    ("http://alice:pa#HASHSECRET6@h.org/w.pth", "http://***@h.org/w.pth"),
    ("https://h.org/w.pth?pw=PWSECRET3&v=1", "https://h.org/w.pth?pw=***&v=1"),
    ("https://h.org/w.pth?jwt=JWTSECRET4", "https://h.org/w.pth?jwt=***"),
    ("https://h.org/w.pth?pass=PASSSECRET5&password=x&passwd=y", "https://h.org/w.pth?pass=***&password=***&passwd=***"),
    ("https://h.org/w.pth?pw=ab#HASHSECRET6", "https://h.org/w.pth?pw=***"),
    ("https://h.org/w.pth#access_token=TOKSECRET2", "https://h.org/w.pth#access_token=***"),
    ("https://h.org/a@b/w.pth?v=1", "https://h.org/a@b/w.pth?v=1"),  # an @ in the path is no user-info
])
def test_one_rule_masks_every_kind_of_credential(url: str, masked: str) -> None:
    assert redact(url) == masked
    assert redact_data({"weights": [url, 3]}) == {"weights": [masked, 3]}


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_no_command_prints_or_stores_a_credential(tmp_path: Path, fault_server: FaultServer) -> None:
    weights = colour_classifier(tmp_path / "colours.onnx")
    base = fault_server.add("/colours.onnx", weights.read_bytes())
    secret_url = (base.replace("http://", "http://alice:PWSECRET1@")
                  + "?token=TOKSECRET2&pw=PWSECRET3&jwt=JWTSECRET4&pass=PASSSECRET5")
    manifest = colour_manifest(weights).replace(weights.as_uri(), secret_url)
    missing = base.replace("http://", "http://bob:pa#HASHSECRET6@").replace("colours.onnx", "gone.onnx")
    manifest += manifest[manifest.index("  - name: colours"):].replace("colours", "gone").replace(secret_url, missing)
    write_manifest(tmp_path / "manifests", manifest, "fixture.yaml")

    commands = [["show", "onnx/colours"], ["show", "onnx/colours", "--json"], ["list", "--json"],
                ["fetch", "onnx/colours", "--out", "fetched"], ["fetch", "onnx/gone"], ["lock", "onnx/colours"],
                ["sync", "onnx/colours", "--log-format", "json"], ["sync", "onnx/gone"],
                ["plan", "onnx/colours", "--json"], ["plan", "--all"], ["lint"]]
    for command in commands:
        result = run_zoo(*command, cwd=tmp_path)
        assert "Traceback" not in result.stderr, result.stderr
        assert _leaks(result.stdout + result.stderr) == [], (command, result.stdout, result.stderr)
    assert (tmp_path / "out" / "onnx-colours" / "record.json").is_file()  # the sync did its work

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "fixture.yaml"]
    assert any(p.parent.name == "ac" for p in written) and any(p.name == "fixture.lock.yaml" for p in written)
    leaking = [str(p.relative_to(tmp_path)) for p in written
               if _leaks(p.read_bytes().decode("latin-1"))]
    assert leaking == []
