"""Text inputs: tokenize once, pad per batch; the loss and epoch metrics of the task on top.

``TextClassificationTask`` (cross-entropy over ``num_labels`` logits) and ``TextRegressionTask``
(mean squared error or Huber on one output, on standardised targets) are the batch-level part
of a task (:mod:`justfit.tasks.base`): what the training loop, the learning-rate finder and
prediction call. Everything about labels, test metrics, analysis and the report lives in the
task itself (``tasks/classification.py``, ``tasks/regression.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from justfit.data.augment import check_ops
from justfit.data.cleaning import clean
from justfit.data.inputs import as_inputs, is_missing
from justfit.data.leakage import audit_leakage
from justfit.errors import DataError
from justfit.evaluation.baseline import tfidf_features
from justfit.evaluation.metrics import epoch_metrics, regression_metrics
from justfit.evaluation.predict import softmax
from justfit.models.factory import check_text_model
from justfit.tasks.base import BaseStep, BaseTask, EncodedDataset
from justfit.tasks.text.augment import build_text_augmenter

# Config attributes that bound the number of positions, by architecture family.
POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length")
# Tokenizers without a limit report transformers' VERY_LARGE_INTEGER (about 1e30) as model_max_length.
_NO_LIMIT = 1_000_000


def effective_max_length(max_length: int, tokenizer: Any = None, model_config: Any = None) -> tuple[int, str]:
    """The longest input (in tokens, special tokens included) that is safe for this model.

    The minimum of the configured ``max_length``, the tokenizer's ``model_max_length`` (when it
    sets one) and the model config's position limit (``max_position_embeddings`` or the
    architecture's equivalent). RoBERTa-style embeddings (RoBERTa, XLM-R, CamemBERT, MPNet,
    Longformer, ...) number positions from ``pad_token_id + 1``, so that many positions of
    ``max_position_embeddings`` are reserved (``create_position_ids_from_input_ids`` in
    transformers): 514 positions take 512 tokens.

    Returns ``(length, reason)``: ``reason`` names the limit that bound it ("" when the configured
    value stands).
    """
    limits = [(int(max_length), "")]
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int | float) and 0 < tok_max < _NO_LIMIT:
        limits.append((int(tok_max), f"the tokenizer's model_max_length ({int(tok_max)})"))
    if model_config is not None:
        for key in POSITION_KEYS:
            value = getattr(model_config, key, None)
            if isinstance(value, int) and value > 0:
                offset = _position_offset(model_config)
                note = f" less {offset} reserved by this architecture" if offset else ""
                limits.append((value - offset, f"the model's {key} ({value}{note})"))
                break
    length, reason = min(limits, key=lambda lr: lr[0])
    return max(length, 2), reason


def _position_offset(model_config: Any) -> int:
    """Positions reserved before the first token: ``pad_token_id + 1`` for RoBERTa-style embeddings."""
    roberta_like = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "mpnet", "data2vec-text",
                    "ibert", "roberta-prelayernorm", "xmod", "luke", "mluke", "markuplm", "bros", "lilt", "esm"}
    if getattr(model_config, "model_type", None) in roberta_like:
        pad = getattr(model_config, "pad_token_id", None)
        return int(pad) + 1 if isinstance(pad, int) and pad >= 0 else 2
    return 0


class TextClassificationTask(BaseStep):
    """Tokenize once, pad per batch, cross-entropy on the logits.

    ``max_length`` is clamped to what the tokenizer and ``model_config`` allow
    (:func:`effective_max_length`); ``max_length_reason`` says which limit bound it.
    """

    label_dtype = torch.long
    # Epoch metrics and whether higher ("max") or lower ("min") is better; early stopping's monitor is
    # validated against these names (prefixed val_/train_).
    metric_directions = {"loss": "min", "accuracy": "max", "precision": "max", "recall": "max", "f1": "max",
                         "f1_weighted": "max"}

    def __init__(self, tokenizer: Any, max_length: int = 256, class_weights: Sequence[float] | None = None,
                 model_config: Any = None, label_smoothing: float = 0.0) -> None:
        self.tokenizer = tokenizer
        # Training-loss weights per class; evaluation losses stay unweighted, so they compare across runs.
        self.class_weights = None if class_weights is None else torch.tensor(list(class_weights), dtype=torch.float32)
        self.label_smoothing = float(label_smoothing)  # of the training loss only, as the class weights
        # Never exceed what the tokenizer or the model's position embeddings can take.
        self.configured_max_length = int(max_length)
        self.max_length, self.max_length_reason = effective_max_length(max_length, tokenizer, model_config)

    def encode(self, examples: Sequence[str], labels: Sequence[int] | None = None,
               weights: Sequence[float] | None = None) -> EncodedDataset:
        texts = [str(t) for t in examples]
        if not texts:
            return EncodedDataset([], labels)
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        keys = [k for k in enc if k in ("input_ids", "attention_mask", "token_type_ids")]
        features = [{k: enc[k][i] for k in keys} for i in range(len(texts))]
        return EncodedDataset(features, labels, weights)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        items = [dict(it) for it in items]
        labels = [it.pop("labels") for it in items] if "labels" in items[0] else None
        weights = [it.pop("weights") for it in items] if "weights" in items[0] else None
        batch = self.tokenizer.pad(items, padding=True, return_tensors="pt")
        out = dict(batch)
        if labels is not None:
            out["labels"] = torch.tensor(labels, dtype=self.label_dtype)
        if weights is not None:
            out["weights"] = torch.tensor(weights, dtype=torch.float32)
        return out

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "weights")}
        return self.outputs(model(**inputs).logits, batch, class_weights)

    def outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor],
                class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"logits"}`` of shape ``(batch, num_labels)``, plus, when the batch has labels, the training
        ``"loss"`` (a weighted mean over the batch, against targets smoothed by ``label_smoothing``) and
        ``"loss_weight"`` (the sum of weights it divided by)."""
        out = {"logits": logits}
        if "labels" in batch:
            if class_weights is None and self.class_weights is not None:
                class_weights = self.class_weights.to(logits.device)
            # The loss in fp32 even under bf16 autocast: it is a reduction, and cheap.
            # Class weights: a weighted mean, as F.cross_entropy(weight=...) computes it. Row weights are
            # absolute (a row of weight 0.2 counts 0.2 of a row wherever it lands), so they are not
            # renormalised per batch.
            losses = F.cross_entropy(logits.float(), batch["labels"], reduction="none",
                                     label_smoothing=self.label_smoothing)
            cw = class_weights[batch["labels"]] if class_weights is not None else torch.ones_like(losses)
            if "weights" in batch:
                losses = losses * batch["weights"]
            denominator = cw.sum().clamp(min=1e-12)
            out["loss"] = (losses * cw).sum() / denominator
            # What the mean divided by: an optimisation step over several micro-batches takes the mean over
            # all of them (training.step.StepAccumulator).
            out["loss_weight"] = denominator.detach()
        return out

    def example_inputs(self) -> dict[str, torch.Tensor]:
        """A small batch of model inputs (two texts of different lengths, padded), for tracing (ONNX export)."""
        ds = self.encode(["an example text for tracing the model", "short"])
        return {k: v for k, v in self.collate([ds[i] for i in range(len(ds))]).items() if k not in ("labels", "weights")}

    @staticmethod
    def frozen_stage(prep: Any, cfg: Any, train_ds: EncodedDataset, val_ds: EncodedDataset,
                     texts: dict[str, list[str]], progress: bool = False) -> Any:
        """A head-only stage on cached backbone features (``tasks.features.frozen_stage``), or None."""
        from justfit.tasks.text.features import frozen_stage

        return frozen_stage(prep, cfg, train_ds, val_ds, texts, progress)

    @staticmethod
    def trivial(targets: Sequence[Any], record: dict[str, Any]) -> bool:
        """Is the model in the majority-class regime on validation: accuracy no higher than the majority class's
        share plus one binomial standard error? (Early stopping does not end training there.)"""
        import math

        import numpy as np

        acc = record.get("val_accuracy")
        y = np.asarray(targets, dtype=int)
        if acc is None or not len(y) or not math.isfinite(float(acc)):
            return False
        p = float(np.bincount(y).max()) / len(y)
        return float(acc) <= p + math.sqrt(max(p * (1 - p), 1.0 / len(y)) / len(y))

    def epoch_metrics(self, targets: Sequence[Any], logits: Any) -> dict[str, float]:
        """Validation/training-probe metrics from ``logits`` of shape ``(n, num_labels)`` (names as in
        ``metric_directions``)."""

        return epoch_metrics(targets, softmax(logits))


