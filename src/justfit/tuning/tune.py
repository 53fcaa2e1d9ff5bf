"""``tune``: a hyperparameter search run, from a config to a finished run directory.

The data stage runs once; the search (``justfit.tuning.search``) trains on the training split and
scores on validation; the best configuration is then retrained with ``tune.seeds`` seeds (the
median seed's model kept, the validation spread reported) and evaluated once on the test split.
The run directory is a run like ``justfit train`` writes (model, metrics, diagnosis, report) plus
``tune/``: ``trials.csv``, ``best_config.yaml`` (ready for ``justfit train``), ``tune.json`` and the
study's plots; with the default storage, the study itself (``study.db``, SQLite).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from justfit._files import atomic_write_text, write_csv, write_json
from justfit._portable import shareable_config, shareable_url
from justfit.checks import check_settings, monitor_direction, with_task
from justfit.config import JustfitConfig, coerce_config
from justfit.data.splitting import Splits
from justfit.data.stage import prepare_data, sample_weights_for
from justfit.defaults import apply_defaults, reresolve
from justfit.errors import ConfigError, ModelError
from justfit.estimator import Finetuner
from justfit.models.factory import checkpoint_model_type
from justfit.results import RunResult
from justfit.resume import check_same_data, open_run, splits_fingerprint
from justfit.run import cheap_baseline, check_task
from justfit.rundir import write_run
from justfit.seeds import is_noise, summarise
from justfit.tasks.base import get_task
from justfit.training.runtime import multi_process
from justfit.tuning.autofit import monitor_value, selection_score
from justfit.tuning.search import (
    PruneCallback,
    create_study,
    default_storage,
    given_point,
    open_storage,
    optuna_module,
    run_search,
    search_space,
    shown_url,
    suggest,
    summary,
    write_plots,
)


def tune(config: JustfitConfig | dict | str | Path | None = None, *, progress: bool = False,
         resume: str | Path | None = None, dashboard: int | None = None, search_only: bool = False,
         **overrides: Any) -> RunResult | dict[str, Any]:
    """Search ``tune.space`` with Optuna, retrain the best configuration with ``tune.seeds`` seeds and
    evaluate it once on the test split. ``overrides`` name keys as ``tune__trials=30``.

    ``resume`` (the ``.partial`` folder of a killed tune run) continues its study to the budget and
    then finishes the run. ``dashboard`` (a port) serves optuna-dashboard for the study on
    127.0.0.1 while the search runs. ``search_only`` runs trials of a shared study
    (``tune.storage``) and writes no run directory: a helper worker; it returns the study's summary.
    Raises ``ConfigError`` (a bad space, an unreachable storage), ``DataError``, ``RunDirError``,
    ``ModelError`` (no trial completed)."""

    t0 = time.perf_counter()
    if multi_process():
        from justfit.errors import ConfigError

        raise ConfigError("justfit tune runs as one process per worker, not under torchrun or accelerate launch: to "
                          "search in parallel, start several workers on one study (--storage, --study-name).")
    if search_only:
        return _search_only(config, overrides, progress=progress, dashboard=dashboard)
    run = open_run(config, overrides, {"command": "tune"}, resume)
    with run:
        return _tune(run.cfg, run.final, run.partial, progress=progress, dashboard=dashboard, t0=t0,
                     resumed=run.resumed)


def _data(cfg: JustfitConfig, progress: bool) -> tuple[JustfitConfig, Any, Any, Any, dict[str, Any]]:
    """The data stage (as a run does it), the task set, the model family's defaults resolved (and where each came
    from: ``justfit.defaults``) and the monitor checked."""

    splits, report, loaded = prepare_data(cfg, progress=progress, check_task=lambda t: check_task(cfg, t))
    cfg = with_task(cfg, report.task)

    cfg, defaults = apply_defaults(cfg, checkpoint_model_type(cfg.model.name, cfg.task))  # the trials start from the model family's measured settings
    check_settings(cfg)
    if progress:
        from rich.console import Console

        from justfit._display import print_data_stage

        print_data_stage(report, Console(stderr=True))
    return cfg, splits, report, next(iter(loaded.values())).columns, defaults


def _study(cfg: JustfitConfig, storage: Any, name: str, shared: bool) -> tuple[Any, dict[str, Any]]:
    """Create or load the study in the opened ``storage``; a new study's first trial is the configuration
    as given."""

    space = search_space(cfg, get_task(cfg.task))
    study = create_study(storage, name, "minimize" if lower_is_better(cfg) else "maximize", cfg.tune.sampler,
                         cfg.tune.pruner, seed=None if shared else cfg.training.seed)
    if not study.trials:
        # The first trial is the configuration exactly as given: the keys it sets inside the space; the others
        # (a dropout left to the model) stay as given rather than drawn, so the baseline is what the user had.
        point = given_point(cfg, space)
        study.enqueue_trial(point, user_attrs={"as_given": sorted(point)})
        study.set_user_attr("baseline_trial", 0)
        study.set_user_attr("monitor", cfg.early_stopping.monitor)
    elif study.user_attrs.get("monitor", cfg.early_stopping.monitor) != cfg.early_stopping.monitor:
        from justfit.errors import ConfigError

        raise ConfigError(f"The study '{name}' scores trials by {study.user_attrs['monitor']}, not "
                          f"{cfg.early_stopping.monitor}. Use the same early_stopping.monitor, or another study name.")
    return study, space


def _retry_killed_trials(study: Any) -> None:
    """A resumed run's own study (its private SQLite): the trials it had running died with it. They are
    failed now, without waiting for their heartbeats to go stale, and retried with the same values."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        given = trial.user_attrs.get("as_given")
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number,
                                                      **({"as_given": given} if given is not None else {})})


