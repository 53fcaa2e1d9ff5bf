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
    "cheap_baseline": "no better than a cheap baseline",
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
    n_val: int | None = None  # the units a validation score averages over (rows; words for tagging), as the task counts
    monitor: str = "val_loss"
    position_unit: str = "epoch"
    notes: list[str] = field(default_factory=list)           # how an irregular log was read
    best: dict[str, Any] = field(default_factory=dict)       # the log's own best checkpoint (trainer_state.json)
    directions: dict[str, str] = field(default_factory=dict)  # recorded name -> "min"/"max", as the task declares
    baseline: dict[str, Any] = field(default_factory=dict)    # the cheap baseline (evaluation.baseline.summary)
    task_facts: dict[str, Any] = field(default_factory=dict)  # what the run recorded of its task (diagnosis_facts)

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
        """The epoch (a count from 1, fractional mid-epoch) of the best evaluation: by ``monitor`` in the
        direction its task declares (``directions``, as early stopping chose it), else the lowest finite
        validation loss (a loss is lower-is-better by definition), else the highest validation accuracy/F1
        (higher-is-better by definition), or the log's own best checkpoint when later; ``None`` when there is
        no evaluation, ``math.inf`` when the log has evaluations but no epochs."""
        best: Point | None = None
        order = [("val_loss", 1.0), ("val_f1", -1.0), ("val_accuracy", -1.0)]
        if self.directions.get(self.monitor) in ("min", "max"):
            order.insert(0, (self.monitor, 1.0 if self.directions[self.monitor] == "min" else -1.0))
        for key, sign in order:
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


# ------------------------------------------------------------------ effect sizes
# Every rule that judges a change states the size of effect it needs, relative to the noise it can measure, and
# stays silent below it (the verdict is then "good fit"). Its finding's evidence says what it needed and saw
# (``effect``, ``needed``, ``seen``, ``threshold``: how the needed size was set).

# A score change counts beyond this many standard errors of its noise (about 95% two-sided, normal approximation).
Z = 2.0
# A change of a loss counts when larger than this share of the loss of guessing uniformly among C classes, ln(C):
# the task's own unit of loss (a cross-entropy's value at an untrained, uniform model). 0.1 ln 2 = 0.069 nats.
LOSS_EFFECT_OF_CHANCE = 0.1
# ... and than this share of the loss it starts from (a rise of 5% or less is wobble at any scale).
LOSS_EFFECT_RELATIVE = 0.05
# Without a chance level (regression, another tool's log without its classes) the loss's scale is unknown: a
# change counts only when larger than this share of the loss it starts from.
LOSS_EFFECT_NO_SCALE = 0.25


def chance_loss(ctx: Context) -> float | None:
    """The cross-entropy of guessing uniformly among the task's C classes, ln(C) (nats); ``None`` without classes."""
    k = ctx.classes
    return math.log(k) if k and k > 1 else None


def loss_effect(ctx: Context, ref: float) -> tuple[float, str]:
    """The smallest change of a loss (from ``ref``) that matters: ``(size, how it was set)``.

    With C classes: the larger of ``LOSS_EFFECT_RELATIVE`` of ``ref`` and ``LOSS_EFFECT_OF_CHANCE`` of ln(C), so
    a rise from 0.011 to 0.015 (36%, but 0.004 nats against 0.069 for two classes) is noise. Without a chance
    level: ``LOSS_EFFECT_NO_SCALE`` of ``ref``."""
    c = chance_loss(ctx)
    ref = abs(ref)
    if c is None:
        return LOSS_EFFECT_NO_SCALE * ref, f"{LOSS_EFFECT_NO_SCALE:.0%} of {ref:.4g} (no chance level known)"
    size = max(LOSS_EFFECT_RELATIVE * ref, LOSS_EFFECT_OF_CHANCE * c)
    return size, (f"the larger of {LOSS_EFFECT_RELATIVE:.0%} of {ref:.4g} and {LOSS_EFFECT_OF_CHANCE:g} x the "
                  f"chance loss ln({ctx.classes}) = {c:.3f}")


# The test metric whose seed spread measures each validation score's noise (a run trained with several seeds).
_SEED_METRIC = {"val_accuracy": ("accuracy", "token_accuracy"), "val_f1": ("f1", "f1_macro")}


def score_noise(ctx: Context, key: str, p: float) -> tuple[float | None, str]:
    """The standard error of the validation score ``key`` at value ``p`` (a share in [0, 1]): ``(se, source)``.

    The larger of the seed spread (the std over seeds of the matching test metric, when the run trained several)
    and the binomial standard error on the validation set, sqrt(p (1 - p) / n) with ``n = ctx.n_val`` and the
    variance at least one unit's worth, (1/n)(1 - 1/n), so a perfect score is not taken as noiseless. For F1 the
    binomial error is an approximation (F1 is not a proportion). ``(None, ...)`` when neither is known."""
    out: list[tuple[float, str]] = []
    sp = ctx.metrics.get("seed_spread")
    spread = sp.get("metrics") if isinstance(sp, dict) else None
    if isinstance(spread, dict):
        name = next((m for m in _SEED_METRIC.get(key, ()) if isinstance(spread.get(m), dict)), None)
        std = number(spread[name].get("std")) if name else None
        if std is not None and math.isfinite(std) and std > 0:
            out.append((std, f"the seed spread of the test {name}"))
    if ctx.n_val and ctx.n_val > 0 and math.isfinite(p):
        n, q = ctx.n_val, min(max(p, 0.0), 1.0)
        var = max(q * (1 - q), (1 / n) * (1 - 1 / n))
        out.append((math.sqrt(var / n), f"the binomial standard error on {n} validation units"))
    if not out:
        return None, "noise unknown (no validation size or seed spread)"
    return max(out)


