"""The scheduler and the local backend: cache hits, records, parallelism, failure isolation,
races, kills, Ctrl-C, publishing (healing) and opt-in results carried across syncs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.factories import MARKERS_ENV, SLEEP_ENV, Measure, load_models, make_steps, marks, write_tiny_manifest
from tests.fault_server import Fault, FaultServer
from tests.sync_runner import run_sync
from zoo.errors import StepError
from zoo.manifest.schema import Model
from zoo.pipeline.plan import build_plan, measure_plan
from zoo.pipeline.record import Record, read_record
from zoo.pipeline.scheduler import RunResult, run_plan
from zoo.pipeline.steps.base import RunOptions, Step, StepResult
from zoo.store.local import LocalStore
from zoo_cli.cmd_sync import EXIT_INTERRUPTED, sync_models

HEAVY = ("torch", "timm", "onnx", "onnxruntime", "onnxsim", "paddle")


def sync(tmp_path: Path, names: list[str], *, jobs: int = 1, keep_going: bool = False,
         options: RunOptions | None = None, opt_in: list[Step] | None = None) -> RunResult:
    models = list(load_models(write_tiny_manifest(tmp_path / "manifests", names)).values())
    store = LocalStore(tmp_path / "store")
    plan = build_plan(models, options or RunOptions(), store, steps=make_steps(), opt_in=opt_in)
    return run_plan(plan, store, out_dir=tmp_path / "out", jobs=jobs, keep_going=keep_going)


def blob_file(store: LocalStore, digest: str) -> Path:
    """Where the local store keeps a blob (its documented layout)."""
    return store.root / "cas" / "sha256" / digest[:2] / digest


def statuses(result: RunResult) -> dict[tuple[str, str], str]:
    return {(o.model_id.split("/")[1], o.kind): o.status for o in result.outcomes}


def ends(markers: Path, name: str, kind: str) -> int:
    return len(marks(markers, f"timm-{name}", kind))


def test_cold_run_materialises_outputs_and_records(tmp_path: Path, markers: Path) -> None:
    result = sync(tmp_path, ["alpha", "beta"], jobs=2)
    assert result.ok and set(statuses(result).values()) == {"ran"}
    folder = tmp_path / "out" / "timm-alpha"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "deploy/timm-alpha.build_in.txt", "record.json", "timm-alpha.built.txt", "timm-alpha.src.txt"]
    record = read_record(folder)
    assert record is not None and record.model_id == "timm/alpha" and not record.random_weights
    assert list(record.steps) == ["source", "build", "publish"]
    store = LocalStore(tmp_path / "store")
    for step in record.steps.values():
        assert step.status == "ran" and step.key and step.seconds >= 0
        for output in step.outputs.values():
            data = (folder / output.name).read_bytes()
            assert output.digest == hashlib.sha256(data).hexdigest() and output.size == len(data)
            assert os.path.samefile(folder / output.name, blob_file(store, output.digest))  # hard link
    assert record.steps["source"].tool_versions == {"zoo-test-tool": "not installed"}
    assert record.steps["build"].metrics == {"bytes": record.steps["build"].outputs["built"].size,
                                             "inputs": ["src"]}
    assert record.steps["build"].warnings == ["built by a test step"]
    built = (folder / "timm-alpha.built.txt").read_text()
    assert built == "alpha [3, 32, 32] seed=0\nmean=[0.5, 0.5, 0.5]\n"
    assert (folder / "deploy" / "timm-alpha.build_in.txt").read_text() == f"timm-alpha.built.txt {len(built)}\n"
    assert not list(store.work.iterdir())  # scratch folders are cleaned up


def test_warm_rerun_does_no_work(tmp_path: Path, markers: Path) -> None:
    sync(tmp_path, ["alpha", "beta"], jobs=2)
    before = (tmp_path / "out" / "timm-alpha" / "timm-alpha.built.txt").stat().st_ino
    warm = sync(tmp_path, ["alpha", "beta"], jobs=2)
    assert warm.ok and warm.nothing_done and set(statuses(warm).values()) == {"cached"}
    assert all(ends(markers, n, k) == 1 for n in ("alpha", "beta") for k in ("source", "build", "publish"))
    record = read_record(tmp_path / "out" / "timm-beta")
    assert record is not None and {s.status for s in record.steps.values()} == {"cached"}
    assert (tmp_path / "out" / "timm-alpha" / "timm-alpha.built.txt").stat().st_ino == before

    # a change only `publish` reads: only it runs, and its old file leaves the output folder
    changed = sync(tmp_path, ["alpha"], options=RunOptions(profile="sdk1"))
    assert statuses(changed) == {("alpha", "source"): "cached", ("alpha", "build"): "cached",
                                 ("alpha", "publish"): "ran"}
    assert ends(markers, "alpha", "publish") == 2
    deploy = tmp_path / "out" / "timm-alpha" / "deploy"
    assert [p.name for p in deploy.iterdir()] == ["timm-alpha.sdk1.txt"]


def test_output_files_deleted_by_the_user_come_back(tmp_path: Path, markers: Path) -> None:
    sync(tmp_path, ["alpha"])
    (tmp_path / "out" / "timm-alpha" / "timm-alpha.src.txt").unlink()
    assert sync(tmp_path, ["alpha"]).nothing_done
    assert (tmp_path / "out" / "timm-alpha" / "timm-alpha.src.txt").read_text() == "alpha [3, 32, 32] seed=0\n"


def test_jobs_2_runs_independent_models_at_once(tmp_path: Path, markers: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SLEEP_ENV, "2")
    assert sync(tmp_path / "parallel", ["slow_a", "slow_b"], jobs=2).ok
    (a_start, a_pid), (b_start, b_pid) = (marks(markers, f"timm-{n}", "build", "start")[0]
                                          for n in ("slow_a", "slow_b"))
    (a_end, _), (b_end, _) = (marks(markers, f"timm-{n}", "build")[0] for n in ("slow_a", "slow_b"))
    assert a_start < b_end and b_start < a_end  # the two heavy steps overlapped
    assert a_pid != b_pid and os.getpid() not in (a_pid, b_pid)  # each in its own worker process

    for path in markers.iterdir():
        path.unlink()
    assert sync(tmp_path / "serial", ["slow_a", "slow_b"], jobs=1).ok
    (a_start, _), (b_start, _) = (marks(markers, f"timm-{n}", "build", "start")[0] for n in ("slow_a", "slow_b"))
    (a_end, _), (b_end, _) = (marks(markers, f"timm-{n}", "build")[0] for n in ("slow_a", "slow_b"))
    assert a_end <= b_start or b_end <= a_start


def test_a_crashing_worker_fails_only_its_model(tmp_path: Path, markers: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    names = ["alpha", "bug", "crash", "fail", "kill", "omega"]
    models = list(load_models(write_tiny_manifest(tmp_path / "manifests", names)).values())
    store = LocalStore(tmp_path / "store")
    code = sync_models(models, store=store, options=RunOptions(), out_dir=tmp_path / "out", jobs=2,
                       keep_going=True, steps=make_steps())
    assert code == 1
    shown = capsys.readouterr()
    assert "sync summary" in shown.out and "failed" in shown.out and "skipped" in shown.out
    assert "timm/crash build failed: the worker process died (exit status 137; " in shown.err
    assert "out-of-memory" in shown.err
    assert "timm/kill build failed: the worker process died (killed by SIGKILL" in shown.err
    assert "timm/fail build failed: timm/fail: told to fail" in shown.err
    assert "timm/bug build failed: ValueError: a bug in the step" in shown.err
    for name in ("alpha", "omega"):
        record = read_record(tmp_path / "out" / f"timm-{name}")
        assert record is not None and {s.status for s in record.steps.values()} == {"ran"}
    crashed = read_record(tmp_path / "out" / "timm-crash")
    assert crashed is not None
    assert [s.status for s in crashed.steps.values()] == ["ran", "failed", "skipped"]
    assert crashed.steps["publish"].error == "build failed"
    assert "exit status 137" in (crashed.steps["build"].error or "")
    # the failures left nothing behind, and a re-run retries exactly the failed steps
    assert not list(store.work.iterdir())
    again = sync(tmp_path, names, jobs=2, keep_going=True)
    assert {k: v for k, v in statuses(again).items() if v != "cached"} == {
        (n, k): s for n in ("bug", "crash", "fail", "kill") for k, s in (("build", "failed"), ("publish", "skipped"))}


def test_traceback_of_a_bug_is_kept_for_debug(tmp_path: Path, markers: Path) -> None:
    result = sync(tmp_path, ["bug"])
    build = next(o for o in result.outcomes if o.kind == "build")
    assert build.status == "failed" and build.detail and "raise ValueError" in build.detail


def test_without_keep_going_no_new_model_starts_after_a_failure(tmp_path: Path, markers: Path) -> None:
    result = sync(tmp_path, ["a_fail", "beta"], jobs=1)
    assert not result.ok
    assert statuses(result) == {
        ("a_fail", "source"): "ran", ("a_fail", "build"): "failed", ("a_fail", "publish"): "skipped",
        ("beta", "source"): "skipped", ("beta", "build"): "skipped", ("beta", "publish"): "skipped"}
    assert "use --keep-going" in (next(o for o in result.outcomes if o.model_id == "timm/beta").error or "")
    assert not (tmp_path / "out" / "timm-beta").exists()  # never started: no record written
    kept = sync(tmp_path, ["a_fail", "beta"], jobs=1, keep_going=True)
    assert {s for (n, _), s in statuses(kept).items() if n == "beta"} == {"ran"}


def runner_args(tmp_path: Path, out: str, *extra: str) -> list[str]:
    return ["--manifest", str(tmp_path / "manifests" / "tiny.yaml"), "--store", str(tmp_path / "store"),
            "--out", str(tmp_path / out), *extra]


def wait_for(condition, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_processes_syncing_one_model_compute_it_once(tmp_path: Path, markers: Path) -> None:
    write_tiny_manifest(tmp_path / "manifests", ["slow"])
    env = {MARKERS_ENV: str(markers), SLEEP_ENV: "2"}
    first = run_sync(runner_args(tmp_path, "out1", "--log-format", "json"), env, wait=False)
    second = run_sync(runner_args(tmp_path, "out2", "--log-format", "json"), env, wait=False)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outs
    assert ends(markers, "slow", "build") == 1 and ends(markers, "slow", "source") == 1
    summaries = [json.loads(out.splitlines()[-1]) for out, _ in outs]
    assert all(s["event"] == "summary" and s["ok"] for s in summaries)
    build_statuses = sorted(next(r["status"] for r in s["steps"] if r["step"] == "build") for s in summaries)
    assert build_statuses == ["cached", "ran"]
    records = [read_record(tmp_path / out / "timm-slow") for out in ("out1", "out2")]
    assert records[0] is not None and records[1] is not None
    assert records[0].steps["publish"].outputs == records[1].steps["publish"].outputs
    assert LocalStore(tmp_path / "store").verify().ok


def test_kill_9_during_a_step_then_a_rerun_completes(tmp_path: Path, markers: Path) -> None:
    write_tiny_manifest(tmp_path / "manifests", ["alpha", "slow"])
    process = run_sync(runner_args(tmp_path, "out", "-j", "2"), {MARKERS_ENV: str(markers), SLEEP_ENV: "60"},
                       wait=False)
    wait_for(lambda: marks(markers, "timm-slow", "build", "start") and ends(markers, "alpha", "publish"))
    worker = marks(markers, "timm-slow", "build", "start")[0][1]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    wait_for(lambda: not alive(worker), timeout=15)  # the orphaned worker notices and exits
    store = LocalStore(tmp_path / "store")
    assert store.verify().ok
    assert not list((tmp_path / "out").rglob(".*.tmp"))

    again = run_sync(runner_args(tmp_path, "out", "-j", "2"), {MARKERS_ENV: str(markers), SLEEP_ENV: "0"})
    assert again.returncode == 0, again.stderr
    assert ends(markers, "slow", "source") == 1 and ends(markers, "slow", "build") == 1  # source was kept
    assert ends(markers, "alpha", "build") == 1
    record = read_record(tmp_path / "out" / "timm-slow")
    assert record is not None and [s.status for s in record.steps.values()] == ["cached", "ran", "ran"]
    assert not list(store.work.iterdir())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path: Path, markers: Path, sig: int) -> None:
    write_tiny_manifest(tmp_path / "manifests", ["alpha", "slow"])
    process = run_sync(runner_args(tmp_path, "out", "-j", "2"), {MARKERS_ENV: str(markers), SLEEP_ENV: "60"},
                       wait=False)
    wait_for(lambda: marks(markers, "timm-slow", "build", "start") and ends(markers, "alpha", "publish"))
    worker = marks(markers, "timm-slow", "build", "start")[0][1]
    started = time.monotonic()
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert process.returncode == EXIT_INTERRUPTED, (out[-2000:], err[-6000:])
    assert time.monotonic() - started < 20  # did not wait for the 60 s step
    assert "interrupted" in err and "Traceback" not in err
    assert not alive(worker)
    assert read_record(tmp_path / "out" / "timm-alpha") is not None  # finished models are kept
    assert read_record(tmp_path / "out" / "timm-slow") is None
    store = LocalStore(tmp_path / "store")
    assert not list(store.work.iterdir()) and store.verify().ok

    again = run_sync(runner_args(tmp_path, "out", "-j", "2"), {MARKERS_ENV: str(markers), SLEEP_ENV: "0"})
    assert again.returncode == 0, again.stderr
    assert "nothing to do" not in again.stdout
    assert ends(markers, "slow", "source") == 1 and ends(markers, "alpha", "build") == 1


def test_one_download_for_two_processes_and_resume_after_kill_9(tmp_path: Path, markers: Path,
                                                                 fault_server: FaultServer) -> None:
    weights = os.urandom(3 << 20)
    url = fault_server.add("/w/slow_weights.pth", weights)
    write_tiny_manifest(tmp_path / "manifests", ["alpha"], weights_url=url)
    fault_server.fault("/w/slow_weights.pth", Fault(bytes_per_second=2 << 20, times=None))
    env = {MARKERS_ENV: str(markers)}
    racers = [run_sync(runner_args(tmp_path, f"out{i}", "--fetch"), env, wait=False) for i in (1, 2)]
    outs = [p.communicate(timeout=120) for p in racers]
    assert [p.returncode for p in racers] == [0, 0], outs
    assert len(fault_server.requests("/w/slow_weights.pth")) == 1  # one download for both
    for i in (1, 2):
        record = read_record(tmp_path / f"out{i}" / "timm-alpha")
        assert record is not None and record.steps["fetch"].outputs["weights"].digest == hashlib.sha256(
            weights).hexdigest()
        assert not (tmp_path / f"out{i}" / "timm-alpha" / "slow_weights.pth").exists()  # weights stay in the store

    # kill -9 in the middle of a download; the next run fetches only the rest
    fresh = tmp_path / "second"
    write_tiny_manifest(fresh / "manifests", ["alpha"], weights_url=url)
    process = run_sync(runner_args(fresh, "out", "--fetch"), env, wait=False)
    parts = fresh / "store" / "downloads"
    wait_for(lambda: any(p.stat().st_size > (1 << 20) for p in parts.rglob("*.part")))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    fault_server.clear_faults("/w/slow_weights.pth")
    again = run_sync(runner_args(fresh, "out", "--fetch"), env)
    assert again.returncode == 0, again.stderr
    last = fault_server.requests("/w/slow_weights.pth")[-1]
    assert last.range is not None and last.range.startswith("bytes=") and last.range != "bytes=0-"
    assert last.sent < len(weights)
    record = read_record(fresh / "out" / "timm-alpha")
    assert record is not None and record.steps["fetch"].metrics["resumed_bytes"] > (1 << 20)
    assert record.steps["build"].status == "ran"
    # off a terminal a download is not silent: one line names the file, its size and the resume
    assert "fetched slow_weights.pth (3.1 MB" in again.stderr and "resumed at" in again.stderr, again.stderr


def zoo(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "zoo_cli", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=cwd, timeout=600, check=False)


def imported(stderr: str) -> set[str]:
    """Top-level modules named in `-X importtime` output."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_zoo_sync_end_to_end_then_warm(tmp_path: Path) -> None:
    """The real pipeline on a tiny timm model: cold run, warm run without heavy imports, plan, verify."""
    folder = tmp_path / "manifests"
    write_tiny_manifest(folder, ["test_resnet"], size=96)
    env = {"ZOO_HOME": str(tmp_path / "store")}
    args = ["--manifests", str(folder), "sync", "timm/test_resnet", "--random-weights", "--seed", "3"]
    cold = zoo(*args, env=env, cwd=tmp_path)
    assert cold.returncode == 0, cold.stderr[-3000:]
    model_dir = tmp_path / "out" / "timm-test_resnet"
    record = read_record(model_dir)
    assert record is not None and record.random_weights
    assert [s.status for s in record.steps.values()] == ["ran"] * 4
    assert (model_dir / "timm-test_resnet.onnx").is_file() and (model_dir / "timm_test_resnet.yaml").is_file()
    assert 'checkpoint: "timm-test_resnet.onnx"' in (model_dir / "timm_test_resnet.yaml").read_text()

    warm = zoo(*args, env=env, cwd=tmp_path)
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert "nothing to do: 4 steps cached" in warm.stdout
    assert not imported(warm.stderr) & set(HEAVY)
    warm_record = read_record(model_dir)
    assert warm_record is not None and {s.status for s in warm_record.steps.values()} == {"cached"}
    assert {k: s.outputs for k, s in warm_record.steps.items()} == {k: s.outputs for k, s in record.steps.items()}

    plan = zoo("--manifests", str(folder), "plan", "timm/test_resnet", "--random-weights", "--seed", "3",
               "--profile", "sdk1", env=env, cwd=tmp_path)
    assert "4 step(s): 3 cached, 1 to run" in plan.stdout
    assert "field profile changed (build_in -> sdk1)" in plan.stdout
    verify = zoo("store", "verify", env=env, cwd=tmp_path)
    assert verify.returncode == 0 and "0 corrupt" in verify.stdout


