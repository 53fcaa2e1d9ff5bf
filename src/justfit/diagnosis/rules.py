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
    "unreadable_data": "model cannot read data",
    "overfitting": "overfitting", "growing_gap": "overfitting", "early_best": "overfitting",
    "underfitting": "underfitting", "lr_too_low": "underfitting",
    "not_converged": "not converged", "time_budget": "not converged",
    "test_leakage": "leaked test set", "label_noise": "noisy labels",
}
# Values a history record holds that are not losses or metrics.
_NOT_METRICS = {"epoch", "step", "position", "label", "lr", "seconds", "epoch_fraction", "diverged", "stage"}
_TEST_METRICS = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "log_loss")


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


@dataclass(frozen=True)
class Point:
    """One measurement of one value: where (``position``, in the history's ``position_unit``), how the log
    numbers it (``label``: "epoch 3", "step 200 (epoch 0.4)"), the epoch it falls in when known (``epoch``,
    a count from 1, fractional within an epoch) and the value."""

    position: float
    label: str
    epoch: float | None
    value: float
    index: int  # the record's index in the history


def number(v: Any) -> float | None:
    """``v`` as a float, or ``None`` when it is not a number (``None``, text, a bool). NaN and inf stay."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@dataclass
class Context:
    """Everything a rule may read. Only ``history`` is required.

    ``history`` is a list of records, each measured at one position: justfit's own records are one per
    epoch (position = ``epoch``); other tools' records carry ``position`` (in ``position_unit``: "epoch",
    fractional for mid-epoch evaluations, else "step" or "row") and ``label``. Rules read aligned
    points (``points``, ``paired``), never record indices, and count points, not epochs.
    """

    history: list[dict[str, Any]]
    data: dict[str, Any] = field(default_factory=dict)       # result.data["quality"] or data_report.json
    metrics: dict[str, Any] = field(default_factory=dict)    # test metrics
    n_train: int | None = None
    n_params: int | None = None
    n_classes: int | None = None
    monitor: str = "val_loss"
    position_unit: str = "epoch"
    notes: list[str] = field(default_factory=list)           # how an irregular log was read
    best: dict[str, Any] = field(default_factory=dict)       # the log's own best checkpoint (trainer_state.json)

    def _where(self, i: int) -> tuple[float, str, float | None]:
        r = self.history[i]
        epoch = number(r.get("epoch"))
        pos = number(r.get("position"))
        if pos is None:
            pos = epoch if epoch is not None else float(i + 1)
        label = r.get("label") or (f"epoch {_fmt(epoch)}" if epoch is not None else f"row {i + 1}")
        if self.position_unit == "epoch" and epoch is None:
            epoch = pos
        return pos, str(label), epoch

    def points(self, key: str) -> list[Point]:
        """Every record that measured ``key`` (a number; NaN/inf included), in history order."""
        out = []
        for i, r in enumerate(self.history):
            v = number(r.get(key))
            if v is not None:
                pos, label, epoch = self._where(i)
                out.append(Point(pos, label, epoch, v, i))
        return out

    def series(self, key: str) -> list[float]:
        return [p.value for p in self.points(key)]

    def paired_points(self, a: str, b: str) -> list[tuple[Point, float]]:
        """Each point of ``a`` with the value of ``b`` measured at the same record, else at the nearest position
        (the earlier one on a tie): logs that evaluate every N epochs or log training values on other rows
        are paired by where they were measured, not by row."""
        bs = self.points(b)
        if not bs:
            return []
        same = {p.index: p.value for p in bs}
        out = []
        for p in self.points(a):
            if p.index in same:
                out.append((p, same[p.index]))
            else:
                near = min(bs, key=lambda q: (abs(q.position - p.position), q.position > p.position))
                out.append((p, near.value))
        return out

    def paired(self, a: str, b: str) -> tuple[list[float], list[float]]:
        """Values of ``a`` and, aligned with them, of ``b`` (see ``paired_points``)."""
        rows = self.paired_points(a, b)
        return [p.value for p, _ in rows], [v for _, v in rows]

    @property
    def epochs(self) -> int:
        """The number of records (epochs, for justfit's own histories). Rules count points instead."""
        return len(self.history)

    def metric(self, key: str) -> float | None:
        """A test metric as a finite float, or ``None`` (absent, null, not a number)."""
        v = number(self.metrics.get(key))
        return v if v is not None and math.isfinite(v) else None

    @property
    def classes(self) -> int | None:
        k = self.n_classes or self.metric("n_classes")
        return int(k) if k else None

    def best_epoch(self) -> float | None:
        """The epoch (a count from 1, fractional mid-epoch) of the best evaluation: the lowest finite validation
        loss, else the highest validation accuracy/F1, or the log's own best checkpoint when later; ``None``
        when there is no evaluation, ``math.inf`` when the log has evaluations but no epochs."""
        best: Point | None = None
        for key, sign in (("val_loss", 1.0), ("val_f1", -1.0), ("val_accuracy", -1.0)):
            pts = [p for p in self.points(key) if math.isfinite(p.value)]
            if pts:
                best = min(pts, key=lambda p: sign * p.value)
                break
        if best is None:
            return None
        if best.epoch is None:
            return math.inf
        log_best = number(self.best.get("epoch"))
        return max(best.epoch, log_best) if log_best is not None else best.epoch

    def diverged_reason(self) -> str | None:
        """Why the run counts as diverged: a non-finite loss or metric anywhere in the history, a record flagged
        ``diverged``, test metrics marked invalid (``invalid_reason``) or not finite; ``None`` otherwise."""
        for i, r in enumerate(self.history):
            for k, v in r.items():
                x = number(v)
                if k not in _NOT_METRICS and x is not None and not math.isfinite(x):
                    return f"the {k.replace('_', ' ')} is {v} at {self._where(i)[1]}"
            if r.get("diverged"):
                return f"training flagged divergence at {self._where(i)[1]}"
        if self.metrics.get("invalid_reason"):
            return f"the test metrics are invalid: {self.metrics['invalid_reason']}"
        for k in _TEST_METRICS:
            x = number(self.metrics.get(k))
            if x is not None and not math.isfinite(x):
                return f"the test {k.replace('_', ' ')} is {x}"
        return None


def _fmt(x: float) -> str:
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:.2f}".rstrip("0").rstrip(".")