def measured(effect: str, needed: float, seen: float, threshold: str, *, above: bool = True) -> dict[str, Any]:
    """A finding's evidence of its effect size: the ``effect`` judged, the size ``needed`` (a finding needs
    ``seen`` above it, or below it when not ``above``), what was ``seen``, and how the threshold was set."""
    return {"effect": effect, "needed": needed, "seen": seen, "threshold": threshold,
            "needed_direction": "above" if above else "below"}


def needed_note(ev: dict[str, Any]) -> str:
    """" (needed ..., saw ...)" for a finding's explanation, from ``measured`` evidence."""
    word = "above" if ev["needed_direction"] == "above" else "below"
    return f" (needed a {ev['effect']} {word} {ev['needed']:.4g}: {ev['threshold']}; saw {ev['seen']:.4g})"


# A training loss above this many times ln(C) has exploded.
EXPLODED_OF_CHANCE = 10.0
# A training loss that ends more than this share above where it started (and by more than ``loss_effect``) rose.
DIVERGED_RISE = 0.5


@RULES.register("cheap_baseline")
def cheap_baseline(ctx: Context) -> Finding | None:
    """The fine-tuned model does not beat the cheap baseline fitted on the same splits (TF-IDF + logistic
    regression for texts, ...: ``evaluation.baseline``) on validation, by more than the noise of the difference.

    Effect size: the model's score minus the baseline's, oriented so that positive is better, must exceed
    ``needed``, ``BEATS_BY_SE`` paired-bootstrap standard errors of that difference (both models scored on the
    same resampled validation units), as the comparison measured it."""
    b = ctx.baseline or {}
    v = b.get("validation")
    if not isinstance(v, dict) or v.get("beats"):
        return None
    diff, needed = number(v.get("difference")), number(v.get("needed"))
    if diff is None or needed is None or not math.isfinite(diff) or not math.isfinite(needed) or needed <= 0:
        # No noise measured (the two models' scores never differ on any resample: the same predictions, a
        # constant score): no evidence either way; the other rules judge the model.
        return None
    worse = bool(v.get("worse"))
    score = f"val_{v.get('score')}"
    what = b.get("name", "the cheap baseline")
    ev = {"baseline": what, "score": score, "model_value": v.get("model"), "baseline_value": v.get("baseline"),
          "baseline_seconds": b.get("seconds"), "baseline_test": b.get("test", {}),
          **measured(f"lead over the baseline in {score}", needed, diff, str(v.get("threshold", "")))}
    title = f"Worse than a cheap baseline ({what})" if worse else f"No better than a cheap baseline ({what})"
    seconds = number(b.get("seconds"))
    took = f", fitted in {seconds:.1f} s" if seconds is not None else ""
    # Did training move the loss at all (by more than the loss effect)? If not, larger steps come before more.
    tl = ctx.points("train_eval_loss") or ctx.points("train_loss")
    if len(tl) >= 2 and math.isfinite(tl[0].value) and math.isfinite(tl[-1].value):
        ev["train_loss_fell"] = bool(tl[0].value - tl[-1].value > loss_effect(ctx, tl[0].value)[0])
    return Finding(
        "cheap_baseline", "high", title,
        f"On the validation split, {what}{took}, scores {score} {v.get('baseline'):.4f} against the fine-tuned "
        f"model's {v.get('model'):.4f}" + needed_note(ev) + ". The fine-tuning did not earn its cost: train longer "
        "or with larger steps (a model no better than the trivial predictor has not learnt the task yet), train "
        "only the new head, or keep the cheap model.", ev)


@RULES.register("diverged")
def diverged(ctx: Context) -> Finding | None:
    """NaN/inf losses or metrics, test metrics made invalid by non-finite outputs, or a training loss that ends
    far above where it started.

    Effect sizes: any non-finite value; a training loss above ``EXPLODED_OF_CHANCE`` x ln(C); a last training loss
    more than ``DIVERGED_RISE`` above the first, and by more than ``loss_effect`` (a tenth of ln(C)), so
    0.002 -> 0.004 late in a run that has all but memorised its data is not a divergence."""
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
    if tl and k and k > 1 and max(p.value for p in tl) > EXPLODED_OF_CHANCE * math.log(k):
        worst = max(tl, key=lambda p: p.value)
        ev = measured("training loss", EXPLODED_OF_CHANCE * math.log(k), worst.value,
                      f"{EXPLODED_OF_CHANCE:g} x the chance loss ln({k})")
        return Finding("diverged", "high", "Training loss exploded",
                       f"The training loss reached {worst.value:.1f} at {worst.label}, more than ten times the "
                       f"{math.log(k):.3f} of guessing among {k} classes: the steps are far too large."
                       + needed_note(ev), {"max_train_loss": worst.value, "chance_loss": math.log(k), "at": worst.label, **ev})
    if len(tl) >= 2:
        first, last = tl[0].value, tl[-1].value
        c = chance_loss(ctx)
        needed = max(DIVERGED_RISE * abs(first), LOSS_EFFECT_OF_CHANCE * c if c else 0.0)
        if last - first > needed:
            ev = measured("rise of the training loss", needed, last - first, f"{DIVERGED_RISE:.0%} of {first:.4g}"
                          + (f", and at least {LOSS_EFFECT_OF_CHANCE:g} x ln({k})" if c else ""))
            return Finding("diverged", "high", "Training loss rose instead of falling",
                           f"The training loss went from {first:.3f} at {tl[0].label} to {last:.3f} at "
                           f"{tl[-1].label}: the optimisation is moving away from a solution." + needed_note(ev),
                           {"first_train_loss": first, "last_train_loss": last, **ev})
    return None


