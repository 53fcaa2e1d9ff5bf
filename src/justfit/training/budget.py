"""Fit training into a wall-clock budget: measure, then plan the steps that fit, and re-plan.

After a few calibration steps the seconds per optimisation step are known, and one batch of
validation rows is timed through the evaluation pass, so the cost of an epoch's evaluation
(validation set and training probe) is known too. If the planned steps and their evaluations do
not fit before the deadline, the plan is cut to the steps that do, and the learning-rate schedule
is rebuilt for the new total, so warmup and decay still complete (a schedule cut off half-way
would end at a high rate). The estimate is refined as training goes: the plan is redone every
few steps from the mean step time so far, which removes the noise of a short calibration (with
length-grouped batches the first steps may be unusually short or long texts; other processes
may slow the machine down or stop doing so). Each re-plan takes the slower of the mean step time
so far and that since the last re-plan, and between re-plans training stops early if one more
step and the epoch's evaluation would no longer fit. A re-plan may lengthen the plan again,
never past the configured epochs: the budget is an upper bound, and a plan that fits is not
stretched.

``TimeBudget`` is the planner (plain arithmetic on ``time.perf_counter``); the training loop uses
it through ``justfit.training.callbacks.TimeBudgetCallback``.
"""

from __future__ import annotations

import math
import time

MARGIN = 0.05  # share of the time left at calibration kept in reserve to the end
REPLANS = 20  # about how many times the plan is refined after calibration


class TimeBudget:
    """The plan of optimisation steps that fit before ``deadline`` (a ``time.perf_counter()`` value).

    Call ``start()`` before the first batch, ``after_step(step)`` after each optimisation step
    (it returns the new total when the plan changes) and ``done(step)`` to ask whether to stop.
    """

    def __init__(self, deadline: float, planned_steps: int, steps_per_epoch: int, eval_rows: int,
                 batch_size: int, calibration: int = 8) -> None:
        self.deadline = deadline
        self.planned = planned_steps  # the configured plan: never exceeded
        self.total = planned_steps
        self.steps_per_epoch = max(steps_per_epoch, 1)
        self.eval_rows = eval_rows
        self.batch_size = batch_size
        self.calibration = max(1, min(calibration, planned_steps // 10 or 1))
        self.t_first: float | None = None
        self.per_eval: float | None = None
        self.reserve = 0.0
        self.every = self.calibration
        self.last: tuple[int, float] | None = None  # (step, time) of the last (re)plan
        self.per_step = 0.0
        self.cut = False

    def start(self) -> None:
        if self.t_first is None:
            self.t_first = time.perf_counter()

    def calibrating(self, step: int) -> bool:
        return step == self.calibration and self.t_first is not None

    def replanning(self, step: int) -> bool:
        return self.per_eval is not None and step > self.calibration and step % self.every == 0 and step < self.total

    def after_step(self, step: int, eval_row_seconds: float | None = None) -> int | None:
        """Called after optimisation step ``step`` (with the measured seconds per evaluated row at the
        calibration step); returns the new total when the plan changes."""
        calibrating = self.calibrating(step)
        if not (calibrating or self.replanning(step)):
            return None
        now = time.perf_counter()
        per_step = (now - self.t_first) / step  # type: ignore[operator]
        if self.last is not None and step > self.last[0]:  # steps may have become slower lately
            per_step = max(per_step, (now - self.last[1]) / (step - self.last[0]))
        self.last, self.per_step = (step, now), per_step
        if calibrating:
            # Without a measurement: a forward pass costs about a third of a training step.
            per_row = eval_row_seconds if eval_row_seconds is not None else per_step / self.batch_size / 3
            self.per_eval = per_row * self.eval_rows
            # What the estimates miss (slower steps later, the final restore, the last batch).
            self.reserve = MARGIN * max(self.deadline - now, 0.0)
        left = self.deadline - now - self.reserve
        total = self.total
        for _ in range(3):  # the evaluations depend on the epochs the steps span
            evals = math.ceil(total / self.steps_per_epoch) - (step - 1) // self.steps_per_epoch
            total = step + max(0, math.floor((left - evals * self.per_eval) / per_step))  # type: ignore[operator]
        total = max(min(total, self.planned), step)
        if calibrating:
            self.every = max(self.calibration, math.ceil(total / REPLANS))
        if total == self.total:
            return None
        self.total, self.cut = total, total < self.planned
        return total

    def state_dict(self) -> dict[str, object]:
        """The plan, the timings and the time left, as plain data. Clock readings are stored as seconds
        before the deadline (a clock's zero is not the same in another process)."""
        def before(t: float | None) -> float | None:
            return None if t is None else self.deadline - t

        return {"planned": self.planned, "total": self.total, "steps_per_epoch": self.steps_per_epoch,
                "eval_rows": self.eval_rows, "batch_size": self.batch_size, "calibration": self.calibration,
                "per_step": self.per_step, "per_eval": self.per_eval, "reserve": self.reserve, "every": self.every,
                "cut": self.cut, "started_before_deadline": before(self.t_first),
                "last_plan": None if self.last is None else [self.last[0], before(self.last[1])],
                "seconds_left": self.deadline - time.perf_counter()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Take up a saved plan, placing its clock readings against this planner's deadline."""
        def at(before: object) -> float | None:
            return None if before is None else self.deadline - float(before)  # type: ignore[arg-type]

        for key in ("planned", "total", "steps_per_epoch", "eval_rows", "batch_size", "calibration", "per_step",
                    "per_eval", "reserve", "every", "cut"):
            setattr(self, key, state[key])
        self.t_first = at(state["started_before_deadline"])
        last = state["last_plan"]
        self.last = None if last is None else (int(last[0]), at(last[1]))  # type: ignore[index]

    def done(self, step: int) -> bool:
        if self.cut and step >= self.total:
            return True
        if self.per_eval is None or step >= self.total:
            return False
        # Between re-plans: stop now if one more step and this epoch's evaluation would not end in time.
        if time.perf_counter() + self.per_step + self.per_eval > self.deadline - self.reserve / 2:
            self.total, self.cut = step, True
            return True
        return False
