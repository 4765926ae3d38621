"""The whole shipped zoo through `zoo sync --random-weights`, then the docs from its records.

Slow (every seed architecture is built, exported, simplified and validated: about 6 min on
2 cores), so it is deselected by default: run it with `pytest -m slow`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.manifest.catalog import load_catalog
from zoo.pipeline.record import read_records


@pytest.mark.slow
def test_every_shipped_model_syncs_validates_and_reaches_the_docs(tmp_path: Path) -> None:
    env = {**os.environ, "ZOO_HOME": str(tmp_path / "store")}
    out = tmp_path / "out"

    def zoo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=3600, check=False)

    synced = zoo("sync", "--all", "--random-weights", "-j", "2", "--keep-going", "--out", str(out))
    assert synced.returncode == 0, synced.stdout[-3000:] + synced.stderr[-3000:]
    models = load_catalog().models
    records = read_records(out)
    assert set(records) == set(models)
    for model_id, record in records.items():
        assert record.random_weights
        assert {s.status for s in record.steps.values()} == {"ran"}, model_id
        assert record.metric("validate", "max_abs") <= models[model_id].validate_.atol, model_id
        assert record.metric("simplify", "flops_g") > 0 and record.metric("convert", "params") > 0

    warm = zoo("sync", "--all", "--random-weights", "--out", str(out))
    assert warm.returncode == 0 and "nothing to do" in warm.stdout + warm.stderr

    docs = zoo("docs", "--records", str(out), "--out", str(tmp_path / "docs"))
    assert docs.returncode == 0, docs.stderr
    page = (tmp_path / "docs" / "cspnet.md").read_text(encoding="utf-8")
    assert "From the `zoo sync` records of 7 of 7 models" in page
    assert "random weights" in page
