"""The shared remote cache tier: blobs and action entries on any fsspec URL (S3 in production).

It sits behind the local store the way a Bazel or DVC remote cache does:

- the layout mirrors the local store: `<prefix>/cas/sha256/ab/<digest>` and `<prefix>/ac/<key>.json`;
- every write is create-if-absent. On S3 it is a conditional PUT (`If-None-Match: *`); on a file
  system (`file://`, e.g. an NFS share) a temp file written in the target folder is hard-linked to
  its final name. Two writers therefore never corrupt each other: the second keeps the first's copy;
- blobs are pushed before the entry that names them, and a reader trusts an entry only once every
  blob it names exists, so nobody sees an entry whose blobs are missing. An S3 object appears whole
  when its PUT (or multipart upload) completes, and a hard link appears whole, so nobody sees half
  a blob either;
- every pulled blob is hashed while it streams and kept only if its digest matches.

Credentials come the standard way for the backend (for S3: the AWS environment variables and
config files, `AWS_ENDPOINT_URL` included). The URL is only ever shown redacted, and nothing
written here contains a credential. Transfers retry transient network errors with backoff, within
a deadline (`ZOO_REMOTE_TIMEOUT` seconds after an operation first fails, default 60).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from zoo.errors import RemoteError
from zoo.redaction import redact
from zoo.store.blobs import sha256_file

#: Environment variable naming the remote (the `--remote` option wins).
REMOTE_ENV = "ZOO_REMOTE"
#: Seconds an operation keeps retrying after its first failure.
TIMEOUT_ENV = "ZOO_REMOTE_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
#: Seconds an unreachable remote is taken as down before it is asked again.
_DOWN_FOR = 30.0
_CHUNK = 8 << 20
#: Multipart upload part size: parts go up concurrently, as `aws s3 cp` sends them.
_PART = 16 << 20
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 20.0
#: S3 clients: time out stuck connections instead of hanging (retries are ours, with a deadline).
_S3_CONFIG = {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 2, "mode": "standard"}}

Progress = Callable[[int], None]
T = TypeVar("T")


class CorruptBlob(RemoteError):
    """A remote blob's bytes do not hash to its name."""


class RemoteCache:
    """Blobs and action entries under one fsspec URL, written create-if-absent."""

    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        self.url = url
        self.label = redact(url)
        self.timeout = timeout if timeout is not None else float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
        self.fs, self.root = _filesystem(url, self.label)
        self.local = _is_local(self.fs)
        #: When the remote last failed to answer, and how (see `_retrying`).
        self._down: tuple[float, str] | None = None
        self._known_blobs: set[str] = set()
        self._known_entries: dict[str, bytes] = {}

    # ---------------------------------------------------------------- blobs
    def blob_path(self, digest: str) -> str:
        return f"{self.root}/cas/sha256/{digest[:2]}/{digest}"

    def has_blob(self, digest: str) -> bool:
        """Whether the remote holds the blob (a yes is remembered: blobs are never rewritten)."""
        if digest not in self._known_blobs:
            if not self._retrying(f"look up blob {digest[:12]}", lambda: bool(self.fs.exists(self.blob_path(digest)))):
                return False
            self._known_blobs.add(digest)
        return True

    def push_blob(self, digest: str, source: Path, progress: Progress | None = None) -> bool:
        """Upload `source` (whose sha256 is `digest`) unless the remote has it; say whether it uploaded."""
        if self.has_blob(digest):
            return False
        created = self._retrying(f"upload blob {digest[:12]}",
                                 lambda: self._create_from_file(source, self.blob_path(digest), progress))
        self._known_blobs.add(digest)
        return created

    def pull_blob(self, digest: str, dest: Path, progress: Progress | None = None) -> None:
        """Download a blob to `dest`, verifying its digest; nothing appears at `dest` unless it matches."""
        self._retrying(f"download blob {digest[:12]}", lambda: self._download(digest, dest, progress))

    def digests(self) -> Iterator[str]:
        """Every blob digest on the remote (for `zoo store verify --remote`)."""
        base = f"{self.root}/cas/sha256"
        paths = self._retrying("list blobs", lambda: self.fs.find(base) if self.fs.exists(base) else [])
        for path in sorted(paths):
            name = path.rsplit("/", 1)[-1]
            if len(name) == 64 and not name.startswith("."):
                yield name

    def blob_digest(self, digest: str) -> str:
        """The sha256 of the remote blob's bytes as they are now (for verification)."""
        def read() -> str:
            hasher = hashlib.sha256()
            with self.fs.open(self.blob_path(digest), "rb", block_size=_CHUNK) as handle:
                while chunk := handle.read(_CHUNK):
                    hasher.update(chunk)
            return hasher.hexdigest()

        return self._retrying(f"read blob {digest[:12]}", read)

    def remove_blob(self, digest: str) -> None:
        """Delete a blob (verify removes corrupt ones so that the next push replaces them)."""
        self._known_blobs.discard(digest)
        self._retrying(f"remove blob {digest[:12]}", lambda: self.fs.rm_file(self.blob_path(digest)))

    # --------------------------------------------------------------- entries
    def entry_path(self, key: str) -> str:
        return f"{self.root}/ac/{key}.json"

    def get_entry(self, key: str) -> bytes | None:
        """The stored action entry for `key` (JSON bytes), or None (a found one is remembered: entries
        are written once, so a plan's lookup and the run's need one request)."""
        def read() -> bytes | None:
            try:
                data: bytes = self.fs.cat_file(self.entry_path(key))
            except FileNotFoundError:
                return None
            return data

        if key not in self._known_entries:
            found = self._retrying(f"look up entry {key[:12]}", read)
            if found is None:
                return None
            self._known_entries[key] = found
        return self._known_entries[key]

    def put_entry(self, key: str, data: bytes) -> bool:
        """Store an action entry unless one exists; say whether this call created it.

        The caller pushes every blob the entry names first.
        """
        def create() -> bool:
            scratch = _scratch_file(data)
            try:
                return self._create_from_file(scratch, self.entry_path(key), None)
            finally:
                scratch.unlink(missing_ok=True)

        return self._retrying(f"store entry {key[:12]}", create)

    # ------------------------------------------------------------- plumbing
    def _create_from_file(self, source: Path, target: str, progress: Progress | None) -> bool:
        """Create `target` from `source` unless it exists (the create-if-absent write)."""
        if self.local:
            return _link_into_place(source, Path(target), progress)
        callback = _callback(progress)
        try:
            self.fs.put_file(str(source), target, mode="create", callback=callback, chunksize=_PART)
        except FileExistsError:
            return False
        return True

    def _download(self, digest: str, dest: Path, progress: Progress | None) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
        try:
            # one streaming GET (a file object would ask for every block separately), then one
            # hashing pass over the bytes, still in the page cache
            self.fs.get_file(self.blob_path(digest), str(tmp), callback=_callback(progress))
            got = sha256_file(tmp)[0]
            if got != digest:
                raise CorruptBlob(
                    f"blob {digest} on {self.label} is corrupt (its bytes hash to {got}); "
                    "it was not used. Run `zoo store verify --remote` to remove it; the next sync re-creates it"
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        """Run `operation`, retrying transient network errors with backoff for `timeout` seconds after
        the first failure. Once a remote has not answered, later operations in this process fail at
        once for a while (`_DOWN_FOR`), instead of each waiting out its own deadline."""
        if self._down is not None and time.monotonic() - self._down[0] < _DOWN_FOR:
            raise RemoteError(f"cannot {what}: {self._down[1]}")
        deadline: float | None = None
        failures = 0
        while True:
            try:
                result = operation()
                self._down = None
                return result
            except RemoteError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified by type just below
                failures += 1
                deadline = deadline or time.monotonic() + self.timeout
                delay = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (failures - 1)) * (0.5 + random.random() / 2)
                if not _transient(exc) or time.monotonic() + delay > deadline:
                    error = _explain(exc, what, self.label, failures)
                    if _transient(exc):
                        self._down = (time.monotonic(), str(error).split(": ", 1)[-1])
                    raise error from None
                time.sleep(delay)


