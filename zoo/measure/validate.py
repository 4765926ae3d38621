"""Blocking validation: the exported graph must compute what the source framework computes.

Checks, in order (the first failure raises `ValidationFailed` with the numbers):

1. `onnx.checker.check_model(full_check=True)` on the raw and the simplified graph.
2. Signature against the manifest: one float input of shape [1, C, H, W] (batch symbolic
   when `deploy.dynamic_batch`), the same input name in both graphs, an output of shape
   [1, num_classes]; ONNX Runtime must return that shape too. A dynamic-batch graph is also
   run at batch 2 and must agree with batch 1.
3. Parity of ONNX Runtime on the simplified graph against the source framework, on a real
   photograph preprocessed exactly as the manifest says plus seeded random inputs.
4. Parity of the simplified graph against the raw one, on the same inputs.
5. With `deploy.frontend: pytorch`, parity of the TorchScript file (what vamc then compiles)
   against the source framework, on the same inputs and with the same thresholds.

The source framework's outputs come from the convert step's reference file
(`zoo.sources.common.write_reference`): the converter ran the framework on these inputs
in the same process, right after exporting. Validation therefore needs no framework, only
ONNX Runtime (and torch to run a TorchScript file), and steps exchange files only.

Metrics (per comparison, worst case over the inputs):

- ``max_abs``: largest absolute difference of a logit;
- ``max_rel``: ``max_abs`` of an input divided by the range (max - min) of its reference logits;
- ``cosine``: smallest cosine similarity between reference and ONNX logits;
- ``top1_agreement`` / ``top5_agreement``: share of inputs whose top-1 class (top-5 set)
  agrees. Classes whose reference logits differ by at most the input's absolute limit
  (below) count as tied: picking either is agreement, as they are indistinguishable at
  the accepted tolerance.

Thresholds are the manifest's `validate` block (defaults: atol 1e-4, rtol 1e-3, top-1
agreement 100 %); relaxing them needs a written reason, which the metrics carry.

The absolute limit of an input is ``atol + FP32_NOISE x max|reference logit|``: float32
cannot hold a logit of 1500 closer than 1.2e-4, so computing it in another order (ONNX
Runtime vs the framework) differs by that much without anything being wrong. Trained
models have logits of order 10, where the term is 1e-5; it matters for seeded random
weights, whose logits can reach 1e3..1e5 (`abs_limit` in the metrics shows the limit used).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import onnxfile
from zoo.errors import ValidationFailed
from zoo.manifest.schema import Model

if TYPE_CHECKING:
    import numpy as np

TOP_K = 5
#: Float32 rounding allowance, relative to the largest logit magnitude (about 8 float32 epsilons).
FP32_NOISE = 1e-6


@dataclass(frozen=True)
class Parity:
    """How closely one set of logits matches another, worst case over the inputs."""

    max_abs: float
    #: Largest share of its absolute limit (atol + FP32_NOISE x max|reference logit|) an input's error uses.
    abs_ratio: float
    #: That input's absolute limit.
    abs_limit: float
    max_rel: float
    cosine: float
    top1_agreement: float
    top5_agreement: float
    worst_input: str


@dataclass(frozen=True)
class Report:
    """The outcome of a passed validation: source-vs-simplified and simplified-vs-raw parity."""

    source: Parity
    simplified_vs_raw: Parity
    torchscript: Parity | None  # the TorchScript file vs the source framework, when there is one
    inputs: tuple[str, ...]
    input_name: str
    atol: float
    rtol: float
    min_top1_agreement: float
    reason: str | None

    def metrics(self) -> dict[str, Any]:
        """The record's validate metrics: the source parity at top level, the rest nested."""
        torchscript = {"torchscript": asdict(self.torchscript)} if self.torchscript else {}
        return {
            **asdict(self.source),
            "simplified_vs_raw": asdict(self.simplified_vs_raw),
            **torchscript,
            "inputs": list(self.inputs),
            "input_name": self.input_name,
            "thresholds": {"atol": self.atol, "rtol": self.rtol, "min_top1_agreement": self.min_top1_agreement},
            "reason": self.reason,
        }


