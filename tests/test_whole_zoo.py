"""The shipped zoo through `zoo sync --random-weights`, then the docs from its records.

The seed models all go through; of the families migrated from VastModelZOO (`zoo import vmz`),
one model each, drawn with a fixed seed. Slow (every architecture is built, exported,
simplified and validated: minutes on 2 cores), so deselected by default: `pytest -m slow`.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.manifest.catalog import load_catalog
from zoo.pipeline.record import read_records


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


def run_zoo_in(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZOO_HOME": str(tmp_path / "store")}
    return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=3600, check=False)


@pytest.mark.slow
def test_every_seed_model_syncs_validates_and_reaches_the_docs(tmp_path: Path) -> None:
    out = tmp_path / "out"

    def zoo(*args: str) -> subprocess.CompletedProcess[str]:
        return run_zoo_in(tmp_path, *args)

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

    docs = zoo("docs", "--records", str(out), "--out", str(tmp_path / "docs"))
    assert docs.returncode == 0, docs.stderr
    page = (tmp_path / "docs" / "cspnet.md").read_text(encoding="utf-8")
    assert "From the `zoo sync` records of 7 of 7 models" in page
    assert "random weights" in page


@pytest.mark.slow
def test_one_migrated_model_per_family_syncs_with_random_weights(tmp_path: Path) -> None:
    sample = one_per_migrated_family()
    out = tmp_path / "out"
    synced = run_zoo_in(tmp_path, "sync", *sample, "--random-weights", "-j", "2", "--keep-going", "--out", str(out))
    assert synced.returncode == 0, synced.stdout[-3000:] + synced.stderr[-3000:]
    records = read_records(out)
    assert set(records) == set(sample)
    for model_id, record in records.items():
        assert record.random_weights and {s.status for s in record.steps.values()} == {"ran"}, model_id
