"""`zoo doctor`: versions and how to install what is missing, the torch build, the store, and
whether the weight hosts answer (a real server on 127.0.0.1 and a closed port), within bounds."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from tests.factories import run_zoo, write_tiny_manifest
from tests.fault_server import FaultServer


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_doctor_reports_versions_store_and_which_hosts_answer(tmp_path: Path, fault_server: FaultServer) -> None:
    answering = fault_server.url("/w.pth")
    silent = f"http://127.0.0.1:{closed_port()}"
    write_tiny_manifest(tmp_path / "manifests", ["m"],
                        extra=f"  weights: {{url: '{answering}', format: pth, mirrors: ['{silent}/w.pth']}}")
    (tmp_path / "store" / "blobs").mkdir(parents=True)
    (tmp_path / "store" / "blobs" / "b").write_bytes(b"x" * 1000)
    started = time.monotonic()
    result = run_zoo("doctor", "--json", cwd=tmp_path)
    assert time.monotonic() - started < 60 and result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"python", "zoo", "platform", "packages", "torch", "store", "remote", "executor", "hosts"} <= set(report)
    torch = next(p for p in report["packages"] if p["name"] == "torch")
    assert torch["extra"] == "torchvision" and torch["version"] and torch["install"] is None
    assert report["torch"] in ("cpu",) or report["torch"].startswith("cuda ")
    assert report["store"] == {"path": str(tmp_path / "store"), "exists": True, "bytes": 1000, "files": 1}
    answers = {h["host"]: h["answers"] for h in report["hosts"] if "127.0.0.1" in h["host"]}  # + the shipped zoo's
    assert answers == {answering.removesuffix("/w.pth"): True, silent: False}


def test_doctor_offline_asks_no_host_and_prints_people_lines(tmp_path: Path) -> None:
    write_tiny_manifest(tmp_path / "manifests", ["m"], weights_url="https://example.invalid/w.pth")
    result = run_zoo("doctor", "--offline", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "torch build: " in result.stdout and "weights host" not in result.stdout
    assert "store: " in result.stdout and "(not created yet)" in result.stdout
