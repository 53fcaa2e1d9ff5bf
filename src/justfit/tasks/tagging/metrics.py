"""Entity-level metrics of token classification, from seqeval.

Entities are compared whole (type and both boundaries must match), by seqeval's
``precision_recall_fscore_support``, read in the model's tag scheme
(:data:`justfit.tasks.tagging.tags.MODEL_SCHEME`): seqeval's default mode (``mode=None``, which its README
gives as conlleval's reading, for the schemes conlleval reads: IOB2, and IOE2, holding IOB1/IO
and IOE1 data) and ``mode="strict"`` with seqeval's ``IOBES`` or ``BILOU`` scheme class for
those schemes, whose letters conlleval does not read (``L``/``U``), so that a predicted entity
counts only when its tags form a valid B-I-E / S (B-I-L / U) sequence. Micro averages pool
every entity; macro averages are the unweighted mean over entity types (``_`` for untyped
chunks, seqeval's name). Token accuracy is the share of words whose tag is right (``O``
included, so it is high even for a model that finds no entity: compare it with the all-``O``
baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from justfit.tasks.tagging.tags import Entity, entities, scheme_name

OUTSIDE = "O"


def word_codes(logits: np.ndarray, num_labels: int, outside: int) -> np.ndarray:
    """The predicted tag code of each word of ``logits`` (``(n_words, num_labels)``); a word without logits
    (NaN: the tokenizer gave it no subword) is ``outside``."""
    if not len(logits):
        return np.zeros(0, dtype=np.int64)
    z = np.asarray(logits)[:, :num_labels]
    pred = np.nan_to_num(z, nan=-np.inf).argmax(1)
    pred[~np.isfinite(z).any(axis=1)] = outside
    return pred


def decode(logits: np.ndarray, names: Sequence[str], num_labels: int) -> list[list[str]]:
    """Predicted tags, one list per sentence, from per-sentence word logits (an object array)."""
    outside = list(names).index(OUTSIDE) if OUTSIDE in names else 0
    return [[names[c] for c in word_codes(x, num_labels, outside)] for x in logits]


def strict_scheme(scheme: str) -> Any:
    """seqeval's scheme class (``seqeval.scheme.IOBES``/``BILOU``) when ``scheme`` is read in strict mode,
    else ``None`` (the default, conlleval mode)."""

    name = scheme_name(scheme)
    if name not in ("IOBES", "BILOU"):
        return None
    import seqeval.scheme

    return getattr(seqeval.scheme, name)


def mode_name(scheme: str) -> str:
    """How ``scheme`` is scored, for the metrics and the report: ``conlleval`` or ``strict (IOBES)``."""
    strict = strict_scheme(scheme)
    return "conlleval" if strict is None else f"strict ({strict.__name__})"


def entity_scores(gold: list[list[str]], pred: list[list[str]], scheme: str, average: str | None) -> Any:
    """seqeval's ``(precision, recall, f1, support)`` of ``pred`` against ``gold`` (tags in ``scheme``),
    in the mode :func:`strict_scheme` chooses."""
    strict = strict_scheme(scheme)
    if strict is not None:
        from seqeval.metrics.v1 import precision_recall_fscore_support as strict_prf

        return strict_prf(gold, pred, average=average, zero_division=0, scheme=strict)
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

    return precision_recall_fscore_support(gold, pred, average=average, zero_division=0)


def count_entities(sequences: list[list[str]], scheme: str) -> int:
    """The entities seqeval reads in ``sequences`` (tags in ``scheme``), in the mode of :func:`strict_scheme`."""
    strict = strict_scheme(scheme)
    if strict is None:
        from seqeval.metrics.sequence_labeling import get_entities

        return sum(len(get_entities(s)) for s in sequences)
    from seqeval.scheme import Entities

    return sum(len(e) for e in Entities(sequences, strict).entities)


def scheme_entities(tags: Sequence[str], scheme: str) -> list[Any]:
    """The entities of one tag sequence as the metrics read them (:func:`strict_scheme`'s mode), as
    ``data.tags.Entity`` (word ``start``/``end``, ``end`` exclusive): what ``predictions.csv`` lists agrees
    with ``metrics.json``'s counts (an orphan ``L-PER`` in BILOU is no entity in strict mode)."""

    strict = strict_scheme(scheme)
    if strict is None:
        return entities(list(tags))
    from seqeval.scheme import Entities

    return [Entity(e.tag or "_", e.start, e.end) for e in Entities([list(tags)], strict).entities[0]]


def _finite(x: np.ndarray) -> bool:
    """Are the logits finite, words without logits (rows of NaN) aside?"""
    z = np.asarray(x, dtype=np.float64)
    if not z.size:
        return True
    return bool(np.isfinite(z[~np.isnan(z).all(axis=1)]).all())


def sequence_metrics(targets: Sequence[Sequence[int]], logits: np.ndarray, names: Sequence[str], num_labels: int,
                     scheme: str = "IOB2", *, per_type: bool = True) -> dict[str, Any]:
    """Metrics of word logits (an object array of ``(n_words, num_labels)`` arrays) against the tag codes
    ``targets`` (one list per sentence; codes ``>= num_labels`` are tags the model has no output for).

    Returns ``loss`` (mean cross-entropy over the words the model has a tag for), ``accuracy`` (token
    accuracy), entity micro ``precision``/``recall``/``f1``; with ``per_type``, also the macro averages,
    ``per_type`` (precision, recall, F1, support per entity type) and entity counts. Non-finite logits
    give NaN everywhere."""
    names = list(names)
    gold = [[names[c] for c in seq] for seq in targets]
    if not all(_finite(x) for x in logits):
        keys = ("loss", "accuracy", "precision", "recall", "f1")
        return {k: float("nan") for k in keys}
    pred = decode(logits, names, num_labels)
    losses, right, total = [], 0, 0
    for seq, x, p, g in zip(targets, logits, pred, gold, strict=True):
        codes = np.asarray(seq, dtype=np.int64)
        right += sum(a == b for a, b in zip(p, g, strict=True))
        total += len(g)
        z = np.asarray(x, dtype=np.float64)[:, :num_labels]
        ok = (codes < num_labels) & np.isfinite(z).all(axis=1)
        if ok.any():
            z = z[ok]
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            losses.append(-logp[np.arange(len(z)), codes[ok]])
    loss = float(np.concatenate(losses).mean()) if losses else float("nan")
    p, r, f, _ = entity_scores(gold, pred, scheme, "micro")
    out: dict[str, Any] = {"loss": loss, "accuracy": right / max(total, 1), "precision": float(p), "recall": float(r),
                           "f1": float(f)}
    if not per_type:
        return out
    mp, mr, mf, _ = entity_scores(gold, pred, scheme, "macro")
    out.update(precision_macro=float(mp), recall_macro=float(mr), f1_macro=float(mf))
    from seqeval.metrics import classification_report

    per: dict[str, Any] = {}
    out["entities_gold"] = count_entities(gold, scheme)
    out["entities_predicted"] = count_entities(pred, scheme)
    if out["entities_gold"] or out["entities_predicted"]:
        strict = strict_scheme(scheme)
        kwargs: dict[str, Any] = {"mode": "strict", "scheme": strict} if strict is not None else {}
        report = classification_report(gold, pred, output_dict=True, zero_division=0, **kwargs)
        per = {t: {"precision": float(m["precision"]), "recall": float(m["recall"]), "f1": float(m["f1-score"]),
                   "support": int(m["support"])} for t, m in report.items() if not t.endswith(" avg")}
    out["per_type"] = per
    return out
