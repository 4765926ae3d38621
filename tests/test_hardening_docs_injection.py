"""Manifest text lands in the generated Markdown as text: no heading, raw HTML, table column,
code span or link of its own, and links go only to http(s) addresses. Pages are parsed back with
a CommonMark parser (markdown-it), as a documentation site would render them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.factories import write_manifest
from zoo.docs import markdown as md
from zoo.docs import pages as docs
from zoo.manifest.catalog import load_catalog

SCRIPT = "<script>alert(1)</script>"
#: Free-text fields of a manifest, each trying another way out of its place in the page.
HOSTILE = {
    "family": "evil",
    "title": "Evil\n# Injected title heading",
    "description": f"Plain words.\n\n## Injected section\n\n{SCRIPT}\n- injected list [click](javascript:alert(1))",
    "paper": {"title": "Paper](javascript:alert(1)) <b>", "url": "https://example.org/paper"},
    "dataset": "Image|Net <img src=x onerror=alert(1)>",
    "models": [{
        "name": "m1",
        "title": "M1 `code\n### Injected model heading",
        "source": {"library": "timm", "repo": "file:///etc/passwd"},
        "input_size": 32,
        "preprocess": {"crop_pct": 0.875, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "reported": {
            "notes": ["a | b | c", f"see <https://example.org> and {SCRIPT}", "[x](javascript:alert(1))"],
            "latency": [{"device": "T4\n# Injected device heading", "precision": "FP32", "batch_ms": {1: 1.5},
                         "note": f"TensorRT\n{SCRIPT}", "source": "javascript:alert(1)"}],
        },
        "deviations": {"preprocess.crop_pct": "because\n# Injected deviation heading"},
    }],
}
#: The headings the family template writes for this manifest, in order.
HEADINGS = ["Evil # Injected title heading", "Models", "Deployment approximations", "Notes", "Differences from the source library",
            "Reported latency", "T4 # Injected device heading", "Measured by zoo", "Deploy",
            "M1 `code ### Injected model heading (timm/m1)"]


def _tokens(page: str) -> list[Token]:
    parser = MarkdownIt("commonmark").enable("table")
    found: list[Token] = []
    stack = parser.parse(page)
    while stack:
        token = stack.pop(0)
        found.append(token)
        stack[:0] = token.children or []
    return found


def _plain(token: Token) -> str:
    """The text an inline token shows (escapes and entities resolved)."""
    return "".join(c.content for c in token.children or [] if c.type in ("text", "code_inline"))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("manifests")
    path = write_manifest(folder, yaml.safe_dump(HOSTILE, sort_keys=False), "evil.yaml")
    catalog = load_catalog(files=[path])
    assert not catalog.problems, catalog.problems
    return docs.generate(catalog, {})["evil.md"].decode("utf-8")


def test_manifest_text_adds_no_heading(page: str) -> None:
    tokens = _tokens(page)
    headings = [_plain(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == HEADINGS


def test_manifest_text_adds_no_html_and_no_link(page: str) -> None:
    tokens = _tokens(page)
    html = [t.content.strip() for t in tokens if t.type in ("html_block", "html_inline")]
    assert html == [docs.GENERATED_MARK, "<br>", '<a id="timm-m1">', "</a>"]  # all written by the template
    hrefs = [str(t.attrs["href"]) for t in tokens if t.type == "link_open"]
    assert hrefs == ["https://example.org/paper", "#timm-m1"]  # the paper; the file:// repo is text only
    assert "javascript:" not in "".join(hrefs)


def test_table_cells_stay_in_their_column(page: str) -> None:
    tokens = _tokens(page)
    rows: list[list[str]] = []
    for before, token in zip(tokens, tokens[1:], strict=False):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and before.type in ("th_open", "td_open"):
            rows[-1].append(_plain(token))
    models_row = next(row for row in rows if row and "M1" in row[0])
    assert len(models_row) == 10 and models_row[-1] == "Image|Net <img src=x onerror=alert(1)>"


def test_the_notes_read_as_written(page: str) -> None:
    text = "\n".join(_plain(t) for t in _tokens(page) if t.type == "inline")
    assert "Plain words. ## Injected section <script>alert(1)</script> - injected list [click](javascript:alert(1))" in text
    assert "a | b | c" in text
    assert "see <https://example.org> and <script>alert(1)</script>" in text  # shown, not run
    assert "[x](javascript:alert(1))" in text


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<b>", "file:///etc/passwd",
                                 "vbscript:x", "//example.org/x", "https://", "https://example.org/a b"])
def test_only_http_links_are_made(url: str) -> None:
    assert md.link("label", url) == "label"


def test_a_link_target_cannot_end_early() -> None:
    made = md.link("x", "https://example.org/a)(javascript:alert(1))<b>")
    tokens = _tokens(made)
    hrefs = [t.attrs["href"] for t in tokens if t.type == "link_open"]
    assert hrefs == ["https://example.org/a%29%28javascript:alert%281%29%29%3Cb%3E"]


def test_a_code_span_holds_any_backticks() -> None:
    for value in ("plain", "a`b", "``x``", "`edge"):
        spans = [t.content for t in _tokens(md.code(value)) if t.type == "code_inline"]
        assert spans == [value]


def test_deploy_files_keep_hostile_options_inside_their_values(tmp_path: Path) -> None:
    from tests.factories import run_zoo

    path = write_manifest(tmp_path / "manifests", yaml.safe_dump(HOSTILE, sort_keys=False), "evil.yaml")
    assert path.exists()
    calib = 'calib"\n  injected: true\n# x'
    result = run_zoo("render", "timm/m1", "--dtype", "int8", "--calib-dir", calib, "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = tmp_path / "out" / "timm-m1"
    build = yaml.safe_load((folder / "timm_m1.yaml").read_text(encoding="utf-8"))
    assert build["dataset"]["path"] == calib and "injected" not in build
    for name in ("timm-m1-vdsp_params.json", "model_info_m1.json"):
        json.loads((folder / name).read_text(encoding="utf-8"))
