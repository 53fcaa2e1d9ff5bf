"""Export a fitted model to ONNX, checked with onnxruntime against justfit's own predictions.

``export_onnx(model_dir)`` loads the saved model (``justfit.load``), traces it with PyTorch's
TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) on example inputs its step
makes (``step.example_inputs()``: token ids and masks for texts, ``pixel_values`` for images),
with the batch (and, for texts, the sequence length) dynamic, then runs the ONNX graph with
onnxruntime on those inputs and compares its outputs with the PyTorch model's: probabilities
(classification) or values (regression) must agree to ``atol`` (1e-4). The file is written only
when they do; nothing is left half-written. Works for every task and for the efficientnet-lite0
preset, which plain ``transformers.pipeline`` cannot load.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from justfit import load
from justfit._files import atomic_write
from justfit.errors import ConfigError, ModelError


def export_onnx(model_dir: str | Path, output: str | Path | None = None, *, atol: float = 1e-4,
                opset: int = 17) -> dict[str, Any]:
    """Write ``model.onnx`` (default: inside the model folder) for the model at ``model_dir`` (a model
    folder or a run directory). Returns ``{"path", "inputs", "max_difference"}``.

    Raises ``ModelError`` when the model cannot be traced, or onnxruntime's outputs differ from the
    PyTorch model's by more than ``atol``; ``ConfigError`` when onnx/onnxruntime are missing."""
    import torch

    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError("ONNX export needs onnx and onnxruntime: pip install 'justfit[export]'.") from None
    est = load(model_dir)
    model = est.model_.eval()
    inputs = est.step_.example_inputs()
    names = list(inputs)
    dynamic = {k: ({0: "batch", 1: "sequence"} if v.dim() == 2 else {0: "batch"}) for k, v in inputs.items()}
    with torch.inference_mode():
        per_token = model.eval()(**inputs).logits.dim() == 3  # (batch, sequence, labels): token classification
    dynamic["logits"] = {0: "batch", 1: "sequence"} if per_token else {0: "batch"}
    folder = Path(model_dir)
    folder = folder / "model" if (folder / "model" / "config.json").exists() else folder
    path = Path(output) if output is not None else folder / "model.onnx"

    class Logits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, args, strict=True))).logits

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The wrapper in eval mode: the exporter restores its mode afterwards, and that reaches the model.
            torch.onnx.export(Logits(model).eval(), tuple(inputs[k] for k in names), str(tmp), input_names=names,
                              output_names=["logits"], dynamic_axes=dynamic, opset_version=opset, dynamo=False)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(["logits"], {k: v.numpy() for k, v in inputs.items()})[0]
        with torch.inference_mode():
            want = model.eval()(**inputs).logits.float().numpy()
        if per_token:  # probabilities per position
            from justfit.evaluation.predict import softmax

            a, b = (softmax(x.reshape(-1, x.shape[-1])) for x in (got, want))
        else:
            a, b = est.task_.transform(got), est.task_.transform(want)
        gap = float(np.abs(a - b).max()) if a.size else 0.0
        result["max_difference"] = gap
        if not np.isfinite(gap) or gap > atol:
            raise ModelError(f"The ONNX model's outputs differ from the PyTorch model's by {gap:.2g} (more than {atol:g}); "
                             "not written.")

    result: dict[str, Any] = {"path": str(path), "inputs": names}
    try:
        atomic_write(path, write)
    except (ModelError, ConfigError):
        raise
    except Exception as exc:  # the exporter's own errors: an operator or a control flow it cannot trace
        raise ModelError(f"Could not export the model to ONNX ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})."
                         ) from None
    return result
