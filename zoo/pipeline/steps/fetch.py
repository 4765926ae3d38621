"""The fetch step: bring a model's checkpoint into the store, verified against its pins.

The download itself (resume, retries, mirrors, checks) is `zoo.fetch.fetch`; it writes into
the store's download area, which outlives a run so that an interrupted download resumes,
and the finished file is then moved into the step's work folder for the store to adopt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from zoo.errors import FetchError
from zoo.manifest.schema import Model, Weights
from zoo.pipeline.steps.base import RunOptions, Step, StepInputs, StepResult
from zoo.sources import registry

#: The output name under which the checkpoint is handed to the convert step.
WEIGHTS = "weights"


class FetchStep(Step):
    kind = "fetch"
    version = 1
    needs = ()
    tools = ()
    publish = False

    def applies(self, model: Model, options: RunOptions) -> bool:
        # a library that builds no architecture (its file is the model) has its file fetched even then
        builds = registry.get(model.source.library).builds_architecture
        return model.weights is not None and (not options.random_weights or not builds)

    def fields(self, model: Model, options: RunOptions) -> dict[str, Any]:
        """A pinned file is its digest, wherever it comes from; an unpinned one is its URL, plus the
        path, size and time of the local file it would be copied from (a `--weights-from` folder)."""
        weights = _weights(model)
        if weights.sha256:
            return {"sha256": weights.sha256, "size": weights.size, "file": weights.filename}
        from zoo.redaction import redact

        fields: dict[str, Any] = {"url": redact(weights.url), "size": weights.size, "hash_prefix": weights.hash_prefix}
        from zoo.store.fetch.freshness import local_stamp

        local = local_stamp(weights.url, (*options.weights_from, *weights.mirrors))
        if local is not None:  # a local copy is used first: a different file there is a different input
            fields["local_source"] = local
        if options.require_pinned:
            fields["require_pinned"] = True  # so that a cached unpinned file is refused too
        return fields

    def run(self, model: Model, inputs: StepInputs, workdir: Path, options: RunOptions) -> StepResult:
        from zoo.store.fetch.download import fetch

        weights = _weights(model)
        name = weights.filename
        dest = download_path(Path(options.downloads_dir) if options.downloads_dir else workdir / "download", weights)
        result = fetch(
            weights.url,
            dest,
            sha256=weights.sha256,
            size=weights.size,
            hash_prefix=weights.hash_prefix,
            mirrors=(*options.weights_from, *weights.mirrors),
            offline=options.offline,
            require_pinned=options.require_pinned,
            progress=inputs.report,  # the command running the step decides what people see
        )
        target = workdir / name
        try:  # the download stays where `zoo fetch` and `zoo lock` look for it
            os.link(result.path, target)
        except OSError:
            shutil.copyfile(result.path, target)
        metrics = {
            "sha256": result.sha256,
            "size": result.size,
            "source_url": result.source_url,
            "resumed_bytes": result.resumed_bytes,
            "attempts": result.attempts,
        }
        warnings = list(result.warnings)
        if not weights.sha256:
            warnings.append(f"{name} is not pinned (sha256 {result.sha256}); run `zoo lock {model.id}` to pin it")
        return StepResult(outputs={WEIGHTS: target}, metrics=metrics, warnings=warnings)


def download_path(downloads: Path, weights: Weights, digest: str | None = None) -> Path:
    """Where a checkpoint waits in the download area: by sha256 when known, else by URL.

    `zoo lock` downloads to the same place, so a sync right after it finds the file there.
    """
    identity = digest or weights.sha256 or hashlib.sha256(weights.url.encode("utf-8")).hexdigest()
    return downloads / identity[:16] / weights.filename


def _weights(model: Model) -> Weights:
    if model.weights is None:
        raise FetchError(f"{model.id} has no `weights` in its manifest; sync it with --random-weights")
    return model.weights
