"""Resources stay bounded whatever the other side does: a server's endless or over-announced body,
a dripping server with no end in sight, and archives that expand far beyond their size. Limits are
small here (environment variables and parameters), so nothing big is ever sent."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from tests.fault_server import Fault, FaultServer
from zoo.errors import FetchError
from zoo.store.fetch.archive import safe_extract
from zoo.store.fetch.download import fetch
from zoo.store.fetch.limits import Limits

DATA = os.urandom(200_000)
SHA = hashlib.sha256(DATA).hexdigest()
FAST = {"timeout": (2.0, 2.0)}


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_an_endless_body_for_a_sha_only_pin_stops_at_the_ceiling(fault_server: FaultServer, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(endless=True, times=None))
    monkeypatch.setenv("ZOO_MAX_DOWNLOAD_BYTES", "1000000")
    with pytest.raises(FetchError) as caught:
        fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    message = str(caught.value)
    assert url in message and "1000000-byte download ceiling" in message and "ZOO_MAX_DOWNLOAD_BYTES" in message
    assert fault_server.requests("/w.pth")[0].sent < 20_000_000  # the client hung up (socket buffers hold a few MB)
    assert len(fault_server.requests("/w.pth")) == 1 and no_leftovers(tmp_path)


def test_an_announced_length_over_the_ceiling_is_refused_before_reading(fault_server: FaultServer,
                                                                        tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(announce=10**12, drop_after=0))
    with pytest.raises(FetchError, match="announces 1000000000000 bytes, over the 100000-byte"):
        fetch(url, tmp_path / "w.pth", limits=Limits(max_bytes=100_000), **FAST)
    assert no_leftovers(tmp_path)


def test_a_pinned_size_over_the_ceiling_is_refused_without_a_request(fault_server: FaultServer,
                                                                     tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    with pytest.raises(FetchError, match="ZOO_MAX_DOWNLOAD_BYTES"):
        fetch(url, tmp_path / "w.pth", size=len(DATA), limits=Limits(max_bytes=1000), **FAST)
    assert fault_server.requests() == []


def test_a_dripping_server_meets_the_deadline(fault_server: FaultServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(drip=0.1, times=None))
    monkeypatch.setenv("ZOO_DOWNLOAD_DEADLINE", "0.6")
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch(url, tmp_path / "w.pth", sha256=SHA, **FAST)
    assert time.monotonic() - started < 1.5
    assert "0.6 s deadline" in str(caught.value) and "ZOO_DOWNLOAD_DEADLINE" in str(caught.value)
    assert (tmp_path / "w.pth.part").stat().st_size > 0  # what arrived is kept: the next run resumes it


def test_a_stall_and_retries_end_at_the_deadline(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/w.pth", DATA)
    fault_server.fault("/w.pth", Fault(status=503, retry_after="1", times=None))
    started = time.monotonic()
    with pytest.raises(FetchError, match="0.5 s deadline"):
        fetch(url, tmp_path / "w.pth", retries=100, limits=Limits(deadline=0.5), **FAST)
    assert time.monotonic() - started < 1.5


def test_a_bad_limit_setting_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_DOWNLOAD_DEADLINE", "soon")
    with pytest.raises(FetchError, match=r"\$ZOO_DOWNLOAD_DEADLINE is 'soon'; it must be a positive number"):
        fetch("http://127.0.0.1:9/w.pth", tmp_path / "w.pth")


# -- archives ------------------------------------------------------------------------------------------------

ZEROS = 4 << 20


def zeros_tar_gz(path: Path, members: int = 1, size: int = ZEROS) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for i in range(members):
            info = tarfile.TarInfo(f"zeros{i}.bin")
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    return path


def test_a_compression_bomb_is_refused_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = zeros_tar_gz(tmp_path / "bomb.tar.gz")
    assert bomb.stat().st_size < 10_000
    monkeypatch.setenv("ZOO_MAX_UNPACK_RATIO", "10")
    with pytest.raises(FetchError, match="expands more than 10 times its own size.*ZOO_MAX_UNPACK_RATIO"):
        safe_extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["bomb.tar.gz"]


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_the_unpacked_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    if kind == "tar":
        archive = zeros_tar_gz(tmp_path / "big.tar.gz")
    else:
        archive = tmp_path / "big.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("zeros.bin", bytes(ZEROS))
    monkeypatch.setenv("ZOO_MAX_UNPACK_BYTES", str(1 << 20))
    with pytest.raises(FetchError, match=f"{archive.name}: it expands to more than 1048576 bytes.*ZOO_MAX_UNPACK_BYTES"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_member_count_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = zeros_tar_gz(tmp_path / "many.tar.gz", members=20, size=1)
    monkeypatch.setenv("ZOO_MAX_ARCHIVE_MEMBERS", "10")
    with pytest.raises(FetchError, match="more than 10 members.*ZOO_MAX_ARCHIVE_MEMBERS"):
        safe_extract(archive, tmp_path / "out")
    monkeypatch.setenv("ZOO_MAX_ARCHIVE_MEMBERS", "20")
    assert len(list(safe_extract(archive, tmp_path / "out").iterdir())) == 20


def test_an_ordinary_archive_unpacks_within_the_defaults(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("inference.pdiparams")
        info.size = len(DATA)
        tar.addfile(info, io.BytesIO(DATA))
    assert (safe_extract(archive, tmp_path / "out") / "inference.pdiparams").read_bytes() == DATA