def _epoch_value(p: Point) -> float | int | None:
    """A point's epoch for evidence: an int for whole epochs (justfit's), a float mid-epoch, None if unknown."""
    if p.epoch is None:
        return None
    return int(round(p.epoch)) if abs(p.epoch - round(p.epoch)) < 1e-9 else round(p.epoch, 4)


Rule = Callable[[Context], "Finding | None"]
RULES: Registry[Rule] = Registry("diagnosis rule")


def _finite(xs: Sequence[float]) -> bool:
    return all(math.isfinite(x) for x in xs)


def _argmin(xs: Sequence[float]) -> int:
    return min(range(len(xs)), key=lambda i: xs[i])


@RULES.register("diverged")
def diverged(ctx: Context) -> Finding | None:
    """NaN/inf losses or metrics, test metrics made invalid by non-finite outputs, or a training loss that ends
    far above where it started"""
    for key in ("train_loss", "val_loss"):
        bad = [p for p in ctx.points(key) if not math.isfinite(p.value)]
        if bad:
            return Finding("diverged", "high", "Training diverged",
                           f"The {key.replace('_', ' ')} became NaN or infinite at {bad[0].label}: the updates blew "
                           "up, usually from a learning rate too high for this model, or from broken inputs.",
                           {"metric": key, "epoch": _epoch_value(bad[0]), "at": bad[0].label})
    flagged = next((i for i, r in enumerate(ctx.history) if r.get("diverged")), None)
    reason = ctx.diverged_reason()
    if flagged is not None or reason:
        at = ctx._where(flagged)[1] if flagged is not None else None
        why = f"training flagged divergence at {at}" if at else reason
        return Finding("diverged", "high", "Training diverged",
                       f"The run diverged ({why}): the updates blew up, usually from a learning rate too high for "
                       "this model, or from broken inputs. Its other metrics cannot be trusted.",
                       {"reason": why, "at": at,
                        "epoch": _epoch_value(Point(*ctx._where(flagged), 0.0, flagged)) if flagged is not None
                        else None, "invalid_reason": ctx.metrics.get("invalid_reason")})
    tl = ctx.points("train_loss")
    k = ctx.classes
    if tl and k and k > 1 and max(p.value for p in tl) > 10 * math.log(k):
        worst = max(tl, key=lambda p: p.value)
        return Finding("diverged", "high", "Training loss exploded",
                       f"The training loss reached {worst.value:.1f} at {worst.label}, more than ten times the "
                       f"{math.log(k):.3f} of guessing among {k} classes: the steps are far too large.",
                       {"max_train_loss": worst.value, "chance_loss": math.log(k), "at": worst.label})
    if len(tl) >= 2 and tl[-1].value > 1.5 * tl[0].value:
        return Finding("diverged", "high", "Training loss rose instead of falling",
                       f"The training loss went from {tl[0].value:.3f} at {tl[0].label} to {tl[-1].value:.3f} at "
                       f"{tl[-1].label}: the optimisation is moving away from a solution.",
                       {"first_train_loss": tl[0].value, "last_train_loss": tl[-1].value})
    return None


