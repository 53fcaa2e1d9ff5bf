"""The training loop. It reads top to bottom; everything optional is a callback.

One epoch = optimisation steps over the shuffled training set, then an evaluation of the
validation set and of a fixed sample of the training set (in eval mode, so the two are
comparable and over/underfitting is visible), recorded as one plain dict in ``History``. When a
time budget ends the first epoch early, that sample is drawn from the rows trained on so far.
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
from justfit.evaluation.metrics import epoch_metrics
from justfit.evaluation.predict import predict_logits, softmax
from justfit.tasks.base import EncodedDataset
from justfit.training.callbacks.base import Callback
from justfit.training.history import History, available_metrics
from justfit.training.optim import build_optimizer, build_scheduler
from justfit.training.runtime import resolve_bf16
from justfit.training.sampling import BatchSampler
from justfit.training.step import StepAccumulator


class Trainer:
    def __init__(self, task: Any, config: TrainingConfig | None = None, callbacks: Sequence[Callback] = (),
                 deadline: float | None = None) -> None:
        self.task = task
        self.deadline = deadline  # time.perf_counter() value by which training and evaluation must end
        self.cfg = config or TrainingConfig()
        self.callbacks = list(callbacks)
        self.bf16 = resolve_bf16(self.cfg.bf16)
        self.epochs = self.cfg.epochs
        self.history = History()
        self.should_stop = False
        self.stop_reason = ""
        self.model: torch.nn.Module | None = None

    def metric_names(self) -> list[str]:
        return available_metrics(self.cfg.train_eval_samples > 0)

    def check(self) -> None:
        """Validate settings against what will be recorded, before any work is done."""
        for cb in self.callbacks:
            cb.check(self.metric_names())

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
        loader = torch.utils.data.DataLoader(train, batch_sampler=sampler, collate_fn=self.task.collate)
        optimizer = build_optimizer(model, cfg)
        steps_per_epoch = math.ceil(len(loader) / cfg.grad_accum_steps)
        scheduler = build_scheduler(optimizer, cfg, steps_per_epoch * cfg.epochs)
        wrapped, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
        self.model = accelerator.unwrap_model(wrapped)
        self.accelerator = accelerator
        acc = StepAccumulator(wrapped, self.task, backward=accelerator.backward, autocast=accelerator.autocast,
                              l1=cfg.l1)
        # A fixed sample of training rows, evaluated like the validation set each epoch.
        rng = np.random.default_rng(cfg.seed)
        n_probe = min(cfg.train_eval_samples, len(train))
        probe = train.subset(sorted(rng.choice(len(train), n_probe, replace=False).tolist())) if n_probe else None

        budget = None
        if self.deadline is not None:
            from justfit.training.budget import TimeBudget

            budget = TimeBudget(self.deadline, steps_per_epoch * cfg.epochs, steps_per_epoch, len(val) + n_probe,
                                cfg.batch_size * cfg.grad_accum_steps)
        global_step = 0

        self.history, self.should_stop, self.stop_reason, self.budget_reason = History(), False, "", ""
        for cb in self.callbacks:
            cb.on_train_begin(self)
        for epoch in range(1, cfg.epochs + 1):
            self.epoch = epoch
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            for cb in self.callbacks:
                cb.on_epoch_begin(self, epoch, len(loader))
            set_train_mode(wrapped)
            # Summed on-device: no host sync per step.
            loss_sum = torch.zeros((), device=accelerator.device)
            seen = 0
            n_batches = len(loader)
            for step, batch in enumerate(loader, start=1):
                if budget is not None:
                    budget.start()
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
                    global_step += 1
                    if budget is not None:
                        row_seconds = None
                        if budget.calibrating(global_step):  # time one batch of the evaluation pass
                            t_eval = time.perf_counter()
                            # A batch of rows of about the mean length (the pass batches rows of similar
                            # length, and its cost grows with the tokens it processes).
                            by_length = np.argsort(val.lengths, kind="stable")
                            at_mean = int(np.searchsorted(np.sort(val.lengths), np.mean(val.lengths)))
                            lo = max(0, min(at_mean - cfg.eval_batch_size // 2, len(val) - cfg.eval_batch_size))
                            sample = val.subset(by_length[lo:lo + cfg.eval_batch_size].tolist())
                            self.evaluate(sample)  # the first pass of a new shape pays one-off setup costs
                            t_warm = time.perf_counter()
                            self.evaluate(sample)
                            set_train_mode(wrapped)
                            row_seconds = (time.perf_counter() - t_warm) / len(sample)
                            budget.t_first += time.perf_counter() - t_eval  # type: ignore[operator]
                        new_total = budget.after_step(global_step, row_seconds)
                        if new_total is not None:  # the schedule completes within the budget
                            inner = build_scheduler(optimizer.optimizer, cfg, new_total)
                            inner.last_epoch = global_step - 1
                            inner.step()
                            scheduler.scheduler = inner
                        if budget.done(global_step):
                            break

            record: dict[str, Any] = {"epoch": epoch, "train_loss": float(loss_sum) / max(seen, 1)}
            record.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
            if probe is not None:
                m = self.evaluate(self._probe_seen(train, sampler, probe, global_step)
                                  if epoch == 1 and global_step < steps_per_epoch else probe)
                record["train_eval_loss"] = m.pop("loss")
                record.update({f"train_{k}": v for k, v in m.items()})
            record["lr"] = float(scheduler.get_last_lr()[0])
            record["seconds"] = time.perf_counter() - t0
            if budget is not None and budget.done(global_step):
                record["epoch_fraction"] = round((global_step - (epoch - 1) * steps_per_epoch) / steps_per_epoch, 3)
                self.budget_reason = (f"the time budget allowed {global_step} optimisation steps "
                                    f"({global_step / steps_per_epoch:.2f} epochs); the schedule was fitted to them")
            bad = next((k for k in ("train_loss", "val_loss") if not math.isfinite(record.get(k, 0.0))), None)
            if bad is not None:
                record["diverged"] = True
                what = bad.replace("_", " ").replace("val ", "validation ")
                self.stop_reason = f"the {what} became {record[bad]} in epoch {epoch}: training diverged"
            self.history.append(record)
            for cb in self.callbacks:
                cb.on_epoch_end(self, record)
            if self.should_stop or record.get("diverged") or (budget is not None and budget.done(global_step)):
                break

        for cb in self.callbacks:
            cb.on_train_end(self)
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
                                bf16=self.bf16, device=self.accelerator.device)
        return epoch_metrics(dataset.labels, softmax(logits))


def set_train_mode(model: torch.nn.Module) -> None:
    """Train mode, except for a wholly frozen backbone: a fixed feature extractor runs in eval mode
    (no dropout), so its features are the same in every epoch, as cached features are."""
    model.train()
    base = getattr(model, "base_model", None)
    if isinstance(base, torch.nn.Module) and base is not model and not any(p.requires_grad for p in base.parameters()):
        base.eval()