# Unstable: the loss changes direction at this share of its points (at least twice), with a jump up larger than
# UNSTABLE_JUMP of the value before it and than ``loss_effect``'s share of ln(C).
UNSTABLE_FLIPS = 0.6
UNSTABLE_JUMP = 0.25


@RULES.register("unstable")
def unstable(ctx: Context) -> Finding | None:
    """the validation or training loss jumps up and down from one evaluation to the next.

    Effect size: direction changes at ``UNSTABLE_FLIPS`` of the points (at least two) and a jump up by more than
    ``UNSTABLE_JUMP`` of the value before it and, with C classes, by more than a tenth of ln(C): a loss that
    wobbles between 0.011 and 0.015 is settled, not unstable."""
    for key in ("val_loss", "train_loss"):
        pts = ctx.points(key)
        xs = [p.value for p in pts]
        if len(xs) < 5 or not _finite(xs):
            continue
        diffs = [b - a for a, b in zip(xs, xs[1:], strict=False)]
        flips = sum(1 for a, b in zip(diffs, diffs[1:], strict=False) if a * b < 0)
        c = chance_loss(ctx)
        floor = LOSS_EFFECT_OF_CHANCE * c if c else 0.0
        spikes = [pts[i + 1] for i, d in enumerate(diffs) if d > max(UNSTABLE_JUMP * max(abs(xs[i]), 1e-8), floor)]
        if flips >= max(2, int(UNSTABLE_FLIPS * (len(diffs) - 1))) and spikes:
            jump = max(diffs)
            at = diffs.index(jump)
            ev = measured(f"jump of the {key.replace('_', ' ')}", max(UNSTABLE_JUMP * max(abs(xs[at]), 1e-8), floor),
                          jump, f"{UNSTABLE_JUMP:.0%} of the value before it"
                          + (f", and at least {LOSS_EFFECT_OF_CHANCE:g} x ln({ctx.classes})" if c else ""))
            return Finding("unstable", "medium", f"The {key.replace('_', ' ')} oscillates",
                           f"The {key.replace('_', ' ')} changed direction {flips} times in {len(xs)} points, with "
                           f"jumps of more than 25% (at {', '.join(p.label for p in spikes[:5])}): the steps are too "
                           "large or the batches too small and noisy." + needed_note(ev),
                           {"metric": key, "direction_changes": flips,
                            "spike_epochs": [_epoch_value(p) for p in spikes], "spikes_at": [p.label for p in spikes],
                            "values": xs, **ev})
    return None


def _best_note(ctx: Context) -> tuple[str, dict[str, Any]]:
    if not ctx.best.get("checkpoint"):
        return "", {}
    metric = ctx.best.get("metric")
    text = f" The log itself names {ctx.best['checkpoint']}" + (f" ({metric:.3f})" if metric is not None else "")         + " as its best model."
    return text, {"best_model_checkpoint": ctx.best["checkpoint"], "best_metric": metric}


# Overfitting without a training loss to compare: the validation loss alone must rise by this share of its best.
RISE_ALONE = 0.25
# An overfitting finding is "high" when the validation loss rose by more than this share of its best.
RISE_HIGH = 0.25


def _score_drop(ctx: Context, at_best: int, last: int) -> dict[str, Any] | None:
    """The fall of the validation score (accuracy, else F1: higher is better by definition) between the records
    ``at_best`` and ``last``, with the size that counts (``Z`` standard errors, ``score_noise``); ``None`` when
    the records do not both hold a score."""
    a, b = ctx.history[at_best], ctx.history[last]
    key = next((k for k in ("val_accuracy", "val_f1") if number(a.get(k)) is not None and number(b.get(k)) is not None
                and math.isfinite(float(a[k])) and math.isfinite(float(b[k]))), None)
    if key is None:
        return None
    before, after = float(a[key]), float(b[key])
    se, source = score_noise(ctx, key, before)
    return {"score": key, "score_at_best_loss": before, "last_score": after, "score_drop": before - after,
            "score_drop_needed": None if se is None else Z * se, "score_noise": source}


