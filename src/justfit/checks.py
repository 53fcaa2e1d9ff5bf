"""Settings checks that need more than one config field's validator: run once per run, before any
data is read or model loaded.

``check_settings(cfg)`` refuses an unknown optimizer or scheduler, a recipe that does not combine
with the model settings, and an early-stopping monitor that training will not record: against the
task's metrics when ``cfg.task`` is set, else against those of every registered task (the task is
inferred from the labels later, and the monitor checked for it then). A config that passed is
remembered by its content, so the sequencer (``run.finetune``) and the estimator it calls do not
repeat the work: each check runs once per run.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from justfit.config import JustfitConfig
from justfit.directions import direction_of
from justfit.errors import ConfigError
from justfit.history import available_metrics
from justfit.models.recipes import check_recipe
from justfit.tasks.base import TASKS, task_directions
from justfit.training.callbacks.early_stopping import EarlyStopping
from justfit.training.optim import OPTIMIZERS, SCHEDULERS

_PASSED: OrderedDict[str, None] = OrderedDict()  # content of the checked sections, most recent last
_REMEMBER = 64


def _key(cfg: Any) -> str:
    import json

    sections = {s: getattr(cfg, s).model_dump(mode="json") for s in ("training", "model", "early_stopping")}
    if cfg.task:  # "auto" and the monitor it resolves to are the same settings
        sections["early_stopping"]["monitor"] = task_monitor(cfg, cfg.task)
    return json.dumps({"task": cfg.task, **sections}, sort_keys=True)


def check_monitor(cfg: Any, task_name: str) -> None:
    """Raise ``ConfigError`` when early stopping monitors a name that training of ``task_name`` will not
    record (the task's epoch metrics as ``val_*``/``train_*``, the losses), or one whose declared direction
    contradicts ``early_stopping.mode``."""

    EarlyStopping(task_monitor(cfg, task_name), cfg.early_stopping.mode).check(recorded(cfg, task_name))
    monitor_direction(cfg, task_name)


def recorded(cfg: Any, task_name: str) -> dict[str, str]:
    """The names an epoch record of ``task_name`` holds under ``cfg``, each with its declared direction."""

    return available_metrics(cfg.training.train_eval_samples > 0, task_directions(task_name))


def monitor_direction(cfg: Any, task_name: str | None = None) -> str:
    """Which way early stopping's monitor is better (``"min"``/``"max"``) for ``task_name`` (default
    ``cfg.task``), as the task declares it (``justfit.directions.direction_of``). Every place that ranks,
    selects or prunes by the monitor (tuning, auto-fit, the seed spread) asks this.

    Raises ``ConfigError`` when the task is unknown or unset, when the monitor has no declared direction
    (listing those that have one), or when ``early_stopping.mode`` contradicts it."""

    name = task_name or cfg.task
    if not name:
        raise ConfigError("The task is not known yet, so the monitor's direction is not either: set task:.")
    return direction_of(task_monitor(cfg, name), recorded(cfg, name), cfg.early_stopping.mode)


def task_monitor(cfg: Any, task_name: str) -> str:
    """The metric early stopping watches: ``early_stopping.monitor``, or for ``auto`` the task's own
    (``default_monitor``: ``val_f1``, macro-F1, for classification; the entity F1 for token classification;
    ``val_loss`` otherwise)."""
    if cfg.early_stopping.monitor != "auto":
        return cfg.early_stopping.monitor

    return TASKS.get(task_name).default_monitor


def with_task(cfg: Any, task_name: str) -> Any:
    """``cfg`` with its task set to ``task_name`` and an ``auto`` monitor resolved for that task, so the
    resolved config (``config.yaml``) names the metric that was watched."""
    updates: dict[str, Any] = {}
    if cfg.task != task_name:
        updates["task"] = task_name
    if cfg.early_stopping.monitor == "auto":
        updates["early_stopping.monitor"] = task_monitor(cfg, task_name)
    return cfg.updated(updates) if updates else cfg


def check_settings(cfg: Any) -> None:
    """Raise ``ConfigError`` (one line naming the setting and the valid choices) on settings that cannot
    run; see the module docstring. Cheap after the first call for the same settings."""
    key = _key(cfg)
    if key in _PASSED:
        _PASSED.move_to_end(key)
        return

    OPTIMIZERS.get(cfg.training.optimizer)
    SCHEDULERS.get(cfg.training.scheduler)
    if cfg.output.track:
        from justfit.tracking import check_trackers

        check_trackers(cfg.output.track)
    check_recipe(cfg)
    errors: list[ConfigError] = []
    for name in [cfg.task] if cfg.task else TASKS.names():
        try:
            check_monitor(cfg, name)
            break
        except ConfigError as exc:
            errors.append(exc)
    else:
        raise errors[0] if cfg.task else _any_task_error(cfg, errors)
    _PASSED[key] = None
    while len(_PASSED) > _REMEMBER:
        _PASSED.popitem(last=False)


def _any_task_error(cfg: Any, errors: list[ConfigError]) -> ConfigError:
    """The error for a monitor that no registered task takes, while the task is not known yet: the names every
    task records (with the closest one), not one task's; a monitor some task records but whose ``mode``
    contradicts it keeps that task's message."""

    every = {n: d for t in TASKS.names() for n, d in recorded(cfg, t).items()}
    if cfg.early_stopping.monitor in every:
        return next((e for e in errors if "mode" in str(e)), errors[0])
    try:
        direction_of(cfg.early_stopping.monitor, every)
    except ConfigError as exc:  # the one wording of an unknown monitor, over every task's names
        return exc
    return errors[0]


def check_unsupported(cfg: Any, task: Any) -> None:
    """Raise ``ConfigError`` for a setting the task refuses (its ``unsupported_settings``: setting -> why)
    when it differs from the default."""

    defaults = JustfitConfig()
    for key, why in dict(task.unsupported_settings).items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value != getattr(getattr(defaults, section), name):
            shown = ",".join(map(str, value)) if isinstance(value, list) else value
            raise ConfigError(f"{key}={shown} does not apply to {task.name}: {why}. Unset it.")
