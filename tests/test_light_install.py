"""zoo without extras (no torch, paddle, timm, mmpretrain, paddleclas): the commands that need
no framework work on the shipped zoo, and a sync says which command installs what it lacks.
The interpreter is made light by `tests/light_install/sitecustomize.py` (imports of the
frameworks fail as if they were not installed); `zoo install --dry-run` shows the pip commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import ROOT

LIGHT = ROOT / "tests" / "light_install"


def light_zoo(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The `zoo` command on the shipped manifests, in an interpreter where no framework imports."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(LIGHT), str(ROOT))), "ZOO_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "zoo_cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_interpreter_is_really_light(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(LIGHT)}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True, check=False)
    assert probe.returncode == 1 and "No module named 'torch'" in probe.stderr


@pytest.mark.parametrize("command", [
    ["list"], ["lint"], ["show", "ppcls/AlexNet"], ["docs", "--check"], ["plan", "--all", "--random-weights"],
])
def test_commands_without_weights_work_without_frameworks(tmp_path: Path, command: list[str]) -> None:
    result = light_zoo(*command, home=tmp_path / "store")
    assert result.returncode == 0, result.stderr


def test_render_works_without_frameworks(tmp_path: Path) -> None:
    result = light_zoo("render", "--all", "--out", str(tmp_path / "out"), home=tmp_path / "store")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "ppcls-AlexNet" / "ppcls_AlexNet.yaml").is_file()


@pytest.mark.parametrize("model, extra", [("timm/cspresnet50", "timm"), ("ppcls/SqueezeNet1_0", "ppcls")])
def test_sync_says_which_command_installs_the_missing_framework(tmp_path: Path, model: str, extra: str) -> None:
    result = light_zoo("sync", model, "--random-weights", "--out", str(tmp_path / "out"), home=tmp_path / "store")
    assert result.returncode == 1
    assert f"{model} convert failed: the {extra} converter needs the Python module " in result.stderr
    assert f"which is not installed; run `zoo install {extra}` (or see `zoo doctor`), then sync again" in result.stderr
    assert "Traceback" not in result.stderr


def test_install_runs_pip_with_the_no_deps_step_each_extra_needs(tmp_path: Path) -> None:
    result = light_zoo("install", "mmcls", "timm", "--dry-run", home=tmp_path / "store")
    first, second = result.stdout.splitlines()
    assert first.startswith("python -m pip install ") and "torch==" in first and "'mmengine>=0.10'" in first
    assert "'timm>=1.0'" in first and "mmpretrain" not in first
    assert second == "python -m pip install --no-deps mmpretrain==1.2.0"
    assert light_zoo("install", "timm", "--dry-run", home=tmp_path).stdout.count("\n") == 1  # nothing --no-deps


def test_a_missing_test_dependency_fails_unless_a_light_install_is_declared(tmp_path: Path) -> None:
    (tmp_path / "test_needs.py").write_text(
        "from tests.factories import require\n\n\ndef test_needs() -> None:\n    require('zoo_no_such_module')\n",
        encoding="utf-8")

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_needs.py"],
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, capture_output=True,
                              text=True, timeout=120, check=False)

    strict = run()
    assert strict.returncode == 1 and "this test needs zoo_no_such_module, which is not installed" in strict.stdout
    light = run(ZOO_TEST_LIGHT="1")
    assert light.returncode == 0 and "1 skipped" in light.stdout