@RULES.register("overfitting")
def overfitting(ctx: Context) -> Finding | None:
    """validation loss turns up while the training loss keeps falling, by more than noise.

    Effect size: the rise from the best validation loss to the last must exceed ``loss_effect`` (the larger of
    5% of the best loss and 0.1 ln(C); without classes, a quarter of the best loss), or it must rise by more
    than 5% and come with a fall of the validation accuracy/F1 (at the best-loss evaluation against the last)
    of more than ``Z`` standard errors of that score (``score_noise``: the seed spread, else the binomial
    error on the validation set). A log without training loss needs a sustained rise above both ``loss_effect``
    and ``RISE_ALONE`` of the best. A validation loss going 0.011 -> 0.015 while accuracy holds 0.9987 is noise:
    no finding, a good fit."""
    pts = ctx.points("val_loss")
    if len(pts) < 3 or not _finite([p.value for p in pts]):
        return None
    pairs = ctx.paired_points("val_loss", "train_loss")
    vl = [p.value for p in pts]
    best = _argmin(vl)
    rise = vl[-1] - vl[best]
    if best == len(vl) - 1 or rise <= LOSS_EFFECT_RELATIVE * abs(vl[best]):
        return None
    b, last = pts[best], pts[-1]
    size, how = loss_effect(ctx, vl[best])
    drop = _score_drop(ctx, b.index, last.index)
    by_score = drop is not None and drop["score_drop_needed"] is not None and \
        drop["score_drop"] > drop["score_drop_needed"]
    if by_score and drop is not None and not rise > size:
        ev = measured(f"fall of the validation {drop['score'][4:]}", drop["score_drop_needed"], drop["score_drop"],
                      f"{Z:g} standard errors of the score ({drop['score_noise']})")
    else:
        ev = measured("rise of the validation loss", size, rise, how)
    note, extra = _best_note(ctx)
    evidence = {"best_epoch": _epoch_value(b), "best_at": b.label, "best_val_loss": b.value,
                "last_val_loss": last.value, "last_at": last.label, "evaluations": len(pts), **extra}
    if "step" in ctx.history[b.index]:
        evidence["best_step"] = ctx.history[b.index]["step"]
    if drop is not None:  # did the score fall with the loss, or hold (confidence, not accuracy, went wrong)?
        evidence.update(drop)
    if pairs:
        tl = [v for _, v in pairs]
        if not _finite(tl) or not tl[best] - tl[-1] > 0 or not (rise > size or by_score):
            return None
        sev = "high" if rise > RISE_HIGH * vl[best] else "medium"
        evidence.update(train_loss_at_best=tl[best], last_train_loss=tl[-1], **ev)
        return Finding("overfitting", sev, "Overfitting: validation loss rose while training loss fell",
                       f"Validation loss was lowest at {b.label}, {b.value:.3f}, and rose to {last.value:.3f} by "
                       f"{last.label}, while the training loss kept falling ({tl[best]:.3f} -> {tl[-1]:.3f}): the "
                       "model is memorising the training set." + needed_note(ev) + note, evidence)
    # No training loss in the log: a clear, sustained rise of the validation loss alone.
    needed = max(size, RISE_ALONE * abs(vl[best]))
    if rise > needed and vl[-1] >= max(vl[best + 1:]) * 0.95:
        ev = measured("rise of the validation loss", needed, rise, f"{RISE_ALONE:.0%} of {vl[best]:.4g}, and {how}")
        evidence.update(ev)
        return Finding("overfitting", "medium", "Overfitting: validation loss rose after its best point",
                       f"Validation loss was lowest at {b.label}, {b.value:.3f}, and rose to {last.value:.3f} by "
                       f"{last.label}; the log has no training loss to compare." + needed_note(ev) + note, evidence)
    return None


# A train/validation gap counts when it ends above GAP_MIN and grew by more than GAP_GROWTH (shares of the score),
# each raised to ``Z`` standard errors of the validation score when the validation set is that noisy.
GAP_MIN = 0.1
GAP_GROWTH = 0.05
GAP_HIGH = 0.25


@RULES.register("growing_gap")
def growing_gap(ctx: Context) -> Finding | None:
    """a growing gap between the training-sample and validation metric.

    Effect size: the last gap above ``GAP_MIN`` and its growth since the first evaluation above ``GAP_GROWTH``,
    each at least ``Z`` standard errors of the last validation score (``score_noise``): on 50 validation rows
    at 0.8 accuracy (error 0.057) a gap must exceed 0.113."""
    for metric in ("accuracy", "f1"):
        pairs = ctx.paired_points(f"val_{metric}", f"train_{metric}")
        if len(pairs) < 2:
            continue
        va = [p.value for p, _ in pairs]
        tr = [v for _, v in pairs]
        gaps = [a - b for a, b in zip(tr, va, strict=True)]
        if not _finite(gaps):
            continue
        se, source = score_noise(ctx, f"val_{metric}", va[-1])
        noise = Z * se if se is not None else 0.0
        need_gap, need_growth = max(GAP_MIN, noise), max(GAP_GROWTH, noise)
        if gaps[-1] > need_gap and gaps[-1] - gaps[0] > need_growth:
            sev = "high" if gaps[-1] > max(GAP_HIGH, noise) else "medium"
            first, last = pairs[0][0], pairs[-1][0]
            ev = measured(f"growth of the {metric} gap", need_growth, gaps[-1] - gaps[0],
                          f"{GAP_GROWTH:g}, or {Z:g} standard errors of the validation {metric} ({source})")
            return Finding("growing_gap", sev, f"Training {metric} pulls away from validation {metric}",
                           f"The gap between training and validation {metric} grew from {gaps[0]:.3f} at "
                           f"{first.label} to {gaps[-1]:.3f} at {last.label} (training {tr[-1]:.3f}, validation "
                           f"{va[-1]:.3f}): what is learned does not transfer to new data."
                           + needed_note(ev), {"metric": metric, "first_gap": gaps[0], "last_gap": gaps[-1],
                                               "train": tr[-1], "validation": va[-1], "gap_needed": need_gap, **ev})
    return None


