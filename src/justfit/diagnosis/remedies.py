"""Remedies: each finding maps to ranked, concrete config changes, printed as ``--set`` overrides.

A remedy is computed from the run's resolved config, so it names a value to try (double the
dropout it had, halve its learning rate), not a direction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from justfit.config import TrainingConfig
from justfit.diagnosis.rules import Finding

DEFAULT_LR = TrainingConfig.model_fields["lr"].default
DEFAULT_BATCH = TrainingConfig.model_fields["batch_size"].default
Remedy = dict[str, Any]  # {"why": str, "set": {"section.key": value}}


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


def _more_regularisation(cfg: dict[str, Any]) -> list[Remedy]:
    wd = float(_get(cfg, "training.weight_decay", 0.01))
    dropout = _get(cfg, "model.dropout")
    freeze = str(_get(cfg, "model.freeze", "none"))
    out = []
    if wd < 0.3:
        out.append(_r("stronger L2 penalty", training__weight_decay=round(min(0.3, max(0.05, wd * 5)), 4)))
    if (dropout or 0.1) < 0.5:
        out.append(_r("more dropout", model__dropout=round(min(0.5, (dropout or 0.1) * 2), 2)))
    if _get(cfg, "model.strategy") == "lora":
        rank = int(_get(cfg, "model.lora_rank", 8))
        if rank > 2:
            out.append(_r("train fewer parameters: a smaller LoRA rank", model__lora_rank=rank // 2))
    elif freeze == "none":
        out.append(_r("train fewer parameters: freeze the embeddings and the lowest 2 layers", model__freeze="bottom:2"))
    elif freeze.startswith("bottom:"):
        out.append(_r("freeze more layers", model__freeze=f"bottom:{int(freeze.split(':')[1]) + 2}"))
    out.append(_stop_sooner(cfg))
    return out


def _stop_sooner(cfg: dict[str, Any]) -> Remedy:
    epochs = int(_get(cfg, "training.epochs", 5))
    return _r("stop sooner", early_stopping__enabled=True, early_stopping__patience=1,
              training__epochs=max(2, epochs // 2))


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
    "overfitting": lambda cfg, ev: _more_regularisation(cfg),
    "growing_gap": lambda cfg, ev: _more_regularisation(cfg),
    "early_best": lambda cfg, ev: [_stop_sooner(cfg)],
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
                                   if _get(cfg, "model.freeze") != "backbone" else []) + _more_regularisation(cfg)[:2],
    "class_imbalance": lambda cfg, ev: [_r("weight the loss by inverse class frequency", training__class_weights="auto"),
                                        _r("judge by macro-F1", early_stopping__monitor="val_f1")],
    "test_leakage": lambda cfg, ev: [_r("remove training copies of test rows", quality__leakage="remove")],
    "label_noise": lambda cfg, ev: [_r("down-weight suspected mislabelled rows", quality__label_noise="downweight"),
                                    _r("drop them", quality__label_noise="drop")],
    "duplicates": lambda cfg, ev: [],
}


def remedies_for(finding: Finding, config: dict[str, Any] | None = None) -> list[Remedy]:
    """Ranked remedies for ``finding``, with values computed from ``config`` (a resolved config dict)."""
    cfg = config or {}
    out = REMEDIES.get(finding.code, lambda cfg, ev: [])(cfg, finding.evidence)
    # A remedy that would set what is already set is no remedy. Freezing is the recipe's business in a
    # staged recipe, and does not combine with LoRA.
    fixed_freeze = _get(cfg, "model.strategy") == "lora" or _get(cfg, "training.recipe", "standard") != "standard"
    return [r for r in out if any(_get(cfg, k) != v for k, v in r["set"].items())
            and not (fixed_freeze and "model.freeze" in r["set"])]


def as_flags(remedy: Remedy) -> str:
    """The remedy as command-line overrides: ``--set training.lr=1e-4 --set model.dropout=0.2``."""
    return " ".join(f"--set {k}={v}" for k, v in remedy["set"].items())
