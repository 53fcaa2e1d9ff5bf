"""Sanity probe: can the pipeline overfit one small batch? If not, something is broken.

A model that cannot drive the loss down on 16 examples it sees over and over will not learn
from 16,000: everything frozen, a learning rate far too small, labels that do not reach the
loss, inputs truncated to nothing. The probe finds that in seconds, before a long run. It
trains a copy of the model; the model passed in is not changed.

It also judges where the loss starts. An untrained classifier that predicts uniformly among C classes
starts at the chance loss ln(C); random logits with a spread s start up to about s^2/2 nats above it (the
mean of log-sum-exp over C Gaussian logits, for many classes), so a start somewhat above chance is normal
for some initialisations and is reported as information. Only a start more than ``START_MARGIN`` nats
above ln(C) (the untrained model already confident, and wrong: a reused head whose labels are in another
order, targets that do not match the outputs) or a non-finite start is a fault, and fails the probe.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from justfit.data.io import load_data
from justfit.data.media import KINDS
from justfit.data.splitting import stratified_sample
from justfit.errors import ConfigError
from justfit.models import apply_freeze
from justfit.tasks.base import get_task
from justfit.tasks.infer import infer_task
from justfit.training.optim import build_optimizer
from justfit.training.step import StepAccumulator

# A starting loss more than this many nats above the chance loss ln(C) is a fault. The loss is the mean of
# -ln p(true class): 1 nat above chance means the untrained model gives the true class, on geometric average,
# 1/e of the 1/C a uniform guess gives it; random logits need a spread of about sqrt(2) for that (1 = s^2/2).
START_MARGIN = 1.0


def starting_loss(first: float, n_classes: int | None) -> tuple[str, str]:
    """Judge a probe's starting loss (nats) against the chance loss ln(``n_classes``): ``("info" | "fault", text)``.

    A fault when it is not finite or above ln(C) + ``START_MARGIN``; information otherwise, and for tasks without
    classes (regression: no chance level)."""
    if not math.isfinite(first):
        return "fault", f"the starting loss is {first}: the model's outputs or the inputs are broken"
    if not n_classes or n_classes < 2:
        return "info", f"the starting loss is {first:.3f} (this task has no chance level to compare it with)"
    chance = math.log(n_classes)
    rule = f"chance among {n_classes} classes is ln({n_classes}) = {chance:.3f}; a fault above {chance + START_MARGIN:.3f}"
    if first > chance + START_MARGIN:
        return "fault", (f"the starting loss {first:.3f} is more than {START_MARGIN:g} nat above chance ({rule}): the "
                         "untrained model is already confident and wrong; check that the labels match the model's "
                         "head (a reused head with its labels in another order) and the outputs' scale")
    return "info", f"the starting loss is {first:.3f} ({rule})"


@dataclass
class SanityResult:
    passed: bool
    first_loss: float
    last_loss: float
    steps: int
    batch_size: int
    trainable_params: int
    losses: list[float] = field(default_factory=list)
    reason: str = ""
    start_level: str = ""   # how the starting loss is judged (``starting_loss``): "info" or "fault"
    start_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def overfit_one_batch(model: Any, task: Any, dataset: Any, training: Any, *, steps: int = 40,
                      batch_size: int = 16, seed: int = 0, n_classes: int | None = None) -> SanityResult:
    """Train a copy of ``model`` on one batch of ``dataset`` for ``steps`` steps with the run's optimiser
    settings (no warmup, no schedule); pass when the loss falls to below half of where it started and the
    starting loss is no fault (``starting_loss`` against ln(``n_classes``); ``None``: no chance level)."""
    import torch

    if steps < 1 or batch_size < 1:
        raise ConfigError(f"The sanity probe needs at least 1 step and a batch of at least 1. Got steps={steps}, "
                          f"batch_size={batch_size}.")
    probe = copy.deepcopy(model).train()
    trainable = sum(p.numel() for p in probe.parameters() if p.requires_grad)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(dataset), size=min(batch_size, len(dataset)), replace=False).tolist()
    batch = task.collate([dataset[i] for i in idx])
    if trainable == 0:
        return SanityResult(False, math.nan, math.nan, 0, len(idx), 0,
                            reason="no parameter is trainable (everything is frozen): set model.freeze to none, "
                                   "bottom:K or backbone")
    torch.manual_seed(seed)
    optimizer = build_optimizer(probe, training)
    # The run's own optimisation step (loss scaling, L1, clipping), one micro-batch per step.
    acc = StepAccumulator(probe, task, l1=float(getattr(training, "l1", 0.0) or 0.0))
    losses = []
    for _ in range(steps):
        loss, _rows = acc.add(batch)
        losses.append(float(loss))
        if not math.isfinite(losses[-1]):
            break
        acc.finish(optimizer, max_grad_norm=training.max_grad_norm)
    first, last = losses[0], float(np.mean(losses[-5:]))
    if not math.isfinite(last):
        reason = (f"the loss became {losses[-1]} after {len(losses)} steps on one batch: the learning rate "
                  f"({training.lr:g}) is too high, or the inputs are broken")
        passed = False
    elif last < 0.5 * first:
        reason = f"the loss fell from {first:.3f} to {last:.3f} in {steps} steps on one batch of {len(idx)}"
        passed = True
    else:
        reason = (f"the loss only went from {first:.3f} to {last:.3f} in {steps} steps on one batch of {len(idx)} "
                  f"examples it sees again and again: check that the labels reach the model, that enough is "
                  f"trainable (model.freeze), and that training.lr ({training.lr:g}) is not far too small")
        passed = False
    level, note = starting_loss(first, n_classes)
    if level == "fault" and passed:
        reason, passed = f"{reason}, but {note}", False
    return SanityResult(passed, first, last, len(losses), len(idx), trainable, losses, reason, level, note)


def sanity_check(cfg: Any, *, steps: int = 40, batch_size: int = 16, progress: bool = False) -> SanityResult:
    """Load the data and model of ``cfg`` (a ``JustfitConfig``) and run ``overfit_one_batch``."""

    loaded = load_data(cfg.data)
    frame = (loaded.get("all") or loaded["train"]).frame

    inputs = next((k.column for k in KINDS if k.column in frame.columns), "text")
    kind = get_task(cfg.task or infer_task(frame["label"], inputs=inputs)[0])
    kind.check_targets(frame)
    frame = stratified_sample(frame, max(batch_size * 4, 64), cfg.data.seed)
    kind.fit(frame["label"])
    targets = kind.encode_targets(frame["label"])
    model, _, _, task = kind.build(cfg, targets)
    apply_freeze(model, cfg.model.freeze, task.example_inputs)
    ds = task.encode(frame[kind.input_column].tolist(), targets)
    n_classes = kind.diagnosis_context(frame["label"], frame["label"])["n_classes"]  # the task's own count
    return overfit_one_batch(model, task, ds, cfg.training, steps=steps, batch_size=batch_size, seed=cfg.training.seed,
                             n_classes=n_classes)
