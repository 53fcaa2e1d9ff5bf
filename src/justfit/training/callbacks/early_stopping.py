"""Early stopping on any recorded metric; the best weights are restored at the end, always."""

from __future__ import annotations

import math
from typing import Any, Literal

from justfit.directions import NOT_RANKABLE, direction_of, is_better
from justfit.errors import ConfigError, did_you_mean
from justfit.training.callbacks.base import Callback, agree


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``stop=False`` it only tracks and restores the best epoch (training runs all epochs).
    After training, ``best_epoch``, ``best_value`` and ``reason`` say what happened and why.

    Whether an epoch improved is decided on the main process and agreed by all (``agree``), so
    every process keeps the same best epoch and stops at the same epoch.

    ``state_dict()`` holds the best value and epoch, the epochs waited, the stop epoch and the
    reason; the best epoch's weights stay in memory (a CPU copy of what training changes) and are
    not part of it: ``tensors()`` gives them to a checkpoint, ``load_tensors`` takes them back. A callback given a state by
    ``load_state_dict`` keeps it through the next ``on_fit_begin`` (a resumed fit) instead of
    starting afresh.
    """

    def __init__(self, monitor: str = "val_loss", mode: Literal["auto", "min", "max"] = "auto",
                 patience: int = 2, min_delta: float = 0.0, stop: bool = True, restore_best: bool = True,
                 directions: dict[str, str] | None = None) -> None:
        self.monitor = monitor
        self._requested_mode = mode
        # The direction is the task's (``justfit.directions``), never guessed from the monitor's name: it is
        # resolved from ``directions`` (the recorded names with their declared directions) here when given,
        # else by ``check`` (the trainer passes its task's names), else from the default task's metrics.
        self.mode: str | None = None
        if directions is not None:
            self.mode = direction_of(monitor, directions, mode)
        else:
            from justfit.history import available_metrics

            defaults = available_metrics()
            if monitor in defaults:
                self.mode = direction_of(monitor, defaults, mode)
            elif mode != "auto":
                self.mode = mode
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.stop = stop
        self.restore_best = restore_best
        self._loaded = False
        self.reset()

    def reset(self) -> None:
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.reason = ""
        self.best_loss: float | None = None  # the best epoch's val_loss (breaks exact ties of the monitor)
        self._best_state: dict[str, Any] | None = None
        self.kept_going: int | None = None  # the last epoch patience ran out while the model was still trivial
        self.best_trivial = True  # is the best epoch so far no better than the trivial predictor (none yet: True)

    def check(self, metric_names: Any) -> None:
        """Refuse a monitor training does not record. ``metric_names`` maps each recorded name to its
        better direction (``"min"``/``"max"``): with ``mode="auto"`` the monitor's direction is the task's."""
        if self.monitor in NOT_RANKABLE:  # recorded, but neither higher nor lower is better
            direction_of(self.monitor, dict.fromkeys(metric_names, "max") if not isinstance(metric_names, dict)
                         else metric_names)
        if self.monitor not in metric_names:
            raise ConfigError(
                f"Early stopping monitors '{self.monitor}', which training does not record. "
                f"Available: {', '.join(metric_names)}.{did_you_mean(self.monitor, list(metric_names))}"
            )
        if isinstance(metric_names, dict):
            self.mode = direction_of(self.monitor, metric_names, self._requested_mode)

    def improved(self, value: float) -> bool:
        if self.mode is None:
            raise ConfigError(f"Early stopping does not know which way {self.monitor} is better: give the task's "
                              "metric directions (check() or directions=).")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return is_better(value, self.best_value, self.mode, self.min_delta)  # type: ignore[arg-type]

    def tie_broken_by_loss(self, value: Any, loss: Any) -> bool:
        """Does ``value`` tie the best exactly, with a lower validation loss than the best epoch's?"""
        if self.monitor == "val_loss" or self.best_value is None or value != self.best_value:
            return False
        best = self.best_loss
        return isinstance(loss, int | float) and isinstance(best, int | float) and math.isfinite(loss) and loss < best

    def state_dict(self) -> dict[str, Any]:
        return {"best_value": None if self.best_value is None else float(self.best_value),
                "best_epoch": self.best_epoch, "wait": self.wait, "stopped_epoch": self.stopped_epoch,
                "reason": self.reason, "best_loss": self.best_loss, "best_trivial": self.best_trivial,
                "kept_going": self.kept_going}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reset()
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.wait, self.stopped_epoch, self.reason = state["wait"], state["stopped_epoch"], state["reason"]
        self.best_loss = state.get("best_loss")
        self.best_trivial = bool(state.get("best_trivial", True))
        self.kept_going = state.get("kept_going")
        self._loaded = True

    def tensors(self) -> dict[str, Any]:
        return dict(self._best_state or {})

    def load_tensors(self, tensors: dict[str, Any]) -> None:
        self._best_state = dict(tensors) or None

    def on_fit_begin(self, trainer: Any) -> None:
        if not self._loaded:
            self.reset()
        self._loaded = False

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.monitor not in record:
            self.check(list(record))
        value = record[self.monitor]
        epoch = record["epoch"]
        trivial = self._still_trivial(trainer, record)
        # An epoch no better than the trivial predictor (the majority class) is never preferred to one that has
        # left it, whatever the monitor says (its loss may be lower: a prior is well calibrated), and vice versa.
        if trivial == self.best_trivial or self.best_value is None:
            better = self.improved(value)
        else:
            better = not trivial and isinstance(value, int | float) and math.isfinite(value)
        # The main process's verdict (and value: evaluations may differ in the last bits) holds everywhere.
        improved, value = agree(trainer, (better, value))
        loss = record.get("val_loss")
        if improved:
            self.best_value, self.best_epoch, self.wait, self.best_loss = value, epoch, 0, loss
            self.best_trivial = trivial
            if self.restore_best and getattr(trainer, "model", None) is not None:
                self._best_state = snapshot(trainer.model)
            return
        if self.tie_broken_by_loss(value, loss):
            # The same score (an entity F1 still 0 while the model learns): the lower validation loss is the
            # better model to restore. Patience still counts: the monitored metric did not improve.
            self.best_epoch, self.best_loss = epoch, loss
            if self.restore_best and getattr(trainer, "model", None) is not None:
                self._best_state = snapshot(trainer.model)
        self.wait += 1
        planned = getattr(trainer, "epochs", None)
        last_epoch = planned is not None and epoch >= planned  # training ends here anyway: not an early stop
        if self.stop and self.wait >= max(self.patience, 1) and not last_epoch:
            if trivial:
                # A model that still predicts the majority class (or the mean) has not started to learn the task:
                # a flat monitor there is not the end of learning. Training goes on while epochs remain.
                self.kept_going = epoch
                return
            self.stopped_epoch = epoch
            offset = getattr(trainer, "epoch_offset", 0)
            best = f"best {self.best_value:.4g} at epoch {self.best_epoch + offset}" if self.best_value is not None \
                and self.best_epoch is not None else "it was never a number"
            self.reason = (f"stopped early at epoch {epoch + offset}: {self.monitor} did not improve by more than "
                           f"{self.min_delta:g} for {self.wait} epoch{'s' if self.wait != 1 else ''} ({best})")
            trainer.request_stop()

    @staticmethod
    def _still_trivial(trainer: Any, record: dict[str, Any]) -> bool:
        """Does the step task say the model is still no better than the trivial predictor on validation
        (``trivial(targets, record)``: the majority class, the training mean, all-``O``)?"""
        step = getattr(trainer, "task", None)
        data = getattr(trainer, "val_dataset", None)
        if step is None or data is None:
            return False
        trivial, _ = agree(trainer, (bool(step.trivial(data.targets(), record)), None))
        return trivial

    def on_fit_end(self, trainer: Any) -> None:
        offset = getattr(trainer, "epoch_offset", 0)  # epochs are numbered across a recipe's stages
        if not self.reason:
            self.reason = self._how_it_ended(trainer, offset)
            if self.kept_going is not None:
                self.reason += (f"; patience ran out at epoch {self.kept_going + offset} while the model was no better "
                                "than the trivial predictor, so training went on")
        if self.restore_best and self._best_state is not None and getattr(trainer, "model", None) is not None:
            restore(trainer.model, self._best_state)
            self.reason += f"; restored the weights of epoch {self.best_epoch + offset}"  # type: ignore[operator]
        self._best_state = None

    def _how_it_ended(self, trainer: Any, offset: int) -> str:
        """What happened when this callback did not stop training: the last epoch reached, or training ended
        before it (a divergence, the time budget, a search's pruning: their own reasons say which), and the best
        epoch of the monitor."""
        history = getattr(trainer, "history", [])
        last = history[-1]["epoch"] if len(history) else 0
        planned = getattr(trainer, "epochs", None)
        best = f"best {self.monitor} {self.best_value:.4g} at epoch {self.best_epoch + offset}" \
            if self.best_value is not None and self.best_epoch is not None else f"{self.monitor} was never a number"
        if not len(history):
            return f"no epoch finished; {best}"
        ended_before = (history[-1].get("diverged") or getattr(trainer, "should_stop", False)) and \
            (planned is None or last < planned)
        if ended_before:
            of = f" of {planned + offset}" if planned is not None else ""
            return f"ended at epoch {last + offset}{of}; {best}"
        return f"reached the last epoch ({last + offset}); {best}"


def snapshot(model: Any) -> dict[str, Any]:
    """A CPU copy of what training changes: trainable parameters and buffers (frozen weights are skipped)."""
    keep = {n for n, p in model.named_parameters() if p.requires_grad}
    keep |= {n for n, _ in model.named_buffers()}
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items() if k in keep}


def restore(model: Any, state: dict[str, Any]) -> None:
    model.load_state_dict(state, strict=False)
