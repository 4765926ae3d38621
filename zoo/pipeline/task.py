"""What travels between the scheduler, a backend and the publisher.

A `Task` describes one node so completely that `execute_node` can run it in another thread,
another process or on another machine: the model, the step, its cache key and ingredients,
the action entries of the steps it needs, and the store's configuration (its root), never a
live object or a path that only means something on the machine that planned it. Running it
gives a `NodeResult`; the scheduler turns every ending, failures included, into a
`StepOutcome`, which `publish` writes into the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from zoo.manifest.schema import Model
from zoo.pipeline.steps.base import RunOptions, Step
from zoo.store.actions import ActionEntry


@dataclass(frozen=True)
class Task:
    """One node of a plan, ready to run anywhere the store's root is reachable."""

    model: Model
    step: Step
    key: str
    ingredients: dict[str, Any]
    #: The action entries of the steps this one needs, by kind.
    upstream: dict[str, ActionEntry]
    options: RunOptions
    tools: dict[str, str]
    store_root: str
    forced: bool = False
    #: The remote cache tier's URL, if the run has one (`--remote`).
    remote: str | None = None

    @property
    def kind(self) -> str:
        return self.step.kind

    @property
    def heavy(self) -> bool:
        return self.step.heavy


@dataclass(frozen=True)
class NodeResult:
    """How `execute_node` ended: it ran the step, or found its result cached."""

    status: Literal["ran", "cached"]
    entry: ActionEntry
    seconds: float = 0.0
    #: Why the step ran (empty when cached).
    reasons: list[str] = field(default_factory=list)


@dataclass
class StepOutcome:
    """How one step of one model ended."""

    model_id: str
    kind: str
    status: str  # ran | cached | failed | skipped
    key: str = ""
    entry: ActionEntry | None = None
    seconds: float = 0.0
    error: str | None = None
    #: Traceback of an unexpected exception (a bug, not a user error), for --debug.
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ran", "cached")
