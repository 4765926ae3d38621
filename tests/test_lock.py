"""`zoo lock`, `zoo fetch` and lock files, end to end through the CLI against a local server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fault_server import Fault, FaultServer
from zoo.manifest.catalog import load_catalog, manifest_files
from zoo.manifest.lockfile import Pin, lock_path, write_pins

DATA_A = os.urandom(400_000)
DATA_B = os.urandom(300_000)
SHA_A = hashlib.sha256(DATA_A).hexdigest()
SHA_B = hashlib.sha256(DATA_B).hexdigest()

MANIFEST = """\
# Hand-written comments must survive `zoo lock`: it never rewrites the manifest.
family: locktest
title: Lock test family
defaults:
  source: {{library: timm}}
  preprocess: {{crop_pct: 0.875, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}
models:
  - name: small_a
    input_size: 224
    weights: {{url: "{url_a}", format: pth}}
  - name: small_b
    input_size: 224
    weights: {{url: "{url_b}", format: pth}}
  - name: no_weights
    input_size: 224
"""


def write_manifest(folder: Path, url_a: str, url_b: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "locktest.yaml"
    path.write_text(MANIFEST.format(url_a=url_a, url_b=url_b), encoding="utf-8")
    return path


def zoo(tmp_path: Path, manifests: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZOO_HOME": str(tmp_path / "home")}
    env.pop("ZOO_MANIFESTS", None)
    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", str(manifests), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)


def weights_state(tmp_path: Path, manifests: Path) -> dict[str, str]:
    listed = zoo(tmp_path, manifests, "list", "--family", "locktest", "--json")
    assert listed.returncode == 0, listed.stderr
    return {m["id"]: m["weights"] for m in json.loads(listed.stdout)}


@pytest.fixture
def served(fault_server: FaultServer, tmp_path: Path) -> tuple[FaultServer, Path]:
    """The two weight files on the server and a manifest folder naming them."""
    url_a = fault_server.add("/weights/small_a.pth", DATA_A)
    url_b = fault_server.add("/weights/small_b.pth", DATA_B)
    write_manifest(tmp_path / "manifests", url_a, url_b)
    return fault_server, tmp_path / "manifests"


def test_lock_pins_weights_in_a_lock_file_beside_the_manifest(served: tuple[FaultServer, Path],
                                                              tmp_path: Path) -> None:
    server, manifests = served
    manifest = manifests / "locktest.yaml"
    before = manifest.read_bytes()
    assert weights_state(tmp_path, manifests) == {
        "timm/no_weights": "none", "timm/small_a": "unpinned", "timm/small_b": "unpinned"}

    run = zoo(tmp_path, manifests, "lock", "--family", "locktest")
    assert run.returncode == 0, run.stderr
    assert f"timm/small_a: pinned sha256 {SHA_A}" in run.stdout
    assert "timm/no_weights: no weights" in run.stdout

    assert manifest.read_bytes() == before
    entries = yaml.safe_load(lock_path(manifest).read_text(encoding="utf-8"))
    assert entries == {
        "timm/small_a": {"url": server.url("/weights/small_a.pth"), "sha256": SHA_A, "size": len(DATA_A)},
        "timm/small_b": {"url": server.url("/weights/small_b.pth"), "sha256": SHA_B, "size": len(DATA_B)},
    }
    cached = tmp_path / "home" / "downloads" / SHA_A[:16] / "small_a.pth"
    assert cached.read_bytes() == DATA_A  # where the sync's fetch step will look
    assert weights_state(tmp_path, manifests) == {
        "timm/no_weights": "none", "timm/small_a": "pinned", "timm/small_b": "pinned"}
    lint = zoo(tmp_path, manifests, "lint", str(manifests))
    assert lint.returncode == 0, lint.stderr
    assert "1 file(s), 3 model(s), 0 problem(s)" in lint.stdout

    requests_so_far = len(server.requests())
    again = zoo(tmp_path, manifests, "lock", "--family", "locktest")
    assert again.returncode == 0 and again.stdout.count("already pinned") == 2
    fetched = zoo(tmp_path, manifests, "fetch", "timm/small_a")  # found in the download cache, verified
    assert fetched.returncode == 0 and fetched.stdout.startswith(f"{cached}  sha256 {SHA_A}")
    assert len(server.requests()) == requests_so_far


def test_lock_from_a_mirror_folder_offline(served: tuple[FaultServer, Path], tmp_path: Path) -> None:
    server, manifests = served
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "small_a.pth").write_bytes(DATA_A)
    run = zoo(tmp_path, manifests, "lock", "timm/small_a", "--offline", "--weights-from", str(mirror))
    assert run.returncode == 0, run.stderr
    assert server.requests() == []
    assert weights_state(tmp_path, manifests)["timm/small_a"] == "pinned"


def test_stale_pin_is_reported_ignored_and_repinned(served: tuple[FaultServer, Path], tmp_path: Path) -> None:
    server, manifests = served
    assert zoo(tmp_path, manifests, "lock", "--family", "locktest").returncode == 0
    new_url = server.add("/weights/v2/small_a.pth", DATA_B)
    write_manifest(manifests, new_url, server.url("/weights/small_b.pth"))

    lint = zoo(tmp_path, manifests, "lint", str(manifests))
    assert lint.returncode == 1
    assert "locktest.lock.yaml" in lint.stderr and "stale pin" in lint.stderr and "zoo lock timm/small_a" in lint.stderr
    assert weights_state(tmp_path, manifests)["timm/small_a"] == "unpinned"

    run = zoo(tmp_path, manifests, "lock", "timm/small_a")
    assert run.returncode == 0, run.stderr
    entries = yaml.safe_load(lock_path(manifests / "locktest.yaml").read_text(encoding="utf-8"))
    assert entries["timm/small_a"] == {"url": new_url, "sha256": SHA_B, "size": len(DATA_B)}
    assert zoo(tmp_path, manifests, "lint", str(manifests)).returncode == 0


def test_force_repins_a_file_that_changed_upstream(served: tuple[FaultServer, Path], tmp_path: Path) -> None:
    server, manifests = served
    assert zoo(tmp_path, manifests, "lock", "timm/small_a").returncode == 0
    unchanged = zoo(tmp_path, manifests, "lock", "--force", "timm/small_a")
    assert unchanged.returncode == 0 and f"unchanged sha256 {SHA_A}" in unchanged.stdout
    server.add("/weights/small_a.pth", DATA_B)
    changed = zoo(tmp_path, manifests, "lock", "--force", "timm/small_a")
    assert changed.returncode == 0 and f"pinned sha256 {SHA_B}" in changed.stdout


def test_failed_download_is_reported_and_the_others_still_pinned(served: tuple[FaultServer, Path],
                                                                 tmp_path: Path) -> None:
    server, manifests = served
    write_manifest(manifests, server.url("/weights/small_a.pth"), server.url("/gone/small_b.pth?token=tok123"))
    run = zoo(tmp_path, manifests, "lock", "--family", "locktest")
    assert run.returncode == 1
    assert "timm/small_b" in run.stderr and "not found (HTTP 404" in run.stderr and "token=***" in run.stderr
    assert "tok123" not in run.stderr + run.stdout
    assert "1 of 3 model(s) could not be pinned" in run.stderr
    assert "Traceback" not in run.stderr
    entries = yaml.safe_load(lock_path(manifests / "locktest.yaml").read_text(encoding="utf-8"))
    assert list(entries) == ["timm/small_a"]


def test_zoo_fetch_prints_path_and_digest(served: tuple[FaultServer, Path], tmp_path: Path) -> None:
    server, manifests = served
    run = zoo(tmp_path, manifests, "fetch", "timm/small_a", "--out", str(tmp_path / "w"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"{tmp_path / 'w' / 'small_a.pth'}  sha256 {SHA_A}  {len(DATA_A)} bytes"
    assert "is not pinned; `zoo lock timm/small_a`" in run.stderr
    assert (tmp_path / "w" / "small_a.pth").read_bytes() == DATA_A

    refused = zoo(tmp_path, manifests, "fetch", "timm/small_b", "--require-pinned")
    assert refused.returncode == 1 and "zoo lock" in refused.stderr
    offline = zoo(tmp_path, manifests, "fetch", "timm/small_b", "--offline")
    assert offline.returncode == 1 and "--offline" in offline.stderr and "--weights-from DIR" in offline.stderr
    assert [r.path for r in server.requests()] == ["/weights/small_a.pth"]


def test_zoo_fetch_refuses_wrong_bytes_for_a_pinned_model(served: tuple[FaultServer, Path], tmp_path: Path) -> None:
    server, manifests = served
    assert zoo(tmp_path, manifests, "lock", "timm/small_b").returncode == 0
    server.fault("/weights/small_b.pth", Fault(corrupt=True))
    # a store without the file `zoo lock` left downloads it (the lock's own store needs no download)
    run = zoo(tmp_path, manifests, "fetch", "timm/small_b", "--out", str(tmp_path / "w"), "--json",
              "--store", str(tmp_path / "fresh"))
    assert run.returncode == 1
    assert SHA_B in run.stderr and server.url("/weights/small_b.pth") in run.stderr
    assert not (tmp_path / "w").exists()  # nothing of a failed fetch lands in the user's folder
    assert any((tmp_path / "fresh" / "downloads").rglob(".quarantine/*"))


# -- lock file merging (library level) ---------------------------------------------------------


def _catalog(manifest: Path) -> tuple[dict[str, str | None], list[str]]:
    catalog = load_catalog(files=[manifest])
    pins = {m.id: m.weights.sha256 if m.weights else None for m in catalog.models.values()}
    return pins, [str(p) for p in catalog.problems]


def test_lock_entries_that_cannot_be_used_are_problems(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "https://example.org/small_a-abcdef12.pth", "https://example.org/small_b.pth")
    lock = lock_path(manifest)
    write_pins(lock, {
        "timm/small_a": Pin("https://example.org/small_a-abcdef12.pth", SHA_A, 10),  # not the hash prefix below
        "timm/small_b": Pin("https://example.org/small_b.pth", SHA_B, 20),
        "timm/gone": Pin("https://example.org/gone.pth", SHA_B, 30),
        "timm/no_weights": Pin("https://example.org/x.pth", SHA_B, 40),
    }, manifest.name)
    text = manifest.read_text(encoding="utf-8").replace(
        '{url: "https://example.org/small_a-abcdef12.pth", format: pth}',
        '{url: "https://example.org/small_a-abcdef12.pth", format: pth, hash_prefix: abcdef12}')
    manifest.write_text(text, encoding="utf-8")
    pins, problems = _catalog(manifest)
    assert pins == {"timm/small_a": None, "timm/small_b": SHA_B, "timm/no_weights": None}
    joined = "\n".join(problems)
    assert all(str(lock) in p for p in problems) and len(problems) == 3
    assert "does not start with hash_prefix abcdef12" in joined
    assert "`timm/gone` is not a valid model of locktest.yaml" in joined
    assert "the model has no `weights` to pin" in joined


def test_manifest_pin_wins_over_the_lock_file(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "https://example.org/a.pth", "https://example.org/b.pth")
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(
        '{url: "https://example.org/a.pth", format: pth}',
        f'{{url: "https://example.org/a.pth", format: pth, sha256: {SHA_A}}}'), encoding="utf-8")
    write_pins(lock_path(manifest), {"timm/small_a": Pin("https://example.org/a.pth", SHA_B, 5)}, manifest.name)
    pins, problems = _catalog(manifest)
    assert pins["timm/small_a"] == SHA_A
    (problem,) = problems
    assert "the manifest wins" in problem and ":4:1: timm/small_a:" in problem  # the entry, after the 3-line header


def test_malformed_lock_file_is_located(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "https://example.org/a.pth", "https://example.org/b.pth")
    lock_path(manifest).write_text("timm/small_a:\n  url: https://example.org/a.pth\n  sha256: nothex\n",
                                   encoding="utf-8")
    pins, problems = _catalog(manifest)
    assert pins["timm/small_a"] is None
    (problem,) = problems
    assert problem.startswith(f"{lock_path(manifest)}:1:1: timm/small_a:") and "64 lowercase hex" in problem


def test_lock_files_are_not_loaded_as_manifests(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "https://example.org/a.pth", "https://example.org/b.pth")
    write_pins(lock_path(manifest), {"timm/small_a": Pin("https://example.org/a.pth", SHA_A, 5)}, manifest.name)
    catalog = load_catalog([tmp_path])
    assert lock_path(manifest) not in catalog.files and not catalog.problems
    assert catalog.models["timm/small_a"].weights.sha256 == SHA_A  # type: ignore[union-attr]


def test_naming_a_lock_file_lints_the_manifest_it_pins(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "https://example.org/a.pth", "https://example.org/b.pth")
    write_pins(lock_path(manifest), {"timm/small_a": Pin("https://example.org/a.pth", "0" * 63, 5)}, manifest.name)
    catalog = load_catalog(files=manifest_files([lock_path(manifest)]))
    assert catalog.files == [manifest]
    (problem,) = catalog.problems
    assert problem.file == lock_path(manifest) and "64 lowercase hex" in problem.message
