"""`zoo sync --executor dask://... --remote s3://...` on a real cluster: a `dask scheduler` and two
`dask worker` processes on 127.0.0.1, each worker with its own ZOO_HOME and working folder (no disk
shared with the client or each other), and moto's S3 server as the remote. Models come from the
tinylib plugin (no framework to import, so the cluster tests stay fast); every conversion leaves a
marker, so "converted once" is counted, and `slow*` models dawdle so that a test can kill what runs them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.dask_cluster import Cluster
from tests.factories import PLUGIN, ROOT, tinylib_workspace
from tests.plugins.tinylib import MARKERS_ENV, SLOW_ENV
from tests.s3_server import KEY_ID, SECRET, S3Server
from zoo.pipeline.record import read_record

SLOW_SECONDS = "6"


@pytest.fixture(scope="module")
def s3(module_s3: S3Server) -> S3Server:
    """One S3 server for the module: the cluster's workers are started with its address."""
    return module_s3


@pytest.fixture(scope="module")
def marker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tinylib leaves a marker per conversion, on every machine (client or worker)."""
    return tmp_path_factory.mktemp("markers")


def cluster_env(s3: S3Server, markers: Path) -> dict[str, str]:
    """What a worker needs besides its own ZOO_HOME: the plugin, its markers, and the remote."""
    return {"ZOO_SOURCES": PLUGIN, "PYTHONPATH": str(ROOT), MARKERS_ENV: str(markers), SLOW_ENV: SLOW_SECONDS,
            **s3.env}


@pytest.fixture(scope="module")
def cluster(s3: S3Server, marker_dir: Path, dask_clusters: Callable[..., Cluster]) -> Cluster:
    return dask_clusters(cluster_env(s3, marker_dir), workers=2)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Manifests of tinylib models: tiny8 (weights from a file), tiny4, tiny6 and slow6 (random weights)."""
    more = "".join(f"  - name: {name}\n" for name in ("tiny4", "tiny6"))
    more += "  - {name: slow6, source: {arch: tiny6}}\n"  # same arch as tiny6: its own key all the same
    return tinylib_workspace(tmp_path, more)


def zoo_sync(project: Path, client: str, *args: str, cluster: Cluster | None, s3: S3Server | None,
             markers: Path, background: bool = False) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    """`zoo sync` as `client` (its own ZOO_HOME and output folder), on the cluster when given."""
    env = {**os.environ, "ZOO_SOURCES": PLUGIN, "PYTHONPATH": str(ROOT), MARKERS_ENV: str(markers),
           SLOW_ENV: SLOW_SECONDS, "ZOO_HOME": str(project / client / "store"), "ZOO_REMOTE_TIMEOUT": "5"}
    command = [sys.executable, "-m", "zoo_cli", "--manifests", "manifests", "sync", "--random-weights",
               "--out", str(project / client / "out"), "--log-format", "json", *args]
    if cluster is not None and s3 is not None:
        command += ["--executor", f"dask://{cluster.address.removeprefix('tcp://')}", "--remote", s3.url(project.name)]
    if background:
        return subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)


def conversions(markers: Path, name: str) -> int:
    return len(list(markers.glob(f"convert-{name}-*")))


def events(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def published(project: Path, client: str, name: str) -> dict[str, bytes]:
    folder = project / client / "out" / f"tinylib-{name}"
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != "record.json"}


def test_cluster_sync_equals_a_local_sync(project: Path, cluster: Cluster, s3: S3Server, marker_dir: Path) -> None:
    local = zoo_sync(project, "local", "tinylib/tiny8", "tinylib/tiny4", cluster=None, s3=None, markers=marker_dir)
    assert local.returncode == 0, local.stderr
    remote = zoo_sync(project, "client", "tinylib/tiny8", "tinylib/tiny4", cluster=cluster, s3=s3, markers=marker_dir)
    assert remote.returncode == 0, remote.stdout + remote.stderr
    for name in ("tiny8", "tiny4"):
        assert published(project, "client", name) == published(project, "local", name)
        record = read_record(project / "client" / "out" / f"tinylib-{name}")
        assert record is not None
        assert all(step.worker and step.worker.startswith("worker-") for step in record.steps.values()), \
            {k: s.worker for k, s in record.steps.items()}
    started = [e for e in events(remote) if e["event"] == "step_started"]
    assert {e["step"] for e in started} == {"convert", "simplify", "validate", "render"}  # relayed from workers
    assert events(remote)[-1]["event"] == "summary"
    assert not (project / "client" / "store" / "work").exists() or not any((project / "client" / "store" / "work").iterdir())
    assert SECRET not in remote.stdout + remote.stderr and KEY_ID not in remote.stdout + remote.stderr


def test_a_second_client_pulls_everything(project: Path, cluster: Cluster, s3: S3Server, marker_dir: Path) -> None:
    first = zoo_sync(project, "alice", "tinylib/tiny6", cluster=cluster, s3=s3, markers=marker_dir)
    assert first.returncode == 0, first.stderr
    assert conversions(marker_dir, "tiny6") >= 1
    before = conversions(marker_dir, "tiny6")
    second = zoo_sync(project, "bob", "tinylib/tiny6", cluster=cluster, s3=s3, markers=marker_dir)
    assert second.returncode == 0, second.stderr
    assert conversions(marker_dir, "tiny6") == before
    assert {e["status"] for e in events(second) if e["event"] == "step_finished"} == {"cached"}
    assert published(project, "bob", "tiny6") == published(project, "alice", "tiny6")


