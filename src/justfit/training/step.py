"""One optimisation step over one or more micro-batches (gradient accumulation).

The loss of a step is the mean over the examples of that step, however the step is split into
micro-batches: an uneven last batch, an incomplete last accumulation window, per-class and per-row
weights. Each micro-batch contributes the *sum* of its example losses (its mean loss times its
``loss_weight``, the denominator the task used for that mean: the number of examples, or the sum
of their class weights); the accumulated gradient is divided by the step's total ``loss_weight``
before clipping and the update. Dividing every micro-batch by the number of accumulation steps
instead (the usual recipe) gives a one-batch tail window half its gradient, and unequal
micro-batches unequal say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from justfit.training.optim import l1_penalty


@dataclass
class StepAccumulator:
    """Accumulates micro-batch gradients of one optimisation step and applies the step.

    ``backward`` is the function that back-propagates a loss (``accelerator.backward`` or
    ``Tensor.backward``); ``autocast`` a context-manager factory for the forward pass.
    """

    model: torch.nn.Module
    task: Any
    backward: Callable[[torch.Tensor], None] = torch.Tensor.backward
    autocast: Callable[[], Any] = contextlib.nullcontext
    l1: float = 0.0

    def __post_init__(self) -> None:
        self.weight = 0.0
        self.micro_batches = 0

    def add(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Forward and backward one micro-batch; returns its mean loss (detached) and its number of rows."""
        with self.autocast():
            out = self.task.forward(self.model, batch)
        loss = out["loss"]
        rows = int(batch["labels"].shape[0])
        weight = out.get("loss_weight")
        weight = float(weight) if weight is not None else float(rows)
        self.backward(loss * weight)
        self.weight += weight
        self.micro_batches += 1
        return loss.detach(), rows

    def finish(self, optimizer: Any, scheduler: Any = None, *, max_grad_norm: float | None = None,
               clip: Callable[[Any, float], Any] | None = None) -> None:
        """Scale the summed gradients to the step's mean, add the L1 term, clip, update, reset."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.weight > 0:
            inv = 1.0 / self.weight
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(inv)
        if self.l1 > 0:
            # Once per step, whatever the number of micro-batches: the penalty is on the weights.
            self.backward(self.l1 * l1_penalty(self.model))
        if max_grad_norm:
            (clip or torch.nn.utils.clip_grad_norm_)(params, max_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        self.weight = 0.0
        self.micro_batches = 0
