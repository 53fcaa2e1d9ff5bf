"""A metric's better direction comes from the task that declares it, never from its name: every place that
ranks, selects, prunes or reports "best" asks ``justfit.directions`` through ``checks.monitor_direction``."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

import justfit.tasks  # noqa: F401  (registers the built-in tasks)
from justfit.checks import check_settings, monitor_direction, recorded
from justfit.config import JustfitConfig
from justfit.directions import best_value, direction_of, is_better, oriented, recorded_directions
from justfit.errors import ConfigError
from justfit.tasks.base import TASKS, task_directions
from justfit.training.callbacks.early_stopping import EarlyStopping
from justfit.tuning.autofit import monitor_value, selection_score


def _every_task_monitor():
    for name in TASKS.names():
        for monitor, direction in recorded_directions(task_directions(name)).items():
            yield name, monitor, direction


def _history(monitor: str, values: list[float]) -> list[dict]:
    return [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), monitor: v} for i, v in enumerate(values)]


CASES = list(_every_task_monitor())


def test_every_registered_task_declares_a_direction_for_each_epoch_metric():
    assert {n for n, _, _ in CASES} == set(TASKS.names()) and len(TASKS.names()) >= 5
    for name in TASKS.names():
        assert task_directions(name), name
        assert set(task_directions(name).values()) <= {"min", "max"}
    assert task_directions("regression")["rmse"] == "min" and task_directions("regression")["r2"] == "max"


@pytest.mark.parametrize(("task", "monitor", "declared"), CASES, ids=[f"{t}:{m}" for t, m, _ in CASES])
def test_each_place_that_ranks_takes_the_declared_direction(task, monitor, declared):
    cfg = JustfitConfig.from_dict({"task": task, "early_stopping": {"monitor": monitor}})
    assert monitor_direction(cfg) == declared
    # early stopping, as the trainer checks it
    es = EarlyStopping(monitor)
    es.check(recorded(cfg, task))
    assert es.mode == declared
    # the best epoch of a history where the values are worst-first for this direction
    values = [0.9, 0.5, 0.1, 0.3] if declared == "min" else [0.1, 0.5, 0.9, 0.3]
    score = selection_score(_history(monitor, values), monitor, declared)
    assert monitor_value(score, declared) == (0.1 if declared == "min" else 0.9)
    # justfit tune: the study's direction and each trial's value
    from justfit.tuning.tune import lower_is_better

    assert lower_is_better(cfg) is (declared == "min")
    # the diagnosis' best epoch follows the monitor as early stopping did
    from justfit.diagnosis.rules import Context

    ctx = Context(history=_history(monitor, values), monitor=monitor, directions=recorded(cfg, task))
    if monitor in ("train_loss",):  # not a validation value: the diagnosis reads evaluations
        return
    assert ctx.best_epoch() == 3


def test_regression_monitored_on_rmse_gets_a_minimizing_study_and_its_best_epoch():
    """The reported case: val_rmse contains no 'loss' and is still lower is better."""
    optuna = pytest.importorskip("optuna")
    from justfit.tuning.tune import _study

    cfg = JustfitConfig.from_dict({"task": "regression", "early_stopping": {"monitor": "val_rmse"}})
    study, _ = _study(cfg, optuna.storages.InMemoryStorage(), "rmse", shared=False)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    hist = _history("val_rmse", [3.0, 1.0, 2.0, 4.0])
    assert monitor_value(selection_score(hist, "val_rmse", "min"), "min") == 1.0  # not 4.0, its worst epoch


def test_an_unknown_monitor_and_lr_are_refused_with_the_known_names():
    names = recorded_directions({"loss": "min", "rmse": "min", "r2": "max"})
    with pytest.raises(ConfigError, match=r"val_rmsee.*Monitor one of: .*val_rmse.*Did you mean 'val_rmse'"):
        direction_of("val_rmsee", names)
    with pytest.raises(ConfigError, match="'lr' has no better direction"):
        direction_of("lr", names)
    cfg = JustfitConfig.from_dict({"task": "regression", "early_stopping": {"monitor": "lr"}})
    with pytest.raises(ConfigError, match="'lr' has no better direction. Monitor one of: .*val_rmse"):
        check_settings(cfg)
    with pytest.raises(ConfigError, match="not known yet"):
        monitor_direction(JustfitConfig.from_dict({"early_stopping": {"monitor": "val_rmse"}}))


@pytest.mark.parametrize(("task", "monitor", "mode"), [("regression", "val_rmse", "max"),
                                                        ("regression", "val_r2", "min"),
                                                        ("classification", "val_loss", "max"),
                                                        ("token-classification", "val_f1", "min")])
def test_a_mode_that_contradicts_the_declared_direction_is_refused(task, monitor, mode):
    cfg = JustfitConfig.from_dict({"task": task, "early_stopping": {"monitor": monitor, "mode": mode}})
    with pytest.raises(ConfigError, match=rf"mode is '{mode}', but {monitor} is better when"):
        check_settings(cfg)
    with pytest.raises(ConfigError, match="better when"):
        monitor_direction(cfg)


def test_a_mode_that_agrees_is_accepted():
    cfg = JustfitConfig.from_dict({"task": "regression", "early_stopping": {"monitor": "val_rmse", "mode": "min"}})
    check_settings(cfg)
    assert monitor_direction(cfg) == "min"


def test_comparisons_and_orientation():
    assert is_better(0.1, 0.2, "min") and not is_better(0.1, 0.2, "max")
    assert not is_better(0.19, 0.2, "min", min_delta=0.05)
    assert is_better(0.0, None, "max") and not is_better(float("nan"), 0.2, "min") and not is_better(None, 1, "max")
    assert best_value([3, None, float("nan"), 1, 2], "min") == 1 and best_value([3, 1, 2], "max") == 3
    assert best_value([None, float("inf")], "min") is None
    assert oriented(2.0, "min") == -2.0 and oriented(2.0, "max") == 2.0 and oriented(None, "max") == -math.inf
    # a negative r2 stays negative on the monitor's scale (the auto-fit log printed its absolute value)
    assert monitor_value(selection_score(_history("val_r2", [-0.5, -0.2]), "val_r2", "max"), "max") == -0.2


def test_auto_fit_keeps_the_round_with_the_lowest_rmse():
    from justfit.tuning.autofit import auto_fit

    rounds = iter([[2.0, 1.5, 1.2, 1.6], [2.0, 0.9, 0.8, 1.2]])

    def fit_round(cfg):
        vals = next(rounds)
        hist = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "val_loss": v * v, "val_rmse": v}
                for i, v in enumerate(vals)]
        return SimpleNamespace(best_epoch_=3, name=len(vals)), hist, {"n_classes": None}

    cfg = JustfitConfig.from_dict({"task": "regression", "early_stopping": {"monitor": "val_rmse"}})
    _, _, result = auto_fit(fit_round, cfg, rounds=2)
    # Each round scored by its best epoch (not its worst), on the monitor's own scale; the lowest rmse is kept.
    assert [r.score for r in result.rounds] == [1.2, 0.8]
    assert result.chosen == 2 and result.to_dict()["direction"] == "min"


def test_early_stopping_given_directions_stops_on_a_rising_rmse():
    names = recorded_directions(task_directions("regression"))
    cb = EarlyStopping("val_rmse", patience=1, directions=names)
    assert cb.mode == "min"
    assert cb.improved(2.0)
    cb.best_value = 2.0
    assert cb.improved(1.0) and not cb.improved(3.0)


def test_seed_spread_keeps_the_median_seed_by_the_declared_direction():
    from justfit.seeds import median_index

    # rmse of three seeds: 0.9 (worst), 0.5, 0.1 (best): the median is 0.5 whichever way it is oriented
    vals = [0.9, 0.1, 0.5]
    scores = [selection_score(_history("val_rmse", [v]), "val_rmse", "min") for v in vals]
    assert vals[median_index(scores)] == 0.5
    # four seeds: the lower middle by quality (0.5 rmse), never the luckier one (0.3)
    vals = [0.9, 0.3, 0.5, 0.1]
    scores = [selection_score(_history("val_rmse", [v]), "val_rmse", "min") for v in vals]
    assert vals[median_index(scores)] == 0.5


def test_a_misspelt_monitor_before_the_task_is_known_is_matched_against_every_tasks_names():
    cfg = JustfitConfig.from_dict({"early_stopping": {"monitor": "val_rsme"}})
    with pytest.raises(ConfigError, match=r"Monitor one of: .*val_rmse.*Did you mean 'val_rmse'"):
        check_settings(cfg)
    with pytest.raises(ConfigError, match=r"'lr' has no better direction.*val_r2"):
        check_settings(JustfitConfig.from_dict({"early_stopping": {"monitor": "lr"}}))
    with pytest.raises(ConfigError, match="mode is 'max', but val_loss is better when lower"):
        check_settings(JustfitConfig.from_dict({"early_stopping": {"monitor": "val_loss", "mode": "max"}}))
    check_settings(JustfitConfig.from_dict({"early_stopping": {"monitor": "val_rmse"}}))  # regression's: accepted


def test_auto_fit_trains_each_round_within_what_is_left_of_its_time_budget():
    """A round that starts inside the auto-fit's budget ends inside it: its training.time_budget is what is left
    (the planner fits its schedule to it), and a shorter budget of the run's own is kept."""
    import time

    from justfit.tuning.autofit import auto_fit, within_budget

    budgets = []

    def fit_round(cfg):
        budgets.append(cfg.training.time_budget)
        time.sleep(0.3)
        vals = [2.0, 1.5, 1.2, 1.6]  # overfitting after its third epoch: a remedy to try
        hist = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "val_loss": v * v, "val_rmse": v}
                for i, v in enumerate(vals)]
        return SimpleNamespace(best_epoch_=3), hist, {"n_classes": None}

    cfg = JustfitConfig.from_dict({"task": "regression", "early_stopping": {"monitor": "val_rmse"}})
    result = auto_fit(fit_round, cfg, rounds=2, time_budget=100)[2]
    assert len(budgets) == 2, result.stopped
    assert result.to_dict()["outcome"].startswith("no remedy improved")  # both rounds scored alike
    assert 99 <= budgets[0] <= 100 and budgets[1] <= budgets[0] - 0.3, budgets
    own = cfg.updated({"training.time_budget": 5.0})
    assert within_budget(own, 100, 10).training.time_budget == 5.0
    assert within_budget(own, 100, 98).training.time_budget == 2.0
    assert within_budget(cfg, None, 10) is cfg and within_budget(cfg, 10, 20).training.time_budget == 1.0


