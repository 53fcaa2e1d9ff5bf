"""Every diagnosis rule states the size of effect it needs and is silent just below it; stop reasons say what
happened; `justfit check` judges the starting loss against chance with a stated tolerance."""

import math
from types import SimpleNamespace

import pytest
import torch

from justfit.diagnosis import RULES, Context, diagnose
from justfit.diagnosis.rules import LARGE_SPREAD, score_noise
from justfit.history import History
from justfit.training import EarlyStopping
from justfit.training.probe import START_MARGIN, overfit_one_batch, starting_loss

LN2, LN3 = math.log(2), math.log(3)


def recs(**series):
    """Records, one per epoch, from equal-length series: recs(train_loss=[...], val_loss=[...])."""
    n = len(next(iter(series.values())))
    return [{"epoch": i + 1, **{k: v[i] for k, v in series.items() if v[i] is not None}} for i in range(n)]


def run_rule(name, history, **ctx):
    return RULES.get(name)(Context(history=history, **ctx))


def fires(name, history, **ctx):
    f = run_rule(name, history, **ctx)
    if f is not None and f.severity != "info":
        assert {"effect", "needed", "seen", "threshold"} <= set(f.evidence), f.evidence
        assert "needed" in f.explanation or name in ("seed_spread", "class_imbalance", "label_noise", "duplicates",
                                                     "small_data")
    return f is not None and f.severity != "info"


# ---------------------------------------------------------------- the reported case


def test_a_tiny_val_loss_rise_at_near_perfect_accuracy_is_a_good_fit():
    """Validation loss 0.011 -> 0.015 while accuracy holds 0.9987 on 3,000 validation rows: noise, not overfitting."""
    h = recs(train_loss=[0.08, 0.02, 0.008, 0.004], val_loss=[0.03, 0.011, 0.013, 0.015],
             train_accuracy=[0.99, 0.998, 0.999, 1.0], val_accuracy=[0.996, 0.9987, 0.9987, 0.9987])
    d = diagnose(h, metrics={"majority_baseline_accuracy": 0.5}, n_classes=2, n_val=3000)
    assert d.verdict == "good fit", [(f.code, f.severity, f.evidence) for f in d.findings]
    assert not any(f.code in ("overfitting", "unstable", "lr_too_high", "diverged") for f in d.findings)
    # The same rise with the accuracy falling by more than two standard errors is overfitting.
    h[-1]["val_accuracy"] = 0.9987 - 2.01 * math.sqrt(0.9987 * 0.0013 / 3000)
    h[-1]["val_loss"] = 0.0125  # a rise of 13.6%, far below a tenth of ln 2: only the score can carry it
    d = diagnose(h, metrics={"majority_baseline_accuracy": 0.5}, n_classes=2, n_val=3000)
    f = next(f for f in d.findings if f.code == "overfitting")
    assert d.verdict == "overfitting" and f.evidence["effect"] == "fall of the validation accuracy"


# ---------------------------------------------------------------- overfitting


@pytest.mark.parametrize(("last", "expected"), [(0.30 + 0.1 * LN2 - 0.0005, False), (0.30 + 0.1 * LN2 + 0.0005, True)])
def test_overfitting_needs_a_tenth_of_chance_loss(last, expected):
    h = recs(train_loss=[0.6, 0.4, 0.3, 0.2], val_loss=[0.5, 0.30, 0.32, last], val_accuracy=[0.8, 0.85, 0.85, 0.85])
    assert fires("overfitting", h, n_classes=2) == expected
    d = diagnose(h, n_classes=2)
    assert (d.verdict == "overfitting") == expected and (d.verdict == "good fit") != expected
    if expected:
        f = next(f for f in d.findings if f.code == "overfitting")
        assert f.evidence["needed"] == pytest.approx(0.1 * LN2) and f.evidence["seen"] == pytest.approx(last - 0.30)