def synced_alpha(tmp_path: Path) -> tuple[LocalStore, Path, Record, Model]:
    """Sync `alpha`; its store, output folder, record and model (for an opt-in step run afterwards)."""
    sync(tmp_path, ["alpha"])
    folder = tmp_path / "out" / "timm-alpha"
    before = read_record(folder)
    assert before is not None
    return LocalStore(tmp_path / "store"), folder, before, load_models(tmp_path / "manifests" / "tiny.yaml")["timm/alpha"]


def test_resync_keeps_opt_in_results_while_what_they_measured_is_unchanged(tmp_path: Path, markers: Path) -> None:
    """An opt-in result (like `zoo eval`'s) describes one output file; a re-sync that produces the
    same file keeps it, one that changes the file drops it, and so does a result gone from the cache."""
    store, folder, before, model = synced_alpha(tmp_path)
    measured = run_plan(measure_plan(model, before, store, Measure(), steps=make_steps()), store,
                        out_dir=tmp_path / "out")
    assert measured.ok and ends(markers, "alpha", "measure") == 1
    after = read_record(folder)
    assert after is not None and after.steps["measure"].status == "ran"
    built = before.steps["build"].outputs["built"].size
    assert after.steps["measure"].metrics == {"bytes": built}
    assert {k: v for k, v in after.steps.items() if k != "measure"} == before.steps  # the sync's steps untouched
    assert (folder / "timm-alpha.measured.txt").read_text() == f"{built} bytes\n"

    warm = sync(tmp_path, ["alpha"], opt_in=[Measure()])
    assert warm.nothing_done and ends(markers, "alpha", "measure") == 1
    kept = read_record(folder)
    assert kept is not None and kept.steps["measure"].metrics == {"bytes": built}
    assert kept.steps["measure"].status == "cached" and (folder / "timm-alpha.measured.txt").is_file()

    sync(tmp_path, ["alpha"], options=RunOptions(seed=1), opt_in=[Measure()])  # `build` output changes with the seed
    changed = read_record(folder)
    assert changed is not None and "measure" not in changed.steps
    assert not (folder / "timm-alpha.measured.txt").exists(), "the dropped result's file leaves the folder"

    run_plan(measure_plan(model, changed, store, Measure(), steps=make_steps()), store, out_dir=tmp_path / "out")
    key = read_record(folder).steps["measure"].key  # type: ignore[union-attr]
    store.actions.remove(key)  # e.g. dropped by `zoo store gc`
    sync(tmp_path, ["alpha"], options=RunOptions(seed=1), opt_in=[Measure()])
    gone = read_record(folder)
    assert gone is not None and "measure" not in gone.steps


