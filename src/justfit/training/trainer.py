"""The training loop. It reads top to bottom; everything optional is a callback.

One epoch = optimisation steps over the shuffled training set, then an evaluation of the
validation set and of a fixed sample of the training set (in eval mode, so the two are
comparable and over/underfitting is visible), recorded as one plain dict in ``History``. When a
stop (a time budget) ends the first epoch early, that sample is drawn from the rows trained on so far.

Callbacks (``justfit.training.callbacks``) see the loop through their hooks and this surface:
``model``, ``accelerator``, ``cfg``, ``history``, ``epoch``, ``global_step``, ``steps_per_epoch``,
``planned_steps``, ``train_dataset``, ``val_dataset``, ``probe_dataset`` (the training sample, or
None), ``evaluate(dataset)``, ``train_mode()`` (back to training after an evaluation inside an
epoch), ``request_stop()``, ``replan_schedule(total_steps)`` and ``budget_reason``. A stop request
takes effect at the next check, after the optimisation step or the epoch; each check agrees on it
across processes (``agree``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from justfit.config import TrainingConfig
from justfit.errors import ConfigError
from justfit.evaluation.predict import predict_logits
from justfit.tasks.base import EncodedDataset
from justfit.training.callbacks.base import Callback, agree
from justfit.training.history import History, available_metrics
from justfit.training.optim import build_optimizer, build_scheduler
from justfit.training.runtime import resolve_bf16
from justfit.training.sampling import BatchSampler
from justfit.training.step import StepAccumulator


class Trainer:
    """``deadline`` (a ``time.perf_counter()`` value by which training and evaluation must end) adds a
    ``TimeBudgetCallback``. After ``fit``: ``history``, ``stop_reason`` (divergence) and
    ``budget_reason`` (the time budget cut training), each empty when it did not happen."""

    def __init__(self, task: Any, config: TrainingConfig | None = None, callbacks: Sequence[Callback] = (),
                 deadline: float | None = None) -> None:
        self.task = task
        self.deadline = deadline
        self.cfg = config or TrainingConfig()
        self.callbacks = list(callbacks)
        if deadline is not None:
            from justfit.training.callbacks.time_budget import TimeBudgetCallback

            self.callbacks.append(TimeBudgetCallback(deadline))
        self.bf16 = resolve_bf16(self.cfg.bf16)
        self.epochs = self.cfg.epochs
        self.history = History()
        self.should_stop = False
        self.stop_reason = ""
        self.budget_reason = ""
        self.model: torch.nn.Module | None = None
        self.epoch = 0
        self.global_step = 0
        self.sampler: BatchSampler | None = None

    def metric_names(self) -> dict[str, str]:
        """What an epoch record will hold, each name with its better direction (from the task)."""
        return available_metrics(self.cfg.train_eval_samples > 0, getattr(self.task, "metric_directions", None))

    def check(self) -> None:
        """Validate settings against what will be recorded, before any work is done."""
        for cb in self.callbacks:
            cb.check(self.metric_names())

    def request_stop(self) -> None:
        """End training at the next check: after the current optimisation step, or this epoch."""
        self.should_stop = True

    def _stopping(self) -> bool:
        """The stop check: the main process's ``should_stop``, on every process."""
        self.should_stop = agree(self, self.should_stop)
        return self.should_stop

    def replan_schedule(self, total_steps: int) -> None:
        """Rebuild the learning-rate schedule for ``total_steps`` optimisation steps in all, continuing
        from the current step, so warmup and decay complete within them."""
        inner = build_scheduler(self.optimizer.optimizer, self.cfg, total_steps)
        inner.last_epoch = self.global_step - 1
        inner.step()
        self.scheduler.scheduler = inner

    def train_mode(self) -> None:
        """Back to training mode (see ``set_train_mode``), after an evaluation inside an epoch."""
        set_train_mode(self._wrapped)

    def state_dict(self) -> dict[str, Any]:
        """Where the loop stands, as plain data: epoch, optimisation step, the sampler's epoch (its
        shuffle), the history records and each callback's state (by position, with its class name).
        Model, optimiser and scheduler tensors are not in it."""
        return {"epoch": self.epoch, "global_step": self.global_step,
                "sampler_epoch": None if self.sampler is None else self.sampler.epoch,
                "should_stop": self.should_stop, "stop_reason": self.stop_reason,
                "budget_reason": self.budget_reason, "history": [dict(r) for r in self.history.records],
                "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()} for cb in self.callbacks]}

    def fit(self, model: torch.nn.Module, train: EncodedDataset, val: EncodedDataset) -> History:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState, GradientState
        from accelerate.utils import set_seed

        self.check()
        if len(train) == 0 or len(val) == 0:
            raise ConfigError("Training needs a non-empty training and validation set.")
        cfg = self.cfg
        set_seed(cfg.seed)
        # accelerate keeps one global state; a second fit in the same process may use another precision.
        AcceleratorState._reset_state(reset_partial_state=False)
        GradientState._reset_state()
        # Accumulation is done by StepAccumulator (a step's loss is the mean over its examples, whatever
        # the split), so accelerate sees one micro-batch per step and never rescales a loss itself.
        accelerator = Accelerator(mixed_precision="bf16" if self.bf16 else "no")
        sampler = BatchSampler(train.lengths, cfg.batch_size, group_by_length=cfg.group_by_length, seed=cfg.seed,
                               balance_labels=train.labels if cfg.sampler == "balanced" else None)
        loader = torch.utils.data.DataLoader(train, batch_sampler=sampler, collate_fn=self.task.collate,
                                             num_workers=cfg.num_workers)
        optimizer = build_optimizer(model, cfg)
        steps_per_epoch = math.ceil(len(loader) / cfg.grad_accum_steps)
        scheduler = build_scheduler(optimizer, cfg, steps_per_epoch * cfg.epochs)
        wrapped, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
        self.model = accelerator.unwrap_model(wrapped)
        self.accelerator, self.optimizer, self.scheduler, self._wrapped = accelerator, optimizer, scheduler, wrapped
        self.sampler, self.train_dataset, self.val_dataset = sampler, train, val
        self.steps_per_epoch, self.planned_steps = steps_per_epoch, steps_per_epoch * cfg.epochs
        acc = StepAccumulator(wrapped, self.task, backward=accelerator.backward, autocast=accelerator.autocast,
                              l1=cfg.l1)
        # A fixed sample of training rows, evaluated like the validation set each epoch.
        rng = np.random.default_rng(cfg.seed)
        n_probe = min(cfg.train_eval_samples, len(train))
        probe = train.subset(sorted(rng.choice(len(train), n_probe, replace=False).tolist())) if n_probe else None
        self.probe_dataset = probe

        self.global_step, self.epoch = 0, 0
        self.history, self.should_stop, self.stop_reason, self.budget_reason = History(), False, "", ""
        for cb in self.callbacks:
            cb.on_fit_begin(self)
        for epoch in range(1, cfg.epochs + 1):
            self.epoch = epoch
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            if hasattr(train, "set_epoch"):  # a training set augmented on the fly draws new variants
                train.set_epoch(epoch)
            for cb in self.callbacks:
                cb.on_epoch_begin(self, epoch, len(loader))
            set_train_mode(wrapped)
            # Summed on-device: no host sync per step.
            loss_sum = torch.zeros((), device=accelerator.device)
            seen = 0
            n_batches = len(loader)
            for step, batch in enumerate(loader, start=1):
                for cb in self.callbacks:
                    cb.on_batch_begin(self, step)
                loss, rows = acc.add(batch)
                loss_sum += loss * rows
                seen += rows
                # A step ends every grad_accum_steps micro-batches, and at the end of the epoch.
                step_done = step % cfg.grad_accum_steps == 0 or step == n_batches
                if step_done:
                    acc.finish(optimizer, scheduler, max_grad_norm=cfg.max_grad_norm,
                               clip=accelerator.clip_grad_norm_)
                for cb in self.callbacks:
                    cb.on_batch_end(self, step)
                if step_done:
                    self.global_step += 1
                    for cb in self.callbacks:
                        cb.on_step_end(self, self.global_step)
                    if self._stopping():
                        break

            record: dict[str, Any] = {"epoch": epoch, "train_loss": float(loss_sum) / max(seen, 1)}
            record.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
            if probe is not None:
                m = self.evaluate(self._probe_seen(train, sampler, probe, self.global_step)
                                  if epoch == 1 and self.global_step < steps_per_epoch else probe)
                record["train_eval_loss"] = m.pop("loss")
                record.update({f"train_{k}": v for k, v in m.items()})
            record["lr"] = float(scheduler.get_last_lr()[0])
            record["seconds"] = time.perf_counter() - t0
            for cb in self.callbacks:
                cb.on_evaluate(self, record)
            bad = next((k for k in ("train_loss", "val_loss") if not math.isfinite(record.get(k, 0.0))), None)
            if bad is not None:
                record["diverged"] = True
                what = bad.replace("_", " ").replace("val ", "validation ")
                self.stop_reason = f"the {what} became {record[bad]} in epoch {epoch}: training diverged"
            self.history.append(record)
            for cb in self.callbacks:
                cb.on_epoch_end(self, record)
            if self._stopping() or record.get("diverged"):
                break

        # accelerate wraps the model's forward in bf16 autocast; unwrapped, what the fit returns predicts in
        # fp32, as the saved model does when loaded (the run's test metrics are then the saved model's).
        self.model = accelerator.unwrap_model(wrapped, keep_fp32_wrapper=False)
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.history

    def _probe_seen(self, train: EncodedDataset, sampler: BatchSampler, probe: EncodedDataset,
                    steps: int) -> EncodedDataset:
        """The training probe when the first epoch ended early (a time budget): rows drawn from those
        trained on so far, so the train/validation comparison measures fit, not a second validation set."""
        seen = sampler.rows_of_first(steps * self.cfg.grad_accum_steps)
        if len(seen) == 0:
            return probe
        rng = np.random.default_rng(self.cfg.seed)
        return train.subset(sorted(rng.choice(seen, min(len(probe), len(seen)), replace=False).tolist()))

    def evaluate(self, dataset: EncodedDataset) -> dict[str, float]:
        logits = predict_logits(self.model, self.task, dataset, batch_size=self.cfg.eval_batch_size,
                                bf16=self.bf16, device=self.accelerator.device, num_workers=self.cfg.num_workers)
        return self.task.epoch_metrics(dataset.targets(), logits)


def set_train_mode(model: torch.nn.Module) -> None:
    """Train mode, except for a wholly frozen backbone: a fixed feature extractor runs in eval mode
    (no dropout), so its features are the same in every epoch, as cached features are."""
    model.train()
    base = getattr(model, "base_model", None)
    if isinstance(base, torch.nn.Module) and base is not model and not any(p.requires_grad for p in base.parameters()):
        base.eval()
