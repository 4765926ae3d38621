"""A real S3 endpoint for tests: moto's server on 127.0.0.1, a bucket, and the AWS variables to reach it.

The credentials are dummies, but tests treat them as secrets: they must never appear in output,
records or cache entries.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BUCKET = "zoo-cache"
SECRET = "s3cr3t-Do-Not-Print-7f3a"
KEY_ID = "AKIAZOOTESTKEY000001"


@dataclass
class S3Server:
    """A running moto server: its endpoint URL and the environment a client needs."""

    server: object
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def url(self, prefix: str = "zoo") -> str:
        return f"s3://{BUCKET}/{prefix}"

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]

    def restart(self) -> None:
        """Serve again on the same port; moto keeps the stored objects in this process."""
        from moto.server import ThreadedMotoServer

        host, port = self.endpoint.removeprefix("http://").split(":")
        self.server = ThreadedMotoServer(ip_address=host, port=int(port), verbose=False)
        self.server.start()  # type: ignore[attr-defined]


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """Start moto's S3 server on an ephemeral port with one empty bucket; stop it afterwards.

    moto keeps its objects per process, not per server: the start resets them, so that what an
    earlier test stored does not show up in this one (one server at a time, then).
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    running = S3Server(server, f"http://{host}:{port}")
    saved = {name: os.environ.get(name) for name in running.env}
    os.environ.update(running.env)
    try:
        _reset(running.endpoint)
        import boto3

        boto3.client("s3", endpoint_url=running.endpoint).create_bucket(Bucket=BUCKET)
        yield running
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        running.stop()


def _reset(endpoint: str) -> None:
    """Forget every bucket and object moto holds in this process."""
    with urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30):
        pass
