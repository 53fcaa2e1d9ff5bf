"""The training loop. It reads top to bottom; everything optional is a callback.

One epoch = optimisation steps over the shuffled training set, then an evaluation of the
validation set and of a fixed sample of the training set (in eval mode, so the two are
comparable and over/underfitting is visible), recorded as one plain dict in ``History``. When a
stop (a time budget) ends the first epoch early, that sample is drawn from the rows trained on so far.

Callbacks (``justfit.training.callbacks``) see the loop through their hooks and this surface:
``model``, ``accelerator``, ``cfg``, ``history``, ``epoch``, ``global_step``, ``steps_per_epoch``,
``planned_steps``, ``train_dataset``, ``val_dataset``, ``probe_dataset`` (the training sample, or
None), ``evaluate(dataset)``, ``train_mode()`` (back to training after an evaluation inside an
epoch), ``request_stop()``, ``replan_schedule(total_steps)``, ``budget_reason``, ``batch_in_epoch``
(micro-batches done in this epoch) and ``save_checkpoint(folder)``. A stop request takes effect at
the next check, after the optimisation step or the epoch; each check agrees on it across processes
(``agree``).

Resuming: ``fit(..., resume=folder)`` takes up a checkpoint written by ``save_checkpoint`` (the
``Checkpointer`` callback writes them): model, optimiser, scheduler and random states through
``accelerate``'s ``load_state``, then the loop's own state (``state_dict``): the epoch and the
micro-batches of it already done (skipped without being loaded, ``accelerate.skip_first_batches``),
the epoch's running loss, the history, each callback's state and tensors, and the step's state (an
augmenter's draws). The training loader has its own seeded generator, so creating its iterator
never draws from the global random state a checkpoint restores: a resumed fit continues the
uninterrupted one bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from justfit._files import read_json, write_json
from justfit.config import TrainingConfig
from justfit.errors import ConfigError
from justfit.evaluation.predict import predict_logits
from justfit.history import History, available_metrics
from justfit.models.freezing import set_train_mode
from justfit.tasks.base import EncodedDataset
from justfit.training.callbacks.base import Callback, agree
from justfit.training.optim import build_optimizer, build_scheduler
from justfit.training.runtime import process_kwargs, resolve_bf16
from justfit.training.sampling import BatchSampler
from justfit.training.step import StepAccumulator

TRAINER_STATE = "trainer_state.json"
CALLBACK_TENSORS = "callback_tensors.safetensors"


class Trainer:
    """``deadline`` (a ``time.perf_counter()`` value by which training and evaluation must end) adds a
    ``TimeBudgetCallback``. After ``fit``: ``history``, ``stop_reason`` (divergence) and
    ``budget_reason`` (the time budget cut training), each empty when it did not happen."""

    def __init__(self, task: Any, config: TrainingConfig | None = None, callbacks: Sequence[Callback] = (),
                 deadline: float | None = None, extend_while_trivial: bool = False) -> None:
        self.task = task
        self.deadline = deadline
        self.cfg = config or TrainingConfig()
        self.callbacks = list(callbacks)
        if deadline is not None:
            from justfit.training.callbacks.time_budget import TimeBudgetCallback

            self.callbacks.append(TimeBudgetCallback(deadline, extend_while_trivial=extend_while_trivial))
        self.bf16 = resolve_bf16(self.cfg.bf16)
        self.epochs = self.cfg.epochs
        self.history = History()
        self.should_stop = False
        self.stop_reason = ""
        self.budget_reason = ""
        self.extension_reason = ""  # why the time budget added epochs (``TimeBudgetCallback``), if it did
        self.model: torch.nn.Module | None = None
        self.epoch = 0
        self.global_step = 0
        self.epoch_offset = 0  # epochs of a recipe's earlier stages (set by the caller; for numbering only)
        self.batch_in_epoch = 0  # micro-batches done in the current epoch (of batches_per_epoch)
        self.batches_per_epoch = 0
        self.epoch_complete = False  # the current epoch's record is in the history
        self.sampler: BatchSampler | None = None
        self.schedule_total: int | None = None
        self._loss_sum: Any = None
        self._seen = 0
        self._epoch_started = 0.0

    def metric_names(self) -> dict[str, str]:
        """What an epoch record will hold, each name with its better direction (from the task)."""
        return available_metrics(self.cfg.train_eval_samples > 0, self.task.metric_directions)

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

    def extend(self, epochs: int = 1) -> None:
        """Plan ``epochs`` more epochs than configured (``self.epochs``), the learning-rate schedule rebuilt
        over the new total from the current step (``replan_schedule``): the rate rises back to where the longer
        schedule has it, as a warm restart (Loshchilov & Hutter, 2017, SGDR) and decays to its end again."""
        self.epochs += epochs
        self.planned_steps = self.steps_per_epoch * self.epochs
        self.replan_schedule(self.planned_steps)

    def replan_schedule(self, total_steps: int) -> None:
        """Rebuild the learning-rate schedule for ``total_steps`` optimisation steps in all, continuing
        from the current step, so warmup and decay complete within them."""
        inner = build_scheduler(self.optimizer.optimizer, self.cfg, total_steps)
        inner.last_epoch = self.global_step - 1
        inner.step()
        self.scheduler.scheduler = inner
        self.schedule_total = total_steps

    def train_mode(self) -> None:
        """Back to training mode, frozen modules in eval mode (``models.freezing.set_train_mode``), after an
        evaluation inside an epoch."""
        set_train_mode(self._wrapped)

    def state_dict(self) -> dict[str, Any]:
        """Where the loop stands, as plain data: epoch, optimisation step, micro-batches done in the epoch
        and its running loss, the sampler's epoch (its shuffle), the schedule's total steps, the history
        records, each callback's state (by position, with its class name) and the step's state. Model,
        optimiser and scheduler tensors are not in it (``save_checkpoint`` saves them)."""
        return {"epoch": self.epoch, "global_step": self.global_step,
                "batch_in_epoch": self.batch_in_epoch, "epoch_complete": self.epoch_complete,
                "loss_sum": None if self._loss_sum is None else float(self._loss_sum), "seen": self._seen,
                "epoch_seconds": time.perf_counter() - self._epoch_started if self._epoch_started else 0.0,
                "sampler_epoch": None if self.sampler is None else self.sampler.epoch,
                "schedule_total": self.schedule_total, "epochs": self.epochs,
                "should_stop": self.should_stop, "stop_reason": self.stop_reason,
                "budget_reason": self.budget_reason, "extension_reason": self.extension_reason,
                "history": [dict(r) for r in self.history.records],
                "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()} for cb in self.callbacks],
                "step": self.task.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take up ``state`` (from ``state_dict``): the loop continues where it was saved. Each saved
        callback state goes to this fit's callback of the same class (the first, second, ... of it in
        order); callbacks that keep no state (a progress bar, a tracker) may be present on either side
        only. Raises ``ConfigError`` when a saved state has no callback to take it."""
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.batch_in_epoch, self.epoch_complete = int(state["batch_in_epoch"]), bool(state["epoch_complete"])
        self._seen = int(state["seen"])
        self.should_stop, self.stop_reason = bool(state["should_stop"]), state["stop_reason"]
        self.budget_reason = state["budget_reason"]
        self.epochs = int(state.get("epochs") or self.cfg.epochs)
        self.extension_reason = str(state.get("extension_reason") or "")
        self.history = History([dict(r) for r in state["history"]])
        mine = self._callback_keys()
        for key, saved_cb in zip(_keys([c["class"] for c in state["callbacks"]]), state["callbacks"], strict=True):
            if key in mine:
                mine[key].load_state_dict(saved_cb["state"])
            elif saved_cb["state"]:
                raise ConfigError(f"The checkpoint holds the state of a {saved_cb['class']} callback, which this fit "
                                  f"does not have ({', '.join(mine) or 'none'}). Resume with the same settings.")
        if state.get("step"):
            self.task.load_state_dict(state["step"])

    def _callback_keys(self) -> dict[str, Callback]:
        """This fit's callbacks by ``Class#n`` (the n-th of its class), the key their saved state goes by."""
        return dict(zip(_keys([type(cb).__name__ for cb in self.callbacks]), self.callbacks, strict=True))

    def save_checkpoint(self, folder: str | Path, extra: dict[str, Any] | None = None) -> None:
        """Write everything a resumed fit needs into ``folder``: ``accelerate``'s ``save_state`` (model,
        optimiser, scheduler, the random states of Python, NumPy and torch), the callbacks' tensors
        (``callback_tensors.safetensors``: the best epoch's weights) and, last, ``trainer_state.json``
        (``state_dict`` plus ``extra``, the caller's own plain data). Every process must call it; only
        the main process writes the JSON and the tensors. Call it between optimisation steps."""

        folder = Path(folder)
        self.accelerator.save_state(str(folder), safe_serialization=True)
        if self.accelerator.is_main_process:
            tensors = {f"{key}/{k}": v.contiguous() for key, cb in self._callback_keys().items()
                       for k, v in cb.tensors().items()}
            if tensors:
                from safetensors.torch import save_file

                save_file(tensors, str(folder / CALLBACK_TENSORS))
            write_json(folder / TRAINER_STATE, {**self.state_dict(), "extra": extra or {}})
        self.accelerator.wait_for_everyone()

    def _resume(self, folder: Path) -> None:
        """Load the checkpoint in ``folder`` into the prepared objects and this loop."""

        state = read_json(folder / TRAINER_STATE)
        total = state.get("schedule_total")
        if total is not None and total != self.schedule_total:  # the time budget had re-planned the schedule
            self.scheduler.scheduler = build_scheduler(self.optimizer.optimizer, self.cfg, int(total))
            self.schedule_total = int(total)
        self.accelerator.load_state(str(folder))
        self.load_state_dict(state)
        tensors_file = folder / CALLBACK_TENSORS
        if tensors_file.is_file():
            from safetensors.torch import load_file

            saved = load_file(str(tensors_file))
            for key, cb in self._callback_keys().items():
                own = {k.split("/", 1)[1]: v for k, v in saved.items() if k.split("/", 1)[0] == key}
                if own:
                    cb.load_tensors(own)
        if state.get("loss_sum") is not None:
            self._loss_sum = torch.tensor(state["loss_sum"], dtype=torch.float32, device=self.accelerator.device)
        self._resumed_seconds = float(state.get("epoch_seconds") or 0.0)

    def fit(self, model: torch.nn.Module, train: EncodedDataset, val: EncodedDataset,
            resume: str | Path | None = None) -> History:
        """Train ``model`` on ``train``, evaluating ``val`` each epoch; returns the ``History``. With
        ``resume`` (a folder ``save_checkpoint`` wrote), the fit continues from that checkpoint."""
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
        accelerator = Accelerator(mixed_precision="bf16" if self.bf16 else "no", **process_kwargs())
        sampler = BatchSampler(train.lengths, cfg.batch_size, group_by_length=cfg.group_by_length, seed=cfg.seed,
                               balance_labels=train.labels if cfg.sampler == "balanced" else None)
        # Its own generator: an epoch's iterator draws its worker seed from it, not from the global random
        # state (which a checkpoint saves and restores).
        loader = torch.utils.data.DataLoader(train, batch_sampler=sampler, collate_fn=self.task.collate,
                                             num_workers=cfg.num_workers,
                                             generator=torch.Generator().manual_seed(cfg.seed))
        optimizer = build_optimizer(model, cfg)
        steps_per_epoch = math.ceil(len(loader) / cfg.grad_accum_steps)
        scheduler = build_scheduler(optimizer, cfg, steps_per_epoch * cfg.epochs)
        wrapped, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
        self.model = accelerator.unwrap_model(wrapped)
        self.accelerator, self.optimizer, self.scheduler, self._wrapped = accelerator, optimizer, scheduler, wrapped
        self.sampler, self.train_dataset, self.val_dataset = sampler, train, val
        self.epochs = cfg.epochs  # the time budget may add epochs (``extend``)
        self.steps_per_epoch, self.planned_steps = steps_per_epoch, steps_per_epoch * cfg.epochs
        self.schedule_total = self.planned_steps
        acc = StepAccumulator(wrapped, self.task, backward=accelerator.backward, autocast=accelerator.autocast,
                              l1=cfg.l1)
        # A fixed sample of training rows, evaluated like the validation set each epoch.
        rng = np.random.default_rng(cfg.seed)
        n_probe = min(cfg.train_eval_samples, len(train))
        probe = train.subset(sorted(rng.choice(len(train), n_probe, replace=False).tolist())) if n_probe else None
        self.probe_dataset = probe

        self.global_step, self.epoch, self.batch_in_epoch, self.epoch_complete = 0, 0, 0, False
        self.history, self.should_stop, self.stop_reason, self.budget_reason = History(), False, "", ""
        self.extension_reason = ""
        self._loss_sum, self._seen, self._epoch_started, self._resumed_seconds = None, 0, 0.0, 0.0
        n_batches = self.batches_per_epoch = len(loader)
        if resume is not None:
            self._resume(Path(resume))
            self.planned_steps = steps_per_epoch * self.epochs
        # Where the loop starts: the first epoch; the saved epoch, mid-way; or the one after it.
        mid_epoch = resume is not None and not self.epoch_complete and 0 < self.batch_in_epoch < n_batches
        first = self.epoch if mid_epoch else self.epoch + 1
        finished = self.should_stop or bool(len(self.history) and self.history[-1].get("diverged"))
        for cb in self.callbacks:
            cb.on_fit_begin(self)
        epoch = first - 1
        while epoch < self.epochs:  # a callback may add epochs as training goes (``extend``)
            epoch += 1
            if finished:
                break
            skip = self.batch_in_epoch if mid_epoch and epoch == first else 0
            self.epoch, self.epoch_complete, self.batch_in_epoch = epoch, False, skip
            self._epoch_started = time.perf_counter() - (self._resumed_seconds if skip else 0.0)
            # The epoch seeds the shuffle (and an augmented set's draws), counted from 0 as accelerate's loader
            # counts its iterations (it passes that count to both when iterated): set on the loader too, as a
            # resumed process's loader starts counting at 0 again.
            loader.set_epoch(epoch - 1)
            sampler.set_epoch(epoch - 1)
            if hasattr(train, "set_epoch"):  # a training set augmented on the fly draws new variants
                train.set_epoch(epoch - 1)
            for cb in self.callbacks:
                cb.on_epoch_begin(self, epoch, n_batches)
            set_train_mode(wrapped)
            # Summed on-device: no host sync per step.
            if not skip:
                self._loss_sum, self._seen = torch.zeros((), device=accelerator.device), 0
            batches = accelerator.skip_first_batches(loader, skip) if skip else loader
            for step, batch in enumerate(batches, start=skip + 1):
                for cb in self.callbacks:
                    cb.on_batch_begin(self, step)
                loss, rows = acc.add(batch)
                self._loss_sum += loss * rows
                self._seen += rows
                self.batch_in_epoch = step
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

            loss_sum, seen = float(self._loss_sum), self._seen
            if accelerator.num_processes > 1:  # the mean over every process's rows
                totals = accelerator.reduce(torch.tensor([loss_sum, float(seen)], device=accelerator.device), "sum")
                loss_sum, seen = float(totals[0]), int(totals[1])
            record: dict[str, Any] = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1)}
            record.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
            if probe is not None:
                m = self.evaluate(self._probe_seen(train, sampler, probe, self.global_step)
                                  if epoch == 1 and self.global_step < steps_per_epoch else probe)
                record["train_eval_loss"] = m.pop("loss")
                record.update({f"train_{k}": v for k, v in m.items()})
            record["lr"] = float(scheduler.get_last_lr()[0])
            record["seconds"] = time.perf_counter() - self._epoch_started
            for cb in self.callbacks:
                cb.on_evaluate(self, record)
            bad = next((k for k in ("train_loss", "val_loss") if not math.isfinite(record.get(k, 0.0))), None)
            if bad is not None:
                record["diverged"] = True
                what = bad.replace("_", " ").replace("val ", "validation ")
                self.stop_reason = f"the {what} became {record[bad]} in epoch {epoch}: training diverged"
            self.history.append(record)
            self.epoch_complete = True
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
        """The task's epoch metrics of the model on ``dataset``. With several processes, each predicts its
        shard (``dataset.shard``) and the outputs are gathered back into example order, so every example
        counts exactly once (uneven last shards included) and every process computes the same metrics."""
        n = self.accelerator.num_processes

        def predict(ds: EncodedDataset) -> np.ndarray:
            return predict_logits(self.model, self.task, ds, batch_size=self.cfg.eval_batch_size, bf16=self.bf16,
                                  device=self.accelerator.device, num_workers=self.cfg.num_workers)

        if n <= 1:
            return self.task.epoch_metrics(dataset.targets(), predict(dataset))
        from accelerate.utils import gather_object

        idx, part = dataset.shard(self.accelerator.process_index, n)
        pieces = gather_object([(idx, predict(part) if idx else None)])
        return self.task.epoch_metrics(dataset.targets(), in_order(pieces, len(dataset.targets())))


def _keys(classes: list[str]) -> list[str]:
    """``Class#n`` for each class name: the n-th callback of that class (from 0)."""
    seen: dict[str, int] = {}
    out = []
    for name in classes:
        out.append(f"{name}#{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return out


def in_order(pieces: list[tuple[list[int], np.ndarray | None]], n: int) -> np.ndarray:
    """The ``n`` outputs of an evaluation from the processes' ``(positions, outputs)`` pieces: a float
    array ``(n, ...)``, or an object array of per-example arrays (a tag per word)."""
    parts = [(i, v) for i, v in pieces if i]
    if all(v.dtype != object for _, v in parts):
        out = np.zeros((n, *parts[0][1].shape[1:]), dtype=parts[0][1].dtype)
    else:
        out = np.empty(n, dtype=object)
    for idx, values in parts:
        for pos, value in zip(idx, values, strict=True):
            out[pos] = value
    return out

