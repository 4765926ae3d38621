"""The content-addressed store: blobs, action cache, atomic writes, verify, gc, locks."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo.atomic import atomic_writer
from zoo.errors import StoreError
from zoo.pipeline.record import OutputFile, Record, StepRecord
from zoo.store.local import ActionEntry, Store


def entry_for(store: Store, key: str, **files: bytes) -> ActionEntry:
    outputs = {}
    for name, data in files.items():
        digest, size = store.put_bytes(data)
        outputs[name] = OutputFile(name=f"{name}.bin", digest=digest, size=size)
    entry = ActionEntry(key=key, kind="test", ingredients={"kind": "test", "n": key}, outputs=outputs,
                        metrics={"n": 1})
    store.put_action(entry)
    return entry


def test_blob_round_trip_dedupes_and_is_read_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    digest, size = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest() and size == len(data)
    blob = store.blob_path(digest)
    assert blob.read_bytes() == data
    assert blob.parent.name == digest[:2]
    assert not os.access(blob, os.W_OK) or os.geteuid() == 0  # root ignores the mode bits
    assert blob.stat().st_mode & 0o222 == 0

    source = tmp_path / "work" / "a.bin"
    source.parent.mkdir()
    source.write_bytes(data)
    assert store.put_file(source) == (digest, size) and source.exists()  # copy keeps the source
    assert store.put_file(source, move=True) == (digest, size) and not source.exists()  # move gives it away
    fresh = tmp_path / "work" / "b.bin"
    fresh.write_bytes(b"other")
    moved_digest, _ = store.put_file(fresh, move=True)
    assert store.blob_path(moved_digest).read_bytes() == b"other" and not fresh.exists()
    assert sorted(p.name for p in store.blobs()) == sorted([digest, moved_digest])
    assert not list(store.cas.glob(".*.tmp"))


def test_interrupted_put_publishes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")

    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk went away")
            return b"x" * n

    with pytest.raises(OSError):
        store._put_stream(Broken())  # type: ignore[arg-type]
    assert list(store.blobs()) == []
    assert not list(store.cas.glob(".*"))  # the temp file is gone too


def test_kill_9_while_writing_a_blob_leaves_no_blob(tmp_path: Path) -> None:
    """A writer killed mid-stream leaves at most a temp file, which gc removes."""
    root = tmp_path / "store"
    script = (
        "import sys, time\n"
        "from zoo.store.local import Store\n"
        "class Slow:\n"
        "    def read(self, n):\n"
        "        time.sleep(0.05)\n"
        "        print('chunk', flush=True)\n"
        "        return b'y' * n\n"
        f"Store({str(root)!r})._put_stream(Slow())\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for _ in range(5):
        process.stdout.readline()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    store = Store(root)
    assert list(store.blobs()) == []
    leftovers = list(store.cas.glob(".incoming-*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size >= 4 << 20
    report = store.gc()
    assert report.removed_scratch == 1 and not list(store.cas.glob(".*.tmp"))


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
    store = Store(tmp_path / "store")
    entry = entry_for(store, "k1", model=b"weights", report=b"{}")
    assert store.get_action("k1") == entry
    assert store.get_action("nope") is None
    store.blob_path(entry.outputs["model"].digest).unlink()
    assert store.get_action("k1") is None  # an entry whose blob is gone counts as absent
    with pytest.raises(StoreError, match="blobs missing"):
        store.put_action(entry)
    store.action_path("k2").write_text("{not json", encoding="utf-8")
    assert store.get_action("k2") is None


def test_materialise_links_and_replaces(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    digest, _ = store.put_bytes(b"first")
    dest = tmp_path / "out" / "m" / "sub" / "file.txt"
    store.materialise(digest, dest)
    assert dest.read_bytes() == b"first"
    assert os.path.samefile(dest, store.blob_path(digest))  # a hard link, no copy
    other, _ = store.put_bytes(b"second")
    store.materialise(other, dest)
    assert dest.read_bytes() == b"second"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.txt"]
    with pytest.raises(StoreError, match="missing from the store"):
        store.materialise("0" * 64, dest)


def test_materialise_copies_across_file_systems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system (/dev/shm)")
    store = Store(tmp_path / "store")
    digest, _ = store.put_bytes(b"across")
    folder = shm / f"zoo-test-{os.getpid()}"
    try:
        store.materialise(digest, folder / "f.bin")
        assert (folder / "f.bin").read_bytes() == b"across"
        assert not os.path.samefile(folder / "f.bin", store.blob_path(digest))
        assert [p.name for p in folder.iterdir()] == ["f.bin"]
    finally:
        for p in folder.glob("*"):
            p.unlink()
        folder.rmdir()


def test_verify_finds_a_corrupted_blob_and_drops_its_entries(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    good = entry_for(store, "good", a=b"fine")
    bad = entry_for(store, "bad", b=b"will rot")
    assert store.verify().ok
    blob = store.blob_path(bad.outputs["b"].digest)
    blob.chmod(0o644)
    blob.write_bytes(b"will r0t")  # bit rot, same size
    report = store.verify()
    assert report.corrupt == [bad.outputs["b"].digest]
    assert report.dropped_entries == ["bad"] and report.blobs == 2 and not report.ok
    assert not blob.exists() and len(list(store.quarantine.iterdir())) == 1
    assert store.get_action("bad") is None and store.get_action("good") == good
    assert store.verify().ok  # repaired: the next run recomputes what was dropped


def test_gc_keeps_what_last_results_and_records_use(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    latest = entry_for(store, "latest", a=b"kept by last")
    stale = entry_for(store, "stale", a=b"superseded")
    recorded = entry_for(store, "recorded", a=b"kept by a record")
    store.set_last_result("timm-x", "test", "latest", latest.ingredients)
    record = Record(model_id="timm/y", manifest_digest="d", zoo_version="0", random_weights=False,
                    steps={"test": StepRecord(kind="test", key="recorded", status="ran",
                                              outputs=dict(recorded.outputs))})
    record.write(tmp_path / "out" / "timm-y")
    (store.work / "deadbeef").mkdir(parents=True)  # scratch left by a killed run
    orphan, _ = store.put_bytes(b"nobody")

    dry = store.gc([tmp_path / "out"], dry_run=True)
    assert (dry.removed_blobs, dry.removed_entries, dry.removed_scratch) == (2, 1, 1)
    assert store.blob_path(orphan).exists()

    report = store.gc([tmp_path / "out"])
    assert (report.removed_blobs, report.removed_entries, report.kept_blobs) == (2, 1, 2)
    assert report.freed_bytes == len(b"superseded") + len(b"nobody")
    assert store.get_action("latest") and store.get_action("recorded") and store.get_action("stale") is None
    assert not store.blob_path(stale.outputs["a"].digest).exists() and not (store.work / "deadbeef").exists()
    # without the records folder, the recorded entry goes too
    assert store.gc().removed_entries == 1 and store.get_action("recorded") is None


def test_maintenance_waits_for_running_syncs(tmp_path: Path) -> None:
    """verify/gc refuse while another process holds the store for a run."""
    root = tmp_path / "store"
    script = (
        f"import time\nfrom zoo.store.local import Store\nwith Store({str(root)!r}).session():\n"
        "    print('holding', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError, match="zoo sync"):
            Store(root).gc()
        with pytest.raises(StoreError, match="zoo sync"):
            Store(root).verify()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert Store(root).verify().ok  # the lock died with its holder


def test_key_lock_excludes_other_processes(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    script = (
        "import sys, time\nfrom zoo.store.local import Store\n"
        f"lock = Store({str(store.root)!r}).key_lock('k')\n"
        "start = time.monotonic(); lock.acquire(); waited = time.monotonic() - start; lock.release()\n"
        "print(f'{waited:.2f}')\n"
    )
    with store.key_lock("k"):
        waiter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert waiter.poll() is None  # still waiting for the lock we hold
    out, _ = waiter.communicate(timeout=30)
    assert float(out) > 0.5
