"""Remedies: each finding maps to ranked, concrete config changes, printed as ``--set`` overrides.

A remedy is computed from the run's effective config (the resolved config, justfit's defaults for any
key it leaves out; another tool's run: only what its log states), so it names a value to try (double the
dropout it had, three times its learning rate), not a direction. Three rules make it good advice:

* bounded per key and model: every numeric value is held to a sane range for its key (``BOUNDS``). The
  learning rate's ceiling depends on what is trained (``lr_ceiling``), and a step up is a bounded factor
  (x3 when the loss does not move, x2 when it is still falling), never past the ceiling: at the ceiling the
  remedy is not offered. Non-finite values are dropped.
* never a repeat: a key whose proposed value is the current one (early stopping already on, patience
  already 1, dropout already 0.5) is left out of the remedy, and a remedy with nothing left is dropped.
* in the language of the tool that wrote the history: ``justfit.diagnosis.tool_terms`` says each remedy
  in Keras, Hugging Face ``TrainingArguments``, Lightning or fastai terms, with the justfit flag beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from justfit.config import JustfitConfig, TrainingConfig
from justfit.defaults import COUPLED, family_of, learning_rate
from justfit.diagnosis.rules import Finding

DEFAULT_LR = TrainingConfig.model_fields["lr"].default
DEFAULT_BATCH = TrainingConfig.model_fields["batch_size"].default
Remedy = dict[str, Any]  # {"why": str, "set": {"section.key": value}}

# The sane range of each numeric key a remedy may set: (lowest, highest, integer?). The learning rate's upper
# end, the weight decay's and the time budget's depend on the run (see ``bounds``).
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "training.lr": (1e-7, 1e-2, False),
    "training.epochs": (1, 100, True),
    # Decoupled (AdamW) decay: BERT fine-tunes with 0.01, RoBERTa with 0.1 (Liu et al. 2019, table 9).
    "training.weight_decay": (0.0, 0.1, False),
    # Srivastava et al. 2014 ("Dropout", section 7): 0.5 for hidden units is the high end that still trains.
    "model.dropout": (0.0, 0.5, False),
    "training.time_budget": (1.0, math.inf, False),
    "training.grad_accum_steps": (1, 64, True),
    "training.batch_size": (1, 1024, True),
    "training.warmup_ratio": (0.0, 0.5, False),
    "training.max_grad_norm": (0.1, 10.0, False),
    "early_stopping.patience": (1, 20, True),
    "model.lora_rank": (1, 256, True),
    # Szegedy et al. 2016 and Müller et al. 2019 smooth with 0.1; past 0.2 the targets say little.
    "training.label_smoothing": (0.0, 0.2, False),
}
# Coupled L2 (torch's Adam and SGD add weight_decay * w to the gradient): ResNets train with 1e-4 (He et al.
# 2016) to 5e-4 (Krizhevsky et al. 2012); a decoupled AdamW value such as 0.05 would swamp the gradient.
COUPLED_WEIGHT_DECAY_MAX = 5e-4
# The learning rate a remedy may reach, for Adam-family optimizers, by what is trained:
# - "full": every weight of a pretrained transformer. BERT's authors fine-tune with 5e-5, 3e-5 or 2e-5
#   (Devlin et al. 2019, appendix A.3) and pick from 3e-4, 1e-4, 5e-5, 3e-5 for their smaller BERTs
#   (google-research/bert README, "Smaller BERT models"): 3e-4 is the top of that grid.
# - "full-cnn": every weight of a convolutional network (no attention softmax to saturate): 1e-3, Adam's own
#   default (Kingma & Ba 2015; keras.optimizers.Adam) and the usual top for fine-tuning timm CNNs with AdamW.
# - "lora": adapters only; Hu et al. 2021 (LoRA, tables 9-11) train them with 2e-4 to 5e-4: 1e-3 is 2x that.
# - "head": a new head on a frozen backbone (model.freeze=backbone): a linear probe on fixed features, 1e-2.
# - "unknown": another tool's log that says nothing of what was trained: only the global range, 1e-2.
LR_CEILING = {"full": 3e-4, "full-cnn": 1e-3, "lora": 1e-3, "head": 1e-2, "unknown": 1e-2}
# Plain SGD takes larger steps than Adam for the same progress (timm's train.py: lr 0.1 per 256 images for
# SGD against Adam's 1e-3): its ceilings are this many times the Adam-family ones.
SGD_LR_FACTOR = 10.0
LR_STEP_UP = 3.0      # "much larger steps" (a loss that does not move): a bounded factor, not 10x
LR_STEP_SOME = 2.0    # "larger steps" (a loss still falling at the end)
# The model type a Trainer log without config.json is taken as: a transformer, whose ceiling is the lower.
TRAINER_MODEL_TYPE = "transformers-model"
# Model types (config.json's ``model_type``) of convolutional networks that justfit loads.
CNN_MODEL_TYPES = frozenset({"resnet", "convnext", "convnextv2", "efficientnet", "mobilenet_v1", "mobilenet_v2",
                             "regnet", "bit", "justfit-efficientnet-lite"})
BUDGET_MAX_FACTOR = 4.0  # a time budget at most this many times the configured one
# Training only a new head on the frozen body, measured against full fine-tuning with justfit's defaults
# (bench/README.md, "defaults.py", 3 seeds each): where it lost, it is not offered for the family from that
# many training rows on (more rows favour full fine-tuning further); below them, and for a family not
# measured, it still is.
HEAD_ONLY_LOSES_FROM: dict[str, tuple[int, str]] = {
    "text-encoder": (240, "test macro-F1 0.374 +/- 0.012 against 0.640 +/- 0.011 on 240 tweets"),
    "whisper": (246, "test accuracy 0.937 +/- 0.009 against 0.992 +/- 0.003 on 246 keyword clips"),
}


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
    augment = (evidence or {}).get("_augment_remedy")  # the task's measured augmentation (task_facts), or None
    if augment and not _get(cfg, "augment.ops") and isinstance(n_train, int) \
            and 0 < n_train <= int(augment["up_to_rows"]):
        out.append(_r(str(augment["why"]), augment__ops=list(augment["ops"])))
    out.append(_stop_sooner(cfg, evidence))
    return out


def _label_smoothing(cfg: dict[str, Any], evidence: dict[str, Any]) -> Remedy | None:
    """Label smoothing 0.1 for a classifier that does not smooth yet; offered first when the validation
    score held while its loss rose (an overconfident model, the case smoothing is for: Müller et al. 2019,
    "When does label smoothing help?"), after the L2 and dropout remedies otherwise."""
    if float(_get(cfg, "training.label_smoothing", 0.0)) >= 0.1:
        return None  # (a task whose targets are not classes refuses it: remedies_for drops it)
    at_best, last = evidence.get("score_at_best_loss"), evidence.get("last_score")
    held = isinstance(at_best, int | float) and isinstance(last, int | float) and last >= at_best - 0.005
    why = ("label smoothing: the validation score held while its loss rose, so the model grew overconfident "
           "rather than wrong" if held else "label smoothing: softer targets keep the model from growing overconfident")
    return {**_r(why, training__label_smoothing=0.1), "first": held}


def _stop_sooner(cfg: dict[str, Any], evidence: dict[str, Any] | None = None) -> Remedy:
    """Early stopping with patience 1 (unless it is already that short), and fewer epochs, but never fewer
    than the best evaluation's epoch (rounded up) plus that patience: stopping before the best point would
    throw the best model away."""
    ev = evidence or {}
    epochs = int(_get(cfg, "training.epochs", 5))
    best = [float(b) for b in (ev.get("best_epoch"), ev.get("_history_best_epoch"))
            if isinstance(b, int | float) and not isinstance(b, bool)]
    if best and not math.isfinite(max(best)):  # the log's best is known in steps only: keep every epoch
        fewer = epochs
    else:
        fewer = max(2, epochs // 2, math.ceil(max(best) - 1e-9) + 1 if best else 0)
    patience = _get(cfg, "early_stopping.patience")
    shorter = {"early_stopping__patience": 1} if patience is None or int(patience) > 1 else {}
    return _r("stop sooner", early_stopping__enabled=True, **shorter,
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
    freeze = str(_get(cfg, "model.freeze", "none"))
    wd = float(_get(cfg, "training.weight_decay", 0.01))
    out = []
    if freeze != "none":
        out.append(_unfreeze(cfg))
    out.append(_larger_steps(cfg, LR_STEP_UP))
    out.append(_longer(cfg))
    if wd > 0.01 or _get(cfg, "model.dropout"):
        out.append(_r("less regularisation", training__weight_decay=0.0, model__dropout=0.0))
    return out


def _beat_baseline(cfg: dict[str, Any], evidence: dict[str, Any]) -> list[Remedy]:
    """A model no better than the cheap baseline. A frozen body first gets unfrozen (a head on fixed features is
    itself a linear model on features, which the baseline already is); otherwise more steps (a short run that
    still predicts the majority class), then larger ones, then a head on the frozen backbone (what few rows
    can train). A training loss that did not move calls for larger steps before more of them."""
    freeze = str(_get(cfg, "model.freeze", "none"))
    out = [] if freeze == "none" else [_unfreeze(cfg)]
    steps = [_longer(cfg), _larger_steps(cfg, LR_STEP_UP)]
    out += steps[::-1] if evidence.get("train_loss_fell") is False else steps
    if freeze == "none" and _get(cfg, "model.strategy") != "lora":
        out += _head_only(cfg, evidence)
    return out


def _model_type(cfg: dict[str, Any]) -> str | None:
    """The model's ``model_type`` as the run recorded it (``remedies_for`` puts it in its config copy)."""
    return cfg.get("_model_type")


