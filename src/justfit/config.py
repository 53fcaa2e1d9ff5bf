"""Typed configuration: defaults in one place, YAML in, unknown keys rejected.

A config has eight sections (``data``, ``quality``, ``model``, ``training``,
``augment``, ``early_stopping``, ``tune``, ``output``). Every key has a default, so an empty config is a valid one. Command-line
``--set section.key=value`` overrides are applied on top of the YAML file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from justfit.data.augment import check_known
from justfit.data.encoding import check_codec
from justfit.errors import ConfigError, did_you_mean
from justfit.registries import CLEANING_RULES as RULES
from justfit.registries import TASKS

# The experiment trackers (accelerate's) a run can log to (``justfit.tracking``).
TRACKERS = ("tensorboard", "mlflow")

_FREEZE_RE = re.compile(r"^(none|backbone|bottom:\d+)$")


class _Section(BaseModel):
    # Run names like 001 and column names like 2024 are strings, even when YAML reads a number.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)


class DataConfig(_Section):
    """Where the labelled data is and how to split it."""

    path: str | None = Field(None, description="One data file/folder (split by justfit), or a packaged data set name: tweets, drugreview, digits, mnist, animals, shapes, keywords, spokennumbers, pocketsphinx, wnut.")
    train: str | None = Field(None, description="Training file, when the splits are given separately.")
    validation: str | None = Field(None, description="Validation file (optional with 'train': split off the training file otherwise).")
    test: str | None = Field(None, description="Test file (optional with 'train': split off the training file otherwise).")
    text_column: str | None = Field(None, description="Column holding the text; auto-detected when unset.")
    label_column: str | None = Field(None, description="Column holding the label; auto-detected when unset.")
    group_column: str | None = Field(None, description="Column whose rows stay in one split (speaker, voice, patient, document): justfit's validation and test splits then hold groups never seen in training. The packaged keywords set groups by voice.")
    sampling_rate: int | None = Field(None, gt=0, description="Sampling rate (Hz) of audio given as bare arrays through the Python API; files and {'array', 'sampling_rate'} items bring their own.")
    max_seconds: float = Field(2.0, gt=0, le=600, description="Audio clips are cut to this many seconds (a random window each epoch in training, the centre one in evaluation); shorter clips are padded by the model's feature extractor.")
    val_size: float = Field(0.1, gt=0, lt=1, description="Fraction of rows for validation when justfit splits.")
    test_size: float = Field(0.1, gt=0, lt=1, description="Fraction of rows for test when justfit splits.")
    seed: int = Field(42, description="Seed of the split and of row sampling.")
    max_rows: int | None = Field(None, gt=0, description="Use a stratified sample of at most this many rows (quick experiments).")
    max_length: int = Field(256, gt=1, description="Texts are truncated to this many tokens (capped by the tokenizer's limit and the model's position embeddings; the run says when).")
    encoding: str | None = Field(None, description="Text encoding of the data files (a Python codec name such as cp1252); detected when unset.")
    subword_labels: Literal["all", "first"] = Field("all", description="Token classification: label every subword of a word (a B- word's later subwords take I-), as pipeline(aggregation_strategy='simple') reads them; or only the first (the rest ignored with -100, as transformers' run_ner.py does). Words are scored by their first subword either way.")
    stride: int = Field(32, ge=0, description="Token classification: a sentence longer than max_length is cut into windows of whole words that overlap by about this many subword tokens; each word is predicted from the window where it has the most context.")

    @field_validator("encoding")
    @classmethod
    def _codec(cls, v: str | None) -> str | None:
        return None if v is None or not v.strip() else check_codec(v.strip())

    @model_validator(mode="after")
    def _fractions(self) -> DataConfig:
        if self.val_size + self.test_size >= 0.9:
            raise ValueError(
                f"val_size + test_size must leave at least 10% for training. Got {self.val_size} + {self.test_size}."
            )
        return self


class QualityConfig(_Section):
    """The data stage before training: cleaning rules, leakage audit, label-noise audit."""

    enabled: bool = Field(True, description="Run the data stage (cleaning, leakage and label audits) before training.")
    rules: list[str] = Field(
        default_factory=lambda: ["normalize", "empty_text", "missing_label", "non_text", "conflicting_duplicate",
                                 "exact_duplicate", "near_duplicate", "length_outlier"],
        description="Cleaning rules, applied in order (see `justfit clean --list-rules`).")
    report_only: list[str] = Field(default_factory=lambda: ["length_outlier"],
                                   description="Rules that only report what they find and drop nothing.")
    conflicts: Literal["drop", "majority"] = Field("drop", description="Same text with different labels: drop every copy, or keep the majority label.")
    image_hash_distance: int = Field(4, ge=0, le=32, description="Images whose 64-bit perceptual hashes (pHash) differ in at most this many bits are near duplicates (cleaning and the leakage audit).")
    near_threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity (character 5-grams) above which texts are near duplicates.")
    near_ngram: int = Field(5, gt=0, description="Shingle length in characters for near-duplicate detection.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations for near-duplicate detection.")
    outlier_z: float = Field(3.5, gt=0, description="Robust z-score (median/MAD of log token counts) beyond which a length is an outlier.")
    leakage: Literal["remove", "report", "off"] = Field("remove", description="Training rows copying validation/test rows: remove them from train, only report them, or skip the audit.")
    label_noise: Literal["report", "drop", "downweight", "off"] = Field("report", description="Likely mislabelled training rows (cleanlab on out-of-fold probabilities): report, drop, down-weight in the loss, or skip the audit.")
    label_noise_folds: int = Field(5, ge=2, description="Folds for the out-of-fold probabilities of the label audit.")
    label_noise_weight: float = Field(0.2, ge=0, le=1, description="Loss weight of suspected mislabelled rows with label_noise: downweight.")
    label_noise_top: int = Field(20, ge=0, description="How many top suspects the report lists.")
    cache_dir: str | None = Field(None, description="Feature cache folder; default $JUSTFIT_CACHE_DIR or ~/.cache/justfit.")
    unk_threshold: float = Field(0.1, ge=0, le=1, description="Warn (and diagnose 'model cannot read data') when more than this share of a split's tokens are unknown to the model's tokenizer, or of its texts have no readable token.")

    def cleaning_options(self) -> dict[str, Any]:
        """The options ``data.cleaning.clean`` takes, from this section."""
        return {"conflicts": self.conflicts, "near_threshold": self.near_threshold, "near_ngram": self.near_ngram,
                "num_perm": self.num_perm, "outlier_z": self.outlier_z}

    @field_validator("leakage", "label_noise", mode="before")
    @classmethod
    def _off(cls, v: Any) -> Any:
        # YAML 1.1 reads an unquoted `off` as false.
        return "off" if v is False else (v.strip().lower() if isinstance(v, str) else v)

    @field_validator("rules", "report_only", mode="before")
    @classmethod
    def _split_names(cls, v: Any) -> Any:
        # --set quality.rules=normalize,exact_duplicate
        if isinstance(v, str):
            return [x for x in (p.strip() for p in v.split(",")) if x]
        return [] if v is None else v

    @field_validator("rules", "report_only")
    @classmethod
    def _known_rules(cls, v: list[str]) -> list[str]:
        names = [str(x).strip().lower() for x in v]
        unknown = [name for name in names if name not in RULES]
        if unknown:  # every unknown name at once, each with its closest rule
            which = ", ".join(f"'{name}'" for name in unknown)
            raise ValueError(f"unknown cleaning rule{'s' if len(unknown) > 1 else ''} {which} (valid: "
                             f"{', '.join(RULES.names())})" + "".join(did_you_mean(n, RULES.names()) for n in unknown))
        if len(set(names)) != len(names):
            raise ValueError("a rule is listed twice")
        return names


class ModelConfig(_Section):
    """Which pretrained model, and how to adapt it."""

    name: str | None = Field(None, description="Hub id, local folder or preset (justfit presets); unset means the packaged all-MiniLM-L6-v2 for texts, mobilenet-v2 for images.")
    dropout: float | None = Field(None, ge=0, lt=1, description="Override hidden and classifier dropout.")
    freeze: str = Field("none", description="none (full fine-tuning), backbone (train only the head), bottom:K (freeze embeddings and the lowest K layers).")
    strategy: Literal["full", "lora"] = Field("full", description="full: train the parameters 'freeze' leaves trainable; lora: train low-rank adapters (peft) and the head, the pretrained weights stay fixed.")
    lora_rank: int = Field(8, gt=0, description="LoRA rank r of each adapter.")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA scaling alpha (the update is scaled by alpha / rank).")
    lora_dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the LoRA adapters' input.")
    lora_targets: list[str] | None = Field(None, description="Module names that get adapters (e.g. query,value); unset = peft's default for the architecture.")
    lora_merge: bool = Field(True, description="Merge the adapters into the base weights on save, so plain transformers (pipeline) loads the model; false saves the adapters and the head only.")
    cache_features: bool = Field(True, description="With freeze: backbone, compute the frozen backbone's features once (cached on disk) and train the head on them.")

    @field_validator("freeze")
    @classmethod
    def _freeze(cls, v: str) -> str:
        v = str(v).strip().lower()
        if not _FREEZE_RE.match(v):
            from justfit.errors import did_you_mean

            head, colon, k = v.partition(":")  # a misspelt bottom:2 is matched as bottom:K
            match = did_you_mean(head if colon else v, ["none", "backbone", "bottom"]).strip()
            hint = (f" (did you mean 'bottom:{k if k.isdigit() else 'K'}'?)" if "bottom" in match
                    else f" ({match[0].lower()}{match[1:]})" if match else "")
            raise ValueError(f"must be 'none', 'backbone' or 'bottom:K' with K a whole number{hint}")
        return v

    @field_validator("lora_targets", mode="before")
    @classmethod
    def _split_targets(cls, v: Any) -> Any:
        # --set model.lora_targets=query,value
        if isinstance(v, str):
            return [x for x in (p.strip() for p in v.split(",")) if x] or None
        return v

    @model_validator(mode="after")
    def _lora_freeze(self) -> ModelConfig:
        if self.strategy == "lora" and self.freeze != "none":
            raise ValueError(f"freeze '{self.freeze}' does not apply with strategy 'lora' (LoRA keeps every "
                             "pretrained weight fixed already). Leave freeze at 'none'")
        return self


class TrainingConfig(_Section):
    """The optimisation loop."""

    epochs: int = Field(5, gt=0, description="Maximum number of epochs (early stopping may end sooner). Unset, a text encoder trains at least 150 optimisation steps: more epochs on a small training set (justfit.defaults).")
    batch_size: int = Field(16, gt=0, description="Training batch size (per device). The default favours more, smaller updates: within a fixed time on a CPU they reached a better model than batch 32 (bench/time_to_accuracy.py).")
    eval_batch_size: int = Field(64, gt=0, description="Batch size for evaluation and prediction.")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate. Unset, the model family's measured value (justfit.defaults): 1e-4 for text encoders (measured on the packaged MiniLM at batch 16; BERT-base-sized models usually take 2e-5 to 5e-5), 5e-4 for convolutional networks, 1e-3 for a head on a frozen backbone; 1e-4 otherwise.")
    lr_find: bool = Field(False, description="Run the learning-rate finder before training and train with its suggestion (the configured lr when it cannot suggest one).")
    layer_decay: float | None = Field(None, gt=0, le=1, description="Layer-wise learning-rate decay: the head trains at lr, the top layer at lr*d, the next at lr*d^2, ... down to the embeddings.")
    recipe: str = Field("standard", description="Training recipe (see `justfit recipes`): standard, gradual_unfreeze (fastai: head first, then all with decayed rates), ulmfit (unfreeze layer groups top down).")
    head_epochs: int = Field(1, gt=0, description="Epochs of the head-only stage in the gradual_unfreeze and ulmfit recipes.")
    head_lr: float = Field(1e-3, gt=0, description="Learning rate of the head-only stage in the gradual_unfreeze and ulmfit recipes.")
    optimizer: str = Field("adamw", description="adamw, adam or sgd.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    nesterov: bool = Field(False, description="SGD Nesterov momentum.")
    weight_decay: float = Field(0.01, ge=0, description="L2 penalty (decoupled for AdamW); never applied to biases and LayerNorm weights. Left unset with adam or sgd (L2 added to the gradient): 0, torch's own default.")
    l1: float = Field(0.0, ge=0, description="L1 penalty coefficient on trainable weights, added to the loss.")
    scheduler: str = Field("linear", description="linear, cosine or constant; each with warmup.")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Fraction of optimisation steps spent warming up.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm; null disables clipping.")
    loss: Literal["mse", "huber"] = Field("mse", description="Regression loss on standardised targets: mse, or huber (less sensitive to outlying targets).")
    grad_accum_steps: int = Field(1, gt=0, description="Gradient accumulation steps: micro-batches per optimisation step; the step's loss is the mean over all its examples (an incomplete last window included).")
    bf16: bool | Literal["auto"] = Field("auto", description="bf16 autocast; auto = on where the hardware runs bf16 fast (AMX CPUs, recent GPUs).")
    class_weights: Literal["none", "auto"] = Field("none", description="auto: weight the loss by inverse class frequency (for imbalanced data).")
    sampler: Literal["random", "balanced"] = Field("random", description="balanced: draw training rows so every class is seen equally often per epoch.")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes that read and preprocess examples (decoding images, for one); 0 = in the training process.")
    group_by_length: bool = Field(False, description="Batch texts of similar length together (less padding: faster, but batches of alike lengths are not random draws). Off by default: on 2,000 tweets at one fixed configuration it cost 0.016 test macro-F1 (0.709 against 0.725, 3 seeds) for 26% less time (bench/README.md, tune.py).")
    train_eval_samples: int = Field(1000, ge=0, description="Fixed sample of training rows evaluated each epoch, so over/underfitting is visible (when a time budget ends the first epoch early, drawn from the rows trained on); 0 disables.")
    seed: int = Field(42, description="Seed of initialisation, shuffling and dropout.")
    time_budget: float | None = Field(None, gt=0, description="Seconds for the whole fit (loading, tokenising, training, evaluation): after a few steps the planned steps are cut to what fits, and the schedule is fitted to them. A model still no better than the trivial predictor after the configured epochs trains on (up to `epochs` more at a time, the schedule restarted) while the budget has room; not in an auto-fit round, whose remedies act on such a model.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Classification: the target puts 1 - e on the true class and spreads e over all classes (Szegedy et al. 2016, 'Rethinking the Inception Architecture'; torch's CrossEntropyLoss(label_smoothing)); a remedy for an overconfident, overfitting model. Validation and test losses stay unsmoothed.")
    checkpoint_every: int | None = Field(None, gt=0, description="A run also saves a checkpoint every this many optimisation steps (one is always saved at each epoch's end); `justfit train --resume` continues from the newest.")
    checkpoint_keep: int = Field(2, ge=1, description="How many of the newest checkpoints a run keeps while it trains (they are deleted when it completes, unless --keep-checkpoints).")

    @field_validator("optimizer", "scheduler", "recipe")
    @classmethod
    def _lower(cls, v: str) -> str:
        return str(v).strip().lower()


class AugmentConfig(_Section):
    """Augmentation, applied on the fly each epoch to the training split only (never to validation, test or the audits)."""

    ops: list[str] = Field(default_factory=list, description="Augmentations applied in order, each with probability p. Texts: swap, delete, insert, synonym (nearest neighbours in the model's input embeddings), typo (`justfit.tasks.text.augment`). Images: hflip, vflip, rotate, resized_crop, color_jitter, erase, mixup, cutmix (`justfit.tasks.image.augment`, kornia). Audio: gain, noise, background, shift, stretch, pitch (`justfit.tasks.audio.augment`, audiomentations), time_mask, freq_mask (SpecAugment in the model). Empty = off.")
    p: float = Field(0.5, ge=0, le=1, description="Probability that an augmentation is applied to a training text, each epoch.")
    strength: float = Field(0.1, gt=0, le=1, description="Fraction of a text's words an augmentation touches (at least one word; delete always keeps one).")
    neighbours: int = Field(5, gt=0, le=100, description="Embedding neighbours a synonym (or an inserted word) is drawn from.")
    op_p: dict[str, float] = Field(default_factory=dict, description="Per-augmentation probability overriding p, e.g. {typo: 0.2}.")
    op_strength: dict[str, float] = Field(default_factory=dict, description="Per-augmentation strength overriding strength, e.g. {delete: 0.2}.")

    @field_validator("ops", mode="before")
    @classmethod
    def _split_ops(cls, v: Any) -> Any:
        # --set augment.ops=swap,typo
        if isinstance(v, str):
            return [x for x in (p.strip() for p in v.split(",")) if x]
        return [] if v is None else v

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, v: list[str]) -> list[str]:
        names = [str(x).strip().lower() for x in v]
        for name in names:
            _check_augmentation(name)
        if len(set(names)) != len(names):
            raise ValueError("an augmentation is listed twice")
        return names

    @field_validator("op_p", "op_strength", mode="before")
    @classmethod
    def _op_names(cls, v: Any) -> Any:
        if v is None:
            return {}
        return {str(k).strip().lower(): x for k, x in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _overrides(self) -> AugmentConfig:
        for key in ("op_p", "op_strength"):
            for name, value in getattr(self, key).items():
                _check_augmentation(name, where=f"augment.{key}")
                if name not in self.ops:
                    raise ValueError(f"augment.{key} sets '{name}', which is not in augment.ops "
                                     f"({', '.join(self.ops) or 'empty'}); add it to ops or remove the override")
                low_ok = value > 0 if key == "op_strength" else value >= 0
                if not low_ok or value > 1:
                    span = "(0, 1]" if key == "op_strength" else "[0, 1]"
                    raise ValueError(f"augment.{key}['{name}'] must be in {span}, got {value}")
        return self


def _check_augmentation(name: str, where: str = "augment.ops") -> None:
    check_known(name, where)


class EarlyStoppingConfig(_Section):
    """Stop when the monitored metric stops improving; restore the best weights (unless restore_best is false)."""

    enabled: bool = Field(True, description="Stop early when the monitored metric stops improving.")
    monitor: str = Field("auto", description="auto (the task's own: val_f1, macro-F1, for classification; the entity F1 for token classification; val_loss for regression) or any recorded metric: val_loss, val_f1, val_accuracy, train_loss, ...")
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: the direction the task declares for the monitor (val_rmse: min, val_r2: max); min or max must agree with it.")
    patience: int = Field(2, ge=0, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as an improvement.")
    restore_best: bool = Field(True, description="Restore the weights of the best epoch of the monitor at the end (Keras' restore_best_weights); false keeps the last epoch's, as a refit on train+validation must (its validation rows are training rows).")


# What `justfit tune` may search, each key with the kind of value it takes.
TUNABLE = {
    "training.lr": "float", "training.weight_decay": "float", "model.dropout": "float", "training.epochs": "int",
    "training.batch_size": "int", "training.warmup_ratio": "float", "model.freeze": "choice",
    "training.layer_decay": "float", "model.lora_rank": "int", "training.l1": "float",
    "training.label_smoothing": "float", "augment.strength": "float", "augment.p": "float",
    "training.optimizer": "choice", "training.scheduler": "choice", "training.grad_accum_steps": "int",
}


class SearchParam(_Section):
    """One searched parameter: a range (``low``, ``high``; ``log`` scale; ``step``) or ``choices``."""

    low: float | None = Field(None, description="Lowest value of the range.")
    high: float | None = Field(None, description="Highest value of the range.")
    log: bool = Field(False, description="Sample the range on a log scale (learning rates, weight decay).")
    step: float | None = Field(None, gt=0, description="Sample only low, low + step, ...; whole numbers for int keys.")
    choices: list[str | int | float | None] | None = Field(None, description="Sample one of these values instead of a range.")

    @model_validator(mode="after")
    def _range(self) -> SearchParam:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
            if not self.choices:
                raise ValueError("choices is empty: list at least one value")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs both low and high (or give choices)")
        if not self.low < self.high:
            raise ValueError(f"the range is {'empty' if self.low == self.high else 'inverted'}: low ({self.low:g}) "
                             f"must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range must be above 0; low is {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("step and log exclude each other")
        return self


class TuneConfig(_Section):
    """`justfit tune`: the hyperparameter search (Optuna), its budget and its storage."""

    space: dict[str, SearchParam] = Field(default_factory=dict, description="Parameters to search, by config key (training.lr, training.weight_decay, model.dropout, training.epochs, training.batch_size, training.warmup_ratio, model.freeze, training.layer_decay, model.lora_rank, training.l1, training.label_smoothing, augment.strength, augment.p, training.optimizer, training.scheduler, training.grad_accum_steps), each {low, high, log, step} or {choices}. Empty: learning rate (1e-5 to 1e-3, log), weight decay (0 to 0.1; to 5e-4 with adam or sgd), dropout (0 to 0.3), warmup (0 to 0.2) and label smoothing (0 to 0.2, class tasks).")
    trials: int = Field(20, gt=0, description="Trials of the study in all (completed or pruned), over every worker that shares it.")
    time_budget: float | None = Field(None, gt=0, description="Seconds this worker searches: no trial starts that the mean trial so far would not finish in time.")
    sampler: Literal["tpe", "random"] = Field("tpe", description="tpe (Optuna's Tree-structured Parzen Estimator, seeded by training.seed) or random.")
    pruner: Literal["median", "hyperband", "none"] = Field("median", description="Stop a trial early from its per-epoch validation score: median (below the median of earlier trials at the same epoch), hyperband, or none.")
    seeds: int = Field(3, ge=1, le=20, description="The best configuration is retrained with this many seeds (mean ± std on validation), then evaluated once on the test split.")
    refit: Literal["train", "train+validation"] = Field("train", description="What the saved model is trained on: train (the best configuration retrained on the training split, early stopping on validation), or train+validation (after that retraining, once more on both splits for the retrained model's best number of epochs, without early stopping: more rows, no validation left to stop on; as scikit-learn's GridSearchCV refits on all the data it searched on). The curves, the diagnosis and the seed spread are the train-only retraining's; the test metrics are the saved model's.")
    storage: str | None = Field(None, description="Study storage URL; default sqlite in the run directory (tune/study.db). postgresql://user:pass@host/db lets several `justfit tune` workers share one study.")
    study_name: str | None = Field(None, description="Study name in the storage; default the run's name. Workers with the same storage and name share the study.")
    heartbeat: int = Field(30, ge=1, description="Seconds between a running trial's heartbeats; a trial silent for 4 heartbeats (its worker died) is marked failed and retried by another worker.")
    retries: int = Field(1, ge=0, description="How many times a failed (killed) trial is retried with the same parameters.")

    @field_validator("space", mode="before")
    @classmethod
    def _known_keys(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        for key in v:
            if key not in TUNABLE:
                hint = did_you_mean(str(key), list(TUNABLE)).strip().rstrip("?")
                raise ValueError(f"unknown parameter '{key}' in the search space{' (' + hint.lower() + '?)' if hint else ''}; "
                                 f"valid: {', '.join(TUNABLE)}")
        return v

    @model_validator(mode="after")
    def _kinds(self) -> TuneConfig:
        for key, param in self.space.items():
            if TUNABLE[key] == "choice" and param.choices is None:
                raise ValueError(f"'{key}' takes choices (a list of values), not a range")
            if TUNABLE[key] == "int" and param.choices is None and not (
                    float(param.low).is_integer() and float(param.high).is_integer()):
                raise ValueError(f"'{key}' is a whole number: low and high must be whole numbers")
        return self


class BaselineConfig(_Section):
    """The cheap baseline every run fits beside the fine-tuned model (``justfit.evaluation.baseline``)."""

    enabled: bool = Field(True, description="Fit the cheap model a pragmatic user tries first (TF-IDF + logistic or ridge regression for texts, logistic regression on 16 x 16 pixels for images and on MFCC statistics for audio, a most-frequent-tag-per-word tagger for entities) on the same splits, report its test metrics beside the fine-tuned model's, and diagnose a model that does not beat it on validation beyond the noise.")
    max_rows: int = Field(50_000, ge=100, description="The baseline is fitted on at most this many training rows (a random sample beyond; at least 100, so every class can be in it).")


class OutputConfig(_Section):
    """Where the run directory goes."""

    dir: str = Field("runs", description="Parent folder of run directories.")
    name: str | None = Field(None, description="Run directory name; a timestamp when unset.")
    overwrite: bool = Field(False, description="Replace an existing run directory of the same name.")
    track: list[str] = Field(default_factory=list, description="Experiment trackers (accelerate's): tensorboard (logs in the run directory's tensorboard/), mlflow (to tracking_uri). The resolved config, every epoch's record and the test metrics; each tune trial is a child run. Empty = off.")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI (a server, a database); default a local SQLite file beside the runs, <output.dir>/mlflow.db.")

    @field_validator("track", mode="before")
    @classmethod
    def _split_track(cls, v: Any) -> Any:
        # --set output.track=tensorboard,mlflow
        if isinstance(v, str):
            return [x for x in (p.strip().lower() for p in v.split(",")) if x]
        return [] if v is None else v

    @field_validator("track")
    @classmethod
    def _known_trackers(cls, v: list[str]) -> list[str]:
        names = [str(x).strip().lower() for x in v]
        for name in names:
            if name not in TRACKERS:
                raise ValueError(f"unknown tracker '{name}' (valid: {', '.join(TRACKERS)})" + did_you_mean(name, TRACKERS))
        return list(dict.fromkeys(names))


class JustfitConfig(_Section):
    """The whole, resolved configuration of one run."""

    task: str | None = Field(None, description="classification, regression, image-classification, audio-classification or token-classification (see `justfit tasks`); inferred from the data when unset: images, clips and a tag per word take their task, numbers with many distinct values are a regression, anything else classes.")
    data: DataConfig = Field(default_factory=DataConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    # ----------------------------------------------------------------- I/O
    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        name = str(v).strip().lower()
        if name not in TASKS:
            raise ValueError(f"unknown task '{v}' (valid: {', '.join(TASKS.names())})"
                             + did_you_mean(name, TASKS.names()))
        return name

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> JustfitConfig:
        try:
            return cls.model_validate(raw or {})
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> JustfitConfig:
        return cls.from_dict(read_yaml(path))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def updated(self, overrides: dict[str, Any]) -> JustfitConfig:
        """A copy with dotted-key overrides applied: ``{"training.lr": 1e-4}``. The keys this config set and the
        overrides count as set in the copy (``model_fields_set``); the others stay defaults, so a default that
        depends on the model (``justfit.defaults``) can still be resolved."""
        raw = self.model_dump(mode="json", exclude_unset=True)
        for dotted, value in overrides.items():
            _set_dotted(raw, dotted, value)
        return JustfitConfig.from_dict(raw)


def coerce_config(config: JustfitConfig | dict[str, Any] | str | Path | None) -> JustfitConfig:
    """Accept a config object, a dict, a YAML path, or nothing (all defaults)."""
    if config is None:
        return JustfitConfig()
    if isinstance(config, JustfitConfig):
        return config
    if isinstance(config, dict):
        return JustfitConfig.from_dict(config)
    return JustfitConfig.from_yaml(config)


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"Config path '{p}' is a folder. Pass the path of a YAML file.")
    if not p.is_file():
        raise ConfigError(f"Config file '{p}' does not exist. Pass the path of a YAML file, or omit it to use defaults.")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"Config file '{p}' is not valid YAML ({first}). Fix the syntax and run again.") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"Config file '{p}' must hold a mapping of sections (data, model, training, ...). Got {type(raw).__name__}."
        )
    return raw


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Parse ``section.key=value`` strings; values are read as YAML scalars (1e-4, true, null)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"Override '{item}' must look like section.key=value, e.g. training.lr=1e-4.")
        key, value = item.split("=", 1)
        out[key.strip()] = RawValue(value)
    return out


class RawValue(str):
    """A command-line value, typed only once the key it is for is known (so name=001 stays '001')."""

    def parse(self, as_text: bool) -> Any:
        if as_text and self.strip().lower() not in ("null", "~", "none", ""):
            return str(self)
        try:
            parsed = yaml.safe_load(self) if self.strip() else None
        except yaml.YAMLError:
            parsed = str(self)
        return _coerce_number(parsed)


def _coerce_number(v: Any) -> Any:
    # YAML reads "1e-4" as a string (it wants "1.0e-4"); users write it the short way.
    if isinstance(v, str):
        try:
            return float(v) if re.fullmatch(r"[-+]?\d*\.?\d+[eE][-+]?\d+", v) else v
        except ValueError:
            return v
    return v


TOP_LEVEL_KEYS = ("task",)


def config_sections() -> list[str]:
    """The names of the config's sections (``data``, ``quality``, ...), without the top-level keys."""
    return [k for k in JustfitConfig.model_fields if k not in TOP_LEVEL_KEYS]


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    sections = config_sections()
    if len(parts) == 1 and parts[0] in TOP_LEVEL_KEYS:
        raw[parts[0]] = value.parse(as_text=True) if isinstance(value, RawValue) else value
        return
    if len(parts) != 2:
        raise ConfigError(
            f"Override key '{dotted}' must be section.key (sections: {', '.join(sections)}) or a top-level key "
            f"({', '.join(TOP_LEVEL_KEYS)})."
        )
    section, key = parts
    if section not in sections:
        raise ConfigError(
            f"Unknown config section '{section}'. Valid sections: {', '.join(sections)}."
            + did_you_mean(section, sections)
        )
    sec_model = JustfitConfig.model_fields[section].annotation
    valid = list(sec_model.model_fields)  # type: ignore[union-attr]
    if key not in valid:
        raise ConfigError(
            f"Unknown config key '{section}.{key}'. Valid keys of '{section}': {', '.join(valid)}."
            + did_you_mean(key, valid)
        )
    if isinstance(value, RawValue):
        ann = sec_model.model_fields[key].annotation  # type: ignore[union-attr]
        value = value.parse(as_text=ann in (str, str | None))
    raw.setdefault(section, {})[key] = _coerce_number(value)


def _explain(exc: ValidationError) -> str:
    """Turn pydantic's multi-line report into one actionable line per problem."""
    msgs = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        dotted = ".".join(loc)
        if err["type"] == "extra_forbidden":
            parent: Any = JustfitConfig
            for part in loc[:-1]:
                parent = parent.model_fields[part].annotation
            valid = list(parent.model_fields)
            where = f"section '{'.'.join(loc[:-1])}'" if len(loc) > 1 else "the top level"
            msgs.append(
                f"Unknown config key '{dotted}' in {where}. Valid keys: {', '.join(valid)}."
                + did_you_mean(loc[-1], valid)
            )
        else:
            got = err.get("input")
            msg = err["msg"].removeprefix("Value error, ")
            end = "" if msg.endswith((".", "?", "!")) else "."
            shown = got if isinstance(got, list) else [got]  # the message quotes the value already: said once
            said = all(isinstance(x, str | int | float) and f"'{x}'" in msg for x in shown)
            msgs.append(f"Invalid value for '{dotted or 'config'}': {msg}{end}" + ("" if said else f" Got {got!r} instead."))
    return " ".join(msgs)
