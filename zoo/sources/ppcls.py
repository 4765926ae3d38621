"""ppcls: PaddleClas models to ONNX through paddle2onnx.

Two ways in, chosen by the manifest's weights format:

- ``paddle-inference``: an inference archive (tar or zip holding ``inference.pdmodel`` or
  ``inference.json`` plus ``inference.pdiparams``), unpacked with `zoo.store.fetch.download.safe_extract`
  and converted as is; reference outputs come from Paddle's own inference predictor.
- ``pdparams`` (or random weights): the PaddleClas architecture class
  (`paddleclas.ppcls.arch.backbone.<arch>(class_num=...)`), the weights loaded into it,
  `paddle.jit.save` with input ``x`` of shape [None, C, H, W], then paddle2onnx.

`.pdparams` files are pickles; they are read by an unpickler that accepts numpy arrays and
nothing else, so a crafted file cannot run code. paddle2onnx runs with
``optimize_tool="None"``: graph optimisation is the simplify step's job (its default
optimiser would try to pip-install packages at run time).

Parameters are counted as Paddle counts them: the sum of the layer's parameter tensors. In
Paddle, BatchNorm's running mean and variance are (non-trainable) parameters, and the
PaddleClas tables include them (CSPDarkNet53: 27.678 M).
"""

from __future__ import annotations

import math
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import onnxfile
from zoo.atomic import atomic_path
from zoo.errors import ConversionError
from zoo.manifest.schema import Model, Preprocess
from zoo.sources.base import ConvertRequest, ConvertResult, SourceLibrary
from zoo.sources.common import (
    calibration_batch,
    check_fits,
    finish,
    first_line,
)
from zoo.sources.config import ConfigQuery, LibraryConfig
from zoo.sources.pickles import RefusedGlobal, load_arrays, refused
from zoo.sources.transform import SourceRules, shorter_side

if TYPE_CHECKING:
    import numpy as np

#: Program file names of a PaddleClas inference model: the PIR program (Paddle 3) or the legacy one.
PROGRAM_NAMES = ("inference.json", "inference.pdmodel")
PARAMS_NAME = "inference.pdiparams"
#: Input name of graphs saved from an architecture (PaddleClas' own export uses `x` too).
INPUT_NAME = "x"
#: The weights format of an inference archive (the other one, `pdparams`, is a checkpoint).
INFERENCE_ARCHIVE = "paddle-inference"


def _paddle_size(w: int, h: int, pre: Preprocess, height: int, width: int) -> tuple[int, int]:
    """PaddleClas `ResizeImage(resize_short)`: both sides times `resize_short / shorter`, each
    rounded with Python's `round` (so the longer side is rounded, not truncated)."""
    percent = float(shorter_side(pre, height, width)) / min(w, h)
    return int(round(w * percent)), int(round(h * percent))


def _floor_offset(outer: int, inner: int) -> int:
    """PaddleClas `CropImage`: `(outer - inner) // 2`."""
    return (outer - inner) // 2


def _times_reciprocal_255(array: np.ndarray) -> np.ndarray:
    """PaddleClas `NormalizeImage(scale=1.0/255.0)`: `x * float32(1/255)`, which can differ from
    `x / 255` in the last bit."""
    import numpy as np

    return array * np.float32(1.0 / 255.0)


class Ppcls(SourceLibrary):
    name = "ppcls"
    weight_formats = frozenset({"pdparams", INFERENCE_ARCHIVE})
    default_opset = 10  # paddle2onnx's published recipe
    input_name = INPUT_NAME
    #: PaddleClas ResizeImage + CropImage + NormalizeImage
    eval_rules = SourceRules(_paddle_size, _floor_offset, _times_reciprocal_255)
    tools = ("paddlepaddle", "paddle2onnx", "paddleclas", "onnx")
    extra = "ppcls"
    package = "paddleclas"
    config_files = True

    def read_configs(self, query: ConfigQuery) -> dict[str, LibraryConfig]:
        """`MODEL_URLS` at the pinned paddleclas, with each model's eval config file (`zoo.sources.ppcls_config`)."""
        from zoo.sources import ppcls_config

        return ppcls_config.read_configs(query)

    def convert(self, request: ConvertRequest) -> ConvertResult:
        """Convert an inference archive, or build the architecture (seeded) with optional .pdparams."""
        import paddle

        paddle.seed(request.seed)
        out = request.out
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}-paddle-") as scratch:
            folder = Path(scratch)
            weights = request.model.weights
            if weights is not None and weights.format == INFERENCE_ARCHIVE and request.weights:
                return _from_archive(request, request.weights, folder)
            return _from_architecture(request, folder)


def _from_archive(request: ConvertRequest, archive: Path, folder: Path) -> ConvertResult:
    from zoo.store.fetch.archive import safe_extract

    unpacked = safe_extract(archive, folder / "unpacked")
    program = _find_program(archive, unpacked)
    params_file = program.with_name(PARAMS_NAME)
    predictor = _predictor(program, params_file)
    feed = predictor.get_input_handle(predictor.get_input_names()[0])
    fetch = predictor.get_output_handle(predictor.get_output_names()[0])

    def forward(batch: Any) -> Any:
        feed.reshape(batch.shape)
        feed.copy_from_cpu(batch)
        predictor.run()
        return fetch.copy_to_cpu()

    params = _program_parameters(program)
    return _export(request, program, params_file, forward, params, ("paddlepaddle", "paddle2onnx", "onnx"))