def remote_from(option: str | None) -> RemoteCache | None:
    """The remote named by `--remote` or `$ZOO_REMOTE`, if any."""
    url = option or os.environ.get(REMOTE_ENV)
    return RemoteCache(url) if url else None


def _filesystem(url: str, label: str) -> tuple[Any, str]:
    """The fsspec file system and root path for `url`, with bounded S3 timeouts."""
    try:
        import fsspec
    except ImportError:
        raise RemoteError(f"the remote {label} needs fsspec: pip install 'zoo[dask]'") from None
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    options: dict[str, Any] = {"config_kwargs": _S3_CONFIG} if protocol in ("s3", "s3a") else {}
    options["skip_instance_cache"] = True  # fsspec caches by URL; a changed endpoint or credential must count
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        raise RemoteError(f"the remote {label} needs a package that is missing ({exc}); "
                          "for S3: pip install 'zoo[dask]'") from None
    except (ValueError, TypeError) as exc:
        raise RemoteError(f"the remote {label} is not a usable fsspec URL: {exc}; "
                          "use s3://bucket/prefix or file:///shared/folder") from None
    return fs, str(root).rstrip("/")


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def _link_into_place(source: Path, target: Path, progress: Progress | None) -> bool:
    """Copy to a temp file beside `target`, then hard-link it to `target` (fails if it exists)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        shutil.copyfile(source, tmp)
        if progress is not None:
            progress(tmp.stat().st_size)
        os.link(tmp, target)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _scratch_file(data: bytes) -> Path:
    import tempfile

    fd, name = tempfile.mkstemp(prefix="zoo-entry-", suffix=".json")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return Path(name)


def _callback(progress: Progress | None) -> Any:
    from fsspec.callbacks import Callback, NoOpCallback

    if progress is None:
        return NoOpCallback()
    report = progress

    class _Relay(Callback):
        def relative_update(self, inc: int = 1) -> None:
            report(inc)

    return _Relay()


def _transient(exc: BaseException) -> bool:
    """Whether an exception from a transfer is worth retrying (network trouble, not a refusal)."""
    if isinstance(exc, (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return isinstance(exc, _network_error_types())


def _network_error_types() -> tuple[type[BaseException], ...]:
    """Connection-level exception classes of the S3 client stack, when it is installed."""
    types: list[type[BaseException]] = []
    try:
        import botocore.exceptions as boto

        types += [boto.ConnectionError, boto.HTTPClientError]
    except ImportError:
        pass
    try:
        import aiohttp

        types.append(aiohttp.ClientError)
    except ImportError:
        pass
    return tuple(types)


def _explain(exc: BaseException, what: str, label: str, attempts: int) -> RemoteError:
    """A message that says what failed, where, and what to do, without echoing credentials."""
    from zoo.redaction import redact_text

    if isinstance(exc, PermissionError) or type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        todo = "check the credentials (for S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials)"
    elif _transient(exc):
        todo = f"the remote did not answer after {attempts} attempt(s); check the network and try again"
    else:
        todo = "check the remote URL and that the bucket or folder exists"
    detail = redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return RemoteError(f"cannot {what} on the remote {label}: {detail} ({todo})")
