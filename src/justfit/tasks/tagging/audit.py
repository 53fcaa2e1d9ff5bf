"""Token-level label audit: cleanlab's ``token_classification`` on out-of-fold tag probabilities.

Each word is embedded once by the frozen pretrained backbone (the last hidden state of its first
subword, with the sentence as context), cached on disk beside the text tasks' features
(:mod:`justfit.tasks.text.frozen`: same folder, same model fingerprint). A standardised logistic
regression on each word's features beside those of its left and right neighbours (the tag of a
word depends on theirs: ``B-`` or ``I-``) is fitted in K folds that keep each sentence's words
together (``GroupKFold``), which gives every word an out-of-fold probability per tag. ``cleanlab.token_classification.filter.
find_label_issues`` then flags the words whose given tag is unlikely (confident learning per
token), and ``cleanlab.token_classification.rank.get_label_quality_scores`` scores each
sentence (the softmin of its words' label quality). The suspects are the sentences holding a
flagged word, lowest sentence quality first, with the flagged words marked ``[[word]]``.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit._progress import progress_bar
from justfit.data.label_audit import LabelReport
from justfit.evaluation.predict import predict_logits as run
from justfit.models.factory import check_text_model
from justfit.tasks.tagging.data import tags_of
from justfit.tasks.tagging.metrics import entity_scores
from justfit.tasks.tagging.step import TokenClassificationStep
from justfit.tasks.tagging.tags import MODEL_SCHEME, canonical, detect_scheme
from justfit.tasks.tagging.task import words_tokenizer
from justfit.tasks.text.frozen import cache_key, cache_root, feature_info, load_encoder
from justfit.training.runtime import resolve_bf16

# Below this out-of-fold entity F1 the probe's flags are a list to review, not a verdict: on WNUT-16
# (probe F1 about 0.3) a third of the first flagged sentences hold a planted error (bench/token_audit.py).
TRUSTED_PROBE_F1 = 0.5


def word_features(sentences: list[list[str]], model: str | None, *, max_length: int = 256, bf16: bool | str = "auto",
                  cache: bool = True, cache_dir: str | Path | None = None, batch_size: int = 32,
                  progress: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """First-subword hidden states of every word of ``sentences``, ``(total_words, hidden)`` float32 (words
    in sentence order), from the frozen backbone of ``model``; cached on disk. Also returns
    ``{"cache_file", "cache_hit", "model", "seconds"}``."""
    import torch

    t0 = time.perf_counter()
    source = check_text_model(model, head="token")
    use_bf16 = resolve_bf16(bf16)
    keyed = ["words\x1f" + "\x1f".join(s) for s in sentences]
    path = cache_root(cache_dir) / "features" / f"words-{cache_key(source, keyed, max_length, use_bf16)}.npy"
    total = sum(len(s) for s in sentences)
    info = feature_info(path if cache else None, source, cache_dir)
    if cache and path.is_file():
        try:
            feats = np.load(path, mmap_mode="r")
            if feats.ndim == 2 and feats.shape[0] == total:
                with contextlib.suppress(OSError):
                    os.utime(path)
                info.update(cache_hit=True, seconds=time.perf_counter() - t0)
                return np.asarray(feats), info
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    encoder, tokenizer = load_encoder(source)
    tokenizer = words_tokenizer(tokenizer, source)
    hidden = encoder.config.hidden_size

    class _Encoder(torch.nn.Module):  # the backbone's last hidden states as the "logits" the step joins
        def __init__(self, enc: Any) -> None:
            super().__init__()
            self.enc = enc
            self.config = enc.config

        def forward(self, **batch: Any) -> Any:
            from types import SimpleNamespace

            return SimpleNamespace(logits=self.enc(**batch).last_hidden_state)

    step = TokenClassificationStep(tokenizer, max_length, ["O"], num_labels=hidden, model_config=encoder.config)
    ds = step.encode(sentences)

    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()

    with progress_bar("embedding words", enabled=progress) as bar, autocast:
        per_window = run(_Encoder(encoder), step, ds, batch_size=batch_size, progress=bar, join=False)
    words = step.join_items(ds, per_window)
    feats = np.concatenate([w for w in words], axis=0).astype(np.float32) if total else np.zeros((0, hidden), np.float32)
    feats = np.nan_to_num(feats)
    if cache:
        from justfit._files import atomic_write

        atomic_write(path, lambda tmp: np.save(tmp, feats))
    info["seconds"] = time.perf_counter() - t0
    return feats, info


def with_context(features: np.ndarray, lengths: np.ndarray, k: int = 1) -> np.ndarray:
    """Each word's features beside those of the ``k`` words on either side within its sentence (zeros past
    the sentence's ends): ``(n_words, hidden * (2k + 1))``."""
    if k <= 0 or not len(features):
        return features
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    sentence = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(len(features)) - bounds[sentence]
    parts = [features]
    for d in range(1, k + 1):
        for sign in (-1, 1):
            inside = (pos + sign * d >= 0) & (pos + sign * d < lengths[sentence])
            shifted = np.zeros_like(features)
            shifted[inside] = features[np.flatnonzero(inside) + sign * d]
            parts.append(shifted)
    return np.concatenate(parts, axis=1)