def validate(model: Model, *, raw: Path, simplified: Path, reference: Path, torchscript: Path | None = None) -> Report:
    """Run every check; return the numbers, or raise `ValidationFailed` naming the failed check.

    `torchscript`: the TorchScript file the converter wrote for `deploy.frontend: pytorch`, if any.
    """
    import numpy as np

    for path in (raw, simplified):
        _check_model(model, path)
    input_name = _check_signature(model, raw)
    if _check_signature(model, simplified) != input_name:
        raise ValidationFailed(f"{model.id}: simplification renamed the input of {raw.name}")
    with np.load(reference) as data:
        names = [str(n) for n in data["names"]]
        inputs, expected = data["inputs"], data["logits"]
    simplified_out = _run(model, simplified, input_name, inputs)
    raw_out = _run(model, raw, input_name, inputs)
    if model.deploy.dynamic_batch:
        _check_batch(model, simplified, input_name, inputs, simplified_out)
    thresholds = model.validate_
    report = Report(
        source=compare(expected, simplified_out, names, thresholds.atol),
        simplified_vs_raw=compare(raw_out, simplified_out, names, thresholds.atol),
        torchscript=None if torchscript is None else compare(
            expected, run_torchscript(model, torchscript, inputs), names, thresholds.atol),
        inputs=tuple(names),
        input_name=input_name,
        atol=thresholds.atol,
        rtol=thresholds.rtol,
        min_top1_agreement=thresholds.min_top1_agreement,
        reason=thresholds.reason,
    )
    _judge(model, report, "ONNX Runtime (simplified graph) vs the source framework", report.source)
    _judge(model, report, "simplified graph vs raw graph", report.simplified_vs_raw)
    if report.torchscript is not None:
        _judge(model, report, "the TorchScript file vs the source framework", report.torchscript)
    return report


def compare(expected: np.ndarray, actual: np.ndarray, names: list[str], atol: float) -> Parity:
    """Parity of `actual` against `expected` logits ([K, num_classes] each), worst case over K inputs."""
    import numpy as np

    expected = expected.reshape(len(expected), -1).astype(np.float64)
    actual = actual.reshape(len(actual), -1).astype(np.float64)
    abs_err = np.abs(expected - actual).max(axis=1)
    spread = expected.max(axis=1) - expected.min(axis=1)
    rel_err = np.where(spread > 0, abs_err / np.where(spread > 0, spread, 1.0), np.where(abs_err > 0, np.inf, 0.0))
    norms = np.linalg.norm(expected, axis=1) * np.linalg.norm(actual, axis=1)
    cosine = np.where(norms > 0, (expected * actual).sum(axis=1) / np.where(norms > 0, norms, 1.0), 1.0)
    limits = atol + FP32_NOISE * np.abs(expected).max(axis=1)
    k = min(TOP_K, expected.shape[1])
    top1 = [_agrees(e, a, 1, limit) for e, a, limit in zip(expected, actual, limits, strict=True)]
    topk = [_agrees(e, a, k, limit) for e, a, limit in zip(expected, actual, limits, strict=True)]
    ratios = abs_err / limits
    worst = int(np.argmax(ratios))
    return Parity(
        max_abs=float(abs_err.max()),
        abs_ratio=float(ratios[worst]),
        abs_limit=float(limits[worst]),
        max_rel=float(rel_err.max()),
        cosine=float(cosine.min()),
        top1_agreement=float(np.mean(top1)),
        top5_agreement=float(np.mean(topk)),
        worst_input=names[worst],
    )


def _agrees(expected: np.ndarray, actual: np.ndarray, k: int, tolerance: float) -> bool:
    """Whether `actual`'s top-k classes are a top-k of `expected`, up to ties within `tolerance`."""
    import numpy as np

    kth_best = np.sort(expected)[-k]
    chosen = np.argsort(actual)[-k:]
    return bool(np.all(expected[chosen] >= kth_best - tolerance))


def _judge(model: Model, report: Report, what: str, parity: Parity) -> None:
    failures = []
    if not parity.abs_ratio <= 1.0:
        failures.append(
            f"abs error {parity.abs_ratio * parity.abs_limit:.3g} on {parity.worst_input} > its limit "
            f"{parity.abs_limit:.3g} (atol {report.atol:g} + {FP32_NOISE:g} x largest |logit|)"
        )
    if not parity.max_rel <= report.rtol:
        failures.append(f"max error relative to the logit range {parity.max_rel:.3g} > rtol {report.rtol:g}")
    if parity.top1_agreement < report.min_top1_agreement:
        failures.append(
            f"top-1 agreement {parity.top1_agreement:.0%} < {report.min_top1_agreement:.0%}"
        )
    if failures:
        raise ValidationFailed(
            f"{model.id}: {what} disagree: " + "; ".join(failures)
            + f" (cosine {parity.cosine:.6f}, top-5 agreement {parity.top5_agreement:.0%}, "
            f"inputs: {', '.join(report.inputs)}). "
            "The exported graph does not compute what the source computes; check the converter "
            "(weights, preprocessing baked into the graph, unsupported operators). Relax "
            "`validate:` thresholds in the manifest only with a written `reason`."
        )


