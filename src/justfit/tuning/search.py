"""Hyperparameter search with Optuna: the space, the storage, pruning, the study's budget, its files.

Only training and validation data are looked at here: each trial trains on the training split and
is scored by the best validation value of the monitored metric (``early_stopping.monitor``) over
its epochs, reported to the pruner after every epoch at the share of its schedule done (``PruneCallback``). The caller evaluates the
test split once, on the best configuration retrained with several seeds.

The study lives in an Optuna storage: SQLite in the run directory by default, or any SQLAlchemy
URL (``postgresql://...``) that several workers share. Storages are opened with heartbeats, so a
trial whose worker was killed is marked failed by the next worker that starts a trial and retried
with the same parameters (``RetryFailedTrialCallback``). The budget (``tune.trials``) counts the
study's completed, pruned, running and waiting trials over every worker.

Sources: TPE is Optuna's ``TPESampler`` (Bergstra et al. 2011, "Algorithms for Hyper-Parameter
Optimization"); median pruning is ``MedianPruner`` (Golovin et al. 2017, "Google Vizier"), Hyperband
``HyperbandPruner`` (Li et al. 2018); parameter importances are Optuna's default fANOVA evaluator
(Hutter et al. 2014).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from justfit._files import atomic_write_text
from justfit._portable import shown_url
from justfit.config import TUNABLE, JustfitConfig, SearchParam
from justfit.defaults import COUPLED
from justfit.diagnosis.remedies import COUPLED_WEIGHT_DECAY_MAX
from justfit.errors import ConfigError, JustfitError, MissingDependencyError
from justfit.report.plots import svg_text
from justfit.training.callbacks.base import Callback

# The space searched when ``tune.space`` is empty: the settings that matter most for fine-tuning
# (Mosbach et al. 2021 on stability: learning rate and warmup; regularisation for small data).
DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "training.lr": {"low": 1e-5, "high": 1e-3, "log": True},
    "training.weight_decay": {"low": 0.0, "high": 0.1},
    "model.dropout": {"low": 0.0, "high": 0.3},
    "training.warmup_ratio": {"low": 0.0, "high": 0.2},
    "training.label_smoothing": {"low": 0.0, "high": 0.2},
}
# A trial is failed (its worker is dead) after this many missed heartbeats.
GRACE_HEARTBEATS = 4
# Seconds to wait for a database server before saying it cannot be reached.
CONNECT_TIMEOUT = 5
# Tries to open a new database's tables when other workers are creating them at the same moment.
SCHEMA_ATTEMPTS = 5


def optuna_module() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError("justfit tune needs Optuna: pip install 'justfit[tune]'.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ------------------------------------------------------------------ the space


def search_space(cfg: JustfitConfig, task: Any) -> dict[str, SearchParam]:
    """The space to search: ``tune.space``, or ``DEFAULT_SPACE`` without the keys the task refuses (and weight
    decay up to ``COUPLED_WEIGHT_DECAY_MAX`` with an optimizer that adds it to the gradient: adam, sgd).
    Raises ``ConfigError`` for a key the task refuses, a range or choice the key cannot take, and
    a key that only matters with a setting that is off (``model.lora_rank`` without LoRA,
    ``augment.*`` without ``augment.ops``). With ``task`` None (not known yet: before the data stage)
    everything but the task's refusals is checked."""
    refused = dict(task.unsupported_settings) if task is not None else {}
    if cfg.tune.space:
        space = dict(cfg.tune.space)
        for key in space:
            if key in refused:
                raise ConfigError(f"tune.space searches {key}, which does not apply to {task.name}: {refused[key]}. "
                                  "Remove it from the space.")
    else:
        space = {k: SearchParam(**v) for k, v in DEFAULT_SPACE.items() if k not in refused}
        if cfg.training.optimizer in COUPLED and "training.weight_decay" in space:
            # L2 added to the gradient (Adam, SGD): 0.1 would swamp it; the remedies' ceiling holds here too
            space["training.weight_decay"] = SearchParam(low=0.0, high=COUPLED_WEIGHT_DECAY_MAX)
    if "model.lora_rank" in space and cfg.model.strategy != "lora":
        raise ConfigError("tune.space searches model.lora_rank, which only applies with model.strategy=lora. Set the "
                          "strategy, or remove it from the space.")
    augmenting = [k for k in space if k.startswith("augment.")]
    if augmenting and not cfg.augment.ops:
        raise ConfigError(f"tune.space searches {', '.join(augmenting)}, but augment.ops is empty (no augmentation "
                          "runs). Set augment.ops, or remove them from the space.")
    for key, param in space.items():
        for value in (param.choices if param.choices is not None else [param.low, param.high]):
            value = int(value) if TUNABLE[key] == "int" and isinstance(value, float) else value
            try:
                cfg.updated({key: value})
            except ConfigError as exc:
                raise ConfigError(f"tune.space: {key} cannot take {value!r}: {exc}") from None
    return space


