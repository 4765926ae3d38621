"""Shared fixtures: real servers and clusters on 127.0.0.1, and workspaces a test asks for by name.

The servers themselves live in `tests/fault_server.py`, `tests/s3_server.py` and
`tests/dask_cluster.py`; the files and manifests the workspaces hold are built by `tests/factories.py`.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.dask_cluster import Cluster, start_cluster
from tests.factories import MARKERS_ENV, ROOT, scenario_accuracy, synced_workspace, write_photographs
from tests.fault_server import FaultServer
from tests.s3_server import S3Server, s3_server

#: `make setup` downloads this wheel once: timm at another version than the installed one.
TIMM_065 = ROOT / ".venv" / "test-wheels" / "timm-0.6.5-py3-none-any.whl"


# --------------------------------------------------------------------------------------------------- servers
@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A threaded HTTP server on 127.0.0.1 (ephemeral port) with injectable faults, stopped after the test."""
    with FaultServer() as server:
        yield server


@pytest.fixture
def s3() -> Iterator[S3Server]:
    """moto's S3 server with one empty bucket, and the AWS variables set to reach it, for one test."""
    with s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def module_s3() -> Iterator[S3Server]:
    """`s3` shared by the tests of a module, for module-scoped fixtures (a cluster) that need its address."""
    with s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def dask_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Cluster]]:
    """Starts real Dask clusters: `dask_clusters(env, workers=2)` -> a running `Cluster` (a scheduler
    and worker processes, each worker with its own ZOO_HOME). Every one is stopped after the module;
    `with dask_clusters(...) as cluster:` stops it sooner."""
    started: list[Cluster] = []

    def start(env: dict[str, str], workers: int = 2) -> Cluster:
        started.append(start_cluster(tmp_path_factory.mktemp("cluster"), workers, env))
        return started[-1]

    yield start
    for cluster in started:
        cluster.stop()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
        pass


@pytest.fixture
def timm_065_index() -> Iterator[dict[str, str]]:
    """The environment that makes pip install from a local index holding only timm 0.6.5.

    The wheel's folder is served over HTTP on 127.0.0.1 (its listing is a find-links page; no
    index, no pip config), so reading timm 0.6.5 never touches the network. Skips the test,
    saying why, when `make setup` has not fetched the wheel yet.
    """
    if not TIMM_065.is_file():
        pytest.skip(f"{TIMM_065.relative_to(ROOT)} is missing; `make setup` downloads it once")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(TIMM_065.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": f"http://127.0.0.1:{server.server_address[1]}/",
               "PIP_CONFIG_FILE": os.devnull}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ------------------------------------------------------------------------------------------------ workspaces
@pytest.fixture
def markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder where the test steps of `tests.factories` leave a line each time they run."""
    folder = tmp_path / "markers"
    folder.mkdir()
    monkeypatch.setenv(MARKERS_ENV, str(folder))
    return folder


@pytest.fixture(scope="session")
def colours_synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace after a real `zoo sync` of the colour classifier, its manifest expecting the
    scenario's exact accuracy (see `factories.synced_workspace`). Shared: copy it to change it."""
    top1, top5 = scenario_accuracy()
    return synced_workspace(tmp_path_factory.mktemp("synced"), expected=(round(top1, 3), round(top5, 3)))


@pytest.fixture
def colours_workspace(colours_synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of `colours_synced` (a test may change its record, manifest or data). Its manifest
    still names the original's weights, so the original's folder is a file-URL root for the test."""
    monkeypatch.setenv("ZOO_FILE_ROOTS", str(colours_synced / "manifests"))
    return Path(shutil.copytree(colours_synced, tmp_path / "work", symlinks=True))


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Image.Image]:
    """scikit-image's photographs decoded to RGB as zoo decodes a dataset's images."""
    from zoo.measure.datasets import load_rgb

    return [load_rgb(path)[0] for path in write_photographs(tmp_path_factory.mktemp("photos"))]
