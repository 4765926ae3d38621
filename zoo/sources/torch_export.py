"""`TorchLibrary`, the base of the timm, torchvision, mmcls and python libraries, and its pieces.

- `load_checkpoint` reads `.pth` / `.safetensors` *without executing code*: pickles go
  through `torch.load(weights_only=True)`, and one that needs more (arbitrary Python
  objects, i.e. code) is refused with an explanation. Training wrappers (`state_dict`,
  `model`, `module.` prefixes) are unwrapped.
- `apply_checkpoint` loads it strictly: missing or unexpected keys are an error listing them.
- `export` writes the ONNX graph with the TorchScript exporter (`dynamo=False`, which honours
  the manifest's opset as deployment toolchains expect), then the reference outputs; with
  `deploy.frontend: pytorch` also a TorchScript file of the same module (`torch.jit.trace` on
  the photograph, saved beside the ONNX), which vamc compiles instead of the ONNX graph.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.atomic import atomic_path
from zoo.errors import ConversionError
from zoo.manifest.schema import Frontend
from zoo.sources.base import ConvertRequest, ConvertResult, SourceLibrary
from zoo.sources.common import (
    TORCH_INPUT,
    TORCH_OUTPUT,
    calibration_batch,
    check_fits,
    finish,
    first_line,
    torchscript_path,
)
from zoo.sources.pickles import refused, torch_detail, torch_refusal
from zoo.sources.transform import TORCHVISION_RULES

if TYPE_CHECKING:
    import numpy as np
    import torch

    from zoo.manifest.schema import Model

#: Keys under which training scripts nest the weights (timm, mmcv, torchvision references).
WRAPPER_KEYS = ("state_dict", "model", "module", "model_state_dict", "state_dict_ema")


def seed_torch(seed: int) -> None:
    """Seed PyTorch before building a model, so random initialisation is reproducible."""
    import torch

    torch.manual_seed(seed)


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A flat `name -> tensor` state dict read from `path` without running any pickled code."""
    import pickle

    import torch

    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ConversionError(
                f"{path}: not a readable safetensors file ({exc}); re-download it or check its sha256"
            ) from exc
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        asks_for = torch_refusal(str(exc))
        if asks_for is not None:
            raise refused(path, asks_for, "torch.save(model.state_dict(), ...), or .safetensors") from exc
        raise ConversionError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupted: {torch_detail(str(exc))}); "
            "re-download it or check its sha256"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ConversionError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupted?): {torch_detail(str(exc))}; "
            "re-download it or check its sha256"
        ) from exc
    return _unwrap(loaded, path)


