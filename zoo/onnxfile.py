"""Reading and writing ONNX files: the one place that knows the protobuf's details.

A graph lists its weights (initialisers) among its inputs in older opsets, so "the graph's
inputs" always means the *real* inputs here: those no initialiser feeds. onnx and
onnxruntime are imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.atomic import atomic_path
from zoo.errors import ZooError


def load(path: Path, *, weights: bool = True, error: type[ZooError] = ZooError) -> Any:
    """The ModelProto of `path` (without external weights unless `weights`); unreadable -> `error`."""
    import onnx

    try:
        return onnx.load(str(path), load_external_data=weights)
    except Exception as exc:  # noqa: BLE001 - missing file, protobuf decode error, ...: all mean "unreadable"
        raise error(f"cannot read the ONNX file {path}: {exc}") from None


def real_inputs(graph: Any) -> list[Any]:
    """The graph's input values that no initialiser feeds: the tensors a caller must supply."""
    initialisers = {i.name for i in graph.initializer}
    return [value for value in graph.input if value.name not in initialisers]


def dims(value: Any) -> list[int | None]:
    """A value's static dimensions, None where a dimension is symbolic or unknown."""
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def shape_text(value: Any) -> str:
    """A value's shape for messages: `[batch, 3, 224, 224]` (symbolic names kept)."""
    return "[" + ", ".join(d.dim_param or str(d.dim_value) for d in value.type.tensor_type.shape.dim) + "]"


def io_names(path: Path) -> tuple[str, str]:
    """Names of the graph's first real input and its first output."""
    graph = load(path, weights=False).graph
    return real_inputs(graph)[0].name, graph.output[0].name


def opset_of(path: Path) -> int:
    """The default-domain opset an ONNX file declares."""
    proto = load(path, weights=False)
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def read_metadata(path: Path) -> dict[str, str]:
    """The `metadata_props` of an ONNX file (read without its weights)."""
    return {p.key: p.value for p in load(path, weights=False).metadata_props}


def set_metadata(proto: Any, values: dict[str, str]) -> None:
    """Set (replace) `metadata_props` entries of a ModelProto."""
    props = proto.metadata_props
    kept = [(p.key, p.value) for p in props if p.key not in values]
    del props[:]
    for key, value in [*kept, *values.items()]:
        entry = props.add()
        entry.key, entry.value = key, value


def save(proto: Any, target: Path) -> None:
    """Save a ModelProto atomically (temp file in the same folder, then rename)."""
    import onnx

    with atomic_path(target) as tmp:
        onnx.save(proto, str(tmp))


def ort_session(path: Path | bytes, *, threads: int | None = None, spinning: bool = True) -> Any:
    """An ONNX Runtime CPU session for a file (or serialised model), quiet about harmless warnings.

    `spinning=False` stops idle worker threads from busy-waiting, which matters when other
    threads (image decoding) share the cores.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # failures surface as exceptions; logging them too is noise
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = str(path) if isinstance(path, Path) else path
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
