"""``justfit train``: one run, from a config file and/or flags to a finished run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from justfit._files import read_json
from justfit.errors import ConfigError, DataQualityWarning


def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config file (optional; flags override it).")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Data file/folder, or a packaged set: tweets, drugreview, digits, mnist, animals, shapes, keywords, spokennumbers, pocketsphinx, wnut.")] = None,
    train_file: Annotated[str | None, typer.Option("--train", help="Training file (with separate splits).")] = None,
    validation: Annotated[str | None, typer.Option("--validation", help="Validation file.")] = None,
    test: Annotated[str | None, typer.Option("--test", help="Test file.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Text column (auto-detected if unset).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Label column (auto-detected if unset).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Hub id, local folder or preset; default: packaged MiniLM.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    freeze: Annotated[str | None, typer.Option(help="none | backbone | bottom:K")] = None,
    dropout: Annotated[float | None, typer.Option(help="Hidden and classifier dropout.")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Use a stratified sample of at most this many rows.")] = None,
    output_dir: Annotated[str | None, typer.Option("--output-dir", "-o", help="Parent folder of runs (default: runs).")] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: a timestamp).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run of the same name.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override any config key: section.key=value.")] = None,
    track: Annotated[list[str] | None, typer.Option("--track", help="Log to an experiment tracker: tensorboard or "
                                                    "mlflow (repeat for both).")] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: "
                                                     "<output-dir>/mlflow.db).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    auto: Annotated[bool, typer.Option("--auto", help="Auto-fit: diagnose, apply the top remedy, train again; keep "
                                       "the round with the best validation score.")] = False,
    rounds: Annotated[int | None, typer.Option(help="Auto-fit: at most this many trainings (default 3).")] = None,
    time_budget: Annotated[float | None, typer.Option(help="Auto-fit: seconds for all rounds; each round "
                                                      "trains within what is left, and none starts that would "
                                                      "not finish.")] = None,
    lr_find: Annotated[bool, typer.Option("--lr-find", help="Run the learning-rate finder first and train with its "
                                          "suggestion.")] = False,
    recipe: Annotated[str | None, typer.Option(help="Training recipe: standard, gradual_unfreeze, ulmfit "
                                               "(see 'justfit recipes').")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="Train LoRA adapters and the head (model.strategy=lora).")] = False,
    check: Annotated[bool, typer.Option("--check", help="First try to overfit one batch; stop if the loss does "
                                        "not fall (see 'justfit check').")] = False,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue a killed run (its runs/<name>.partial "
                                                "folder) from its newest checkpoint, with its own config.")] = None,
    keep_checkpoints: Annotated[bool, typer.Option("--keep-checkpoints", help="Keep the checkpoints in the finished "
                                                   "run (they are deleted by default).")] = False,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Train the config with this many seeds (training.seed, "
                                              "+1, ...): test metrics as mean ± std, the median seed's model "
                                              "kept.")] = None,
) -> None:
    """Fine-tune a model and write a run directory (config, history, metrics, predictions, model)."""
    from justfit.cli._common import (
        cli_config,
        console,
        data_options,
        metrics_table,
        number,
        per_class_table,
    )
    from justfit.cli._common import output_dir as check_output_dir
    from justfit.resume import run_dir_for
    from justfit.run import finetune

    # Everything is checked before any model loads or any file is written.
    if not auto and (rounds is not None or time_budget is not None):
        given = "--rounds" if rounds is not None else "--time-budget"
        raise ConfigError(f"{given} only applies with --auto: add --auto, or drop {given}.")
    number(rounds, "--rounds", minimum=1)
    number(seeds, "--seeds", minimum=1)
    if seeds is not None and seeds > 100:
        raise ConfigError(f"--seeds must be at most 100 (each seed is a whole training). Got {seeds}.")
    number(time_budget, "--time-budget", above=0)
    if lr_find and lr is not None:
        raise ConfigError("--lr and --lr-find exclude each other: the finder chooses the learning rate. Drop one.")

    flags = {
        "data.path": data, "data.train": train_file, "data.validation": validation, "data.test": test,
        "data.text_column": text_column, "data.label_column": label_column, "data.max_rows": max_rows,
        "model.name": model, "model.freeze": freeze, "model.dropout": dropout,
        "training.epochs": epochs, "training.lr": lr, "training.batch_size": batch_size,
        "output.dir": output_dir, "output.name": name, "output.overwrite": True if overwrite else None, "output.track": ",".join(track) if track else None,
        "output.tracking_uri": tracking_uri,
        "training.lr_find": True if lr_find else None, "training.recipe": recipe,
        "model.strategy": "lora" if lora else None,
    }
    if resume is not None:
        from justfit.config import JustfitConfig
        from justfit.resume import find_unfinished, read_request

        # A finished run, or a folder that is not a run, is refused now. Flags given with --resume apply on top
        # of the run's own config, which they must then leave as it is.
        saved = JustfitConfig.from_dict(read_request(find_unfinished(resume))["config"])
        cfg = cli_config(config, flags, set_, base=saved)
        given = config is not None or bool(set_) or any(v is not None for v in flags.values())
        if check:
            raise ConfigError("--check does not apply with --resume (the run has started). Drop --check.")
    else:
        cfg = cli_config(config, flags, set_)
        data_options(cfg)
        run_dir_for(cfg)  # the run's name and folder: a clash is reported now, not after training
        check_output_dir(Path(cfg.output.dir), "--output-dir")  # a folder that can be created and written

    if check:
        from justfit.training.probe import sanity_check

        probe = sanity_check(cfg)
        if not probe.passed:
            raise ConfigError(f"Sanity check failed: {probe.reason}. Fix this first, or drop --check.")
        console.print(f"[green]sanity check passed[/green]: {probe.reason}"
                      + (f"; {probe.start_note}" if probe.start_note else ""))

    import warnings

    from justfit._display import print_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        if resume is not None:
            result = finetune(cfg if given else None, progress=not quiet, resume=resume,
                              keep_checkpoints=keep_checkpoints,
                              **({"auto": auto, "rounds": 3 if rounds is None else rounds, "time_budget": time_budget}
                                 if auto else {}), **({"seeds": seeds} if seeds is not None else {}))
        else:
            result = finetune(cfg, progress=not quiet, auto=auto, rounds=3 if rounds is None else rounds,
                              time_budget=time_budget, keep_checkpoints=keep_checkpoints, seeds=seeds)
    from justfit.training.runtime import is_main_process

    if not is_main_process():  # in a multi-process launch, the main process reports the run
        return
    print_warnings([str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)], console)
    m = result.metrics
    console.print(metrics_table(m, title=f"test metrics ({m.get('n', '?')} rows)"))
    full = _read_metrics(result.run_dir)
    if full.get("per_class"):
        console.print(per_class_table(full))
    if "autofit" in result.data:
        from justfit._display import autofit_table

        console.print(autofit_table(result.data["autofit"]))
    if "seed_spread" in result.data:
        from justfit._display import seed_table

        console.print(seed_table(result.data["seed_spread"]))
    quality = result.data.get("quality", {})
    if quality.get("test_leaks"):
        kept = "kept" in str(quality.get("leakage"))
        console.print(f"[bold red]TEST SET LEAKAGE:[/bold red] {quality.get('leakage')}."
                      + (" These test metrics are optimistic." if kept else "") + " See data_report.json.")
    from justfit._display import baseline_line

    if (line := baseline_line(result.data)) is not None:
        console.print(line)
    console.print(f"best epoch: {result.best_epoch}  ·  stop: {result.stop_reason}")
    if getattr(result, "diagnosis", None) is not None:
        from justfit._display import print_diagnosis

        print_diagnosis(result.diagnosis, console, limit=3)
    console.print(f"run directory: [bold]{result.run_dir}[/bold]   (model: {result.model_dir})")
    console.print(f"report: {result.run_dir}/report.html")


def _read_metrics(run_dir: str) -> dict:

    p = Path(run_dir) / "metrics.json"
    return read_json(p) if p.exists() else {}