@RULES.register("early_best")
def early_best(ctx: Context) -> Finding | None:
    """the best evaluation came long before the last one.

    Effect size: the best validation loss in the first half of at least five evaluations, and the last one
    worse than it by more than ``loss_effect``: a curve that stays flat within noise after an early best has
    no best worth the name."""
    pts = ctx.points("val_loss")
    vl = [p.value for p in pts]
    if len(vl) < 5 or not _finite(vl):
        return None
    i = _argmin(vl)
    size, how = loss_effect(ctx, vl[i])
    if i + 1 <= len(vl) // 2 and vl[-1] - vl[i] > size:
        b, last = pts[i], pts[-1]
        note, extra = _best_note(ctx)
        ev = measured("rise of the validation loss after its best", size, vl[-1] - vl[i], how)
        return Finding("early_best", "low", "The best evaluation came early",
                       f"The best validation loss was at {b.label}, evaluation {i + 1} of {len(vl)} (the last at "
                       f"{last.label}); every later one cost time without helping." + needed_note(ev) + note,
                       {"best_epoch": _epoch_value(b), "best_at": b.label, "evaluations": len(vl),
                        "epochs": _epoch_value(last) if last.epoch is not None else len(vl), **extra, **ev})
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


# Underfitting: the training accuracy within UNDERFIT_MARGIN of the majority baseline, or within UNDERFIT_SHARE of
# the errors the baseline leaves when it is high; or a training loss above NEAR_CHANCE x ln(C).
UNDERFIT_MARGIN = 0.05
UNDERFIT_SHARE = 0.25
NEAR_CHANCE = 0.9
# A regression explains less than this share of the targets' variance beyond predicting their mean (R²).
UNDERFIT_R2 = 0.1


@RULES.register("underfitting")
def underfitting(ctx: Context) -> Finding | None:
    """training accuracy near the majority-class baseline, a regression's R² near that of predicting the mean,
    or a training loss that stays near chance.

    Effect size (a shortfall, so the finding needs the value below it): training (and validation) accuracy below
    the baseline plus the smaller of ``UNDERFIT_MARGIN`` and ``UNDERFIT_SHARE`` of the errors the baseline leaves
    (a tag per word is mostly O: 0.983 against 0.945 has learned most of what there is to learn); or a training
    loss above ``NEAR_CHANCE`` x ln(C); or, for a regression, training and best validation R² below ``UNDERFIT_R2``
    (``_no_better_than_the_mean``). The margin is not widened by the validation set's noise: a noisy
    measurement is no evidence that the model learned nothing."""
    if ctx.diverged_reason():
        return None  # a diverged run's numbers say nothing about capacity
    baseline = ctx.metric("majority_baseline_accuracy")
    tr = ctx.points("train_accuracy") or ctx.points("accuracy")
    va = ctx.series("val_accuracy")
    margin = min(UNDERFIT_MARGIN, UNDERFIT_SHARE * (1 - baseline)) if baseline is not None else UNDERFIT_MARGIN
    if baseline is not None and tr and tr[-1].value < baseline + margin and (not va or va[-1] < baseline + margin):
        ev = measured("gain of the training accuracy over the majority baseline", margin, tr[-1].value - baseline,
                      f"the smaller of {UNDERFIT_MARGIN:g} and {UNDERFIT_SHARE:.0%} of the baseline's errors", above=False)
        return Finding("underfitting", "high", "Underfitting: no better than always predicting the majority class",
                       f"By {tr[-1].label} ({len(tr)} points) the training accuracy is {tr[-1].value:.3f} and the "
                       f"majority-class baseline is {baseline:.3f}: the model has not learned the task, even on the "
                       "data it trains on." + needed_note(ev),
                       {"train_accuracy": tr[-1].value, "majority_baseline": baseline, **ev})
    mean_like = _no_better_than_the_mean(ctx)
    if mean_like is not None:
        return mean_like
    tl = ctx.points("train_eval_loss") or ctx.points("train_loss")
    k = ctx.classes
    chance = chance_loss(ctx)
    if chance and len(tl) >= 2 and _finite([p.value for p in tl]) and tl[-1].value > NEAR_CHANCE * chance:
        drop = (tl[0].value - tl[-1].value) / max(tl[0].value, 1e-8)
        ev = measured("training loss", NEAR_CHANCE * chance, tl[-1].value, f"{NEAR_CHANCE:g} x the chance loss ln({k})")
        return Finding("underfitting", "high" if drop < 0.05 else "medium", "Underfitting: training loss stays near chance",
                       f"The training loss is {tl[-1].value:.3f} at {tl[-1].label} ({len(tl)} points); guessing "
                       f"uniformly among {k} classes gives {chance:.3f}. It fell only {drop:.0%} from {tl[0].label}."
                       + needed_note(ev), {"last_train_loss": tl[-1].value, "chance_loss": chance,
                                           "relative_drop": drop, **ev})
    return None


def _no_better_than_the_mean(ctx: Context) -> Finding | None:
    """A regression's underfitting: the training R² (``train_r2``, on the training sample) and the best validation
    R² both below ``UNDERFIT_R2``, or the best validation R² alone when the training sample was not evaluated.
    R² = 1 - MSE / Var(y): 0 is the baseline of always predicting the targets' mean, whatever their units."""
    tr, va = ctx.points("train_r2"), [v for v in ctx.series("val_r2") if math.isfinite(v)]
    if not va and not tr:
        return None
    best_val = max(va) if va else None
    last_train = tr[-1].value if tr and math.isfinite(tr[-1].value) else None
    if (last_train is not None and last_train >= UNDERFIT_R2) or (best_val is not None and best_val >= UNDERFIT_R2):
        return None
    seen = max(v for v in (last_train, best_val) if v is not None)
    ev = measured("R²", UNDERFIT_R2, seen,
                  f"R² of {UNDERFIT_R2:g}", above=False)
    where = (f"the training R² is {last_train:.3f}" if last_train is not None else "") + \
        (" and " if last_train is not None and best_val is not None else "") + \
        (f"the best validation R² is {best_val:.3f}" if best_val is not None else "")
    return Finding("underfitting", "high", "Underfitting: no better than always predicting the mean",
                   f"By the last evaluation {where}: the model explains almost none of the targets' variance beyond "
                   "predicting their mean, even on the data it trains on." + needed_note(ev),
                   {"train_r2": last_train, "best_val_r2": best_val, **ev})