@RULES.register("unstable")
def unstable(ctx: Context) -> Finding | None:
    """the validation or training loss jumps up and down from one evaluation to the next"""
    for key in ("val_loss", "train_loss"):
        pts = ctx.points(key)
        xs = [p.value for p in pts]
        if len(xs) < 5 or not _finite(xs):
            continue
        diffs = [b - a for a, b in zip(xs, xs[1:], strict=False)]
        flips = sum(1 for a, b in zip(diffs, diffs[1:], strict=False) if a * b < 0)
        spikes = [pts[i + 1] for i, d in enumerate(diffs) if d > 0.25 * max(abs(xs[i]), 1e-8)]
        if flips >= max(2, int(0.6 * (len(diffs) - 1))) and spikes:
            return Finding("unstable", "medium", f"The {key.replace('_', ' ')} oscillates",
                           f"The {key.replace('_', ' ')} changed direction {flips} times in {len(xs)} points, with "
                           f"jumps of more than 25% (at {', '.join(p.label for p in spikes[:5])}): the steps are too "
                           "large or the batches too small and noisy.",
                           {"metric": key, "direction_changes": flips,
                            "spike_epochs": [_epoch_value(p) for p in spikes], "spikes_at": [p.label for p in spikes],
                            "values": xs})
    return None


def _best_note(ctx: Context) -> tuple[str, dict[str, Any]]:
    if not ctx.best.get("checkpoint"):
        return "", {}
    metric = ctx.best.get("metric")
    text = f" The log itself names {ctx.best['checkpoint']}" + (f" ({metric:.3f})" if metric is not None else "")         + " as its best model."
    return text, {"best_model_checkpoint": ctx.best["checkpoint"], "best_metric": metric}


@RULES.register("overfitting")
def overfitting(ctx: Context) -> Finding | None:
    """validation loss turns up while the training loss keeps falling"""
    pts = ctx.points("val_loss")
    if len(pts) < 3 or not _finite([p.value for p in pts]):
        return None
    pairs = ctx.paired_points("val_loss", "train_loss")
    vl = [p.value for p in pts]
    best = _argmin(vl)
    rise = vl[-1] - vl[best]
    if best == len(vl) - 1 or rise <= 0.05 * vl[best]:
        return None
    b, last = pts[best], pts[-1]
    note, extra = _best_note(ctx)
    evidence = {"best_epoch": _epoch_value(b), "best_at": b.label, "best_val_loss": b.value,
                "last_val_loss": last.value, "last_at": last.label, "evaluations": len(pts), **extra}
    if "step" in ctx.history[b.index]:
        evidence["best_step"] = ctx.history[b.index]["step"]
    score = next((k for k in ("val_accuracy", "val_f1") if isinstance(ctx.history[b.index].get(k), int | float)
                  and isinstance(ctx.history[last.index].get(k), int | float)), None)
    if score is not None:  # did the score fall with the loss, or hold (confidence, not accuracy, went wrong)?
        evidence.update(score=score, score_at_best_loss=ctx.history[b.index][score],
                        last_score=ctx.history[last.index][score])
    if pairs:
        tl = [v for _, v in pairs]
        if not _finite(tl) or not tl[best] - tl[-1] > 0:
            return None
        sev = "high" if rise > 0.25 * vl[best] else "medium"
        evidence.update(train_loss_at_best=tl[best], last_train_loss=tl[-1])
        return Finding("overfitting", sev, "Overfitting: validation loss rose while training loss fell",
                       f"Validation loss was lowest at {b.label}, {b.value:.3f}, and rose to {last.value:.3f} by "
                       f"{last.label}, while the training loss kept falling ({tl[best]:.3f} -> {tl[-1]:.3f}): the "
                       "model is memorising the training set." + note, evidence)
    # No training loss in the log: a clear, sustained rise of the validation loss alone.
    if rise > 0.25 * vl[best] and vl[-1] >= max(vl[best + 1:]) * 0.95:
        return Finding("overfitting", "medium", "Overfitting: validation loss rose after its best point",
                       f"Validation loss was lowest at {b.label}, {b.value:.3f}, and rose to {last.value:.3f} by "
                       f"{last.label}; the log has no training loss to compare." + note, evidence)
    return None


