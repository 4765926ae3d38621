"""Top-1/top-5 accuracy of an exported ONNX graph on a labelled image folder, and the verdict
against the manifest's `expected` numbers.

The images go through one or two pre-processing pipelines, which the caller builds:

- `source`: what the source library's eval transform does (`zoo.measure.preprocess`; the
  numbers in `expected` were measured that way), the default;
- `deploy`: what the generated vdsp_params make the VDSP engine do (square resize with the
  configured resize type, crop at the written offsets, float16 statistics; `zoo.deploy.emulate`).

Running both on the same images measures, on a CPU, what the deployment pre-processing costs:
accuracy under each, the share of images whose top-1 changes and the mean cosine between the
two logit vectors. Decoding runs in a thread pool that stays a few batches ahead of ONNX Runtime,
so reading images overlaps inference (Pillow and ONNX Runtime both release the GIL).

Tolerance rule: a measured accuracy passes when it lies within
`max(0.1, 3 * SE)` percentage points of the expected one, where SE is the standard error of a
proportion p (the expected accuracy) estimated from n images drawn from the N = 50,000 images
of the ImageNet-1k validation set: `SE = 100 * sqrt(p (1 - p) / n * (N - n) / (N - 1))`. A
500-image subset of an 80 % model may be off by 5.3 points; the full set is held to 0.1.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shlex
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import onnxfile
from zoo.atomic import atomic_writer
from zoo.errors import StepError
from zoo.manifest.schema import Model
from zoo.measure.datasets import Sample, conversion_summary, load_rgb

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

#: Images in the ImageNet-1k validation set, the population `expected` numbers are measured on.
IMAGENET_VAL_IMAGES = 50_000
#: The smallest tolerance, in percentage points: the precision the seed documents report.
MIN_TOLERANCE = 0.1
#: Standard errors allowed between measured and expected accuracy.
SIGMAS = 3.0

Progress = Callable[[int], None]
#: Turns an RGB image into the network's float32 CHW input.
Pipeline = Callable[["Image.Image"], "np.ndarray"]


def tolerance(expected: float, images: int, population: int | None = IMAGENET_VAL_IMAGES) -> float:
    """Allowed |measured - expected| in points for `images` images (see the module docstring)."""
    p = min(max(expected / 100.0, 0.0), 1.0)
    variance = p * (1 - p) / images
    if population is not None:
        variance *= max(population - images, 0) / (population - 1)
    return max(MIN_TOLERANCE, SIGMAS * 100.0 * math.sqrt(variance))


# ONNX Runtime -------------------------------------------------------------------------------


@dataclass
class Runner:
    """An ONNX Runtime session plus what was learnt about its batch axis."""

    session: Any
    input_name: str
    batch: int
    probabilities: bool  # the graph ends in Softmax: its outputs are already scores
    note: str | None = None

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Outputs of the first graph output for a batch, as [N, classes] float32."""
        outputs = self.session.run(None, {self.input_name: inputs})[0]
        return outputs.reshape(outputs.shape[0], -1)