# Still improving: the last evaluation is the best, and its gain over the one before exceeds CONVERGED_GAIN of
# that loss and CONVERGED_GAIN of ln(C) (without classes: CONVERGED_GAIN_NO_SCALE, the loss's scale being unknown).
CONVERGED_GAIN = 0.01
CONVERGED_GAIN_NO_SCALE = 0.005


def still_falling(ctx: Context, pts: Sequence[Point]) -> dict[str, Any] | None:
    """``measured`` evidence when the last of ``pts`` (validation losses) is the best and fell from the one before
    by more than ``CONVERGED_GAIN`` (see above); ``None`` otherwise. 0.011 -> 0.010 has converged."""
    vl = [p.value for p in pts]
    if len(vl) < 2 or not _finite(vl) or _argmin(vl) != len(vl) - 1:
        return None
    c = chance_loss(ctx)
    floor, of = (CONVERGED_GAIN * c, f"{CONVERGED_GAIN:g} x ln({ctx.classes})") if c else \
        (CONVERGED_GAIN_NO_SCALE, f"{CONVERGED_GAIN_NO_SCALE:g} (no chance level known)")
    needed = max(CONVERGED_GAIN * abs(vl[-2]), floor)
    gain = vl[-2] - vl[-1]
    if not gain > needed:
        return None
    return measured("gain of the validation loss at the last evaluation", needed, gain,
                    f"the larger of {CONVERGED_GAIN:.0%} of {vl[-2]:.4g} and {of}")


# Evaluations without a gain of the monitor after which more training is not shown to help the monitored score:
# early stopping's default patience (config.EarlyStoppingConfig.patience).
MONITOR_PLATEAU = 2


def monitor_plateaued(ctx: Context) -> bool:
    """Whether the run's monitor, a score other than the validation loss with a declared direction (macro-F1,
    entity F1), gained nothing over its last ``MONITOR_PLATEAU`` evaluations: its best was first reached before
    them. A validation loss still falling then sharpens confidence, not the measure the run is judged by (a
    macro-F1 of 1.0 three epochs running cannot rise), and early stopping on that monitor ends such a run."""
    direction = ctx.directions.get(ctx.monitor)
    if ctx.monitor == "val_loss" or direction not in ("min", "max"):
        return False
    ms = [p.value for p in ctx.points(ctx.monitor)]
    if len(ms) <= MONITOR_PLATEAU or not _finite(ms):
        return False
    sign = 1.0 if direction == "max" else -1.0
    before = max(sign * v for v in ms[:-MONITOR_PLATEAU])
    return max(sign * v for v in ms[-MONITOR_PLATEAU:]) <= before


@RULES.register("not_converged")
def not_converged(ctx: Context) -> Finding | None:
    """validation loss still improving clearly at the last evaluation, and the run's monitor not at a plateau.

    Effect size: the last evaluation is the best and gained more than ``still_falling`` needs over the one
    before (1% of it and 0.01 ln(C)); a monitored score that gained nothing over its last evaluations
    (``monitor_plateaued``) shows more training would not raise it."""
    if ctx.diverged_reason():
        return None
    pts = ctx.points("val_loss")
    ev = still_falling(ctx, pts)
    if ev is None or monitor_plateaued(ctx):
        return None
    vl = [p.value for p in pts]
    return Finding("not_converged", "medium", "Not converged: validation loss was still falling",
                   f"Validation loss fell from {vl[-2]:.3f} at {pts[-2].label} to {vl[-1]:.3f} at {pts[-1].label}, "
                   "the last evaluation and the best: more training would likely help." + needed_note(ev),
                   {"last_epoch": _epoch_value(pts[-1]) if pts[-1].epoch is not None else len(vl),
                    "last_at": pts[-1].label, "previous_val_loss": vl[-2], "last_val_loss": vl[-1], **ev})


@RULES.register("time_budget")
def time_budget(ctx: Context) -> Finding | None:
    """the time budget ended training while the validation loss was still improving.

    Effect size: the cut came inside the first epoch with the only evaluation its best, or later with the
    last evaluation the best by more than ``still_falling`` needs; else an info note (more time would not help)."""
    cut = [r for r in ctx.history if r.get("epoch_fraction") is not None]
    if not cut:
        return None
    seen = sum(float(r.get("epoch_fraction", 1.0)) for r in ctx.history)
    pts = ctx.points("val_loss")
    vl = [p.value for p in pts]
    ev = still_falling(ctx, pts) if len(vl) >= 2 else None
    improving = not ctx.diverged_reason() and (ev is not None or (len(vl) == 1 and _finite(vl)))
    evidence = {"epochs_seen": round(seen, 3), "val_loss_at_its_best": improving, **(ev or {})}
    share = f"{seen:.2f} epochs" if seen >= 1 else f"{seen:.0%} of one epoch"
    if not improving:
        return Finding("time_budget", "info", "The time budget ended training",
                       f"Training stopped at the time budget after {share}; the validation loss had stopped "
                       "improving by a margin that matters before then, so more time would likely not help.", evidence)
    # Less than one epoch: most training rows were never seen. Otherwise: still improving at the end.
    return Finding("time_budget", "medium", "The time budget ended training while the model was still improving",
                   f"Training stopped at the time budget after {share}"
                   + (", so most training rows were never seen" if seen < 1 else "")
                   + ", and the last validation loss was the best so far: more time would likely help."
                   + (needed_note(ev) if ev else ""), evidence)