def _unwrap(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    state = loaded
    while isinstance(state, dict):
        nested = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
        if nested is None:
            break
        state = nested
    if not isinstance(state, dict) or not state:
        raise ConversionError(f"{path}: holds no state dict (found {type(loaded).__name__})")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ConversionError(f"{path}: holds no tensors under any of the keys {', '.join(WRAPPER_KEYS)}")
    if all(key.startswith("module.") for key in tensors):
        tensors = {key.removeprefix("module."): value for key, value in tensors.items()}
    return tensors


def apply_checkpoint(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load `state` into `module`; any missing, unexpected or mis-shaped key is an error naming them."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    check_fits(expected, {k: tuple(v.shape) for k, v in state.items()}, path)
    module.load_state_dict(state, strict=True)


def export(module: torch.nn.Module, request: ConvertRequest, tools: tuple[str, ...]) -> ConvertResult:
    """Export `module` (in eval mode) to `request.out`, save its reference outputs, stamp the ONNX metadata.

    `tools`: the distributions whose versions the result reports.
    """
    module.eval()
    with atomic_path(request.out) as tmp:
        _onnx_export(module, request.model, tmp)
    torchscript = trace(module, request) if request.model.deploy.frontend == Frontend.pytorch else None
    params = sum(p.numel() for p in module.parameters())
    return finish(request, _forward(module, request.model), params=params, opset=request.model.opset, tools=tools,
                  torchscript=torchscript)


def trace(module: torch.nn.Module, request: ConvertRequest) -> Path:
    """Trace `module` on the first validation input (the photograph) and save the TorchScript file beside the ONNX."""
    import torch

    example = torch.from_numpy(request.inputs.array[:1])
    target = torchscript_path(request.model, request.out)
    # quiet: tracer notes on data-dependent branches, and torch deprecating TorchScript (vamc reads it)
    with torch.no_grad(), warnings.catch_warnings(), atomic_path(target) as tmp:
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(module, example)
        except Exception as exc:  # the tracer raises many unrelated types for code it cannot follow
            raise ConversionError(
                f"{request.model.id}: torch.jit.trace failed: {first_line(exc)}. "
                "Deploy this model with `deploy.frontend: onnx`."
            ) from exc
        torch.jit.save(traced, str(tmp))
    return target


def _onnx_export(module: torch.nn.Module, model: Model, target: Path) -> None:
    """`torch.onnx.export` at the manifest's opset, batch 1 unless `deploy.dynamic_batch`."""
    import torch

    example = torch.zeros(1, *model.input_size)
    dynamic_axes = {TORCH_INPUT: {0: "batch"}, TORCH_OUTPUT: {0: "batch"}} if model.deploy.dynamic_batch else None
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(target),
                dynamo=False,
                input_names=[TORCH_INPUT],
                output_names=[TORCH_OUTPUT],
                opset_version=model.opset,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
    except Exception as exc:  # the exporter raises many unrelated types for unsupported ops
        raise ConversionError(
            f"{model.id}: torch.onnx.export failed at opset {model.opset}: {first_line(exc)}. "
            "If an operator needs a newer opset, set `deploy.opset` in the manifest."
        ) from exc


def _forward(module: torch.nn.Module, model: Model) -> Callable[[np.ndarray], np.ndarray]:
    """The source framework's forward pass on a numpy batch, for the reference outputs."""
    import torch

    def forward(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            output = module(torch.from_numpy(batch))
        if not isinstance(output, torch.Tensor):
            raise ConversionError(f"{model.id}: the model returns {type(output).__name__}, not a logits tensor")
        return output.numpy()

    return forward


def calibrate_batchnorm(module: torch.nn.Module, model: Model, seed: int) -> None:
    """Set the BatchNorm statistics of randomly initialised weights from one seeded batch (see `calibration_batch`)."""
    import torch

    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the pass: exactly this batch's statistics
    module.train()
    with torch.no_grad():
        module(torch.from_numpy(calibration_batch(model, seed)))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
        if norm.running_var is not None:  # tracked statistics only
            norm.running_var.clamp_(min=1.0)  # never amplify: see calibration_batch
    module.eval()


class TorchLibrary(SourceLibrary):
    """A library whose models are `torch.nn.Module`s: `.pth`/`.safetensors` checkpoints, the
    TorchScript exporter, torchvision's eval transform unless the library says otherwise."""

    weight_formats = frozenset({"pth", "safetensors"})
    default_opset = 11
    input_name = TORCH_INPUT
    eval_rules = TORCHVISION_RULES
    frontends = frozenset({"onnx", "pytorch"})

    @abstractmethod
    def build(self, model: Model) -> torch.nn.Module:
        """The architecture of `model`, randomly initialised (the seed is set before)."""

    def exportable(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module to export, given the built one whose parameter names the checkpoint uses
        (e.g. mmpretrain's classifier turned into its logits-only forward)."""
        return module

    def convert(self, request: ConvertRequest) -> ConvertResult:
        """Seed, build, load the weights if given (else calibrate BatchNorm), export."""
        seed_torch(request.seed)
        module = self.build(request.model)
        if request.weights is not None:
            apply_checkpoint(module, load_checkpoint(request.weights), request.weights)
        else:
            calibrate_batchnorm(module, request.model, request.seed)
        return export(self.exportable(module), request, self.tools)
