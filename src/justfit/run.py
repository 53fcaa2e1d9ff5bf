"""``finetune``: the whole run, from a config to a finished run directory.

The run is written into ``<name>.partial`` and renamed to ``<name>`` only when every file
is there, so a folder named like a run is always a complete one.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from justfit.checks import check_settings, check_unsupported, with_task
from justfit.config import JustfitConfig, coerce_config
from justfit.data.augment import check_ops
from justfit.data.stage import prepare_data, sample_weights_for
from justfit.defaults import apply_defaults, describe
from justfit.estimator import Finetuner
from justfit.evaluation.baseline import fit_baseline, summary
from justfit.models.factory import checkpoint_model_type
from justfit.results import RunResult
from justfit.resume import check_same_data, open_run, splits_fingerprint
from justfit.rundir import write_run
from justfit.tasks.base import get_task
from justfit.tracking import TrackingCallback, log_test_metrics, run_tracker
from justfit.training.fit import Checkpointing
from justfit.training.runtime import distributed_state


def check_task(cfg: JustfitConfig, task: Any) -> None:
    """What can be checked once the task is known, before the data stage's work: the model is one the
    task can use, and ``augment.ops`` are operations for the task's inputs."""

    task.check_model(cfg.model.name)

    check_unsupported(cfg, task)
    check_ops(cfg.augment.ops, task.modality)


def finetune(config: JustfitConfig | dict | str | Path | None = None, *, progress: bool = False,
             auto: bool = False, rounds: int = 3, time_budget: float | None = None,
             resume: str | Path | None = None, keep_checkpoints: bool = False, seeds: int | None = None,
             **overrides: Any) -> RunResult:
    """Load, split, fine-tune, evaluate and save one run. ``overrides`` name keys as ``training__lr=1e-4``.

    Everything is checked (config, data, labels, run directory) before the model is loaded.
    With ``auto``, up to ``rounds`` trainings run: after each, the diagnosis' top remedy is
    applied and the round with the best validation score is kept (within ``time_budget``
    seconds when given); the test split is evaluated once, on the chosen round. With ``seeds`` (N > 1)
    each training is N trainings with consecutive seeds; the median seed's model is kept and the test
    metrics hold the spread (``seed_spread``: mean ± std and every seed's value).

    The run works in ``<name>.partial`` and saves checkpoints there (``training.checkpoint_every``,
    ``checkpoint_keep``); they are deleted when it completes unless ``keep_checkpoints``.
    ``resume`` (the ``.partial`` folder of a killed run, or its name) continues that run from its
    newest checkpoint with its own config: a ``config`` or options given as well must equal the
    run's (``ConfigError`` lists the keys that differ). Raises ``RunDirError`` for a finished run, a
    folder that is not a run, or a run another process is working in.
    """

    t0 = time.perf_counter()
    options = {"command": "train", "auto": auto, "rounds": rounds if auto else None,
               "time_budget": time_budget if auto else None, "seeds": seeds}
    run = open_run(config, overrides, options, resume, compare_options=auto or seeds is not None)
    auto, seeds = bool(run.options.get("auto")), run.options.get("seeds")
    rounds, time_budget = run.options.get("rounds") or 3, run.options.get("time_budget")
    with run:
        return _run(run.cfg, run.final, run.partial, run.checkpoints, progress=progress and run.main, auto=auto,
                    rounds=rounds, time_budget=time_budget, resume=run.resumed, keep_checkpoints=keep_checkpoints,
                    seeds=seeds, t0=t0)