# The learning rate looks too low when the training loss fell less than LR_LOW_DROP of where it started over at
# least three points, and is still above LR_LOW_STILL_HIGH x ln(C) (without classes: above LR_LOW_STILL_HIGH_NO_SCALE).
LR_LOW_DROP = 0.1
LR_LOW_STILL_HIGH = 0.5
LR_LOW_STILL_HIGH_NO_SCALE = 0.3


@RULES.register("lr_too_low")
def lr_too_low(ctx: Context) -> Finding | None:
    """the training loss falls very slowly from the start.

    Effect size (a shortfall): a relative fall below ``LR_LOW_DROP`` while the loss is still high (above
    ``LR_LOW_STILL_HIGH`` x ln(C)): a flat loss that is already low is a model that has learned."""
    if ctx.diverged_reason():
        return None
    pts = ctx.points("train_loss")
    tl = [p.value for p in pts]
    if len(tl) < 3 or not _finite(tl):
        return None
    total = (tl[0] - tl[-1]) / max(tl[0], 1e-8)
    c = chance_loss(ctx)
    still_high = tl[-1] > (LR_LOW_STILL_HIGH * c if c else LR_LOW_STILL_HIGH_NO_SCALE)
    if 0 <= total < LR_LOW_DROP and still_high:
        lr = [x for x in ctx.series("lr") if math.isfinite(x)]
        ev = measured("relative fall of the training loss", LR_LOW_DROP, total,
                      f"{LR_LOW_DROP:.0%} of its first value, with the loss still above "
                      + (f"{LR_LOW_STILL_HIGH:g} x ln({ctx.classes})" if c else f"{LR_LOW_STILL_HIGH_NO_SCALE:g}"),
                      above=False)
        return Finding("lr_too_low", "medium", "The learning rate looks too low",
                       f"Over {len(tl)} points ({pts[0].label} to {pts[-1].label}) the training loss fell only "
                       f"{total:.0%} ({tl[0]:.3f} -> {tl[-1]:.3f}): the steps are too small to move the model."
                       + needed_note(ev), {"relative_drop": total, "first_train_loss": tl[0], "last_train_loss": tl[-1],
                                           "lr": max(lr) if lr else None, **ev})
    return None


# The learning rate looks too high when the training loss rises from the first point to the second by more than
# ``loss_effect`` (5% of it, and 0.1 ln(C)), and the third is still above LR_HIGH_STILL of the first.
LR_HIGH_STILL = 0.95


@RULES.register("lr_too_high")
def lr_too_high(ctx: Context) -> Finding | None:
    """the training loss rises in the first evaluations.

    Effect size: a rise from the first to the second point above ``loss_effect`` (the larger of 5% of the first
    value and 0.1 ln(C); without classes, 5% of the first value), with the third point still above ``LR_HIGH_STILL`` of
    the first."""
    pts = ctx.points("train_loss")
    tl = [p.value for p in pts]
    if len(tl) < 3 or not _finite(tl):
        return None
    c = chance_loss(ctx)
    size, how = loss_effect(ctx, tl[0]) if c else (LOSS_EFFECT_RELATIVE * abs(tl[0]), f"{LOSS_EFFECT_RELATIVE:.0%} of "
                                                   f"{tl[0]:.4g} (no chance level known)")
    if tl[1] - tl[0] > size and tl[2] > tl[0] * LR_HIGH_STILL:
        ev = measured("rise of the training loss", size, tl[1] - tl[0], how)
        return Finding("lr_too_high", "medium", "The learning rate looks too high",
                       f"The training loss rose from {tl[0]:.3f} at {pts[0].label} to {tl[1]:.3f} at {pts[1].label} "
                       f"and was still {tl[2]:.3f} at {pts[2].label}: large steps overshoot." + needed_note(ev),
                       {"train_loss": tl[:3], **ev})
    return None


# Little data: fewer than SMALL_DATA_ROWS training rows and more than SMALL_DATA_PER_ROW trained parameters per row.
SMALL_DATA_ROWS = 1000
SMALL_DATA_PER_ROW = 20_000


@RULES.register("small_data")
def small_data(ctx: Context) -> Finding | None:
    """very few training rows for the model's size (below ``SMALL_DATA_ROWS`` rows and above ``SMALL_DATA_PER_ROW``
    trained parameters per row)"""
    if not ctx.n_train or not ctx.n_params:
        return None
    per_row = ctx.n_params / ctx.n_train
    if ctx.n_train < SMALL_DATA_ROWS and per_row > SMALL_DATA_PER_ROW:
        ev = measured("number of trained parameters per training row", SMALL_DATA_PER_ROW, per_row,
                      f"with fewer than {SMALL_DATA_ROWS} rows")
        return Finding("small_data", "low", "Little data for the model's size",
                       f"{ctx.n_train} training rows for {ctx.n_params / 1e6:.1f}M trained parameters "
                       f"({per_row:,.0f} per row): the model can memorise the data easily.",
                       {"train_rows": ctx.n_train, "trainable_params": ctx.n_params, **ev})
    return None


