"""The local store in front of the remote tier: remote hits come down, results go up.

- **Down**: a remote action entry counts only when every blob it names is on the remote; its
  blobs are pulled (each verified against its digest while it streams), adopted by the local
  blob store, and only then is the entry put into the local action cache.
- **Up**: a result's blobs are pushed first and its entry last, each create-if-absent, so a
  reader of the remote never sees an entry whose blobs are missing. A marker under
  `ac/pushed/<remote id>/<key>` remembers what this store has pushed to which remote, so that a
  warm run asks the remote nothing about results it already shared.

Nothing pushed carries a credential: entries hold digests, metrics and redacted fields only.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import ValidationError

from zoo.store.actions import ActionEntry
from zoo.store.local import LocalStore
from zoo.store.remote import CorruptBlob, Progress, RemoteCache

#: Blobs pulled at once for one entry (transfers overlap their round trips and the hashing).
_PARALLEL_PULLS = 4
#: RemoteCache objects by URL, one per process (an S3 client is costly to make).
_REMOTES: dict[str, RemoteCache] = {}


def remote_at(url: str) -> RemoteCache:
    """The (per-process, reused) remote cache at `url`."""
    if url not in _REMOTES:
        _REMOTES[url] = RemoteCache(url)
    return _REMOTES[url]


#: Hears a transfer's progress: (bytes done, bytes in all).
Transfer = Callable[[int, int], None]


def _counter(total: int, progress: Transfer | None) -> Progress | None:
    """A byte counter (thread-safe: blobs move in parallel) that reports running totals to `progress`."""
    if progress is None or total == 0:
        return None
    done = [0]
    lock = threading.Lock()

    def count(amount: int) -> None:
        with lock:
            done[0] += amount
            progress(done[0], total)

    return count


def tier_for(store: LocalStore, url: str | None, *, required: bool = False) -> Tiered | None:
    """`store` backed by the remote at `url`, or None when the run has no remote."""
    return Tiered(store, remote_at(url), required=required) if url else None


class Tiered:
    """One local store backed by one remote cache."""

    def __init__(self, store: LocalStore, remote: RemoteCache, *, required: bool = False):
        self.store, self.remote = store, remote
        #: Whether a result must reach the remote (a cluster worker's results travel no other way).
        self.required = required
        self._pushed = store.root / "ac" / "pushed" / hashlib.sha256(remote.url.encode()).hexdigest()[:16]

    # ----------------------------------------------------------------- down
    def lookup(self, key: str, progress: Transfer | None = None) -> ActionEntry | None:
        """The remote's entry for `key` with its blobs adopted locally, or None if it has none.

        `progress(done, total)` hears the bytes as they come down.
        """
        entry = self.remote_entry(key)
        if entry is None:
            return None
        missing = [o for o in entry.outputs.values() if not self.store.blobs.has(o.digest)]
        self.fetch_blobs((o.digest for o in missing), _counter(sum(o.size for o in missing), progress))
        self.store.actions.put(entry)
        self._mark_pushed(key)  # the remote has it: nothing to push later
        return entry

    def remote_entry(self, key: str) -> ActionEntry | None:
        """The remote's entry for `key` if it is readable and every blob it names is there."""
        data = self.remote.get_entry(key)
        if data is None:
            return None
        try:
            entry = ActionEntry.model_validate_json(data)
        except ValidationError:
            return None  # an unreadable entry is no hit; computing again replaces nothing
        if entry.key != key or not all(self.remote.has_blob(o.digest) for o in entry.outputs.values()):
            return None
        return entry

    def fetch_blobs(self, digests: Iterable[str], progress: Progress | None = None) -> None:
        """Pull the blobs among `digests` that the local store lacks, a few at a time (each verified
        while it streams, then moved into the store as it is: nothing is read twice)."""
        missing = sorted({d for d in digests if not self.store.blobs.has(d)})
        if len(missing) < 2:
            for digest in missing:
                self._fetch_blob(digest, progress)
            return
        with ThreadPoolExecutor(max_workers=_PARALLEL_PULLS, thread_name_prefix="zoo-pull") as pool:
            for done in [pool.submit(self._fetch_blob, digest, progress) for digest in missing]:
                done.result()

    def _fetch_blob(self, digest: str, progress: Progress | None) -> None:
        landing = self.store.work / f".pull-{uuid.uuid4().hex}"
        try:
            self.remote.pull_blob(digest, landing, progress)
            self.store.blobs.adopt(landing, digest)
        except CorruptBlob:
            self.remote.remove_blob(digest)  # garbage under a digest it does not have: the next push replaces it
            raise
        finally:
            landing.unlink(missing_ok=True)

    # ------------------------------------------------------------------- up
    def push(self, entry: ActionEntry, progress: Transfer | None = None) -> bool:
        """Share `entry`: blobs first, the entry last; say whether this call created the entry.

        `progress(done, total)` hears the bytes as they go up.
        """
        missing = [o for o in entry.outputs.values() if not self.remote.has_blob(o.digest)]
        count = _counter(sum(o.size for o in missing), progress)
        for output in missing:
            self._push_blob(output.digest, count)
        created = self.remote.put_entry(entry.key, entry.model_dump_json(indent=1).encode())
        self._mark_pushed(entry.key)
        return created

    def ensure_pushed(self, entry: ActionEntry) -> None:
        """Push `entry` unless this store already shared it with this remote."""
        if not (self._pushed / entry.key).exists():
            self.push(entry)

    def _push_blob(self, digest: str, progress: Progress | None) -> None:
        """Upload one local blob (from a hard link in the scratch area: the store's paths stay its own)."""
        staged = self.store.work / f".push-{uuid.uuid4().hex}" / digest
        try:
            self.store.blobs.materialise(digest, staged)
            self.remote.push_blob(digest, staged, progress)
        finally:
            staged.unlink(missing_ok=True)
            staged.parent.rmdir() if staged.parent.exists() else None

    def _mark_pushed(self, key: str) -> None:
        self._pushed.mkdir(parents=True, exist_ok=True)
        Path(self._pushed / key).touch()
