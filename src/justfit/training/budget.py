"""Fit training into a wall-clock budget: measure, then plan the steps that fit.

After a few calibration steps the seconds per optimisation step are known, and one batch of
validation rows is timed through the evaluation pass, so the cost of an epoch's evaluation
(validation set and training probe) is known too. If the planned steps and their evaluations do not fit
before the deadline, the plan is cut to the steps that do, and the learning-rate schedule is
rebuilt for the new total, so warmup and decay still complete (a schedule cut off half-way
would end at a high rate). The budget is an upper bound: a plan that fits is not stretched.
"""

from __future__ import annotations

import math
import time

MARGIN = 0.05  # share of the remaining time kept in reserve


class TimeBudget:
    def __init__(self, deadline: float, planned_steps: int, steps_per_epoch: int, eval_rows: int,
                 batch_size: int, calibration: int = 8) -> None:
        self.deadline = deadline
        self.total = planned_steps
        self.steps_per_epoch = max(steps_per_epoch, 1)
        self.eval_rows = eval_rows
        self.batch_size = batch_size
        self.calibration = max(1, min(calibration, planned_steps // 10 or 1))
        self.t_first: float | None = None
        self.cut = False

    def start(self) -> None:
        if self.t_first is None:
            self.t_first = time.perf_counter()

    def calibrating(self, step: int) -> bool:
        return step == self.calibration and self.t_first is not None

    def after_step(self, step: int, eval_row_seconds: float | None = None) -> int | None:
        """Called after optimisation step ``step`` with the measured seconds per evaluated row (at the
        calibration step); returns a new total when the plan must shrink."""
        if not self.calibrating(step):
            return None
        now = time.perf_counter()
        per_step = (now - self.t_first) / step  # type: ignore[operator]
        # Without a measurement: a forward pass costs about a third of a training step.
        per_row = eval_row_seconds if eval_row_seconds is not None else per_step / self.batch_size / 3
        per_eval = per_row * self.eval_rows
        total = self.total
        # A margin for what the estimates miss (slower steps later, the final restore, the last batch).
        left = (self.deadline - now) * (1 - MARGIN)
        for _ in range(3):  # the evaluations depend on the epochs the steps span
            evals = math.ceil(total / self.steps_per_epoch)
            total = step + max(0, math.floor((left - evals * per_eval) / per_step))
        if total < self.total:
            self.total, self.cut = max(total, step), True
            return self.total
        return None

    def done(self, step: int) -> bool:
        return self.cut and step >= self.total