@RULES.register("growing_gap")
def growing_gap(ctx: Context) -> Finding | None:
    """a growing gap between the training-sample and validation metric"""
    for metric in ("accuracy", "f1"):
        pairs = ctx.paired_points(f"val_{metric}", f"train_{metric}")
        if len(pairs) < 2:
            continue
        va = [p.value for p, _ in pairs]
        tr = [v for _, v in pairs]
        gaps = [a - b for a, b in zip(tr, va, strict=True)]
        if _finite(gaps) and gaps[-1] > 0.1 and gaps[-1] > gaps[0] + 0.05:
            sev = "high" if gaps[-1] > 0.25 else "medium"
            first, last = pairs[0][0], pairs[-1][0]
            return Finding("growing_gap", sev, f"Training {metric} pulls away from validation {metric}",
                           f"The gap between training and validation {metric} grew from {gaps[0]:.3f} at "
                           f"{first.label} to {gaps[-1]:.3f} at {last.label} (training {tr[-1]:.3f}, validation "
                           f"{va[-1]:.3f}): what is learned does not transfer to new data.",
                           {"metric": metric, "first_gap": gaps[0], "last_gap": gaps[-1], "train": tr[-1],
                            "validation": va[-1]})
    return None


@RULES.register("early_best")
def early_best(ctx: Context) -> Finding | None:
    """the best evaluation came long before the last one"""
    pts = ctx.points("val_loss")
    vl = [p.value for p in pts]
    if len(vl) < 5 or not _finite(vl):
        return None
    i = _argmin(vl)
    if i + 1 <= len(vl) // 2:
        b, last = pts[i], pts[-1]
        note, extra = _best_note(ctx)
        return Finding("early_best", "low", "The best evaluation came early",
                       f"The best validation loss was at {b.label}, evaluation {i + 1} of {len(vl)} (the last at "
                       f"{last.label}); every later one cost time without helping." + note,
                       {"best_epoch": _epoch_value(b), "best_at": b.label, "evaluations": len(vl),
                        "epochs": _epoch_value(last) if last.epoch is not None else len(vl), **extra})
    return None


@RULES.register("unreadable_data")
def unreadable_data(ctx: Context) -> Finding | None:
    """the model's tokenizer turns most training text into unknown tokens, or texts into one token or none"""
    cov = ctx.data.get("tokenizer_coverage")
    if not isinstance(cov, dict) or not isinstance(cov.get("train"), dict):
        return None
    threshold = number(cov.get("threshold"))
    threshold = threshold if threshold is not None and math.isfinite(threshold) else 0.1
    train = cov["train"]
    unk, short = number(train.get("unk_share")), number(train.get("short_share"))
    over = [(v, what) for v, what in ((unk, "of the training tokens are the unknown token"),
                                      (short, "of the training texts tokenise to at most one real token"))
            if v is not None and math.isfinite(v) and v > threshold]
    if not over:
        return None
    model = cov.get("model") or "the model"
    others = "; ".join(f"{split}: {number(s.get('unk_share')) or 0:.0%} unknown, "
                       f"{number(s.get('short_share')) or 0:.0%} near-empty"
                       for split in ("validation", "test") if isinstance(s := cov.get(split), dict))
    return Finding("unreadable_data", "high", "The model cannot read this data",
                   f"For {model}, " + " and ".join(f"{v:.0%} {what}" for v, what in over)
                   + f" (threshold {threshold:.0%}" + (f"; {others}" if others else "") + "): its tokenizer does not "
                   "cover this text's script or vocabulary, so no learning rate or number of epochs can make it "
                   "learn. Use a model whose tokenizer covers this script.",
                   {"model": model, "unk_share": unk, "short_share": short, "threshold": threshold,
                    "rows": train.get("rows"), "validation": cov.get("validation"), "test": cov.get("test")})


