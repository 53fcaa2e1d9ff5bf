"""Cleaning rules: each one named, registered, switchable, and explaining every row it touches.

A rule takes the current frame (columns ``text``, ``label``; index = original row number)
and the options, and returns a ``Found``: the rows to drop and the rows only to report, each
with the row it duplicates (or ``None``) and a short detail. A rule named in ``report_only``
drops nothing: what it would drop is reported instead. Text normalisation is the one rule
that rewrites rows instead of dropping them. Nothing is lost: every dropped row is kept in
``CleaningReport.removed`` with its original text and label.

Rules are vectorised over the frame (pandas string methods, numpy), so a million short
texts clean in minutes and within a few GB.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit._registry import Registry
from justfit.config import QualityConfig
from justfit.data.io import detect_columns, load_table, normalise
from justfit.errors import ConfigError, DataError, did_you_mean
from justfit.registries import CLEANING_RULES
from justfit.tasks.text.minhash import SLACK, exact_jaccard, find_near_duplicates

# {row: (duplicate_of or None, detail)}
Drops = dict[Any, tuple[Any, str]]


@dataclass
class Found:
    """What one rule found: rows to drop, and rows to report but keep."""

    drop: Drops = field(default_factory=dict)
    flag: Drops = field(default_factory=dict)


RULES: Registry[Callable[[pd.DataFrame, dict[str, Any]], Found]] = CLEANING_RULES  # registered below
# The defaults are defined once, in the `quality` config section (QualityConfig, where each
# option is described): the rule list, the report-only rules, and the options each rule takes:
# conflicts (conflicting_duplicate), near_threshold, near_ngram and num_perm (near_duplicate),
# outlier_z (length_outlier).
_QUALITY_DEFAULTS = QualityConfig.model_construct()
DEFAULT_RULES = tuple(_QUALITY_DEFAULTS.rules)
DEFAULT_REPORT_ONLY = tuple(_QUALITY_DEFAULTS.report_only)
OPTIONS: dict[str, Any] = _QUALITY_DEFAULTS.cleaning_options()
REMOVED_COLUMNS = ["row", "split", "rule", "duplicate_of", "detail", "text", "label"]
_WS = re.compile(r"\s+")


@dataclass
class CleaningReport:
    """What cleaning did: the kept rows (``data``), counts and examples per rule, every removed row,
    and the rows reported but kept (``flagged``)."""

    rows_in: int
    rows_out: int
    counts: dict[str, int] = field(default_factory=dict)
    flagged_counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    removed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REMOVED_COLUMNS))
    flagged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REMOVED_COLUMNS))
    data: pd.DataFrame | None = None
    rules: list[str] = field(default_factory=list)
    report_only: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out, "rules": self.rules,
                "report_only": self.report_only, "removed": self.counts, "flagged": self.flagged_counts,
                "examples": _jsonable(self.examples)}

    def summary_rows(self) -> list[tuple[str, int, int]]:
        """(rule, rows removed, rows flagged) for every rule that ran."""
        return [(r, self.counts.get(r, 0), self.flagged_counts.get(r, 0)) for r in self.rules]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def normalize_text(text: str) -> str:
    """NFKC Unicode normalisation and collapsed whitespace: what 'the same text' means for duplicates."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


# ----------------------------------------------------------------------------- rules
@RULES.register("normalize")
def _normalize(frame: pd.DataFrame, opts: dict[str, Any]) -> Found:
    """Unicode (NFKC) and whitespace normalisation of the text (rewrites, never drops)"""
    frame["text"] = frame["text"].map(normalize_text)
    return Found()


@RULES.register("empty_text")
def _empty(frame: pd.DataFrame, opts: dict[str, Any]) -> Found:
    """texts that are missing, empty or only whitespace"""
    empty = frame["text"].str.strip() == ""
    return Found({row: (None, "empty or missing text") for row in frame.index[empty]})


@RULES.register("missing_label")
def _missing_label(frame: pd.DataFrame, opts: dict[str, Any]) -> Found:
    """rows without a label"""
    missing = frame["label"].isna()
    return Found({row: (None, "no label") for row in frame.index[missing]})


_URL = r"(?:https?://|www\.)\S+"
_MARKUP = r"<[^>\n]{0,200}>|&#?\w{1,8};"
_LETTER = r"[^\W\d_]"
# Emoji and pictographic symbols (stars, hearts, arrows) carry meaning in reviews and posts.
_EMOJI = "[\U0001F000-\U0001FAFF\u2190-\u21FF\u2300-\u23FF\u2600-\u27BF\u2B00-\u2BFF]"
# Replacement characters, C1 control characters and the classic UTF-8-read-as-Latin-1 pairs.
_MOJIBAKE = "[\ufffd\u0080-\u009f]|Ã[\u00a0-\u00bf]|â€|Â[\u00a0-\u00bf]"


