"""Early stopping on any recorded metric; the best weights are restored at the end, always."""

from __future__ import annotations

import math
from typing import Any, Literal

from justfit.errors import ConfigError, did_you_mean
from justfit.training.callbacks.base import Callback


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``stop=False`` it only tracks and restores the best epoch (training runs all epochs).
    After training, ``best_epoch``, ``best_value`` and ``reason`` say what happened and why.
    """

    def __init__(self, monitor: str = "val_loss", mode: Literal["auto", "min", "max"] = "auto",
                 patience: int = 2, min_delta: float = 0.0, stop: bool = True, restore_best: bool = True) -> None:
        self.monitor = monitor
        self.mode = ("min" if "loss" in monitor else "max") if mode == "auto" else mode
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.stop = stop
        self.restore_best = restore_best
        self.reset()

    def reset(self) -> None:
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.reason = ""
        self._best_state: dict[str, Any] | None = None

    def check(self, metric_names: list[str]) -> None:
        if self.monitor not in metric_names:
            raise ConfigError(
                f"Early stopping monitors '{self.monitor}', which training does not record. "
                f"Available: {', '.join(metric_names)}.{did_you_mean(self.monitor, metric_names)}"
            )

    def improved(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def on_train_begin(self, trainer: Any) -> None:
        self.reset()

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.monitor not in record:
            self.check(list(record))
        value = record[self.monitor]
        epoch = record["epoch"]
        if self.improved(value):
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best and getattr(trainer, "model", None) is not None:
                self._best_state = snapshot(trainer.model)
            return
        self.wait += 1
        if self.stop and self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            best = f"best {self.best_value:.4g} at epoch {self.best_epoch}" if self.best_value is not None \
                else "it was never a number"
            self.reason = f"{self.monitor} did not improve by more than {self.min_delta:g} for {self.wait} epochs ({best})"
            trainer.should_stop = True

    def on_train_end(self, trainer: Any) -> None:
        if not self.reason:
            last = trainer.history[-1]["epoch"] if len(getattr(trainer, "history", [])) else 0
            best = f"best {self.monitor} {self.best_value:.4g} at epoch {self.best_epoch}" if self.best_value is not None \
                else f"{self.monitor} was never a number"
            self.reason = f"reached the last epoch ({last}); {best}"
        if self.restore_best and self._best_state is not None and getattr(trainer, "model", None) is not None:
            restore(trainer.model, self._best_state)
            self.reason += f"; restored the weights of epoch {self.best_epoch}"
        self._best_state = None


def snapshot(model: Any) -> dict[str, Any]:
    """A CPU copy of what training changes: trainable parameters and buffers (frozen weights are skipped)."""
    keep = {n for n, p in model.named_parameters() if p.requires_grad}
    keep |= {n for n, _ in model.named_buffers()}
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items() if k in keep}


def restore(model: Any, state: dict[str, Any]) -> None:
    model.load_state_dict(state, strict=False)
