"""``justfit evaluate RUN --data FILE``: score a trained model on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def evaluate(
    run: Annotated[Path, typer.Argument(help="Run directory (or its model/ folder).")],
    data: Annotated[str, typer.Option("--data", "-d", help="Labelled data file to evaluate on.")],
    text_column: Annotated[str | None, typer.Option(help="Text column (default: the one used in training).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column (default: the one used in training).")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Also write the metrics as JSON here.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Evaluate a trained model on a labelled file and print its metrics."""
    from justfit.cli._common import console, metrics_table, per_class_table
    from justfit.data.io import load_table
    from justfit.estimator import Finetuner
    from justfit.results import write_json

    if output is not None and output.is_dir():
        from justfit.errors import ConfigError

        raise ConfigError(f"--output '{output}' is a folder; give a file name such as {output / 'metrics.json'}.")
    est = Finetuner.load(run, progress=not quiet)
    d = est.config_.data
    loaded = load_table(data, text_column or _present(data, d.text_column),
                        label_column or _present(data, d.label_column), prefer="test")
    metrics = est.evaluate(loaded.frame)
    console.print(metrics_table(metrics, title=f"metrics on {data} ({metrics['n']} rows)"))
    console.print(per_class_table(metrics))
    if output:
        write_json(output, metrics)
        console.print(f"metrics written to {output}")


def _present(data: str, column: str | None) -> str | None:
    """Use the training column name only if this file has it; otherwise auto-detect."""
    if column is None:
        return None
    from justfit.data.io import read_any

    frame = read_any(data)
    frame = frame.get("test", next(iter(frame.values()))) if isinstance(frame, dict) else frame
    return column if column in map(str, frame.columns) else None
