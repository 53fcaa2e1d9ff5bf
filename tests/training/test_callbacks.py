"""Callbacks: the hooks and their order, saved state that continues the same decisions, the time
budget as a callback, and decisions agreed across processes."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from justfit.config import TrainingConfig
from justfit.history import History
from justfit.tasks.text.task import TextClassificationTask
from justfit.training.callbacks import Callback, EarlyStopping, ProgressBar, TimeBudgetCallback, agree
from justfit.training.trainer import Trainer

# ---------------------------------------------------------------- a tiny fit


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from justfit.models.factory import build_tiny_random

    path = tmp_path_factory.mktemp("tiny") / "m"
    build_tiny_random(path, seed=0)
    return path


def _fit(path, callbacks=(), deadline=None, n=12, **kw):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
    task = TextClassificationTask(AutoTokenizer.from_pretrained(path), 32)
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("abcdefgh xyz"), size=rng.integers(3, 30))) for _ in range(n)]
    labels = [i % 3 for i in range(n)]
    cfg = TrainingConfig(**{"epochs": 2, "batch_size": 4, "grad_accum_steps": 2, "lr": 1e-2, "bf16": False,
                            "seed": 3, "train_eval_samples": 4, **kw})
    trainer = Trainer(task, cfg, list(callbacks), deadline=deadline)
    trainer.fit(model, task.encode(texts, labels), task.encode(texts[:6], labels[:6]))
    return trainer


class Recorder(Callback):
    def __init__(self, stop_at_step=None):
        self.calls: list[tuple] = []
        self.stop_at_step = stop_at_step

    def on_fit_begin(self, trainer):
        self.calls.append(("fit_begin",))

    def on_epoch_begin(self, trainer, epoch, steps):
        self.calls.append(("epoch_begin", epoch, steps))

    def on_batch_begin(self, trainer, step):
        self.calls.append(("batch_begin", step))

    def on_batch_end(self, trainer, step):
        self.calls.append(("batch_end", step))

    def on_step_end(self, trainer, global_step):
        assert global_step == trainer.global_step
        self.calls.append(("step_end", global_step))
        if global_step == self.stop_at_step:
            trainer.request_stop()

    def on_evaluate(self, trainer, record):
        # Evaluated, not yet in the history: a callback may still add to the record.
        assert "val_loss" in record and "seconds" in record and len(trainer.history) == record["epoch"] - 1
        self.calls.append(("evaluate", record["epoch"]))

    def on_epoch_end(self, trainer, record):
        assert trainer.history[-1] == record
        self.calls.append(("epoch_end", record["epoch"]))

    def on_fit_end(self, trainer):
        self.calls.append(("fit_end",))


def test_hooks_run_in_order(tiny_path):
    rec = Recorder()
    trainer = _fit(tiny_path, [rec])  # 12 rows, batches of 4, 2 per step: 3 micro-batches, 2 steps an epoch
    epoch = [("batch_begin", 1), ("batch_end", 1), ("batch_begin", 2), ("batch_end", 2), ("step_end", None),
             ("batch_begin", 3), ("batch_end", 3), ("step_end", None)]
    expected = [("fit_begin",)]
    step = 0
    for e in (1, 2):
        expected.append(("epoch_begin", e, 3))
        for call in epoch:
            if call[0] == "step_end":
                step += 1
                call = ("step_end", step)
            expected.append(call)
        expected += [("evaluate", e), ("epoch_end", e)]
    expected.append(("fit_end",))
    assert rec.calls == expected
    state = json.loads(json.dumps(trainer.state_dict()))
    assert state["epoch"] == 2 and state["global_step"] == 4
    # The epoch the sampler last shuffled for (accelerate's loader numbers its passes from 0).
    assert state["sampler_epoch"] == trainer.sampler.epoch
    assert [r["epoch"] for r in state["history"]] == [1, 2]
    assert state["callbacks"] == [{"class": "Recorder", "state": {}}]


def test_a_stop_request_ends_training_after_that_step(tiny_path):
    rec = Recorder(stop_at_step=3)
    trainer = _fit(tiny_path, [rec], epochs=5)
    assert trainer.global_step == 3 and len(trainer.history) == 2
    assert rec.calls[-4:] == [("step_end", 3), ("evaluate", 2), ("epoch_end", 2), ("fit_end",)]


# ---------------------------------------------------------------- state that continues the same decisions


class FakeTrainer:
    def __init__(self):
        self.history = History()
        self.should_stop = False
        self.model = None

    def request_stop(self):
        self.should_stop = True


def _replay(cb, trainer, values, start=1):
    for epoch, v in enumerate(values, start=start):
        rec = {"epoch": epoch, "val_loss": v}
        trainer.history.append(rec)
        cb.on_epoch_end(trainer, rec)
        if trainer.should_stop:
            break


@pytest.mark.parametrize(("kw", "values"), [
    ({"patience": 2}, [1.0, 0.8, 0.85, 0.82, 0.9, 0.7]),
    ({"patience": 3, "min_delta": 0.05}, [1.0, 0.97, 0.9, 0.88, 0.87, 0.86, 0.5]),
    ({"patience": 2}, [float("nan"), 1.0, float("inf"), 0.9, 0.95, 0.99]),
    ({"patience": 1, "stop": False}, [0.5, 0.6, 0.4, 0.45, 0.3]),
])
def test_early_stopping_state_continues_identically(kw, values):
    whole, t = EarlyStopping("val_loss", **kw), FakeTrainer()
    whole.on_fit_begin(t)
    _replay(whole, t, values)
    whole.on_fit_end(t)

    half = len(values) // 2
    first, t1 = EarlyStopping("val_loss", **kw), FakeTrainer()
    first.on_fit_begin(t1)
    _replay(first, t1, values[:half])
    saved = json.dumps(first.state_dict())
    resumed, t2 = EarlyStopping("val_loss", **kw), FakeTrainer()
    resumed.load_state_dict(json.loads(saved))
    resumed.on_fit_begin(t2)  # a loaded state survives the next fit's start
    t2.history = History(t1.history.records)
    if not t1.should_stop:
        _replay(resumed, t2, values[half:], start=half + 1)
    resumed.on_fit_end(t2)
    assert resumed.state_dict() == whole.state_dict()
    assert len(t2.history) == len(t.history)


def test_a_fresh_fit_starts_early_stopping_afresh():
    cb, t = EarlyStopping("val_loss", patience=1), FakeTrainer()
    cb.on_fit_begin(t)
    _replay(cb, t, [1.0, 2.0])
    cb.on_fit_begin(FakeTrainer())
    assert cb.state_dict() == EarlyStopping("val_loss").state_dict()


def test_progress_bar_has_no_state():
    bar = ProgressBar()
    assert json.loads(json.dumps(bar.state_dict())) == {}
    bar.load_state_dict({})


class _Rows:
    """What the budget's calibration reads of a validation set."""

    def __init__(self, lengths):
        self.lengths = np.asarray(lengths)

    def __len__(self):
        return len(self.lengths)

    def subset(self, idx):
        return _Rows(self.lengths[idx])


