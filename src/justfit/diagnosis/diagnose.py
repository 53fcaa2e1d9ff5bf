"""Run every rule, rank the findings, pick the verdict, attach remedies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from justfit.diagnosis.history_io import load_history
from justfit.diagnosis.remedies import direction, remedies_for
from justfit.diagnosis.rules import RULES, SEVERITY, VERDICTS, Context, Finding
from justfit.diagnosis.tool_terms import TOOL_NAMES, in_tool

# Which kind of problem names the verdict when several are found: a broken optimisation first
# (nothing else can be judged), then a model that cannot read the data (no training setting helps),
# then data problems (root causes), then the fit itself.
NOT_ENOUGH = "not enough evidence"  # the verdict when the history holds too few validation points to judge
VERDICT_ORDER = ["unstable", "model cannot read data", "leaked test set", "noisy labels", "no better than a cheap baseline",
                 "overfitting",
                 "underfitting", "not converged"]
# (Among findings of equal severity: noisy labels is the cause, overfitting on them the symptom.)
# Rules that read a diverged history as a capacity or convergence problem: silenced when the run diverged.
_NOT_AFTER_DIVERGENCE = ("underfitting", "lr_too_low", "not_converged")
# Findings whose remedies may touch the learning rate after a divergence (downwards only, by the bounds).
_CALMING = ("diverged", "unstable", "lr_too_high")


@dataclass
class Diagnosis:
    verdict: str
    findings: list[Finding] = field(default_factory=list)
    source: str = ""
    tool: str | None = None  # the tool that wrote the history (remedies are said in its terms), None: justfit

    @property
    def top(self) -> list[Finding]:
        return [f for f in self.findings if SEVERITY[f.severity] >= SEVERITY["medium"]]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "source": self.source, "tool": self.tool,
                "findings": [f.to_dict() for f in self.findings]}


def _fallback_config(ctx: Context) -> dict[str, Any]:
    """Another tool's run: remedies start from the learning rate it used and the epochs it ran."""
    training: dict[str, Any] = {}
    lrs = [x for x in ctx.series("lr") if math.isfinite(x) and x > 0]
    if lrs:
        training["lr"] = max(lrs)
    epochs = [p.epoch for key in ("val_loss", "train_loss") for p in ctx.points(key) if p.epoch is not None]
    if epochs and math.isfinite(max(epochs)):
        training["epochs"] = max(1, math.ceil(max(epochs) - 1e-9))
    return {"training": training} if training else {}


def _resolve(findings: list[Finding], config: dict[str, Any], *, diverged: bool) -> None:
    """Drop remedies that contradict those of a finding ranked before them (``findings`` is in rank order:
    the verdict's findings first, then by severity). A key moved up by one finding is not moved down by
    another (learning rate, epochs, regularisation, how much is frozen), and a choice made by one finding
    (a model, a monitor) is not replaced by another. After a divergence, only the calming findings may set
    the learning rate (and only lower it, by the bounds); when the model cannot read the data, no other finding
    sets it, except those calming findings of a diverged run."""
    unreadable = any(f.code == "unreadable_data" for f in findings)
    claims: dict[str, str] = {}
    for f in findings:
        own: dict[str, str] = {}
        kept = []
        for r in f.remedies:
            if "training.lr" in r["set"] and f.code != "unreadable_data" and (
                    (unreadable and not (diverged and f.code in _CALMING)) or (diverged and f.code not in _CALMING)):
                continue
            moves = {k: d for k, v in r["set"].items() if (d := direction(k, v, config)) is not None}
            clash = any(k in claims and claims[k] != d for k, d in moves.items()) or \
                any(k in own and own[k] != d and not d.startswith("=") for k, d in moves.items())
            if clash:
                continue
            kept.append(r)
            for k, d in moves.items():
                own.setdefault(k, d)
        f.remedies = kept
        for k, d in own.items():
            claims.setdefault(k, d)