@pytest.mark.parametrize(("last_acc", "expected"), [(0.90 - 0.0185, False), (0.90 - 0.0195, True)])
def test_overfitting_by_a_score_drop_beyond_its_binomial_error(last_acc, expected):
    # 1,000 validation rows at 0.90: standard error 0.0095, two of them 0.0190. The loss rise (0.02) is below
    # a tenth of ln 2, so only the accuracy can make the finding.
    h = recs(train_loss=[0.6, 0.4, 0.3, 0.2], val_loss=[0.5, 0.30, 0.31, 0.32], val_accuracy=[0.85, 0.90, 0.89, last_acc])
    assert fires("overfitting", h, n_classes=2, n_val=1000) == expected
    assert not fires("overfitting", h, n_classes=2)  # the validation size unknown: the score's noise is unknown


@pytest.mark.parametrize(("last", "expected"), [(0.4 * 1.25 - 0.001, False), (0.4 * 1.25 + 0.001, True)])
def test_overfitting_without_classes_needs_a_quarter_of_the_best_loss(last, expected):
    h = recs(train_loss=[0.9, 0.6, 0.5, 0.4], val_loss=[0.6, 0.4, 0.45, last])
    assert fires("overfitting", h) == expected


@pytest.mark.parametrize(("last", "expected"), [(0.4 + 0.1 - 0.001, False), (0.4 + 0.1 + 0.001, True)])
def test_overfitting_from_the_validation_loss_alone(last, expected):
    # No training loss: the larger of a quarter of the best (0.1) and a tenth of ln 2 (0.069).
    h = recs(val_loss=[0.6, 0.4, 0.45, last])
    assert fires("overfitting", h, n_classes=2) == expected


# ---------------------------------------------------------------- growing gap, early best


@pytest.mark.parametrize(("val_last", "n_val", "expected"), [
    (0.851, None, False), (0.849, None, True),           # the fixed 0.1: gap 0.099 / 0.101
    (0.8, 50, True),                                     # 50 rows at 0.8: two errors are 0.113; a gap of 0.12
])
def test_growing_gap_needs_a_gap_beyond_the_fixed_share_and_the_noise(val_last, n_val, expected):
    train = [0.80, 0.95] if val_last != 0.8 else [0.80, 0.92]
    h = recs(train_accuracy=train, val_accuracy=[0.80, val_last])
    assert fires("growing_gap", h, n_val=n_val) == expected


def test_growing_gap_inside_a_small_validation_sets_noise_is_silent():
    h = recs(train_accuracy=[0.80, 0.91], val_accuracy=[0.80, 0.80])  # a gap of 0.11
    assert fires("growing_gap", h)                      # above the fixed 0.1 when the noise is unknown
    assert not fires("growing_gap", h, n_val=50)         # inside two standard errors (0.113) on 50 rows
    assert fires("growing_gap", h, n_val=5000)           # 5,000 rows: 0.011, the fixed 0.1 holds


def test_the_seed_spread_sets_the_noise_where_larger():
    spread = {"seed_spread": {"metrics": {"accuracy": {"mean": 0.8, "std": 0.06, "min": 0.7, "max": 0.9,
                                                       "values": [0.7, 0.8, 0.9]}}}}
    se, source = score_noise(Context(history=[], metrics=spread, n_val=5000), "val_accuracy", 0.8)
    assert se == 0.06 and "seed spread" in source
    h = recs(train_accuracy=[0.80, 0.91], val_accuracy=[0.80, 0.80])
    assert not fires("growing_gap", h, n_val=5000, metrics=spread)  # 0.11 < two seed stds (0.12)


@pytest.mark.parametrize(("last", "expected"), [(0.30 + 0.1 * LN2 - 0.0005, False), (0.30 + 0.1 * LN2 + 0.0005, True)])
def test_early_best_needs_the_later_evaluations_worse_by_a_loss_that_matters(last, expected):
    h = recs(val_loss=[0.5, 0.30, 0.32, 0.33, 0.34, last])
    assert fires("early_best", h, n_classes=2) == expected


