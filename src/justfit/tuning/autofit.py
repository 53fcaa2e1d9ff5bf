"""Auto-fit: diagnose a run, apply the top remedy, train again; keep the round with the best validation score.

Only training and validation data are ever looked at here: the test split is evaluated once,
by the caller, on the round this loop picks. Each round records what changed, why (the
finding and its evidence), and the validation score.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from justfit.checks import monitor_direction, recorded
from justfit.diagnosis.diagnose import diagnose
from justfit.directions import best_value, oriented
from justfit.errors import ConfigError, ModelError
from justfit.seeds import is_noise, summarise

# A round within this relative distance of the best is as good as the best.
TOLERANCE = 0.01
# Remedies that change what is measured cannot be compared across rounds.
_NOT_COMPARABLE = ("early_stopping.monitor", "early_stopping.mode")


@dataclass
class Round:
    round: int
    changes: dict[str, Any]
    why: str
    finding: str
    score: float | None  # the monitor's best value on its own scale (None: the round was skipped)
    best_epoch: int | None
    verdict: str
    seconds: float
    seed_std: float | None = None  # the validation score's spread over seeds (trained with several)


@dataclass
class AutoFitResult:
    rounds: list[Round] = field(default_factory=list)
    chosen: int = 1
    monitor: str = "val_loss"
    stopped: str = ""
    direction: str = "min"  # which way the monitor is better, as the task declares it
    outcome: str = ""  # whether the remedies improved on the config as given, beyond the seed spread

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "direction": self.direction, "chosen_round": self.chosen,
                "stopped": self.stopped, "outcome": self.outcome,
                "rounds": [asdict(r) for r in self.rounds]}


def outcome(result: AutoFitResult) -> str:
    """One sentence on what the rounds achieved against round 1 (the config as given), on validation: no
    improvement; a gain beyond the seed spread (rounds trained with several seeds, ``seeds.is_noise``); a gain
    within it (noise); or a gain whose spread was not measured (one seed per round)."""
    first, chosen = result.rounds[0], next(r for r in result.rounds if r.round == result.chosen)
    if len(result.rounds) == 1:
        return f"only round 1 ran ({result.stopped}): no remedy was tried"
    if chosen.round == 1 or first.score is None or chosen.score is None:
        return "no remedy improved on the configuration as given: round 1 is kept"
    gain = abs(chosen.score - first.score)
    said = f"round {chosen.round} improved validation {result.monitor} from {first.score:.4g} to {chosen.score:.4g}"
    spread = max((r.seed_std for r in (first, chosen) if r.seed_std is not None), default=None)
    if spread is None:
        return said + " with one seed per round: whether that exceeds the seed spread was not measured (--seeds 3 measures it)"
    if is_noise(gain, spread):
        return said + f", within the seed spread ({spread:.4g}): no better than the configuration as given"
    return said + f", beyond the seed spread ({spread:.4g})"


def selection_score(history: list[dict[str, Any]], monitor: str, direction: str) -> float:
    """The best value of ``monitor`` over the epochs, oriented so that higher is better (negated when its
    ``direction``, the task's declared one from ``checks.monitor_direction``, is ``"min"``); ``-inf`` when it
    was never a finite number."""

    return oriented(best_value((r.get(monitor) for r in history), direction), direction)  # type: ignore[arg-type]


def monitor_value(score: float, direction: str) -> float:
    """A ``selection_score`` back on the monitor's own scale (what a user reads)."""
    return -score if direction == "min" else score


def next_change(diagnosis: Any, config: dict[str, Any], tried: list[tuple[str, str]]) -> tuple[Any, dict] | None:
    """The highest-ranked remedy of the most serious finding that has not been tried and is comparable.

    A remedy kind ("stronger L2 penalty", "more dropout") is set aside once a round that applied it did
    not improve on the round it built on, so the next kind gets its turn. Steps along a scale marked
    ``repeatable`` (a learning rate far too low) stay available unless they made things clearly
    worse: near chance, one step up may not show yet.
    """
    for finding in diagnosis.findings:
        for remedy in finding.remedies:
            changes = remedy["set"]
            if any(k in _NOT_COMPARABLE for k in changes) or (finding.code, remedy["why"]) in tried:
                continue
            return finding, remedy
    return None


def within_budget(cfg: Any, time_budget: float | None, elapsed: float) -> Any:
    """``cfg`` with ``training.time_budget`` no longer than what is left of the auto-fit's ``time_budget``
    (seconds) after ``elapsed`` seconds, so that a round that starts inside the budget also ends inside it:
    the time-budget planner fits the round's schedule to it (``training.time_budget``). Unchanged without a
    budget, or when the round's own budget is already the shorter."""
    if time_budget is None:
        return cfg
    left = max(1.0, float(time_budget) - elapsed)
    own = cfg.training.time_budget
    return cfg if own is not None and own <= left else cfg.updated({"training.time_budget": float(f"{left:.4g}")})


def _leaks(diagnosis: Any) -> bool:
    """A round trained on copies of test rows cannot be chosen over one that was not: its scores flatter it."""
    return any(f.code == "test_leakage" and f.severity == "high" for f in diagnosis.findings)


def auto_fit(fit_round: Callable[[Any], tuple[Any, list[dict[str, Any]], dict[str, Any]]], config: Any, *,
             rounds: int = 3, time_budget: float | None = None, log: Callable[[str], None] | None = None,
             resolve: Callable[[Any], Any] | None = None) -> tuple[Any, Any, AutoFitResult]:
    """Run up to ``rounds`` rounds, within ``time_budget`` seconds when given (no round starts that the last
    round's time says would not finish in it, and each round trains within what is left: ``within_budget``).
    ``fit_round(cfg)`` trains on cfg and returns ``(fitted, history, context)``,
    where context holds the diagnosis inputs (``data``, ``metrics``, ``n_train``, ``n_params``, ``n_classes``),
    none from the test split. ``resolve(cfg)``: the config a remedy made, with what depends on the change
    resolved again (``justfit.defaults.reresolve``); by default, as the remedy left it. Returns ``(best fitted,
    its config, AutoFitResult)``."""
    def remedied(c: Any, change: dict[str, Any]) -> Any:
        out = c.updated(change)
        return resolve(out) if resolve is not None else out

    if rounds < 1:
        raise ConfigError(f"Auto-fit needs at least 1 round. Got rounds={rounds}.")

    es = config.early_stopping
    direction = monitor_direction(config)
    result = AutoFitResult(monitor=es.monitor, direction=direction)
    t_start = time.perf_counter()
    cfg, tried = config, []
    change, finding_code, why = {}, "", "the configuration as given"
    best = None  # (rank, fitted, cfg, round, diagnosis, ctx)
    pending: tuple[str, str] | None = None  # the remedy kind applied in this round
    pending_repeatable = False
    base_score = -math.inf
    base = None  # (cfg, diagnosis) that the next remedy builds on
    r = 0
    while r < rounds:
        r += 1
        t0 = time.perf_counter()
        cfg = within_budget(cfg, time_budget, t0 - t_start)
        try:
            fitted, history, ctx = fit_round(cfg)
        except (ConfigError, ModelError) as exc:
            if best is None:
                raise
            # A remedy this model cannot take (e.g. freezing more layers than it has), or a suggested model
            # that cannot be loaded here (offline): skip it.
            result.rounds.append(Round(r, change, f"{why} (skipped: {exc})", finding_code, None, None,
                                       "skipped", time.perf_counter() - t0))
            picked = next_change(base[1], base[0].model_dump(mode="json"), tried)
            if picked is None:
                result.stopped = "no untried remedy left"
                break
            finding, remedy = picked
            change, finding_code, why = dict(remedy["set"]), finding.code, f"{finding.title}: {remedy['why']}"
            tried.append((finding.code, remedy["why"]))
            cfg = remedied(base[0], change)
            continue
        diagnosis = diagnose(history, config=cfg.model_dump(mode="json"), monitor=es.monitor,
                             directions=recorded(cfg, cfg.task), **ctx)
        score = selection_score(history, es.monitor, direction)
        best_epoch = getattr(fitted, "best_epoch_", None)
        # Trained with several seeds, a gain within the seed spread is noise, not a remedy that helped.
        spread = getattr(fitted, "seed_val_scores_", None)
        std = float(summarise(spread)["std"]) if spread and len(spread) > 1 else None
        value = monitor_value(score, direction) if math.isfinite(score) else None
        result.rounds.append(Round(r, change, why, finding_code, value, best_epoch, diagnosis.verdict,
                                   time.perf_counter() - t0, std))
        noise = std is not None and pending is not None and is_noise(score - base_score, std)
        if log:
            shown = "never a number" if value is None else f"{value:.4f}"
            log(f"round {r}: {es.monitor} {shown} (best epoch {best_epoch}), verdict {diagnosis.verdict}"
                + (f"; changed {change}" if change else "")
                + (f"; within the seed spread ({std:.4f}): noise" if noise else ""))
        if pending is not None and (not score > base_score or noise):
            clearly_worse = score < base_score - TOLERANCE * max(abs(base_score), 1e-8)
            if not pending_repeatable or clearly_worse:
                tried.append(pending)  # this kind of remedy did not help: give the next one its turn
        rank = (not _leaks(diagnosis), score)
        if best is None or rank > best[0]:
            best = (rank, fitted, cfg, r, diagnosis, ctx)
        if r >= rounds:
            result.stopped = f"ran the {rounds} rounds asked for"
            break
        if time_budget is not None and time.perf_counter() - t_start + result.rounds[-1].seconds > time_budget:
            result.stopped = f"the next round would exceed the time budget of {time_budget:g} s"
            break
        if diagnosis.verdict == "good fit" and not diagnosis.top:
            result.stopped = f"round {r} fits well: nothing left to fix"
            break
        # Build on this round unless it made things clearly worse (then go back to the best round):
        # a step in the right direction that is not yet enough (a learning rate still too low) is kept.
        if rank[0] >= best[0][0] and score >= best[0][1] - TOLERANCE * max(abs(best[0][1]), 1e-8):
            base = (cfg, diagnosis)
        else:
            base = (best[2], best[4])
        picked = next_change(base[1], base[0].model_dump(mode="json"), tried)
        if picked is None:
            result.stopped = "no untried remedy left"
            break
        finding, remedy = picked
        change, finding_code = dict(remedy["set"]), finding.code
        why = f"{finding.title}: {remedy['why']}"
        pending = (finding.code, remedy["why"])
        pending_repeatable = bool(remedy.get("repeatable"))
        base_score = best[0][1] if base[0] is best[2] else score
        cfg = remedied(base[0], change)
    result.chosen = best[3]
    result.outcome = outcome(result)
    if log:
        log(f"auto-fit: {result.outcome}")
    return best[1], best[2], result
