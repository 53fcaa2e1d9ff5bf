"""``justfit lr-find``: the learning-rate range test, a suggested rate, and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from justfit._files import atomic_write_text, write_json


def lr_find(
    config: Annotated[Path | None, typer.Argument(help="YAML config file (optional; flags override it).")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Data file/folder, or a packaged set: tweets, drugreview, digits, mnist, animals, shapes, keywords, spokennumbers, pocketsphinx, wnut.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Hub id, local folder or preset; default: packaged MiniLM.")] = None,
    freeze: Annotated[str | None, typer.Option(help="none | backbone | bottom:K")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Use a stratified sample of at most this many rows.")] = None,
    steps: Annotated[int, typer.Option(help="Optimisation steps of the sweep.")] = 100,
    start_lr: Annotated[float, typer.Option(help="First learning rate of the sweep.")] = 1e-7,
    end_lr: Annotated[float, typer.Option(help="Last learning rate of the sweep.")] = 10.0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for lr_find.json and lr_find.svg (created; "
                                      "earlier lr_find files in it are replaced).")] = Path("runs/lr_find"),
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override any config key: section.key=value.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Sweep the learning rate exponentially over a few hundred steps and suggest one (the model is restored)."""
    from justfit.cli._common import cli_config, console, data_options, output_dir
    from justfit.report.plots import lr_find_plot
    from justfit.run import find_lr
    from justfit.training.lr_find import check_sweep

    # Checked before the sweep: its settings, the data, and that the outputs can be written.
    check_sweep(steps=steps, start_lr=start_lr, end_lr=end_lr)
    flags = {"data.path": data, "model.name": model, "model.freeze": freeze, "data.max_rows": max_rows}
    cfg = cli_config(config, flags, set_)
    data_options(cfg)
    output_dir(out, "--out")
    for name in ("lr_find.json", "lr_find.svg"):
        if (out / name).is_dir():
            from justfit.errors import RunDirError

            raise RunDirError(f"'{out / name}' is a folder; --out needs to write a file there. Choose another --out.")
    result = find_lr(cfg, progress=not quiet, steps=steps, start_lr=start_lr, end_lr=end_lr)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "lr_find.json", result.to_dict())
    svg = lr_find_plot(result.to_dict())
    if svg:
        atomic_write_text(out / "lr_find.svg", svg)
    console.print(f"swept {len(result.lrs)} steps from {result.lrs[0]:.1e} to {result.lrs[-1]:.1e} "
                  f"in {result.seconds:.1f} s{' (stopped early: the loss diverged)' if result.stopped_early else ''}")
    if result.suggestion:
        console.print(f"[bold green]suggested learning rate: {result.suggestion:.2g}[/bold green]  ({result.rule})")
        console.print(f"train with it: justfit train ... --lr {result.suggestion:.2g}   (or --set training.lr_find=true)")
    else:
        console.print(f"[bold yellow]no suggestion[/bold yellow]: {result.reason}")
    console.print(f"curve: {out / 'lr_find.json'}" + (f", plot: {out / 'lr_find.svg'}" if svg else ""))
