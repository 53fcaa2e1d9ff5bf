"""``justfit report``: re-render a finished run's report.html from its files (no model needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    run_dir: Annotated[Path, typer.Argument(help="A finished justfit run directory.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write (default: RUN_DIR/report.html).")] = None,
) -> None:
    """Render report.html: verdict, learning curves, confusion matrix, errors, data findings, config."""
    from justfit.cli._common import console
    from justfit.report import render_report

    path = render_report(run_dir, output)
    console.print(f"report: [bold]{path}[/bold]")
