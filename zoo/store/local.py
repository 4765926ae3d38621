"""The local artifact store: content-addressed blobs plus an action cache.

Layout under the store root ($ZOO_HOME, default ~/.cache/zoo, or --store DIR):

    cas/sha256/ab/<digest>   file contents, named by their sha256 (read-only)
    ac/<key>.json            action cache: step key -> output digests, metrics, warnings, versions
    ac/last/<stem>-<kind>.json   the key and ingredients of the last result of each model step,
                                 so that `zoo plan` can say *what* changed
    locks/<key>.lock         one lock per key: two processes never compute the same step twice
    locks/maintenance.db     shared by runs, exclusive for `verify` and `gc`
    work/<key>/              scratch folder of a step while it runs (deleted afterwards)
    downloads/               downloads in progress (kept so that an interrupted fetch resumes)
                             and files `zoo lock` fetched, until a sync adopts them
    quarantine/              blobs `verify` found corrupted (moved aside, never served again)

Every file is published by writing a temp file in the same folder and `os.replace`-ing it,
so a reader sees either nothing or the whole file, whatever happens to the writer. Blobs are
written before the action entry that names them, and an entry whose blobs are missing counts
as absent; a crash at any moment therefore leaves a store that the next run simply completes.

Runs hold the store's maintenance lock in shared mode; `verify` and `gc` take it exclusively,
so they never move a blob out from under a running sync.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.atomic import atomic_writer
from zoo.errors import StoreError
from zoo.pipeline.record import OutputFile, read_records

#: Environment variable naming the store root.
STORE_ENV = "ZOO_HOME"
_CHUNK = 1 << 20
#: The process's umask, read once (reading it means setting it, which is not thread-safe).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def default_root() -> Path:
    """$ZOO_HOME, else ~/.cache/zoo."""
    env = os.environ.get(STORE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "zoo"


class ActionEntry(BaseModel):
    """What one step computed for one cache key. `ingredients` is what the key was hashed from."""

    model_config = ConfigDict(extra="forbid")

    key: str
    kind: str
    ingredients: dict[str, Any]
    outputs: dict[str, OutputFile] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    tool_versions: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0


class LastResult(BaseModel):
    """The key and ingredients a model step had when it last completed (for explanations)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    ingredients: dict[str, Any]


@dataclass
class VerifyReport:
    blobs: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)
    #: Action entries dropped because a blob they name is corrupt or missing.
    dropped_entries: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.dropped_entries