@RULES.register("underfitting")
def underfitting(ctx: Context) -> Finding | None:
    """training accuracy near the majority-class baseline, or a training loss that stays near chance"""
    if ctx.diverged_reason():
        return None  # a diverged run's numbers say nothing about capacity
    baseline = ctx.metric("majority_baseline_accuracy")
    tr = ctx.points("train_accuracy") or ctx.points("accuracy")
    va = ctx.series("val_accuracy")
    # Near the baseline: within 0.05, or within a quarter of the errors the baseline leaves when it is high (a
    # tag per word is mostly O: 0.983 against 0.945 has learned most of what there is to learn).
    margin = min(0.05, 0.25 * (1 - baseline)) if baseline is not None else 0.05
    if baseline is not None and tr and tr[-1].value < baseline + margin and (not va or va[-1] < baseline + margin):
        return Finding("underfitting", "high", "Underfitting: no better than always predicting the majority class",
                       f"By {tr[-1].label} ({len(tr)} points) the training accuracy is {tr[-1].value:.3f} and the "
                       f"majority-class baseline is {baseline:.3f}: the model has not learned the task, even on the "
                       "data it trains on.", {"train_accuracy": tr[-1].value, "majority_baseline": baseline})
    tl = ctx.points("train_eval_loss") or ctx.points("train_loss")
    k = ctx.classes
    chance = math.log(k) if k and k > 1 else None
    if chance and len(tl) >= 2 and _finite([p.value for p in tl]) and tl[-1].value > 0.9 * chance:
        drop = (tl[0].value - tl[-1].value) / max(tl[0].value, 1e-8)
        return Finding("underfitting", "high" if drop < 0.05 else "medium", "Underfitting: training loss stays near chance",
                       f"The training loss is {tl[-1].value:.3f} at {tl[-1].label} ({len(tl)} points); guessing "
                       f"uniformly among {k} classes gives {chance:.3f}. It fell only {drop:.0%} from {tl[0].label}.",
                       {"last_train_loss": tl[-1].value, "chance_loss": chance, "relative_drop": drop})
    return None


@RULES.register("not_converged")
def not_converged(ctx: Context) -> Finding | None:
    """validation loss still improving clearly at the last evaluation"""
    if ctx.diverged_reason():
        return None
    pts = ctx.points("val_loss")
    vl = [p.value for p in pts]
    if len(vl) < 2 or not _finite(vl):
        return None
    last_gain = vl[-2] - vl[-1]
    # Still falling by a margin that matters (relative and absolute: 0.011 -> 0.010 is done).
    if _argmin(vl) == len(vl) - 1 and last_gain > 0.01 * vl[-2] and last_gain > 0.005:
        return Finding("not_converged", "medium", "Not converged: validation loss was still falling",
                       f"Validation loss fell from {vl[-2]:.3f} at {pts[-2].label} to {vl[-1]:.3f} at {pts[-1].label}, "
                       "the last evaluation and the best: more training would likely help.",
                       {"last_epoch": _epoch_value(pts[-1]) if pts[-1].epoch is not None else len(vl),
                        "last_at": pts[-1].label, "previous_val_loss": vl[-2], "last_val_loss": vl[-1]})
    return None


@RULES.register("time_budget")
def time_budget(ctx: Context) -> Finding | None:
    """the time budget ended training while the validation loss was still at its best"""
    cut = [r for r in ctx.history if r.get("epoch_fraction") is not None]
    if not cut:
        return None
    seen = sum(float(r.get("epoch_fraction", 1.0)) for r in ctx.history)
    vl = ctx.series("val_loss")
    improving = bool(vl) and _finite(vl) and _argmin(vl) == len(vl) - 1 and not ctx.diverged_reason()
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
    if ctx.diverged_reason():
        return None
    pts = ctx.points("train_loss")
    tl = [p.value for p in pts]
    if len(tl) < 3 or not _finite(tl):
        return None
    total = (tl[0] - tl[-1]) / max(tl[0], 1e-8)
    k = ctx.classes
    still_high = tl[-1] > (0.5 * math.log(k) if k and k > 1 else 0.3)  # a flat loss that is already low is fine
    if 0 <= total < 0.1 and still_high:
        lr = [x for x in ctx.series("lr") if math.isfinite(x)]
        return Finding("lr_too_low", "medium", "The learning rate looks too low",
                       f"Over {len(tl)} points ({pts[0].label} to {pts[-1].label}) the training loss fell only "
                       f"{total:.0%} ({tl[0]:.3f} -> {tl[-1]:.3f}): the steps are too small to move the model.",
                       {"relative_drop": total, "first_train_loss": tl[0], "last_train_loss": tl[-1],
                        "lr": max(lr) if lr else None})
    return None


