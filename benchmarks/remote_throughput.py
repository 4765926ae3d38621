"""Push/pull throughput of the remote cache tier against boto3's own upload/download of the same bytes.

Goal: zoo's push and pull reach >= 0.8 of what `aws s3 cp` (boto3's managed transfer, which it
uses) achieves on the same file and the same S3 server. zoo does more per byte than boto3: a
conditional (create-if-absent) write, and a pull that hashes while it streams and publishes
only a verified file.

The S3 server is moto's, started in its own process on 127.0.0.1 so that its CPU work is not
counted in the client's interpreter; it is the same server for both clients, so the ratio
measures the clients.

Run: .venv/bin/python benchmarks/remote_throughput.py [--mb 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUCKET = "bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("moto's S3 server did not start")


def measure(label: str, action, repeats: int, nbytes: int) -> float:  # type: ignore[no-untyped-def]
    rates = []
    for index in range(repeats):
        start = time.perf_counter()
        action(index)
        rates.append(nbytes / (time.perf_counter() - start) / 1e6)
    best = statistics.median(rates)
    print(f"  {label:<28} {best:8.1f} MB/s  (runs: {', '.join(f'{r:.1f}' for r in rates)})")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    server = start_server(port)
    try:
        import boto3

        from zoo.store.remote import RemoteCache

        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "blob.bin"
            source.write_bytes(os.urandom(args.mb << 20))
            nbytes = source.stat().st_size
            print(f"{args.mb} MB through moto's S3 server on 127.0.0.1, median of {args.repeats}:")
            base_up = measure("boto3 upload_file", lambda i: client.upload_file(str(source), BUCKET, f"b/{i}"),
                              args.repeats, nbytes)
            base_down = measure("boto3 download_file",
                                lambda i: client.download_file(BUCKET, f"b/{i}", str(Path(tmp) / f"d{i}")),
                                args.repeats, nbytes)
            remote = RemoteCache(f"s3://{BUCKET}/zoo/0")
            digest = hashlib.sha256(source.read_bytes()).hexdigest()

            def push(index: int) -> None:
                fresh = RemoteCache(f"s3://{BUCKET}/zoo/{index}")  # each run uploads for real
                assert fresh.push_blob(digest, source)

            zoo_up = measure("zoo push (create-if-absent)", push, args.repeats, nbytes)
            zoo_down = measure("zoo pull (verified)",
                               lambda i: remote.pull_blob(digest, Path(tmp) / f"p{i}"), args.repeats, nbytes)
        print(f"push / boto3 upload:   {zoo_up / base_up:.2f}x  (goal >= 0.8)")
        print(f"pull / boto3 download: {zoo_down / base_down:.2f}x  (goal >= 0.8)")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
