"""Finetuner: a pretrained text model behind the scikit-learn estimator contract.

``__init__`` only stores its arguments; ``fit`` returns ``self``; what was learned ends in
``_`` (``model_``, ``tokenizer_``, ``task_``, ``classes_`` for classification, ``history_``,
``best_epoch_``, ``stop_reason_``). Everything that depends on the task (labels, metrics, what
``predict`` returns) is the task's (``justfit.tasks``); the estimator never branches on one.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit._portable import shareable_config
from justfit._progress import progress_bar
from justfit.checks import monitor_direction
from justfit.config import JustfitConfig, coerce_config
from justfit.data.inputs import as_frame
from justfit.data.splitting import Splits
from justfit.data.stage import training_frames
from justfit.defaults import apply_defaults, reresolve
from justfit.errors import ModelError
from justfit.evaluation.predict import predict_logits
from justfit.history import History
from justfit.models.factory import base_model_meta, checkpoint_model_type
from justfit.models.saving import load_folder, save_folder
from justfit.seeds import median_index, seeds_for
from justfit.training import fit as fitting
from justfit.training.lr_find import LRFindResult
from justfit.tuning.autofit import auto_fit, monitor_value, selection_score

_SHORTCUTS = {
    "epochs": "training.epochs", "lr": "training.lr", "batch_size": "training.batch_size",
    "optimizer": "training.optimizer", "weight_decay": "training.weight_decay", "l1": "training.l1",
    "scheduler": "training.scheduler", "bf16": "training.bf16", "seed": "training.seed",
    "dropout": "model.dropout", "freeze": "model.freeze", "max_length": "data.max_length",
    "early_stopping": "early_stopping.enabled", "monitor": "early_stopping.monitor",
    "patience": "early_stopping.patience", "time_budget": "training.time_budget",
}


class Finetuner:
    """Fine-tune a pretrained transformer into a text classifier or regressor (``task``).

    Parameters left as ``None`` take their value from ``config`` (a ``JustfitConfig``, a
    dict, or a YAML path), and from justfit's defaults where the config is silent.

    ``seeds`` (N > 1) trains the configuration with the seeds ``training.seed`` to
    ``training.seed + N - 1`` and keeps the model of the median seed by the validation score
    (``justfit.seeds``); ``estimators_`` holds every seed's fitted estimator, ``seeds_`` the seeds,
    ``seed_val_scores_`` their best monitored validation values, and ``evaluate`` adds
    ``seed_spread`` (each test metric's mean ± std over the seeds, and the per-seed values).
    """

    def __init__(self, model: str | None = None, *, epochs: int | None = None, lr: float | None = None,
                 batch_size: int | None = None, optimizer: str | None = None, weight_decay: float | None = None,
                 l1: float | None = None, scheduler: str | None = None, dropout: float | None = None,
                 freeze: str | None = None, max_length: int | None = None, early_stopping: bool | None = None,
                 monitor: str | None = None, patience: int | None = None, bf16: bool | str | None = None,
                 seed: int | None = None, time_budget: float | None = None,
                 config: JustfitConfig | dict | str | Path | None = None,
                 progress: bool = False, auto: bool = False, rounds: int = 3, seeds: int | None = None) -> None:
        # Stored as given, nothing checked or derived (scikit-learn's contract: clone and set_params rely on it).
        given = locals()
        for name in self._param_names():
            setattr(self, name, given[name])

    # ------------------------------------------------------------ sklearn plumbing
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> Finetuner:
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                from justfit.errors import ConfigError, did_you_mean

                raise ConfigError(f"Finetuner has no parameter '{k}'.{did_you_mean(k, valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v is not None and k != "progress"}
        return f"Finetuner({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def resolved_config(self) -> JustfitConfig:
        """The config this estimator trains with: ``config`` plus the non-None parameters."""
        base = coerce_config(self.config)
        overrides = {dotted: getattr(self, k) for k, dotted in _SHORTCUTS.items() if getattr(self, k) is not None}
        if self.model is not None:
            overrides["model.name"] = self.model
        return base.updated(overrides) if overrides else base

    # ------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Sequence[Any] | None = None, *, X_val: Any = None, y_val: Sequence[Any] | None = None,
            sample_weight: Sequence[float] | None = None, normalized_text: bool = False,
            sampling_rate: int | None = None, checkpointing: Any = None, callbacks: Sequence[Any] = (),
            extend_while_trivial: bool = True) -> Finetuner:
        """Fine-tune on ``X`` (texts, a text/label DataFrame, a data file, or the data stage's ``Splits``)
        with labels ``y``.

        Without ``X_val`` a stratified validation split is cut from ``X`` (``data.val_size``).
        ``sample_weight`` (one non-negative weight per training row) weights each row's loss.
        ``normalized_text``: the texts were normalised by the data stage (``data.cleaning.normalize_text``),
        so ``predict`` normalises new texts the same way (and the saved model says so).
        ``sampling_rate`` (Hz): the rate of audio given as bare 1-D arrays (``data.sampling_rate``).
        ``checkpointing`` (a ``justfit.training.fit.Checkpointing``): save checkpoints there during
        training, and resume from its ``resume`` checkpoint (``justfit.finetune`` passes it).
        ``callbacks`` (``justfit.training.Callback``) join every training stage's loop.
        ``extend_while_trivial``: with ``training.time_budget``, a model still no better than the trivial
        predictor after its epochs trains on while the budget has room; auto-fit turns it off for its rounds,
        whose own remedies act on such a model (unfreezing, larger steps) instead of spending the budget on it.
        The data stage (cleaning, audits) is not run here: use ``justfit.data.clean`` first,
        or ``justfit.finetune`` for the whole pipeline. Raises ``ConfigError`` or ``DataError``
        (one line) before any model is loaded when the settings or the data cannot be used.
        """
        import time

        t0 = time.perf_counter()
        if self.seeds is not None and (isinstance(self.seeds, bool) or not isinstance(self.seeds, int | np.integer)
                                       or not 1 <= int(self.seeds) <= 100):
            from justfit.errors import ConfigError

            raise ConfigError(f"seeds must be a whole number from 1 to 100 (the trainings of one config). "
                              f"Got {self.seeds!r}.")
        cfg = self.resolved_config()
        if sampling_rate is not None:
            cfg = cfg.updated({"data.sampling_rate": sampling_rate})  # checked by the config (a positive int)
        cfg, task, train, val = training_frames(cfg, X, y, X_val, y_val, sample_weight)

        # The model family's measured settings where none is given.
        cfg, self.defaults_ = apply_defaults(cfg, checkpoint_model_type(cfg.model.name, cfg.task), len(train))
        if self.auto:
            return self._auto_fit(cfg, train, val)
        if self.seeds is not None and int(self.seeds) > 1:
            return self._fit_seeds(cfg, train, val, normalized_text, checkpointing, callbacks, extend_while_trivial)
        self.task_ = task.fit(train["label"])
        self.normalize_text_ = bool(normalized_text)
        prep = fitting.prepare(cfg, self.task_, train, val, progress=self.progress)
        saved = checkpointing.resumed_extra() if checkpointing is not None else None
        found = None
        if saved and saved.get("lr_find") is not None:  # the finder ran before the checkpoint: its choice holds
            cfg, found = fitting.found_lr(prep, cfg, saved["lr_find"])
        elif cfg.training.lr_find:
            cfg, found = fitting.find_lr(prep, cfg, progress=self.progress)
        if found is not None:
            self.lr_find_ = found
        if checkpointing is not None:
            checkpointing.extra = {**checkpointing.extra, "lr_find": found}
        done = fitting.train_stages(prep, cfg, started=t0, progress=self.progress, checkpointing=checkpointing,
                                    callbacks=callbacks, extend_while_trivial=extend_while_trivial)
        self.model_, self.tokenizer_, self.model_source_, self.step_ = done.model, prep.tokenizer, prep.source, prep.step
        if self.task_.classes is not None:
            self.classes_ = self.task_.classes
        self.history_, self.best_epoch_, self.stop_reason_ = History(done.records), done.best_epoch, done.stop_reason
        self.bf16_, self.params_, self.feature_cache_, self.config_ = done.bf16, done.params, prep.feature_cache, cfg
        self.n_train_, self.n_val_, self.train_codes_ = len(train), len(val), fitting.train_class_codes(prep)
        return self

    def lr_find(self, X: Any, y: Sequence[Any] | None = None, *, X_val: Any = None,
                y_val: Sequence[Any] | None = None, **options: Any) -> Any:
        """Run the learning-rate range test on this estimator's setup, without training.

        Returns a ``justfit.training.lr_find.LRFindResult`` (the curve, a suggested rate and the
        rule behind it, or why there is none). ``options`` go to ``lr_find`` (``steps``,
        ``start_lr``, ``end_lr``, ...). The model is loaded, swept and restored; nothing is kept.
        """

        cfg, task, train, val = training_frames(self.resolved_config(), X, y, X_val, y_val, None)
        prep = fitting.prepare(cfg, task.fit(train["label"]), train, val, progress=self.progress)
        _, self.lr_find_ = fitting.find_lr(prep, cfg, progress=self.progress, **options)
        return LRFindResult.from_dict(self.lr_find_)

    def _fit_seeds(self, cfg: JustfitConfig, train: pd.DataFrame, val: pd.DataFrame, normalized_text: bool,
                   checkpointing: Any, callbacks: Sequence[Any], extend_while_trivial: bool = True) -> Finetuner:
        """One fit per seed on the same checked frames (each in its own checkpoint folder; a callback with
        ``for_seed(seed)`` gives each its own); this estimator takes the state of the median seed's."""

        seeds = seeds_for(cfg.training.seed, int(self.seeds))
        es = cfg.early_stopping
        fitted, scores = [], []
        for i, seed in enumerate(seeds, start=1):
            if self.progress:
                from rich.console import Console

                Console(stderr=True).print(f"[bold]seed {seed}[/bold] ({i} of {len(seeds)})")
            e = Finetuner(config=cfg.updated({"training.seed": seed}), progress=self.progress)
            e.fit(Splits(train, val, val.iloc[0:0]), normalized_text=normalized_text,
                  checkpointing=None if checkpointing is None else checkpointing.within(f"seed-{seed}"),
                  callbacks=[cb.for_seed(seed) if hasattr(cb, "for_seed") else cb for cb in callbacks],
                  extend_while_trivial=extend_while_trivial)
            fitted.append(e)
            # The median seed by the monitor's best value, oriented by the direction the task declares.
            direction = monitor_direction(cfg, e.task_.name)
            scores.append(selection_score(e.history_.records, es.monitor, direction))
        kept = fitted[median_index(scores)]
        vars(self).update({k: v for k, v in vars(kept).items() if k.endswith("_") and k != "defaults_"})
        self.estimators_, self.seeds_ = fitted, seeds
        self.seed_val_scores_ = [monitor_value(x, direction) for x in scores]
        self.kept_seed_ = seeds[median_index(scores)]
        return self

    def _auto_fit(self, cfg: JustfitConfig, train: pd.DataFrame, val: pd.DataFrame) -> Finetuner:
        """Auto-fit rounds on fixed, checked train/validation frames; this estimator takes the best round's state."""

        def fit_round(c: JustfitConfig) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
            e = Finetuner(config=c, progress=self.progress).fit(Splits(train, val, val.iloc[0:0]),
                                                                extend_while_trivial=False)
            ctx = {**e.task_.diagnosis_context(train["label"], val["label"]), "n_train": len(train),
                   "n_params": e.params_.get("trainable_params"), "task_facts": e.task_.diagnosis_facts(),
                   "model_type": e.defaults_.get("model_type")}
            return e, e.history_.records, ctx

        best, _, result = auto_fit(fit_round, cfg, rounds=self.rounds,
                                   resolve=lambda c: reresolve(c, cfg, self.defaults_))
        vars(self).update({k: v for k, v in vars(best).items() if k.endswith("_") and k != "defaults_"})
        self.autofit_ = result.to_dict()
        return self

    # ------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This Finetuner is not fitted yet. Call 'fit' (or Finetuner.load) first.")

    def decision_logits(self, X: Any, *, sampling_rate: int | None = None) -> np.ndarray:
        """The model's raw outputs for the inputs ``X``: shape ``(n, num_labels)`` (``num_labels`` is 1 for a
        regression, whose output is the standardised value). ``sampling_rate`` (Hz): the rate of audio
        given as bare arrays (default: the fit's ``data.sampling_rate``)."""

        self._check_fitted()
        texts = self.task_.inputs(X, self.config_, sampling_rate=sampling_rate)
        if getattr(self, "normalize_text_", False):
            # Trained on texts the cleaning stage normalised: predict on texts normalised the same way.
            from justfit.data.cleaning import normalize_text

            # (Sentences given as words: each word on its own, as the data stage did.)
            texts = [normalize_text(t) if isinstance(t, str) else
                     tuple(normalize_text(str(w)) or str(w) for w in t) if isinstance(t, list | tuple) else t
                     for t in texts]
        ds = self.step_.encode(texts)
        bs = self.config_.training.eval_batch_size
        with progress_bar("predicting", enabled=self.progress and len(ds) > bs) as bar:
            # fp32 inference: the scores match what plain transformers gives for the saved model.
            return predict_logits(self.model_, self.step_, ds, batch_size=bs, bf16=False, progress=bar,
                                  num_workers=self.config_.training.num_workers)

    def output_columns(self, X: Any, *, sampling_rate: int | None = None) -> dict[str, Any]:
        """What ``justfit predict`` writes for each input of ``X``: the task's columns (``predicted``,
        ``confidence``, ``p_<class>`` for classification; ``predicted`` and ``entities`` for token
        classification, whose raw texts go through the transformers pipeline). Raises ``ModelError``
        when the model's outputs are not finite (it diverged in training)."""
        self._check_fitted()
        own = self.task_.predict_columns(self, X)
        if own is not None:
            return own
        return self.task_.output_columns(finite_outputs(self.decision_logits(X, sampling_rate=sampling_rate)))

    def predict_proba(self, X: Any, *, sampling_rate: int | None = None) -> np.ndarray:
        """Class probabilities, shape ``(n, len(classes_))``, columns in the order of ``classes_``.

        Raises ``ConfigError`` for a regression model (it predicts values: use ``predict``)."""
        self._check_fitted()
        if self.task_.classes is None:
            from justfit.errors import ConfigError

            raise ConfigError(f"predict_proba is for classification; this is a {self.task_.name} model: use predict.")
        return self.task_.transform(self.decision_logits(X, sampling_rate=sampling_rate))

    def predict(self, X: Any, *, sampling_rate: int | None = None) -> np.ndarray:
        """Predictions, shape ``(n,)``: the user's own label values (classification) or numbers (regression)."""
        self._check_fitted()
        return self.task_.predict(self.decision_logits(X, sampling_rate=sampling_rate))

    def evaluate(self, X: Any, y: Sequence[Any] | None = None, *, logits: np.ndarray | None = None) -> dict[str, Any]:
        """Test metrics of the task (classification: accuracy, macro/weighted/per-class P/R/F1, confusion
        matrix, log loss; regression: RMSE, MAE, R², Spearman and the training-mean baseline). Fitted with
        ``seeds``, also ``seed_spread`` (``justfit.seeds.spread``: every seed's model evaluated on ``X``)."""
        self._check_fitted()

        frame = as_frame(X, y, self.config_, "the evaluation data", self.task_.input_column)
        targets = self.task_.encode_targets(frame["label"])
        if logits is None:
            logits = self.decision_logits(frame[self.task_.input_column].tolist())
        metrics = self.task_.evaluate(targets, logits, getattr(self, "train_codes_", None))
        others = getattr(self, "estimators_", None)
        if others and len(others) > 1:
            from justfit.seeds import spread

            per_seed = [metrics if e.model_ is self.model_ else e.evaluate(frame) for e in others]
            metrics["seed_spread"] = spread(per_seed, self.seeds_, self.kept_seed_, self.seed_val_scores_,
                                            self.config_.early_stopping.monitor)
        return metrics

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write a folder that plain ``transformers`` loads (``pipeline``, ``AutoModelFor...``) plus justfit.json.

        Raises ``RunDirError`` when ``path`` is a file or a folder that is not a justfit model."""

        self._check_fitted()
        classes = self.task_.classes
        counts = None
        if classes is not None and hasattr(self, "train_codes_"):
            counts = np.bincount(np.asarray(self.train_codes_, dtype=int), minlength=len(classes)).tolist()
        meta = {**self.task_.meta(), "max_length": self.step_.max_length,
                "normalize_text": bool(getattr(self, "normalize_text_", False)),
                # The base model by a portable name (a preset, a hub id, local:<folder>), never a path here.
                **base_model_meta(str(self.model_source_)),
                "config": shareable_config(self.config_.model_dump(mode="json")), "best_epoch": self.best_epoch_,
                "stop_reason": self.stop_reason_, "train_class_counts": counts}
        return save_folder(path, self.model_, self.tokenizer_, self.step_.max_length, meta)

    @classmethod
    def load(cls, path: str | Path, *, progress: bool = False) -> Finetuner:
        """Load a saved model folder (or a run directory holding ``model/``). Raises ``RunDirError``."""

        path, got = load_folder(path, JustfitConfig().data.max_length)
        cfg = JustfitConfig.from_dict(got.meta.get("config", {})).updated({"task": got.name})
        self = cls(model=str(path), config=cfg, progress=progress)
        self.model_, self.tokenizer_, self.model_source_ = got.model, got.tokenizer, got.meta.get("base_model", str(path))
        self.task_, self.step_, self.config_ = got.task, got.step, cfg
        if got.task.classes is not None:
            self.classes_ = got.task.classes
        self.best_epoch_ = got.meta.get("best_epoch")
        self.stop_reason_ = got.meta.get("stop_reason", "")
        self.normalize_text_ = bool(got.meta.get("normalize_text", False))
        if got.meta.get("train_class_counts"):
            counts = got.meta["train_class_counts"]
            self.train_codes_ = np.repeat(np.arange(len(counts)), counts)
        return self


def finite_outputs(logits: np.ndarray) -> np.ndarray:
    """``logits``, refused (``ModelError``) when they are not finite: a model that diverged in training
    predicts nothing meaningful. Per-example arrays (an object array of them) are checked each."""

    if logits.dtype == object:
        bad = np.array([not np.isfinite(np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0)).all() for x in logits])
    else:
        bad = ~np.isfinite(logits).all(axis=1) if len(logits) else np.zeros(0, dtype=bool)
    if bad.any():
        raise ModelError(f"The model's outputs are not finite (NaN or inf) for {int(bad.sum())} of {len(logits)} "
                         "inputs: it diverged in training. Retrain it (its run's diagnosis has the remedies).")
    return logits