def suggest(trial: Any, space: dict[str, SearchParam]) -> dict[str, Any]:
    """One value per searched key, drawn by the trial (``suggest_float``/``suggest_int``/``suggest_categorical``)."""
    out: dict[str, Any] = {}
    for key, p in space.items():
        if p.choices is not None:
            out[key] = trial.suggest_categorical(key, p.choices)
        elif TUNABLE[key] == "int":
            out[key] = trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            out[key] = trial.suggest_float(key, float(p.low), float(p.high), step=p.step, log=p.log)
    return out


def given_point(cfg: JustfitConfig, space: dict[str, SearchParam]) -> dict[str, Any]:
    """The configuration as given, as a point of the space (keys whose value lies outside it are left to the
    sampler): the first trial of a new study, the baseline the best is compared with."""
    out: dict[str, Any] = {}
    for key, p in space.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if p.choices is not None:
            if value in p.choices:
                out[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool) and p.low <= value <= p.high:
            out[key] = value
    return out


# ------------------------------------------------------------------ pruning


# A pruner's step is the share of the trial's learning-rate schedule done, in these many parts (per recipe stage).
SCHEDULE_PARTS = 100


class PruneCallback(Callback):
    """Report each epoch's monitored validation value to the trial and stop training when the pruner says so
    (``pruned`` is then True).

    The step reported is how far the trial is through its own learning-rate schedule, in hundredths
    (``SCHEDULE_PARTS`` per recipe stage, a later stage after an earlier one's): a trial is compared with
    trials at the same point of their schedules, so a 3-epoch trial after its first epoch (still at a high
    learning rate) is not judged against 1-epoch trials that had already annealed, which made the median
    pruner favour short schedules. A trial is never pruned before its warmup ends (``warmup_ratio`` of its
    schedule's steps)."""

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor
        self.epochs = 0
        self.pruned = False
        self._trainer: Any = None
        self._offset = 0

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        self.epochs += 1
        if trainer is not self._trainer:  # a recipe's next stage: a new schedule
            if self._trainer is not None:
                self._offset += SCHEDULE_PARTS
            self._trainer = trainer
        value = record.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        total = int(getattr(trainer, "schedule_total", 0) or 0)
        done = int(getattr(trainer, "global_step", 0) or 0)
        # (a loop that does not say its schedule: the epoch)
        part = min(SCHEDULE_PARTS, max(1, round(SCHEDULE_PARTS * done / total))) if total > 0 else self.epochs
        self.trial.report(float(value), self._offset + part)
        warmup = float(getattr(getattr(trainer, "cfg", None), "warmup_ratio", 0.0) or 0.0) * total
        if done >= warmup and self.trial.should_prune():
            self.pruned = True
            trainer.request_stop()


# ------------------------------------------------------------------ storage and study


def default_storage(folder: Path) -> str:
    return f"sqlite:///{(folder / 'study.db').resolve()}"


