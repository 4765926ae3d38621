"""The whole shipped zoo through `zoo sync --random-weights`, then the docs from its records.

The seed models all go through; of the families migrated from VastModelZOO (`zoo import vmz`),
one model each, drawn with a fixed seed. Slow (every seed architecture is built, exported,
simplified and validated: about 10 min on 2 cores), so deselected by default: `pytest -m slow`. Its timeout is three times
that; the ~10 GB of ONNX files and store it writes are removed when it ends, pass or fail.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zoo.manifest.catalog import load_catalog
from zoo.pipeline.record import read_records

#: Seconds the whole test may take: three times its measured ~600 s on 2 cores.
TIMEOUT = 1800


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """`tmp_path`, emptied when the test ends (pytest keeps the last runs' folders: ~10 GB each)."""
    yield tmp_path
    for child in tmp_path.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink()


def seed_models() -> list[str]:
    """The zoo's own seed models: every shipped model not migrated from VastModelZOO."""
    return sorted(m.id for m in load_catalog().models.values() if m.upstream is None)


def one_per_migrated_family(seed: int = 13) -> list[str]:
    """One migrated model per family, drawn with a fixed seed (the same draw on every run)."""
    chosen = random.Random(seed)
    families: dict[str, list[str]] = {}
    for model in load_catalog().models.values():
        if model.upstream is not None:
            families.setdefault(model.family, []).append(model.id)
    return [chosen.choice(sorted(ids)) for _, ids in sorted(families.items())]


def run_zoo_in(scratch: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZOO_HOME": str(scratch / "store")}
    return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True,
                          env=env, cwd=scratch, timeout=TIMEOUT, check=False)


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT)
def test_every_seed_model_syncs_validates_and_reaches_the_docs(scratch: Path) -> None:
    out = scratch / "out"

    def zoo(*args: str) -> subprocess.CompletedProcess[str]:
        return run_zoo_in(scratch, *args)

    seeds = seed_models()
    synced = zoo("sync", *seeds, "--random-weights", "-j", "2", "--keep-going", "--out", str(out))
    assert synced.returncode == 0, synced.stdout[-3000:] + synced.stderr[-3000:]
    models = load_catalog().models
    records = read_records(out)
    assert set(records) == set(seeds)
    for model_id, record in records.items():
        assert record.random_weights
        assert {s.status for s in record.steps.values()} == {"ran"}, model_id
        assert record.metric("validate", "max_abs") <= models[model_id].validate_.atol, model_id
        assert record.metric("simplify", "flops_g") > 0 and record.metric("convert", "params") > 0

    warm = zoo("sync", *seeds, "--random-weights", "--out", str(out))
    assert warm.returncode == 0 and "nothing to do" in warm.stdout + warm.stderr

    docs = zoo("docs", "--records", str(out), "--out", str(scratch / "docs"))
    assert docs.returncode == 0, docs.stderr
    page = (scratch / "docs" / "cspnet.md").read_text(encoding="utf-8")
    assert "From the `zoo sync` records of 7 of 7 models" in page
    assert "random weights" in page


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT)
def test_one_migrated_model_per_family_syncs_with_random_weights(scratch: Path) -> None:
    sample = one_per_migrated_family()
    out = scratch / "out"
    synced = run_zoo_in(scratch, "sync", *sample, "--random-weights", "-j", "2", "--keep-going", "--out", str(out))
    assert synced.returncode == 0, synced.stdout[-3000:] + synced.stderr[-3000:]
    records = read_records(out)
    assert set(records) == set(sample)
    for model_id, record in records.items():
        assert record.random_weights and {s.status for s in record.steps.values()} == {"ran"}, model_id
