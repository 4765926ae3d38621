"""The remote cache tier against a real moto S3 server and a real shared folder (file://)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3_server import KEY_ID, SECRET, S3Server
from zoo.errors import RemoteError
from zoo.store.remote import RemoteCache


@pytest.fixture(params=["file", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RemoteCache]:
    if request.param == "file":
        yield RemoteCache((tmp_path / "shared").as_uri())
        return
    server: S3Server = request.getfixturevalue("s3")
    yield RemoteCache(server.url(), timeout=20)


def blob(tmp_path: Path, data: bytes, name: str = "blob.bin") -> tuple[str, Path]:
    path = tmp_path / name
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), path


def test_blob_round_trip_is_create_if_absent(remote: RemoteCache, tmp_path: Path) -> None:
    data = os.urandom((9 << 20) + 5)  # more than one transfer chunk
    digest, path = blob(tmp_path, data)
    assert not remote.has_blob(digest)
    seen: list[int] = []
    assert remote.push_blob(digest, path, progress=seen.append) is True
    assert sum(seen) == len(data)
    assert remote.has_blob(digest)
    other_digest, other = blob(tmp_path, b"different bytes", "other.bin")
    assert remote.push_blob(digest, path) is False  # already there: nothing uploaded
    assert remote.put_entry("k" * 64, b'{"first": true}') is True
    assert remote.put_entry("k" * 64, b'{"second": true}') is False  # the first writer wins
    assert remote.get_entry("k" * 64) == b'{"first": true}'
    assert remote.get_entry("0" * 64) is None
    pulled = tmp_path / "pulled" / "x.bin"
    remote.pull_blob(digest, pulled)
    assert pulled.read_bytes() == data
    assert list(remote.digests()) == [digest]
    assert remote.blob_digest(digest) == digest
    assert other_digest not in set(remote.digests()) and other.exists()


def test_corrupt_remote_blob_is_refused_and_leaves_nothing(remote: RemoteCache, tmp_path: Path) -> None:
    digest, path = blob(tmp_path, b"honest bytes" * 1000)
    remote.push_blob(digest, path)
    _overwrite(remote, digest, b"tampered bytes" * 1000)
    dest = tmp_path / "out" / "x.bin"
    with pytest.raises(RemoteError, match=f"blob {digest} on .* is corrupt.*zoo store verify --remote"):
        remote.pull_blob(digest, dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    assert remote.blob_digest(digest) != digest
    remote.remove_blob(digest)
    assert not remote.has_blob(digest)


def test_concurrent_writers_never_corrupt_each_other(tmp_path: Path) -> None:
    remote = RemoteCache((tmp_path / "shared").as_uri())
    data = os.urandom(4 << 20)
    digest, path = blob(tmp_path, data)
    created: list[bool] = []
    barrier = threading.Barrier(4)

    def push() -> None:
        barrier.wait()
        created.append(remote._create_from_file(path, remote.blob_path(digest), None))

    threads = [threading.Thread(target=push) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created) == [False, False, False, True]
    assert Path(remote.blob_path(digest)).read_bytes() == data
    assert [p.name for p in Path(remote.blob_path(digest)).parent.iterdir()] == [digest]  # no temp left


def test_unreachable_server_is_a_bounded_clear_error_without_credentials(s3: S3Server, tmp_path: Path) -> None:
    remote = RemoteCache(s3.url(), timeout=3)
    digest, path = blob(tmp_path, b"x" * 100)
    s3.stop()
    start = time.monotonic()
    try:
        with pytest.raises(RemoteError) as caught:
            remote.push_blob(digest, path)
        assert time.monotonic() - start < 30
        message = str(caught.value)
        assert "s3://zoo-cache/zoo" in message and "attempt" in message
        assert SECRET not in message and KEY_ID not in message
        with pytest.raises(RemoteError, match="did not answer"):  # later calls fail at once, not after a deadline
            remote.has_blob(digest)
        assert time.monotonic() - start < 30
    finally:
        s3.restart()
    assert RemoteCache(s3.url(), timeout=3).push_blob(digest, path) is True  # the next run completes


def test_missing_bucket_says_what_to_check(s3: S3Server, tmp_path: Path) -> None:
    remote = RemoteCache("s3://no-such-bucket/zoo", timeout=5)
    with pytest.raises(RemoteError, match="no-such-bucket.*bucket or folder exists") as caught:
        remote.push_blob(*blob(tmp_path, b"y"))
    assert SECRET not in str(caught.value)


def test_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(RemoteError, match="not a usable fsspec URL|missing"):
        RemoteCache("nosuchscheme://bucket/zoo")


def _overwrite(remote: RemoteCache, digest: str, data: bytes) -> None:
    """Replace a remote blob's bytes behind zoo's back (a disk error, or a hostile writer)."""
    path = remote.blob_path(digest)
    if remote.local:
        Path(path).chmod(0o644)
        Path(path).write_bytes(data)
    else:
        remote.fs.pipe_file(path, data)


def test_server_stopped_mid_upload_leaves_nothing_visible(s3: S3Server, tmp_path: Path) -> None:
    """A multipart upload cut off by the server going away is never visible; after a restart it completes."""
    remote = RemoteCache(s3.url(), timeout=2)
    digest, path = blob(tmp_path, os.urandom(96 << 20))  # several 16 MiB parts
    started = threading.Event()
    outcome: list[BaseException | bool] = []

    def push() -> None:
        try:
            outcome.append(remote.push_blob(digest, path, progress=lambda n: started.set()))
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    worker = threading.Thread(target=push)
    worker.start()
    started.wait(60)
    s3.stop()
    worker.join(120)
    try:
        assert outcome and (outcome[0] is True or isinstance(outcome[0], RemoteError)), outcome
    finally:
        s3.restart()
    fresh = RemoteCache(s3.url(), timeout=10)
    if fresh.has_blob(digest):  # the upload won the race: then it is whole
        assert fresh.blob_digest(digest) == digest
    else:
        assert fresh.push_blob(digest, path) is True
    assert fresh.blob_digest(digest) == digest
    assert [d for d in fresh.digests()] == [digest]