class TextRegressionTask(TextClassificationTask):
    """Text in, one real number out: MSE (or Huber) on targets standardised on the training split.

    Targets reach this task already standardised (``(y - mean) / std``, fitted by
    ``tasks.regression.RegressionTask`` on the training split), so the loss is in units of the
    training targets' standard deviation and the default learning rates behave as for
    classification. Row weights multiply each row's loss, as for classification.
    """

    label_dtype = torch.float32
    metric_directions = {"loss": "min", "rmse": "min", "mae": "min", "r2": "max", "spearman": "max"}

    def __init__(self, tokenizer: Any, max_length: int = 256, *, loss: str = "mse", huber_delta: float = 1.0,
                 model_config: Any = None, target_std: float = 1.0) -> None:
        super().__init__(tokenizer, max_length, model_config=model_config)
        self.target_std = float(target_std)  # the training targets' std: RMSE and MAE back in the targets' units
        if loss not in ("mse", "huber"):
            from justfit.errors import unknown_name

            raise unknown_name("regression loss", loss, ["mse", "huber"])
        self.loss, self.huber_delta = loss, huber_delta

    def outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor],
                class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"logits"}`` of shape ``(batch, 1)``; with targets, ``"loss"`` (mean over the batch) and ``"loss_weight"``."""
        out = {"logits": logits}
        if "labels" in batch:
            pred = logits.float().reshape(-1)
            target = batch["labels"].float().reshape(-1)
            if self.loss == "huber":
                losses = F.huber_loss(pred, target, delta=self.huber_delta, reduction="none")
            else:
                losses = F.mse_loss(pred, target, reduction="none")
            if "weights" in batch:
                losses = losses * batch["weights"]
            n = torch.tensor(float(len(losses)), device=losses.device)
            out["loss"] = losses.sum() / n.clamp(min=1.0)
            out["loss_weight"] = n
        return out

    @staticmethod
    def trivial(targets: Sequence[Any], record: dict[str, Any]) -> bool:
        """Is the model no better than predicting the training mean on validation (R² at most 0)?"""
        r2 = record.get("val_r2")
        return r2 is not None and float(r2) <= 0.0

    def epoch_metrics(self, targets: Sequence[Any], logits: Any) -> dict[str, float]:
        """``loss``: the MSE on the standardised scale the model trains on (as the training loss); RMSE and MAE
        in the targets' units (times ``target_std``), as the test metrics report them; R² and Spearman's rho
        (scale-free)."""
        import numpy as np

        pred = np.asarray(logits, dtype=np.float64).reshape(-1)
        y = np.asarray(targets, dtype=np.float64)
        m = regression_metrics(y, pred)
        return {"loss": m["mse"], "rmse": m["rmse"] * self.target_std, "mae": m["mae"] * self.target_std,
                "r2": m["r2"], "spearman": m["spearman"]}


class AugmentedTexts(EncodedDataset):
    """The training split, augmented on the fly: item ``i`` of epoch ``e`` is ``augment(text_i, seed, e, i)``,
    tokenised when the loader asks for it (in its workers, when it has them).

    Deterministic under the seed: the same (seed, epoch, row) gives the same text. Lengths (which drive
    length-grouped batching) are those of the original texts. ``subset`` (the training-metrics probe)
    returns the original, unaugmented rows: augmentation is for the optimisation steps only, never for
    evaluation. The trainer calls ``set_epoch`` before each epoch.
    """

    def __init__(self, step: TextClassificationTask, texts: Sequence[str], labels: Sequence[Any],
                 weights: Sequence[float] | None, augment: Any, seed: int) -> None:
        plain = step.encode(texts, labels, weights)
        super().__init__(plain.features, plain.labels, plain.weights, plain.lengths)
        self.texts = [str(t) for t in texts]
        self.step, self.augment, self.seed, self.epoch = step, augment, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def inputs(self, i: int) -> dict[str, Any]:
        text = self.augment(self.texts[i], seed=self.seed, epoch=self.epoch, index=int(i))
        enc = self.step.tokenizer(text, truncation=True, max_length=self.step.max_length, padding=False)
        return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}


def augmented_text_dataset(cfg: Any, step: TextClassificationTask, model: Any, tokenizer: Any, texts: Sequence[str],
                           targets: Sequence[Any], weights: Sequence[float] | None) -> tuple[EncodedDataset, bool]:
    """The training dataset of a text task: ``AugmentedTexts`` (rewritten on the fly each epoch) when
    ``cfg.augment`` turns text operations on, else the texts encoded once. Returns it and whether it
    is augmented. Raises ``ConfigError`` for image operations."""

    check_ops(cfg.augment.ops, "text")
    augment = build_text_augmenter(cfg.augment, model=model, tokenizer=tokenizer)
    if augment is None:
        return step.encode(list(texts), targets, weights), False
    augment.prepare(list(texts))
    return AugmentedTexts(step, list(texts), targets, weights, augment, cfg.training.seed), True


class TextInputs(BaseTask):
    """What a task over texts does in the data stage and the run (``TaskKind``'s input hooks): the text
    cleaning rules, the MinHash leakage audit, the label audit on embedded texts, text augmentation,
    the text-model check; no pictures in the report. Mixed into the text tasks."""

    input_column = "text"  # the frame column holding the inputs
    modality = "text"  # what the inputs are: the augmentations and audits that apply
    text_audits = True  # the leakage audit (MinHash over texts) and the tokenizer's coverage apply

    def inputs(self, X: Any, cfg: Any, sampling_rate: int | None = None) -> list[Any]:
        """The examples of ``X`` as ``Finetuner.predict`` takes them (a list, an array, a Series, a DataFrame
        holding the ``input_column``), one item per example, for the step's ``encode``. ``cfg``: the fit's
        ``JustfitConfig``; ``sampling_rate`` (Hz): the rate of audio given as bare arrays. Raises
        ``DataError`` for inputs that are not this task's: ``None``, a dict, a numeric array, and for texts
        an item that is not a string (a number, a missing value, an image array) -- never turned into one."""

        kind = "texts" if self.input_column == "text" else "sentences (strings, or lists of words)"
        if X is None or isinstance(X, dict) or (isinstance(X, np.ndarray) and X.dtype.kind not in "USO"):
            shown = "None" if X is None else "a dict" if isinstance(X, dict) else \
                f"a numeric array of shape {X.shape}"
            raise DataError(f"A {self.name} model predicts from {kind}; got {shown}. Pass a string, a list of them, "
                            "a pandas Series, or a DataFrame with the input column.")
        if isinstance(X, pd.DataFrame) and self.input_column in X.columns and X[self.input_column].isna().any():
            first = int(np.flatnonzero(X[self.input_column].isna().to_numpy())[0])
            raise DataError(f"Input {first} to predict is missing (None/NaN): a {self.name} model takes strings. "
                            "Fill or remove the missing ones.")
        if self.input_column == "text" and not isinstance(X, str | pd.DataFrame):
            X = X.tolist() if isinstance(X, pd.Series | np.ndarray) else list(X)  # a generator is read once
            for i, t in enumerate(X):
                if not isinstance(t, str):
                    what = "missing (None/NaN)" if is_missing(t) else \
                        f"a {type(t).__name__}, not a text"
                    raise DataError(f"Input {i} to predict is {what}: a {self.name} model takes strings. "
                                    "Convert the inputs with str() if they are the texts, or remove missing ones.")
        return as_inputs(X, self.input_column)

    @staticmethod
    def report_assets(test: pd.DataFrame, table: pd.DataFrame, train: pd.DataFrame, step: Any) -> dict[str, Any]:
        """Pictures for the report (none for texts: its tables show them)."""
        return {}

    @staticmethod
    def report_gallery(assets: dict[str, Any]) -> list[str]:
        return []

    @staticmethod
    def train_dataset(cfg: Any, step: Any, model: Any, tokenizer: Any, inputs: Sequence[Any], targets: Sequence[Any],
                      weights: Sequence[float] | None) -> tuple[Any, bool]:
        """The training split's dataset, augmented on the fly when ``augment.ops`` is set; and whether it is."""
        return augmented_text_dataset(cfg, step, model, tokenizer, inputs, targets, weights)

    @staticmethod
    def baseline_features(train: Sequence[Any], others: Sequence[Sequence[Any]], cfg: Any) -> tuple[str, Any, list[Any]]:
        """The cheap baseline's inputs: TF-IDF of word unigrams and bigrams (``evaluation.baseline.tfidf_features``)."""

        x, rest = tfidf_features(train, others)
        return "TF-IDF", x, rest

    @staticmethod
    def check_model(name: str | None) -> str:
        """Check, from its config alone, that ``name`` can be fine-tuned for this task; return its source."""

        return check_text_model(name)

    @staticmethod
    def clean(frame: pd.DataFrame, rules: Sequence[str], *, report_only: Sequence[str] = (), split: str = "",
              quality: Any = None) -> Any:
        """The data stage's cleaning of texts (``justfit.data.cleaning.clean`` with ``quality``'s options)."""

        options = quality.cleaning_options() if quality is not None else {}
        return clean(frame, rules, report_only=report_only, split=split, check=False, **options)

    @staticmethod
    def audit_inputs(train: pd.DataFrame, cfg: Any, progress: bool = False) -> tuple[pd.DataFrame, Any]:
        """What the label audit reads: the texts themselves (it embeds them with the model, cached)."""
        return train, None

    @staticmethod
    def audit_leakage(train: pd.DataFrame, held_out: dict[str, pd.DataFrame], quality: Any) -> Any:
        """Training rows copying held-out rows: exact, or near by MinHash (``justfit.data.leakage``)."""

        return audit_leakage(train, held_out, action=quality.leakage, threshold=quality.near_threshold,
                             num_perm=quality.num_perm, ngram=quality.near_ngram)