# ---------------------------------------------------------------- underfitting, convergence, time budget


@pytest.mark.parametrize(("acc", "expected"), [(0.549, True), (0.551, False)])
def test_underfitting_at_the_majority_baseline(acc, expected):
    h = recs(train_loss=[0.7, 0.6], val_loss=[0.7, 0.6], train_accuracy=[0.5, acc], val_accuracy=[0.5, acc])
    assert fires("underfitting", h, metrics={"majority_baseline_accuracy": 0.5}) == expected


@pytest.mark.parametrize(("r2", "expected"), [(0.099, True), (0.101, False)])
def test_a_regression_no_better_than_the_mean_underfits(r2, expected):
    """R² below 0.1 on the training sample and at its best on validation: no better than predicting the mean."""
    h = recs(train_loss=[1.1, 1.0], val_loss=[1.1, 1.05], train_r2=[-0.05, r2], val_r2=[-0.1, r2 - 0.05])
    assert fires("underfitting", h) == expected
    # without the training sample's R², the best validation R² decides
    assert fires("underfitting", recs(train_loss=[1.1, 1.0], val_loss=[1.1, 1.05], val_r2=[-0.1, r2])) == expected
    # a classification history (no R²) is not judged by this branch
    assert not fires("underfitting", recs(train_loss=[0.7, 0.1], val_loss=[0.7, 0.2]))


def test_the_reported_regression_at_the_mean_is_not_a_good_fit():
    """Every prediction near the mean (test rmse 2.9209 against the baseline's 2.9193, R² -0.001)."""
    h = recs(train_loss=[1.2, 1.13], val_loss=[1.15, 1.125], train_r2=[-0.02, 0.003], val_r2=[-0.01, -0.001],
             val_rmse=[2.93, 2.921])
    d = diagnose(h, n_val=200)
    assert d.verdict == "underfitting" and d.findings[0].title.endswith("predicting the mean")


@pytest.mark.parametrize(("last", "expected"), [(0.9 * LN3 - 0.001, False), (0.9 * LN3 + 0.001, True)])
def test_underfitting_near_chance_loss(last, expected):
    h = recs(train_loss=[1.1, last], val_loss=[1.1, 1.0])
    assert fires("underfitting", h, n_classes=3) == expected


@pytest.mark.parametrize(("last", "n_classes", "expected"), [
    (0.5 - 0.01 * LN2 + 0.0001, 2, False), (0.5 - 0.01 * LN2 - 0.0001, 2, True),   # 1% of ln 2 (0.0069)
    (0.3 - 0.0049, None, False), (0.3 - 0.0051, None, True),                         # no classes: 0.005
    (0.011 - 0.001, 2, False),                                                        # 0.011 -> 0.010 is done
])
def test_not_converged_needs_a_last_gain_that_matters(last, n_classes, expected):
    first = 0.5 if n_classes and last > 0.1 else (0.3 if last > 0.1 else 0.011)
    h = recs(train_loss=[0.9, 0.7, 0.6], val_loss=[first + 0.1, first, last])
    assert fires("not_converged", h, n_classes=n_classes) == expected
    assert (diagnose(h, n_classes=n_classes).verdict == "not converged") == expected


@pytest.mark.parametrize(("last", "severity"), [(0.5 - 0.01 * LN2 + 0.0001, "info"), (0.5 - 0.01 * LN2 - 0.0001, "medium")])
def test_time_budget_asks_for_more_time_only_when_the_gain_matters(last, severity):
    h = recs(train_loss=[0.9, 0.7, 0.6], val_loss=[0.6, 0.5, last])
    h[-1]["epoch_fraction"] = 0.5
    f = run_rule("time_budget", h, n_classes=2)
    assert f.severity == severity and f.evidence["val_loss_at_its_best"] == (severity == "medium")


# ---------------------------------------------------------------- learning rate, instability, divergence


