"""One fit, from checked frames to a trained model: build the model through the task, encode the
splits, plan the recipe's stages, optionally find the learning rate, train each stage.

``prepare`` returns a ``Prepared`` (the model, tokenizer, the task's batch-level step and the
encoded datasets); ``train_stages`` returns a ``Fitted``: plain results the estimator copies into
its own attributes. Nothing here writes another object's state.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit.config import JustfitConfig
from justfit.models import apply_freeze
from justfit.models.freezing import backbone_of, count_params, encoder_layers
from justfit.models.recipes import plan
from justfit.training import EarlyStopping, ProgressBar, Trainer
from justfit.training.callbacks.checkpoint import Checkpointer, latest_checkpoint, read_checkpoint_state
from justfit.training.lr_find import lr_find


@dataclass
class Prepared:
    """The loaded model and encoded data of one fit (before training)."""

    model: Any
    tokenizer: Any
    source: str  # where the weights came from (hub id, folder or the packaged model)
    step: Any  # the task's batch-level step (encode / collate / forward)
    train: Any  # training dataset (augmented on the fly when augment.ops is set)
    val: Any
    texts: dict[str, list[str]]
    stages: list[Any]
    augmented: bool = False
    feature_cache: dict[str, Any] = field(default_factory=dict)


@dataclass
class Checkpointing:
    """Where a fit saves its checkpoints (``training.checkpoint_every``, ``checkpoint_keep``), and
    whether it continues from the newest one there (``resuming``; a folder without one is a fresh
    start). ``extra`` is plain data stored in every checkpoint (the learning-rate finder's result),
    read back with ``resumed_extra``."""

    folder: Path
    every_steps: int | None = None
    keep: int = 2
    resuming: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def resume(self) -> Path | None:
        """The checkpoint this fit continues from, or None."""
        if not self.resuming:
            return None

        return latest_checkpoint(self.folder)

    def within(self, name: str) -> Checkpointing:
        """The same settings for one of several fits of a run, in its own subfolder ``name``."""
        from dataclasses import replace

        return replace(self, folder=self.folder / name, extra=dict(self.extra))

    def resumed_extra(self) -> dict[str, Any] | None:
        """The fit-level state saved with the checkpoint resumed from (None on a fresh start)."""
        if self.resume is None:
            return None

        return read_checkpoint_state(self.resume).get("extra", {})


@dataclass
class Fitted:
    """What training produced: the model (eval mode, adapters merged when asked) and its record."""

    model: Any
    records: list[dict[str, Any]]
    best_epoch: int | None
    stop_reason: str
    bf16: bool
    params: dict[str, Any]


def _say(progress: bool, message: str) -> None:
    if progress:
        from rich.console import Console

        Console(stderr=True).print(message)


def prepare(cfg: JustfitConfig, task: Any, train: pd.DataFrame, val: pd.DataFrame, *, progress: bool = False) -> Prepared:
    """Load the model with a new head (``task.build``), encode both splits, plan the stages.

    ``task`` is already fitted on ``train``'s targets. The seed is set first: the new head's
    initialisation is part of the run."""
    from accelerate.utils import set_seed

    set_seed(cfg.training.seed)
    codes = task.encode_targets(train["label"])
    model, tokenizer, source, step = task.build(cfg, codes)
    if step.max_length_reason:
        said = (f"max length: {step.max_length} tokens (data.max_length {cfg.data.max_length} is capped by "
                f"{step.max_length_reason})")
        if progress:
            _say(True, said)
        else:  # quiet runs still say it once (the CLI prints a run's warnings)
            from justfit.errors import DataQualityWarning

            warnings.warn(said, DataQualityWarning, stacklevel=4)
    weights = train["_weight"].tolist() if "_weight" in train else None
    column = task.input_column
    texts = {"train": train[column].tolist(), "val": val[column].tolist()}
    # The training split only, augmented on the fly when augment.ops is set; validation and the probe stay as given.
    train_ds, augmented = task.train_dataset(cfg, step, plain_model(model), tokenizer, texts["train"], codes, weights)
    val_ds = step.encode(texts["val"], task.encode_targets(val["label"]))
    if cfg.model.strategy == "lora":
        from justfit.models.lora import apply_lora

        model = apply_lora(model, cfg.model)
    return Prepared(model, tokenizer, source, step, train_ds, val_ds, texts, plan(cfg, n_layers(model)),
                    augmented=augmented)


def stage_data(prep: Prepared, cfg: JustfitConfig, stage: Any, train_ds: Any, val_ds: Any,
               texts: dict[str, list[str]], backbone_trained: bool, progress: bool = False) -> tuple[Any, Any, Any]:
    """The step and datasets of one stage: cached backbone features when the whole backbone is frozen
    and still the checkpoint's (the step's ``frozen_stage``, verified equivalent for this architecture),
    the inputs otherwise."""
    if stage.freeze != "backbone" or not cfg.model.cache_features or backbone_trained \
            or cfg.model.strategy != "full" or prep.augmented:
        # (Augmented inputs change every epoch: their backbone features cannot be cached.)
        return prep.step, train_ds, val_ds
    got = prep.step.frozen_stage(prep, cfg, train_ds, val_ds, texts, progress)
    if got is None:
        _say(progress, f"feature cache not used: {prep.feature_cache.get('reason')}; the frozen backbone runs in every "
                       "batch instead")
        return prep.step, train_ds, val_ds
    return got


def find_lr(prep: Prepared, cfg: JustfitConfig, *, progress: bool = False,
            **options: Any) -> tuple[JustfitConfig, dict[str, Any]]:
    """Run the learning-rate finder on the stage trained at ``training.lr`` (the last one).

    Returns the config to train with (``training.lr`` set to the suggestion, rounded to two
    significant digits; unchanged when there is none) and the finder's result as plain data.
    ``prep.stages`` is re-planned for the new rate."""

    stage = prep.stages[-1]
    if cfg.model.strategy != "lora":
        apply_freeze(prep.model, stage.freeze, prep.step.example_inputs)
    empty = prep.step.encode([], [])
    step, tr, _ = stage_data(prep, cfg, stage, prep.train, empty, {**prep.texts, "val": []}, False, progress)
    result = lr_find(prep.model, step, tr, cfg.training.model_copy(update=stage.training_overrides()), **options)
    _say(progress, f"lr-find: suggested {result.suggestion:.2g} ({result.rule})" if result.suggestion
         else f"lr-find: no suggestion ({result.reason}); training with lr {cfg.training.lr:g}")
    return found_lr(prep, cfg, result.to_dict())


def found_lr(prep: Prepared, cfg: JustfitConfig, result: dict[str, Any]) -> tuple[JustfitConfig, dict[str, Any]]:
    """The config to train with after the finder's ``result`` (``LRFindResult.to_dict``): ``training.lr``
    set to its suggestion, rounded to two significant digits, and ``prep.stages`` re-planned for it;
    unchanged when there is none."""

    if result.get("suggestion"):
        cfg = cfg.updated({"training.lr": float(f"{result['suggestion']:.2g}"), "training.lr_find": False})
        prep.stages = plan(cfg, n_layers(prep.model))
    return cfg, result


def train_stages(prep: Prepared, cfg: JustfitConfig, *, started: float | None = None,
                 progress: bool = False, checkpointing: Checkpointing | None = None,
                 callbacks: Sequence[Any] = (), extend_while_trivial: bool = True) -> Fitted:
    """Train each stage of the recipe in turn (one ``Trainer`` each, with early stopping and the time
    budget counted from ``started``, a ``time.perf_counter()`` value); stop after a stage that
    diverged or ran out of time. Epochs are numbered across stages.

    With ``checkpointing``, each stage's trainer saves checkpoints (``Checkpointer``) holding, besides
    the trainer's state, the stage reached, the records and stop reasons of earlier stages and the
    seconds used; resuming skips the stages done and continues the saved one from its checkpoint
    (the time budget continues from the seconds it had used). ``callbacks`` are added to every stage's
    trainer, after early stopping (a search's pruning callback sees each epoch's record).
    ``extend_while_trivial``: the last stage trains on, within the time budget, while the model is trivial
    (``TimeBudgetCallback``)."""

    started = time.perf_counter() if started is None else started
    es, model, stages = cfg.early_stopping, prep.model, prep.stages
    records: list[dict[str, Any]] = []
    reasons: list[str] = []
    best_epoch, backbone_trained, params, trainer = None, False, {}, None
    resume_from = checkpointing.resume if checkpointing else None
    saved = checkpointing.resumed_extra() if checkpointing else None
    first_stage = 0
    if saved:
        first_stage, records, reasons = int(saved["stage"]), list(saved["records"]), list(saved["reasons"])
        backbone_trained = bool(saved["backbone_trained"])
        started = time.perf_counter() - float(saved["elapsed"])
    for index, stage in enumerate(stages):
        if index < first_stage:
            continue
        params = count_params(model) if cfg.model.strategy == "lora" else \
            apply_freeze(model, stage.freeze, prep.step.example_inputs)
        step, tr, va = stage_data(prep, cfg, stage, prep.train, prep.val, prep.texts, backbone_trained, progress)
        how = "LoRA adapters and head" if cfg.model.strategy == "lora" else f"freeze={stage.freeze}"
        where = ", on cached backbone features" if step.on_cached_features else ""
        _say(progress, f"{'stage ' + stage.name + ': ' if len(stages) > 1 else ''}model: {prep.source} "
                       f"({params['trainable_params']:,} of {params['total_params']:,} parameters trained, "
                       f"{how}{where}; lr {stage.lr:g}{f', layer decay {stage.layer_decay:g}' if stage.layer_decay else ''})")
        stopper = EarlyStopping(es.monitor, es.mode, es.patience, es.min_delta, stop=es.enabled and stage.early_stopping,
                                restore_best=es.restore_best)
        deadline = started + cfg.training.time_budget if cfg.training.time_budget else None
        stage_callbacks: list[Any] = [stopper, *callbacks] + ([ProgressBar()] if progress else [])
        if checkpointing is not None:
            state = {"stage": index, "records": list(records), "reasons": list(reasons),
                     "backbone_trained": backbone_trained, **checkpointing.extra}
            stage_callbacks.append(Checkpointer(checkpointing.folder, checkpointing.every_steps, checkpointing.keep,
                                                extra=lambda s=state: {**s, "elapsed": time.perf_counter() - started}))
        trainer = Trainer(step, cfg.training.model_copy(update=stage.training_overrides()), stage_callbacks,
                          deadline=deadline, extend_while_trivial=extend_while_trivial and index == len(stages) - 1)
        trainer.epoch_offset = len(records)
        resume = resume_from if saved and index == first_stage else None
        if resume is not None:
            _say(progress, f"resuming from {resume}")
        history = trainer.fit(model, tr, va, resume=resume)
        model = trainer.model
        offset = len(records)
        for rec in history.records:
            records.append({**rec, "epoch": rec["epoch"] + offset, **({"stage": stage.name} if len(stages) > 1 else {})})
        best_epoch = None if stopper.best_epoch is None else stopper.best_epoch + offset
        reason = trainer.stop_reason or "; ".join(filter(None, [trainer.extension_reason, trainer.budget_reason,
                                                                stopper.reason]))
        reasons.append(f"{stage.name}: {reason}" if len(stages) > 1 else reason)
        backbone_trained = backbone_trained or stage.freeze != "backbone"
        if trainer.stop_reason or trainer.budget_reason:  # diverged (later stages would start broken), or out of time
            break
    if cfg.model.strategy == "lora" and cfg.model.lora_merge:
        from justfit.models.lora import merge

        model = merge(model)
    model.eval()
    return Fitted(model, records, best_epoch, "; ".join(reasons), trainer.bf16, params)


def train_class_codes(prep: Prepared) -> np.ndarray:
    """The encoded training targets (for the majority or mean baseline of the test metrics); an object
    array when each example has a sequence of them (a tag per word)."""
    targets = prep.train.targets()
    if targets and isinstance(targets[0], list | tuple):
        out = np.empty(len(targets), dtype=object)
        out[:] = [list(t) for t in targets]
        return out
    return np.asarray(targets)


def plain_model(model: Any) -> Any:
    """The transformers model inside a peft wrapper (the model itself otherwise)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def n_layers(model: Any) -> int:
    """Number of transformer blocks of ``model`` (for the recipes' layer groups)."""

    return len(encoder_layers(backbone_of(plain_model(model))))
