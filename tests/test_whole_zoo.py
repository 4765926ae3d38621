"""The whole shipped zoo through `zoo sync --random-weights`, then the docs from its records.

Slow (every seed architecture is built, exported, simplified and validated: about 10 min on
2 cores), so it is deselected by default: run it with `pytest -m slow`. Its timeout is three times
that; the ~10 GB of ONNX files and store it writes are removed when it ends, pass or fail.
"""

from __future__ import annotations

import os
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


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT)
def test_every_shipped_model_syncs_validates_and_reaches_the_docs(scratch: Path) -> None:
    env = {**os.environ, "ZOO_HOME": str(scratch / "store")}
    out = scratch / "out"

    def zoo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True,
                              env=env, cwd=scratch, timeout=TIMEOUT, check=False)

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

    docs = zoo("docs", "--records", str(out), "--out", str(scratch / "docs"))
    assert docs.returncode == 0, docs.stderr
    page = (scratch / "docs" / "cspnet.md").read_text(encoding="utf-8")
    assert "From the `zoo sync` records of 7 of 7 models" in page
    assert "random weights" in page
