"""`zoo sync --remote`: a team shares one cache. Real `zoo` processes, each with its own ZOO_HOME (like
separate machines), a real shared folder (file://) or moto's S3 server as the remote, and models of
the tinylib plugin, whose every conversion leaves a marker (so "converted once" is counted, not assumed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import PLUGIN, ROOT, tinylib_workspace
from tests.plugins.tinylib import MARKERS_ENV
from tests.s3_server import KEY_ID, SECRET, S3Server
from zoo.pipeline.record import read_record

MODELS = ("tiny8", "tiny4")


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """Manifests for two tinylib models and a marker folder counting conversions."""
    (tmp_path / "markers").mkdir()
    return tinylib_workspace(tmp_path, "  - name: tiny4\n")  # tiny4: random weights (no weights file fits it)


def sync(root: Path, client: str, remote: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`zoo sync` of every model as `client` (its own store and output folder)."""
    env = {**os.environ, "ZOO_SOURCES": PLUGIN, "PYTHONPATH": str(ROOT), "ZOO_HOME": str(root / client / "store"),
           MARKERS_ENV: str(root / "markers"), "ZOO_REMOTE_TIMEOUT": "2"}
    command = [sys.executable, "-m", "zoo_cli", "--manifests", "manifests", "sync", "--source", "tinylib", "--random-weights",
               "--remote", remote, "--out", str(root / client / "out"), "--log-format", "json", *extra]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def conversions(root: Path) -> int:
    return len(list((root / "markers").iterdir()))


def statuses(result: subprocess.CompletedProcess[str]) -> dict[tuple[str, str], str]:
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {(e["model"], e["step"]): e["status"] for e in events if e["event"] == "step_finished"}


def digests(root: Path, client: str) -> dict[str, dict[str, str]]:
    found = {}
    for name in MODELS:
        record = read_record(root / client / "out" / f"tinylib-{name}")
        assert record is not None
        found[name] = {o.name: o.digest for s in record.steps.values() for o in s.outputs.values()}
    return found


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_a_second_client_converts_nothing(team: Path, kind: str, request: pytest.FixtureRequest) -> None:
    remote = (team / "shared").as_uri() if kind == "file" else request.getfixturevalue("s3").url()
    first = sync(team, "alice", remote)
    assert first.returncode == 0, first.stdout + first.stderr
    assert conversions(team) == len(MODELS)
    second = sync(team, "bob", remote)
    assert second.returncode == 0, second.stdout + second.stderr
    assert conversions(team) == len(MODELS), "bob converted again instead of pulling alice's results"
    assert set(statuses(second).values()) == {"cached"}
    assert '"step_started"' not in second.stdout
    assert digests(team, "bob") == digests(team, "alice")
    for name in MODELS:  # what bob published is what alice did, byte for byte
        for path in (team / "alice" / "out" / f"tinylib-{name}").iterdir():
            if path.name != "record.json":
                assert (team / "bob" / "out" / f"tinylib-{name}" / path.name).read_bytes() == path.read_bytes()


def test_credentials_never_reach_output_records_or_entries(team: Path, s3: S3Server) -> None:
    result = sync(team, "alice", s3.url())
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr and KEY_ID not in result.stdout + result.stderr
    for path in (team / "alice").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".txt", ""):
            text = path.read_bytes()
            assert SECRET.encode() not in text and KEY_ID.encode() not in text, path
    import boto3

    bucket = boto3.resource("s3", endpoint_url=s3.endpoint).Bucket("zoo-cache")
    for obj in bucket.objects.filter(Prefix="zoo/ac/"):
        body = obj.get()["Body"].read()
        assert SECRET.encode() not in body and KEY_ID.encode() not in body


def test_remote_down_during_a_sync_then_the_next_run_shares(team: Path, s3: S3Server) -> None:
    s3.stop()
    try:
        down = sync(team, "alice", s3.url())
        assert down.returncode == 0, down.stdout + down.stderr  # the work is done here, and said to be unshared
        assert "not shared with the remote" in down.stdout and "Traceback" not in down.stderr
        assert SECRET not in down.stdout + down.stderr
    finally:
        s3.restart()
    again = sync(team, "alice", s3.url())
    assert again.returncode == 0, again.stdout + again.stderr
    before = conversions(team)
    fresh = sync(team, "bob", s3.url())
    assert fresh.returncode == 0 and conversions(team) == before  # alice's results reached the remote


def test_a_corrupt_remote_blob_is_not_published_and_heals(team: Path) -> None:
    shared = team / "shared"
    assert sync(team, "alice", shared.as_uri()).returncode == 0
    record = read_record(team / "alice" / "out" / "tinylib-tiny8")
    assert record is not None
    onnx = next(o for o in record.steps["simplify"].outputs.values() if o.name.endswith(".onnx"))
    blob = shared / "cas" / "sha256" / onnx.digest[:2] / onnx.digest
    blob.chmod(0o644)
    blob.write_bytes(b"tampered" + blob.read_bytes()[8:])
    result = sync(team, "bob", shared.as_uri())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is corrupt" in result.stdout + result.stderr
    published = team / "bob" / "out" / "tinylib-tiny8" / onnx.name
    import hashlib

    assert hashlib.sha256(published.read_bytes()).hexdigest() == onnx.digest  # recomputed, not the tampered bytes
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == onnx.digest  # and the remote healed


def zoo(root: Path, client: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZOO_SOURCES": PLUGIN, "PYTHONPATH": str(ROOT), "ZOO_HOME": str(root / client / "store"),
           MARKERS_ENV: str(root / "markers")}
    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", "manifests", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


def test_push_then_pull_moves_results_explicitly(team: Path) -> None:
    shared = (team / "shared").as_uri()
    local = zoo(team, "alice", "sync", "--source", "tinylib", "--random-weights", "--out", str(team / "alice" / "out"))
    assert local.returncode == 0, local.stderr
    pushed = zoo(team, "alice", "push", "--remote", shared)
    assert pushed.returncode == 0 and "result(s) shared" in pushed.stdout, pushed.stderr
    again = zoo(team, "alice", "push", "--remote", shared)
    assert "0 result(s) shared" in again.stdout  # create-if-absent: nothing twice
    pulled = zoo(team, "bob", "pull", "--source", "tinylib", "--random-weights", "--remote", shared)
    assert pulled.returncode == 0 and "0 step(s) the remote does not have" in pulled.stdout, pulled.stdout + pulled.stderr
    before = conversions(team)
    offline = zoo(team, "bob", "sync", "--source", "tinylib", "--random-weights", "--out", str(team / "bob" / "out"))
    assert offline.returncode == 0 and "nothing to do" in offline.stdout + offline.stderr, offline.stdout
    assert conversions(team) == before


def test_store_verify_remote_removes_corrupt_blobs(team: Path) -> None:
    shared = team / "shared"
    assert sync(team, "alice", shared.as_uri()).returncode == 0
    blob = next(p for p in (shared / "cas").rglob("*") if p.is_file() and not p.name.startswith("."))
    blob.chmod(0o644)
    blob.write_bytes(b"rot")
    found = zoo(team, "alice", "store", "verify", "--remote", shared.as_uri())
    assert found.returncode == 1 and f"corrupt blob {blob.name}" in found.stderr and not blob.exists()
    clean = zoo(team, "alice", "store", "verify", "--remote", shared.as_uri())
    assert clean.returncode == 0 and "0 corrupt" in clean.stdout
