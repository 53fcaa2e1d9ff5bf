"""A remedy in the language of the tool that wrote the history, with the justfit flag beside it.

``justfit doctor`` reads other tools' logs (``history_io``: Keras, Hugging Face ``Trainer``, Lightning,
fastai). Its remedies are justfit settings (``training.lr``, ``early_stopping.patience``, ...); a Keras user
needs them as Keras arguments, a ``Trainer`` user as ``TrainingArguments`` fields. Each justfit key maps to
the tool's own argument, checked against its API:

* Keras 3: ``keras.optimizers.AdamW(learning_rate, weight_decay, global_clipnorm, gradient_accumulation_steps)``,
  ``keras.callbacks.EarlyStopping(monitor, patience, mode, restore_best_weights)``, ``model.fit(epochs,
  batch_size, class_weight)``, ``keras.layers.Dropout(rate)``, ``keras.losses.CategoricalCrossentropy(
  label_smoothing)``, ``keras.optimizers.schedules.CosineDecay(warmup_steps, warmup_target)``,
  ``layer.enable_lora(rank)``.
* transformers (the installed 5.x ``TrainingArguments``): ``learning_rate``, ``weight_decay``,
  ``num_train_epochs``, ``per_device_train_batch_size``, ``gradient_accumulation_steps``, ``max_grad_norm``,
  ``warmup_steps`` (a float below 1 is a fraction of the steps; ``warmup_ratio`` in 4.x),
  ``label_smoothing_factor``, ``load_best_model_at_end``, ``metric_for_best_model``, ``greater_is_better``;
  ``EarlyStoppingCallback(early_stopping_patience)``; ``peft.LoraConfig(r)``.
* Lightning: ``Trainer(max_epochs, gradient_clip_val, accumulate_grad_batches, max_time)``,
  ``lightning.pytorch.callbacks.EarlyStopping(monitor, patience, mode)``; optimiser settings live in the
  module's ``configure_optimizers``.
* fastai: ``learn.fit_one_cycle(n_epoch, lr_max, wd, pct_start)``, ``EarlyStoppingCallback(monitor, comp,
  patience)``, ``GradientClip(max_norm)``, ``LabelSmoothingCrossEntropy(eps)``, ``learn.freeze()``.

A key with no equivalent in the tool (justfit's data stage, its text augmentation, a time budget where the
tool has none) is said to have none, rather than given an invented argument.
"""

from __future__ import annotations

from typing import Any

from justfit.diagnosis.remedies import as_flags

# The tools whose logs history_io reads, as they are named to a user.
TOOL_NAMES = {"keras": "Keras", "transformers": "transformers Trainer", "lightning": "Lightning",
              "fastai": "fastai"}

# justfit's monitor names -> the names each tool logs them under. (A Trainer prefixes "eval_" itself.)
_MONITOR = {
    "keras": {"val_loss": "val_loss", "val_f1": "val_f1_score", "val_accuracy": "val_accuracy"},
    "transformers": {"val_loss": "eval_loss", "val_f1": "eval_f1", "val_accuracy": "eval_accuracy"},
    "lightning": {"val_loss": "val_loss", "val_f1": "val_f1", "val_accuracy": "val_acc"},
    "fastai": {"val_loss": "valid_loss", "val_f1": "f1_score", "val_accuracy": "accuracy"},
}