def open_storage(url: str, heartbeat: int, retries: int) -> Any:
    """An Optuna RDB storage at ``url`` with heartbeats and retries of failed trials. Raises
    ``ConfigError`` (one line, within about ``CONNECT_TIMEOUT`` seconds) when the URL is malformed,
    its driver is missing or the database cannot be reached."""
    import inspect
    import warnings

    optuna = optuna_module()
    from optuna.storages import RDBStorage

    # Optuna 4.9 renamed the retry callback and its argument; both spellings are accepted here.
    retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or \
        optuna.storages.RetryFailedTrialCallback
    retry_kw = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in \
        inspect.signature(RDBStorage.__init__).parameters else "failed_trial_callback"
    engine_kwargs: dict[str, Any] = {}
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith("postgresql") or scheme.startswith("mysql"):
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    elif scheme.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 30}  # concurrent local workers wait for the file's lock
    try:
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: "experimental"
                    return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                      grace_period=GRACE_HEARTBEATS * heartbeat,
                                      **{retry_kw: retry_cls(max_retry=retries)})
            except Exception as exc:
                # Workers starting together on a new database race to create its tables: the loser waits
                # for the winner's, then opens them.
                if attempt + 1 < SCHEMA_ATTEMPTS and _schema_race(exc):
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise
        raise AssertionError("unreachable")
    except ImportError as exc:
        cause = exc.__cause__ or exc
        driver = getattr(cause, "name", None) or str(cause)
        raise ConfigError(f"The study storage {shown_url(url)} needs a database driver that is not installed "
                          f"({driver}); for PostgreSQL: pip install 'justfit[tune]' (psycopg).") from None
    except Exception as exc:  # sqlalchemy's ArgumentError, OperationalError, ...; optuna's own
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Cannot open the study storage {shown_url(url)} ({type(exc).__name__}: {first[:200]}). "
                          "Check the URL, that the server runs and accepts this user, then run again.") from None


def _schema_race(exc: BaseException) -> bool:
    """Did opening fail because another worker was creating the same tables (SQLite: "table ... already
    exists"; PostgreSQL: a duplicate key in its catalogue), not because the database cannot be used?"""
    text = str(exc).lower()
    return type(exc).__name__ in ("IntegrityError", "OperationalError", "ProgrammingError") and (
        "already exists" in text or "duplicate key" in text or "unique constraint" in text)


# Trials before TPE models the space (random ones, the first being the configuration as given) and before the
# median pruner judges any trial: Optuna's defaults are 10 and 5; a search of minutes on a CPU runs 10 to 30
# trials, so half of them random would leave TPE little to do.
STARTUP_TRIALS = 5


def create_study(storage: Any, name: str, direction: str, sampler: str, pruner: str, seed: int | None) -> Any:
    """Create or load the study ``name`` (``ConfigError`` when it exists with another direction). TPE is
    multivariate (it models the parameters jointly: Falkner et al. 2018, "BOHB", as Optuna implements it) with
    ``STARTUP_TRIALS`` random trials first; the median pruner judges no trial before ``STARTUP_TRIALS`` completed
    and, through ``PruneCallback``, none before its warmup ends."""
    optuna = optuna_module()
    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=STARTUP_TRIALS,
                                                          warn_independent_sampling=False),
                "random": lambda: optuna.samplers.RandomSampler(seed=seed)}
    pruners = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=0),
               "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1),
               "none": lambda: optuna.pruners.NopPruner()}
    try:
        return optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=samplers[sampler](),
                                   pruner=pruners[pruner](), load_if_exists=True)
    except ValueError as exc:
        raise ConfigError(f"The study '{name}' exists in the storage with another setup ({exc}). Choose another "
                          "tune.study_name.") from None


