"""Text regression: text in, one real number out.

Targets are standardised on the training split (``(y - mean) / std``) and the model learns the
standardised value with mean squared error (``training.loss: huber`` for Huber); predictions
are mapped back to the targets' own units. Test metrics: RMSE, MAE, R² and Spearman's rho, next
to the baseline that always predicts the training mean. Splits are stratified on quantile bins of
the target, so every split covers its range. The saved model is a plain ``transformers``
``AutoModelForSequenceClassification`` with ``num_labels=1`` and ``problem_type="regression"``
that outputs the standardised value; ``justfit.json`` holds the mean and standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from justfit.errors import DataError
from justfit.evaluation.baseline import Baseline, ridge_regression
from justfit.evaluation.metrics import regression_report
from justfit.models import load_model
from justfit.models.factory import plain_model
from justfit.report import plots
from justfit.report.html import table as html_table
from justfit.tasks.base import TASKS
from justfit.tasks.text.task import TextInputs, TextRegressionTask

STRATA = 10  # quantile bins of the target used to stratify splits


def as_numbers(labels: Sequence[Any], where: str = "the data") -> np.ndarray:
    """The targets as floats, shape ``(n,)``; a ``DataError`` naming the first values that are not numbers."""
    values = pd.Series(list(labels), dtype=object)
    nums = pd.to_numeric(values.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
    bad = nums.isna() | ~np.isfinite(nums.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        shown = ", ".join(repr(v) for v in values[bad].unique()[:3])
        raise DataError(f"task=regression needs a number in every label of {where}; {int(bad.sum())} row(s) hold "
                        f"something else (e.g. {shown}). Fix those labels, or set task=classification.")
    return nums.to_numpy(dtype=np.float64)


@TASKS.register("regression", help="text in, a real number out (MSE on standardised targets; RMSE, MAE, R², Spearman)")
class RegressionTask(TextInputs):
    """One real number per text. See :class:`justfit.tasks.base.Task` for the protocol."""

    name = "regression"
    step_class = TextRegressionTask
    metric_directions = TextRegressionTask.metric_directions
    headline = ("rmse", "mae", "r2", "spearman", "baseline_rmse")
    baseline_score = "rmse"  # the epoch metric the fine-tuned model and the cheap baseline are compared by
    uses_label_audit = False  # confident learning needs classes
    unsupported_settings = {
        "training.label_smoothing": "it smooths class targets, and a regression's targets are numbers",
    }

    def __init__(self) -> None:
        self.mean = 0.0
        self.std = 1.0
        self.target_name = "value"

    # ------------------------------------------------------------------ targets
    def check_targets(self, frame: pd.DataFrame, where: str = "the training data") -> None:
        """Every target is a finite number, and they are not all the same."""
        y = as_numbers(frame["label"], where)
        if len(y) < 2 or np.ptp(y) == 0:
            raise DataError(f"{where[0].upper() + where[1:]} has {len(y)} row(s) with "
                            f"{'one target value' if len(y) else 'no target'}; a regression needs targets that vary.")

    def check_held_out(self, train: pd.DataFrame, other: pd.DataFrame, name: str) -> None:
        as_numbers(other["label"], f"the {name} data")

    def stratify_key(self, labels: pd.Series) -> pd.Series:
        """Quantile bins of the target (at most ``STRATA``; fewer when there are few distinct values)."""
        y = pd.Series(as_numbers(labels), index=labels.index)
        bins = min(STRATA, max(1, y.nunique()), max(1, len(y) // 10))
        if bins < 2:
            return pd.Series("all", index=labels.index)
        return pd.qcut(y.rank(method="first"), bins, labels=False).astype(str)

    def fit(self, labels: Sequence[Any]) -> RegressionTask:
        """Fit the standardisation (mean, std) on the training targets."""
        y = as_numbers(labels, "the training data")
        self.mean = float(y.mean())
        std = float(y.std())
        self.std = std if std > 0 else 1.0
        return self

    def encode_targets(self, labels: Sequence[Any]) -> list[float]:
        """Standardised targets."""
        return ((as_numbers(labels) - self.mean) / self.std).tolist()

    @property
    def labels(self) -> list[Any]:
        return [self.target_name]

    # ------------------------------------------------------------------ model
    def build(self, cfg: Any, train_targets: Sequence[float]) -> tuple[Any, Any, str, TextRegressionTask]:
        """Load ``cfg.model.name`` with a one-output regression head; return ``(model, tokenizer, source, step)``."""

        model, tokenizer, source = load_model(cfg.model.name, self.labels, dropout=cfg.model.dropout,
                                              problem_type="regression")
        step = TextRegressionTask(tokenizer, cfg.data.max_length, loss=cfg.training.loss,
                                  model_config=plain_model(model).config, target_std=self.std)
        return model, tokenizer, source, step

    def step_from_meta(self, tokenizer: Any, max_length: int, model_config: Any) -> TextRegressionTask:
        return TextRegressionTask(tokenizer, max_length, model_config=model_config, target_std=self.std)

    # ------------------------------------------------------------------ evaluation
    def transform(self, logits: np.ndarray) -> np.ndarray:
        """Predicted values in the targets' units, shape ``(n,)``."""
        return np.asarray(logits, dtype=np.float64).reshape(-1) * self.std + self.mean

    def predict(self, logits: np.ndarray) -> np.ndarray:
        return self.transform(logits)

    def evaluate(self, targets: Sequence[float], logits: np.ndarray,
                 train_targets: Sequence[float] | None = None) -> dict[str, Any]:
        """Test metrics in the targets' units, with the training-mean baseline."""

        y = np.asarray(targets, dtype=np.float64) * self.std + self.mean
        return regression_report(y, self.transform(logits), train_mean=self.mean)

    def analysis(self, frame: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame:
        """One row per example: target, prediction, residual, squared error (as ``loss``)."""
        y = as_numbers(frame["label"])
        pred = self.transform(logits)
        return pd.DataFrame({"row": frame.index.to_numpy(), "text": frame["text"].to_numpy(), "label": y,
                             "predicted": pred, "residual": pred - y, "loss": (pred - y) ** 2})

    def cheap_baseline(self, train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame, cfg: Any) -> Any:
        """A ridge regression on the modality's cheap features (``baseline_features``), its alpha chosen on
        validation, fitted to the standardised targets: predictions ``(n,)`` on the model's scale."""

        col = self.input_column
        name, x, (x_val, x_test) = self.baseline_features(train[col].tolist(), [validation[col].tolist(),
                                                                               test[col].tolist()], cfg)
        val, tst, choice = ridge_regression(x, self.encode_targets(train["label"]), x_val,
                                            self.encode_targets(validation["label"]), x_test)
        return Baseline(f"{name} + ridge regression", val, tst, choice)

    def diagnosis_context(self, train_labels: pd.Series, val_labels: pd.Series) -> dict[str, Any]:
        """No class baseline: the diagnosis uses the loss-based rules only (``n_val``: the validation rows)."""
        return {"metrics": {}, "n_classes": None, "n_val": len(val_labels)}

    def read_analysis(self, path: Any) -> pd.DataFrame:
        """``predictions.csv`` read back: texts as strings, targets and predictions as numbers."""
        return pd.read_csv(path, dtype={"text": str}, keep_default_na=False, na_values=[""])

    def describe(self, labels: pd.Series) -> str:
        """One phrase about the training targets, for the run's output."""
        c = self.class_counts(labels)
        return "targets " + ", ".join(f"{k} {v:.4g}" for k, v in c.items())

    def output_columns(self, logits: np.ndarray) -> dict[str, Any]:
        """What ``justfit predict`` adds per row: the ``predicted`` value."""
        return {"predicted": self.predict(logits)}

    def class_counts(self, labels: pd.Series) -> dict[str, float]:
        """Summary of the targets of a split (in place of class counts)."""
        y = as_numbers(labels) if len(labels) else np.zeros(0)
        if not len(y):
            return {}
        return {"mean": float(y.mean()), "std": float(y.std()), "min": float(y.min()), "max": float(y.max())}

    def report_sections(self, metrics: dict[str, Any], predictions: pd.DataFrame | None) -> list[str]:
        """HTML: metrics beside the training-mean baseline, predicted-vs-true scatter, residual histogram."""

        rows = [[k, metrics.get(k), metrics.get(f"baseline_{k}")] for k in ("rmse", "mae")]
        rows += [[k, metrics.get(k), None] for k in ("r2", "spearman")]
        parts = ["<div><h3>regression metrics</h3>" + html_table(rows, ["metric", "model", "training-mean baseline"])
                 + "</div>"]
        if predictions is not None and len(predictions):
            svg = plots.scatter(predictions["label"].to_numpy(float), predictions["predicted"].to_numpy(float))
            if svg:
                parts.append(f"<div><h3>predicted vs true</h3>{svg}</div>")
            svg = plots.histogram(predictions["residual"].to_numpy(float), "residual (predicted - true)")
            if svg:
                parts.append(f"<div><h3>residuals</h3>{svg}</div>")
        return parts

    # ------------------------------------------------------------------ persistence
    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels, "target_mean": self.mean, "target_std": self.std}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], model_config: Any) -> RegressionTask:
        task = cls()
        task.mean, task.std = float(meta.get("target_mean", 0.0)), float(meta.get("target_std", 1.0))
        return task