def open_session(
    path: Path, input_size: tuple[int, int, int], *, batch: int = 1, threads: int | None = None, spinning: bool = True
) -> Runner:
    """Open `path` for batches of up to `batch` images.

    `spinning=False` stops ONNX Runtime's idle threads from busy-waiting for work: needed when
    other threads (image decoding) share the cores, which spinning threads would starve.

    Graphs exported at a fixed batch of 1 (the upstream recipe) get a symbolic batch axis in an
    in-memory copy; a trial run with two images proves the graph really accepts it (a Reshape
    to a constant `[1, ...]` would not). If it does not, the session keeps batch 1 and `note`
    says so.
    """
    proto = onnxfile.load(path, error=StepError)
    inputs = onnxfile.real_inputs(proto.graph)
    if len(inputs) != 1:
        raise StepError(f"{path} has {len(inputs)} graph inputs; a classifier takes exactly one image tensor")
    fixed = onnxfile.dims(inputs[0])
    if len(fixed) != 4 or any(v is not None and v != want for v, want in zip(fixed[1:], input_size, strict=True)):
        raise StepError(
            f"{path} takes input {onnxfile.shape_text(inputs[0])} but the manifest's input_size is {list(input_size)}; "
            "re-export or fix `input_size`"
        )
    probabilities = _ends_in_softmax(proto)
    fixed_batch = fixed[0]
    if fixed_batch is None or fixed_batch == batch == 1:
        return Runner(_session(path.read_bytes(), threads, spinning), inputs[0].name, batch, probabilities)
    freed = _free_batch_axis(proto)
    session = _session(freed, threads, spinning)
    if _accepts_batches(session, inputs[0].name, input_size):
        return Runner(session, inputs[0].name, batch, probabilities)
    if fixed_batch != 1:
        raise StepError(f"{path} has a fixed batch of {fixed_batch} that cannot be changed; re-export it with batch 1")
    note = (f"{path.name} has the batch size 1 built into its graph (e.g. a Reshape to [1, ...]); running one image "
            "at a time (export with `deploy.dynamic_batch: true` for batched runs)")
    return Runner(_session(path.read_bytes(), threads, spinning), inputs[0].name, 1, probabilities, note)


def _session(model: bytes, threads: int | None, spinning: bool) -> Any:
    try:
        return onnxfile.ort_session(model, threads=threads or 0, spinning=spinning)
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception classes
        raise StepError(f"ONNX Runtime cannot load the graph: {exc}") from None


def _free_batch_axis(proto: Any) -> bytes:
    """A copy of `proto` whose inputs and outputs have a symbolic first axis `batch`."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for value in [*copy.graph.input, *copy.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_param = "batch"
    del copy.graph.value_info[:]  # inferred shapes still say batch 1
    return copy.SerializeToString()


def _accepts_batches(session: Any, input_name: str, input_size: tuple[int, int, int]) -> bool:
    import numpy as np

    try:
        outputs = session.run(None, {input_name: np.zeros((2, *input_size), np.float32)})
    except Exception:  # noqa: BLE001 - any ORT failure means: not batchable
        return False
    return bool(outputs) and outputs[0].shape[:1] == (2,)


def _ends_in_softmax(proto: Any) -> bool:
    output = proto.graph.output[0].name
    return any(node.op_type == "Softmax" and output in node.output for node in proto.graph.node)


# Evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopK:
    """Hits among `images`; accuracies in percent."""

    images: int
    top1_hits: int
    top5_hits: int

    @property
    def top1(self) -> float:
        return 100.0 * self.top1_hits / self.images

    @property
    def top5(self) -> float:
        return 100.0 * self.top5_hits / self.images


@dataclass
class EvalResult:
    """What one evaluation run measured."""

    images: int
    scores: dict[str, TopK]
    converted: dict[str, int]
    seconds: float
    batch: int
    top1_changed: float | None = None  # share of images whose top-1 differs between pipelines
    logit_cosine: float | None = None  # mean cosine between the pipelines' output vectors
    notes: list[str] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def evaluate(
    model: Model,
    samples: Sequence[Sample],
    onnx_path: Path,
    *,
    pipelines: Mapping[str, Pipeline] | None = None,
    batch: int = 16,
    threads: int | None = None,
    workers: int | None = None,
    predictions: dict[str, Path] | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Run `samples` through `onnx_path` under each pipeline and count top-1/top-5 hits.

    `pipelines` maps a name to its pre-processing (default: the source library's transform,
    named "source"); the caller builds them, e.g. the deploy one from the deploy files.
    `predictions` maps a pipeline to the text file receiving one line per image:
    `<image> <label> <top-5 class indices> <top-5 scores>` (scores are softmax probabilities;
    names with spaces are shell-quoted). Files appear only when the run completes.
    Raises `DatasetError` for an unreadable image and `StepError` for an unusable graph.
    """
    import numpy as np

    if not samples:
        raise StepError("no images to evaluate")
    pipelines = pipelines if pipelines is not None else {"source": _source_pipeline(model)}
    runner = open_session(onnx_path, model.input_size, batch=batch, threads=threads, spinning=False)
    started = time.perf_counter()
    tallies = {name: _Tally() for name in pipelines}
    modes: Counter[str] = Counter()
    agreement = _Agreement()
    with contextlib.ExitStack() as stack:  # prediction files appear only if every batch succeeds
        files = _prediction_files(stack, predictions or {})
        functions = list(pipelines.values())
        prefetched = stack.enter_context(contextlib.closing(_prefetched(samples, functions, runner.batch, workers)))
        for chunk, prepared in prefetched:
            labels = np.fromiter((s.label for s in chunk), np.int64, len(chunk))
            modes.update(mode for _, mode in prepared)
            outputs = []
            for index, name in enumerate(pipelines):
                logits = _infer(runner, model, onnx_path, [arrays[index] for arrays, _ in prepared])
                top5 = tallies[name].add(logits, labels)
                if name in files:
                    _write_predictions(files[name], chunk, top5, _scores(logits, top5, runner.probabilities))
                outputs.append((logits, top5))
            agreement.add(outputs)
            if progress:
                progress(len(chunk))
    result = EvalResult(
        images=len(samples),
        scores={name: tally.result() for name, tally in tallies.items()},
        converted=conversion_summary(modes),
        seconds=time.perf_counter() - started,
        batch=runner.batch,
        notes=[runner.note] if runner.note else [],
    )
    agreement.report(result)
    return result


