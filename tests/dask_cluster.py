"""A real Dask cluster for tests: one `dask scheduler` and N `dask worker` processes on 127.0.0.1.

Each worker gets its own `ZOO_HOME` and working folder and nothing else of the client's: like
separate machines, they share only the scheduler and the remote cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_START_TIMEOUT = 60.0


@dataclass
class Worker:
    name: str
    home: Path
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """kill -9, as a crashed machine or the out-of-memory killer would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Cluster:
    """A running scheduler and its workers; `with cluster:` (or `stop()`) stops them all."""

    address: str
    scheduler: subprocess.Popen[bytes]
    folder: Path
    env: dict[str, str]
    scheduler_log: IO[bytes]
    workers: list[Worker] = field(default_factory=list)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_worker(self, name: str, *, heavy: int = 1) -> Worker:
        home = self.folder / name
        (home / "cwd").mkdir(parents=True, exist_ok=True)
        env = {**self.env, "ZOO_HOME": str(home / "store")}
        command = [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--name", name,
                   "--nthreads", "1", "--nworkers", "1", "--resources", f"heavy={heavy}", "--no-dashboard",
                   "--local-directory", str(home / "dask"), "--death-timeout", "60"]
        log = open(home / "worker.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(command, cwd=home / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        worker = Worker(name, home, process)
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=_START_TIMEOUT) as client:
            client.wait_for_workers(count, timeout=_START_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM every process still running and wait for it (again: nothing to do)."""
        for process in [*(w.process for w in self.workers), self.scheduler]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*(w.process for w in self.workers), self.scheduler]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.scheduler_log.close()


def start_cluster(folder: Path, workers: int = 2, env: dict[str, str] | None = None) -> Cluster:
    """Start a scheduler and `workers` workers (each with its own ZOO_HOME); the caller stops them."""
    folder.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {}), "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler_file = folder / "scheduler.json"
    command = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
               "--no-dashboard", "--scheduler-file", str(scheduler_file)]
    log = open(folder / "scheduler.log", "wb")  # noqa: SIM115 - closed by Cluster.stop
    scheduler = subprocess.Popen(command, cwd=folder, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    cluster = Cluster("", scheduler, folder, full_env, log)
    try:
        cluster.address = _address(scheduler_file, scheduler)
        for index in range(workers):
            cluster.add_worker(f"worker-{index + 1}")
        cluster.wait_for_workers(workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _address(scheduler_file: Path, scheduler: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with status {scheduler.returncode}")
        try:
            return str(json.loads(scheduler_file.read_text())["address"])
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError("dask scheduler did not start within a minute")