class BudgetTrainer(FakeTrainer):
    """The trainer surface the time budget uses, on a fake clock."""

    def __init__(self, now, planned=400, per_epoch=100):
        super().__init__()
        self.now = now
        self.cfg = TrainingConfig(batch_size=8, eval_batch_size=4)
        self.val_dataset, self.probe_dataset = _Rows(range(3, 23)), None
        self.planned_steps, self.steps_per_epoch = planned, per_epoch
        self.global_step, self.epoch = 0, 1
        self.plans: list[tuple[int, int]] = []

    def evaluate(self, dataset):
        self.now[0] += 0.01 * len(dataset)

    def train_mode(self):
        pass

    def replan_schedule(self, total):
        self.plans.append((self.global_step, total))


def _drive(cb, trainer, steps, seconds):
    """Optimisation steps ``steps`` (an iterable), each taking ``seconds(step)``; stops when asked."""
    for step in steps:
        cb.on_batch_begin(trainer, 1)
        trainer.now[0] += seconds(step)
        trainer.global_step = step
        trainer.epoch = (step - 1) // trainer.steps_per_epoch + 1
        cb.on_step_end(trainer, step)
        if trainer.should_stop:
            return step
    return None


def test_time_budget_state_continues_identically(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])

    def seconds(step):  # slower after a while: the plan is cut, then cut again
        return 0.5 if step < 60 else 0.9

    whole, t = TimeBudgetCallback(deadline=250.0), BudgetTrainer(now)
    whole.on_fit_begin(t)
    stop = _drive(whole, t, range(1, 401), seconds)
    assert stop is not None and t.plans and whole.planner.cut

    now[0] = 100.0
    first, t1 = TimeBudgetCallback(deadline=250.0), BudgetTrainer(now)
    first.on_fit_begin(t1)
    assert _drive(first, t1, range(1, 81), seconds) is None
    saved = json.dumps(first.state_dict())
    resumed, t2 = TimeBudgetCallback(deadline=250.0), BudgetTrainer(now)
    resumed.load_state_dict(json.loads(saved))
    resumed.on_fit_begin(t2)
    assert resumed.state_dict() == json.loads(saved)
    assert _drive(resumed, t2, range(81, 401), seconds) == stop
    assert t1.plans + t2.plans == t.plans
    record = {"epoch": t2.epoch}
    resumed.on_evaluate(t2, record)
    assert record["epoch_fraction"] == round((stop - (t2.epoch - 1) * 100) / 100, 3)