def lower_is_better(cfg: JustfitConfig) -> bool:
    """Is the monitor better when lower, as the task declares it (``checks.monitor_direction``)? The study's
    direction, its pruner and each trial's value follow this."""

    return monitor_direction(cfg) == "min"


def trial_config(cfg: JustfitConfig, params: dict[str, Any], defaults: dict[str, Any] | None) -> JustfitConfig:
    """``cfg`` with a trial's ``params``, and the defaults that depend on them resolved again (``reresolve``)."""

    out = cfg.updated(params)
    return reresolve(out, cfg, defaults) if defaults else out


def _objective(cfg: JustfitConfig, space: dict[str, Any], splits: Any, report: Any, log: Any,
               tracker: Any = None, defaults: dict[str, Any] | None = None) -> Any:
    """The trial function: train the trial's configuration, report each epoch to the pruner, return the
    best monitored validation value (NaN when it never was a number: the trial then fails). ``defaults``:
    ``cfg``'s resolved defaults (``justfit.defaults.apply_defaults``), resolved again for a trial that changes
    what they depend on (``model.freeze``)."""

    optuna = optuna_module()
    es = cfg.early_stopping
    direction = "min" if lower_is_better(cfg) else "max"
    weights = sample_weights_for(report, splits.train)
    normalized = any("normalize" in r.rules for r in report.cleaning.values())

    def objective(trial: Any) -> float:
        given = trial.user_attrs.get("as_given")
        params = suggest(trial, space if given is None else {k: space[k] for k in given if k in space})
        c = trial_config(cfg, params, defaults)
        prune = PruneCallback(trial, es.monitor)
        child = None if tracker is None else tracker.child(f"trial-{trial.number}")
        callbacks: list[Any] = [prune]
        if child is not None:
            from justfit.tracking import TrackingCallback

            child.config({"trial": {"number": trial.number, **params}})
            callbacks.append(TrackingCallback(child))
        try:
            t = time.perf_counter()
            est = Finetuner(config=c).fit(splits, sample_weight=weights, normalized_text=normalized, callbacks=callbacks)
            trial.set_user_attr("best_epoch", est.best_epoch_)
            trial.set_user_attr("epochs", len(est.history_.records))
            trial.set_user_attr("train_seconds", round(time.perf_counter() - t, 2))
            cached = (getattr(est, "feature_cache_", None) or {}).get("train")
            if cached:  # a frozen backbone's features: computed by the first such trial, read from disk after
                trial.set_user_attr("feature_cache_hit", bool(cached["cache_hit"]))
            # The trial's value: the monitor's best epoch, by the direction the task declares.
            score = selection_score(est.history_.records, es.monitor, direction)
            value = float("nan") if not math.isfinite(score) else monitor_value(score, direction)
            if child is not None:
                child.log({"trial_value": value, "pruned": int(prune.pruned)})
        finally:
            if child is not None:
                child.finish()
        if prune.pruned:
            raise optuna.TrialPruned()
        return value

    return objective


def _start_dashboard(storage: Any, port: int, log: Any) -> None:
    """optuna-dashboard for the study's storage on 127.0.0.1:``port``, in a daemon thread."""
    import threading

    try:
        from optuna_dashboard import run_server
    except ImportError:
        from justfit.errors import MissingDependencyError

        raise MissingDependencyError("--dashboard needs optuna-dashboard: pip install 'justfit[tune]'.") from None
    threading.Thread(target=run_server, kwargs={"storage": storage, "host": "127.0.0.1", "port": port},
                     daemon=True, name="optuna-dashboard").start()
    log(f"dashboard: http://127.0.0.1:{port}/")