def _check_model(model: Model, path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # ValidationError, InferenceError
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationFailed(f"{model.id}: {path.name} fails onnx.checker (full check): {detail}") from exc


def _check_signature(model: Model, path: Path) -> str:
    """Check the declared input and output against the manifest; return the input name."""
    import onnx

    graph = onnxfile.load(path, weights=False, error=ValidationFailed).graph
    inputs = onnxfile.real_inputs(graph)
    if len(inputs) != 1:
        raise ValidationFailed(
            f"{model.id}: {path.name} has {len(inputs)} inputs ({', '.join(v.name for v in inputs)}); "
            "a classifier takes exactly one image tensor"
        )
    value = inputs[0]
    if value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise ValidationFailed(f"{model.id}: {path.name} input `{value.name}` is not float32")
    _expect_shape(model, path, f"input `{value.name}`", value, [*model.input_size])
    _expect_shape(model, path, f"output `{graph.output[0].name}`", graph.output[0], [model.num_classes])
    return value.name


def _expect_shape(model: Model, path: Path, what: str, value: Any, tail: list[int]) -> None:
    """The declared shape must be [batch, *tail]; batch is 1, or symbolic with a dynamic batch."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return  # undeclared; the run-time shape check in _run still applies
    dims: list[int | str] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
    batch_ok = isinstance(dims[0], str) if model.deploy.dynamic_batch else dims[:1] == [1]
    if not dims or not batch_ok or dims[1:] != tail:
        batch = "batch (dynamic)" if model.deploy.dynamic_batch else "1"
        wanted = f"[{batch}, {', '.join(map(str, tail))}]"
        raise ValidationFailed(
            f"{model.id}: {path.name} {what} has shape {dims}, the manifest says {wanted} "
            "(input_size, num_classes, deploy.dynamic_batch)"
        )


def _run(model: Model, path: Path, input_name: str, inputs: np.ndarray) -> np.ndarray:
    """ONNX Runtime logits for each input at batch 1, checking the run-time output shape."""
    session = onnxfile.ort_session(path)
    return _per_input(model, f"ONNX Runtime on {path.name}", lambda x: session.run(None, {input_name: x})[0], inputs)


def run_torchscript(model: Model, path: Path, inputs: np.ndarray) -> np.ndarray:
    """Logits of a TorchScript file for each input at batch 1 (torch imported here only)."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch deprecates TorchScript; vamc reads it
            module = torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, OSError, ValueError) as exc:
        raise ValidationFailed(f"{model.id}: cannot load the TorchScript file {path.name}: {exc}") from exc
    with torch.no_grad():
        return _per_input(model, f"the TorchScript file {path.name}",
                          lambda x: module(torch.from_numpy(x)).numpy(), inputs)


def _per_input(model: Model, what: str, run: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray) -> np.ndarray:
    """`run` on each input at batch 1, each result checked to be [1, num_classes]; the logits stacked."""
    import numpy as np

    outputs = []
    for i in range(len(inputs)):
        result = run(inputs[i : i + 1])
        if tuple(result.shape) != (1, model.num_classes):
            raise ValidationFailed(
                f"{model.id}: {what} returns shape {list(result.shape)}, "
                f"the manifest says [1, {model.num_classes}] (num_classes)"
            )
        outputs.append(result[0])
    return np.stack(outputs)


def _check_batch(model: Model, path: Path, input_name: str, inputs: np.ndarray, single: np.ndarray) -> None:
    """A dynamic-batch graph run on the whole batch must give the batch-1 results."""
    import numpy as np

    batched = onnxfile.ort_session(path).run(None, {input_name: inputs})[0]
    if tuple(batched.shape) != (len(inputs), model.num_classes):
        raise ValidationFailed(
            f"{model.id}: {path.name} returns shape {list(batched.shape)} at batch {len(inputs)}, "
            f"expected [{len(inputs)}, {model.num_classes}] (deploy.dynamic_batch)"
        )
    error = float(np.abs(batched - single).max())
    if not error <= model.validate_.atol:  # also true for NaN
        raise ValidationFailed(
            f"{model.id}: {path.name} at batch {len(inputs)} differs from batch 1 by {error:.3g} "
            f"> atol {model.validate_.atol:g}"
        )
