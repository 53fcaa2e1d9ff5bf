"""The time budget as a callback: the planner of ``justfit.training.budget`` driven by the hooks.

It starts the clock at the first batch, times one batch of the evaluation pass at the calibration
step, re-plans every few steps (the trainer rebuilds the learning-rate schedule for a new total,
``trainer.replan_schedule``), and asks the trainer to stop when the plan is used up or one more
step and the epoch's evaluation would not end in time. The epoch it ends gets ``epoch_fraction``
(the share of the epoch's steps that ran) and the trainer's ``budget_reason`` says what happened.

With ``extend_while_trivial`` (the last stage of a fit), the configured epochs are not the end while the
model is still no better than the trivial predictor (the majority class, the mean, no entity found: the step
task's ``trivial``) and the budget has room for another epoch and its evaluation: the trainer adds as many
epochs as fit, up to the configured number (``trainer.extend``: the schedule restarts over them), and again
after them while the model stays trivial; its ``extension_reason`` says so. A model that has not started to
learn the task gains nothing from the time left unused.

The plan and every stop are decided on the main process and agreed by all (``agree``): one
broadcast per optimisation step, in multi-process training only.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from justfit.training.budget import TimeBudget
from justfit.training.callbacks.base import Callback, agree


class TimeBudgetCallback(Callback):
    """Fit training and its evaluations before ``deadline``, a ``time.perf_counter()`` value."""

    def __init__(self, deadline: float, calibration: int = 8, extend_while_trivial: bool = False) -> None:
        self.deadline = deadline
        self.calibration = calibration
        self.extend_while_trivial = extend_while_trivial
        self.configured_epochs: int | None = None
        self.extended = 0
        self.planner: Any = None
        self._pending: dict[str, Any] | None = None

    def on_fit_begin(self, trainer: Any) -> None:

        cfg = trainer.cfg
        probe = trainer.probe_dataset
        eval_rows = len(trainer.val_dataset) + (len(probe) if probe is not None else 0)
        self.planner = TimeBudget(self.deadline, trainer.planned_steps, trainer.steps_per_epoch, eval_rows,
                                  cfg.batch_size * cfg.grad_accum_steps, calibration=self.calibration)
        if self._pending is not None:  # a resumed fit continues the saved plan
            self.planner.load_state_dict(self._pending)
            self._pending = None
        if self.configured_epochs is None:
            self.configured_epochs = cfg.epochs

    def on_batch_begin(self, trainer: Any, step: int) -> None:
        self.planner.start()

    def on_step_end(self, trainer: Any, global_step: int) -> None:
        p = self.planner
        row_seconds = self._time_evaluation(trainer) if p.calibrating(global_step) else None
        new_total = p.after_step(global_step, row_seconds)
        done = p.done(global_step)
        new_total, done, p.total, p.cut = agree(trainer, (new_total, done, p.total, p.cut))
        if new_total is not None:  # the schedule completes within the budget
            trainer.replan_schedule(new_total)
        if done:
            trainer.request_stop()

    def on_evaluate(self, trainer: Any, record: dict[str, Any]) -> None:
        p = self.planner
        step, per_epoch = trainer.global_step, trainer.steps_per_epoch
        done = p.done(step)
        done, p.total, p.cut = agree(trainer, (done, p.total, p.cut))
        if done:
            record["epoch_fraction"] = round((step - (trainer.epoch - 1) * per_epoch) / per_epoch, 3)
            seconds = getattr(trainer.cfg, "time_budget", None)
            budget = f"the time budget of {seconds:g} s" if seconds else "the time budget"
            epoch = trainer.epoch + getattr(trainer, "epoch_offset", 0)
            trainer.budget_reason = (f"{budget} was reached in epoch {epoch}: it allowed {step} optimisation steps "
                                     f"({step / per_epoch:.2f} epochs); the schedule was fitted to them")
            trainer.request_stop()

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        """After the last planned epoch, add epochs while the model is still trivial: as many as fit in the time
        left (the planner's measured seconds per step and per evaluation), at most the configured number."""
        p = self.planner
        if not self.extend_while_trivial or p is None or p.per_eval is None or trainer.epoch < trainer.epochs \
                or trainer.should_stop or record.get("diverged") or trainer.budget_reason:
            return
        per_epoch = p.per_step * trainer.steps_per_epoch + p.per_eval
        fit = math.floor((self.deadline - p.reserve - time.perf_counter()) / per_epoch) if per_epoch > 0 else 0
        # As many epochs as fit, up to as many as were configured: one warm restart of the schedule the user
        # chose (an epoch at a time, each would decay from a small rate to 0 within itself).
        more = max(0, min(fit, self.configured_epochs or 1))
        more, _ = agree(trainer, (more if more and trainer.task.trivial(trainer.val_dataset.targets(), record) else 0, None))
        if not more:
            return
        trainer.extend(more)
        p.planned = p.total = trainer.planned_steps
        p.cut = False
        self.extended += more
        trainer.extension_reason = (
            f"after the {self.configured_epochs} configured epoch{'s' if self.configured_epochs != 1 else ''} the "
            "model was no better than the trivial predictor, so the time budget gave it "
            f"{self.extended} more")

    def _time_evaluation(self, trainer: Any) -> float:
        """Seconds per row of the evaluation pass, on one batch of validation rows of about the mean
        length (the pass batches rows of similar length, and its cost grows with the tokens it
        processes). The time this takes is not counted as training time."""
        t_eval = time.perf_counter()
        val, size = trainer.val_dataset, trainer.cfg.eval_batch_size
        by_length = np.argsort(val.lengths, kind="stable")
        at_mean = int(np.searchsorted(np.sort(val.lengths), np.mean(val.lengths)))
        lo = max(0, min(at_mean - size // 2, len(val) - size))
        sample = val.subset(by_length[lo:lo + size].tolist())
        trainer.evaluate(sample)  # the first pass of a new shape pays one-off setup costs
        t_warm = time.perf_counter()
        trainer.evaluate(sample)
        trainer.train_mode()
        row_seconds = (time.perf_counter() - t_warm) / len(sample)
        self.planner.t_first += time.perf_counter() - t_eval
        return row_seconds

    def state_dict(self) -> dict[str, Any]:
        """The plan, its timings and the time left (``TimeBudget.state_dict``); empty before a fit."""
        return {"planner": None if self.planner is None else self.planner.state_dict(),
                "configured_epochs": self.configured_epochs, "extended": self.extended}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take up a saved plan, its clock readings placed against this callback's deadline: now, if
        a fit has begun, else when the next one begins (``on_fit_begin`` builds the planner)."""
        saved = state.get("planner")
        self.configured_epochs = state.get("configured_epochs", self.configured_epochs)
        self.extended = int(state.get("extended") or 0)
        if saved is not None and self.planner is not None:
            self.planner.load_state_dict(saved)
        else:
            self._pending = saved