@pytest.mark.parametrize(("last", "expected"), [(0.631, True), (0.629, False)])
def test_lr_too_low_below_a_tenth_of_a_fall(last, expected):
    h = recs(train_loss=[0.70, 0.69, last], val_loss=[0.7, 0.69, 0.68])
    assert fires("lr_too_low", h, n_classes=2) == expected


@pytest.mark.parametrize(("level", "expected"), [(0.5 * LN2 + 0.001, True), (0.5 * LN2 - 0.001, False)])
def test_lr_too_low_only_while_the_loss_is_still_high(level, expected):
    h = recs(train_loss=[level, level, level])
    assert fires("lr_too_low", h, n_classes=2) == expected


@pytest.mark.parametrize(("second", "expected"), [(0.7 + 0.1 * LN2 - 0.0005, False), (0.7 + 0.1 * LN2 + 0.0005, True)])
def test_lr_too_high_needs_a_rise_that_matters(second, expected):
    h = recs(train_loss=[0.7, second, 0.7])
    assert fires("lr_too_high", h, n_classes=2) == expected


def test_a_tiny_early_training_loss_rise_is_not_a_learning_rate_too_high():
    h = recs(train_loss=[0.011, 0.015, 0.014])  # +36%, but 0.004 nats
    assert not fires("lr_too_high", h, n_classes=2)
    assert fires("lr_too_high", h)  # without a chance level only the relative 5% is known


@pytest.mark.parametrize(("jump", "expected"), [(0.1 * LN2 - 0.0005, False), (0.1 * LN2 + 0.0005, True)])
def test_unstable_needs_jumps_that_matter(jump, expected):
    lo = 0.2  # 25% of 0.2 is 0.05: the tenth of ln 2 (0.069) is the larger
    h = recs(val_loss=[0.5, lo, lo + jump, lo, lo + jump, lo])
    assert fires("unstable", h, n_classes=2) == expected


def test_a_loss_wobbling_near_zero_is_not_unstable():
    h = recs(val_loss=[0.011, 0.015, 0.011, 0.015, 0.011, 0.015])
    assert not fires("unstable", h, n_classes=2)
    assert fires("unstable", h)  # without classes the 25% jump alone counts


@pytest.mark.parametrize(("last", "expected"), [(0.299, False), (0.301, True)])
def test_diverged_needs_the_training_loss_half_again_above_its_start(last, expected):
    assert fires("diverged", recs(train_loss=[0.2, 0.15, last]), n_classes=2) == expected


def test_a_tiny_late_training_loss_rise_is_not_a_divergence():
    h = recs(train_loss=[0.002, 0.001, 0.004])
    assert not fires("diverged", h, n_classes=2)  # +100%, but 0.002 nats against 0.069


@pytest.mark.parametrize(("peak", "expected"), [(10 * LN2 - 0.01, False), (10 * LN2 + 0.01, True)])
def test_diverged_when_the_training_loss_explodes_past_ten_times_chance(peak, expected):
    assert fires("diverged", recs(train_loss=[6.0, peak, 6.0]), n_classes=2) == expected


def test_a_non_finite_loss_is_always_a_divergence():
    f = run_rule("diverged", recs(train_loss=[0.5, math.nan]), n_classes=2)
    assert f.severity == "high" and f.evidence["metric"] == "train_loss"


# ---------------------------------------------------------------- data and seeds


@pytest.mark.parametrize(("std", "severity"), [(LARGE_SPREAD - 0.001, "info"), (LARGE_SPREAD + 0.001, "medium")])
def test_seed_spread_is_large_above_its_share(std, severity):
    sp = {"seed_spread": {"seeds": [1, 2, 3], "metrics": {"accuracy": {"mean": 0.8, "std": std, "min": 0.78,
                                                                          "max": 0.82, "values": [0.78, 0.8, 0.82]}}}}
    f = run_rule("seed_spread", [], metrics=sp)
    assert f.severity == severity and f.evidence["needed"] == LARGE_SPREAD and f.evidence["seen"] == std