def test_auto_fit_says_whether_its_remedies_improved_beyond_the_seed_spread():
    from justfit.tuning.autofit import AutoFitResult, Round, outcome

    def result(chosen, second, std=None, monitor="val_f1"):
        rounds = [Round(1, {}, "as given", "", 0.70, 3, "overfitting", 10.0, std),
                  Round(2, {"model.dropout": 0.2}, "more dropout", "overfitting", second, 3, "good fit", 10.0, std)]
        return AutoFitResult(rounds=rounds, chosen=chosen, monitor=monitor, direction="max")

    assert outcome(result(1, 0.65)).startswith("no remedy improved on the configuration as given")
    alone = AutoFitResult(rounds=result(1, 0.6).rounds[:1], chosen=1, stopped="the next round would exceed the budget")
    assert outcome(alone) == "only round 1 ran (the next round would exceed the budget): no remedy was tried"
    assert "was not measured" in outcome(result(2, 0.74)) and "from 0.7 to 0.74" in outcome(result(2, 0.74))
    assert "within the seed spread (0.05): no better" in outcome(result(2, 0.74, std=0.05))
    assert outcome(result(2, 0.74, std=0.01)).endswith("beyond the seed spread (0.01)")
    # a monitor where lower is better: the gain is the fall
    low = AutoFitResult(rounds=[Round(1, {}, "", "", 0.9, 1, "", 1.0, 0.01), Round(2, {}, "", "", 0.5, 1, "", 1.0, 0.01)],
                        chosen=2, monitor="val_loss", direction="min")
    assert outcome(low).endswith("beyond the seed spread (0.01)") and "from 0.9 to 0.5" in outcome(low)
