"""``justfit tune``: a hyperparameter search (Optuna), then the best configuration retrained and tested."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from justfit.errors import ConfigError, DataQualityWarning


def tune(
    config: Annotated[Path | None, typer.Argument(help="YAML config file; its 'tune:' section holds the search space.")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Data file/folder, or a packaged set (as for train).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Hub id, local folder or preset.")] = None,
    trials: Annotated[int | None, typer.Option(help="Trials of the study in all, over every worker (tune.trials).")] = None,
    time_budget: Annotated[float | None, typer.Option(help="Seconds this worker searches (tune.time_budget).")] = None,
    storage: Annotated[str | None, typer.Option(help="Study storage URL (default: SQLite in the run directory); "
                                                "postgresql://user:pass@host/db shares one study between workers.")] = None,
    study_name: Annotated[str | None, typer.Option(help="Study name in the storage (default: the run's name).")] = None,
    sampler: Annotated[str | None, typer.Option(help="tpe or random.")] = None,
    pruner: Annotated[str | None, typer.Option(help="median, hyperband or none.")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds the best configuration is retrained with (tune.seeds).")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Use a stratified sample of at most this many rows.")] = None,
    output_dir: Annotated[str | None, typer.Option("--output-dir", "-o", help="Parent folder of runs (default: runs).")] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: a timestamp).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run of the same name.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override any config key: section.key=value.")] = None,
    search_only: Annotated[bool, typer.Option("--search-only", help="Only run trials of a shared study (needs "
                                              "--storage and --study-name); write no run directory.")] = False,
    dashboard: Annotated[int | None, typer.Option("--dashboard", help="Serve optuna-dashboard for the study on "
                                                  "127.0.0.1 at this port while searching.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue a killed tune run (runs/<name>.partial): "
                                                "its study to the budget, then the final training.")] = None,
    track: Annotated[list[str] | None, typer.Option("--track", help="Log to an experiment tracker: tensorboard or "
                                                    "mlflow (repeat for both).")] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: "
                                                     "<output-dir>/mlflow.db).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Search hyperparameters with Optuna (TPE, pruning), retrain the best with several seeds, test it once."""
    from justfit.cli._common import cli_config, console, data_options, metrics_table, number
    from justfit.cli._common import output_dir as check_output_dir

    number(trials, "--trials", minimum=1)
    number(time_budget, "--time-budget", above=0)
    number(seeds, "--seeds", minimum=1)
    if dashboard is not None and not 1 <= dashboard <= 65535:
        raise ConfigError(f"--dashboard takes a port from 1 to 65535. Got {dashboard}.")
    flags = {"data.path": data, "model.name": model, "data.max_rows": max_rows, "tune.trials": trials,
             "tune.time_budget": time_budget, "tune.storage": storage, "tune.study_name": study_name,
             "tune.sampler": sampler, "tune.pruner": pruner, "tune.seeds": seeds, "output.dir": output_dir,
             "output.name": name, "output.overwrite": True if overwrite else None, "output.track": ",".join(track) if track else None,
        "output.tracking_uri": tracking_uri}
    given = config is not None or bool(set_) or any(v is not None for v in flags.values())
    if resume is not None:
        from justfit.config import JustfitConfig
        from justfit.resume import find_unfinished, read_request

        saved = JustfitConfig.from_dict(read_request(find_unfinished(resume))["config"])
        cfg = cli_config(config, flags, set_, base=saved)
    else:
        cfg = cli_config(config, flags, set_)
        data_options(cfg)
        if not search_only:
            from justfit.resume import run_dir_for

            run_dir_for(cfg)
            check_output_dir(Path(cfg.output.dir), "--output-dir")

    import warnings

    from justfit._display import print_warnings
    from justfit.tuning.tune import tune as run_tune

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        result = run_tune(cfg if (given or resume is None) else None, progress=not quiet, resume=resume,
                          dashboard=dashboard, search_only=search_only)
    print_warnings([str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)], console)
    if search_only:
        worker = result["worker"]
        console.print(f"this worker ran {worker['trials_run']} trials in {worker['seconds']:.0f} s ({worker['stopped']}); "
                      f"the study: {result['trials']}")
        if "best" in result:
            console.print(f"best so far: trial {result['best']['number']}, {result['monitor']} "
                          f"{result['best']['value']:.4f}, {result['best']['params']}")
        return
    from justfit._display import seed_table, tune_table
    from justfit.report.render import tested_model

    console.print(tune_table(result.data["tune"]))
    if "seed_spread" in result.data:
        console.print(seed_table(result.data["seed_spread"]))
    m = result.metrics
    console.print(metrics_table(m, title=f"test metrics of {tested_model(result.data['tune'])} ({m.get('n', '?')} rows)"))
    from justfit._display import baseline_line

    if (line := baseline_line(result.data)) is not None:
        console.print(line)
    console.print(f"best epoch: {result.best_epoch}  ·  stop: {result.stop_reason}")
    if getattr(result, "diagnosis", None) is not None:  # every command that makes a model ends with its verdict
        from justfit._display import print_diagnosis

        print_diagnosis(result.diagnosis, console, limit=3)
    console.print(f"run directory: [bold]{result.run_dir}[/bold]   (best config: {result.run_dir}/tune/best_config.yaml)")
    console.print(f"report: {result.run_dir}/report.html")
