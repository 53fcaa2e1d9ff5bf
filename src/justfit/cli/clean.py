"""``justfit clean``: the data stage alone: cleaned data, removed rows, flagged rows, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from justfit.errors import DataError, RunDirError


def clean(
    data: Annotated[str | None, typer.Argument(help="Data file/folder, or a packaged set: tweets, drugreview, digits, mnist, animals, shapes, keywords, spokennumbers, pocketsphinx, wnut.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Cleaned data file (.csv/.tsv/.jsonl/.parquet); "
                                         "removed.csv, flagged.csv and data_report.json go beside it.")] = Path("cleaned.csv"),
    rules: Annotated[str | None, typer.Option(help="Comma-separated cleaning rules, in order (default: all).")] = None,
    report_only: Annotated[str | None, typer.Option(help="Comma-separated rules that only report (default: length_outlier).")] = None,
    test: Annotated[str | None, typer.Option("--test", help="Held-out file: audit (and remove) training copies of its rows.")] = None,
    label_noise: Annotated[str | None, typer.Option(help="report | drop | off (the label audit embeds the texts once).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Backbone for the label audit; default: packaged MiniLM.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column (auto-detected if unset).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column (auto-detected if unset).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config; its data and quality sections apply.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override any config key: section.key=value.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")] = False,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="List the cleaning rules and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Clean a data set without training: writes the cleaned data, removed.csv, flagged.csv and data_report.json."""
    from justfit._display import data_report_table, print_warnings
    from justfit.cli._common import cli_config, console, data_source, output_dir
    from justfit.data.cleaning import RULES
    from justfit.data.stage import clean_file

    if list_rules:
        from justfit.tasks.media import MEDIA_RULES

        for name, text in RULES.describe().items():
            typer.echo(f"{name:22s} {text}")
        typer.echo("\nimages and audio (the text rules above do not apply to them):")
        for name, text in MEDIA_RULES.items():
            typer.echo(f"{name:22s} {text}")
        return
    if data is None and not config:
        raise DataError("No data given. Run: justfit clean DATA [--output cleaned.csv]")
    flags = {"data.path": data, "data.text_column": text_column, "data.label_column": label_column,
             "model.name": model, "quality.label_noise": label_noise,
             "quality.rules": _names(rules), "quality.report_only": _names(report_only)}
    cfg = cli_config(config, flags, set_)
    if not cfg.data.path:
        raise DataError("No data given: 'justfit clean' cleans one file (data.path). Run: justfit clean DATA "
                        "[--output cleaned.csv]")
    data_source(cfg.data.path, "DATA")
    data_source(test, "--test")
    if output.is_dir():
        raise RunDirError(f"--output '{output}' is a folder; give a file name such as {output / 'cleaned.csv'}.")
    output_dir(output.parent if str(output.parent) else Path("."), "--output")
    if cfg.quality.label_noise == "downweight":
        raise DataError("quality.label_noise=downweight applies to training; for 'justfit clean' use report or drop.")
    report = clean_file(cfg, output, test=test, force=force, progress=not quiet)
    rep = report.cleaning["data"]
    console.print(data_report_table(report, title=f"data stage: {rep.rows_in} rows in"))
    print_warnings(report.warnings, console)
    kept = rep.rows_out - (report.leakage.removed if report.leakage is not None else 0) - int(
        (report.removed["rule"] == "label_noise").sum())
    console.print(f"{kept} rows kept → [bold]{output}[/bold]   (removed.csv, flagged.csv, data_report.json beside it)")


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]