@RULES.register("non_text")
def _non_text(frame: pd.DataFrame, opts: dict[str, Any]) -> Found:
    """texts that are not words: only URLs, markup or punctuation, or mostly encoding garbage (texts of mostly
    numbers and symbols, such as '10/10', are reported but kept)"""
    text = frame["text"]
    stripped = text.str.replace(_URL, " ", regex=True).str.replace(_MARKUP, " ", regex=True)
    letters = stripped.str.count(_LETTER) + stripped.str.count(_EMOJI)
    visible = text.str.count(r"\S").clip(lower=1)
    rest = stripped.str.count(r"\S")
    garbage = text.str.count(_MOJIBAKE)
    drops: Drops = {}
    no_words = letters == 0
    # Nothing left once URLs and markup are gone, or only punctuation: not text. Digits or symbols
    # ('10/10', '<3', '5*') may carry the label, so those are only reported.
    has_digits_or_symbols = stripped.str.contains(r"[\d<>=+*#%$€£^~|]", regex=True)
    flags: Drops = {}
    for row, keep in zip(frame.index[no_words], has_digits_or_symbols[no_words], strict=True):
        if keep:
            flags[row] = (None, "no words: only numbers or symbols")
        else:
            drops[row] = (None, "no words: only URLs, markup or punctuation")
    bad = ~no_words & (garbage / visible > 0.3)
    for row, g in zip(frame.index[bad], garbage[bad], strict=True):
        drops[row] = (None, f"encoding garbage ({int(g)} mis-decoded characters)")
    ratio = letters / rest.clip(lower=1)
    mostly = ~no_words & ~bad & (ratio < 0.25) & (rest >= 8)
    for row, r in zip(frame.index[mostly], ratio[mostly], strict=True):
        flags[row] = (None, f"mostly not words ({r:.0%} letters after removing URLs and markup)")
    # Readable texts with some mis-decoded characters are kept, but reported: the file's encoding may be wrong.
    some = ~no_words & ~bad & ~mostly & (garbage >= 3)
    flags.update({row: (None, f"{int(g)} mis-decoded characters: check the file's encoding")
                  for row, g in zip(frame.index[some], garbage[some], strict=True)})
    return Found(drops, flags)


@RULES.register("conflicting_duplicate")
def _conflicting(frame: pd.DataFrame, opts: dict[str, Any]) -> Found:
    """the same text with different labels: drop all copies, or keep the majority label (conflicts: majority)"""
    policy = opts["conflicts"]
    if policy not in ("drop", "majority"):
        raise ConfigError(f"Cleaning option 'conflicts' must be 'drop' or 'majority'. Got {policy!r} instead.")
    key = frame["text"].str.lower()
    n_labels = frame.groupby(key, sort=False)["label"].nunique()
    conflicted = n_labels.index[n_labels > 1]
    drops: Drops = {}
    if not len(conflicted):
        return Found()
    sub = frame[key.isin(conflicted)]
    for _, group in sub.groupby(key[sub.index], sort=False):
        counts = group["label"].value_counts()
        labels = ", ".join(f"{k!r}x{v}" for k, v in counts.items())
        winner = counts.index[0] if policy == "majority" and counts.iloc[0] > counts.iloc[1] else None
        keep_row = group.index[group["label"] == winner][0] if winner is not None else group.index[0]
        for row, lab in group["label"].items():
            if winner is not None and lab == winner:
                continue
            drops[row] = (None if keep_row == row else keep_row, f"same text has labels {labels}")
    return Found(drops)


@RULES.register("exact_duplicate")
def _exact(frame: pd.DataFrame, opts: dict[str, Any]) -> Found:
    """exact duplicates after normalisation (case-insensitive, same label); the first copy is kept"""
    key = frame["text"].str.lower() + "\x00" + frame["label"].astype(str)
    codes, _ = pd.factorize(key)
    _, first_pos = np.unique(codes, return_index=True)
    first = first_pos[codes]
    dup = np.flatnonzero(first != np.arange(len(frame)))
    rows, origs = frame.index[dup], frame.index[first[dup]]
    return Found({row: (orig, "exact duplicate") for row, orig in zip(rows, origs, strict=True)})


