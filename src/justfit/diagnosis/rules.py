"""Diagnosis rules: pure functions from a run's plain data to findings.

Each rule reads a ``Context`` (the per-epoch history, and when present the data stage's
summary, the test metrics and the run's sizes) and returns a ``Finding`` or ``None``. A
finding carries its evidence in numbers, so the same history always gives the same words.
Rules never see a model: ``justfit doctor`` re-diagnoses a finished run, or another tool's
history file, offline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from justfit._registry import Registry

SEVERITY = {"high": 3, "medium": 2, "low": 1, "info": 0}
# What the verdict says when a finding of this kind is the most severe one.
VERDICTS = {
    "diverged": "unstable", "unstable": "unstable", "lr_too_high": "unstable",
    "overfitting": "overfitting", "growing_gap": "overfitting", "early_best": "overfitting",
    "underfitting": "underfitting", "lr_too_low": "underfitting",
    "not_converged": "not converged", "time_budget": "not converged",
    "test_leakage": "leaked test set", "label_noise": "noisy labels",
}


@dataclass
class Finding:
    code: str
    severity: str
    title: str
    explanation: str
    evidence: dict[str, Any] = field(default_factory=dict)
    remedies: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """Everything a rule may read. Only ``history`` is required."""

    history: list[dict[str, Any]]
    data: dict[str, Any] = field(default_factory=dict)       # result.data["quality"] or data_report.json
    metrics: dict[str, Any] = field(default_factory=dict)    # test metrics
    n_train: int | None = None
    n_params: int | None = None
    n_classes: int | None = None
    monitor: str = "val_loss"

    def series(self, key: str) -> list[float]:
        return [float(r[key]) for r in self.history if r.get(key) is not None]

    def paired(self, a: str, b: str) -> tuple[list[float], list[float]]:
        """Values of ``a`` and ``b`` from the epochs that have both (other tools may skip some)."""
        rows = [(float(r[a]), float(r[b])) for r in self.history if r.get(a) is not None and r.get(b) is not None]
        return [x for x, _ in rows], [y for _, y in rows]

    @property
    def epochs(self) -> int:
        return len(self.history)


Rule = Callable[[Context], "Finding | None"]
RULES: Registry[Rule] = Registry("diagnosis rule")


def _finite(xs: Sequence[float]) -> bool:
    return all(math.isfinite(x) for x in xs)


def _argmin(xs: Sequence[float]) -> int:
    return min(range(len(xs)), key=lambda i: xs[i])


@RULES.register("diverged")
def diverged(ctx: Context) -> Finding | None:
    """NaN/inf losses, or a training loss that ends far above where it started"""
    for key in ("train_loss", "val_loss"):
        vals = [r.get(key) for r in ctx.history]
        bad = [i + 1 for i, v in enumerate(vals) if v is not None and not math.isfinite(float(v))]
        if bad or any(r.get("diverged") for r in ctx.history):
            epoch = bad[0] if bad else next(i + 1 for i, r in enumerate(ctx.history) if r.get("diverged"))
            return Finding("diverged", "high", "Training diverged",
                           f"The {key.replace('_', ' ')} became NaN or infinite in epoch {epoch}: the updates blew "
                           "up, usually from a learning rate too high for this model, or from broken inputs.",
                           {"metric": key, "epoch": epoch})
    tl = ctx.series("train_loss")
    k = ctx.n_classes or ctx.metrics.get("n_classes")
    if tl and k and k > 1 and max(tl) > 10 * math.log(k):
        worst = max(tl)
        return Finding("diverged", "high", "Training loss exploded",
                       f"The training loss reached {worst:.1f}, more than ten times the {math.log(k):.3f} of "
                       f"guessing among {k} classes: the steps are far too large.",
                       {"max_train_loss": worst, "chance_loss": math.log(k)})
    if len(tl) >= 2 and tl[-1] > 1.5 * tl[0]:
        return Finding("diverged", "high", "Training loss rose instead of falling",
                       f"The training loss went from {tl[0]:.3f} in epoch 1 to {tl[-1]:.3f} in epoch {len(tl)}: "
                       "the optimisation is moving away from a solution.",
                       {"first_train_loss": tl[0], "last_train_loss": tl[-1]})
    return None


@RULES.register("unstable")
def unstable(ctx: Context) -> Finding | None:
    """the validation or training loss jumps up and down from epoch to epoch"""
    for key in ("val_loss", "train_loss"):
        xs = ctx.series(key)
        if len(xs) < 5 or not _finite(xs):
            continue
        diffs = [b - a for a, b in zip(xs, xs[1:], strict=False)]
        flips = sum(1 for a, b in zip(diffs, diffs[1:], strict=False) if a * b < 0)
        spikes = [i + 2 for i, d in enumerate(diffs) if d > 0.25 * max(abs(xs[i]), 1e-8)]
        if flips >= max(2, int(0.6 * (len(diffs) - 1))) and spikes:
            return Finding("unstable", "medium", f"The {key.replace('_', ' ')} oscillates",
                           f"The {key.replace('_', ' ')} changed direction {flips} times in {len(xs)} epochs, with "
                           f"jumps of more than 25% (epochs {spikes[:5]}): the steps are too large or the batches "
                           "too small and noisy.",
                           {"metric": key, "direction_changes": flips, "spike_epochs": spikes, "values": xs})
    return None


@RULES.register("overfitting")
def overfitting(ctx: Context) -> Finding | None:
    """validation loss turns up while the training loss keeps falling"""
    vl, tl = ctx.paired("val_loss", "train_loss")
    if len(vl) < 3 or not (_finite(vl) and _finite(tl)):
        return None
    best = _argmin(vl)
    rise = vl[-1] - vl[best]
    train_drop = tl[best] - tl[-1]
    if best < len(vl) - 1 and rise > 0.05 * vl[best] and train_drop > 0:
        sev = "high" if rise > 0.25 * vl[best] else "medium"
        return Finding("overfitting", sev, "Overfitting: validation loss rose while training loss fell",
                       f"Validation loss was lowest in epoch {best + 1} ({vl[best]:.3f}) and rose to {vl[-1]:.3f} by "
                       f"epoch {len(vl)}, while the training loss kept falling ({tl[best]:.3f} -> {tl[-1]:.3f}): the "
                       "model is memorising the training set.",
                       {"best_epoch": best + 1, "best_val_loss": vl[best], "last_val_loss": vl[-1],
                        "train_loss_at_best": tl[best], "last_train_loss": tl[-1]})
    return None


@RULES.register("growing_gap")
def growing_gap(ctx: Context) -> Finding | None:
    """a growing gap between the training-sample and validation metric"""
    for metric in ("accuracy", "f1"):
        tr, va = ctx.paired(f"train_{metric}", f"val_{metric}")
        if len(tr) < 2:
            continue
        gaps = [a - b for a, b in zip(tr, va, strict=True)]
        if gaps[-1] > 0.1 and gaps[-1] > gaps[0] + 0.05:
            sev = "high" if gaps[-1] > 0.25 else "medium"
            return Finding("growing_gap", sev, f"Training {metric} pulls away from validation {metric}",
                           f"The gap between training and validation {metric} grew from {gaps[0]:.3f} in epoch 1 "
                           f"to {gaps[-1]:.3f} in epoch {len(gaps)} (training {tr[-1]:.3f}, validation "
                           f"{va[-1]:.3f}): what is learned does not transfer to new data.",
                           {"metric": metric, "first_gap": gaps[0], "last_gap": gaps[-1], "train": tr[-1],
                            "validation": va[-1]})
    return None


@RULES.register("early_best")
def early_best(ctx: Context) -> Finding | None:
    """the best epoch came long before the last one"""
    vl = ctx.series("val_loss")
    if len(vl) < 5 or not _finite(vl):
        return None
    best = _argmin(vl) + 1
    if best <= len(vl) // 2:
        return Finding("early_best", "low", "The best epoch came early",
                       f"The best validation loss was in epoch {best} of {len(vl)}; every later epoch cost time "
                       "without helping.", {"best_epoch": best, "epochs": len(vl)})
    return None


@RULES.register("underfitting")
def underfitting(ctx: Context) -> Finding | None:
    """training accuracy near the majority-class baseline, or a training loss that stays near chance"""
    baseline = ctx.metrics.get("majority_baseline_accuracy")
    tr = ctx.series("train_accuracy") or ctx.series("accuracy")
    va = ctx.series("val_accuracy")
    if baseline is not None and tr and tr[-1] < baseline + 0.05 and (not va or va[-1] < baseline + 0.05):
        return Finding("underfitting", "high", "Underfitting: no better than always predicting the majority class",
                       f"After {ctx.epochs} epochs the training accuracy is {tr[-1]:.3f} and the majority-class "
                       f"baseline is {baseline:.3f}: the model has not learned the task, even on the data it "
                       "trains on.", {"train_accuracy": tr[-1], "majority_baseline": baseline})
    tl = ctx.series("train_eval_loss") or ctx.series("train_loss")
    k = ctx.n_classes or ctx.metrics.get("n_classes")
    chance = math.log(k) if k else None
    if chance and len(tl) >= 2 and _finite(tl) and tl[-1] > 0.9 * chance:
        drop = (tl[0] - tl[-1]) / max(tl[0], 1e-8)
        return Finding("underfitting", "high" if drop < 0.05 else "medium", "Underfitting: training loss stays near chance",
                       f"The training loss is {tl[-1]:.3f} after {len(tl)} epochs; guessing uniformly among {k} "
                       f"classes gives {chance:.3f}. It fell only {drop:.0%} from epoch 1.",
                       {"last_train_loss": tl[-1], "chance_loss": chance, "relative_drop": drop})
    return None


@RULES.register("not_converged")
def not_converged(ctx: Context) -> Finding | None:
    """validation loss still improving clearly when training ended"""
    vl = ctx.series("val_loss")
    if len(vl) < 2 or not _finite(vl):
        return None
    last_gain = vl[-2] - vl[-1]
    # Still falling by a margin that matters (relative and absolute: 0.011 -> 0.010 is done).
    if _argmin(vl) == len(vl) - 1 and last_gain > 0.01 * vl[-2] and last_gain > 0.005:
        return Finding("not_converged", "medium", "Not converged: validation loss was still falling",
                       f"Validation loss fell from {vl[-2]:.3f} to {vl[-1]:.3f} in the last epoch ({len(vl)}), and "
                       "that epoch was the best: more training would likely help.",
                       {"last_epoch": len(vl), "previous_val_loss": vl[-2], "last_val_loss": vl[-1]})
    return None


@RULES.register("time_budget")
def time_budget(ctx: Context) -> Finding | None:
    """the time budget ended training while the validation loss was still at its best"""
    cut = [r for r in ctx.history if r.get("epoch_fraction") is not None]
    if not cut:
        return None
    seen = sum(float(r.get("epoch_fraction", 1.0)) for r in ctx.history)
    vl = ctx.series("val_loss")
    improving = bool(vl) and _finite(vl) and _argmin(vl) == len(vl) - 1
    evidence = {"epochs_seen": round(seen, 3), "val_loss_at_its_best": improving}
    share = f"{seen:.2f} epochs" if seen >= 1 else f"{seen:.0%} of one epoch"
    if not improving:
        return Finding("time_budget", "info", "The time budget ended training",
                       f"Training stopped at the time budget after {share}; the validation loss had stopped "
                       "improving before then, so more time would likely not help.", evidence)
    # Less than one epoch: most training rows were never seen. Otherwise: still improving at the end.
    return Finding("time_budget", "medium", "The time budget ended training while the model was still improving",
                   f"Training stopped at the time budget after {share}"
                   + (", so most training rows were never seen" if seen < 1 else "")
                   + ", and the last validation loss was the best so far: more time would likely help.", evidence)


@RULES.register("lr_too_low")
def lr_too_low(ctx: Context) -> Finding | None:
    """the training loss falls very slowly from the start"""
    tl = ctx.series("train_loss")
    if len(tl) < 3 or not _finite(tl):
        return None
    total = (tl[0] - tl[-1]) / max(tl[0], 1e-8)
    k = ctx.n_classes or ctx.metrics.get("n_classes")
    still_high = tl[-1] > (0.5 * math.log(k) if k and k > 1 else 0.3)  # a flat loss that is already low is fine
    if 0 <= total < 0.1 and still_high:
        lr = ctx.series("lr")
        return Finding("lr_too_low", "medium", "The learning rate looks too low",
                       f"Over {len(tl)} epochs the training loss fell only {total:.0%} ({tl[0]:.3f} -> {tl[-1]:.3f}): "
                       "the steps are too small to move the model.",
                       {"relative_drop": total, "first_train_loss": tl[0], "last_train_loss": tl[-1],
                        "lr": max(lr) if lr else None})
    return None


@RULES.register("lr_too_high")
def lr_too_high(ctx: Context) -> Finding | None:
    """the training loss rises in the first epochs, or jumps while the learning rate is at its peak"""
    tl = ctx.series("train_loss")
    if len(tl) < 3 or not _finite(tl):
        return None
    if tl[1] > tl[0] * 1.05 and tl[2] > tl[0] * 0.95:
        return Finding("lr_too_high", "medium", "The learning rate looks too high",
                       f"The training loss rose from {tl[0]:.3f} to {tl[1]:.3f} in epoch 2 and was still "
                       f"{tl[2]:.3f} in epoch 3: large steps overshoot.",
                       {"train_loss": tl[:3]})
    return None


@RULES.register("small_data")
def small_data(ctx: Context) -> Finding | None:
    """very few training rows for the model's size"""
    if not ctx.n_train or not ctx.n_params:
        return None
    per_row = ctx.n_params / ctx.n_train
    if ctx.n_train < 1000 and per_row > 20_000:
        return Finding("small_data", "low", "Little data for the model's size",
                       f"{ctx.n_train} training rows for {ctx.n_params / 1e6:.1f}M trained parameters "
                       f"({per_row:,.0f} per row): the model can memorise the data easily.",
                       {"train_rows": ctx.n_train, "trainable_params": ctx.n_params})
    return None


