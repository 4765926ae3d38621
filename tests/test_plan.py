"""Plans: step order, cache keys that change exactly when an ingredient does, and the reasons given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.factories import TEST_TOOL, Build, Publish, Source, load_models, make_steps, write_tiny_manifest
from tests.import_probe import zoo_imports
from zoo.errors import StepError, ZooError
from zoo.manifest.schema import Model
from zoo.pipeline.plan import NOT_INSTALLED, Plan, build_plan, order_steps, tool_version
from zoo.pipeline.scheduler import run_plan
from zoo.pipeline.steps.base import RunOptions, Step
from zoo.store.local import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def model(tmp_path: Path, **kwargs: Any) -> Model:
    return load_models(write_tiny_manifest(tmp_path / "manifests", ["alpha"], **kwargs))["timm/alpha"]


def plan_for(m: Model, store: LocalStore, options: RunOptions | None = None, steps: list[Step] | None = None,
             **kwargs: Any) -> Plan:
    return build_plan([m], options or RunOptions(), store, steps=steps or make_steps(), **kwargs)


def run(m: Model, store: LocalStore, tmp_path: Path, options: RunOptions | None = None,
        steps: list[Step] | None = None) -> None:
    result = run_plan(plan_for(m, store, options, steps), store, out_dir=tmp_path / "out")
    assert result.ok, [o.error for o in result.outcomes]


def summary(plan: Plan) -> dict[str, tuple[str | None, bool, list[str]]]:
    return {n.kind: (n.key, n.will_run, n.reasons) for n in plan.all_nodes()}


def install_tool(site: Path, version: str) -> None:
    """Real package metadata for the test tool, as pip would leave it."""
    for old in site.glob("zoo_test_tool-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = site / f"zoo_test_tool-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {TEST_TOOL}\nVersion: {version}\n")
    tool_version.cache_clear()


def test_order_follows_needs_and_drops_steps_that_do_not_apply(tmp_path: Path, store: LocalStore) -> None:
    steps = make_steps(fetch=True)
    assert [s.kind for s in order_steps([steps[3], steps[2], steps[1], steps[0]])] == [
        "source", "fetch", "build", "publish"]
    with_weights = model(tmp_path, weights_url="http://127.0.0.1:9/w.pth")
    plan = build_plan([with_weights], RunOptions(), store, steps=steps)
    assert [(n.kind, n.needs) for n in plan.all_nodes()] == [
        ("fetch", ()), ("source", ()), ("build", ("fetch", "source")), ("publish", ("build",))]
    random = build_plan([with_weights], RunOptions(random_weights=True), store, steps=steps)
    assert [(n.kind, n.needs) for n in random.all_nodes()] == [
        ("source", ()), ("build", ("source",)), ("publish", ("build",))]


def test_cycles_and_unknown_force_are_clear_errors(tmp_path: Path, store: LocalStore) -> None:
    class Egg(Step):
        kind = "egg"
        needs: ClassVar[tuple[str, ...]] = ("hen",)

    class Hen(Step):
        kind = "hen"
        needs: ClassVar[tuple[str, ...]] = ("egg",)

    with pytest.raises(StepError, match="cycle"):
        order_steps([Egg(), Hen()])
    with pytest.raises(ZooError, match="--force convrt: no such step; steps are source, build, publish"):
        plan_for(model(tmp_path), store, force=["convrt"])


def test_never_built_then_cached(tmp_path: Path, store: LocalStore) -> None:
    m = model(tmp_path)
    cold = summary(plan_for(m, store))
    assert cold["source"][1:] == (True, ["no cache entry (never built in this store)"])
    assert cold["source"][0] is not None  # no inputs: the key is known before anything runs
    assert cold["build"] == (None, True, ["input source will be recomputed"])
    assert cold["publish"] == (None, True, ["input build will be recomputed"])
    run(m, store, tmp_path)
    warm = plan_for(m, store)
    assert warm.cached_count == 3 and all(n.reasons == [] and n.key for n in warm.all_nodes())
    assert warm.all_nodes()[0].key == cold["source"][0]


def test_keys_change_exactly_when_an_ingredient_changes(tmp_path: Path, store: LocalStore) -> None:
    m = model(tmp_path)
    run(m, store, tmp_path)
    base = {k: v[0] for k, v in summary(plan_for(m, store)).items()}

    # a field no step reads (the documented accuracy) and an option no step reads: nothing changes
    unread = model(tmp_path, extra="  reported: {flops_g: 1.5}")
    assert {k: v[0] for k, v in summary(plan_for(unread, store, RunOptions(offline=True))).items()} == base

    # an option only `publish` reads: only its key changes
    profile = summary(plan_for(m, store, RunOptions(profile="sdk1")))
    assert profile["source"][0] == base["source"] and profile["build"][0] == base["build"]
    assert profile["publish"][0] != base["publish"]
    assert profile["publish"][2] == ["field profile changed (build_in -> sdk1)"]

    # a manifest field only `build` reads
    new_mean = m.model_copy(update={"preprocess": m.preprocess.model_copy(update={"mean": (0.4, 0.5, 0.5)})})
    mean = summary(plan_for(new_mean, store))
    assert mean["source"][:2] == (base["source"], False)
    assert mean["build"][0] not in (None, base["build"])
    assert mean["build"][2] == ["field mean changed ([0.5, 0.5, 0.5] -> [0.4, 0.5, 0.5])"]
    assert mean["publish"] == (None, True, ["input build will be recomputed"])

    # the step's version
    class BuildV2(Build):
        version = 2

    bumped = summary(plan_for(m, store, steps=[Source(), BuildV2(), Publish()]))
    assert bumped["build"][2] == ["step version 1 -> 2"] and bumped["build"][0] != base["build"]


def test_tool_versions_enter_the_key(tmp_path: Path, store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    tool_version.cache_clear()
    assert tool_version(TEST_TOOL) == NOT_INSTALLED
    m = model(tmp_path)
    run(m, store, tmp_path)
    install_tool(site, "1.0")
    first = summary(plan_for(m, store))
    assert first["source"][2] == [f"tool {TEST_TOOL} {NOT_INSTALLED} -> 1.0"]
    run(m, store, tmp_path)
    install_tool(site, "2.0")
    second = summary(plan_for(m, store))
    assert second["source"][2] == [f"tool {TEST_TOOL} 1.0 -> 2.0"] and second["source"][0] != first["source"][0]
    install_tool(site, "1.0")
    assert summary(plan_for(m, store))["source"][:2] == (first["source"][0], False)  # back to a cached key
    tool_version.cache_clear()


def test_input_changed_forced_and_removed(tmp_path: Path, store: LocalStore) -> None:
    m = model(tmp_path)
    run(m, store, tmp_path)
    run(m, store, tmp_path, RunOptions(seed=1), steps=[Source()])  # only the source moves on
    moved = summary(plan_for(m, store, RunOptions(seed=1)))
    assert moved["source"][1] is False
    assert moved["build"][1:] == (True, ["input source changed"])

    forced = summary(plan_for(m, store, force=["build"]))
    assert forced["source"][1] is False
    assert forced["build"][1:] == (True, ["forced (--force build)"])
    assert forced["publish"][1:] == (True, ["input build will be recomputed"])
    assert all(v[1] for v in summary(plan_for(m, store, force=["all"])).values())

    plan = plan_for(m, store)
    build_key = next(n.key for n in plan.all_nodes() if n.kind == "build")
    assert build_key is not None
    store.actions.remove(build_key)  # e.g. dropped by `zoo store verify`
    gone = summary(plan_for(m, store))
    assert gone["build"][2] == ["its cached result is gone from the store (removed by `zoo store verify` or `gc`)"]


def test_plan_command_imports_no_heavy_framework(tmp_path: Path) -> None:
    """`zoo plan` with the real pipeline: explanations, JSON, and no torch/onnx import."""
    folder = tmp_path / "manifests"
    write_tiny_manifest(folder, ["test_resnet"], weights_url="https://user:secret@example.org/w.pth")
    env = {"ZOO_HOME": str(tmp_path / "store")}
    base = ["--manifests", str(folder), "plan", "timm/test_resnet"]
    text, imported = zoo_imports(*base, env=env)
    assert imported == [], text.stderr[-800:]
    assert "fetch" in text.stdout and "no cache entry (never built in this store)" in text.stdout
    assert "render <- convert, simplify, validate" in text.stdout.replace("  ", " ")
    assert "5 step(s): 0 cached, 5 to run" in text.stdout
    as_json, imported = zoo_imports(*base, "--random-weights", "--json", env=env)
    assert imported == [], as_json.stderr[-800:]
    rows = json.loads(as_json.stdout)
    assert [r["step"] for r in rows] == ["convert", "simplify", "validate", "render"]
    assert rows[0]["key"] and rows[1]["reasons"] == ["input convert will be recomputed"]
    assert "secret" not in text.stdout + as_json.stdout
