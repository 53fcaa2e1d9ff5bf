"""Label-noise audit: confident learning (cleanlab) on out-of-fold probabilities of a cheap model.

The training texts are embedded once by the frozen pretrained backbone (cached on disk, see
``tasks.frozen``); a logistic regression and a cosine k-nearest-neighbours vote
are fitted in K stratified folds, and their mean is an out-of-fold probability for every row; cleanlab's confident learning then flags the rows
whose given label is unlikely under those probabilities, ranked by label quality. The cost
is about one forward pass over the data: no fine-tuning happens here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.cleaning import REMOVED_COLUMNS, _jsonable
from justfit.errors import ConfigError, DataError
from justfit.tasks.text.frozen import embed_cached

ACTIONS = ("report", "drop", "downweight", "off")


@dataclass
class LabelReport:
    """Rows whose given label looks wrong, most suspicious first."""

    n_rows: int
    folds: int
    oof_accuracy: float
    issues: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["row", "text", "given_label", "suggested_label", "label_quality", "p_given", "p_suggested"]))
    classes: list[Any] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)
    skipped: str = ""
    note: str = ""
    # Whether the audit's own probe is good enough for its flags to be a verdict (None: judge by
    # oof_accuracy against the share flagged, as the diagnosis does).
    trusted: bool | None = None

    @property
    def n_issues(self) -> int:
        return len(self.issues)

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        return {"rows": self.n_rows, "folds": self.folds, "out_of_fold_accuracy": self.oof_accuracy,
                "issues": self.n_issues, "issue_rate": self.n_issues / max(self.n_rows, 1),
                "skipped": self.skipped, "note": self.note, "features": self.features, "trusted": self.trusted,
                "top": _jsonable(self.issues.head(top).to_dict("records"))}

    def as_removed(self, detail_prefix: str = "likely mislabelled") -> pd.DataFrame:
        """The issues as ``removed.csv`` rows (rule ``label_noise``)."""
        return pd.DataFrame({
            "row": self.issues["row"].to_numpy(), "split": "train", "rule": "label_noise",
            "duplicate_of": pd.array([None] * len(self.issues), dtype="Int64"),
            "detail": [f"{detail_prefix}: given {g!r}, suggested {s!r} (label quality {q:.3f})"
                       for g, s, q in zip(self.issues["given_label"], self.issues["suggested_label"],
                                          self.issues["label_quality"], strict=True)],
            "text": self.issues["text"].to_numpy(), "label": self.issues["given_label"].to_numpy(),
        }, columns=REMOVED_COLUMNS)


def out_of_fold_proba(features: np.ndarray, codes: np.ndarray, *, folds: int = 5, seed: int = 42) -> np.ndarray:
    """Out-of-fold class probabilities (stratified K folds): the mean of a standardised logistic
    regression and a cosine k-nearest-neighbours vote.

    The two probes err differently (a linear boundary against local neighbourhoods), and their
    average ranks planted label flips better than either alone (bench/label_noise.py).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    linear = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    p_lr = cross_val_predict(linear, features, codes, cv=cv, method="predict_proba")
    smallest_fold = len(codes) - -(-len(codes) // folds)
    k = max(1, min(25, smallest_fold - 1))
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute")
    p_knn = cross_val_predict(knn, features, codes, cv=cv, method="predict_proba")
    return (p_lr + p_knn) / 2


def find_label_issues(data: pd.DataFrame | Sequence[str], labels: Sequence[Any] | None = None, *,
                      model: str | None = None, features: np.ndarray | None = None, folds: int = 5,
                      seed: int = 42, max_length: int = 256, bf16: bool | str = "auto", cache: bool = True,
                      cache_dir: str | None = None, progress: bool = False) -> LabelReport:
    """Flag likely mislabelled rows. ``data`` is a ``text``/``label`` frame, or texts with ``labels``.

    ``features`` skips the embedding (one row per text); otherwise ``model`` (default: the
    packaged MiniLM) embeds the texts, through the on-disk cache.
    """
    from cleanlab.filter import find_label_issues as cl_find
    from cleanlab.rank import get_label_quality_scores

    if isinstance(data, pd.DataFrame):
        frame = data[["text", "label"]]
    else:
        if labels is None:
            raise DataError("find_label_issues needs labels: pass a text/label DataFrame, or texts and labels.")
        frame = pd.DataFrame({"text": list(data), "label": list(labels)})
    if len(frame) == 0:
        raise DataError("find_label_issues got no rows.")
    if folds < 2:
        raise ConfigError(f"Label audit folds must be at least 2. Got {folds}.")
    if features is not None and len(features) != len(frame):
        raise DataError(f"find_label_issues got {len(features)} feature rows for {len(frame)} texts.")
    # Classes with fewer rows than folds cannot appear in every fold: they are left out of the
    # audit (reported), rather than cutting the folds of every class.
    counts = frame["label"].value_counts()
    small = counts[counts < folds]
    if len(counts) - len(small) < 2:
        small, folds = counts[counts < 2], int(counts[counts >= 2].min()) if (counts >= 2).any() else 0
    note = ""
    if len(small):
        from justfit.data.messages import examples

        note = (f"class(es) {examples(small.index)} have fewer than {max(folds, 2)} rows "
                "and were left out of the label audit")
    keep = ~frame["label"].isin(small.index).to_numpy()
    sub = frame[keep]
    classes = sorted(pd.unique(sub["label"]).tolist(), key=lambda v: (isinstance(v, str), v))
    if len(classes) < 2 or folds < 2:
        why = "a single class" if frame["label"].nunique() < 2 else note
        return LabelReport(len(frame), 0, float("nan"), classes=classes, skipped=f"label audit skipped: {why}")
    codes = sub["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    k = folds
    info: dict[str, Any] = {}
    if features is None:
        features, info = embed_cached(sub["text"].tolist(), model, max_length=max_length, bf16=bf16, cache=cache,
                                      cache_dir=cache_dir, progress=progress)
    else:
        features = np.asarray(features)[keep]
    frame = sub
    proba = out_of_fold_proba(features, codes, folds=k, seed=seed)
    quality = get_label_quality_scores(codes, proba)
    # "both": rows flagged by per-class pruning and by noise-rate pruning (fewer false alarms, same recall).
    ranked = cl_find(labels=codes, pred_probs=proba, filter_by="both", return_indices_ranked_by="self_confidence")
    suggested = proba.argmax(1)
    cls = np.asarray(classes, dtype=object)
    issues = pd.DataFrame({
        "row": frame.index.to_numpy()[ranked],
        "text": frame["text"].to_numpy()[ranked],
        "given_label": cls[codes[ranked]],
        "suggested_label": cls[suggested[ranked]],
        "label_quality": quality[ranked],
        "p_given": proba[ranked, codes[ranked]],
        "p_suggested": proba[ranked, suggested[ranked]],
    })
    return LabelReport(n_rows=len(frame), folds=k, oof_accuracy=float((suggested == codes).mean()),
                       issues=issues, classes=classes, note=note,
                       features=dict(info))
