"""onnx: an ONNX file given as the weights, checked and converted to the requested opset.

There is no other framework here: the given file is the source. Its reference outputs are
ONNX Runtime's on that file as given, so validation checks that the opset conversion and
simplification did not change what it computes. There is no architecture to initialise,
so `--random-weights` cannot apply: the file is fetched and used even then.
"""

from __future__ import annotations

import shutil
from typing import Any

from zoo import onnxfile
from zoo.atomic import atomic_path
from zoo.errors import ConversionError
from zoo.manifest.schema import Model
from zoo.sources.base import ConvertRequest, ConvertResult, SourceLibrary
from zoo.sources.common import TORCH_INPUT, finish, first_line
from zoo.sources.transform import TORCHVISION_RULES


class Onnx(SourceLibrary):
    """The input name is a guess (the usual PyTorch export's) until the file itself is read."""

    name = "onnx"
    weight_formats = frozenset({"onnx"})
    default_opset = 11
    input_name = TORCH_INPUT
    eval_rules = TORCHVISION_RULES
    builds_architecture = False
    tools = ("onnx", "onnxruntime")

    def convert(self, request: ConvertRequest) -> ConvertResult:
        """Check the ONNX file, convert its opset if the manifest sets `deploy.opset`, save to `request.out`."""
        import onnx

        model, weights, out = request.model, request.weights, request.out
        if weights is None:
            raise ConversionError(
                f"{model.id}: library `onnx` has no architecture to initialise randomly; "
                "it needs its ONNX file (drop --random-weights for this model, or give --weights-from)"
            )
        try:
            proto = onnx.load(str(weights))
            onnx.checker.check_model(proto, full_check=True)
        except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError...
            raise ConversionError(f"{weights}: not a valid ONNX model: {first_line(exc)}") from exc
        warnings: list[str] = []
        given = onnxfile.opset_of(weights)
        wanted = model.deploy.opset
        if wanted is not None and wanted != given:
            proto = _convert_opset(model, proto, given, wanted)
            warnings.append(f"opset converted from {given} to {wanted} with onnx.version_converter")
            onnxfile.save(proto, out)
        else:
            with atomic_path(out) as tmp:
                shutil.copyfile(weights, tmp)
        session = onnxfile.ort_session(weights)
        input_name, _ = onnxfile.io_names(out)
        return finish(request, lambda x: session.run(None, {input_name: x})[0], params=_initialiser_elements(proto),
                      opset=wanted or given, tools=self.tools, warnings=tuple(warnings))


def _convert_opset(model: Model, proto: Any, given: int, wanted: int) -> Any:
    from onnx import version_converter

    try:
        return version_converter.convert_version(proto, wanted)
    except Exception as exc:
        raise ConversionError(
            f"{model.id}: onnx.version_converter cannot take the graph from opset {given} to {wanted}: "
            f"{first_line(exc)}; remove `deploy.opset` to keep opset {given}"
        ) from exc


def _initialiser_elements(proto: Any) -> int:
    """Parameters of an ONNX source: the elements of its floating-point initialisers."""
    import math

    from onnx import TensorProto

    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    return sum(math.prod(t.dims) for t in proto.graph.initializer if t.data_type in floats)


LIBRARY = Onnx()
