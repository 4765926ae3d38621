"""What `out/` holds is what `record.json` states, even after a stored blob was corrupted: a
repaired store republishes over every hard link to the bad bytes."""

from __future__ import annotations

import os
from pathlib import Path

from tests.factories import run_zoo, write_tiny_manifest
from tests.sync_runner import run_sync
from zoo.pipeline.record import read_record
from zoo.store.blobs import sha256_file


def _sync(root: Path) -> None:
    args = ["--manifest", str(root / "manifests" / "tiny.yaml"), "--store", str(root / "store"),
            "--out", str(root / "out")]
    result = run_sync(args, {})
    assert result.returncode == 0, result.stdout + result.stderr


def _flip_a_byte(path: Path) -> None:
    path.chmod(0o644)  # published files are read-only, as a careless editor would not care
    with path.open("r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0x01]))


def _mismatches(folder: Path) -> list[str]:
    """Every output the record names whose file in `folder` does not hash to the stated digest."""
    record = read_record(folder)
    assert record is not None
    outputs = [o for step in record.steps.values() for o in step.outputs.values()]
    assert outputs
    return [o.name for o in outputs if sha256_file(folder / o.name)[0] != o.digest]


def test_a_corrupted_blob_is_replaced_in_out_after_verify_and_sync(tmp_path: Path) -> None:
    write_tiny_manifest(tmp_path / "manifests", ["alpha"])
    _sync(tmp_path)
    folder = tmp_path / "out" / "timm-alpha"
    built = folder / "timm-alpha.built.txt"
    assert built.stat().st_nlink == 2  # a hard link into the store: flipping it corrupts the blob
    _flip_a_byte(built)
    assert _mismatches(folder) == ["timm-alpha.built.txt"]

    verify = run_zoo("store", "verify", cwd=tmp_path)
    assert verify.returncode == 1 and "1 corrupt" in verify.stdout, verify.stdout + verify.stderr
    _sync(tmp_path)

    assert _mismatches(folder) == []
    quarantined = next((tmp_path / "store" / "quarantine").iterdir())
    assert not os.path.samefile(quarantined, built)  # no link to the quarantined bytes is left

