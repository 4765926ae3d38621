"""The local store: blobs, action cache and locks in one folder, plus the scratch areas runs use.

Layout under the store root ($ZOO_HOME, default ~/.cache/zoo, or --store DIR):

    cas/sha256/ab/<digest>   file contents, named by their sha256 (read-only)     `blobs`
    ac/<key>.json, ac/last/  action cache and last result per model step          `actions`
    locks/                   one lock per cache key, and the session lock         `locks`
    work/<key>/              scratch folder of a step while it runs (deleted afterwards)
    downloads/               downloads in progress (kept so that an interrupted fetch resumes)
                             and files `zoo lock` fetched, until a sync adopts them
    quarantine/              blobs `verify` found corrupted (moved aside, never served again)

A remote tier (a shared cache over fsspec) would implement the same `BlobStore` and
`ActionCache` interfaces and sit behind this one: look up here, then there; push blobs first,
the action entry last.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import StoreError
from zoo.store.actions import LocalActionCache
from zoo.store.blobs import LocalBlobStore, sha256_stream
from zoo.store.locks import LockBusy, StoreLocks

#: Environment variable naming the store root.
STORE_ENV = "ZOO_HOME"


def default_root() -> Path:
    """$ZOO_HOME, else ~/.cache/zoo."""
    env = os.environ.get(STORE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "zoo"


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


class LocalStore:
    """A store rooted at one folder; safe to share between processes on one machine."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.blobs = LocalBlobStore(self.root)
        self.actions = LocalActionCache(self.root / "ac", self.blobs)
        self.locks = StoreLocks(self.root / "locks")
        self.work = self.root / "work"
        self.downloads = self.root / "downloads"
        self.quarantine = self.root / "quarantine"

    def key_lock(self, key: str, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
        """The exclusive lock of one cache key (`on_wait` is called if another holder makes us wait)."""
        return self.locks.key_lock(key, on_wait)

    def session(self, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
        """Hold the store in shared mode for a run, so `verify`/`gc` wait until it ends."""
        return self.locks.session(on_wait)

    @contextlib.contextmanager
    def work_folder(self, key: str) -> Iterator[Path]:
        """A fresh scratch folder for the step with `key`, removed afterwards (hold the key's lock)."""
        path = self.work / key
        if path.exists():
            shutil.rmtree(path)  # left by a run that was killed
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def discard_work(self, key: str) -> None:
        """Remove the scratch folder a dead worker left, unless another process now computes `key`."""
        with contextlib.suppress(LockBusy), self.locks.key_lock_now(key):
            shutil.rmtree(self.work / key, ignore_errors=True)

    @contextlib.contextmanager
    def _maintenance(self, what: str) -> Iterator[None]:
        try:
            with self.locks.maintenance():
                yield
        except LockBusy:
            raise StoreError(
                f"cannot {what} {self.root}: a `zoo sync` or another maintenance command is using it; "
                "try again when it has finished"
            ) from None

    def verify(self, on_blob: Callable[[int], None] | None = None) -> VerifyReport:
        """Re-hash every blob; move corrupt ones to quarantine and drop the entries naming them.

        The next `zoo sync` then recomputes exactly what was lost.
        """
        report = VerifyReport()
        with self._maintenance("verify"):
            for digest in list(self.blobs.digests()):
                found, size = sha256_stream(self.blobs.open(digest))
                report.blobs += 1
                report.bytes += size
                if on_blob is not None:
                    on_blob(size)
                if found != digest:
                    report.corrupt.append(digest)
                    self.blobs.set_aside(digest, self.quarantine)
            for key, entry in list(self.actions.entries()):
                if entry is None or not all(self.blobs.has(o.digest) for o in entry.outputs.values()):
                    report.dropped_entries.append(key)
                    self.actions.remove(key)
        return report

    def gc(self, keep_keys: Iterable[str], keep_digests: Iterable[str] = (), *, dry_run: bool = False) -> GcReport:
        """Remove every action entry not in `keep_keys` and every blob that neither a kept entry
        nor `keep_digests` names, plus scratch folders, partial downloads and stray temp files.

        What to keep is the caller's decision (the pipeline knows its records; the store does not).
        """
        report = GcReport()
        keys, digests = set(keep_keys), set(keep_digests)
        with self._maintenance("collect garbage in"):
            for key, entry in list(self.actions.entries()):
                if entry is not None and key in keys:
                    digests.update(o.digest for o in entry.outputs.values())
                else:
                    report.removed_entries += 1
                    if not dry_run:
                        self.actions.remove(key)
            for digest in list(self.blobs.digests()):
                if digest in digests:
                    report.kept_blobs += 1
                    continue
                report.removed_blobs += 1
                report.freed_bytes += self.blobs.size(digest)
                if not dry_run:
                    self.blobs.remove(digest)
            scratch = [*_children(self.work), *_children(self.downloads), *self.locks.key_lock_files(),
                       *self.blobs.temp_files(), *self.actions.temp_files()]
            report.removed_scratch = len(scratch)
            for path in scratch if not dry_run else ():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return report


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []
