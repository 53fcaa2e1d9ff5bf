"""``justfit report``: re-render a finished run's report.html from its files (no model needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from justfit.errors import RunDirError


def report(
    run_dir: Annotated[Path, typer.Argument(help="A finished justfit run directory.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write (default: RUN_DIR/report.html).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
) -> None:
    """Render report.html: verdict, learning curves, confusion matrix, errors, data findings, config."""
    from justfit.cli._common import console, input_dir, output_file
    from justfit.report import render_report

    input_dir(run_dir, "RUN_DIR")
    if not (run_dir / "history.jsonl").is_file() or not (run_dir / "result.json").is_file():
        raise RunDirError(f"'{run_dir}' is not a finished justfit run directory (needs history.jsonl and result.json).")
    if output is not None:
        output_file(output, "--output", force=force or _is_report(output), suffixes=(".html", ".htm"))

    path = render_report(run_dir, output)
    console.print(f"report: [bold]{path}[/bold]")


def _is_report(path: Path) -> bool:
    """Whether ``path`` is a report.html justfit wrote (those are replaced without --force)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "<title>justfit: " in fh.read(4000)
    except OSError:
        return False
