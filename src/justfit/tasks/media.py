"""What image and audio tasks share: the data stage's cleaning and leakage audit over decoded items.

A media task gives a ``MediaCodec``: how to decode an item (raising ``DataError`` when it
cannot), a digest of the decoded content (exact duplicates: the same pixels, the same samples),
optionally how to find near-duplicate pairs among decoded items (perceptual hashes for images), and
optionally per-item flags (silence, clipping) reported without removing anything. The cleaning
and the audit then read every item once and explain each removed row in ``removed.csv`` /
``flagged.csv`` like the text rules do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.cleaning import REMOVED_COLUMNS, CleaningReport
from justfit.data.leakage import LeakageReport
from justfit.errors import DataError

# What the rules mean for images and audio (``justfit clean --list-rules``); text rules not listed here
# (normalize, empty_text, non_text, ...) do not apply to them.
MEDIA_RULES = {
    "unreadable_image": "images: missing, empty, truncated, not an image or too large; always on, removed",
    "unreadable_audio": "audio: missing, empty, corrupt or not audio; always on, removed",
    "missing_label": "images and audio: rows without a label",
    "exact_duplicate": "images: the same decoded pixels; audio: the same decoded samples (another label: "
                       "conflicting_label)",
    "near_duplicate": "images: perceptual hashes within quality.image_hash_distance bits, verified on pixels; "
                      "audio: the same waveform at another gain, encoding or shift",
    "silent_audio": "audio: peak below -60 dBFS; flagged, not removed",
    "clipped_audio": "audio: over 1% of the samples at full scale; flagged, not removed",
    "length_outlier": "audio: a length far from the rest (robust z > 3.5 on log seconds); flagged",
}

# near(decoded items of A, decoded items of B or None) -> [(i, j, distance)]; B None: pairs within A (i < j)
NearPairs = Callable[[list[Any], list[Any] | None], list[tuple[int, int, float]]]


@dataclass(frozen=True)
class MediaCodec:
    """How a media task reads its items for the data stage.

    ``column``: the frame column (``image``, ``audio``); ``decode(source)``: the decoded item or
    ``DataError``; ``digest(item)``: a hex digest of the content; ``near``: near-duplicate pairs
    (``NearPairs``) or None; ``near_detail(distance)``: how a pair's closeness reads in a report
    ("perceptual hash 2 bit(s)"); ``flags(items, sources)``: ``{index: (rule, detail)}`` for
    report-only findings; ``describe(source)``: a printable name of the source; ``unreadable``:
    the rule name of rows that cannot be decoded."""

    column: str
    decode: Callable[[Any], Any]
    digest: Callable[[Any], str]
    describe: Callable[[Any], str]
    unreadable: str
    near: NearPairs | None = None
    near_detail: Callable[[float], str] = lambda d: f"distance {d:g}"
    flags: Callable[[list[Any], list[Any]], dict[int, tuple[str, str]]] | None = None
    flag_rules: tuple[str, ...] = ()


def content_digest(data: bytes, *shape: Any) -> str:
    """SHA-1 of ``data`` and its shape (so equal bytes of another shape differ)."""
    return hashlib.sha1(data + repr(shape).encode()).hexdigest()


def _missing(label: Any) -> bool:
    return label is None or (isinstance(label, float) and label != label)


def clean_media(frame: pd.DataFrame, rules: Sequence[str], codec: MediaCodec, *, report_only: Sequence[str] = (),
                split: str = "", conflicts: str = "drop") -> Any:
    """The data stage's cleaning of a media frame: every item is decoded once; unreadable ones are
    removed with the reason (rule ``codec.unreadable``, always on: such a row cannot be trained
    on); rows without a label (``missing_label``), exact duplicates by content digest
    (``exact_duplicate``: same content and label; a copy with another label is removed as
    ``conflicting_label``) and near duplicates (``near_duplicate``; another label:
    ``near_conflicting_label``; the first row of each pair is kept) when those rules are
    configured; the codec's flags (``codec.flag_rules``) only reported. Copies with different labels
    are all removed with ``conflicts="drop"`` (``quality.conflicts``, as for texts); with
    ``"majority"`` the first copy keeps its label. Other rules are text rules and do not apply.
    Returns a ``data.cleaning.CleaningReport``."""

    applied = [codec.unreadable] + [r for r in ("missing_label", "exact_duplicate") if r in rules]
    if codec.near is not None and "near_duplicate" in rules:
        applied.append("near_duplicate")
    applied += list(codec.flag_rules)
    found: dict[Any, tuple[str, Any, str]] = {}  # row -> (rule, duplicate_of, detail)
    first_by_digest: dict[str, Any] = {}
    decoded: dict[Any, Any] = {}
    for row, source, label in zip(frame.index, frame[codec.column], frame["label"], strict=True):
        if "missing_label" in applied and _missing(label):
            found[row] = ("missing_label", None, "no label")
            continue
        try:
            item = codec.decode(source)
        except DataError as exc:
            found[row] = (codec.unreadable, None, str(exc))
            continue
        if "exact_duplicate" in applied:
            digest = codec.digest(item)
            if digest in first_by_digest:
                orig = first_by_digest[digest]
                same = frame.at[orig, "label"] == label
                found[row] = ("exact_duplicate" if same else "conflicting_label", orig,
                              f"same content as row {orig}" + ("" if same else f" labelled {frame.at[orig, 'label']!r}"))
                continue
            first_by_digest[digest] = row
        decoded[row] = item
    rows_ = list(decoded)
    items = [decoded[r] for r in rows_]
    if "near_duplicate" in applied and items:
        for i, j, d in codec.near(items, None):
            first, later = rows_[i], rows_[j]
            if later in found or first in found:
                continue
            same = frame.at[first, "label"] == frame.at[later, "label"]
            found[later] = ("near_duplicate" if same else "near_conflicting_label", first,
                            f"{codec.near_detail(d)} from row {first}" + ("" if same else
                                                                         f" labelled {frame.at[first, 'label']!r}"))
    if conflicts == "drop":  # the first of two copies that disagree goes too: neither label can be trusted
        for row, (rule, orig, _) in list(found.items()):
            if rule in ("conflicting_label", "near_conflicting_label") and orig is not None and orig not in found:
                found[orig] = (rule, row, f"same content as row {row} labelled {frame.at[row, 'label']!r}")
    flagged_rows: dict[Any, tuple[str, Any, str]] = {}
    if codec.flags is not None and items:
        for i, (rule, detail) in codec.flags(items, [frame.at[r, codec.column] for r in rows_]).items():
            if rows_[i] not in found:
                flagged_rows[rows_[i]] = (rule, None, detail)
    report_only = list(dict.fromkeys([r for r in report_only if r in applied] + list(codec.flag_rules)))
    drop = [r for r, (rule, _, _) in found.items() if rule not in report_only]
    keep_flag = [r for r, (rule, _, _) in found.items() if rule in report_only] + list(flagged_rows)
    found.update(flagged_rows)

    def table(idx: list[Any]) -> pd.DataFrame:
        return pd.DataFrame({
            "row": idx, "split": split, "rule": [found[r][0] for r in idx],
            "duplicate_of": pd.array([found[r][1] for r in idx], dtype="Int64"),
            "detail": [found[r][2] for r in idx],
            "text": [codec.describe(frame.at[r, codec.column]) for r in idx],
            "label": [frame.at[r, "label"] for r in idx],
        }, columns=REMOVED_COLUMNS)

    counts: dict[str, int] = {}
    for r in drop:
        counts[found[r][0]] = counts.get(found[r][0], 0) + 1
    flagged_counts: dict[str, int] = {}
    for r in keep_flag:
        flagged_counts[found[r][0]] = flagged_counts.get(found[r][0], 0) + 1
    kept = frame.drop(index=drop)
    examples = {rule: [{"row": r, "duplicate_of": found[r][1], "detail": found[r][2],
                        codec.column: codec.describe(frame.at[r, codec.column]), "label": frame.at[r, "label"]}
                       for r in drop if found[r][0] == rule][:5] for rule in counts}
    extra = (["conflicting_label"] if "exact_duplicate" in applied else []) + \
        (["near_conflicting_label"] if "near_duplicate" in applied else [])
    return CleaningReport(rows_in=len(frame), rows_out=len(kept), counts=counts, flagged_counts=flagged_counts,
                          examples=examples, removed=table(drop), flagged=table(keep_flag), data=kept,
                          rules=applied + extra, report_only=list(report_only))


def audit_media_leakage(train: pd.DataFrame, held_out: dict[str, pd.DataFrame], codec: MediaCodec, *,
                        action: str = "remove", threshold: float = 0.0) -> Any:
    """Training items that are exact (same content digest) or near copies (``codec.near``) of items
    in each ``held_out`` split. Returns a ``data.leakage.LeakageReport``: with ``action='remove'``
    its ``train`` lacks the copies. Unreadable items are skipped (the cleaning reports them)."""

    def read(frame: pd.DataFrame) -> tuple[list[Any], list[str], list[Any]]:
        rows, digests, items = [], [], []
        for row, source in zip(frame.index, frame[codec.column], strict=True):
            try:
                item = codec.decode(source)
            except DataError:
                continue
            rows.append(row)
            digests.append(codec.digest(item))
            items.append(item)
        return rows, digests, items

    t_rows, t_digest, t_items = read(train)
    report = LeakageReport(action=action, threshold=float(threshold))
    leaked: dict[Any, tuple[str, str, Any, str]] = {}
    for split, frame in held_out.items():
        h_rows, h_digest, h_items = read(frame)
        by_digest = {d: r for r, d in zip(h_rows, h_digest, strict=True)}
        counts = {"exact": 0, "near": 0}
        hit: set[Any] = set()
        for r, d in zip(t_rows, t_digest, strict=True):
            if d in by_digest and r not in leaked:
                leaked[r] = (split, "leakage", by_digest[d], f"same content as {split} row {by_digest[d]}")
                counts["exact"] += 1
                hit.add(by_digest[d])
        if codec.near is not None and t_items and h_items:
            for i, j, dist in codec.near(t_items, h_items):
                r = t_rows[i]
                if r not in leaked:
                    leaked[r] = (split, "leakage", h_rows[j], f"{codec.near_detail(dist)} from {split} row {h_rows[j]}")
                    counts["near"] += 1
                    hit.add(h_rows[j])
        report.counts[split] = counts
        report.held_out_leaked[split] = len(hit)
    idx = list(leaked)
    report.leaked = pd.DataFrame({
        "row": idx, "split": "train", "rule": [leaked[r][1] for r in idx],
        "duplicate_of": pd.array([leaked[r][2] for r in idx], dtype="Int64"), "detail": [leaked[r][3] for r in idx],
        "text": [codec.describe(train.at[r, codec.column]) for r in idx], "label": [train.at[r, "label"] for r in idx],
    }, columns=REMOVED_COLUMNS)
    report.examples = [{"train_row": r, "split": leaked[r][0], "held_out_row": leaked[r][2], "detail": leaked[r][3],
                        "train_text": codec.describe(train.at[r, codec.column]),
                        "held_out_text": codec.describe(held_out[leaked[r][0]].at[leaked[r][2], codec.column])}
                       for r in idx[:5]]
    report.train = train.drop(index=idx) if action == "remove" else train
    return report


def stack_inputs(items: list[dict[str, Any]], label_dtype: Any) -> dict[str, Any]:
    """Collate media items: every tensor input stacked (same shapes: media inputs are fixed-size),
    labels and loss weights as tensors."""
    import torch

    out: dict[str, Any] = {k: torch.stack([it[k] for it in items]) for k, v in items[0].items()
                           if isinstance(v, torch.Tensor)}
    if "labels" in items[0]:
        out["labels"] = torch.tensor([it["labels"] for it in items], dtype=label_dtype)
    if "weights" in items[0]:
        out["weights"] = torch.tensor([it["weights"] for it in items], dtype=torch.float32)
    return out


def robust_outliers(values: np.ndarray, z: float) -> np.ndarray:
    """Indices whose log value is more than ``z`` robust z-scores (median / 1.4826 MAD) from the
    median: sizes or durations far outside the rest (Iglewicz and Hoaglin's modified z-score)."""
    v = np.log(np.maximum(np.asarray(values, dtype=np.float64), 1e-9))
    med = np.median(v)
    mad = np.median(np.abs(v - med)) * 1.4826
    if not np.isfinite(mad) or mad < 1e-9:
        return np.flatnonzero(np.abs(v - med) > np.log(4.0))  # all alike but a few: 4x off is far
    return np.flatnonzero(np.abs(v - med) / mad > z)