def out_of_fold_word_proba(features: np.ndarray, codes: np.ndarray, groups: np.ndarray, *, folds: int = 5,
                           seed: int = 42) -> np.ndarray:
    """Out-of-fold tag probabilities per word, ``(n_words, n_tags)``: a standardised logistic regression in
    ``folds`` folds that keep each sentence (``groups``) whole."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=300))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # folds without a rare tag, lbfgs iteration notes
        return cross_val_predict(probe, features, codes, groups=groups, cv=GroupKFold(n_splits=folds),
                                 method="predict_proba")


def find_token_issues(train: pd.DataFrame, *, model: str | None = None, folds: int = 5, seed: int = 42,
                      max_length: int = 256, bf16: bool | str = "auto", cache: bool = True,
                      cache_dir: str | Path | None = None, features: np.ndarray | None = None,
                      progress: bool = False) -> LabelReport:
    """Sentences of ``train`` (a ``tokens``/``label`` frame) with likely mislabelled words, most suspicious
    first (see the module docstring). ``features`` (``(total_words, hidden)``) skips the embedding.

    ``LabelReport.issues`` has a row per suspect sentence: ``row``, ``text`` (flagged words marked
    ``[[word]]``), ``given_label`` and ``suggested_label`` (``word: tag`` for each flagged word),
    ``label_quality`` (the sentence's), ``p_given``/``p_suggested`` (of its worst word) and ``words``
    (the flagged word positions). ``oof_accuracy`` is the probe's share of sentences with every word
    tagged as given (the flagged unit is a sentence)."""
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    sentences = [list(t) for t in train["tokens"]]
    seqs = [tags_of(lab) for lab in train["label"]]
    scheme = detect_scheme(seqs, "the training data")
    seqs = [canonical(s, scheme)[0] for s in seqs]  # written in the model's scheme, MODEL_SCHEME[scheme]
    tags = sorted({t for s in seqs for t in s})
    index = {t: i for i, t in enumerate(tags)}
    codes = np.array([index[t] for s in seqs for t in s], dtype=np.int64)
    lengths = np.array([len(s) for s in seqs])
    groups = np.repeat(np.arange(len(seqs)), lengths)
    n_sentences = int((lengths > 0).sum())
    if len(tags) < 2 or n_sentences < folds:
        return LabelReport(len(train), 0, float("nan"), classes=tags,
                           skipped=f"label audit skipped: {'a single tag' if len(tags) < 2 else 'too few sentences'}")
    info: dict[str, Any] = {}
    if features is None:
        features, info = word_features(sentences, model, max_length=max_length, bf16=bf16, cache=cache,
                                       cache_dir=cache_dir, progress=progress)
    t0 = time.perf_counter()
    proba = out_of_fold_word_proba(with_context(np.asarray(features, dtype=np.float32), lengths), codes, groups,
                                   folds=folds, seed=seed)
    info["probe_seconds"] = round(time.perf_counter() - t0, 3)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    labels_list = [codes[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    proba_list = [proba[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    keep = [i for i in range(len(seqs)) if lengths[i] > 0]
    found = find_label_issues([labels_list[i] for i in keep], [proba_list[i] for i in keep])
    sentence_scores, _ = get_label_quality_scores([labels_list[i] for i in keep], [proba_list[i] for i in keep])
    by_sentence: dict[int, list[int]] = {}
    for s, w in found:
        by_sentence.setdefault(keep[int(s)], []).append(int(w))
    score_of = {keep[i]: float(sc) for i, sc in enumerate(np.asarray(sentence_scores))}
    rows = []
    for s in sorted(by_sentence, key=lambda k: score_of[k]):
        words = sorted(set(by_sentence[s]))
        p = proba_list[s]
        y = labels_list[s]
        worst = min(words, key=lambda w: p[w, y[w]])
        marked = " ".join(f"[[{t}]]" if i in words else t for i, t in enumerate(sentences[s]))
        rows.append({
            "row": train.index[s], "text": marked,
            "given_label": "; ".join(f"{sentences[s][w]}: {tags[y[w]]}" for w in words),
            "suggested_label": "; ".join(f"{sentences[s][w]}: {tags[int(p[w].argmax())]}" for w in words),
            "label_quality": score_of[s], "p_given": float(p[worst, y[worst]]), "p_suggested": float(p[worst].max()),
            "words": words,
        })
    issues = pd.DataFrame(rows, columns=["row", "text", "given_label", "suggested_label", "label_quality", "p_given",
                                         "p_suggested", "words"])
    # The probe's accuracy over sentences (every word's tag right), the rows this audit flags: a weak probe
    # disagrees with many sentences it does not flag, and the report then hedges.
    agree = [bool((p.argmax(1) == y).all()) for y, p in zip(labels_list, proba_list, strict=True) if len(y)]
    oof = float(np.mean(agree)) if agree else float("nan")

    probe_f1 = float(entity_scores([[tags[c] for c in y] for y in labels_list if len(y)],
                                   [[tags[c] for c in p.argmax(1)] for y, p in zip(labels_list, proba_list, strict=True)
                                    if len(y)], MODEL_SCHEME[scheme], "micro")[2])
    info.update(words=int(len(codes)), flagged_words=int(len(found)), level="token",
                token_accuracy=float((proba.argmax(1) == codes).mean()) if len(codes) else None,
                probe_entity_f1=probe_f1)
    trusted = probe_f1 >= TRUSTED_PROBE_F1
    note = "" if trusted or not len(issues) else (
        f"the label audit's probe finds the entities with only {probe_f1:.2f} F1 out of fold, so many of the "
        f"{len(issues)} suspect sentences may be hard rather than wrong; review them, most suspicious first")
    return LabelReport(n_rows=len(train), folds=folds, oof_accuracy=oof, issues=issues, classes=tags, features=info,
                       note=note, trusted=trusted)