def _unfreeze(cfg: dict[str, Any]) -> Remedy:
    """Unfreeze the body; from a head on a frozen backbone, at the rate measured for training the whole model
    of its family (``justfit.defaults.learning_rate``): a rate chosen for a head on fixed features (1e-3 diverges a
    transformer; the founding recipe's 2e-5 left MiniLM at 0.59 test macro-F1 on the tweets after 5 epochs,
    where its family's 1e-4 reaches 0.74: bench/README.md, "quality.py") does not carry over."""
    if training_mode(cfg) != "head":  # most of the body trains already (bottom:K), or another tool's log
        return _r("unfreeze the pretrained layers", model__freeze="none")
    return _r("unfreeze the pretrained layers, at the rate for the whole model", model__freeze="none",
              training__lr=learning_rate(_model_type(cfg), head_only=False))


def _head_only(cfg: dict[str, Any], evidence: dict[str, Any]) -> list[Remedy]:
    """Train only a new head on the frozen body, at a head's rate (``justfit.defaults.HEAD_ONLY``); none where
    it was measured to lose to full fine-tuning at the training set's size (``HEAD_ONLY_LOSES_FROM``)."""
    model_type = _model_type(cfg)
    lost = HEAD_ONLY_LOSES_FROM.get(family_of(model_type) or "")
    n_train = evidence.get("_n_train")
    if lost is not None and isinstance(n_train, int) and n_train >= lost[0]:
        return []
    return [_r("train only the new head", model__freeze="backbone",
               training__lr=learning_rate(model_type, head_only=True))]


