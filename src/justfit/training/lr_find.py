"""Learning-rate finder: the exponential learning-rate range test (Leslie Smith; fastai's ``lr_find``).

The model trains for a fixed number of steps while the learning rate grows geometrically from
``start_lr`` to ``end_lr``; the loss of every step is recorded. The sweep stops early once the
running loss (fastai's bias-corrected exponential moving average with ``beta``) exceeds ``diverge``
times its lowest value, or a loss is not finite. Afterwards the model is restored exactly: every
parameter and buffer, the gradients, every module's train/eval mode, and torch's random state.

The suggestion (:func:`suggest`, a pure function of the curve):

1. Raw losses are capped at the highest of the first ``k`` losses (the first 10% of the sweep, at
   least three): a divergence spike would otherwise dominate the smoothed values before it.
2. Smoothing: the bias-corrected exponential moving average run forward, then backward over the
   result, each pass with ``b = 2 * beta - 1`` (half the window of one pass of ``beta``: together
   the two passes reduce independent noise about as much as fastai's single pass). A forward-only
   average lags the raw curve by tens of steps, which moves the steepest point (and the minimum)
   to rates several times too high; the forward-backward pass does not lag.
3. Rule (``RULE``): the rate at the steepest negative slope of the smoothed loss against
   ``log10(lr)``, searched from the end of the first 10% of the sweep (``SKIP_FRACTION``: early
   losses are noisy and the rate there barely matters) up to the smoothed minimum.
4. No suggestion (``None``, and a reason) when:

   * fewer than ``MIN_POINTS`` (8) finite losses were recorded;
   * the smoothed loss does not fall enough from its start (the median of the first ``k`` losses)
     to its minimum: by ``MIN_DROP`` (5%) of the start, or by ``NOISE_SIGMAS`` (3) standard errors
     of that difference when this is larger. This is a flat curve, or one that diverges without
     falling first. The standard error is ``sigma * sqrt(pi / 2 / k + v)``: ``sigma`` is the noise
     of one loss (1.4826 x the median absolute deviation of successive differences of the capped
     losses, over sqrt(2); the trend cancels in the differences), ``pi / 2 / k`` the variance factor
     of a median of ``k`` values, and ``v = (1 - b) (1 + b^2) / (1 + b)^3`` that of the smoothing.
     A 5% threshold alone takes the noise of a flat curve for a descent about a third of the time;
   * the smoothed minimum lies within the first 10% of the sweep (the loss only rises after it);
   * the smoothed loss has no descending stretch between the first 10% and its minimum.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from justfit.errors import ConfigError, DataError
from justfit.training.optim import build_optimizer
from justfit.training.runtime import resolve_bf16
from justfit.training.sampling import BatchSampler
from justfit.training.step import StepAccumulator
from justfit.training.trainer import set_train_mode

SKIP_FRACTION = 0.1
MIN_POINTS = 8
MIN_DROP = 0.05
NOISE_SIGMAS = 3.0
RULE = ("the learning rate at the steepest descent of the smoothed loss against log10(lr), searched after the "
        "first 10% of the sweep and before the smoothed minimum")


@dataclass
class LRFindResult:
    """One learning-rate range test: the curve, the suggestion (or why there is none), and its cost."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    rule: str
    reason: str
    stopped_early: bool
    steps: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (a value that is not finite becomes ``None``)."""
        d = asdict(self)
        for key in ("lrs", "losses", "smoothed"):
            d[key] = [_finite_or_none(v) for v in d[key]]
        d["suggestion"] = _finite_or_none(d["suggestion"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LRFindResult:
        def floats(key: str) -> list[float]:
            return [math.nan if v is None else float(v) for v in d.get(key) or []]

        suggestion = d.get("suggestion")
        return cls(lrs=floats("lrs"), losses=floats("losses"), smoothed=floats("smoothed"),
                   suggestion=None if suggestion is None else float(suggestion), rule=str(d.get("rule", "")),
                   reason=str(d.get("reason", "")), stopped_early=bool(d.get("stopped_early", False)),
                   steps=int(d.get("steps", 0)), seconds=float(d.get("seconds", 0.0)))


def _finite_or_none(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def ema(values: Sequence[float], beta: float = 0.98) -> list[float]:
    """fastai's smoothing: an exponential moving average, divided by ``1 - beta**i`` so early values are unbiased."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = beta * avg + (1 - beta) * float(v)
        out.append(avg / (1 - beta ** i))
    return out