def budget_used(study: Any) -> int:
    """Trials that count against ``tune.trials``: completed, pruned, running and waiting (a killed trial's
    retry waits), over every worker."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    return len(study.get_trials(deepcopy=False, states=states))


def run_search(study: Any, objective: Callable[[Any], float], *, trials: int, time_budget: float | None,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run trials of ``study`` one at a time until the study holds ``trials`` (``budget_used``) or, with
    ``time_budget`` seconds, until the mean trial so far would not end in time. A trial that raises a
    ``JustfitError`` (a setting the model cannot take) is recorded as failed and the search goes on.
    Returns what this worker did: trials run and seconds, and why it stopped."""
    import warnings

    from optuna.storages import fail_stale_trials

    started = time.perf_counter()
    ran: list[float] = []
    stopped = ""
    while True:
        # A trial whose worker died no longer counts as running: it fails, and its retry waits (and counts).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its heartbeat functions experimental
            fail_stale_trials(study)
        if budget_used(study) >= trials:
            stopped = f"the study holds its {trials} trials"
            break
        elapsed = time.perf_counter() - started
        if time_budget is not None and ran and elapsed + sum(ran) / len(ran) > time_budget:
            stopped = f"another trial would not end within the time budget of {time_budget:g} s"
            break
        if time_budget is not None and elapsed >= time_budget:
            stopped = f"the time budget of {time_budget:g} s is used"
            break
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=1, catch=(JustfitError,), gc_after_trial=True)
        ran.append(time.perf_counter() - t0)
        if log:
            last = study.trials[-1] if study.trials else None
            if last is not None:
                log(trial_line(study, last))
    return {"trials_run": len(ran), "seconds": time.perf_counter() - started, "stopped": stopped}


def trial_line(study: Any, trial: Any) -> str:
    """One line on a finished trial: its number, state, value and parameters."""
    params = ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in trial.params.items())
    value = "" if trial.value is None else f" {trial.value:.4f}"
    try:
        best = f" (best {study.best_value:.4f})"
    except ValueError:
        best = ""
    where = f" at {trial.last_step % SCHEDULE_PARTS or SCHEDULE_PARTS}% of its schedule" \
        if trial.state.name == "PRUNED" and trial.last_step else ""
    return f"trial {trial.number}: {trial.state.name.lower()}{where}{value}{best}  {params}"


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# ------------------------------------------------------------------ results


def summary(study: Any, monitor: str, baseline: int | None) -> dict[str, Any]:
    """The study as plain data: trial counts by state, the best trial, the baseline trial (the config as
    given) and the parameter importances (when enough trials completed)."""
    import warnings

    from optuna.trial import TrialState

    counts = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,))) for s in TrialState}
    out: dict[str, Any] = {"study_name": study.study_name, "direction": study.direction.name.lower(),
                           "monitor": monitor, "trials": counts}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        out["best"] = {"number": best.number, "value": best.value, "params": best.params}
    base = next((t for t in complete if t.number == baseline), None)
    if base is not None:
        out["baseline"] = {"number": base.number, "value": base.value, "params": base.params}
    if len(complete) >= 2:
        optuna = optuna_module()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.suppress(RuntimeError, ValueError):
                out["importances"] = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    return out


def write_plots(study: Any, folder: Path) -> list[str]:
    """Optuna's matplotlib plots as SVG files in ``folder`` (optimisation history, parameter importances,
    parallel coordinates); returns the names written (a plot needs enough completed trials)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")

    optuna_module()
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as vis

    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    plots = {"optimization_history.svg": (vis.plot_optimization_history, 1),
             "param_importances.svg": (vis.plot_param_importances, 2),
             "parallel_coordinate.svg": (vis.plot_parallel_coordinate, 2)}
    written = []
    for name, (plot, needs) in plots.items():
        if complete < needs:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna marks its matplotlib backend experimental
            try:
                ax = plot(study)
            except (RuntimeError, ValueError):
                continue
        fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
        fig.set_size_inches(7, 4)
        atomic_write_text(folder / name, svg_text(fig))  # without the XML prolog: the report inlines it
        written.append(name)
    return written
