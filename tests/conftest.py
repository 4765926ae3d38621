"""Shared fixtures: a real HTTP server with injectable faults (see tests/fault_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fault_server import FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A threaded HTTP server on 127.0.0.1 (ephemeral port), stopped after the test."""
    with FaultServer() as server:
        yield server