def suggest(lrs: Sequence[float], losses: Sequence[float], beta: float = 0.98) -> tuple[float | None, list[float], str]:
    """``(suggestion, smoothed, reason)`` for a range-test curve (see the module docstring for the rule).

    ``smoothed`` has one value per input point (NaN where the point is not finite); ``reason`` is
    empty when there is a suggestion."""

    if len(lrs) != len(losses):
        raise ConfigError(f"lrs and losses differ in length ({len(lrs)} and {len(losses)}).")
    if not 0 <= beta < 1:
        raise ConfigError(f"beta must be in [0, 1), got {beta}.")
    lr_all = np.asarray(lrs, dtype=float)
    loss_all = np.asarray(losses, dtype=float)
    ok = np.isfinite(lr_all) & np.isfinite(loss_all) & (lr_all > 0)
    idx = np.flatnonzero(ok)
    smoothed_all = np.full(len(lr_all), np.nan)
    n = len(idx)
    if n < MIN_POINTS:
        return None, smoothed_all.tolist(), (
            f"only {n} finite loss values were recorded ({MIN_POINTS} are needed): the sweep ended too soon. "
            "Start it at a lower learning rate, or run more steps.")
    x, y = np.log10(lr_all[idx]), loss_all[idx]
    skip = max(1, math.ceil(SKIP_FRACTION * n))
    head = y[:max(skip, 3)]
    start = float(np.median(head))
    capped = np.minimum(y, head.max())
    b = max(0.0, 2 * beta - 1)
    s = np.asarray(ema(ema(capped, b)[::-1], b)[::-1])
    smoothed_all[idx] = s
    smoothed = smoothed_all.tolist()

    # The noise of one loss, from successive differences (the trend of the curve cancels in them).
    diffs = np.diff(capped)
    sigma = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2)
    # Standard error of (start - smoothed minimum): a median of len(head) values, and a smoothed value.
    error = sigma * math.sqrt(math.pi / 2 / len(head) + (1 - b) * (1 + b * b) / (1 + b) ** 3)
    need = max(MIN_DROP * abs(start), NOISE_SIGMAS * error)
    imin = int(np.argmin(s))
    drop = start - float(s[imin])
    if drop < need:
        scale = max(abs(start), 1e-12)
        fell = (f"the smoothed loss falls only {max(drop, 0.0) / scale:.1%} below its start ({start:.4g}), and "
                f"{need / scale:.1%} is needed (5% of the start, or 3 standard errors of the noise)")
        tail = float(np.median(y[-max(skip, 3):]))
        if tail > start + need:
            return None, smoothed, (
                f"the loss does not fall before it diverges: {fell}, then it rises to {tail:.4g} at the end of "
                f"the sweep. If it rises from the first rates ({lr_all[idx[0]]:.2g} on), start the sweep lower.")
        return None, smoothed, (
            f"the curve is flat: {fell}. The rates swept may be too low, too few parameters trainable, "
            "or the sweep too short.")
    if imin < skip:
        return None, smoothed, (
            f"the lowest smoothed loss comes within the first {SKIP_FRACTION:.0%} of the sweep (lr "
            f"{lr_all[idx[imin]]:.2g}) and the loss rises after it: the sweep starts too high. "
            "Start it at a lower learning rate.")
    slope = np.gradient(s, x)
    window = slope[skip:imin + 1]
    best = int(np.argmin(window))
    if window[best] >= 0:
        return None, smoothed, ("the smoothed loss has no descending stretch between the first "
                                f"{SKIP_FRACTION:.0%} of the sweep and its minimum.")
    return float(lr_all[idx[skip + best]]), smoothed, ""


def sweep_lrs(start_lr: float, end_lr: float, steps: int) -> list[float]:
    """``steps`` rates from ``start_lr`` to ``end_lr``, evenly spaced in log scale."""
    return [start_lr * (end_lr / start_lr) ** (i / (steps - 1)) for i in range(steps)]


@contextlib.contextmanager
def preserved(model: torch.nn.Module) -> Iterator[None]:
    """Restore ``model`` on exit, also after an exception: parameters, buffers (copied bit for bit),
    gradients, every module's train/eval mode, and torch's random-number states."""
    tensors = dict(model.named_parameters())
    tensors.update({f"buffer:{k}": v for k, v in model.named_buffers()})
    saved = {k: v.detach().to("cpu", copy=True) for k, v in tensors.items()}
    grads = {k: p.grad for k, p in model.named_parameters()}
    modes = [(m, m.training) for m in model.modules()]
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    for p in model.parameters():
        p.grad = None  # so backward does not accumulate into the caller's gradient tensors
    try:
        yield
    finally:
        with torch.no_grad():
            for k, v in tensors.items():
                v.copy_(saved[k])
        for k, p in model.named_parameters():
            p.grad = grads.get(k)
        for m, training in modes:
            m.training = training
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def check_sweep(*, steps: int, start_lr: float, end_lr: float, diverge: float = 4.0, beta: float = 0.98) -> None:
    """Raise a ``ConfigError`` (a ``ValueError``) naming the option when the sweep's settings cannot work.

    Called by :func:`lr_find` and by the CLI before anything is loaded."""

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"The learning-rate sweep needs at least 2 steps (--steps), got {steps}.")
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name} (--{name.replace('_', '-')}) must be a positive number, got {value}.")
    if not start_lr < end_lr:
        hint = " (they look swapped)" if start_lr > end_lr else ""
        raise ConfigError(f"The sweep needs start_lr < end_lr, got --start-lr {start_lr} and --end-lr {end_lr}{hint}. "
                          "The rate grows from --start-lr to --end-lr, e.g. --start-lr 1e-7 --end-lr 10.")
    if not (isinstance(diverge, int | float) and math.isfinite(diverge) and diverge > 1):
        raise ConfigError(f"diverge must be a number greater than 1, got {diverge}.")
    if not (isinstance(beta, int | float) and 0 <= beta < 1):
        raise ConfigError(f"beta must be in [0, 1), got {beta}.")