def _from_architecture(request: ConvertRequest, folder: Path) -> ConvertResult:
    import paddle
    from paddle.static import InputSpec

    model, weights = request.model, request.weights
    layer = _build(model)
    if weights is not None:
        _apply(layer, load_pdparams(weights), weights)
    else:
        _calibrate_batchnorm(layer, model, request.seed)
    layer.eval()
    prefix = folder / "inference"
    channels, height, width = model.input_size
    spec = InputSpec([None, channels, height, width], "float32", INPUT_NAME)
    try:
        paddle.jit.save(layer, str(prefix), input_spec=[spec])
    except Exception as exc:  # paddle's to_static raises many types
        raise ConversionError(f"{model.id}: paddle.jit.save failed: {first_line(exc)}") from exc
    program = next(prefix.with_name(name) for name in PROGRAM_NAMES if prefix.with_name(name).exists())

    def forward(batch: Any) -> Any:
        with paddle.no_grad():
            return layer(paddle.to_tensor(batch)).numpy()

    params = sum(math.prod(p.shape) for p in layer.parameters())
    return _export(request, program, prefix.with_name(PARAMS_NAME), forward, params, LIBRARY.tools)


def _export(
    request: ConvertRequest, program: Path, params_file: Path, forward: Any, params: int, tools: tuple[str, ...]
) -> ConvertResult:
    """paddle2onnx at the manifest's opset, batch fixed to 1 unless dynamic, then reference and stamp.

    `tools`: the distributions whose versions the result reports.
    """
    import onnx
    import paddle2onnx

    model, out = request.model, request.out
    with atomic_path(out) as tmp:
        try:
            paddle2onnx.export(
                str(program),
                str(params_file),
                str(tmp),
                opset_version=model.opset,
                auto_upgrade_opset=True,
                enable_onnx_checker=True,
                optimize_tool="None",
            )
        except Exception as exc:
            raise ConversionError(
                f"{model.id}: paddle2onnx failed at opset {model.opset}: {first_line(exc)}"
            ) from exc
    proto = onnx.load(str(out))
    _restore_leaky_slopes(program, proto)
    if not model.deploy.dynamic_batch:
        _fix_batch(proto)
    onnxfile.save(proto, out)
    warnings: list[str] = []
    opset = onnxfile.opset_of(out)
    if opset != model.opset:
        warnings.append(
            f"paddle2onnx raised the opset from {model.opset} to {opset} (an operator needs it); "
            f"set `deploy.opset: {opset}` to make this explicit"
        )
    return finish(request, forward, params=params, opset=opset, tools=tools, warnings=tuple(warnings))


def _build(model: Model) -> Any:
    """The PaddleClas architecture class, built in a fresh name scope (Paddle needs it for a second model)."""
    import paddle
    from paddleclas.ppcls.arch import backbone

    arch = model.source.arch or model.name
    cls = getattr(backbone, arch, None)
    if cls is None:
        raise ConversionError(
            f"{model.id}: paddleclas has no architecture {arch!r} in paddleclas.ppcls.arch.backbone "
            "(names are case-sensitive, e.g. CSPDarkNet53, ResNeSt50)"
        )
    with paddle.utils.unique_name.guard():
        return cls(class_num=model.num_classes)


def _calibrate_batchnorm(layer: Any, model: Model, seed: int) -> None:
    """Set the BatchNorm statistics of randomly initialised weights from one seeded batch (see `calibration_batch`)."""
    import paddle

    # paddle.nn.BatchNorm (used by PaddleClas) and the BatchNorm1D/2D/3D family share these attributes
    norms = [sub for sub in layer.sublayers() if all(hasattr(sub, a) for a in ("_mean", "_variance", "_momentum"))]
    if not norms:
        return
    momenta = [norm._momentum for norm in norms]
    for norm in norms:
        norm._momentum = 0.0  # running = momentum * running + (1 - momentum) * batch: this batch only
    layer.train()
    with paddle.no_grad():
        layer(paddle.to_tensor(calibration_batch(model, seed)))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm._momentum = momentum
        norm._variance.set_value(paddle.clip(norm._variance, min=1.0))  # never amplify: see calibration_batch
    layer.eval()