@RULES.register("near_duplicate")
def _near(frame: pd.DataFrame, opts: dict[str, Any]) -> Found:
    """near duplicates (MinHash LSH on character shingles, Jaccard >= near_threshold); one copy per label is kept,
    and near-duplicate texts with different labels are reported"""

    thr = float(opts["near_threshold"])
    if not 0 < thr <= 1:
        raise ConfigError(f"Cleaning option 'near_threshold' must be in (0, 1]. Got {thr} instead.")
    texts = frame["text"].tolist()
    nd = find_near_duplicates(texts, threshold=thr, num_perm=int(opts["num_perm"]), ngram=int(opts["near_ngram"]))
    if not len(nd.pairs):
        return Found()
    rep = nd.clusters(len(frame))
    in_cluster = np.flatnonzero(np.bincount(rep, minlength=len(frame))[rep] > 1)
    sub = pd.DataFrame({"cluster": rep[in_cluster], "label": frame["label"].to_numpy()[in_cluster],
                        "pos": in_cluster})
    index, ngram = frame.index, int(opts["near_ngram"])
    drops: Drops = {}
    kept_pos: list[int] = []
    sub = sub.sort_values("pos", kind="stable")
    sig = nd.sig
    for _, group in sub.groupby(["cluster", "label"], sort=False):
        # Greedy, in row order: a row goes only if it is itself similar enough to a row already kept
        # (clusters are linked pairs, so two rows of one cluster can be far apart). Kept rows are
        # screened by signature estimate, the closest few checked exactly.
        kept: list[int] = []
        for pos in group["pos"].tolist():
            match = None
            if kept:
                est = (sig[kept] == sig[pos]).mean(axis=1)
                for k in np.argsort(-est)[:3]:
                    if est[k] < thr - SLACK:
                        break
                    sim = exact_jaccard(texts[kept[k]], texts[pos], ngram)
                    if sim >= thr:
                        match = (kept[k], sim)
                        break
            if match is None:
                kept.append(pos)
                kept_pos.append(pos)
            else:
                drops[index[pos]] = (index[match[0]], f"near duplicate (Jaccard {match[1]:.2f})")
    flags: Drops = {}
    kept_rows = sub[sub["pos"].isin(kept_pos)]
    n_lab = kept_rows.groupby("cluster")["label"].transform("nunique").to_numpy()
    conflict = kept_rows[n_lab > 1]
    for _cluster, group in conflict.groupby("cluster", sort=False):
        labels = ", ".join(map(repr, pd.unique(group["label"]).tolist()))
        head = int(group["pos"].min())
        for pos in group["pos"].tolist():
            flags[index[pos]] = (None if pos == head else index[head], f"near-duplicate texts with different labels ({labels})")
    return Found(drops, flags)


@RULES.register("length_outlier")
def _length(frame: pd.DataFrame, opts: dict[str, Any]) -> Found:
    """texts whose token count is an outlier (robust z-score of log counts above outlier_z); reported by default"""
    z_max = float(opts["outlier_z"])
    if len(frame) < 5:
        return Found()  # too few rows for robust statistics
    counts = frame["text"].str.count(r"\S+").to_numpy()
    x = np.log1p(counts)
    med = np.median(x)
    mad = np.median(np.abs(x - med))
    scale = mad / 0.6745 if mad > 0 else np.mean(np.abs(x - med)) * 1.2533
    if scale == 0:
        return Found()
    z = (x - med) / scale
    out = np.flatnonzero(np.abs(z) > z_max)
    typical = int(round(np.expm1(med)))
    return Found({frame.index[i]: (None, f"{int(counts[i])} tokens ({'long' if z[i] > 0 else 'short'}; "
                                   f"typical {typical}, robust z {z[i]:+.1f})") for i in out})


# ----------------------------------------------------------------------------- driver
def check_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in options if k not in OPTIONS]
    if unknown:
        raise ConfigError(f"Unknown cleaning option '{unknown[0]}'. Valid options: {', '.join(OPTIONS)}."
                          + did_you_mean(unknown[0], list(OPTIONS)))
    return {**OPTIONS, **options}


