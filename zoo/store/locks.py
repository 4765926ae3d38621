"""Cross-process locks on files, with flock(2): one mechanism for every lock zoo takes.

Why flock: the kernel drops a lock when the process holding it ends, even by `kill -9`, so no
stale lock outlives a crash; LOCK_SH and LOCK_EX give the store's readers-writer lock (runs
share the store, `verify`/`gc` need it alone); and every acquisition opens its own file
description, so threads of one process exclude each other exactly like processes do.

The lock files stay after release, by design: deleting one while another process waits on it
would let a third lock a new file of the same name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


class LockBusy(Exception):
    """A lock asked for without waiting is held by someone else."""


class FileLock:
    """A lock on one file, exclusive or shared; `acquire` opens the file, `release` closes it."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, *, shared: bool = False, blocking: bool = True) -> bool:
        """Take the lock; without `blocking`, return False at once if it is held elsewhere."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode if blocking else mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Closing the file drops the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


@contextlib.contextmanager
def hold(path: Path, *, shared: bool = False, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock on `path`; if someone else has it, call `on_wait` once, then wait for it."""
    lock = FileLock(path)
    if not lock.acquire(shared=shared, blocking=False):
        if on_wait is not None:
            on_wait()
        lock.acquire(shared=shared)
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def hold_now(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the lock on `path` if it is free; raise `LockBusy` if it is not."""
    lock = FileLock(path)
    if not lock.acquire(shared=shared, blocking=False):
        raise LockBusy(str(path))
    try:
        yield
    finally:
        lock.release()


#: The store's readers-writer lock file inside the locks folder (not a key lock: gc keeps it).
SESSION = "session"


class StoreLocks:
    """The locks of one store: one per cache key, and the session lock runs share.

    A key lock makes two processes (or threads) that reach the same step compute it once. The
    session lock is held shared by every run and exclusively by `verify` and `gc`, so that
    maintenance never moves a blob out from under a running sync.
    """

    def __init__(self, folder: Path):
        self.folder = folder

    def key_lock(self, key: str, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
        return hold(self.folder / f"{key}.lock", on_wait=on_wait)

    def key_lock_now(self, key: str) -> contextlib.AbstractContextManager[None]:
        """The lock of one cache key if it is free, else `LockBusy`."""
        return hold_now(self.folder / f"{key}.lock")

    def session(self, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
        return hold(self.folder / SESSION, shared=True, on_wait=on_wait)

    def maintenance(self) -> contextlib.AbstractContextManager[None]:
        """The session lock alone, now or never (`LockBusy`)."""
        return hold_now(self.folder / SESSION)

    def key_lock_files(self) -> list[Path]:
        """Lock files of cache keys (removable while maintenance holds the store)."""
        return sorted(self.folder.glob("*.lock"))
