"""Stratified, seeded train/validation/test splits, saved so they can be reproduced."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from justfit._files import atomic_write_text
from justfit._portable import shareable_path
from justfit.errors import DataError


@dataclass
class Splits:
    """Three normalised frames; each index holds the rows' original row numbers."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    sources: dict[str, str] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}

    def to_json(self, path: str | Path) -> None:

        payload = {  # the sources without this machine's folders: splits.json is shared with the run
            name: {"source": shareable_path(self.sources.get(name, "")),
                   "rows": [int(i) for i in getattr(self, name).index]}
            for name in ("train", "validation", "test")
        }
        atomic_write_text(path, json.dumps(payload))


def check_labels(frame: pd.DataFrame, where: str = "the training data") -> None:
    counts = frame["label"].value_counts()
    if len(counts) == 0:
        raise DataError(f"{where[0].upper() + where[1:]} has no rows.")
    if len(counts) < 2:
        raise DataError(
            f"{where[0].upper() + where[1:]} has only one class ('{counts.index[0]}', {int(counts.iloc[0])} rows); "
            "a classifier needs at least two. Add rows of other classes or check the label column."
        )


def stratified_sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most ``n`` rows, keeping class proportions (every class keeps at least one row where possible).

    ``n`` is ``data.max_rows``: raises ``DataError`` naming ``--max-rows`` when the sample would
    hold a single class of data that has several.
    """
    if n >= len(frame):
        return frame
    from sklearn.model_selection import train_test_split

    # Rows without a label (removed later by the cleaning stage) form their own stratum.
    key = frame["label"].astype(object).where(frame["label"].notna(), "\x00missing").astype(str)
    counts = key.value_counts()
    strat = key if counts.min() >= 2 and n >= len(counts) and len(frame) - n >= len(counts) else None
    keep, _ = train_test_split(frame, train_size=n, stratify=strat, random_state=seed)
    n_classes = frame["label"].nunique(dropna=True)
    if n_classes > 1 and keep["label"].nunique(dropna=True) < 2:
        raise DataError(
            f"--max-rows {n} (data.max_rows) keeps {n} row(s), all of one class, of data with {n_classes:,} classes "
            f"and {len(frame):,} rows; a classifier needs at least two. Raise --max-rows (e.g. to {max(100, 10 * n_classes)}) "
            "or unset it."
        )
    return keep.sort_index()


def _cut(frame: pd.DataFrame, size: float, seed: int, name: str,
         key: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    key = frame["label"] if key is None else key.loc[frame.index]
    if "group" in frame.columns:
        return _cut_groups(frame, size, seed, name, key)
    counts = key.value_counts()
    n_out = max(1, round(size * len(frame)))
    if n_out < len(counts):
        n_out = len(counts)  # one row per class at least, so every class is measured.
    if len(frame) - n_out < len(counts):
        raise DataError(
            f"Too few rows ({len(frame)}) for a stratified {name} split with {len(counts)} classes. "
            "Add data, or give separate --validation/--test files."
        )
    rest, out = train_test_split(frame, test_size=n_out, stratify=key, random_state=seed)
    return rest.sort_index(), out.sort_index()


def _cut_groups(frame: pd.DataFrame, size: float, seed: int, name: str,
                key: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cut about ``size`` of ``frame`` off with no ``group`` on both sides, class proportions kept as
    well as the groups allow: the first fold of scikit-learn's ``StratifiedGroupKFold`` with
    ``round(1 / size)`` folds (shuffled with ``seed``)."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    groups = frame["group"].astype(str)
    n_groups = groups.nunique()
    folds = max(2, round(1 / size))
    if n_groups < folds:
        raise DataError(f"Too few groups ({n_groups}) for a group-disjoint {name} split of {size:.0%}: it needs at "
                        f"least {folds}. Add groups, lower the split size, or unset data.group_column.")
    codes = pd.factorize(key.astype(str))[0]
    _, out_idx = next(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
                      .split(np.zeros(len(frame)), codes, groups))
    mask = np.zeros(len(frame), dtype=bool)
    mask[out_idx] = True
    return frame[~mask].sort_index(), frame[mask].sort_index()


def split(frame: pd.DataFrame, val_size: float = 0.1, test_size: float = 0.1, seed: int = 42,
          *, need: tuple[str, ...] = ("validation", "test"), task: Any = None) -> Splits:
    """Split ``frame`` into train/validation/test, stratified by ``task.stratify_key`` (the label for
    classification, quantile bins of the target for regression; the label when ``task`` is None);
    when ``frame`` has a ``group`` column, no group is in two splits (``_cut_groups``).

    ``need`` names the splits to cut off; splits not needed come back empty (they were
    given separately by the user).
    """
    if task is None:
        check_labels(frame, "the data")
        key = frame["label"]
    else:
        task.check_targets(frame, "the data")
        key = task.stratify_key(frame["label"])
    counts = key.value_counts()
    min_rows = 1 + len(need)  # one row per split the class must appear in
    small = counts[counts < min_rows]
    if len(small):
        listing = ", ".join(f"'{k}' ({int(v)} row{'s' if v != 1 else ''})" for k, v in small.iloc[:5].items())
        if len(small) > 5:
            listing += f" and {len(small) - 5:,} more"
        raise DataError(
            f"Class(es) {listing} have too few rows to appear in train, {' and '.join(need)}: each class needs at least "
            f"{min_rows}. Add rows for them, merge them into another class, or remove them."
        )
    empty = frame.iloc[0:0]
    rest, test = (frame, empty)
    if "test" in need:
        rest, test = _cut(frame, test_size, seed, "test", key)
    train, val = (rest, empty)
    if "validation" in need:
        # val_size is a fraction of the whole data set, not of what is left.
        train, val = _cut(rest, val_size / (1 - (test_size if "test" in need else 0)), seed + 1, "validation", key)
    return Splits(train=train, validation=val, test=test)


def make_splits(loaded: dict, cfg, task: Any = None) -> Splits:
    """Turn ``load_data``'s output and a ``DataConfig`` into final splits, checking labels across them
    (with ``task``'s checks and stratification key; a classification's when ``task`` is None)."""
    if "all" in loaded:
        frame = loaded["all"].frame
        if cfg.max_rows:
            frame = stratified_sample(frame, cfg.max_rows, cfg.seed)
        s = split(frame, cfg.val_size, cfg.test_size, cfg.seed, task=task)
        src = loaded["all"].source
        s.sources = {"train": src, "validation": src, "test": src}
        return s
    train = loaded["train"].frame
    if cfg.max_rows:
        train = stratified_sample(train, cfg.max_rows, cfg.seed)
    need = tuple(k for k in ("validation", "test") if k not in loaded)
    if need:
        s = split(train, cfg.val_size, cfg.test_size, cfg.seed, need=need, task=task)
    else:
        (task.check_targets if task is not None else check_labels)(train)
        s = Splits(train=train, validation=train.iloc[0:0], test=train.iloc[0:0])
    sources = {k: loaded["train"].source for k in ("train", "validation", "test")}
    for key in ("validation", "test"):
        if key in loaded:
            setattr(s, key, loaded[key].frame)
            sources[key] = loaded[key].source
    s.sources = sources
    unify_label_types(s.train, s.validation, s.test)
    held_out = task.check_held_out if task is not None else check_unseen
    held_out(s.train, s.validation, "validation")
    held_out(s.train, s.test, "test")
    return s


def unify_label_types(*frames: pd.DataFrame) -> None:
    """If some splits have numeric labels and others text labels (1 vs '1'), compare all as text."""
    kinds = {pd.api.types.is_numeric_dtype(f["label"]) or pd.api.types.is_bool_dtype(f["label"])
             for f in frames if len(f)}
    if len(kinds) > 1:
        for f in frames:
            f["label"] = f["label"].astype(str)


def check_unseen(train: pd.DataFrame, other: pd.DataFrame, name: str) -> None:
    unseen = sorted(set(other["label"]) - set(train["label"]), key=str)
    if unseen:
        n = int(other["label"].isin(unseen).sum())
        raise DataError(
            f"The {name} data has label(s) {', '.join(map(repr, unseen[:5]))} ({n} rows) that never occur in training; "
            "the model cannot predict them. Add training rows for them or remove those rows."
        )
