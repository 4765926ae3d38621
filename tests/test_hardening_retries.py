"""Retries are counted honestly: only bytes kept for the next attempt are progress, so a server
that makes every attempt start over runs out of retries, and the message says what it did. A
partial download the server gzip-encoded never poisons later runs."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.fault_server import Fault, FaultServer
from zoo.errors import FetchError
from zoo.store.fetch import download
from zoo.store.fetch.download import fetch

DATA = os.urandom(200_000)
SHA = hashlib.sha256(DATA).hexdigest()
FAST = {"timeout": (2.0, 2.0)}


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Back off in milliseconds, so that a test sees many attempts in well under a second."""
    monkeypatch.setattr(download, "BACKOFF_BASE", 0.005)


def give_up(url: str, dest: Path, **options: object) -> str:
    with pytest.raises(FetchError) as caught:
        fetch(url, dest, retries=3, **FAST, **options)  # type: ignore[arg-type]
    return str(caught.value)


def test_a_server_that_drops_and_ignores_range_runs_out_of_retries(fault_server: FaultServer,
                                                                   tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=50_000, ignore_range=True, times=None))
    message = give_up(url, tmp_path / "w.pth", sha256=SHA)
    assert len(fault_server.requests("/w.pth")) == 5  # one that kept bytes, then 1 + 3 retries that kept none
    assert "answered a Range request with the whole file" in message
    assert "gave up after 5 attempt(s), the last 4 adding no bytes that could be kept" in message


def test_a_server_that_sends_the_wrong_range_runs_out_of_retries(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=50_000), Fault(wrong_range=True, drop_after=50_000, times=None))
    message = give_up(url, tmp_path / "w.pth", sha256=SHA)
    assert len(fault_server.requests("/w.pth")) <= 5
    assert "sent a different range than asked" in message


def test_a_server_without_validator_runs_out_of_retries(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA, etag=False, last_modified=False)
    fault_server.fault("/w.pth", Fault(drop_after=50_000, times=None))
    message = give_up(url, tmp_path / "w.pth")
    assert len(fault_server.requests("/w.pth")) == 4
    assert all(r.range is None for r in fault_server.requests("/w.pth"))
    assert "gave no ETag or Last-Modified" in message


def test_real_progress_keeps_a_download_going(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=30_000, times=None))
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, retries=1, **FAST)
    assert result.sha256 == SHA and result.attempts == 7  # each attempt kept 30 kB more


def test_a_gzip_encoded_partial_is_never_resumed(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(gzip=True, drop_after=100_000))
    with pytest.raises(FetchError):
        fetch(url, tmp_path / "w.pth", sha256=SHA, retries=0, **FAST)
    assert json.loads((tmp_path / "w.pth.part.json").read_text())["encoding"] == "gzip"
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)  # the next run starts over, and succeeds
    assert result.sha256 == SHA and result.resumed_bytes == 0
    assert fault_server.requests("/w.pth")[-1].range is None


def test_a_partial_whose_encoding_is_unknown_is_discarded(fault_server: FaultServer, tmp_path: Path) -> None:
    """A `.part` left by an older zoo, whose sidecar does not say how its bytes were encoded."""
    url = fault_server.add("/w.pth", DATA)
    (tmp_path / "w.pth.part").write_bytes(b"\x1f\x8b" + bytes(1000))
    (tmp_path / "w.pth.part.json").write_text(json.dumps({"url": url, "sha256": SHA, "validator": None}))
    assert fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST).resumed_bytes == 0
    assert fault_server.requests("/w.pth")[-1].range is None


def test_an_encoded_partial_answer_is_not_appended(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drop_after=50_000), Fault(gzip=True))
    result = fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    ranges = [r.range for r in fault_server.requests("/w.pth")]
    assert result.sha256 == SHA and ranges == [None, "bytes=50000-", None]


def test_the_retry_count_comes_from_the_environment(fault_server: FaultServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(status=503, times=None))
    monkeypatch.setenv("ZOO_FETCH_RETRIES", "1")
    with pytest.raises(FetchError, match="HTTP 503.*gave up after 2 attempt"):
        fetch(url, tmp_path / "w.pth", **FAST)
    assert len(fault_server.requests("/w.pth")) == 2
