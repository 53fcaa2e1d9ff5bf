"""Finetuner: a pretrained text model behind the scikit-learn estimator contract.

``__init__`` only stores its arguments; ``fit`` returns ``self``; what was learned ends in
``_`` (``model_``, ``tokenizer_``, ``task_``, ``classes_`` for classification, ``history_``,
``best_epoch_``, ``stop_reason_``). Everything that depends on the task (labels, metrics, what
``predict`` returns) is the task's (``justfit.tasks``); the estimator never branches on one.
"""

from __future__ import annotations

import inspect
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit.config import JustfitConfig, coerce_config
from justfit.errors import DataError, RunDirError

_SHORTCUTS = {
    "epochs": "training.epochs", "lr": "training.lr", "batch_size": "training.batch_size",
    "optimizer": "training.optimizer", "weight_decay": "training.weight_decay", "l1": "training.l1",
    "scheduler": "training.scheduler", "bf16": "training.bf16", "seed": "training.seed",
    "dropout": "model.dropout", "freeze": "model.freeze", "max_length": "data.max_length",
    "early_stopping": "early_stopping.enabled", "monitor": "early_stopping.monitor",
    "patience": "early_stopping.patience", "time_budget": "training.time_budget",
}
META_FILE = "justfit.json"


class Finetuner:
    """Fine-tune a pretrained transformer into a text classifier or regressor (``task``).

    Parameters left as ``None`` take their value from ``config`` (a ``JustfitConfig``, a
    dict, or a YAML path), and from justfit's defaults where the config is silent.
    """

    def __init__(self, model: str | None = None, *, epochs: int | None = None, lr: float | None = None,
                 batch_size: int | None = None, optimizer: str | None = None, weight_decay: float | None = None,
                 l1: float | None = None, scheduler: str | None = None, dropout: float | None = None,
                 freeze: str | None = None, max_length: int | None = None, early_stopping: bool | None = None,
                 monitor: str | None = None, patience: int | None = None, bf16: bool | str | None = None,
                 seed: int | None = None, time_budget: float | None = None,
                 config: JustfitConfig | dict | str | Path | None = None,
                 progress: bool = False, auto: bool = False, rounds: int = 3) -> None:
        self.model = model
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.l1 = l1
        self.scheduler = scheduler
        self.dropout = dropout
        self.freeze = freeze
        self.max_length = max_length
        self.early_stopping = early_stopping
        self.monitor = monitor
        self.patience = patience
        self.bf16 = bf16
        self.seed = seed
        self.time_budget = time_budget
        self.config = config
        self.progress = progress
        self.auto = auto
        self.rounds = rounds

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
            sample_weight: Sequence[float] | None = None, normalized_text: bool = False) -> Finetuner:
        """Fine-tune on ``X`` (texts, a text/label DataFrame, or a data file) with labels ``y``.

        Without ``X_val`` a stratified validation split is cut from ``X`` (``data.val_size``).
        ``sample_weight`` (one non-negative weight per row of ``X``) weights each row's loss.
        ``normalized_text``: the texts were normalised by the data stage (``data.cleaning.normalize_text``),
        so ``predict`` normalises new texts the same way (and the saved model says so).
        The data stage (cleaning, audits) is not run here: use ``justfit.data.clean`` first,
        or ``justfit.finetune`` for the whole pipeline.
        """
        import time

        from justfit.models import apply_freeze
        from justfit.models.freezing import count_params
        from justfit.tasks.features import FrozenFeatureTask
        from justfit.training import EarlyStopping, ProgressBar, Trainer

        t0 = time.perf_counter()
        self.normalize_text_ = bool(normalized_text)
        cfg, train, val = self._frames(X, y, X_val, y_val, sample_weight)
        es = cfg.early_stopping
        callbacks = [ProgressBar()] if self.progress else []
        if self.auto:
            return self._auto_fit(cfg, train, val)
        train_ds, val_ds, texts, stages = self._prepare(cfg, train, val)
        if cfg.training.lr_find:
            cfg, stages = self._find_lr(cfg, stages, train_ds, texts)

        records: list[dict[str, Any]] = []
        reasons = []
        backbone_trained = False
        for stage in stages:
            self.params_ = count_params(self.model_) if cfg.model.strategy == "lora" else \
                apply_freeze(self.model_, stage.freeze)
            task, tr, va = self._stage_data(cfg, stage, train_ds, val_ds, texts, backbone_trained)
            if self.progress:
                from rich.console import Console

                how = "LoRA adapters and head" if cfg.model.strategy == "lora" else f"freeze={stage.freeze}"
                where = ", on cached backbone features" if isinstance(task, FrozenFeatureTask) else ""
                Console(stderr=True).print(
                    f"{'stage ' + stage.name + ': ' if len(stages) > 1 else ''}model: {self.model_source_} "
                    f"({self.params_['trainable_params']:,} of {self.params_['total_params']:,} parameters trained, "
                    f"{how}{where}; lr {stage.lr:g}{f', layer decay {stage.layer_decay:g}' if stage.layer_decay else ''})"
                )
            stopper = EarlyStopping(es.monitor, es.mode, es.patience, es.min_delta,
                                    stop=es.enabled and stage.early_stopping)
            deadline = t0 + cfg.training.time_budget if cfg.training.time_budget else None
            trainer = Trainer(task, cfg.training.model_copy(update=stage.training_overrides()),
                              [stopper] + callbacks, deadline=deadline)
            history = trainer.fit(self.model_, tr, va)
            self.model_ = trainer.model
            offset = len(records)
            for rec in history.records:
                records.append({**rec, "epoch": rec["epoch"] + offset, **({"stage": stage.name} if len(stages) > 1
                                                                         else {})})
            self.best_epoch_ = None if stopper.best_epoch is None else stopper.best_epoch + offset
            reason = trainer.stop_reason or "; ".join(filter(None, [trainer.budget_reason, stopper.reason]))
            reasons.append(f"{stage.name}: {reason}" if len(stages) > 1 else reason)
            backbone_trained = backbone_trained or stage.freeze != "backbone"
            # Diverged (later stages would start from a broken model), or out of time.
            if trainer.stop_reason or trainer.budget_reason:
                break
        from justfit.training.history import History

        self.history_ = History(records)
        if cfg.model.strategy == "lora" and cfg.model.lora_merge:
            from justfit.models.lora import merge

            self.model_ = merge(self.model_)
        self.model_.eval()
        self.stop_reason_ = "; ".join(reasons)
        self.bf16_ = trainer.bf16
        self.config_ = cfg
        self.n_train_, self.n_val_ = len(train), len(val)
        self.train_codes_ = np.asarray(train_ds.labels)
        return self

    def lr_find(self, X: Any, y: Sequence[Any] | None = None, *, X_val: Any = None,
                y_val: Sequence[Any] | None = None, **options: Any) -> Any:
        """Run the learning-rate range test on this estimator's setup, without training.

        Returns a ``justfit.training.lr_find.LRFindResult`` (the curve, a suggested rate and the
        rule behind it, or why there is none). ``options`` go to ``lr_find`` (``steps``,
        ``start_lr``, ``end_lr``, ...). The model is loaded, swept and restored; nothing is kept.
        """
        from justfit.training.lr_find import LRFindResult

        cfg, train, val = self._frames(X, y, X_val, y_val, None)
        train_ds, _, texts, stages = self._prepare(cfg, train, val)
        self._find_lr(cfg, stages, train_ds, texts, **options)
        return LRFindResult.from_dict(self.lr_find_)

    def _frames(self, X: Any, y: Any, X_val: Any, y_val: Any,
                sample_weight: Sequence[float] | None) -> tuple[JustfitConfig, pd.DataFrame, pd.DataFrame]:
        """The resolved config and the checked training and validation frames (settings checked first)."""
        from justfit.data.splitting import split, unify_label_types
        from justfit.models.recipes import check_recipe
        from justfit.tasks import get_task, infer_task
        from justfit.training import EarlyStopping, Trainer

        cfg = self.resolved_config()
        train = self._frame(X, y, cfg, "the training data")
        if cfg.task is None:
            name, note = infer_task(train["label"])
            cfg = cfg.updated({"task": name})
            if note:
                import warnings

                from justfit.errors import DataQualityWarning

                warnings.warn(note[0].upper() + note[1:] + ".", DataQualityWarning, stacklevel=3)
        task = get_task(cfg.task)
        es = cfg.early_stopping
        # A bad monitor or recipe fails here, before any model is loaded.
        Trainer(task.step_class, cfg.training, [EarlyStopping(es.monitor, es.mode, es.patience, es.min_delta)]).check()
        check_recipe(cfg)
        from justfit.training.optim import OPTIMIZERS, SCHEDULERS

        OPTIMIZERS.get(cfg.training.optimizer)
        SCHEDULERS.get(cfg.training.scheduler)
        task.check_targets(train)
        self.task_ = task
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (len(train),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise DataError(f"sample_weight must hold {len(train)} finite, non-negative weights (one per "
                                f"training row) with a positive sum. Got shape {w.shape}.")
            train = train.assign(_weight=w)
        if X_val is None:
            s = split(train, val_size=cfg.data.val_size, test_size=cfg.data.test_size, seed=cfg.data.seed,
                      need=("validation",), task=task)
            return cfg, s.train, s.validation
        val = self._frame(X_val, y_val, cfg, "the validation data")
        train, val = train.copy(), val.copy()
        unify_label_types(train, val)
        task.check_held_out(train, val, "validation")
        return cfg, train, val

    def _prepare(self, cfg: JustfitConfig, train: pd.DataFrame,
                 val: pd.DataFrame) -> tuple[Any, Any, dict[str, list[str]], list[Any]]:
        """Load the model with a new head, encode both splits, plan the stages."""
        from accelerate.utils import set_seed

        from justfit.models.recipes import plan

        set_seed(cfg.training.seed)  # the new head's initialisation is part of the run
        task = self.task_.fit(train["label"])
        if hasattr(task, "classes"):
            self.classes_ = task.classes
        train_codes = task.encode_targets(train["label"])
        self.model_, self.tokenizer_, self.model_source_, self.step_ = task.build(cfg, train_codes)
        if self.step_.max_length_reason:
            said = (f"max length: {self.step_.max_length} tokens (data.max_length {cfg.data.max_length} is capped by "
                    f"{self.step_.max_length_reason})")
            if self.progress:
                from rich.console import Console

                Console(stderr=True).print(said)
            else:  # quiet runs still say it once (the CLI prints a run's warnings)
                import warnings

                from justfit.errors import DataQualityWarning

                warnings.warn(said, DataQualityWarning, stacklevel=3)
        weights = train["_weight"].tolist() if "_weight" in train else None
        from justfit.data.augment import build_text_augmenter

        self._augment = build_text_augmenter(cfg.augment, model=_plain_model(self.model_), tokenizer=self.tokenizer_)
        if self._augment is None:
            train_ds = self.step_.encode(train["text"].tolist(), train_codes, weights)
        else:
            # The training split only, changed on the fly each epoch; validation and the probe stay as given.
            from justfit.tasks.text import AugmentedTexts

            self._augment.prepare(train["text"].tolist())
            train_ds = AugmentedTexts(self.step_, train["text"].tolist(), train_codes, weights, self._augment,
                                      cfg.training.seed)
        val_ds = self.step_.encode(val["text"].tolist(), task.encode_targets(val["label"]))
        texts = {"train": train["text"].tolist(), "val": val["text"].tolist()}
        if cfg.model.strategy == "lora":
            from justfit.models.lora import apply_lora

            self.model_ = apply_lora(self.model_, cfg.model)
        self.feature_cache_: dict[str, Any] = {}
        return train_ds, val_ds, texts, plan(cfg, _n_layers(self.model_))

    def _stage_data(self, cfg: JustfitConfig, stage: Any, train_ds: Any, val_ds: Any, texts: dict[str, list[str]],
                    backbone_trained: bool) -> tuple[Any, Any, Any]:
        """The task and datasets of one stage: cached backbone features when the whole backbone is frozen
        and still the checkpoint's (verified equivalent for this architecture), the texts otherwise."""
        if stage.freeze != "backbone" or not cfg.model.cache_features or backbone_trained \
                or cfg.model.strategy != "full" or getattr(self, "_augment", None) is not None:
            # (Augmented texts change every epoch: their backbone features cannot be cached.)
            return self.step_, train_ds, val_ds
        from justfit.tasks.features import FeatureRows, FrozenFeatureTask, check_equivalent
        from justfit.training.feature_cache import backbone_features

        if "equivalent" not in self.feature_cache_:
            ok, why = check_equivalent(self.model_, self.step_, texts["train"])
            self.feature_cache_.update(equivalent=ok, reason=why)
        if not self.feature_cache_["equivalent"]:
            if self.progress:
                from rich.console import Console

                Console(stderr=True).print(f"feature cache not used: {self.feature_cache_['reason']}; the frozen "
                                           "backbone runs in every batch instead")
            return self.step_, train_ds, val_ds
        opts = {"max_length": cfg.data.max_length, "bf16": cfg.training.bf16, "cache_dir": cfg.quality.cache_dir,
                "encoder": self.model_.base_model, "tokenizer": self.tokenizer_, "progress": self.progress}
        feats = {}
        for split in ("train", "val"):
            feats[split], info = backbone_features(texts[split], self.model_source_, **opts)
            self.feature_cache_[split] = {"cache_hit": info["cache_hit"], "seconds": round(info["seconds"], 3),
                                          "file": info["cache_file"]}
        n = len(texts["train"])
        task = FrozenFeatureTask(self.step_, FeatureRows(feats["train"], feats["val"]))
        tr = task.encode(range(n), train_ds.labels, train_ds.weights, lengths=train_ds.lengths)
        va = task.encode(range(n, n + len(val_ds)), val_ds.labels, lengths=val_ds.lengths)
        return task, tr, va

    def _find_lr(self, cfg: JustfitConfig, stages: list[Any], train_ds: Any, texts: dict[str, list[str]],
                 **options: Any) -> tuple[JustfitConfig, list[Any]]:
        """Run the learning-rate finder on the stage trained at ``training.lr`` (the last one) and
        train with its suggestion; the configured rate stays when there is none."""
        from justfit.models import apply_freeze
        from justfit.models.recipes import plan
        from justfit.training.lr_find import lr_find

        stage = stages[-1]
        if cfg.model.strategy != "lora":
            apply_freeze(self.model_, stage.freeze)
        empty = type(train_ds)([], [])
        task, tr, _ = self._stage_data(cfg, stage, train_ds, empty, {**texts, "val": []}, False)
        result = lr_find(self.model_, task, tr, cfg.training.model_copy(update=stage.training_overrides()), **options)
        self.lr_find_ = result.to_dict()
        if self.progress:
            from rich.console import Console

            Console(stderr=True).print(
                f"lr-find: suggested {result.suggestion:.2g} ({result.rule})" if result.suggestion
                else f"lr-find: no suggestion ({result.reason}); training with lr {cfg.training.lr:g}")
        if result.suggestion:
            cfg = cfg.updated({"training.lr": float(f"{result.suggestion:.2g}"), "training.lr_find": False})
            stages = plan(cfg, _n_layers(self.model_))
        return cfg, stages

    def _auto_fit(self, cfg: JustfitConfig, train: pd.DataFrame, val: pd.DataFrame) -> Finetuner:
        """Auto-fit rounds on fixed train/validation frames; this estimator takes the best round's state."""
        from justfit.tuning.autofit import auto_fit

        weights = train["_weight"].to_numpy() if "_weight" in train else None

        def fit_round(c: JustfitConfig) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
            e = Finetuner(config=c, progress=self.progress).fit(train[["text", "label"]], X_val=val[["text", "label"]],
                                                                 sample_weight=weights)
            ctx = {**e.task_.diagnosis_context(train["label"], val["label"]), "n_train": len(train),
                   "n_params": e.params_.get("trainable_params")}
            return e, e.history_.records, ctx

        best, _, result = auto_fit(fit_round, cfg, rounds=self.rounds)
        for key, value in vars(best).items():
            if key.endswith("_"):
                setattr(self, key, value)
        self.autofit_ = result.to_dict()
        return self

    def _frame(self, X: Any, y: Any, cfg: JustfitConfig, where: str) -> pd.DataFrame:
        from justfit.data.io import detect_columns, load_table, normalise

        if isinstance(X, str | Path):
            if y is not None:
                raise DataError(f"Got a data file and separate labels for {where}; the file brings its own labels. "
                                "Pass the file alone, or texts and labels.")
            return load_table(X, cfg.data.text_column, cfg.data.label_column, encoding=cfg.data.encoding).frame
        if isinstance(X, pd.DataFrame) and y is None:
            X = X.rename(columns=str)
            if list(X.columns) == ["text", "label"]:  # already normalised (e.g. by finetune's split)
                return normalise(X, _spec("text", "label"), where=where)
            spec = detect_columns(X, cfg.data.text_column, cfg.data.label_column, where=where)
            return normalise(X, spec, where=where)
        if not isinstance(X, str) and any(t is None or (isinstance(t, float) and t != t) for t in X):
            raise DataError(f"Some texts of {where} are missing (None/NaN). Fill or remove them.")
        texts = _as_texts(X)
        if y is None:
            raise DataError(f"No labels given for {where}. Pass y, or a DataFrame with a label column.")
        # Object dtype keeps each label's own type, so normalise can tell 1 from 1.0 (and warn when it merges them).
        labels = pd.Series(list(y), name="label", dtype=object)
        if len(labels) != len(texts):
            raise DataError(f"{where[0].upper() + where[1:]} has {len(texts)} texts but {len(labels)} labels. "
                            "Pass one label per text.")
        return normalise(pd.DataFrame({"text": texts, "label": labels}), _spec("text", "label"), where=where)

    # ------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This Finetuner is not fitted yet. Call 'fit' (or Finetuner.load) first.")

    def decision_logits(self, X: Any) -> np.ndarray:
        """The model's raw outputs for the texts ``X``: shape ``(n, num_labels)`` (``num_labels`` is 1 for a
        regression, whose output is the standardised value)."""
        from justfit._progress import progress_bar
        from justfit.evaluation.predict import predict_logits

        self._check_fitted()
        texts = _as_texts(X)
        if getattr(self, "normalize_text_", False):
            # Trained on texts the cleaning stage normalised: predict on texts normalised the same way.
            from justfit.data.cleaning import normalize_text

            texts = [normalize_text(t) for t in texts]
        ds = self.step_.encode(texts)
        bs = self.config_.training.eval_batch_size
        with progress_bar("predicting", enabled=self.progress and len(ds) > bs) as bar:
            # fp32 inference: the scores match what plain transformers gives for the saved model.
            return predict_logits(self.model_, self.step_, ds, batch_size=bs, bf16=False, progress=bar)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n, len(classes_))``, columns in the order of ``classes_``.

        Raises ``ConfigError`` for a regression model (it predicts values: use ``predict``)."""
        self._check_fitted()
        if not hasattr(self.task_, "classes"):
            from justfit.errors import ConfigError

            raise ConfigError(f"predict_proba is for classification; this is a {self.task_.name} model: use predict.")
        return self.task_.transform(self.decision_logits(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape ``(n,)``: the user's own label values (classification) or numbers (regression)."""
        self._check_fitted()
        return self.task_.predict(self.decision_logits(X))

    def evaluate(self, X: Any, y: Sequence[Any] | None = None, *, logits: np.ndarray | None = None) -> dict[str, Any]:
        """Test metrics of the task (classification: accuracy, macro/weighted/per-class P/R/F1, confusion
        matrix, log loss; regression: RMSE, MAE, R², Spearman and the training-mean baseline)."""
        self._check_fitted()
        frame = self._frame(X, y, self.config_, "the evaluation data")
        targets = self.task_.encode_targets(frame["label"])
        if logits is None:
            logits = self.decision_logits(frame["text"].tolist())
        return self.task_.evaluate(targets, logits, getattr(self, "train_codes_", None))

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write a folder that plain ``transformers`` loads (``pipeline``, ``AutoModelFor...``) plus justfit.json."""
        self._check_fitted()
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunDirError(f"'{path}' is a file; save needs a folder path.")
        if path.exists() and any(path.iterdir()) and not (path / META_FILE).exists():
            raise RunDirError(f"'{path}' exists and is not a justfit model folder; choose an empty or new folder.")
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent if path.parent.exists() else None))
        try:
            self.model_.save_pretrained(tmp)
            # pipeline(..., truncation=True) then truncates exactly as justfit does.
            self.tokenizer_.model_max_length = self.step_.max_length
            self.tokenizer_.save_pretrained(tmp)
            classes = getattr(self.task_, "classes", None)
            meta = {
                **self.task_.meta(),
                "max_length": self.step_.max_length,
                "normalize_text": bool(getattr(self, "normalize_text_", False)),
                "base_model": str(self.model_source_),
                "config": self.config_.model_dump(mode="json"),
                "best_epoch": self.best_epoch_,
                "stop_reason": self.stop_reason_,
                "train_class_counts": np.bincount(np.asarray(self.train_codes_, dtype=int),
                                                  minlength=len(classes)).tolist()
                if classes is not None and hasattr(self, "train_codes_") else None,
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                shutil.rmtree(path)
            tmp.replace(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path, *, progress: bool = False) -> Finetuner:
        """Load a saved model folder (or a run directory holding ``model/``)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from justfit.models.factory import quiet_transformers
        from justfit.models.lora import ADAPTER_CONFIG, load_adapter_model
        from justfit.tasks import get_task

        path = Path(path)
        if any((path / "model" / f).exists() for f in ("config.json", ADAPTER_CONFIG)):
            path = path / "model"
        adapters = (path / ADAPTER_CONFIG).exists()
        if not (path / "config.json").exists() and not adapters:
            raise RunDirError(f"'{path}' holds no saved model (no config.json). Pass a run directory or its model/ folder.")
        quiet_transformers()
        meta = json.loads((path / META_FILE).read_text()) if (path / META_FILE).exists() else {}
        if adapters:
            # LoRA adapters saved without merging: the base model, a head for the labels, then the adapters.
            base = meta.get("base_model") or json.loads((path / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
            if not meta.get("labels"):
                raise RunDirError(f"'{path}' holds LoRA adapters but no {META_FILE} naming the labels; save it with "
                                  "justfit, or load it with peft.")
            model = load_adapter_model(path, base, meta["labels"])
        else:
            try:
                model = AutoModelForSequenceClassification.from_pretrained(path)
            except Exception as exc:  # damaged or missing weights: one line, not a traceback
                from justfit.models.factory import weights_error

                raise weights_error(exc, str(path)) from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise RunDirError(f"'{path}' holds a model but no usable tokenizer ({str(exc).splitlines()[0][:150]}). "
                              "Save the tokenizer beside it (tokenizer.save_pretrained).") from None
        cfg = JustfitConfig.from_dict(meta.get("config", {}))
        # Models saved before tasks were named by kind say "text-classification"; a plain checkpoint says
        # what it is through its problem_type.
        name = meta.get("task") or ("regression" if model.config.problem_type == "regression" else "classification")
        name = {"text-classification": "classification", "text-regression": "regression"}.get(name, name)
        task = type(get_task(name)).from_meta(meta, _plain_model(model).config)
        self = cls(model=str(path), config=cfg.updated({"task": name}), progress=progress)
        self.model_, self.tokenizer_, self.model_source_ = model.eval(), tokenizer, meta.get("base_model", str(path))
        self.task_ = task
        if hasattr(task, "classes"):
            self.classes_ = task.classes
        self.step_ = task.step_from_meta(tokenizer, meta.get("max_length", cfg.data.max_length),
                                         _plain_model(model).config)
        self.config_ = cfg.updated({"task": name})
        self.best_epoch_ = meta.get("best_epoch")
        self.stop_reason_ = meta.get("stop_reason", "")
        self.normalize_text_ = bool(meta.get("normalize_text", False))
        if meta.get("train_class_counts"):
            self.train_codes_ = np.repeat(np.arange(len(meta["train_class_counts"])), meta["train_class_counts"])
        return self


def _plain_model(model: Any) -> Any:
    """The transformers model inside a peft wrapper (the model itself otherwise)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _n_layers(model: Any) -> int:
    from justfit.models.freezing import encoder_layers

    return len(encoder_layers(_plain_model(model).base_model))


def _spec(text: str, label: str):
    from justfit.data.io import ColumnSpec

    return ColumnSpec(text=text, label=label)


def _as_texts(X: Any) -> list[str]:
    if isinstance(X, str):
        return [X]
    if isinstance(X, pd.DataFrame):
        if "text" in X.columns:
            return X["text"].astype(str).tolist()
        from justfit.data.messages import listing

        raise DataError(f"Cannot tell the text column of this DataFrame (columns: {listing(X.columns)}). "
                        "Pass the column itself, e.g. df['review'].")
    return [str(t) for t in X]