# The headline metric a seed spread is judged by, in order of preference (the first a task reports).
_SPREAD_HEADLINE = ("f1_macro", "f1", "accuracy", "r2", "rmse")
# A spread above this share of the headline's scale (its mean, or 1 for scores in [0, 1]) is large.
LARGE_SPREAD = 0.02


@RULES.register("seed_spread")
def seed_spread(ctx: Context) -> Finding | None:
    """how much the test metrics move with the seed alone (runs trained with several seeds).

    Always an info note with the spread; "medium" (large) when the headline's std over seeds exceeds
    ``LARGE_SPREAD`` of its scale (1 for scores in [0, 1], the mean for rmse)."""
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
                    "max": m["max"], "kept_seed": sp.get("kept_seed"), "large": large,
                    **measured(f"std over seeds of the test {name}", LARGE_SPREAD * scale, m["std"],
                               f"{LARGE_SPREAD:g} x the metric's scale ({scale:.4g}) for a large spread")})


# Imbalanced classes: the largest class at least IMBALANCE_RATIO times the smallest ("medium" from IMBALANCE_HIGH).
IMBALANCE_RATIO = 3.0
IMBALANCE_HIGH = 10.0


@RULES.register("class_imbalance")
def class_imbalance(ctx: Context) -> Finding | None:
    """a large ratio between the largest and smallest class (at least ``IMBALANCE_RATIO``)"""
    ratio = number(ctx.data.get("imbalance_ratio"))
    if ratio is not None and math.isfinite(ratio) and ratio >= IMBALANCE_RATIO:
        return Finding("class_imbalance", "medium" if ratio >= IMBALANCE_HIGH else "low", "Imbalanced classes",
                       f"The largest class has {ratio:.1f} times the rows of the smallest: accuracy flatters the "
                       "model, and small classes are easy to ignore. Judge by macro-F1.",
                       {"imbalance_ratio": ratio, **measured("ratio of the largest class to the smallest",
                                                             IMBALANCE_RATIO, ratio, "at least this ratio")})
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


# Label noise: more than LABEL_NOISE_RATE of the training rows flagged; "high" above LABEL_NOISE_HIGH when trusted;
# the audit is trusted when its flags explain all but LABEL_AUDIT_SLACK of its probe's disagreement.
LABEL_NOISE_RATE = 0.1
LABEL_NOISE_HIGH = 0.15
LABEL_AUDIT_SLACK = 0.1


@RULES.register("label_noise")
def label_noise(ctx: Context) -> Finding | None:
    """many training rows look mislabelled (more than ``LABEL_NOISE_RATE`` of them flagged by the label audit)"""
    issues = ctx.data.get("label_issues")
    if issues and ctx.n_train and issues / ctx.n_train > LABEL_NOISE_RATE:
        rate = issues / ctx.n_train
        acc = ctx.data.get("label_audit_accuracy")
        # The audit is trusted when the rows it flags explain nearly all of its probe's disagreement with
        # the given labels; a weak probe also disagrees on hard rows it does not flag, and then the flags
        # are a hint, not a verdict.
        unexplained = (1 - acc) - rate if acc is not None and acc == acc else None
        trusted = unexplained is not None and unexplained <= LABEL_AUDIT_SLACK
        if ctx.data.get("label_audit_trusted") is False:  # the audit itself says its probe is too weak
            trusted, unexplained = False, None
        hedge = "" if trusted else (f" The audit's probe reached only {acc:.2f} out-of-fold accuracy, so part of "
                                    "these are hard rather than wrong." if unexplained is not None else
                                    " The audit's probe is weak on this data (data_report.json says how), so part of "
                                    "these are hard rather than wrong.")
        severity = ("high" if rate > LABEL_NOISE_HIGH else "medium") if trusted else "low"
        return Finding("label_noise", severity, "Many labels look wrong",
                       f"The label audit flagged {issues} of {ctx.n_train} training rows ({rate:.0%}) as likely "
                       "mislabelled: noisy labels cap the accuracy any model can reach and invite memorisation."
                       + hedge, {"label_issues": issues, "train_rows": ctx.n_train, "rate": rate,
                                 "audit_accuracy": acc, **measured("share of training rows flagged", LABEL_NOISE_RATE,
                                                                   rate, "the label audit's flags")})
    return None


# Many duplicates: more than DUPLICATE_SHARE of the rows removed as duplicates.
DUPLICATE_SHARE = 0.05


@RULES.register("duplicates")
def duplicates(ctx: Context) -> Finding | None:
    """a large share of the data were duplicates (more than ``DUPLICATE_SHARE`` of the rows)"""
    removed = ctx.data.get("removed") or {}
    dups = sum(v for k, v in removed.items() if k in ("exact_duplicate", "near_duplicate", "conflicting_duplicate"))
    total = ctx.data.get("rows_in") or (ctx.n_train or 0) + dups
    if total and dups / total > DUPLICATE_SHARE:
        return Finding("duplicates", "low", "Many duplicates in the data",
                       f"The data stage removed {dups} duplicate rows ({dups / total:.0%}): the data set is smaller "
                       "than it looks.", {"duplicates_removed": dups,
                                          **measured("share of rows removed as duplicates", DUPLICATE_SHARE,
                                                     dups / total, "of the rows read")})
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
