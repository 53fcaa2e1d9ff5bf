"""``justfit export``: a fitted model as ONNX, checked with onnxruntime against the PyTorch model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from justfit.errors import unknown_name


def export(
    model: Annotated[Path, typer.Argument(help="A run directory or a saved model folder.")],
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write (default: MODEL/model.onnx).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
) -> None:
    """Export the model (any task) to ONNX; written only when onnxruntime agrees with it to 1e-4."""
    from justfit.cli._common import console, input_dir, output_file
    from justfit.export import export_onnx

    if format.strip().lower() != "onnx":
        raise unknown_name("export format", format, ["onnx"])
    input_dir(model, "MODEL", what="run directory or model folder")
    if output is not None:
        output_file(output, "--output", force=force, suffixes=(".onnx",))
    res = export_onnx(model, output)
    console.print(f"onnx: [bold]{res['path']}[/bold] (inputs {', '.join(res['inputs'])}; onnxruntime agrees to "
                  f"{res['max_difference']:.1e})")
