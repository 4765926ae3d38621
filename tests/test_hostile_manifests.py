"""Hostile manifests: alias bombs, self-containing aliases, deep nesting and huge files are refused
with a located message, in bounded time and memory, by every command that loads manifests."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

#: Address-space ceiling for the child `zoo` process: far above what lint needs, far below a bomb's.
MEMORY_LIMIT = 3 << 30

HEADER = "family: bomb\ntitle: Bomb\n"
LAUGHS = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" if i else "l0: &l0 ['ha', 'ha', 'ha', 'ha', 'ha', 'ha', 'ha', 'ha', 'ha']\n"
    for i in range(9)
)


def zoo_limited(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run([sys.executable, "-m", "zoo_cli", "--manifests", "manifests", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, preexec_fn=limit, check=False)


@pytest.mark.parametrize(("text", "expected"), [
    (HEADER + LAUGHS + "defaults: {tags: *l8}\nmodels: [{name: a}]\n", "expands to more than"),
    (HEADER + "defaults: &d {x: [*d]}\nmodels: [{name: a}]\n", None),
    (HEADER + "models: " + "[" * 500 + "]" * 500 + "\n", None),
    (HEADER + "models:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(200)), "deeper than"),
], ids=["billion-laughs", "self-alias", "deep-flow", "deep-block"])
def test_bombs_are_refused_in_bounded_memory(tmp_path: Path, text: str, expected: str | None) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "bomb.yaml").write_text(text, encoding="utf-8")
    for command in (["lint"], ["list"], ["render", "--all", "--out", "out"]):
        result = zoo_limited(*command, cwd=tmp_path)
        assert "Traceback" not in result.stderr, result.stderr
        assert "MemoryError" not in result.stderr
        if command == ["lint"]:
            assert result.returncode == 1
            assert "bomb.yaml:" in result.stderr or "bomb.yaml:" in result.stdout
            if expected:
                assert expected in result.stderr + result.stdout


def test_self_containing_alias_names_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "bomb.yaml").write_text(HEADER + "defaults: &d {x: [*d]}\nmodels: [{name: a}]\n", encoding="utf-8")
    result = zoo_limited("lint", cwd=tmp_path)
    assert "bomb.yaml:3:" in result.stderr + result.stdout
    assert "alias contains itself" in result.stderr + result.stdout


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "big.yaml").write_text(HEADER + "description: '" + "x" * (5 << 20) + "'\n", encoding="utf-8")
    result = zoo_limited("lint", cwd=tmp_path)
    assert result.returncode == 1
    assert "over the 4194304-byte limit" in result.stderr + result.stdout
    assert "ZOO_MAX_MANIFEST_BYTES" in result.stderr + result.stdout