def _run(cfg: JustfitConfig, final: Path, partial: Path, folder: Path, *, progress: bool, auto: bool, rounds: int,
         time_budget: float | None, resume: bool, keep_checkpoints: bool, seeds: int | None, t0: float) -> RunResult:
    """The run itself, inside its locked ``.partial`` folder: data stage, training (checkpointed into
    ``folder``), test evaluation, then every file written and the folder renamed to ``final``."""

    # In a multi-process launch, the main process runs the data stage first (and fills the feature cache);
    # the others then run it on the cached features, reaching the same splits. Only the main process writes.
    state = distributed_state()
    main = state is None or state.is_main_process
    with state.main_process_first() if state is not None else contextlib.nullcontext():
        # The model is checked once, as soon as the task is known and before any stage uses it (the label
        # audit embeds texts with it).
        splits, report, loaded = prepare_data(cfg, progress=progress, check_task=lambda t: check_task(cfg, t))
    cfg = with_task(cfg, report.task)  # as given, or inferred from the labels by the data stage

    # The model family's measured settings where the config gives none.
    cfg, defaults = apply_defaults(cfg, checkpoint_model_type(cfg.model.name, cfg.task), len(splits.train))
    check_settings(cfg)  # the monitor against the inferred task's metrics (nothing is repeated when it was given)
    columns = next(iter(loaded.values())).columns

    if main:
        check_same_data(partial, splits_fingerprint(splits, get_task(cfg.task).input_column))
    if not progress:
        import warnings

        from justfit.errors import DataQualityWarning

        for w in report.warnings:
            warnings.warn(w, DataQualityWarning, stacklevel=3)
    if progress:
        from rich.console import Console

        from justfit._display import print_data_stage

        print_data_stage(report, Console(stderr=True))
        sizes = splits.sizes()
        what = get_task(cfg.task).describe(splits.train["label"])
        Console(stderr=True).print(
            f"data ({cfg.task}): input column '{columns.text}', label column '{columns.label}'; "
            f"train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']} rows; {what}"
        )
        Console(stderr=True).print(describe(defaults))

    round_data: dict[int, tuple[Any, Any, Any]] = {}  # each round's splits, data report and baseline, by its estimator
    baselines: dict[int, Any] = {}  # the cheap baseline fitted on each training split (by its frame's id)
    # Each auto-fit round checkpoints into its own folder (round-N): a resumed auto-fit replays the rounds the
    # killed run finished from their last checkpoints (no epoch is trained again, the same weights come back),
    # so it takes the same decisions, and continues the round it was in.
    checkpointing = Checkpointing(folder, cfg.training.checkpoint_every, cfg.training.checkpoint_keep, resuming=resume)
    if resume and progress and not any(folder.rglob("checkpoint-*")):
        from rich.console import Console

        Console(stderr=True).print("no checkpoint was saved before the run stopped: training starts over")

    tracker = run_tracker(cfg, partial, final.name) if main else None
    if tracker is not None:
        tracker.config(cfg.model_dump(mode="json"))
    rounds_run = [0]

    def fit_round(c: JustfitConfig) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
        sp, rep = splits, report
        if c.quality != cfg.quality:  # a remedy changed the data stage: run it again (the test split stays)
            sp, rep, _ = prepare_data(c, progress=False)
        rounds_run[0] += 1
        callbacks = [] if tracker is None else [TrackingCallback(tracker, f"round{rounds_run[0]}/" if auto else "")]
        e = Finetuner(config=c, progress=progress, seeds=seeds)
        e.fit(sp, sample_weight=sample_weights_for(rep, sp.train),
              normalized_text=any("normalize" in r.rules for r in rep.cleaning.values()),  # as the stage did
              checkpointing=checkpointing.within(f"round-{rounds_run[0]}") if auto else checkpointing,
              callbacks=callbacks, extend_while_trivial=not auto)  # auto-fit's remedies act on a trivial round
        against = cheap_baseline(c, e, sp, baselines, progress) if main else None
        round_data[id(e)] = (sp, rep, against)
        ctx = {"data": rep.summary(), **e.task_.diagnosis_context(sp.train["label"], sp.validation["label"]),
               "n_train": len(sp.train), "n_params": e.params_.get("trainable_params"), "baseline": against,
               "task_facts": e.task_.diagnosis_facts(), "model_type": e.defaults_.get("model_type")}
        return e, e.history_.records, ctx

    try:
        autofit = None
        if auto:
            from justfit.tuning.autofit import auto_fit

            log = None
            if progress:
                from rich.console import Console

                log = Console(stderr=True).print
            from justfit.defaults import reresolve

            first = cfg
            est, cfg, autofit = auto_fit(fit_round, cfg, rounds=rounds, time_budget=time_budget, log=log,
                                         resolve=lambda c: reresolve(c, first, defaults))
            splits, report, against = round_data[id(est)]
        else:
            est = fit_round(cfg)[0]
            against = round_data[id(est)][2]
        if not main:  # the main process evaluates the test split and writes the run; the others wait for it
            state.wait_for_everyone()
            return RunResult.load(final)
        test_logits = est.decision_logits(splits.test[est.task_.input_column].tolist())
        metrics = est.evaluate(splits.test, logits=test_logits)
        if tracker is not None:
            log_test_metrics(tracker, metrics)
    finally:
        if tracker is not None:
            tracker.finish()
    result = write_run(final, partial, cfg, columns, est, splits, report, metrics, test_logits, autofit, t0,
                        keep_checkpoints=keep_checkpoints, baseline=against, extra={"defaults": defaults})
    if state is not None:
        state.wait_for_everyone()
    return result


def cheap_baseline(cfg: JustfitConfig, est: Any, splits: Any, fitted: dict[int, Any], progress: bool = False
                   ) -> dict[str, Any] | None:
    """The cheap baseline beside ``est`` (``evaluation.baseline.summary``), fitted once per training split (kept in
    ``fitted``); ``None`` when ``baseline.enabled`` is off. A baseline that cannot be fitted is reported (a
    ``RuntimeWarning`` and ``{"error": ...}``), never the end of the run."""
    if not cfg.baseline.enabled:
        return None
    import warnings

    try:
        key = id(splits.train)
        if key not in fitted:
            fitted[key] = fit_baseline(est.task_, splits, cfg)
        out = summary(est, splits, fitted[key])
    except Exception as exc:  # an extra: the fine-tuned model is the run's result
        warnings.warn(f"The cheap baseline could not be fitted ({type(exc).__name__}: {exc}); the run goes on "
                      "without it.", RuntimeWarning, stacklevel=2)
        return {"error": f"{type(exc).__name__}: {exc}"}
    if progress:
        from rich.console import Console

        v = out["validation"]
        noise = f", noise {v['needed']:.4f}" if v.get("needed") is not None else ""
        Console(stderr=True).print(
            f"cheap baseline ({out['name']}, {out['seconds']:.1f} s): val_{v['score']} {v['baseline']:.4f}; the "
            f"fine-tuned model {v['model']:.4f} ({'beats it' if v['beats'] else 'does not beat it'}{noise})")
    return out


def find_lr(config: JustfitConfig | dict[str, Any] | str | Path | None = None, *, progress: bool = False,
            **options: Any) -> Any:
    """The learning-rate range test on the configured data and model, without training.

    The data stage runs as for ``finetune`` except the label audit (the sweep needs clean rows,
    not a verdict on each). ``options`` go to ``justfit.training.lr_find.lr_find``.
    Returns an ``LRFindResult``.
    """

    cfg = coerce_config(config)
    if cfg.quality.label_noise != "off":
        cfg = cfg.updated({"quality.label_noise": "off"})
    splits, _, _ = prepare_data(cfg, progress=progress, check_task=lambda t: check_task(cfg, t))
    return Finetuner(config=cfg, progress=progress).lr_find(splits, **options)
