"""``justfit check``: the sanity probe alone: can this data, model and config overfit one batch?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def check(
    config: Annotated[Path | None, typer.Argument(help="YAML config file (optional; flags override it).")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Data file/folder, or a packaged set.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Hub id, local folder or preset.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    freeze: Annotated[str | None, typer.Option(help="none | backbone | bottom:K")] = None,
    steps: Annotated[int, typer.Option(help="Optimisation steps on the one batch.")] = 40,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override any config key: section.key=value.")] = None,
) -> None:
    """Try to overfit one small batch; if the loss does not fall, the pipeline is broken (exit code 1)."""
    from justfit.cli._common import cli_config, console, data_options, number
    from justfit.training.probe import sanity_check

    number(steps, "--steps", minimum=1)
    flags = {"data.path": data, "model.name": model, "training.lr": lr, "model.freeze": freeze}
    cfg = cli_config(config, flags, set_)
    data_options(cfg)
    result = sanity_check(cfg, steps=steps)
    if result.start_note:
        level = "[bold red]fault[/bold red]" if result.start_level == "fault" else "[dim]info[/dim]"
        console.print(f"{level}: {result.start_note}")
    if result.passed:
        console.print(f"[bold green]sanity check passed[/bold green]: {result.reason}")
        return
    console.print(f"[bold red]sanity check failed[/bold red]: {result.reason}")
    raise typer.Exit(1)