def test_two_clients_at_once_convert_once(project: Path, cluster: Cluster, s3: S3Server, marker_dir: Path) -> None:
    before = conversions(marker_dir, "slow6")
    runs = [zoo_sync(project, who, "tinylib/slow6", cluster=cluster, s3=s3, markers=marker_dir, background=True)
            for who in ("carol", "dave")]
    for run in runs:
        assert isinstance(run, subprocess.Popen)
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, out + err
    assert conversions(marker_dir, "slow6") == before + 1
    assert published(project, "carol", "slow6") == published(project, "dave", "slow6")


def test_no_remote_is_refused(project: Path, cluster: Cluster, marker_dir: Path) -> None:
    env = {**os.environ, "ZOO_SOURCES": PLUGIN, "PYTHONPATH": str(ROOT), "ZOO_HOME": str(project / "store")}
    env.pop("ZOO_REMOTE", None)
    result = subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", "manifests", "sync", "tinylib/tiny4",
                             "--random-weights", "--executor", f"dask://{cluster.address.removeprefix('tcp://')}"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "needs a remote cache" in result.stderr and "Traceback" not in result.stderr


def test_a_killed_worker_gets_its_step_retried_elsewhere(project: Path, cluster: Cluster, s3: S3Server,
                                                         marker_dir: Path, tmp_path: Path) -> None:
    text = (project / "manifests" / "tinyfam.yaml").read_text() + "  - {name: slow9, source: {arch: tiny9}}\n"
    (project / "manifests" / "tinyfam.yaml").write_text(text)
    run = zoo_sync(project, "erin", "tinylib/slow9", cluster=cluster, s3=s3, markers=marker_dir, background=True)
    assert isinstance(run, subprocess.Popen)
    victim = _wait_for(lambda: next(marker_dir.glob("started-slow9-*"), None), 120)
    os.kill(int(victim.name.rsplit("-", 1)[1]), signal.SIGKILL)  # the worker process running the step
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    assert conversions(marker_dir, "slow9") == 1
    record = read_record(project / "erin" / "out" / "tinylib-slow9")
    assert record is not None and record.steps["convert"].status == "ran"


def test_ctrl_c_cancels_the_submitted_tasks(project: Path, cluster: Cluster, s3: S3Server, marker_dir: Path) -> None:
    text = (project / "manifests" / "tinyfam.yaml").read_text() + "  - {name: slow7, source: {arch: tiny7}}\n"
    (project / "manifests" / "tinyfam.yaml").write_text(text)
    run = zoo_sync(project, "frank", "tinylib/slow7", cluster=cluster, s3=s3, markers=marker_dir, background=True)
    assert isinstance(run, subprocess.Popen)
    _wait_for(lambda: next(marker_dir.glob("started-slow7-*"), None), 120)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, out + err
    from distributed import Client

    with Client(cluster.address, timeout=30) as client:
        deadline = time.monotonic() + 30
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(client.processing().values()), "the interrupted run left tasks on the cluster"


def _wait_for(probe, seconds: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_a_lost_scheduler_ends_the_run_clearly_and_a_rerun_resumes(project: Path, s3: S3Server, marker_dir: Path,
                                                                   dask_clusters: Callable[..., Cluster]) -> None:
    """Its own cluster: the scheduler is killed while a slow step runs; the run ends with a clear
    error, and a re-run on a new cluster finds the steps that reached the remote."""
    text = (project / "manifests" / "tinyfam.yaml").read_text() + "  - {name: slow5, source: {arch: tiny5}}\n"
    (project / "manifests" / "tinyfam.yaml").write_text(text)
    env = cluster_env(s3, marker_dir)
    os.environ["ZOO_DASK_LOST_AFTER"] = "3"
    try:
        with dask_clusters(env, workers=1) as doomed:
            warm = zoo_sync(project, "gina", "tinylib/tiny4", cluster=doomed, s3=s3, markers=marker_dir)
            assert warm.returncode == 0, warm.stderr
            run = zoo_sync(project, "gina", "tinylib/slow5", cluster=doomed, s3=s3, markers=marker_dir, background=True)
            assert isinstance(run, subprocess.Popen)
            _wait_for(lambda: next(marker_dir.glob("started-slow5-*"), None), 120)
            doomed.scheduler.send_signal(signal.SIGKILL)
            out, err = run.communicate(timeout=120)
            assert run.returncode == 1 and "lost the Dask scheduler" in out + err, out + err
            assert "Traceback" not in err
        with dask_clusters(env, workers=1) as again:
            rerun = zoo_sync(project, "gina", "tinylib/tiny4", "tinylib/slow5", cluster=again, s3=s3, markers=marker_dir)
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr
            finished = {(e["model"], e["step"]): e["status"] for e in events(rerun) if e["event"] == "step_finished"}
            assert {status for (model, _), status in finished.items() if model == "tinylib/tiny4"} == {"cached"}
    finally:
        os.environ.pop("ZOO_DASK_LOST_AFTER", None)