def test_a_failed_opt_in_step_leaves_the_record_as_it_was(tmp_path: Path, markers: Path) -> None:
    store, folder, before, model = synced_alpha(tmp_path)

    class Broken(Measure):
        def run(self, *args: object) -> StepResult:  # type: ignore[override]
            raise StepError("the data set is unreadable")

    result = run_plan(measure_plan(model, before, store, Broken(), steps=make_steps()), store,
                      out_dir=tmp_path / "out")
    outcome = result.outcome("timm/alpha", "measure")
    assert outcome is not None and outcome.status == "failed" and outcome.error == "the data set is unreadable"
    assert read_record(folder) == before


def test_a_worker_killed_from_outside_fails_only_its_model(tmp_path: Path, markers: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of a worker process in the middle of a heavy step (as the OOM killer does)."""
    monkeypatch.setenv(SLEEP_ENV, "60")
    models = list(load_models(write_tiny_manifest(tmp_path / "manifests", ["alpha", "slow"])).values())
    store = LocalStore(tmp_path / "store")
    plan = build_plan(models, RunOptions(), store, steps=make_steps())
    killer = threading.Thread(target=_kill_worker_of, args=(markers, "timm-slow"), daemon=True)
    killer.start()
    result = run_plan(plan, store, out_dir=tmp_path / "out", jobs=2, keep_going=True)
    killer.join(timeout=5)
    assert statuses(result) == {("alpha", "source"): "ran", ("alpha", "build"): "ran", ("alpha", "publish"): "ran",
                                ("slow", "source"): "ran", ("slow", "build"): "failed", ("slow", "publish"): "skipped"}
    build = result.outcome("timm/slow", "build")
    assert build is not None and build.error is not None
    assert build.error.startswith("the worker process died (killed by SIGKILL; ")
    assert not list(store.work.iterdir())  # the dead worker's scratch folder is gone
    record = read_record(tmp_path / "out" / "timm-slow")
    assert record is not None and record.steps["build"].status == "failed"


def _kill_worker_of(markers: Path, stem: str) -> None:
    wait_for(lambda: marks(markers, stem, "build", "start"))
    os.kill(marks(markers, stem, "build", "start")[0][1], signal.SIGKILL)


def test_publish_heals_a_corrupted_output_file(tmp_path: Path, markers: Path) -> None:
    """A byte flipped in a hard-linked output corrupts the blob too: `verify` quarantines it,
    and the next sync leaves a file whose sha256 is the one the record states."""
    sync(tmp_path, ["alpha"])
    folder = tmp_path / "out" / "timm-alpha"
    built = folder / "timm-alpha.built.txt"
    built.chmod(0o644)
    data = bytearray(built.read_bytes())
    data[0] ^= 0xFF
    with open(built, "r+b") as handle:  # in place: the hard link (the blob) changes too
        handle.write(data)
    assert LocalStore(tmp_path / "store").verify().corrupt

    assert sync(tmp_path, ["alpha"]).ok
    record = read_record(folder)
    assert record is not None
    for step in record.steps.values():
        for output in step.outputs.values():
            assert hashlib.sha256((folder / output.name).read_bytes()).hexdigest() == output.digest

    # a copy edited by hand (not the blob) is replaced too, whatever its size and time say
    (folder / "timm-alpha.src.txt").unlink()
    original = record.steps["source"].outputs["src"]
    (folder / "timm-alpha.src.txt").write_bytes(b"x" * original.size)
    os.utime(folder / "timm-alpha.src.txt", ns=(0, 0))
    assert sync(tmp_path, ["alpha"]).nothing_done
    assert hashlib.sha256((folder / "timm-alpha.src.txt").read_bytes()).hexdigest() == original.digest


def test_the_executor_comes_from_the_option_or_the_environment(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    write_tiny_manifest(folder, ["alpha"])
    env = {"ZOO_HOME": str(tmp_path / "store"), "ZOO_EXECUTOR": "dask"}
    unknown = zoo("--manifests", str(folder), "sync", "timm/alpha", env=env, cwd=tmp_path)
    assert unknown.returncode == 2 and "--executor" in unknown.stderr and "'local'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    chosen = zoo("--manifests", str(folder), "sync", "timm/nothing", "--executor", "local", env=env, cwd=tmp_path)
    assert chosen.returncode == 1 and "timm/nothing" in chosen.stderr  # the option wins; selection fails next