def _logger(progress: bool) -> Any:
    if not progress:
        return lambda message: None
    from rich.console import Console

    return Console(stderr=True).print


def _search_only(config: Any, overrides: dict[str, Any], *, progress: bool, dashboard: int | None) -> dict[str, Any]:

    cfg = coerce_config(config)
    if overrides:
        cfg = cfg.updated({k.replace("__", "."): v for k, v in overrides.items()})
    if not cfg.tune.storage or not cfg.tune.study_name:
        raise ConfigError("A search-only worker joins a shared study: give tune.storage (--storage URL) and "
                          "tune.study_name (--study-name).")
    check_settings(cfg)

    search_space(cfg, get_task(cfg.task) if cfg.task else None)  # a bad space is refused before any data is read
    storage = open_storage(cfg.tune.storage, cfg.tune.heartbeat, cfg.tune.retries)  # before the data stage's work
    try:
        cfg, splits, report, _, defaults = _data(cfg, progress)
        log = _logger(progress)
        study, space = _study(cfg, storage, cfg.tune.study_name, shared=True)
        if dashboard:
            _start_dashboard(storage, dashboard, log)
        done = run_search(study, _objective(cfg, space, splits, report, log, defaults=defaults), trials=cfg.tune.trials,
                          time_budget=cfg.tune.time_budget, log=log)
        return {**summary(study, cfg.early_stopping.monitor, study.user_attrs.get("baseline_trial")), "worker": done}
    finally:
        storage.engine.dispose()


