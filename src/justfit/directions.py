"""Which way is better for a recorded metric: the one source every ranking, selection, pruning and
"best" in justfit asks.

A metric's direction is never read off its name (``val_rmse`` contains no "loss" and is still lower
is better; a Keras ``val_mae`` likewise). It comes from the task that declares its epoch metrics
(``TaskKind.metric_directions``: ``{"loss": "min", "rmse": "min", "r2": "max", ...}``), recorded as
``val_<name>`` and ``train_<name>``; the training loss is a loss by definition. Early stopping,
``justfit tune`` (study direction, pruning, each trial's value), auto-fit's rounds, the seed spread's
median seed and the diagnosis' best epoch all call ``direction_of`` with the task's directions, and a
monitor without a declared direction is refused with one line listing the known ones.

Plain data only: no torch, no task registry (``tasks.base.task_directions`` looks a task up).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from justfit.errors import ConfigError, did_you_mean

Direction = Literal["min", "max"]

# Names an epoch record holds that have no better direction: a monitor of them is refused.
NOT_RANKABLE = ("lr", "epoch", "seconds", "step")


def recorded_directions(directions: Mapping[str, str], train_eval: bool = True) -> dict[str, Direction]:
    """The rankable names an epoch record holds, each with its better direction.

    ``directions`` are a task's epoch metrics (``{"loss": "min", "f1": "max"}``), recorded as ``val_<name>``
    and, with ``train_eval`` (a training sample evaluated each epoch), ``train_<name>`` (``train_eval_loss``
    for the loss). ``train_loss`` (the running training loss) is always there.

    Raises ``ValueError`` when a declared direction is neither ``"min"`` nor ``"max"`` (a task's bug).
    """
    for name, d in directions.items():
        if d not in ("min", "max"):
            raise ValueError(f"metric '{name}' declares direction {d!r}; a direction is 'min' or 'max'")
    names: dict[str, Direction] = {"train_loss": "min"}
    names |= {f"val_{m}": d for m, d in directions.items()}  # type: ignore[misc]
    if train_eval:
        names |= {f"train_{m}": d for m, d in directions.items() if m != "loss"}  # type: ignore[misc]
        names["train_eval_loss"] = "min"
    return names


def direction_of(monitor: str, directions: Mapping[str, str], mode: str = "auto") -> Direction:
    """The better direction of ``monitor`` (``"min"`` or ``"max"``), from ``directions``: the names an epoch
    record holds, each with its declared direction (``recorded_directions`` of the task's epoch metrics).

    ``mode`` is ``early_stopping.mode``: ``"auto"`` takes the declared direction; ``"min"``/``"max"``
    must agree with it.

    Raises ``ConfigError`` (one line) when ``monitor`` has no declared direction, listing the names that
    have one, or when ``mode`` contradicts the declared direction.
    """
    known = dict(directions)
    declared = known.get(monitor)
    if declared is None:
        why = "has no better direction" if monitor in NOT_RANKABLE else "is not a metric with a declared direction"
        raise ConfigError(f"The monitor '{monitor}' {why}. Monitor one of: {', '.join(sorted(known))}."
                          f"{did_you_mean(monitor, list(known)) if monitor not in NOT_RANKABLE else ''}")
    if mode not in ("auto", declared):
        if mode not in ("min", "max"):
            raise ConfigError(f"early_stopping.mode is {mode!r}; use 'auto', 'min' or 'max'.")
        raise ConfigError(f"early_stopping.mode is '{mode}', but {monitor} is better when "
                          f"{'lower' if declared == 'min' else 'higher'} ('{declared}'). Use mode 'auto' or '{declared}'.")
    return declared


def is_better(value: Any, best: Any, direction: Direction, min_delta: float = 0.0) -> bool:
    """Is ``value`` better than ``best`` by more than ``min_delta`` (same units as the metric)?
    A missing or NaN ``value`` is never better; any finite value beats a missing ``best``."""
    if not _finite(value):
        return False
    if not _finite(best):
        return True
    if direction == "min":
        return float(value) < float(best) - abs(min_delta)
    return float(value) > float(best) + abs(min_delta)


def best_value(values: Iterable[Any], direction: Direction) -> float | None:
    """The best finite value of ``values`` (the lowest for ``"min"``, the highest for ``"max"``), or ``None``."""
    vals = [float(v) for v in values if _finite(v)]
    if not vals:
        return None
    return min(vals) if direction == "min" else max(vals)


def oriented(value: float | None, direction: Direction) -> float:
    """``value`` on a scale where higher is better (negated for ``"min"``), for ranking mixed directions;
    ``-inf`` for a missing or non-finite value, so it ranks last."""
    if not _finite(value):
        return -math.inf
    return -float(value) if direction == "min" else float(value)


def _finite(v: Any) -> bool:
    if v is None or isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