# key -> (call, argument template) per tool; arguments of one call are merged into one phrase. A template
# of None: the call alone (early_stopping.enabled=true). A plain string without a call: a phrase of its own.
_K = "keras.optimizers.AdamW"
_TA = "TrainingArguments"
TERMS: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "keras": {
        "training.lr": (_K, "learning_rate={v}"),
        "training.weight_decay": (_K, "weight_decay={v}"),
        "training.max_grad_norm": (_K, "global_clipnorm={v}"),
        "training.grad_accum_steps": (_K, "gradient_accumulation_steps={v}"),
        "training.epochs": ("model.fit", "epochs={v}"),
        "training.batch_size": ("model.fit", "batch_size={v}"),
        "training.class_weights": ("model.fit", "class_weight={{c: n / (n_classes * n_c)}}"),
        "early_stopping.enabled": ("keras.callbacks.EarlyStopping", None),
        "early_stopping.patience": ("keras.callbacks.EarlyStopping", "patience={v}"),
        "early_stopping.monitor": ("keras.callbacks.EarlyStopping", "monitor={m}"),
        "model.dropout": (None, "keras.layers.Dropout({v}) before the output layer"),
        "training.label_smoothing": (None, "loss=keras.losses.CategoricalCrossentropy(label_smoothing={v})"),
        "training.warmup_ratio": (None, "learning_rate=keras.optimizers.schedules.CosineDecay(..., "
                                        "warmup_target=<peak lr>, warmup_steps={v} x the total steps)"),
        "model.freeze": (None, "{freeze}"),
        "model.lora_rank": (None, "layer.enable_lora(rank={v}) on the pretrained layers (Keras 3)"),
    },
    "transformers": {
        "training.lr": (_TA, "learning_rate={v}"),
        "training.weight_decay": (_TA, "weight_decay={v}"),
        "training.epochs": (_TA, "num_train_epochs={v}"),
        "training.batch_size": (_TA, "per_device_train_batch_size={v}"),
        "training.grad_accum_steps": (_TA, "gradient_accumulation_steps={v}"),
        "training.max_grad_norm": (_TA, "max_grad_norm={v}"),
        "training.warmup_ratio": (_TA, "warmup_steps={v}"),
        "training.label_smoothing": (_TA, "label_smoothing_factor={v}"),
        "early_stopping.enabled": ("EarlyStoppingCallback", None),
        "early_stopping.patience": ("EarlyStoppingCallback", "early_stopping_patience={v}"),
        "early_stopping.monitor": (_TA, "metric_for_best_model={m}"),
        "model.dropout": (None, "no TrainingArguments field: the model config's dropout, e.g. "
                                "AutoConfig.from_pretrained(name, hidden_dropout_prob={v})"),
        "model.freeze": (None, "no TrainingArguments field: {freeze}"),
        "model.lora_rank": (None, "peft.LoraConfig(r={v})"),
        "training.class_weights": (None, "no TrainingArguments field: a class-weighted loss passed as "
                                         "Trainer(compute_loss_func=...)"),
    },
    "lightning": {
        "training.epochs": ("Trainer", "max_epochs={v}"),
        "training.max_grad_norm": ("Trainer", "gradient_clip_val={v}"),
        "training.grad_accum_steps": ("Trainer", "accumulate_grad_batches={v}"),
        "training.time_budget": ("Trainer", "max_time={{'seconds': {v}}}"),
        "early_stopping.enabled": ("lightning.pytorch.callbacks.EarlyStopping", None),
        "early_stopping.patience": ("lightning.pytorch.callbacks.EarlyStopping", "patience={v}"),
        "early_stopping.monitor": ("lightning.pytorch.callbacks.EarlyStopping", "monitor={m}"),
        "training.lr": ("configure_optimizers: torch.optim.AdamW", "lr={v}"),
        "training.weight_decay": ("configure_optimizers: torch.optim.AdamW", "weight_decay={v}"),
        "training.batch_size": ("DataLoader", "batch_size={v}"),
        "model.dropout": (None, "torch.nn.Dropout({v}) in the LightningModule"),
        "training.label_smoothing": (None, "torch.nn.CrossEntropyLoss(label_smoothing={v})"),
        "training.class_weights": (None, "torch.nn.CrossEntropyLoss(weight=<inverse class frequencies>)"),
        "training.warmup_ratio": (None, "a warmup of {v} x the total steps in the scheduler that "
                                        "configure_optimizers returns"),
        "model.freeze": (None, "{freeze}"),
        "model.lora_rank": (None, "peft.LoraConfig(r={v})"),
    },
    "fastai": {
        "training.epochs": ("learn.fit_one_cycle", "n_epoch={v}"),
        "training.lr": ("learn.fit_one_cycle", "lr_max={v}"),
        "training.weight_decay": ("learn.fit_one_cycle", "wd={v}"),
        "training.warmup_ratio": ("learn.fit_one_cycle", "pct_start={v}"),
        "early_stopping.enabled": ("EarlyStoppingCallback", None),
        "early_stopping.patience": ("EarlyStoppingCallback", "patience={v}"),
        "early_stopping.monitor": ("EarlyStoppingCallback", "monitor={m}"),
        "training.max_grad_norm": (None, "cbs=GradientClip(max_norm={v})"),
        "training.batch_size": (None, "dataloaders(..., bs={v})"),
        "training.label_smoothing": (None, "loss_func=LabelSmoothingCrossEntropy(eps={v})"),
        "training.class_weights": (None, "loss_func=CrossEntropyLossFlat(weight=<inverse class frequencies>)"),
        "model.dropout": (None, "vision_learner(..., ps={v}) (the head's dropout)"),
        "model.freeze": (None, "{freeze}"),
    },
}

# What each tool does by itself when early stopping is added (the best model back, not the last one).
_CALL_EXTRAS = {
    "keras.callbacks.EarlyStopping": ["restore_best_weights=True"],
}
_FREEZE = {
    "keras": {"none": "base_model.trainable = True", "backbone": "base_model.trainable = False",
              "bottom": "layer.trainable = False for the lowest {k} layers of the base model"},
    "transformers": {"none": "leave every parameter trainable",
                     "backbone": "model.base_model.requires_grad_(False) (train only the head)",
                     "bottom": "requires_grad_(False) on the embeddings and the lowest {k} layers"},
    "lightning": {"none": "every parameter trainable (requires_grad_(True))",
                  "backbone": "self.backbone.requires_grad_(False) (train only the head)",
                  "bottom": "requires_grad_(False) on the embeddings and the lowest {k} layers"},
    "fastai": {"none": "learn.unfreeze()", "backbone": "learn.freeze()",
               "bottom": "learn.freeze_to({k}) (freezes the parameter groups below group {k})"},
}
# What justfit's keys without a tool equivalent are, so "no equivalent" says what is missing.
_JUSTFIT_ONLY = {"augment": "justfit's data augmentation", "quality": "justfit's data stage",
                 "training.time_budget": "a time budget", "model.name": "the model to fine-tune"}