def _larger_steps(cfg: dict[str, Any], factor: float) -> Remedy:
    """The learning rate times ``factor`` (``LR_STEP_UP``: "much larger", repeatable; else "larger"); held to
    ``lr_ceiling`` afterwards, and dropped when already there."""
    lr = float(_get(cfg, "training.lr", DEFAULT_LR))
    much = factor >= LR_STEP_UP
    return _r("much larger steps" if much else "larger steps", repeatable=much, training__lr=float(f"{lr * factor:.2g}"))


def _calmer(cfg: dict[str, Any]) -> list[Remedy]:
    lr = float(_get(cfg, "training.lr", DEFAULT_LR))
    bs = int(_get(cfg, "training.batch_size", DEFAULT_BATCH))
    out = [_r("smaller steps", training__lr=float(f"{lr / 3:.2g}"))]
    if float(_get(cfg, "training.warmup_ratio", 0.1)) < 0.1:
        out.append(_r("warm up longer", training__warmup_ratio=0.1))
    training = cfg.get("training", {})
    if "max_grad_norm" in training and training["max_grad_norm"] in (None, 0):
        out.append(_r("clip gradients", training__max_grad_norm=1.0))
    accum = max(2, 64 // max(bs, 1))
    if accum > int(_get(cfg, "training.grad_accum_steps", 1)):  # never fewer examples per step than now
        out.append(_r("less noisy gradients: larger batches", training__grad_accum_steps=accum))
    return out


# Each takes the run's resolved config and the finding's evidence.
REMEDIES: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[Remedy]]] = {
    "overfitting": _more_regularisation,
    "growing_gap": _more_regularisation,
    "early_best": lambda cfg, ev: [_stop_sooner(cfg, ev)],
    "underfitting": lambda cfg, ev: _more_capacity(cfg),
    "lr_too_low": lambda cfg, ev: [_larger_steps(cfg, LR_STEP_UP)],
    "time_budget": _more_time,
    "not_converged": lambda cfg, ev: [_longer(cfg), _larger_steps(cfg, LR_STEP_SOME)],
    "diverged": lambda cfg, ev: _calmer(cfg),
    "unstable": lambda cfg, ev: _calmer(cfg),
    "lr_too_high": lambda cfg, ev: _calmer(cfg),
    "small_data": lambda cfg, ev: (_head_only(cfg, ev)
                                   if _get(cfg, "model.freeze") != "backbone" else []) + _more_regularisation(cfg, ev)[:2],
    "unreadable_data": lambda cfg, ev: _readable_model(cfg, ev),
    "class_imbalance": lambda cfg, ev: [_r("weight the loss by inverse class frequency", training__class_weights="auto"),
                                        # F1 is a score, higher is better, as the classification tasks declare.
                                        {**_r("judge by macro-F1", early_stopping__monitor="val_f1"),
                                         "monitor_mode": "max"}],
    "test_leakage": lambda cfg, ev: [_r("remove training copies of test rows", quality__leakage="remove")],
    "label_noise": lambda cfg, ev: [_r("down-weight suspected mislabelled rows", quality__label_noise="downweight"),
                                    _r("drop them", quality__label_noise="drop")],
    "duplicates": lambda cfg, ev: [],
    "cheap_baseline": lambda cfg, ev: _beat_baseline(cfg, ev),
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


def training_mode(cfg: dict[str, Any], changes: dict[str, Any] | None = None, model_type: str | None = None) -> str:
    """What the run trains, for the learning rate's ceiling: ``"lora"`` (``model.strategy=lora``), ``"head"``
    (``model.freeze=backbone``), ``"full-cnn"`` or ``"full"`` (every weight, or all above ``bottom:K``, of a
    convolutional network or of any other model: a transformer), or ``"unknown"`` when ``cfg`` says nothing of
    the model (another tool's log). ``changes``: the remedy's own settings, applied first. ``model_type``:
    config.json's, when the caller knows it; else the one ``remedies_for`` recorded in ``cfg``."""
    changes = changes or {}
    model = cfg.get("model") or {}
    strategy = changes.get("model.strategy", model.get("strategy"))
    freeze = changes.get("model.freeze", model.get("freeze"))
    if strategy == "lora":
        return "lora"
    if freeze == "backbone":
        return "head"
    if not model and model_type is None:
        return "unknown"
    kind = model_type or _model_type(cfg)
    return "full-cnn" if kind in CNN_MODEL_TYPES else "full"


def lr_ceiling(cfg: dict[str, Any], changes: dict[str, Any] | None = None, model_type: str | None = None) -> float:
    """The highest learning rate a remedy proposes for this run: ``LR_CEILING`` of its ``training_mode``,
    times ``SGD_LR_FACTOR`` with ``training.optimizer=sgd``."""
    hi = LR_CEILING[training_mode(cfg, changes, model_type)]
    optimizer = (changes or {}).get("training.optimizer", _get(cfg, "training.optimizer"))
    return hi * SGD_LR_FACTOR if optimizer == "sgd" else hi


def bounds(key: str, cfg: dict[str, Any], changes: dict[str, Any] | None = None, *,
           diverged: bool = False, model_type: str | None = None) -> tuple[float, float, bool] | None:
    """``(lowest, highest, integer?)`` for a numeric ``key`` in the run ``cfg`` (with the remedy's other
    ``changes`` applied), or ``None`` for a key without a range. The learning rate: up to ``lr_ceiling`` (by
    what is trained, the model's family and the optimizer), and never above the configured rate when the run
    ``diverged``; the weight decay: up to 0.1 with AdamW, ``COUPLED_WEIGHT_DECAY_MAX`` with Adam or SGD (L2 in
    the gradient); the time budget: at most 4x the configured one."""
    if key not in BOUNDS:
        return None
    lo, hi, integer = BOUNDS[key]
    changes = changes or {}
    if key == "training.lr":
        hi = lr_ceiling(cfg, changes, model_type)
        if diverged:
            hi = min(hi, float(_get(cfg, "training.lr", DEFAULT_LR)))
    if key == "training.weight_decay" and changes.get("training.optimizer",
                                                      _get(cfg, "training.optimizer")) in COUPLED:
        hi = COUPLED_WEIGHT_DECAY_MAX
    if key == "training.time_budget":
        budget = _get(cfg, "training.time_budget")
        if budget:
            hi = BUDGET_MAX_FACTOR * float(budget)
    return lo, hi, integer


def _bounded(remedy: Remedy, cfg: dict[str, Any], diverged: bool, model_type: str | None = None) -> Remedy | None:
    """The remedy with each numeric value held to its key's range; ``None`` when nothing is left to set."""
    out: dict[str, Any] = {}
    for key, value in remedy["set"].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                continue
            b = bounds(key, cfg, remedy["set"], diverged=diverged, model_type=model_type)
            if b is not None:
                lo, hi, integer = b
                wanted = direction(key, value, cfg)
                value = min(max(value, lo), hi)
                if wanted in ("up", "down") and direction(key, value, cfg) != wanted:
                    # Held to its range, the value no longer moves the way the remedy means ("larger steps"
                    # from an lr already at its ceiling): the remedy is dropped, not turned around.
                    return None
                if integer:
                    value = int(math.floor(value))
                elif lo <= (short := float(f"{value:.3g}")) <= hi:  # a readable number, still inside the range
                    value = short
        out[key] = value
    return {**remedy, "set": out} if out else None


def effective_config(config: dict[str, Any] | None, tool: str | None = None) -> dict[str, Any]:
    """The settings a run had: a justfit config (``tool`` ``None`` or ``"justfit"``) with justfit's default for
    every key it leaves out; another tool's (``"keras"``, ``"transformers"``, ...: what its log states) as it
    is, since justfit's defaults are not that tool's."""
    cfg = {k: dict(v) if isinstance(v, dict) else v for k, v in (config or {}).items()}
    if tool not in (None, "justfit"):
        return cfg
    for dotted, value in _DEFAULTS.items():
        section, key = dotted.split(".", 1)
        if isinstance(cfg.setdefault(section, {}), dict):
            cfg[section].setdefault(key, value)
    return cfg


def _same(current: Any, value: Any, key: str) -> bool:
    """Whether ``value`` is what the run already has (``current``, ``None`` when unknown)."""
    if current is None:
        return False
    if key == "model.freeze":
        return freeze_rank(current) == freeze_rank(value)
    if isinstance(value, bool) or isinstance(current, bool):
        return current is value
    if isinstance(value, int | float) and isinstance(current, int | float):
        return math.isclose(float(value), float(current), rel_tol=1e-9, abs_tol=1e-12)
    return value == current


def _new_only(remedy: Remedy, cfg: dict[str, Any]) -> Remedy | None:
    """The remedy without the keys it would set to what ``cfg`` already holds; ``None`` when none is left."""
    kept = {k: v for k, v in remedy["set"].items() if not _same(_get(cfg, k), v, k)}
    return {**remedy, "set": kept} if kept else None


def remedies_for(finding: Finding, config: dict[str, Any] | None = None, *, diverged: bool = False,
                 best_epoch: float | None = None, n_train: int | None = None, tool: str | None = None,
                 model_type: str | None = None, task_facts: dict[str, Any] | None = None) -> list[Remedy]:
    """Ranked remedies for ``finding``, with values computed from ``config`` and held to ``BOUNDS``.

    ``config``: a justfit config (resolved, or partial: the rest is justfit's defaults), or what another
    ``tool``'s log states (``"keras"``, ``"transformers"``, ``"lightning"``, ``"fastai"``, ``"unknown"``; no
    defaults assumed). No remedy repeats a setting the run already has. ``model_type``: config.json's, as the
    run recorded it (``result.data["defaults"]``), when known: the learning rate's ceiling and the measured rates
    depend on the model's family; unknown, a transformer's (the lower ceiling) and the global rates apply. ``diverged``: the run blew up (no
    learning rate above the configured one). ``best_epoch``: the epoch of the history's best evaluation (a
    count from 1, fractional mid-epoch; ``math.inf`` when only steps are known): a remedy that stops sooner
    keeps at least that many epochs, rounded up, plus patience. ``n_train``: training rows (augmentation is
    offered only for training sets where it was measured to help). ``task_facts``: what the run recorded of its
    task (``BaseTask.diagnosis_facts``: the settings it refuses, its measured augmentation); none: no setting
    is refused and no augmentation is offered."""
    cfg = effective_config(config, tool)
    if tool == "transformers" and model_type is None:
        # transformers' Trainer trains a transformers model: without its config.json the family is not known,
        # and the safe ceiling is a transformer's full fine-tuning (LoRA shows as model.strategy, read from
        # adapter_config.json), never the "unknown" global range.
        model_type = TRAINER_MODEL_TYPE
    cfg = {**cfg, "_model_type": model_type}  # read by the remedies that depend on the model's family
    evidence = dict(finding.evidence)
    if n_train is not None:
        evidence["_n_train"] = int(n_train)
    if best_epoch is not None:
        evidence["_history_best_epoch"] = best_epoch
    facts = task_facts or {}
    evidence["_augment_remedy"] = facts.get("augment_remedy")
    out = [n for r in REMEDIES.get(finding.code, lambda cfg, ev: [])(cfg, evidence)
           if (b := _bounded(r, cfg, diverged, model_type)) is not None and (n := _new_only(b, cfg)) is not None]
    # Freezing is the recipe's business in a staged recipe, and does not combine with LoRA.
    fixed_freeze = _get(cfg, "model.strategy") == "lora" or _get(cfg, "training.recipe", "standard") != "standard"
    refused = set(facts.get("refuses") or ())
    return [r for r in out if not (fixed_freeze and "model.freeze" in r["set"]) and not set(r["set"]) & refused]


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

    flat: dict[str, Any] = {}
    for section, values in JustfitConfig().model_dump(mode="json").items():
        if isinstance(values, dict):
            flat.update({f"{section}.{k}": v for k, v in values.items()})
    return flat


_DEFAULTS: dict[str, Any] = _defaults()


def as_flags(remedy: Remedy) -> str:
    """The remedy as command-line overrides: ``--set training.lr=1e-4 --set model.dropout=0.2``."""
    return " ".join(f"--set {k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in remedy["set"].items())
