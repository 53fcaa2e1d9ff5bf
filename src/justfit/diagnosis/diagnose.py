"""Run every rule, rank the findings, pick the verdict, attach remedies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from justfit.diagnosis.remedies import remedies_for
from justfit.diagnosis.rules import RULES, SEVERITY, VERDICTS, Context, Finding

# Which kind of problem names the verdict when several are found: a broken optimisation first
# (nothing else can be judged), then data problems (root causes), then the fit itself.
VERDICT_ORDER = ["unstable", "leaked test set", "noisy labels", "overfitting", "underfitting", "not converged"]
# (Among findings of equal severity: noisy labels is the cause, overfitting on them the symptom.)


@dataclass
class Diagnosis:
    verdict: str
    findings: list[Finding] = field(default_factory=list)
    source: str = ""

    @property
    def top(self) -> list[Finding]:
        return [f for f in self.findings if SEVERITY[f.severity] >= SEVERITY["medium"]]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "source": self.source, "findings": [f.to_dict() for f in self.findings]}


def diagnose(history: list[dict[str, Any]] | Context, *, data: dict[str, Any] | None = None,
             metrics: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
             n_train: int | None = None, n_params: int | None = None, n_classes: int | None = None,
             source: str = "") -> Diagnosis:
    """Diagnose one run from its per-epoch ``history`` (and, when known, its data-stage summary,
    test metrics, resolved config and sizes)."""
    ctx = history if isinstance(history, Context) else Context(
        history=list(history), data=data or {}, metrics=metrics or {}, n_train=n_train, n_params=n_params,
        n_classes=n_classes)
    if not config:
        # Another tool's history: remedies start from the learning rate it actually used.
        lrs = ctx.series("lr")
        config = {"training": {"lr": max(lrs)}} if lrs else {}
    findings = [f for f in (rule(ctx) for rule in (RULES.get(n) for n in RULES.names())) if f is not None]
    for f in findings:
        f.remedies = remedies_for(f, config)
    findings.sort(key=lambda f: -SEVERITY[f.severity])
    # The verdict comes from the most severe findings; among equally severe ones, VERDICT_ORDER decides.
    serious = [f for f in findings if f.code in VERDICTS and SEVERITY[f.severity] >= 2]
    top_level = max((SEVERITY[f.severity] for f in serious), default=0)
    named = {VERDICTS[f.code] for f in serious if SEVERITY[f.severity] == top_level}
    verdict = next((v for v in VERDICT_ORDER if v in named), "good fit")
    # The findings that name the verdict come first.
    findings.sort(key=lambda f: (VERDICTS.get(f.code) != verdict, -SEVERITY[f.severity]))
    return Diagnosis(verdict, findings, source)


def diagnose_run(path: str | Path) -> Diagnosis:
    """Diagnose a finished run directory, or a history file written by justfit or another tool."""
    from justfit.diagnosis.history_io import load_history

    loaded = load_history(path)
    return diagnose(loaded["history"], data=loaded.get("data"), metrics=loaded.get("metrics"),
                    config=loaded.get("config"), n_train=loaded.get("n_train"), n_params=loaded.get("n_params"),
                    n_classes=loaded.get("n_classes"), source=loaded["format"])