@RULES.register("lr_too_high")
def lr_too_high(ctx: Context) -> Finding | None:
    """the training loss rises in the first evaluations"""
    pts = ctx.points("train_loss")
    tl = [p.value for p in pts]
    if len(tl) < 3 or not _finite(tl):
        return None
    if tl[1] > tl[0] * 1.05 and tl[2] > tl[0] * 0.95:
        return Finding("lr_too_high", "medium", "The learning rate looks too high",
                       f"The training loss rose from {tl[0]:.3f} at {pts[0].label} to {tl[1]:.3f} at {pts[1].label} "
                       f"and was still {tl[2]:.3f} at {pts[2].label}: large steps overshoot.",
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


# The headline metric a seed spread is judged by, in order of preference (the first a task reports).
_SPREAD_HEADLINE = ("f1_macro", "f1", "accuracy", "r2", "rmse")
# A spread above this share of the headline's scale (its mean, or 1 for scores in [0, 1]) is large.
LARGE_SPREAD = 0.02


@RULES.register("seed_spread")
def seed_spread(ctx: Context) -> Finding | None:
    """how much the test metrics move with the seed alone (runs trained with several seeds)"""
    sp = ctx.metrics.get("seed_spread")
    if not isinstance(sp, dict) or not sp.get("metrics"):
        return None
    name = next((k for k in _SPREAD_HEADLINE if k in sp["metrics"]), next(iter(sp["metrics"])))
    m = sp["metrics"][name]
    n = len(sp.get("seeds", m["values"]))
    scale = abs(m["mean"]) if name == "rmse" else 1.0
    large = m["std"] > LARGE_SPREAD * scale
    text = (f"Over {n} seeds the test {name} is {m['mean']:.3f} ± {m['std']:.3f} (from {m['min']:.3f} to "
            f"{m['max']:.3f}), with the data, split and settings unchanged: a difference between two configurations "
            f"smaller than {m['std']:.3f} is noise.")
    if large:
        text += " The spread is large: judge changes by their mean over seeds; steadier training may narrow it."
    return Finding("seed_spread", "medium" if large else "info", "The result moves with the seed", text,
                   {"metric": name, "seeds": n, "mean": m["mean"], "std": m["std"], "min": m["min"],
                    "max": m["max"], "kept_seed": sp.get("kept_seed"), "large": large})


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
        if ctx.data.get("label_audit_trusted") is False:  # the audit itself says its probe is too weak
            trusted, unexplained = False, None
        hedge = "" if trusted else (f" The audit's probe reached only {acc:.2f} out-of-fold accuracy, so part of "
                                    "these are hard rather than wrong." if unexplained is not None else
                                    " The audit's probe is weak on this data (data_report.json says how), so part of "
                                    "these are hard rather than wrong.")
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


@RULES.register("history_log")
def history_log(ctx: Context) -> Finding | None:
    """how an irregular log was read: repeated headers, appended runs, evaluations every N steps"""
    if not ctx.notes:
        return None
    return Finding("history_log", "info", "How the log was read", "; ".join(ctx.notes) + ".",
                   {"notes": list(ctx.notes), "position_unit": ctx.position_unit})


@RULES.register("absent_class")
def absent_class(ctx: Context) -> Finding | None:
    """a class has no row in the evaluated (test) data"""
    absent = list(ctx.metrics.get("absent_classes") or [])
    if not absent:
        return None
    names = ", ".join(repr(str(c)) for c in absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
    return Finding("absent_class", "low", "A class is absent from the test data",
                   f"The test data holds no row of class {names}: its recall cannot be measured, and the macro "
                   "averages count only the classes present. Judge that class on other data, or give a test split "
                   "that holds it.", {"absent_classes": absent})