# ---------------------------------------------------------------- the time budget in a fit


def _fake_clock(monkeypatch, seconds_per_step=1.0):
    from justfit.training import step as step_mod

    now = [1000.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    finish = step_mod.StepAccumulator.finish

    def timed(self, *a, **kw):
        now[0] += seconds_per_step
        return finish(self, *a, **kw)

    monkeypatch.setattr(step_mod.StepAccumulator, "finish", timed)
    return now


def test_the_time_budget_cuts_a_fit_and_completes_the_schedule(tiny_path, monkeypatch):
    _fake_clock(monkeypatch)
    # 20 rows in steps of 4: 5 steps an epoch, 30 planned; about 14 s of steps fit.
    trainer = _fit(tiny_path, deadline=1015.0, n=20, epochs=6, grad_accum_steps=1, warmup_ratio=0.1)
    h = trainer.history
    steps = trainer.global_step
    assert steps < 30 and len(h) == -(-steps // 5)
    assert "epoch_fraction" in h[-1] and all("epoch_fraction" not in r for r in h.records[:-1])
    assert h[-1]["epoch_fraction"] == round((steps - (len(h) - 1) * 5) / 5, 3)
    assert trainer.budget_reason == (f"the time budget was reached in epoch {len(h)}: it allowed {steps} optimisation "
                                     f"steps ({steps / 5:.2f} epochs); the schedule was fitted to them")
    assert h[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    state = json.loads(json.dumps(trainer.state_dict()))
    planner = state["callbacks"][-1]["state"]["planner"]
    assert state["callbacks"][-1]["class"] == "TimeBudgetCallback" and planner["cut"] and planner["total"] == steps


def test_deadline_argument_is_the_time_budget_callback(tiny_path, monkeypatch):
    _fake_clock(monkeypatch)
    a = _fit(tiny_path, deadline=1012.0, n=20, epochs=6, grad_accum_steps=1)
    _fake_clock(monkeypatch)
    b = _fit(tiny_path, [TimeBudgetCallback(1012.0)], n=20, epochs=6, grad_accum_steps=1)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in a.history.records]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in b.history.records]
    assert a.budget_reason == b.budget_reason and a.global_step == b.global_step
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k


def test_without_a_deadline_there_is_no_budget(tiny_path):
    trainer = _fit(tiny_path)
    assert trainer.budget_reason == "" and all("epoch_fraction" not in r for r in trainer.history.records)
    assert not any(isinstance(cb, TimeBudgetCallback) for cb in trainer.callbacks)


# ---------------------------------------------------------------- decisions agreed across processes


class _Acc:
    def __init__(self, n):
        self.num_processes = n


class _Holder:
    def __init__(self, n):
        self.accelerator = _Acc(n)


def test_agree_returns_the_value_in_one_process():
    value = {"stop": True, "total": 12}
    assert agree(_Holder(1), value) is value
    assert agree(object(), value) is value  # before a fit: no accelerator yet


def test_agree_takes_the_main_process_value_with_several(monkeypatch):
    import accelerate.utils

    def broadcast(objects, from_process=0):  # what the main process holds arrives everywhere
        assert from_process == 0
        objects[0] = ("main", objects[0][1])
        return objects

    monkeypatch.setattr(accelerate.utils, "broadcast_object_list", broadcast)
    assert agree(_Holder(2), ("here", 3)) == ("main", 3)


def test_the_trainer_agrees_on_stopping(monkeypatch):
    seen = []

    def fake(trainer, value):
        seen.append(value)
        return True  # the main process says stop

    import justfit.training.trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "agree", fake)
    t = Trainer(None, TrainingConfig())
    assert t._stopping() and t.should_stop and seen == [False]