@dataclass
class GcReport:
    removed_blobs: int = 0
    freed_bytes: int = 0
    removed_entries: int = 0
    kept_blobs: int = 0
    removed_scratch: int = 0


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex digest, size) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class Store:
    """A store rooted at one folder; safe to share between processes on one machine."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.cas = self.root / "cas" / "sha256"
        self.ac = self.root / "ac"
        self.last = self.ac / "last"
        self.locks = self.root / "locks"
        self.work = self.root / "work"
        self.downloads = self.root / "downloads"
        self.quarantine = self.root / "quarantine"

    # ----------------------------------------------------------------- blobs
    def blob_path(self, digest: str) -> Path:
        return self.cas / digest[:2] / digest

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def put_file(self, path: Path, *, move: bool = False) -> tuple[str, int]:
        """Add a file's content; return (digest, size). `move` gives the file itself to the store."""
        if move:
            digest, size = sha256_file(path)
            target = self.blob_path(digest)
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
            return self._put_stream(source)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        import io

        return self._put_stream(io.BytesIO(data))

    def _put_stream(self, source: IO[bytes]) -> tuple[str, int]:
        """Copy a stream into a temp file in the CAS, hashing as it goes, then name it by digest."""
        self.cas.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.cas, prefix=".incoming-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            target = self.blob_path(digest.hexdigest())
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
        """Make `dest` hold the blob: a hard link where possible, else a copy; never half-written."""
        blob = self.blob_path(digest)
        if not blob.is_file():
            raise StoreError(f"blob {digest} is missing from the store {self.root}; run `zoo sync` again")
        with contextlib.suppress(OSError):
            if os.path.samefile(blob, dest):
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

    # --------------------------------------------------------- action cache
    def action_path(self, key: str) -> Path:
        return self.ac / f"{key}.json"

    def get_action(self, key: str) -> ActionEntry | None:
        """The cached result for `key`, or None if absent, unreadable or missing a blob."""
        try:
            entry = ActionEntry.model_validate_json(self.action_path(key).read_bytes())
        except (OSError, ValidationError, ValueError):
            return None
        if all(self.has_blob(out.digest) for out in entry.outputs.values()):
            return entry
        return None

    def put_action(self, entry: ActionEntry) -> None:
        missing = [o.name for o in entry.outputs.values() if not self.has_blob(o.digest)]
        if missing:
            raise StoreError(f"refusing to cache {entry.kind} {entry.key[:12]}: blobs missing for {missing}")
        with atomic_writer(self.action_path(entry.key)) as handle:
            handle.write(entry.model_dump_json(indent=1))

    def entries(self) -> Iterator[tuple[Path, ActionEntry | None]]:
        """Every action entry file with its parsed content (None if unreadable)."""
        for path in sorted(self.ac.glob("*.json")):
            try:
                yield path, ActionEntry.model_validate_json(path.read_bytes())
            except (OSError, ValidationError, ValueError):
                yield path, None

    def last_result(self, stem: str, kind: str) -> LastResult | None:
        return _read_last(self.last / f"{stem}-{kind}.json")

    def set_last_result(self, stem: str, kind: str, key: str, ingredients: dict[str, Any]) -> None:
        path = self.last / f"{stem}-{kind}.json"
        text = LastResult(key=key, ingredients=ingredients).model_dump_json(indent=1)
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8") == text:
                return
        with atomic_writer(path) as handle:
            handle.write(text)

    # ---------------------------------------------------------------- locks
    def key_lock(self, key: str, timeout: float = -1) -> Any:
        """An exclusive cross-process lock for one cache key (use as a context manager)."""
        from filelock import FileLock

        self.locks.mkdir(parents=True, exist_ok=True)
        return FileLock(self.locks / f"{key}.lock", timeout=timeout, thread_local=False)

    def _maintenance_lock(self) -> Any:
        from filelock import ReadWriteLock

        self.locks.mkdir(parents=True, exist_ok=True)
        return ReadWriteLock(self.locks / "maintenance.db", is_singleton=False)

    @contextlib.contextmanager
    def session(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the store in shared mode for a run, so `verify`/`gc` wait until it ends."""
        from filelock import Timeout

        lock = self._maintenance_lock()
        try:
            try:
                lock.acquire_read(blocking=False)
            except Timeout:
                if on_wait is not None:
                    on_wait()
                lock.acquire_read()
            try:
                yield
            finally:
                lock.release()
        finally:
            lock.close()

    @contextlib.contextmanager
    def _exclusive(self, what: str) -> Iterator[None]:
        from filelock import Timeout

        lock = self._maintenance_lock()
        try:
            with lock.write_lock(blocking=False):
                yield
        except Timeout:
            raise StoreError(
                f"cannot {what} {self.root}: a `zoo sync` or another maintenance command is using it; "
                "try again when it has finished"
            ) from None
        finally:
            lock.close()

    def workdir(self, key: str) -> Path:
        """A fresh scratch folder for the step with `key` (caller holds the key's lock)."""
        path = self.work / key
        if path.exists():
            shutil.rmtree(path)  # left by a run that was killed
        path.mkdir(parents=True)
        return path

    # ---------------------------------------------------------- maintenance
    def blobs(self) -> Iterator[Path]:
        if self.cas.is_dir():
            for folder in sorted(self.cas.iterdir()):
                if folder.is_dir():
                    yield from sorted(p for p in folder.iterdir() if not p.name.startswith("."))

    def verify(self, on_blob: Callable[[int], None] | None = None) -> VerifyReport:
        """Re-hash every blob; move corrupt ones to quarantine and drop the entries naming them.

        The next `zoo sync` then recomputes exactly what was lost.
        """
        report = VerifyReport()
        with self._exclusive("verify"):
            for blob in self.blobs():
                digest, size = sha256_file(blob)
                report.blobs += 1
                report.bytes += size
                if on_blob is not None:
                    on_blob(size)
                if digest != blob.name:
                    report.corrupt.append(blob.name)
                    self.quarantine.mkdir(parents=True, exist_ok=True)
                    os.replace(blob, self.quarantine / f"{blob.name}.{int(time.time())}")
            for path, entry in self.entries():
                if entry is None or not all(self.has_blob(o.digest) for o in entry.outputs.values()):
                    report.dropped_entries.append(path.stem)
                    path.unlink()
        return report

    def gc(self, record_folders: Iterable[Path] = (), *, dry_run: bool = False) -> GcReport:
        """Remove what nothing refers to.

        Kept: the action entries of the last result of every model step (`ac/last`) and of every
        record found in `record_folders`, plus the blobs they and those records name. Removed:
        every other entry and blob, scratch folders, partial downloads and stray temp files.
        """
        report = GcReport()
        with self._exclusive("collect garbage in"):
            keep_keys: set[str] = set()
            keep_digests: set[str] = set()
            for path in self.last.glob("*.json"):
                last = _read_last(path)
                if last is not None:
                    keep_keys.add(last.key)
            for folder in record_folders:
                for record in read_records(folder).values():
                    for step in record.steps.values():
                        keep_keys.add(step.key)
                        keep_digests.update(o.digest for o in step.outputs.values())
            for path, entry in self.entries():
                if entry is not None and entry.key in keep_keys:
                    keep_digests.update(o.digest for o in entry.outputs.values())
                else:
                    report.removed_entries += 1
                    if not dry_run:
                        path.unlink()
            for blob in self.blobs():
                if blob.name in keep_digests:
                    report.kept_blobs += 1
                    continue
                report.removed_blobs += 1
                report.freed_bytes += blob.stat().st_size
                if not dry_run:
                    blob.unlink()
            scratch = [*self._children(self.work), *self._children(self.downloads), *self.locks.glob("*.lock")]
            scratch += [p for folder in (self.cas, self.ac, self.last) for p in folder.glob(".*.tmp")]
            scratch += list(self.cas.glob("*/.*.tmp"))
            for path in scratch:
                report.removed_scratch += 1
                if not dry_run:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        return report

    @staticmethod
    def _children(folder: Path) -> list[Path]:
        return sorted(folder.iterdir()) if folder.is_dir() else []


def _read_last(path: Path) -> LastResult | None:
    try:
        return LastResult.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None
