"""Content-addressed blobs: file contents named by their sha256.

`BlobStore` is what the pipeline needs from any tier (local folder, or a remote one over
fsspec): ask whether a digest is there, add content, stream it back, enumerate and remove.
`materialise(digest, dest)` is the only way a file leaves the store, so that no caller ever
holds a path inside it.

`LocalBlobStore` keeps blobs under `cas/sha256/ab/<digest>`, read-only. Every blob is written
as a temp file in the same folder and renamed into place, so a reader sees the whole blob or
nothing, whatever happens to the writer.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from zoo.errors import StoreError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex digest, size) of a file, read in 1 MiB chunks."""
    return sha256_stream(path.open("rb"))


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """(sha256 hex digest, size) of a stream read to its end; closes it."""
    digest = hashlib.sha256()
    size = 0
    with stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class BlobStore(Protocol):
    """Blobs by sha256 digest; implementations must be safe for concurrent writers."""

    def has(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int: ...

    def put_file(self, path: Path, *, move: bool = False) -> tuple[str, int]:
        """Add a file's content; return (digest, size). `move` hands the file itself over."""
        ...

    def put_bytes(self, data: bytes) -> tuple[str, int]: ...

    def put_stream(self, source: BinaryIO) -> tuple[str, int]: ...

    def open(self, digest: str) -> BinaryIO:
        """The blob's bytes as a stream (for checks; files leave the store by `materialise`)."""
        ...

    def materialise(self, digest: str, dest: Path) -> None:
        """Make `dest` hold the blob, atomically; leave it alone if it already does."""
        ...

    def digests(self) -> Iterator[str]: ...

    def remove(self, digest: str) -> None: ...


class LocalBlobStore:
    """Blobs in a folder of the local file system (`<root>/cas/sha256/ab/<digest>`)."""

    def __init__(self, root: Path):
        self.folder = root / "cas" / "sha256"

    def _path(self, digest: str) -> Path:
        return self.folder / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def size(self, digest: str) -> int:
        return self._path(digest).stat().st_size

    def open(self, digest: str) -> BinaryIO:
        return self._path(digest).open("rb")

    def digests(self) -> Iterator[str]:
        if self.folder.is_dir():
            for folder in sorted(self.folder.iterdir()):
                if folder.is_dir():
                    yield from sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    def remove(self, digest: str) -> None:
        self._path(digest).unlink(missing_ok=True)

    def set_aside(self, digest: str, folder: Path) -> None:
        """Move a blob out of the store into `folder` (corrupt bytes kept for a person to look at)."""
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(self._path(digest), folder / f"{digest}.{int(time.time())}")

    def temp_files(self) -> list[Path]:
        """Temp files of writers that were killed (for `gc`)."""
        return [*self.folder.glob(".*.tmp"), *self.folder.glob("*/.*.tmp")]

    def put_file(self, path: Path, *, move: bool = False) -> tuple[str, int]:
        if move:
            digest, size = sha256_file(path)
            target = self._path(digest)
            if target.exists():
                path.unlink()
                return digest, size
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                path.chmod(0o444)
                os.replace(path, target)
                return digest, size
            except OSError:
                pass  # another file system: fall back to a copy
        with open(path, "rb") as source:
            return self.put_stream(source)

    def adopt(self, path: Path, digest: str) -> None:
        """Move in a file whose sha256 the caller has just verified to be `digest` (a verified
        download), without reading it again. `path` must be on the store's file system."""
        target = self._path(digest)
        if target.exists():
            path.unlink()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        path.chmod(0o444)
        os.replace(path, target)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        return self.put_stream(io.BytesIO(data))

    def put_stream(self, source: BinaryIO) -> tuple[str, int]:
        """Copy a stream into a temp file beside the blobs, hashing as it goes, then name it by digest."""
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".incoming-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            target = self._path(digest.hexdigest())
            if target.exists():
                os.unlink(tmp)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o444)
                os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return digest.hexdigest(), size

    def materialise(self, digest: str, dest: Path) -> None:
        """Make `dest` hold the blob: a hard link where possible, else a copy; never half-written.

        A `dest` that is the blob itself (the same inode) or a copy whose bytes hash to `digest`
        is left alone; size and modification time prove nothing, so they are never trusted.
        """
        blob = self._path(digest)
        if not blob.is_file():
            raise StoreError(f"blob {digest} is missing from the store {self.folder}; run `zoo sync` again")
        if _holds(dest, blob, digest):
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        try:
            try:
                os.link(blob, tmp)
            except OSError:
                shutil.copyfile(blob, tmp)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _holds(dest: Path, blob: Path, digest: str) -> bool:
    """Whether `dest` already has the blob's content: the same file, or a copy with its digest."""
    try:
        found, wanted = dest.stat(), blob.stat()
    except OSError:
        return False
    if (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
        return True
    return found.st_size == wanted.st_size and sha256_file(dest)[0] == digest
