"""Untrusted text that becomes a path never escapes its folder: URL file names, model and family
names, archive members, and file:// URLs that would copy arbitrary local files into the store."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import colour_classifier, colour_manifest, make_model, run_zoo, tiny_manifest, write_manifest
from tests.fault_server import FaultServer
from zoo.errors import FetchError
from zoo.manifest.catalog import load_catalog
from zoo.names import component_problem, family_problem, file_name_problem, model_name_problem, url_file_name
from zoo.store.fetch.archive import safe_extract
from zoo.store.fetch.download import fetch

ESCAPE = "a%2F..%2F..%2F..%2F..%2Fescaped.pth"


def files_named(root: Path, name: str) -> list[Path]:
    return [p for p in root.rglob(name)]


def test_an_encoded_climb_in_a_url_file_name_is_refused_by_every_command(fault_server: FaultServer,
                                                                        tmp_path: Path) -> None:
    url = fault_server.add("/" + ESCAPE, b"payload")
    write_manifest(tmp_path / "manifests", tiny_manifest(["m"], weights_url=url))
    lint = run_zoo("lint", cwd=tmp_path)
    assert lint.returncode == 1
    assert "models[0].weights.url" in lint.stderr + lint.stdout or "defaults.weights.url" in lint.stderr + lint.stdout
    assert "'a/../../../../escaped.pth'" in lint.stderr + lint.stdout
    for command in (["fetch", "tiny/m"], ["lock", "tiny/m"], ["sync", "tiny/m"]):
        result = run_zoo(*command, cwd=tmp_path)
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert files_named(tmp_path, "escaped.pth") == [] and not (tmp_path.parent / "escaped.pth").exists()
    assert fault_server.requests() == []  # refused before anything was asked of the server


def test_the_fetcher_refuses_an_unsafe_name_before_any_request(fault_server: FaultServer, tmp_path: Path) -> None:
    url = fault_server.add("/" + ESCAPE, b"payload")
    with pytest.raises(FetchError, match="escaped.pth.*refusing to fetch"):
        fetch(url, tmp_path / "store" / "x.pth", mirrors=[str(tmp_path / "mirror")])
    assert fault_server.requests() == [] and files_named(tmp_path.parent, "escaped.pth") == []


@pytest.mark.parametrize("field", ["name: '../up'", "name: \"m\\n\"", "name: 'a/b'"])
def test_model_names_that_are_not_plain_names_are_refused(tmp_path: Path, field: str) -> None:
    path = write_manifest(tmp_path, tiny_manifest(["m"]).replace("name: m", field))
    catalog = load_catalog(files=[path])
    assert not catalog.models and [p.field for p in catalog.problems] == ["models[0].name"]


def test_a_file_url_outside_the_allowed_folders_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere").mkdir()
    outside = colour_classifier(tmp_path / "elsewhere" / "colours.onnx")
    path = write_manifest(tmp_path / "manifests", colour_manifest(outside))
    monkeypatch.delenv("ZOO_FILE_ROOTS", raising=False)
    problem, = load_catalog(files=[path]).problems
    assert (problem.field, problem.line) == ("models[0].weights.url", 6)
    assert "outside the folders file:// URLs may reach" in problem.message and "ZOO_FILE_ROOTS" in problem.hint
    monkeypatch.setenv("ZOO_FILE_ROOTS", os.pathsep.join(["/nonexistent", str(tmp_path / "elsewhere")]))
    assert list(load_catalog(files=[path]).models) == ["onnx/colours"]


def test_file_urls_to_system_files_never_reach_the_store(tmp_path: Path) -> None:
    write_manifest(tmp_path / "manifests", colour_manifest(Path("/etc/passwd")))
    for command in (["lint"], ["fetch", "onnx/colours"], ["lock", "onnx/colours"]):
        result = run_zoo(*command, cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        told = "'file:///etc/passwd'" if command == ["lint"] else "run `zoo lint`"
        assert told in result.stdout + result.stderr
    assert files_named(tmp_path, "passwd") == []


def test_archive_members_with_control_characters_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("ok/evil\nname.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(FetchError, match="control character"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- properties: no accepted name ever resolves outside its folder ------------------------------

NAMEISH = st.text(alphabet=st.sampled_from(list("aZ09_.-+=@,~/\\%2Fx\n\x00 :")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(text=NAMEISH | st.text(max_size=40))
def test_accepted_names_stay_in_their_folder(text: str) -> None:
    folder = Path("/zoo-folder")
    for check in (component_problem, file_name_problem, model_name_problem, family_problem):
        if check(text) is None:
            joined = Path(os.path.normpath(folder / text))
            assert joined.parent == folder and joined.name == text, (check.__name__, text)
            assert "\n" not in text and "/" not in text


@settings(max_examples=300, deadline=None)
@given(path=NAMEISH, query=st.text(max_size=10))
def test_accepted_url_file_names_stay_in_their_folder(path: str, query: str) -> None:
    url = f"https://host.example/dir/{path}?{query}"
    try:
        name = url_file_name(url)
    except ValueError:
        return
    if file_name_problem(name) is None:
        joined = Path(os.path.normpath(Path("/zoo-folder") / name))
        assert joined.parent == Path("/zoo-folder") and not name.startswith(".")


def test_the_renderer_refuses_an_output_path_that_is_not_plain_names(tmp_path: Path) -> None:
    """The schema refuses such a name; a model made in code without validation meets the renderer's own check."""
    from zoo.deploy.render import render_model
    from zoo.errors import RenderError

    model = make_model("timm", "m").model_copy(update={"name": "../../escaped"})
    with pytest.raises(RenderError, match="refusing to write"):
        render_model(model, out_dir=tmp_path / "out")
    assert files_named(tmp_path.parent, "*escaped*") == []


@pytest.mark.parametrize(("name", "digest"), [("../../escaped.bin", None), ("ok.bin", "../../escaped")])
def test_a_cache_entry_naming_a_path_outside_is_unreadable(tmp_path: Path, name: str, digest: str | None) -> None:
    """Entries may come from a shared remote: one whose output name or digest climbs out is a miss."""
    from tests.test_store import entry_for
    from zoo.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    entry = entry_for(store, "k" * 64, out=b"data")
    good = entry.outputs["out"]
    text = entry.model_dump_json().replace(f'"name":"{good.name}"', f'"name":"{name}"')
    text = text.replace(f'"digest":"{good.digest}"', f'"digest":"{digest or good.digest}"')
    assert text != entry.model_dump_json()
    (store.root / "ac" / f"{'k' * 64}.json").write_text(text, encoding="utf-8")
    assert store.actions.get("k" * 64) is None