@pytest.mark.parametrize(("name", "ctx", "expected"), [
    ("class_imbalance", {"data": {"imbalance_ratio": 2.99}}, False),
    ("class_imbalance", {"data": {"imbalance_ratio": 3.0}}, True),
    ("label_noise", {"data": {"label_issues": 100, "label_audit_accuracy": 0.9}, "n_train": 1000}, False),
    ("label_noise", {"data": {"label_issues": 101, "label_audit_accuracy": 0.9}, "n_train": 1000}, True),
    ("duplicates", {"data": {"removed": {"exact_duplicate": 5}, "rows_in": 100}}, False),
    ("duplicates", {"data": {"removed": {"exact_duplicate": 6}, "rows_in": 100}}, True),
    ("small_data", {"n_train": 999, "n_params": 999 * 20_000}, False),
    ("small_data", {"n_train": 999, "n_params": 999 * 20_000 + 1000}, True),
])
def test_data_rules_just_below_and_above(name, ctx, expected):
    f = run_rule(name, [], **ctx)
    assert (f is not None) == expected
    if f is not None:
        assert f.evidence["seen"] > f.evidence["needed"] or f.evidence["seen"] == f.evidence["needed"] == 3.0


# ---------------------------------------------------------------- stop reasons


class Trainer:
    """What the early-stopping callback reads: a history, the planned epochs, a stop flag, the stage offset."""

    def __init__(self, epochs=None, epoch_offset=0):
        self.history, self.should_stop, self.model = History(), False, None
        if epochs is not None:
            self.epochs = epochs
        self.epoch_offset = epoch_offset

    def request_stop(self):
        self.should_stop = True


def replay(cb, values, trainer, stop_after=None):
    cb.on_fit_begin(trainer)
    for epoch, v in enumerate(values, start=1):
        rec = {"epoch": epoch, "val_loss": v}
        trainer.history.append(rec)
        cb.on_epoch_end(trainer, rec)
        if stop_after == epoch:
            trainer.request_stop()  # another callback (the time budget, a search's pruner) stops training
        if trainer.should_stop:
            break
    cb.on_fit_end(trainer)
    return cb.reason


def test_a_run_that_reaches_its_last_epoch_says_so_even_when_patience_ran_out_there():
    # Best at epoch 1, patience 2: the wait reaches 2 at epoch 3, the last planned epoch anyway.
    reason = replay(EarlyStopping("val_loss", patience=2), [0.5, 0.6, 0.7], Trainer(epochs=3))
    assert reason == "reached the last epoch (3); best val_loss 0.5 at epoch 1"
    assert "did not improve" not in reason


def test_an_early_stop_names_its_epoch_and_why():
    cb = EarlyStopping("val_loss", patience=2, min_delta=0.01)
    reason = replay(cb, [1.0, 0.8, 0.85, 0.9, 0.7], Trainer(epochs=10))
    assert reason == ("stopped early at epoch 4: val_loss did not improve by more than 0.01 for 2 epochs "
                      "(best 0.8 at epoch 2)") and cb.stopped_epoch == 4


def test_a_run_stopped_by_another_callback_does_not_claim_its_last_epoch():
    reason = replay(EarlyStopping("val_loss", patience=5), [1.0, 0.8], Trainer(epochs=6), stop_after=2)
    assert reason == "ended at epoch 2 of 6; best val_loss 0.8 at epoch 2"


def test_stop_reasons_number_epochs_across_a_recipes_stages():
    reason = replay(EarlyStopping("val_loss", patience=1), [0.5, 0.6, 0.7], Trainer(epochs=5, epoch_offset=3))
    assert reason == "stopped early at epoch 5: val_loss did not improve by more than 0 for 1 epoch (best 0.5 at epoch 4)"
    reason = replay(EarlyStopping("val_loss", patience=9), [0.5, 0.4], Trainer(epochs=2, epoch_offset=3))
    assert reason == "reached the last epoch (5); best val_loss 0.4 at epoch 5"


