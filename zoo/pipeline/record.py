"""The per-model record written next to a synced model's outputs (`record.json`): its schema
and its one reader.

It is the only thing downstream consumers (docs, eval, bench, gc) read about a sync: digests,
cache keys, tool versions, metrics and warnings per step. `zoo.pipeline.publish` is the only
writer; eval and bench are opt-in steps of the same pipeline. Well-known metric names:

- fetch:    ``sha256``, ``size``, ``source_url`` (credentials masked), ``resumed_bytes``, ``attempts``
- convert:  ``input_name``, ``output_name``, ``params`` (int, as the source framework counts)
- measure (in the convert or simplify step): ``macs`` (int), ``flops_g``, ``params_m``
- validate: ``max_abs``, ``max_rel``, ``cosine``, ``top1_agreement``, ``top5_agreement``
- render:   ``approximations`` (list of str), ``files`` (list of file names)
- eval:     ``top1``, ``top5`` (percent), ``images``, ``preprocess`` (source|deploy), ``passed``,
            ``checks``, ``onnx`` (the file measured); outputs ``predictions-<pipeline>``
- deployed-int8, deployed-fp16 (`zoo eval --results`): ``top1``, ``top5`` (percent, what the device
            returned), ``images``, ``dtype``, ``format`` (vsx|vamp), ``allowance`` (points), ``passed``, ``checks``
- bench:    ``latency_ms`` ({batch: {"median": ms, "p90": ms}}), ``machine`` (str), ``threads``
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.errors import RecordError
from zoo.store.actions import OutputFile

RECORD_NAME = "record.json"


class StepRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    key: str = Field(description="Cache key (sha256 of the step's canonical inputs).")
    status: Literal["ran", "cached", "failed", "skipped"]
    outputs: dict[str, OutputFile] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    tool_versions: dict[str, str] = Field(default_factory=dict)
    seconds: float = Field(0.0, description="Time the step took when it was computed (also for a cached step).")
    warnings: list[str] = Field(default_factory=list)
    error: str | None = Field(None, description="Why the step failed or was skipped.")
    worker: str | None = Field(None, description="Where the step's result was computed (host or cluster worker).")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str
    manifest_digest: str
    zoo_version: str
    random_weights: bool = Field(description="Weights were seeded random init: never show accuracy.")
    steps: dict[str, StepRecord] = Field(default_factory=dict)

    def metric(self, kind: str, name: str, default: Any = None) -> Any:
        step = self.steps.get(kind)
        return default if step is None else step.metrics.get(name, default)

    def write(self, folder: Path) -> Path:
        """Write atomically (temp file in the same folder, then rename)."""
        from zoo.atomic import atomic_writer

        target = folder / RECORD_NAME
        with atomic_writer(target) as handle:
            handle.write(self.model_dump_json(indent=2) + "\n")
        return target


def read_record(folder: Path) -> Record | None:
    """The record in `folder`, or None if there is none; `RecordError` if it cannot be read.

    Every command that reads records reads them here, so a damaged file gets one message
    everywhere: which file, what is wrong with it, and what to do.
    """
    path = folder / RECORD_NAME
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Record.model_validate_json(text)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        detail = f"{where}: {problem['msg']}" if where else problem["msg"]
        raise RecordError(
            f"{path}: not a valid sync record ({detail}); delete it and run `zoo sync` again"
        ) from None


def read_records(root: Path) -> dict[str, Record]:
    """Every record under `root` (one folder per model), keyed by model id."""
    records: dict[str, Record] = {}
    if root.is_dir():
        for path in sorted(root.glob(f"*/{RECORD_NAME}")):
            record = read_record(path.parent)
            if record is not None:
                records[record.model_id] = record
    return records
