"""``justfit evaluate RUN --data FILE``: score a trained model on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from justfit._files import write_json
from justfit.errors import ConfigError


def evaluate(
    run: Annotated[Path, typer.Argument(help="Run directory (or its model/ folder).")],
    data: Annotated[str, typer.Option("--data", "-d", help="Labelled data file to evaluate on.")],
    text_column: Annotated[str | None, typer.Option(help="Text column (default: the one used in training).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column (default: the one used in training).")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Also write the metrics as JSON here.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Evaluate a trained model on a labelled file and print its metrics."""
    from justfit.cli._common import (
        console,
        data_source,
        metrics_table,
        output_file,
        per_class_table,
        run_dir,
        trained_config,
    )
    from justfit.data.io import load_table

    # Checked before the model loads: the run, the data (read and its columns found), the output.
    if output is not None and output.is_dir():
        raise ConfigError(f"--output '{output}' is a folder; give a file name such as {output / 'metrics.json'}.")
    run_dir(run)
    data_source(data, "--data")
    output_file(output, "--output", force=force, suffixes=(".json",))
    from justfit.config import JustfitConfig

    d = (trained_config(run) or JustfitConfig()).data
    loaded = load_table(data, text_column or _present(data, d.text_column),
                        label_column or _present(data, d.label_column), prefer="test")
    from justfit.estimator import Finetuner

    est = Finetuner.load(run, progress=not quiet)
    metrics = est.evaluate(loaded.frame)
    console.print(metrics_table(metrics, title=f"metrics on {data} ({metrics['n']} rows)"))
    if metrics.get("per_class"):
        console.print(per_class_table(metrics))
    if output:
        write_json(output, metrics)
        console.print(f"metrics written to {output}")


def _present(data: str, column: str | None) -> str | None:
    """Use the training column name only if this file has it; otherwise auto-detect."""
    if column is None:
        return None
    from justfit.cli._common import read_frame

    frame = read_frame(data, "--data")
    return column if column in map(str, frame.columns) else None