def _value(v: Any) -> str:
    if isinstance(v, float):
        return format(v, "g")
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


def _freeze(tool: str, value: Any) -> str:
    v = str(value)
    terms = _FREEZE[tool]
    if v.startswith("bottom:"):
        return terms["bottom"].format(k=v.split(":", 1)[1])
    return terms.get(v, f"freeze {v}")


def _monitor(tool: str, name: Any) -> str:
    return repr(_MONITOR[tool].get(str(name), str(name)))


def _missing(tool: str, key: str, value: Any) -> str:
    if key == "model.name":
        return f"fine-tune {value} instead"
    what = _JUSTFIT_ONLY.get(key) or _JUSTFIT_ONLY.get(key.split(".", 1)[0]) or key
    return f"{what}: no {TOOL_NAMES[tool]} equivalent"


def in_tool(remedy: dict[str, Any], tool: str) -> list[str]:
    """The remedy's settings as ``tool`` (a ``TOOL_NAMES`` key) spells them: one phrase per call (arguments
    of one call merged) or per setting, in the remedy's order; a setting without an equivalent says so."""
    terms = TERMS[tool]
    calls: dict[str, list[str]] = {}
    phrases: list[str | tuple[str]] = []
    monitor = remedy["set"].get("early_stopping.monitor")
    mode = remedy.get("monitor_mode")
    for key, value in remedy["set"].items():
        if key not in terms:
            phrases.append(_missing(tool, key, value))
            continue
        call, template = terms[key]
        text = None if template is None else template.format(v=_value(value), m=_monitor(tool, value),
                                                             freeze=_freeze(tool, value) if tool in _FREEZE else "")
        if call is None:
            phrases.append(str(text))
            continue
        if call not in calls:
            calls[call] = []
            phrases.append((call,))
        if text:
            calls[call].append(text)
    if "early_stopping.enabled" in remedy["set"] or "early_stopping.patience" in remedy["set"] or monitor:
        _early_stopping_needs(tool, calls, phrases, monitor, mode)
    return [f"{_call_name(p[0], remedy)}({', '.join(calls[p[0]] + _CALL_EXTRAS.get(p[0], []))})"
            if isinstance(p, tuple) else p for p in phrases]


def _call_name(call: str, remedy: dict[str, Any]) -> str:
    """Keras' plain Adam where the remedy sets no weight decay (AdamW brings its own default, 0.004)."""
    return "keras.optimizers.Adam" if call == _K and "training.weight_decay" not in remedy["set"] else call


def _early_stopping_needs(tool: str, calls: dict[str, list[str]], phrases: list[Any], monitor: Any,
                          mode: str | None) -> None:
    """What each tool's early stopping needs beside the callback: a Trainer keeps the best checkpoint only
    with ``load_best_model_at_end`` and a ``metric_for_best_model``; Keras and Lightning take a ``mode``, fastai
    a ``comp``, for a monitor that is better when higher."""
    if tool == "transformers":  # TrainingArguments first: the callback depends on them
        calls.setdefault(_TA, [])
        if (_TA,) in phrases:
            phrases.remove((_TA,))
        phrases.insert(0, (_TA,))
        args = calls[_TA]
        if not any(a.startswith("metric_for_best_model") for a in args):
            args.append(f"metric_for_best_model={_monitor(tool, monitor or 'val_loss')}")
        args.append("load_best_model_at_end=True")
        if mode in ("min", "max"):
            args.append(f"greater_is_better={mode == 'max'}")
        return
    call = {"keras": "keras.callbacks.EarlyStopping", "lightning": "lightning.pytorch.callbacks.EarlyStopping",
            "fastai": "EarlyStoppingCallback"}[tool]
    args = calls.setdefault(call, [])
    if (call,) not in phrases:
        phrases.append((call,))
    if not any(a.startswith("monitor=") for a in args):
        args.insert(0, f"monitor={_monitor(tool, monitor or 'val_loss')}")
    if mode in ("min", "max"):
        args.append(f"mode={mode!r}" if tool != "fastai" else f"comp=np.{'greater' if mode == 'max' else 'less'}")


def advice(remedy: dict[str, Any], tool: str | None) -> str:
    """One line: the remedy in ``tool``'s terms, then the justfit flags in brackets; the flags alone for a
    justfit run or a log of an unknown tool."""

    flags = as_flags(remedy)
    if tool not in TERMS:
        return flags
    return f"{'; '.join(in_tool(remedy, tool))}   [justfit: {flags}]"
