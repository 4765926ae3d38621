"""The content-addressed store: blobs, action cache, atomic writes, verify, gc, locks."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from zoo.atomic import atomic_writer
from zoo.errors import StoreError
from zoo.pipeline.publish import kept_by_records
from zoo.pipeline.record import Record, StepRecord
from zoo.store.actions import ActionEntry, OutputFile
from zoo.store.local import LocalStore


def entry_for(store: LocalStore, key: str, **files: bytes) -> ActionEntry:
    outputs = {}
    for name, data in files.items():
        digest, size = store.blobs.put_bytes(data)
        outputs[name] = OutputFile(name=f"{name}.bin", digest=digest, size=size)
    entry = ActionEntry(key=key, kind="test", ingredients={"kind": "test", "n": key}, outputs=outputs,
                        metrics={"n": 1})
    store.actions.put(entry)
    return entry


def blob_file(store: LocalStore, digest: str) -> Path:
    """Where the local store keeps a blob (its documented layout)."""
    return store.root / "cas" / "sha256" / digest[:2] / digest


def cas(store: LocalStore) -> Path:
    return store.root / "cas" / "sha256"


def test_blob_round_trip_dedupes_and_is_read_only(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    digest, size = store.blobs.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest() and size == len(data)
    blob = blob_file(store, digest)
    assert blob.read_bytes() == data
    assert blob.parent.name == digest[:2]
    assert not os.access(blob, os.W_OK) or os.geteuid() == 0  # root ignores the mode bits
    assert blob.stat().st_mode & 0o222 == 0

    source = tmp_path / "work" / "a.bin"
    source.parent.mkdir()
    source.write_bytes(data)
    assert store.blobs.put_file(source) == (digest, size) and source.exists()  # copy keeps the source
    assert store.blobs.put_file(source, move=True) == (digest, size) and not source.exists()  # move gives it away
    fresh = tmp_path / "work" / "b.bin"
    fresh.write_bytes(b"other")
    moved_digest, _ = store.blobs.put_file(fresh, move=True)
    assert blob_file(store, moved_digest).read_bytes() == b"other" and not fresh.exists()
    assert sorted(store.blobs.digests()) == sorted([digest, moved_digest])
    assert store.blobs.size(digest) == size and store.blobs.open(digest).read() == data
    assert store.blobs.has(digest) and not store.blobs.has("0" * 64)
    assert not list(cas(store).glob(".*.tmp"))


def test_interrupted_put_publishes_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")

    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk went away")
            return b"x" * n

    with pytest.raises(OSError):
        store.blobs.put_stream(Broken())  # type: ignore[arg-type]
    assert list(store.blobs.digests()) == []
    assert not list(cas(store).glob(".*"))  # the temp file is gone too


def test_kill_9_while_writing_a_blob_leaves_no_blob(tmp_path: Path) -> None:
    """A writer killed mid-stream leaves at most a temp file, which gc removes."""
    root = tmp_path / "store"
    script = (
        "import sys, time\n"
        "from zoo.store.local import LocalStore\n"
        "class Slow:\n"
        "    def read(self, n):\n"
        "        time.sleep(0.05)\n"
        "        print('chunk', flush=True)\n"
        "        return b'y' * n\n"
        f"LocalStore({str(root)!r}).blobs.put_stream(Slow())\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for _ in range(5):
        process.stdout.readline()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    store = LocalStore(root)
    assert list(store.blobs.digests()) == []
    leftovers = list(cas(store).glob(".incoming-*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size >= 4 << 20
    report = store.gc(set())
    assert report.removed_scratch == 1 and not list(cas(store).glob(".*.tmp"))


def test_atomic_writer_keeps_the_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write("half of the new")
        raise RuntimeError("crash")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    with atomic_writer(target) as handle:
        handle.write("new")
    assert target.read_text(encoding="utf-8") == "new"
    assert target.stat().st_mode & 0o044 == 0o044  # readable like any file `open()` makes, not private


def test_action_cache_needs_its_blobs(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    entry = entry_for(store, "k1", model=b"weights", report=b"{}")
    assert store.actions.get("k1") == entry
    assert store.actions.get("nope") is None
    store.blobs.remove(entry.outputs["model"].digest)
    assert store.actions.get("k1") is None  # an entry whose blob is gone counts as absent
    with pytest.raises(StoreError, match="blobs missing"):
        store.actions.put(entry)
    (store.root / "ac" / "k2.json").write_text("{not json", encoding="utf-8")
    assert store.actions.get("k2") is None
    assert dict(store.actions.entries()) == {"k1": entry, "k2": None}


def test_materialise_links_and_replaces(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    digest, _ = store.blobs.put_bytes(b"first")
    dest = tmp_path / "out" / "m" / "sub" / "file.txt"
    store.blobs.materialise(digest, dest)
    assert dest.read_bytes() == b"first"
    assert os.path.samefile(dest, blob_file(store, digest))  # a hard link, no copy
    other, _ = store.blobs.put_bytes(b"second")
    store.blobs.materialise(other, dest)
    assert dest.read_bytes() == b"second"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.txt"]
    with pytest.raises(StoreError, match="missing from the store"):
        store.blobs.materialise("0" * 64, dest)


def test_materialise_replaces_a_copy_with_other_bytes_of_the_same_size(tmp_path: Path) -> None:
    """A file in place is kept only if it is the blob or hashes to it: size and time prove nothing."""
    store = LocalStore(tmp_path / "store")
    digest, _ = store.blobs.put_bytes(b"right")
    dest = tmp_path / "out" / "f.txt"
    dest.parent.mkdir()
    dest.write_bytes(b"wrong")
    os.utime(dest, ns=(0, 0))
    store.blobs.materialise(digest, dest)
    assert dest.read_bytes() == b"right"
    dest.unlink()
    dest.write_bytes(b"right")  # a good copy (say, on another file system) stays as it is
    inode = dest.stat().st_ino
    store.blobs.materialise(digest, dest)
    assert dest.stat().st_ino == inode


def test_materialise_copies_across_file_systems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system (/dev/shm)")
    store = LocalStore(tmp_path / "store")
    digest, _ = store.blobs.put_bytes(b"across")
    folder = shm / f"zoo-test-{os.getpid()}"
    try:
        store.blobs.materialise(digest, folder / "f.bin")
        assert (folder / "f.bin").read_bytes() == b"across"
        assert not os.path.samefile(folder / "f.bin", blob_file(store, digest))
        assert [p.name for p in folder.iterdir()] == ["f.bin"]
    finally:
        for p in folder.glob("*"):
            p.unlink()
        folder.rmdir()


def test_verify_finds_a_corrupted_blob_and_drops_its_entries(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    good = entry_for(store, "good", a=b"fine")
    bad = entry_for(store, "bad", b=b"will rot")
    assert store.verify().ok
    blob = blob_file(store, bad.outputs["b"].digest)
    blob.chmod(0o644)
    blob.write_bytes(b"will r0t")  # bit rot, same size
    report = store.verify()
    assert report.corrupt == [bad.outputs["b"].digest]
    assert report.dropped_entries == ["bad"] and report.blobs == 2 and not report.ok
    assert not blob.exists() and len(list(store.quarantine.iterdir())) == 1
    assert store.actions.get("bad") is None and store.actions.get("good") == good
    assert store.verify().ok  # repaired: the next run recomputes what was dropped


def test_gc_keeps_what_last_results_and_records_use(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    latest = entry_for(store, "latest", a=b"kept by last")
    stale = entry_for(store, "stale", a=b"superseded")
    recorded = entry_for(store, "recorded", a=b"kept by a record")
    store.actions.set_last("timm-x", "test", "latest", latest.ingredients)
    record = Record(model_id="timm/y", manifest_digest="d", zoo_version="0", random_weights=False,
                    steps={"test": StepRecord(kind="test", key="recorded", status="ran",
                                              outputs=dict(recorded.outputs))})
    record.write(tmp_path / "out" / "timm-y")
    (store.work / "deadbeef").mkdir(parents=True)  # scratch left by a killed run
    orphan, _ = store.blobs.put_bytes(b"nobody")

    dry = store.gc(*kept_by_records(store, [tmp_path / "out"]), dry_run=True)
    assert (dry.removed_blobs, dry.removed_entries, dry.removed_scratch) == (2, 1, 1)
    assert store.blobs.has(orphan)

    report = store.gc(*kept_by_records(store, [tmp_path / "out"]))
    assert (report.removed_blobs, report.removed_entries, report.kept_blobs) == (2, 1, 2)
    assert report.freed_bytes == len(b"superseded") + len(b"nobody")
    assert store.actions.get("latest") and store.actions.get("recorded") and store.actions.get("stale") is None
    assert not store.blobs.has(stale.outputs["a"].digest) and not (store.work / "deadbeef").exists()
    # without the records folder, the recorded entry goes too
    assert store.gc(*kept_by_records(store, [])).removed_entries == 1 and store.actions.get("recorded") is None


def test_gc_keeps_exactly_what_it_is_given(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    kept = entry_for(store, "kept", a=b"named by a kept entry", b=b"shared")
    dropped = entry_for(store, "dropped", c=b"named by a dropped entry", b=b"shared")
    loose, _ = store.blobs.put_bytes(b"kept by digest")
    other, _ = store.blobs.put_bytes(b"not kept")
    store.actions.set_last("timm-x", "test", "dropped", dropped.ingredients)  # the store does not decide
    report = store.gc({"kept", "no-such-key"}, {loose})
    assert dict(store.actions.entries()) == {"kept": kept}
    assert sorted(store.blobs.digests()) == sorted({*(o.digest for o in kept.outputs.values()), loose})
    assert (report.removed_entries, report.removed_blobs) == (1, 2)
    assert not store.blobs.has(other) and not store.blobs.has(dropped.outputs["c"].digest)


def test_maintenance_waits_for_running_syncs(tmp_path: Path) -> None:
    """verify/gc refuse while another process holds the store for a run."""
    root = tmp_path / "store"
    script = (
        f"import time\nfrom zoo.store.local import LocalStore\nwith LocalStore({str(root)!r}).session():\n"
        "    print('holding', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError, match="zoo sync"):
            LocalStore(root).gc(set())
        with pytest.raises(StoreError, match="zoo sync"):
            LocalStore(root).verify()
        with LocalStore(root).session():  # runs share the store
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert LocalStore(root).verify().ok  # the lock died with its holder


def test_key_lock_excludes_other_processes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    script = (
        "import sys, time\nfrom zoo.store.local import LocalStore\n"
        "print('ready', flush=True)\n"
        "start = time.monotonic()\n"
        f"with LocalStore({str(store.root)!r}).key_lock('k'):\n"
        "    waited = time.monotonic() - start\n"
        "print(f'{waited:.2f}')\n"
    )
    with store.key_lock("k"):
        waiter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert waiter.stdout is not None
        assert waiter.stdout.readline().strip() == "ready"  # imports done: a busy machine cannot eat the wait
        time.sleep(1.0)
        assert waiter.poll() is None  # still waiting for the lock we hold
    out, _ = waiter.communicate(timeout=30)
    assert float(out) > 0.5


def test_key_lock_excludes_other_threads(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    inside: list[int] = []
    overlaps: list[int] = []

    def hold(_: int) -> None:
        with store.key_lock("k"):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.01)
            inside.pop()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hold, range(40)))
    assert overlaps == [1] * 40


_UMASK_SCRIPT = """
import os, stat, sys, threading
sys.setswitchinterval(1e-5)  # switch threads often, to widen any race
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
os.umask(0o027)  # set before zoo is imported, as a user's shell would
from zoo.atomic import atomic_writer
folder = Path(sys.argv[1])
seen = set()
done = threading.Event()
def sample():  # the kernel's view of the umask, read without changing it
    while not done.is_set():
        with open("/proc/self/status") as status:
            seen.update(line.split()[1] for line in status if line.startswith("Umask:"))
def write(i):
    with atomic_writer(folder / f"f{i}.txt") as handle:
        handle.write("x")
sampler = threading.Thread(target=sample)
sampler.start()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(write, range(3000)))
done.set(); sampler.join()
print(sorted(seen), sorted({oct(stat.S_IMODE(p.stat().st_mode)) for p in folder.iterdir()}))
"""


def test_files_published_by_many_threads_get_the_umask_mode(tmp_path: Path) -> None:
    """Concurrent publishers all give `0o666 & ~umask` and never change the process's umask
    (which the kernel shows in /proc without anyone having to set it)."""
    folder = tmp_path / "files"
    folder.mkdir()
    result = subprocess.run([sys.executable, "-c", _UMASK_SCRIPT, str(folder)], capture_output=True, text=True,
                            timeout=300, check=True)
    assert result.stdout.strip() == f"['0027'] {[oct(0o666 & ~0o027)]}"
    assert len(list(folder.iterdir())) == 3000
