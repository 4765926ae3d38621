"""A damaged `record.json` gets one clear message from every command that reads records:
which file, what is wrong, what to do, and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import write_tiny_manifest
from tests.sync_runner import run_sync
from zoo.errors import RecordError
from zoo.pipeline.record import read_record

DAMAGE = {
    "not-json": "{not json",
    "wrong-schema": '{"model_id": 3}',
    "not-utf8": "\udcff",
}


@pytest.fixture(params=sorted(DAMAGE))
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A folder with the tiny test manifest and a damaged out/timm-alpha/record.json."""
    write_tiny_manifest(tmp_path / "manifests", ["alpha"])
    record = tmp_path / "out" / "timm-alpha" / "record.json"
    record.parent.mkdir(parents=True)
    record.write_bytes(DAMAGE[request.param].encode("utf-8", "surrogateescape"))
    return tmp_path


def zoo(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", "manifests", *args], cwd=workspace,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "ZOO_HOME": str(workspace / "store")})


def assert_explained(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    text = " ".join(result.stderr.split())  # rich may wrap long lines
    assert "out/timm-alpha/record.json: not a valid sync record (" in text, text
    assert "delete it and run `zoo sync` again" in text


def test_the_reader_names_the_file(workspace: Path) -> None:
    with pytest.raises(RecordError, match=r"timm-alpha/record.json: not a valid sync record \("):
        read_record(workspace / "out" / "timm-alpha")


@pytest.mark.parametrize("command", [
    ["docs", "--records", "out", "--out", "docs"],
    ["eval", "timm/alpha", "--data", "data"],
    ["bench", "timm/alpha"],
    ["store", "gc", "--out", "out"],
])
def test_every_command_explains_a_damaged_record(workspace: Path, command: list[str]) -> None:
    assert_explained(zoo(workspace, *command))


def test_sync_does_not_publish_over_a_damaged_record(workspace: Path) -> None:
    args = ["--manifest", str(workspace / "manifests" / "tiny.yaml"), "--store", str(workspace / "store"),
            "--out", str(workspace / "out")]
    result = run_sync(args, {})
    assert_explained(result)
    assert "timm/alpha not published:" in result.stderr
    assert "sync summary" in result.stdout  # the steps ran and are cached for the next try
    (workspace / "out" / "timm-alpha" / "record.json").unlink()
    again = run_sync(args, {})
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr
    assert read_record(workspace / "out" / "timm-alpha") is not None
