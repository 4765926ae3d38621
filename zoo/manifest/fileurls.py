"""A manifest's file:// URLs may reach only the files its reader allows (policy: `zoo/urls.py`).

Checked when the catalog loads, the one place where a model and the file it came from are both
known; a refused model does not load, so `zoo fetch`, `zoo lock` and `zoo sync` never copy the file.
"""

from __future__ import annotations

from pathlib import Path

from zoo.manifest.schema import Model
from zoo.urls import FILE_ROOTS_ENV, file_roots, outside_roots

_HINT = (f"move the file beside the manifest, add its folder to ${FILE_ROOTS_ENV} (separated like PATH), "
         "or pass --weights-from DIR")


def refused_file_urls(model: Model, manifest_dir: Path) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(field path within the model, what is wrong, hint) for each file URL outside the allowed folders."""
    roots = file_roots(manifest_dir)
    urls: list[tuple[tuple[str | int, ...], str]] = []
    if model.weights is not None:
        urls.append((("weights", "url"), model.weights.url))
        urls += [(("weights", "mirrors", i), url) for i, url in enumerate(model.weights.mirrors)]
    if model.source.config and model.source.config.startswith("file:"):
        urls.append((("source", "config"), model.source.config))
    refused = []
    for path, url in urls:
        problem = outside_roots(url, roots)
        if problem:
            refused.append((path, f"file URL {url!r} {problem}", _HINT))
    return refused
