"""Callbacks extend the loop through its hooks; the loop itself has no optional branches.

Hooks, in the order a fit calls them::

    on_fit_begin(trainer)
      for each epoch:
        on_epoch_begin(trainer, epoch, steps)      # steps: micro-batches in the epoch
          for each micro-batch:
            on_batch_begin(trainer, step)          # step: 1-based micro-batch index in the epoch
            on_batch_end(trainer, step)            # after its forward/backward (and the update, if it ends a step)
            on_step_end(trainer, global_step)      # after an optimisation step only
        on_evaluate(trainer, record)               # the epoch's evaluations are in ``record``; it may add keys
        on_epoch_end(trainer, record)              # the record is final and in ``trainer.history``
    on_fit_end(trainer)

A callback stops training with ``trainer.request_stop()``; the trainer checks after every
optimisation step and after every epoch. Its state (``state_dict()``, plain JSON-able data, and
``tensors()``, named CPU tensors such as saved weights) is what a checkpoint needs to continue the
same decisions (``load_state_dict``, ``load_tensors``).

Multi-process training: each process runs the loop and every callback. A decision that must be
the same everywhere (stop now, a new plan) is taken on the main process and broadcast with
``agree``; the trainer also agrees on ``should_stop`` at each check, so a callback that sets it
on one process only cannot leave the others training (and waiting in a collective).
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def agree(trainer: Any, value: T) -> T:
    """``value`` as the main process has it, on every process.

    With more than one process (``trainer.accelerator.num_processes > 1``) the main process's value
    is broadcast (``accelerate.utils.broadcast_object_list``: pickled, so any plain value) and
    returned everywhere; every process must call it at the same point, or the others wait. In one
    process, or before the trainer has an accelerator, ``value`` is returned as it is (no copy,
    no communication).
    """
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is None or getattr(accelerator, "num_processes", 1) <= 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


class Callback:
    """Override any hook. ``trainer`` exposes (see ``Trainer``) ``model``, ``history``, ``epoch``,
    ``global_step``, ``steps_per_epoch``, ``planned_steps``, ``val_dataset``, ``evaluate(dataset)``,
    ``train_mode()``, ``request_stop()``, ``replan_schedule(total_steps)`` and ``accelerator``."""

    def check(self, metric_names: list[str]) -> None:
        """Called before anything is loaded or trained: raise on a bad setting."""

    def on_fit_begin(self, trainer: Any) -> None: ...

    def on_epoch_begin(self, trainer: Any, epoch: int, steps: int) -> None: ...

    def on_batch_begin(self, trainer: Any, step: int) -> None: ...

    def on_batch_end(self, trainer: Any, step: int) -> None: ...

    def on_step_end(self, trainer: Any, global_step: int) -> None: ...

    def on_evaluate(self, trainer: Any, record: dict[str, Any]) -> None: ...

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Any) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """What the callback's later decisions depend on, as plain data (``json.dumps`` accepts it)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take up ``state`` (from ``state_dict``), so the next decisions are those the saved callback
        would have made."""

    def tensors(self) -> dict[str, Any]:
        """Named CPU tensors a checkpoint saves beside ``state_dict`` (safetensors); none by default."""
        return {}

    def load_tensors(self, tensors: dict[str, Any]) -> None:
        """Take up what ``tensors()`` returned, after ``load_state_dict``."""
