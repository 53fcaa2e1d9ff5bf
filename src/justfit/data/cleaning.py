"""Cleaning rules: each one named, registered, switchable, and explaining every row it removes.

A rule takes the current frame (columns ``text``, ``label``; index = original row number)
and returns the rows to drop, each with the row it duplicates (or ``None``) and a short
detail. Text normalisation is the one rule that rewrites rows instead of dropping them.
Nothing is lost: every dropped row is kept in ``CleaningReport.removed``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from justfit._registry import Registry
from justfit.errors import DataError

# A rule returns {row: (duplicate_of or None, detail)} for the rows it drops.
Drops = dict[Any, tuple[Any, str]]
RULES: Registry[Callable[[pd.DataFrame, dict[str, Any]], Drops]] = Registry("cleaning rule")
DEFAULT_RULES = ("normalize", "empty_text", "conflicting_duplicate", "exact_duplicate")
_WS = re.compile(r"\s+")


@dataclass
class CleaningReport:
    """What cleaning did: rows in and out, counts and examples per rule, and every removed row."""

    rows_in: int
    rows_out: int
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    removed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["row", "rule", "duplicate_of", "detail", "text", "label"]))

    def to_dict(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out, "counts": self.counts, "examples": self.examples}


def normalize_text(text: str) -> str:
    """NFKC Unicode normalisation and collapsed whitespace: what 'the same text' means for duplicates."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


@RULES.register("normalize")
def _normalize(frame: pd.DataFrame, opts: dict[str, Any]) -> Drops:
    """Unicode (NFKC) and whitespace normalisation of the text (rewrites, never drops)"""
    frame["text"] = frame["text"].map(normalize_text)
    return {}


@RULES.register("empty_text")
def _empty(frame: pd.DataFrame, opts: dict[str, Any]) -> Drops:
    """texts that are empty or only whitespace"""
    empty = frame["text"].str.strip() == ""
    return {row: (None, "empty or whitespace-only text") for row in frame.index[empty]}


@RULES.register("conflicting_duplicate")
def _conflicting(frame: pd.DataFrame, opts: dict[str, Any]) -> Drops:
    """the same text with different labels: drop all copies, or keep the majority label (conflicts: majority)"""
    policy = opts.get("conflicts", "drop")
    if policy not in ("drop", "majority"):
        raise DataError(f"Cleaning option 'conflicts' must be 'drop' or 'majority'. Got {policy!r} instead.")
    key = frame["text"].str.lower()
    drops: Drops = {}
    n_labels = frame.groupby(key, sort=False)["label"].nunique()
    for text in n_labels.index[n_labels > 1]:
        group = frame[key == text]
        counts = group["label"].value_counts()
        labels = ", ".join(f"{k!r}x{v}" for k, v in counts.items())
        winner = counts.index[0] if policy == "majority" and (len(counts) == 1 or counts.iloc[0] > counts.iloc[1]) else None
        keep_row = group.index[group["label"] == winner][0] if winner is not None else None
        for row, lab in group["label"].items():
            if winner is not None and lab == winner:
                continue
            first = keep_row if keep_row is not None else group.index[0]
            drops[row] = (None if first == row else first, f"same text has labels {labels}")
    return drops


@RULES.register("exact_duplicate")
def _exact(frame: pd.DataFrame, opts: dict[str, Any]) -> Drops:
    """exact duplicates after normalisation (case-insensitive); the first copy is kept"""
    key = frame["text"].str.lower() + "\x00" + frame["label"].astype(str)
    first = key.groupby(key, sort=False).transform(lambda s: s.index[0])
    dup = first.index != first.to_numpy()
    return {row: (orig, "exact duplicate") for row, orig in zip(frame.index[dup], first[dup], strict=True)}


def clean(frame: pd.DataFrame, rules: Sequence[str] | None = None, **options: Any) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply ``rules`` (default: ``DEFAULT_RULES``) in order; return the kept rows and the report.

    Stops with a ``DataError`` naming the responsible rules when cleaning would leave no
    rows or a single class.
    """
    names = list(DEFAULT_RULES if rules is None else rules)
    for name in names:
        RULES.get(name)  # unknown names fail before any work
    original = frame.copy()
    work = frame.copy()
    removed: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for name in names:
        drops = RULES.get(name)(work, options)
        counts[name] = len(drops)
        for row, (dup_of, detail) in drops.items():
            removed.append({"row": row, "rule": name, "duplicate_of": dup_of, "detail": detail,
                            "text": original.at[row, "text"], "label": original.at[row, "label"]})
        work = work.drop(index=list(drops))
    removed_df = pd.DataFrame(removed, columns=["row", "rule", "duplicate_of", "detail", "text", "label"])
    report = CleaningReport(rows_in=len(frame), rows_out=len(work), counts=counts, removed=removed_df,
                            examples={r: removed_df[removed_df["rule"] == r].head(5).to_dict("records")
                                      for r in names if counts.get(r)})
    _check_result(frame, work, report)
    return work, report


def _check_result(before: pd.DataFrame, after: pd.DataFrame, report: CleaningReport) -> None:
    responsible = ", ".join(f"{r} ({n} rows)" for r, n in report.counts.items() if n)
    if len(after) == 0:
        raise DataError(f"Cleaning removed every row ({responsible}). Switch those rules off or fix the data.")
    if before["label"].nunique() > 1 and after["label"].nunique() < 2:
        raise DataError(f"Cleaning left a single class ('{after['label'].iloc[0]}') after removing rows ({responsible}). "
                        "Switch those rules off or fix the data.")
