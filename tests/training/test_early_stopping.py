"""Early stopping, tested by replaying fixed metric sequences."""

import pytest
import torch

from justfit.errors import ConfigError
from justfit.history import History, available_metrics
from justfit.training import EarlyStopping


class FakeTrainer:
    """Just what callbacks see: a model, a history and the stop flag."""

    def __init__(self, model=None):
        self.model = model
        self.history = History()
        self.should_stop = False

    def request_stop(self):
        self.should_stop = True


def replay(cb: EarlyStopping, values, key="val_loss", model=None, weights=None):
    t = FakeTrainer(model)
    cb.on_fit_begin(t)
    for epoch, v in enumerate(values, start=1):
        if model is not None:
            with torch.no_grad():
                model.weight.fill_(weights[epoch - 1])
        rec = {"epoch": epoch, key: v}
        t.history.append(rec)
        cb.on_epoch_end(t, rec)
        if t.should_stop:
            break
    cb.on_fit_end(t)
    return t


def test_stops_after_patience_and_says_why():
    cb = EarlyStopping("val_loss", patience=2)
    t = replay(cb, [1.0, 0.8, 0.85, 0.9, 0.7, 0.6])
    assert len(t.history) == 4 and cb.stopped_epoch == 4
    assert cb.best_epoch == 2 and cb.best_value == 0.8
    assert "did not improve" in cb.reason and "epoch 2" in cb.reason


def test_max_mode_inferred_for_scores():
    cb = EarlyStopping("val_f1", patience=1)
    assert cb.mode == "max"  # the classification task's declared direction (a trainer without a task)
    replay(cb, [0.5, 0.7, 0.6, 0.65, 0.9], key="val_f1")
    assert cb.best_epoch == 2 and cb.stopped_epoch == 3


def test_min_delta_ignores_tiny_improvements():
    cb = EarlyStopping("val_loss", patience=1, min_delta=0.05)
    replay(cb, [1.0, 0.99, 0.98, 0.5])
    assert cb.best_epoch == 1 and cb.stopped_epoch == 2


def test_nan_never_counts_as_improvement():
    cb = EarlyStopping("val_loss", patience=5)
    replay(cb, [1.0, float("nan"), 0.9])
    assert cb.best_epoch == 3


def test_restores_best_weights_even_without_stopping():
    model = torch.nn.Linear(1, 1)
    cb = EarlyStopping("val_loss", patience=10)
    replay(cb, [0.9, 0.5, 0.7], model=model, weights=[1.0, 2.0, 3.0])
    assert cb.stopped_epoch is None
    assert model.weight.item() == 2.0
    assert "reached the last epoch (3)" in cb.reason and "restored the weights of epoch 2" in cb.reason


def test_restores_best_weights_after_stop():
    model = torch.nn.Linear(1, 1)
    cb = EarlyStopping("val_loss", patience=0)
    replay(cb, [0.5, 0.9, 0.1], model=model, weights=[7.0, 8.0, 9.0])
    assert model.weight.item() == 7.0


def test_tracking_only_runs_all_epochs():
    cb = EarlyStopping("val_loss", patience=0, stop=False)
    t = replay(cb, [0.5, 0.9, 1.0, 1.1])
    assert len(t.history) == 4 and cb.best_epoch == 1


def test_unknown_monitor_lists_available():
    cb = EarlyStopping("val_f2")
    with pytest.raises(ConfigError, match=r"Available: .*val_f1.*Did you mean"):
        cb.check(available_metrics())


def test_an_exact_tie_of_the_monitor_is_broken_by_the_validation_loss():
    # An entity F1 stuck at 0 while the model learns: the epoch with the lower validation loss is restored.
    from justfit.training.callbacks.early_stopping import EarlyStopping

    class T:
        model = None

        def request_stop(self):
            self.stopped = True

    es = EarlyStopping("val_f1", patience=2)
    es.on_fit_begin(T())
    t = T()
    for epoch, (f1, loss) in enumerate([(0.0, 0.9), (0.0, 0.5), (0.0, 0.7)], start=1):
        es.on_epoch_end(t, {"epoch": epoch, "val_f1": f1, "val_loss": loss})
    assert es.best_epoch == 2 and es.wait == 2 and getattr(t, "stopped", False)


def test_patience_does_not_end_training_while_the_model_still_predicts_the_majority_class():
    from types import SimpleNamespace

    from justfit.tasks.text.task import TextClassificationTask

    targets = [0] * 70 + [1] * 30  # majority share 0.7; one standard error 0.046

    def run(accuracies):
        t = FakeTrainer()
        t.task = SimpleNamespace(trivial=TextClassificationTask.trivial)
        t.val_dataset = SimpleNamespace(targets=lambda: targets)
        t.epochs = len(accuracies)
        cb = EarlyStopping("val_loss", patience=1)
        cb.on_fit_begin(t)
        for epoch, acc in enumerate(accuracies, start=1):
            rec = {"epoch": epoch, "val_loss": 0.6 + 0.01 * epoch, "val_accuracy": acc}  # the loss only rises
            t.history.append(rec)
            cb.on_epoch_end(t, rec)
            if t.should_stop:
                break
        cb.on_fit_end(t)
        return t, cb

    t, cb = run([0.70, 0.70, 0.72, 0.85, 0.86, 0.84, 0.83])  # majority class until epoch 3: no stop there
    # The first epoch past the majority class is the best, though its loss is higher than the trivial epochs'.
    assert cb.best_epoch == 4 and cb.stopped_epoch == 5
    t, cb = run([0.70, 0.70, 0.70])
    assert cb.stopped_epoch is None and len(t.history.records) == 3
    assert "no better than the trivial predictor, so training went on" in cb.reason
    t, cb = run([0.90, 0.85, 0.80])  # a model that has learnt stops as before
    assert cb.stopped_epoch == 2


def test_regression_and_tagging_have_their_own_trivial_predictor():
    from justfit.tasks.tagging.step import TokenClassificationStep
    from justfit.tasks.text.task import TextRegressionTask

    assert TextRegressionTask.trivial([], {"val_r2": -0.01}) and not TextRegressionTask.trivial([], {"val_r2": 0.2})
    assert TokenClassificationStep.trivial([], {"val_f1": 0.0}) and not TokenClassificationStep.trivial([], {"val_f1": 0.1})