def diagnose(history: list[dict[str, Any]] | Context, *, data: dict[str, Any] | None = None,
             metrics: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
             n_train: int | None = None, n_params: int | None = None, n_classes: int | None = None,
             n_val: int | None = None, source: str = "", monitor: str = "val_loss",
             directions: dict[str, str] | None = None, tool: str | None = None,
             model_type: str | None = None, baseline: dict[str, Any] | None = None,
             task_facts: dict[str, Any] | None = None) -> Diagnosis:
    """Diagnose one run from its ``history`` (justfit's per-epoch records, or a ``Context`` of evaluation points
    read from another tool's log) and, when known, its data-stage summary, test metrics, resolved config and
    sizes (``n_val``: the units a validation score averages over, which sets its noise).
    ``monitor`` is early stopping's and ``directions`` the recorded names' declared directions
    (``justfit.directions``): the best epoch is the monitor's, as early stopping chose it. Remedies are
    bounded per key, never raise the learning rate after a divergence, never repeat a setting the run has,
    and never move a key both ways across findings. ``tool``: the tool that wrote the history (``"keras"``,
    ``"transformers"``, ``"lightning"``, ``"fastai"``; ``None`` for justfit): its run's ``config`` holds only
    what its log states (completed by the log's learning rate and epochs), and each remedy carries
    ``in_tool``, its settings in that tool's terms. ``model_type``: the model's (config.json), when known.
    ``baseline``: the cheap baseline fitted on the same splits and its validation comparison
    (``evaluation.baseline.summary``); a model that does not beat it beyond the noise is the verdict.
    ``task_facts``: what the run recorded of its task (``BaseTask.diagnosis_facts``: the settings no remedy may
    set, an augmentation measured to help it)."""
    ctx = history if isinstance(history, Context) else Context(
        history=list(history), data=data or {}, metrics=metrics or {}, n_train=n_train, n_params=n_params,
        n_classes=n_classes, n_val=n_val, monitor=monitor, directions=dict(directions or {}),
        baseline=dict(baseline or {}), task_facts=dict(task_facts or {}))
    if tool not in (None, "justfit"):  # another tool's run: what its files state, then what its log shows
        fallback = _fallback_config(ctx)
        config = {s: {**fallback.get(s, {}), **(config or {}).get(s, {})} for s in {*fallback, *(config or {})}}
    elif not config:  # a run whose settings are unknown: no defaults are assumed
        config, tool = _fallback_config(ctx), "unknown"
    findings = [f for f in (rule(ctx) for rule in (RULES.get(n) for n in RULES.names())) if f is not None]
    diverged = ctx.diverged_reason() is not None or any(f.code == "diverged" for f in findings)
    if diverged:
        findings = [f for f in findings if f.code not in _NOT_AFTER_DIVERGENCE]
    best_epoch = ctx.best_epoch()
    for f in findings:
        f.remedies = remedies_for(f, config, diverged=diverged, best_epoch=best_epoch, n_train=ctx.n_train,
                                  tool=tool, model_type=model_type, task_facts=ctx.task_facts)
    findings.sort(key=lambda f: -SEVERITY[f.severity])
    # The verdict comes from the most severe findings; among equally severe ones, VERDICT_ORDER decides.
    serious = [f for f in findings if f.code in VERDICTS and SEVERITY[f.severity] >= 2]
    top_level = max((SEVERITY[f.severity] for f in serious), default=0)
    named = {VERDICTS[f.code] for f in serious if SEVERITY[f.severity] == top_level}
    verdict = next((v for v in VERDICT_ORDER if v in named), "good fit")
    if verdict == "good fit":
        # "Good fit" is a judgement of curves: with fewer than two validation points there is none to judge.
        n_val = max(len(ctx.series("val_loss")), len(ctx.series("val_accuracy")), len(ctx.series("val_f1")))
        if n_val < 2:
            verdict = NOT_ENOUGH
            what = "no validation values" if n_val == 0 else "one validation point"
            findings.append(Finding(
                "few_evaluations", "low", "Not enough evaluations to judge the fit",
                f"The history holds {what}: over- or underfitting shows in how validation and training curves move "
                "apart over several evaluations. Train for more epochs (or evaluate more often), with a validation "
                "split.", {"validation_points": n_val}))
    # The findings that name the verdict come first; then by severity, then by VERDICT_ORDER.
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    findings.sort(key=lambda f: (VERDICTS.get(f.code) != verdict, -SEVERITY[f.severity],
                                 rank.get(VERDICTS.get(f.code, ""), len(rank))))
    _resolve(findings, config, diverged=diverged)
    if tool in TOOL_NAMES:
        for f in findings:
            f.remedies = [{**r, "in_tool": in_tool(r, tool)} for r in f.remedies]
    return Diagnosis(verdict, findings, source, tool if tool != "unknown" else None)


def diagnose_run(path: str | Path) -> Diagnosis:
    """Diagnose a finished run directory, or a history file written by justfit or another tool. The
    diagnosis ``source`` names the format, and says when the file held several runs (the last is diagnosed)."""

    loaded = load_history(path)
    ctx = Context(history=loaded["history"], data=loaded.get("data") or {}, metrics=loaded.get("metrics") or {},
                  baseline=dict(loaded.get("baseline") or {}),
                  n_train=loaded.get("n_train"), n_params=loaded.get("n_params"), n_classes=loaded.get("n_classes"),
                  n_val=loaded.get("n_val"),
                  position_unit=loaded.get("position_unit", "epoch"), notes=list(loaded.get("notes") or []),
                  best=dict(loaded.get("best") or {}), directions=dict(loaded.get("directions") or {}),
                  task_facts=dict(loaded.get("task_facts") or {}),
                  monitor=str(((loaded.get("config") or {}).get("early_stopping") or {}).get("monitor") or "val_loss"))
    return diagnose(ctx, config=loaded.get("config"), source=loaded.get("source") or loaded["format"],
                    tool=loaded.get("tool") or "unknown", model_type=loaded.get("model_type"))