def lr_find(model: torch.nn.Module, task: Any, train: Any, cfg: Any, *, start_lr: float = 1e-7,
            end_lr: float = 10.0, steps: int = 100, beta: float = 0.98, diverge: float = 4.0,
            progress: Callable[[int, int], None] | None = None) -> LRFindResult:
    """Run the learning-rate range test on ``train`` and return the curve and a suggestion.

    The optimiser, batches, precision, clipping, accumulation and seed follow ``cfg`` (a
    ``TrainingConfig``). Parameter groups keep their ratios to ``cfg.lr``: the swept rate is the
    rate of a group trained at ``cfg.lr``. ``progress(done, total)`` is called after every step.
    The model is left exactly as it was."""

    check_sweep(steps=steps, start_lr=start_lr, end_lr=end_lr, diverge=diverge, beta=beta)
    if len(train) == 0:
        raise DataError("The learning-rate finder needs a non-empty training set.")
    t0 = time.perf_counter()
    schedule = sweep_lrs(start_lr, end_lr, steps)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    bf16 = resolve_bf16(cfg.bf16)
    accum = max(1, int(getattr(cfg, "grad_accum_steps", 1)))
    l1 = float(getattr(cfg, "l1", 0.0) or 0.0)
    balance = train.labels if getattr(cfg, "sampler", "random") == "balanced" else None
    sampler = BatchSampler(train.lengths, cfg.batch_size, group_by_length=cfg.group_by_length, seed=cfg.seed,
                           balance_labels=balance)
    loader = torch.utils.data.DataLoader(train, batch_sampler=sampler, collate_fn=task.collate)

    def batches() -> Iterator[dict[str, Any]]:
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            for batch in loader:
                yield {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            epoch += 1

    lrs: list[float] = []
    losses: list[float] = []
    stopped_early = False
    with preserved(model):
        torch.random.default_generator.manual_seed(cfg.seed)
        if device.type == "cuda":
            torch.cuda.manual_seed_all(cfg.seed)
        set_train_mode(model)  # as in training: frozen modules stay in eval mode
        optimizer = build_optimizer(model, cfg)
        scales = [g["lr"] / cfg.lr for g in optimizer.param_groups]
        acc = StepAccumulator(model, task, l1=l1, autocast=lambda: torch.autocast(
            device_type=device.type, dtype=torch.bfloat16, enabled=bf16))
        stream = batches()
        avg, best = 0.0, math.inf
        try:
            for i, lr in enumerate(schedule):
                for g, scale in zip(optimizer.param_groups, scales, strict=True):
                    g["lr"] = lr * scale
                loss_sum, rows = 0.0, 0
                for _ in range(accum):
                    loss, n = acc.add(next(stream))
                    loss_sum, rows = loss_sum + float(loss) * n, rows + n
                total = loss_sum / max(rows, 1)
                if not math.isfinite(total):
                    stopped_early = True
                    break
                acc.finish(optimizer, max_grad_norm=cfg.max_grad_norm)
                lrs.append(lr)
                losses.append(total)
                if progress is not None:
                    progress(i + 1, steps)
                avg = beta * avg + (1 - beta) * total
                running = avg / (1 - beta ** (i + 1))
                best = min(best, running)
                if not math.isfinite(running) or running > diverge * best:
                    stopped_early = i + 1 < steps
                    break
        finally:
            optimizer.zero_grad(set_to_none=True)
            del optimizer
    suggestion, smoothed, reason = suggest(lrs, losses, beta)
    return LRFindResult(lrs=lrs, losses=losses, smoothed=smoothed, suggestion=suggestion, rule=RULE, reason=reason,
                        stopped_early=stopped_early, steps=len(lrs), seconds=time.perf_counter() - t0)
