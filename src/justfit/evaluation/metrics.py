"""Classification metrics, all from scikit-learn.

Averages over classes (``macro``, ``weighted``) count the classes present in the evaluated labels
or predictions, as scikit-learn does when it is not given ``labels``: a class with no row in the
evaluated data and never predicted has no precision or recall to average, and scoring it as zero
would punish a perfect model for the split's make-up. Such classes are still listed in
``per_class``, marked ``"absent": true`` with ``None`` scores, and named in ``absent_classes``.

Probabilities that are not finite (a diverged model) give no metrics: every score is ``None``
and ``invalid_reason`` says why, so a broken model never reports a plausible accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

EPOCH_KEYS = ("loss", "accuracy", "precision", "recall", "f1", "f1_weighted")
REPORT_KEYS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted",
               "f1_weighted", "log_loss", "majority_baseline_accuracy")


def _loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    # Mean cross-entropy; equals sklearn's log_loss but tolerates classes missing from y_true.
    p = np.clip(proba[np.arange(len(y_true)), y_true], 1e-15, 1.0)
    return float(-np.log(p).mean())


def invalid_reason(proba: np.ndarray) -> str:
    """Why ``proba`` (shape ``(n, num_labels)``) cannot be scored, or ``""`` when it can."""
    bad = ~np.isfinite(proba).all(axis=1)
    if bad.any():
        return (f"{int(bad.sum())} of {len(proba)} rows have non-finite probabilities (NaN or inf): the model "
                "diverged, so no metric is computed")
    return ""


def epoch_metrics(y_true: Sequence[int], proba: np.ndarray) -> dict[str, float]:
    """The per-epoch set: loss, accuracy, macro precision/recall/F1, weighted F1.

    ``proba`` has shape ``(n, num_labels)``. Macro averages are over the classes present in
    ``y_true`` or the predictions. Non-finite probabilities give NaN for every value.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    y = np.asarray(y_true, dtype=int)
    if invalid_reason(proba):
        return dict.fromkeys(EPOCH_KEYS, float("nan"))
    pred = proba.argmax(1)
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    return {
        "loss": _loss(y, proba),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(p),
        "recall": float(r),
        "f1": float(f),
        "f1_weighted": float(f1_score(y, pred, average="weighted", zero_division=0)),
    }


def classification_report(y_true: Sequence[int], proba: np.ndarray, class_names: Sequence[Any],
                           *, train_labels: Sequence[int] | None = None) -> dict[str, Any]:
    """The full test report: macro/weighted/per-class P/R/F1, confusion matrix, log loss, baseline.

    ``y_true`` holds class codes (indices into ``class_names``), ``proba`` has shape
    ``(n, len(class_names))``. See the module docstring for absent classes and non-finite input.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y = np.asarray(y_true, dtype=int)
    labels = list(range(len(class_names)))
    out: dict[str, Any] = {"n": int(len(y))}
    support = np.bincount(y, minlength=len(labels)) if len(y) else np.zeros(len(labels), dtype=int)
    absent = [str(class_names[i]) for i in labels if support[i] == 0]
    reason = invalid_reason(proba)
    if reason:
        out.update(dict.fromkeys(REPORT_KEYS))
        out["invalid_reason"] = reason
        out["per_class"] = {str(name): {"precision": None, "recall": None, "f1": None, "support": int(support[i]),
                                        **({"absent": True} if support[i] == 0 else {})}
                            for i, name in enumerate(class_names)}
        out["absent_classes"] = absent
        return out
    pred = proba.argmax(1)
    out["accuracy"] = float(accuracy_score(y, pred))
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        out.update({f"precision_{avg}": float(p), f"recall_{avg}": float(r), f"f1_{avg}": float(f)})
    out["log_loss"] = _loss(y, proba)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, average=None, zero_division=0)
    predicted = np.bincount(pred, minlength=len(labels))
    per_class: dict[str, Any] = {}
    for i, name in enumerate(class_names):
        if s[i] > 0:
            per_class[str(name)] = {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                    "support": int(s[i])}
        else:
            # No row of this class here: recall is undefined. When the model predicts it anyway, those
            # predictions are all wrong (precision 0, counted in the macro average as scikit-learn does).
            hit = predicted[i] > 0
            per_class[str(name)] = {"precision": 0.0 if hit else None, "recall": None, "f1": 0.0 if hit else None,
                                    "support": 0, "absent": True}
    out["per_class"] = per_class
    out["absent_classes"] = absent
    out["confusion_matrix"] = {"labels": [str(c) for c in class_names],
                               "matrix": confusion_matrix(y, pred, labels=labels).tolist()}
    # The bar any model must clear: always predicting the most frequent training class.
    ref = np.asarray(train_labels if train_labels is not None else y, dtype=int)
    majority = int(np.bincount(ref, minlength=len(labels)).argmax())
    out["majority_baseline_accuracy"] = float((y == majority).mean())
    out["majority_class"] = str(class_names[majority])
    return out


REGRESSION_KEYS = ("mse", "rmse", "mae", "r2", "spearman")


def regression_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """MSE, RMSE, MAE, R² (scikit-learn) and Spearman's rank correlation (SciPy) of ``y_pred`` against ``y_true``.

    Both have shape ``(n,)``, in the same units. Non-finite predictions give NaN for every value;
    R² and Spearman are NaN when ``y_true`` (or, for Spearman, ``y_pred``) is constant.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if len(y) == 0 or not np.isfinite(p).all():
        return dict.fromkeys(REGRESSION_KEYS, float("nan"))
    mse = float(mean_squared_error(y, p))
    constant = np.ptp(y) == 0
    rho = float("nan") if constant or np.ptp(p) == 0 else float(spearmanr(y, p).statistic)
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(mean_absolute_error(y, p)),
            "r2": float("nan") if constant else float(r2_score(y, p)), "spearman": rho}


def regression_report(y_true: Sequence[float], y_pred: Sequence[float], *, train_mean: float) -> dict[str, Any]:
    """The test report of a regression, in the targets' own units: the metrics of
    :func:`regression_metrics`, and those of the baseline that always predicts the training mean
    (``baseline_rmse``, ``baseline_mae``), the bar any model must clear. Non-finite predictions give
    ``None`` values and ``invalid_reason``."""
    y, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    out: dict[str, Any] = {"n": int(len(y))}
    reason = invalid_reason(p.reshape(-1, 1)) if len(p) else ""
    if reason:
        out.update(dict.fromkeys(REGRESSION_KEYS))
        out.update(baseline_rmse=None, baseline_mae=None, invalid_reason=reason)
        return out
    m = regression_metrics(y, p)
    out.update({k: (None if v != v else v) for k, v in m.items()})
    base = regression_metrics(y, np.full_like(y, float(train_mean)))
    out["baseline_rmse"], out["baseline_mae"] = base["rmse"], base["mae"]
    out["train_mean"] = float(train_mean)
    return out
