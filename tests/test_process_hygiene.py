"""Children die with their parent: an onnxsim child never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie waiting for its reaper is dead too
        return handle.read().split()[2] != "Z"


def test_simplify_child_dies_when_its_parent_is_killed() -> None:
    """The parent starts a child exactly as the simplify step does (same entry guard), then gets kill -9."""
    parent_code = textwrap.dedent("""
        import os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c",
            "import sys, time; from zoo.measure.simplify import _die_with; _die_with(int(sys.argv[1])); "
            "print('ready', flush=True); time.sleep(120)", str(os.getpid())], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        print(child.pid, flush=True)
        child.wait()
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid), "the onnxsim child outlived its parent"