def _source_pipeline(model: Model) -> Pipeline:
    from zoo.measure.preprocess import source_pipeline

    return functools.partial(source_pipeline, model=model)


def _prediction_files(stack: contextlib.ExitStack, predictions: Mapping[str, Path]) -> dict[str, Any]:
    """Open each pipeline's prediction file (published when `stack` closes without error)."""
    files = {name: stack.enter_context(atomic_writer(path)) for name, path in predictions.items()}
    for name, handle in files.items():
        handle.write(f"# image label top5_indices({name} pre-processing) top5_scores(softmax)\n")
    return files


def _infer(runner: Runner, model: Model, onnx_path: Path, inputs: list[np.ndarray]) -> np.ndarray:
    """Logits of one batch, checked against the manifest's class count."""
    import numpy as np

    logits = runner.run(np.stack(inputs))
    if logits.shape[1] != model.num_classes:
        raise StepError(
            f"{onnx_path} outputs {logits.shape[1]} values per image; the manifest says num_classes {model.num_classes}"
        )
    return logits


class _Agreement:
    """How two pipelines' predictions differ: images whose top-1 changes, summed logit cosines."""

    def __init__(self) -> None:
        self.compared = False
        self.changed = 0
        self.cosines = 0.0

    def add(self, outputs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        import numpy as np

        if len(outputs) == 2:
            (first, first_top), (second, second_top) = outputs
            self.compared = True
            self.changed += int(np.sum(first_top[:, 0] != second_top[:, 0]))
            self.cosines += float(np.sum(_cosine(first, second)))

    def report(self, result: EvalResult) -> None:
        """Put the shares per image into `result` (when two pipelines ran)."""
        if self.compared:
            result.top1_changed = self.changed / result.images
            result.logit_cosine = self.cosines / result.images


class _Tally:
    def __init__(self) -> None:
        self.images = self.top1 = self.top5 = 0

    def add(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Count hits; returns the top-5 class indices per image (best first, ties to the lower index)."""
        import numpy as np

        top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
        self.images += len(labels)
        self.top1 += int(np.sum(top5[:, 0] == labels))
        self.top5 += int(np.sum(np.any(top5 == labels[:, None], axis=1)))
        return top5

    def result(self) -> TopK:
        return TopK(self.images, self.top1, self.top5)


def _scores(logits: np.ndarray, top5: np.ndarray, probabilities: bool) -> np.ndarray:
    import numpy as np

    if probabilities:
        chosen = logits
    else:
        shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        chosen = exp / exp.sum(axis=1, keepdims=True)
    return np.take_along_axis(chosen, top5, axis=1)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.sum(a64 * b64, axis=1) / np.where(norms == 0, 1.0, norms)


def _prefetched(
    samples: Sequence[Sample], functions: Sequence[Callable[[Image.Image], np.ndarray]], batch: int,
    workers: int | None,
) -> Generator[tuple[Sequence[Sample], list[tuple[list[np.ndarray], str]]], None, None]:
    """Batches of (samples, [(one array per pipeline, original mode)]), decoded ahead in threads."""
    workers = workers or min(4, os.cpu_count() or 1)
    chunks = [samples[i : i + batch] for i in range(0, len(samples), batch)]

    def prepare(sample: Sample) -> tuple[list[np.ndarray], str]:
        image, mode = load_rgb(sample.path)
        return [fn(image) for fn in functions], mode

    pending: deque[tuple[Sequence[Sample], list[Future]]] = deque()
    ahead = max(2, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoo-decode") as pool:
        try:
            for chunk in chunks:
                pending.append((chunk, [pool.submit(prepare, s) for s in chunk]))
                if len(pending) > ahead:
                    done, futures = pending.popleft()
                    yield done, [f.result() for f in futures]
            while pending:
                done, futures = pending.popleft()
                yield done, [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _write_predictions(handle: Any, chunk: Sequence[Sample], top5: np.ndarray, scores: np.ndarray) -> None:
    """One `<image> <label> <top-5 indices> <top-5 scores>` line per image."""
    for sample, indices, values in zip(chunk, top5, scores, strict=True):
        image = sample.name if not any(c.isspace() for c in sample.name) else shlex.quote(sample.name)
        handle.write(f"{image} {sample.label} {' '.join(map(str, indices))} {' '.join(f'{v:.6f}' for v in values)}\n")


# Verdict ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One measured accuracy against its expected value."""

    metric: str  # "top1" or "top5"
    measured: float
    expected: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return abs(self.measured - self.expected) <= self.tolerance


@dataclass(frozen=True)
class Verdict:
    """Whether a run reproduces `expected`; `checks` is empty when no comparison is allowed."""

    pipeline: str
    checks: tuple[Check, ...]
    reason: str | None = None  # why nothing was compared

    @property
    def compared(self) -> bool:
        return bool(self.checks)

    @property
    def passed(self) -> bool | None:
        return all(c.passed for c in self.checks) if self.checks else None


def verdict(model: Model, result: EvalResult, *, random_weights: bool) -> Verdict:
    """Compare the source pipeline's accuracy (or the deploy one's, if only that ran) with `expected`.

    Models synced with random weights are reported, never compared: their accuracy means nothing.
    """
    pipeline = "source" if "source" in result.scores else "deploy"
    return compare(model, result.scores[pipeline], pipeline, random_weights=random_weights)


def compare(model: Model, score: TopK, pipeline: str, *, random_weights: bool, allowance: float = 0.0) -> Verdict:
    """`score` against the manifest's `expected`, within `tolerance` plus `allowance` points.

    The allowance is what a deployment may lose on purpose (quantisation); see `zoo.measure.device`.
    """
    if random_weights:
        return Verdict(pipeline, (), "the weights are seeded random init: accuracy is reported, not compared")
    expected = model.expected
    values = {m: expected.percent(m) if expected else None for m in ("top1", "top5")}
    if all(v is None for v in values.values()):
        return Verdict(pipeline, (), "the manifest states no expected accuracy")
    population = IMAGENET_VAL_IMAGES if model.dataset == "ImageNet-1k" else None
    checks = tuple(
        Check(metric, getattr(score, metric), float(value),
              tolerance(float(value), score.images, population) + allowance)
        for metric, value in values.items()
        if value is not None
    )
    return Verdict(pipeline, checks)