def load_pdparams(path: Path) -> dict[str, Any]:
    """The `name -> numpy array` state dict in a `.pdparams` file, refusing anything that is not arrays."""
    import numpy as np

    try:
        with open(path, "rb") as handle:
            loaded = load_arrays(handle)
    except RefusedGlobal as exc:
        raise refused(path, str(exc), "paddle.save(layer.state_dict(), ...)") from exc
    except pickle.UnpicklingError as exc:
        raise ConversionError(f"{path}: not a readable .pdparams file ({exc})") from exc
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ConversionError(f"{path}: not a readable .pdparams file (truncated or corrupted?): {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConversionError(f"{path}: holds {type(loaded).__name__}, not a state dict")
    arrays = {k: v for k, v in loaded.items() if isinstance(v, np.ndarray)}
    if not arrays:
        raise ConversionError(f"{path}: holds no arrays")
    return arrays


def _apply(layer: Any, state: dict[str, Any], path: Path) -> None:
    """Load `state` into `layer`; missing, unexpected or mis-shaped keys are an error naming them."""
    expected = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    check_fits(expected, {k: tuple(v.shape) for k, v in state.items()}, path)
    layer.set_state_dict(state)


def _find_program(archive: Path, folder: Path) -> Path:
    """The one inference program in the unpacked archive that has its params file beside it."""
    found = [
        path
        for name in PROGRAM_NAMES
        for path in sorted(folder.rglob(name))
        if path.with_name(PARAMS_NAME).is_file()
    ]
    if len(found) == 1:
        return found[0]
    listing = ", ".join(str(p.relative_to(folder)) for p in sorted(folder.rglob("*")) if p.is_file())
    if not found:
        raise ConversionError(
            f"{archive}: no {' or '.join(PROGRAM_NAMES)} with {PARAMS_NAME} beside it "
            f"(the archive holds: {listing or 'nothing'})"
        )
    raise ConversionError(f"{archive}: holds {len(found)} inference models, expected one: {listing}")


def _predictor(program: Path, params_file: Path) -> Any:
    """Paddle's inference predictor for an unpacked inference model (either program format)."""
    from paddle import inference

    config = inference.Config(str(program), str(params_file))
    config.disable_gpu()
    # The reference is Paddle's plain kernels: no graph rewrites, and no oneDNN fusion passes
    # (Paddle 3.3's conv+leaky_relu fusion crashes on the float64 slope, see `_restore_leaky_slopes`).
    config.disable_mkldnn()
    config.switch_ir_optim(False)
    config.disable_glog_info()
    return inference.create_predictor(config)


def _program_parameters(program: Path) -> int:
    """Elements of the persistable tensors an inference program declares (its parameters)."""
    import paddle

    if program.suffix == ".json":
        loaded = paddle.jit.load(str(program.with_suffix("")))
        return sum(math.prod(p.shape) for p in loaded.parameters())
    return sum(
        math.prod(var.type.dense_tensor.tensor.dims)
        for var in _legacy_program(program).blocks[0].vars
        if var.persistable and var.name not in ("feed", "fetch") and var.type.HasField("dense_tensor")
    )


def _restore_leaky_slopes(program: Path, proto: Any) -> None:
    """Give every ONNX LeakyRelu the slope its Paddle op has.

    paddle2onnx 2.1.0 reads `leaky_relu`'s slope (a float64 attribute in Paddle's PIR
    programs, which it also converts legacy programs to) as float32 and writes garbage
    (e.g. 2.5e-43 or 1.8e31 instead of 0.1): CSPDarkNet53 and DarkNet53 come out wrong,
    which validation catches. The k-th LeakyRelu node comes from the k-th `leaky_relu` op
    (paddle2onnx converts ops in program order); validation still checks the result.
    """
    import onnx

    nodes = [node for node in proto.graph.node if node.op_type == "LeakyRelu"]
    if not nodes:
        return
    slopes = _leaky_slopes(program)
    if len(slopes) != len(nodes):
        raise ConversionError(
            f"{program}: {len(slopes)} leaky_relu ops but {len(nodes)} LeakyRelu nodes after paddle2onnx; "
            "cannot restore their slopes"
        )
    for node, slope in zip(nodes, slopes, strict=True):
        kept = [a for a in node.attribute if a.name != "alpha"]
        del node.attribute[:]
        node.attribute.extend([*kept, onnx.helper.make_attribute("alpha", slope)])


def _leaky_slopes(program: Path) -> list[float]:
    """The slopes of the program's `leaky_relu` ops, in program order (PIR json or legacy ProgramDesc)."""
    if program.suffix == ".json":
        import json

        slopes: list[float] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if str(value.get("#", "")).endswith(".leaky_relu"):
                    slopes.extend(a["AT"]["D"] for a in value.get("A", []) if a.get("N") == "negative_slope")
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(json.loads(program.read_text(encoding="utf-8")))
        return slopes
    return [
        attr.f
        for op in _legacy_program(program).blocks[0].ops
        if op.type == "leaky_relu"
        for attr in op.attrs
        if attr.name == "alpha"
    ]


def _legacy_program(program: Path) -> Any:
    """A legacy `inference.pdmodel` parsed as Paddle's ProgramDesc protobuf (no executor needed)."""
    from paddle.base.proto import framework_pb2

    desc = framework_pb2.ProgramDesc()  # type: ignore[attr-defined]  # generated protobuf code
    desc.ParseFromString(program.read_bytes())
    return desc


def _fix_batch(proto: Any) -> None:
    """Set the batch axis of the graph's inputs and outputs to 1 (paddle saves it as dynamic)."""
    for value in [*onnxfile.real_inputs(proto.graph), *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_value = 1


LIBRARY = Ppcls()
