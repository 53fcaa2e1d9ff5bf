"""Leakage audit: training rows that also appear, exactly or nearly, in validation or test.

A model that saw a test text in training is graded on its memory, not on generalisation.
The audit runs after splitting (or on the user's own splits). By default the leaked copies
are removed from train; the validation and test sets are never changed, so results stay
comparable with other runs on the same test set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.cleaning import OPTIONS, REMOVED_COLUMNS, _jsonable, normalize_text
from justfit.errors import DataError, unknown_name
from justfit.tasks.text.minhash import cross_near_duplicates

ACTIONS = ("remove", "report")


@dataclass
class LeakageReport:
    """Per held-out split, how many training rows are exact or near copies of its rows."""

    action: str
    threshold: float
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    held_out_leaked: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    leaked: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REMOVED_COLUMNS))
    train: pd.DataFrame | None = None

    @property
    def removed(self) -> int:
        return len(self.leaked) if self.action == "remove" else 0

    @property
    def test_leaks(self) -> bool:
        return sum(self.counts.get("test", {}).values()) > 0

    def summary(self) -> str:
        parts = []
        for split, c in self.counts.items():
            if c["exact"] or c["near"]:
                parts.append(f"{c['exact'] + c['near']} training rows copy {self.held_out_leaked[split]} {split} rows "
                             f"({c['exact']} exact, {c['near']} near)")
        if not parts:
            return "no leakage between train and the held-out splits"
        verb = "removed from train" if self.action == "remove" else "kept (leakage: report)"
        return "; ".join(parts) + f"; {verb}"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "threshold": self.threshold, "counts": self.counts,
                "held_out_rows_leaked": self.held_out_leaked, "removed_from_train": self.removed,
                "test_leaks": self.test_leaks, "summary": self.summary(), "examples": _jsonable(self.examples)}


def audit_leakage(train: pd.DataFrame, held_out: dict[str, pd.DataFrame], *, action: str = "remove",
                  threshold: float = OPTIONS["near_threshold"], num_perm: int = OPTIONS["num_perm"],
                  ngram: int = OPTIONS["near_ngram"], near: bool = True) -> LeakageReport:
    """Find training rows that are exact (after normalisation, case-insensitive) or near copies
    (MinHash LSH, Jaccard >= ``threshold``) of rows in each ``held_out`` split.

    ``train`` and the held-out frames have ``text`` and ``label`` columns, indexed by row
    number. With ``action='remove'`` the report's ``train`` holds the training rows without
    the leaked copies; with ``'report'`` it is ``train`` unchanged.
    """

    if action not in ACTIONS:
        raise unknown_name("leakage action", action, ACTIONS)

    for name, frame in [("train", train), *held_out.items()]:
        if frame is not None and not frame.index.is_unique:
            raise DataError(f"The {name} rows have repeated index values; give each row its own number "
                            "(e.g. frame.reset_index(drop=True)).")
    train_keys = train["text"].map(normalize_text).str.lower()
    train_texts = train_keys.tolist()
    hits: dict[Any, tuple[Any, str, str]] = {}  # train row -> (held-out row, split, detail), test first
    counts: dict[str, dict[str, int]] = {}
    held_leaked: dict[str, int] = {}
    # The test split first: a training row that copies a test row is reported as a test leak.
    for split in sorted(held_out, key=lambda name: name != "test"):
        frame = held_out[split]
        if frame is None or not len(frame):
            continue
        keys = frame["text"].map(normalize_text).str.lower()
        first_row = pd.Series(keys.index, index=keys.to_numpy())
        first_row = first_row[~first_row.index.duplicated()]
        exact_mask = train_keys.isin(first_row.index)
        leaked_keys = set(train_keys[exact_mask])
        for row, key in train_keys[exact_mask].items():
            hits.setdefault(row, (first_row[key], split, f"exact copy of {split} row {first_row[key]}"))
        near_rows: set[Any] = set()
        leaked_held: set[Any] = set()
        if near:
            rest = np.flatnonzero(~exact_mask.to_numpy())
            nd = cross_near_duplicates([train_texts[i] for i in rest], keys.tolist(), threshold=threshold,
                                       num_perm=num_perm, ngram=ngram)
            for (i, j), sim in zip(nd.pairs.tolist(), nd.similarity.tolist(), strict=True):
                row, other = train.index[rest[i]], frame.index[j]
                leaked_held.add(other)
                near_rows.add(row)
                hits.setdefault(row, (other, split, f"near copy (Jaccard {sim:.2f}) of {split} row {other}"))
        counts[split] = {"exact": int(exact_mask.sum()), "near": len(near_rows)}
        leaked_held |= set(frame.index[keys.isin(leaked_keys).to_numpy()])
        held_leaked[split] = len(leaked_held)
    rows = list(hits)
    leaked = pd.DataFrame({
        "row": rows, "split": "train", "rule": "leakage",
        "duplicate_of": pd.array([hits[r][0] for r in rows], dtype="Int64"),
        "detail": [hits[r][2] for r in rows],
        "text": train.loc[rows, "text"].to_numpy() if rows else [],
        "label": train.loc[rows, "label"].to_numpy() if rows else [],
    }, columns=REMOVED_COLUMNS)
    examples = []
    for r in rows[:5]:
        other, split, detail = hits[r]
        examples.append({"train_row": r, "split": split, "held_out_row": other, "detail": detail,
                         "train_text": train.at[r, "text"], "held_out_text": held_out[split].at[other, "text"]})
    kept = train.drop(index=rows) if action == "remove" else train
    return LeakageReport(action=action, threshold=threshold, counts=counts, held_out_leaked=held_leaked,
                         examples=examples, leaked=leaked, train=kept)