@RULES.register("class_imbalance")
def class_imbalance(ctx: Context) -> Finding | None:
    """a large ratio between the largest and smallest class"""
    ratio = ctx.data.get("imbalance_ratio")
    if ratio and ratio >= 3:
        return Finding("class_imbalance", "medium" if ratio >= 10 else "low", "Imbalanced classes",
                       f"The largest class has {ratio:.1f} times the rows of the smallest: accuracy flatters the "
                       "model, and small classes are easy to ignore. Judge by macro-F1.",
                       {"imbalance_ratio": ratio})
    return None


@RULES.register("test_leakage")
def test_leakage(ctx: Context) -> Finding | None:
    """training rows that copy test rows"""
    if ctx.data.get("test_leaks"):
        kept = "kept" in str(ctx.data.get("leakage", ""))
        return Finding("test_leakage", "high" if kept else "low", "The test set leaks into training",
                       f"{ctx.data.get('leakage')}."
                       + (" The test metrics are optimistic." if kept else " The copies were removed before "
                          "training, but the data holds duplicates across splits."),
                       {"leakage": ctx.data.get("leakage"), "kept": kept})
    return None


@RULES.register("label_noise")
def label_noise(ctx: Context) -> Finding | None:
    """many training rows look mislabelled"""
    issues = ctx.data.get("label_issues")
    if issues and ctx.n_train and issues / ctx.n_train > 0.1:
        rate = issues / ctx.n_train
        acc = ctx.data.get("label_audit_accuracy")
        # The audit is trusted when the rows it flags explain nearly all of its probe's disagreement with
        # the given labels; a weak probe also disagrees on hard rows it does not flag, and then the flags
        # are a hint, not a verdict.
        unexplained = (1 - acc) - rate if acc is not None and acc == acc else None
        trusted = unexplained is not None and unexplained <= 0.1
        hedge = "" if trusted else (f" The audit's probe reached only {acc:.2f} out-of-fold accuracy, so part of "
                                    "these are hard rather than wrong." if unexplained is not None else "")
        severity = ("high" if rate > 0.15 else "medium") if trusted else "low"
        return Finding("label_noise", severity, "Many labels look wrong",
                       f"The label audit flagged {issues} of {ctx.n_train} training rows ({rate:.0%}) as likely "
                       "mislabelled: noisy labels cap the accuracy any model can reach and invite memorisation."
                       + hedge, {"label_issues": issues, "train_rows": ctx.n_train, "rate": rate,
                                 "audit_accuracy": acc})
    return None


@RULES.register("duplicates")
def duplicates(ctx: Context) -> Finding | None:
    """a large share of the data were duplicates"""
    removed = ctx.data.get("removed") or {}
    dups = sum(v for k, v in removed.items() if k in ("exact_duplicate", "near_duplicate", "conflicting_duplicate"))
    total = ctx.data.get("rows_in") or (ctx.n_train or 0) + dups
    if total and dups / total > 0.05:
        return Finding("duplicates", "low", "Many duplicates in the data",
                       f"The data stage removed {dups} duplicate rows ({dups / total:.0%}): the data set is smaller "
                       "than it looks.", {"duplicates_removed": dups})
    return None
