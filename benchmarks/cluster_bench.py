"""What scaling out costs and what sharing saves: a Dask cluster against local workers, and a remote hit
against a cold conversion.

(a) `zoo sync` of the four shipped models with the fewest reported parameters, random weights,
    empty stores: on 2 Dask workers (`--executor dask://... --remote s3://...`) against local
    `-j 2`. Goal: overhead <= 1.15x. The cluster runs on this machine: a `dask scheduler` and two
    `dask worker --nthreads 1 --resources heavy=1` processes, each worker with its own ZOO_HOME,
    started before the clock runs (like a cluster that is up); moto's S3 server is the remote.
(b) A second client with an empty store syncing the same models against the same remote, against
    converting them cold locally. Goal: >= 20x faster.
(Push/pull throughput against boto3 is `remote_throughput.py`.)

Run: .venv/bin/python benchmarks/cluster_bench.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_support import timed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dask_cluster import dask_cluster  # noqa: E402  (a real scheduler and workers)


def smallest_models(count: int = 4) -> list[str]:
    """The shipped models with the fewest reported parameters (the smallest files to move)."""
    from zoo.manifest.catalog import load_catalog

    models = [m for m in load_catalog().models.values() if m.reported.params_m is not None]
    return [m.id for m in sorted(models, key=lambda m: m.reported.params_m or 0)[:count]]


def start_s3(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    import boto3

    boto3.client("s3").create_bucket(Bucket="bench")
    return server


def sync(work: Path, client: str, models: list[str], *extra: str) -> float:
    command = [sys.executable, "-m", "zoo_cli", "sync", *models, "--random-weights",
               "--store", str(work / client / "store"), "--out", str(work / client / "out"), *extra]
    return timed(command, work)


def boto3_floor(store: Path, scratch: Path) -> tuple[float, int]:
    """Seconds `aws s3 cp` (boto3's download_file) takes for the blobs the second client pulled."""
    import boto3

    client = boto3.client("s3")
    blobs = [p for p in (store / "cas" / "sha256").rglob("*") if p.is_file()]
    start = time.perf_counter()
    for blob in blobs:
        client.download_file("bench", f"zoo/cas/sha256/{blob.name[:2]}/{blob.name}", str(scratch / blob.name))
    return time.perf_counter() - start, sum(b.stat().st_size for b in blobs)


def main() -> None:
    models = smallest_models()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    server = start_s3(port)
    try:
        with tempfile.TemporaryDirectory(prefix="zoo-cluster-bench-") as scratch:
            work = Path(scratch)
            local = sync(work, "local", models, "-j", "2")
            with dask_cluster(work / "cluster", workers=2) as cluster:
                address = "dask://" + cluster.address.removeprefix("tcp://")
                remote = "s3://bench/zoo"
                on_cluster = sync(work, "client", models, "--executor", address, "--remote", remote)
                pulled = sync(work, "colleague", models, "--remote", remote)
                floor, nbytes = boto3_floor(work / "colleague" / "store", work)
        print(f"{len(models)} models ({', '.join(models)}), random weights, empty stores:")
        print(f"  local -j 2                    : {local:6.1f} s")
        print(f"  2 Dask workers + S3 remote    : {on_cluster:6.1f} s   overhead {on_cluster / local:.2f}x (goal <= 1.15)")
        print(f"  second client, remote hits    : {pulled:6.1f} s   {local / pulled:.1f}x faster than cold (goal >= 20)")
        print(f"  `aws s3 cp` of the same {nbytes / 1e6:.0f} MB : {floor:6.1f} s   (what moving these bytes costs here)")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
