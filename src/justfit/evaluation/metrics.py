"""Classification metrics, all from scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    # Mean cross-entropy; equals sklearn's log_loss but tolerates classes missing from y_true.
    p = np.clip(proba[np.arange(len(y_true)), y_true], 1e-15, 1.0)
    return float(-np.log(p).mean())


def epoch_metrics(y_true: Sequence[int], proba: np.ndarray) -> dict[str, float]:
    """The per-epoch set: loss, accuracy, macro precision/recall/F1, weighted F1."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    y = np.asarray(y_true, dtype=int)
    labels = list(range(proba.shape[1]))
    pred = proba.argmax(1)
    p, r, f, _ = precision_recall_fscore_support(y, pred, labels=labels, average="macro", zero_division=0)
    return {
        "loss": _loss(y, proba),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(p),
        "recall": float(r),
        "f1": float(f),
        "f1_weighted": float(f1_score(y, pred, labels=labels, average="weighted", zero_division=0)),
    }


def classification_report(y_true: Sequence[int], proba: np.ndarray, class_names: Sequence[Any],
                           *, train_labels: Sequence[int] | None = None) -> dict[str, Any]:
    """The full test report: macro/weighted/per-class P/R/F1, confusion matrix, log loss, baseline."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y = np.asarray(y_true, dtype=int)
    labels = list(range(len(class_names)))
    pred = proba.argmax(1)
    out: dict[str, Any] = {"n": int(len(y)), "accuracy": float(accuracy_score(y, pred))}
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=labels, average=avg, zero_division=0)
        out.update({f"precision_{avg}": float(p), f"recall_{avg}": float(r), f"f1_{avg}": float(f)})
    out["log_loss"] = _loss(y, proba)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, average=None, zero_division=0)
    out["per_class"] = {
        str(name): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(class_names)
    }
    out["confusion_matrix"] = {"labels": [str(c) for c in class_names],
                               "matrix": confusion_matrix(y, pred, labels=labels).tolist()}
    # The bar any model must clear: always predicting the most frequent training class.
    ref = np.asarray(train_labels if train_labels is not None else y, dtype=int)
    majority = int(np.bincount(ref, minlength=len(labels)).argmax())
    out["majority_baseline_accuracy"] = float((y == majority).mean())
    out["majority_class"] = str(class_names[majority])
    return out