def _tune(cfg: JustfitConfig, final: Path, partial: Path, *, progress: bool, dashboard: int | None,
          t0: float, resumed: bool = False) -> RunResult:

    search_space(cfg, get_task(cfg.task) if cfg.task else None)  # a bad space is refused before any data is read
    if cfg.tune.refit == "train+validation" and cfg.training.recipe != "standard":
        raise ConfigError(f"tune.refit: train+validation retrains for the best epoch's count, which a recipe of "
                          f"stages ('{cfg.training.recipe}') does not give per stage. Use tune.refit: train, or "
                          "training.recipe: standard.")
    folder = partial / "tune"
    folder.mkdir(exist_ok=True)
    url = cfg.tune.storage or default_storage(folder)
    storage = open_storage(url, cfg.tune.heartbeat, cfg.tune.retries)  # an unreachable one fails before the data stage
    try:
        cfg, splits, report, columns, defaults = _data(cfg, progress)
        check_same_data(partial, splits_fingerprint(splits, get_task(cfg.task).input_column))
        name = cfg.tune.study_name or final.name
        log = _logger(progress)
        study, space = _study(cfg, storage, name, shared=cfg.tune.storage is not None)
        if resumed and cfg.tune.storage is None:
            _retry_killed_trials(study)
        from justfit.tracking import run_tracker

        tracker = run_tracker(cfg, partial, final.name)
        if tracker is not None:
            tracker.config(cfg.model_dump(mode="json"))
        log(f"tune: study '{name}' in {shown_url(url)}; {cfg.tune.trials} trials, sampler {cfg.tune.sampler}, "
            f"pruner {cfg.tune.pruner}, scored by {cfg.early_stopping.monitor}; searching "
            f"{', '.join(space)}")
        if dashboard:
            _start_dashboard(storage, dashboard, log)
        done = run_search(study, _objective(cfg, space, splits, report, log, tracker, defaults), trials=cfg.tune.trials,
                          time_budget=cfg.tune.time_budget, log=log)
        found = summary(study, cfg.early_stopping.monitor, study.user_attrs.get("baseline_trial"))
        if "best" not in found:
            if tracker is not None:
                tracker.finish()
            failed = [t for t in study.trials if t.state.name == "FAIL"]
            why = failed[-1].system_attrs.get("fail_reason", "") if failed else ""
            raise ModelError(f"No trial of the study completed ({found['trials']}){': ' + why[:300] if why else ''}. "
                             "Check the search space, or give the search more trials or time.")
        write_csv(study.trials_dataframe(), folder / "trials.csv")
        plots = write_plots(study, folder)
    finally:
        storage.engine.dispose()

    best_cfg = trial_config(cfg, found["best"]["params"], defaults)
    log(f"best: trial {found['best']['number']}, {cfg.early_stopping.monitor} {found['best']['value']:.4f}; "
        f"retraining it with {cfg.tune.seeds} seed{'s' if cfg.tune.seeds > 1 else ''}")
    try:
        from justfit.tracking import TrackingCallback, log_test_metrics

        normalized = any("normalize" in r.rules for r in report.cleaning.values())  # as the data stage did
        est = Finetuner(config=best_cfg, progress=progress, seeds=cfg.tune.seeds if cfg.tune.seeds > 1 else None)
        est.fit(splits, sample_weight=sample_weights_for(report, splits.train), normalized_text=normalized,
                callbacks=[] if tracker is None else [TrackingCallback(tracker, "final/")])
        refit, refit_summary = None, None
        if cfg.tune.refit == "train+validation":
            refit, refit_summary = _refit(best_cfg, est, splits, report, normalized, log, progress)
        final_est = refit if refit is not None else est
        test_logits = final_est.decision_logits(splits.test[est.task_.input_column].tolist())
        metrics = final_est.evaluate(splits.test, logits=test_logits)
        if tracker is not None:
            log_test_metrics(tracker, metrics)
            tracker.log({"best_trial_value": found["best"]["value"]})
    finally:
        if tracker is not None:
            tracker.finish()

    values = getattr(est, "seed_val_scores_", None) or [found["best"]["value"]]

    final_val = {"seeds": getattr(est, "seeds_", [best_cfg.training.seed]), **summarise(values)}
    found["final"] = {"validation": final_val, "kept_seed": getattr(est, "kept_seed_", best_cfg.training.seed)}
    if "baseline" in found:
        # Positive when the best trial is better than the config as given, in the monitor's own direction.
        gain = found["best"]["value"] - found["baseline"]["value"]
        gain = -gain if lower_is_better(cfg) else gain
        found["gain_over_baseline"] = gain + 0.0  # no -0.0 when the best trial is the config as given
        found["gain_is_noise"] = bool(len(values) > 1 and is_noise(gain, final_val["std"]))
    import yaml

    # The default study sits in the run folder: named inside it, as no path of this machine is shared.
    shown = "tune/study.db" if cfg.tune.storage is None else shareable_url(shown_url(url))
    if refit_summary is not None:
        found["refit"] = refit_summary
    found.update(worker=done, storage=shown, plots=plots, seconds=time.perf_counter() - t0)
    write_json(folder / "tune.json", found)
    runnable = JustfitConfig.from_dict({**best_cfg.model_dump(mode="json"), "output": {"dir": cfg.output.dir}})
    atomic_write_text(folder / "best_config.yaml", "# The best configuration of the search (" + name + "); run it "
                      "with: justfit train best_config.yaml\n"
                      + yaml.safe_dump(shareable_config(runnable.model_dump(mode="json")), sort_keys=False))

    return write_run(final, partial, best_cfg, columns, est, splits, report, metrics, test_logits, None, t0,
                      extra={"tune": found, "defaults": defaults}, baseline=cheap_baseline(best_cfg, est, splits, {}, progress),
                      saved=refit)


def _refit(best_cfg: JustfitConfig, est: Any, splits: Any, report: Any, normalized: bool, log: Any,
           progress: bool) -> tuple[Any, dict[str, Any]]:
    """Train ``best_cfg`` once more on the training and validation rows together, with the kept seed, for the
    retrained model's best number of epochs and without early stopping (there is no held-out validation left
    to stop on; the validation rows are still evaluated each epoch, as training rows). Returns the fitted
    estimator and what ``tune.json`` says of it (``refit``)."""
    import pandas as pd

    epochs = max(1, int(math.ceil(est.best_epoch_ or best_cfg.training.epochs)))
    seed = getattr(est, "kept_seed_", best_cfg.training.seed)
    # The validation rows are training rows here: no epoch is chosen by them, the last one is kept.
    cfg = best_cfg.updated({"training.epochs": epochs, "training.seed": seed, "early_stopping.enabled": False,
                            "early_stopping.restore_best": False})
    both = pd.concat([splits.train, splits.validation])
    merged = Splits(both, splits.validation, splits.test, dict(splits.sources))
    log(f"refit: the best configuration on train+validation ({len(both)} rows) for {epochs} epoch"
        f"{'s' if epochs != 1 else ''}, seed {seed}")
    refit = Finetuner(config=cfg, progress=progress).fit(merged, sample_weight=sample_weights_for(report, both),
                                                         normalized_text=normalized)
    summary = {"on": "train+validation", "rows": len(both), "epochs": epochs, "seed": seed,
               "early_stopping": False, "stop_reason": refit.stop_reason_}
    return refit, summary