def clean(data: pd.DataFrame | str | Path, rules: Sequence[str] | None = None, *,
          report_only: Sequence[str] | None = None, text_column: str | None = None,
          label_column: str | None = None, split: str = "", check: bool = True, **options: Any) -> CleaningReport:
    """Apply ``rules`` (default: ``DEFAULT_RULES``) in order; return a report whose ``data`` holds the kept rows.

    ``data`` is a data file, a DataFrame with any columns (text and label columns are
    detected, or named by ``text_column``/``label_column``), or a normalised ``text``/``label``
    frame. Rules in ``report_only`` (default: ``length_outlier``) report and drop nothing.
    Options: ``conflicts`` ('drop' or 'majority'), ``near_threshold``, ``near_ngram``,
    ``num_perm``, ``outlier_z``. With ``check``, stops with a ``DataError`` naming the
    responsible rules when cleaning would leave no rows or a single class.
    """
    frame = _as_frame(data, text_column, label_column)
    names = list(DEFAULT_RULES if rules is None else rules)
    only = list(DEFAULT_REPORT_ONLY if report_only is None else report_only)
    for name in names + only:
        RULES.get(name)  # unknown names fail before any work
    opts = check_options(options)
    original = frame
    work = frame.copy()
    if work["text"].isna().any():
        work["text"] = work["text"].fillna("")
    removed: list[pd.DataFrame] = []
    flagged: list[pd.DataFrame] = []
    counts: dict[str, int] = {}
    flagged_counts: dict[str, int] = {}
    for name in names:
        found = RULES.get(name)(work, opts) if len(work) else Found()
        drop, flag = found.drop, dict(found.flag)
        if name in only:
            flag.update(drop)
            drop = {}
        counts[name] = len(drop)
        flagged_counts[name] = len(flag)
        if drop:
            removed.append(_rows(original, drop, name, split))
            work = work.drop(index=list(drop))
        if flag:
            flagged.append(_rows(original, flag, name, split))
    removed_df = pd.concat(removed, ignore_index=True) if removed else pd.DataFrame(columns=REMOVED_COLUMNS)
    flagged_df = pd.concat(flagged, ignore_index=True) if flagged else pd.DataFrame(columns=REMOVED_COLUMNS)
    examples = {}
    for r in names:
        ex = removed_df[removed_df["rule"] == r] if counts.get(r) else flagged_df[flagged_df["rule"] == r]
        if len(ex):
            examples[r] = ex.head(5)[["row", "duplicate_of", "detail", "text", "label"]].to_dict("records")
    if work["label"].isna().any():
        from justfit.data.io import raise_missing_labels

        raise_missing_labels(work["label"].isna().to_numpy(), "label", "the data")
    work["label"] = _tidy_labels(work["label"])
    report = CleaningReport(rows_in=len(frame), rows_out=len(work), counts=counts, flagged_counts=flagged_counts,
                            examples=examples, removed=removed_df, flagged=flagged_df, data=work, rules=names,
                            report_only=[r for r in only if r in names])
    if check:
        check_result(frame, work, report)
    return report


def _rows(original: pd.DataFrame, found: Drops, rule: str, split: str) -> pd.DataFrame:
    rows = list(found)
    sub = original.loc[rows]
    return pd.DataFrame({
        "row": rows, "split": split, "rule": rule,
        "duplicate_of": pd.array([d for d, _ in found.values()], dtype="Int64"),
        "detail": [detail for _, detail in found.values()],
        "text": sub["text"].to_numpy(), "label": sub["label"].to_numpy(),
    }, columns=REMOVED_COLUMNS)


def _tidy_labels(label: pd.Series) -> pd.Series:
    """After missing labels are gone, whole-number labels become integers again."""
    if label.dtype == object and len(label) and all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                                                      for v in label):
        return label.astype(np.int64)
    return label


def _as_frame(data: Any, text_column: str | None, label_column: str | None) -> pd.DataFrame:

    if isinstance(data, str | Path):
        return load_table(data, text_column, label_column, allow_missing=True).frame
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"clean() takes a DataFrame or a data file path. Got {type(data).__name__}.")
    if not data.index.is_unique:
        raise DataError("The rows to clean have repeated index values; give each row its own number "
                        "(e.g. frame.reset_index(drop=True)).")
    if list(data.columns) == ["text", "label"] and text_column is None and label_column is None:
        return data.copy()
    frame = data.rename(columns=str)
    spec = detect_columns(frame, text_column, label_column)
    return normalise(frame, spec, allow_missing=True)


def check_result(before: pd.DataFrame, after: pd.DataFrame, report: CleaningReport, where: str = "") -> None:
    """Refuse a cleaned set that is empty or has a single class, naming the rules that removed rows."""
    responsible = ", ".join(f"{r} ({n} rows)" for r, n in report.counts.items() if n) or "no rule removed rows"
    if len(after) == 0:
        unreadable = [r for r, n in report.counts.items() if n and r.startswith("unreadable_")]
        if unreadable and len(unreadable) == len([n for n in report.counts.values() if n]):
            first = report.examples.get(unreadable[0], [{}])[0].get("detail", "")
            raise DataError(f"No row{where} could be read ({responsible}); the first: {first} Fix the files or "
                            "their paths (paths in a table are relative to its folder).")
        raise DataError(f"Cleaning removed every row{where} ({responsible}). Switch those rules off "
                        "(quality.rules) or fix the data.")
    if before["label"].dropna().nunique() > 1 and after["label"].nunique() < 2:
        raise DataError(f"Cleaning left a single class ('{after['label'].iloc[0]}'){where} after removing rows "
                        f"({responsible}). Switch those rules off (quality.rules) or fix the data.")
