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

from justfit.diagnosis.diagnose import diagnose

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
    score: float
    best_epoch: int | None
    verdict: str
    seconds: float


@dataclass
class AutoFitResult:
    rounds: list[Round] = field(default_factory=list)
    chosen: int = 1
    monitor: str = "val_loss"
    stopped: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "chosen_round": self.chosen, "stopped": self.stopped,
                "rounds": [asdict(r) for r in self.rounds]}


def selection_score(history: list[dict[str, Any]], monitor: str, mode: str = "auto") -> float:
    """The best value of ``monitor`` over the epochs, oriented so that higher is better."""
    lower_better = mode == "min" or (mode == "auto" and "loss" in monitor)
    vals = [float(r[monitor]) for r in history if r.get(monitor) is not None and math.isfinite(float(r[monitor]))]
    if not vals:
        return -math.inf
    return -min(vals) if lower_better else max(vals)


def next_change(diagnosis: Any, config: dict[str, Any], tried: list[dict[str, Any]]) -> tuple[Any, dict] | None:
    """The highest-ranked remedy of the most serious finding that has not been tried and is comparable."""
    for finding in diagnosis.findings:
        for remedy in finding.remedies:
            changes = remedy["set"]
            if any(k in _NOT_COMPARABLE for k in changes) or changes in tried:
                continue
            return finding, remedy
    return None


def auto_fit(fit_round: Callable[[Any], tuple[Any, list[dict[str, Any]], dict[str, Any]]], config: Any, *,
             rounds: int = 3, time_budget: float | None = None, log: Callable[[str], None] | None = None
             ) -> tuple[Any, Any, AutoFitResult]:
    """Run up to ``rounds`` rounds. ``fit_round(cfg)`` trains on cfg and returns ``(fitted, history, context)``,
    where context holds the diagnosis inputs (``data``, ``metrics``, ``n_train``, ``n_params``, ``n_classes``),
    none from the test split. Returns ``(best fitted, its config, AutoFitResult)``."""
    es = config.early_stopping
    result = AutoFitResult(monitor=es.monitor)
    t_start = time.perf_counter()
    cfg, tried = config, []
    change, finding_code, why = {}, "", "the configuration as given"
    best = None
    for r in range(1, max(1, rounds) + 1):
        t0 = time.perf_counter()
        fitted, history, ctx = fit_round(cfg)
        cfg_json = cfg.model_dump(mode="json")
        diagnosis = diagnose(history, config=cfg_json, **ctx)
        score = selection_score(history, es.monitor, es.mode)
        best_epoch = getattr(fitted, "best_epoch_", None)
        result.rounds.append(Round(r, change, why, finding_code, score, best_epoch, diagnosis.verdict,
                                   time.perf_counter() - t0))
        if log:
            log(f"round {r}: {es.monitor} {abs(score):.4f} (best epoch {best_epoch}), verdict {diagnosis.verdict}"
                + (f"; changed {change}" if change else ""))
        if best is None or score > best[0]:
            best = (score, fitted, cfg, r)
        if r == rounds:
            result.stopped = f"ran the {rounds} rounds asked for"
            break
        if time_budget is not None and time.perf_counter() - t_start + result.rounds[-1].seconds > time_budget:
            result.stopped = f"the next round would exceed the time budget of {time_budget:.0f} s"
            break
        if diagnosis.verdict == "good fit" and not diagnosis.top:
            result.stopped = f"round {r} fits well: nothing left to fix"
            break
        # Build on this round unless it made things clearly worse (then go back to the best round):
        # a step in the right direction that is not yet enough (a learning rate still too low) is kept.
        if score >= best[0] - TOLERANCE * max(abs(best[0]), 1e-8):
            base_cfg, base_diag = cfg, diagnosis
        else:
            base_cfg = best[2]
            base_diag = diagnose(_history_of(best[1]), config=base_cfg.model_dump(mode="json"), **ctx)
        picked = next_change(base_diag, base_cfg.model_dump(mode="json"), tried)
        if picked is None:
            result.stopped = "no untried remedy left"
            break
        finding, remedy = picked
        change, finding_code = dict(remedy["set"]), finding.code
        why = f"{finding.title}: {remedy['why']}"
        tried.append(change)
        cfg = base_cfg.updated(change)
    result.chosen = best[3]
    return best[1], best[2], result


def _history_of(fitted: Any) -> list[dict[str, Any]]:
    h = getattr(fitted, "history_", None)
    return list(h.records) if h is not None else []