def test_the_time_budget_reason_names_the_budget_and_the_epoch():
    from justfit.training.callbacks.time_budget import TimeBudgetCallback

    cb = TimeBudgetCallback(deadline=0.0)
    cb.planner = SimpleNamespace(done=lambda step: True, total=12, cut=True)
    trainer = SimpleNamespace(global_step=12, steps_per_epoch=5, epoch=3, epoch_offset=2, budget_reason="",
                              cfg=SimpleNamespace(time_budget=60.0), request_stop=lambda: None)
    record = {"epoch": 3}
    cb.on_evaluate(trainer, record)
    assert trainer.budget_reason == ("the time budget of 60 s was reached in epoch 5: it allowed 12 optimisation "
                                     "steps (2.40 epochs); the schedule was fitted to them")
    assert record["epoch_fraction"] == 0.4


def test_a_fit_cut_by_the_time_budget_says_so_and_does_not_claim_its_last_epoch(tiny_model, monkeypatch):
    from tests.training.test_callbacks import _fake_clock, _fit

    _fake_clock(monkeypatch)  # one second per step: 5 steps an epoch, about 14 s of 30 planned steps fit
    stopper = EarlyStopping("val_loss", patience=50)
    trainer = _fit(tiny_model, [stopper], deadline=1015.0, n=20, epochs=6, grad_accum_steps=1)
    n = len(trainer.history)
    assert n < 6 and trainer.budget_reason.startswith(f"the time budget was reached in epoch {n}: it allowed ")
    assert stopper.reason.startswith(f"ended at epoch {n} of 6; best val_loss ") and "last epoch" not in stopper.reason


# ---------------------------------------------------------------- justfit check: the starting loss


@pytest.mark.parametrize(("first", "level"), [
    (LN2 + START_MARGIN - 0.005, "info"), (LN2 + START_MARGIN + 0.005, "fault"),
    (LN2 + 0.3, "info"),                    # above chance, within the tolerance: normal for some initialisations
    (math.nan, "fault"), (math.inf, "fault"),
])
def test_starting_loss_against_chance(first, level):
    got, text = starting_loss(first, 2)
    assert got == level and ("ln(2) = 0.693" in text or not math.isfinite(first))


def test_starting_loss_without_classes_is_information():
    assert starting_loss(25.0, None)[0] == "info"


class ToyTask:
    """Two classes from two features: one batch the probe can overfit."""

    def collate(self, rows):
        return {"x": torch.stack([r[0] for r in rows]), "labels": torch.stack([r[1] for r in rows])}

    def forward(self, model, batch):
        return {"loss": torch.nn.functional.cross_entropy(model(batch["x"]), batch["labels"])}


@pytest.mark.parametrize(("scale", "passed", "level"), [(0.0, True, "info"), (8.0, False, "fault")])
def test_the_probe_fails_only_a_start_far_above_chance(scale, passed, level):
    from justfit.config import TrainingConfig

    torch.manual_seed(0)
    y = torch.tensor([0, 1] * 8)
    x = torch.nn.functional.one_hot(y, 2).float()
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():  # scale > 0: confident and wrong (class 0's feature points at class 1, and back)
        model.weight.copy_(scale * torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        model.bias.zero_()
    data = [(x[i], y[i]) for i in range(len(y))]
    r = overfit_one_batch(model, ToyTask(), data, TrainingConfig(lr=0.1, weight_decay=0.0), steps=40, n_classes=2)
    assert r.passed == passed and r.start_level == level, r.reason
    assert r.last_loss < 0.5 * r.first_loss  # it overfits the batch either way: only the start differs


def test_justfit_check_states_the_starting_loss_rule(tiny_model, planted_csv, capsys):
    from justfit.cli.main import main

    assert main(["check", "--data", planted_csv, "--model", tiny_model, "--lr", "3e-3", "--set",
                 "training.bf16=false"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "info: the starting loss is" in out and "ln(2) = 0.693; a fault above 1.693" in out
    assert "sanity check passed" in out
