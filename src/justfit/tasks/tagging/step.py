"""The batch-level step of token classification: words to subword windows, the loss, word logits.

A sentence is a list of words with a tag each. It is tokenised with the model's (fast)
tokenizer as pre-split words (``is_split_into_words``), so ``word_ids`` map every subword to
its word. Labels go on the first subword of each word; the other subwords are ignored
(``-100``, ``subword_labels: first``, the recipe of transformers' ``run_ner.py``) or labelled too
(``all``: a ``B-X`` word's later subwords take ``I-X``, as ``run_ner.py``'s
``label_all_tokens`` does), which is what ``pipeline(..., aggregation_strategy="simple")`` needs:
it groups the predictions of every subword.

A sentence longer than the model's window is cut into windows of whole words that overlap by
about ``stride`` subwords; each word's logits are taken from the window where it has the most
context on both sides, so every word is predicted once. Everything outside this step sees word
logits: ``join_items`` turns the windows' ``(n_windows, length, num_labels)`` outputs into one
``(n_words, num_labels)`` array per sentence (an object array of them, shape ``(n_sentences,)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from justfit.errors import ModelError
from justfit.tasks.base import BaseStep, EncodedDataset
from justfit.tasks.tagging.metrics import sequence_metrics
from justfit.tasks.text.task import effective_max_length

IGNORE = -100  # transformers' ignore_index for CrossEntropyLoss


def words_of(example: Any) -> list[str]:
    """The words of one input: a sequence of words as given, or a string split by justfit's word splitter."""
    if isinstance(example, str):
        from justfit.tasks.tagging.tags import split_words

        return [example[a:b] for a, b in split_words(example)]
    if isinstance(example, np.ndarray):
        example = example.tolist()
    if not isinstance(example, list | tuple):
        from justfit.errors import DataError

        raise DataError(f"A sentence to tag is {type(example).__name__} {str(example)[:40]!r}: give a list of words "
                        "or a string.")
    return [str(w) for w in example]


class TokenWindows(EncodedDataset):
    """The subword windows of a set of sentences (one item per window), and the word-level targets
    of each sentence (``targets()``: tag codes, one list per sentence)."""

    def __init__(self, features: list[dict[str, Any]], labels: list[list[int]] | None, weights: list[float] | None,
                 sentence: list[int], word_ids: list[list[int | None]], keep: list[dict[int, int]],
                 n_words: list[int], word_targets: list[list[int]] | None) -> None:
        super().__init__(features, labels, weights)
        self.sentence = sentence  # the sentence of each window
        self.word_ids = word_ids  # per window: the word of each position (None for special tokens)
        self.keep = keep  # per window: {word: position} of the words whose logits this window gives
        self.n_words = n_words  # per sentence
        self.word_targets = word_targets

    def targets(self) -> list[list[int]] | None:
        return self.word_targets

    def subset(self, idx: Sequence[int]) -> TokenWindows:
        """The sentences of the windows ``idx``, with all their windows (evaluation needs whole sentences)."""
        chosen = sorted({self.sentence[int(i)] for i in idx})
        new_id = {s: k for k, s in enumerate(chosen)}
        rows = [w for w, s in enumerate(self.sentence) if s in new_id]
        return TokenWindows([self.features[w] for w in rows], None if self.labels is None else [self.labels[w] for w in rows],
                            None, [new_id[self.sentence[w]] for w in rows], [self.word_ids[w] for w in rows],
                            [self.keep[w] for w in rows], [self.n_words[s] for s in chosen],
                            None if self.word_targets is None else [self.word_targets[s] for s in chosen])

    def shard(self, rank: int, world: int) -> tuple[list[int], TokenWindows]:
        """One process's sentences (``rank, rank + world, ...``) with all their windows (see
        ``EncodedDataset.shard``): a sentence is never split between processes."""
        sentences = list(range(rank, len(self.n_words), world))
        mine = set(sentences)
        return sentences, self.subset([w for w, s in enumerate(self.sentence) if s in mine])


class TokenClassificationStep(BaseStep):
    """Encode sentences into windows, pad them, cross-entropy over the labelled subwords.

    ``names`` are the tag names (the model's ``id2label`` first, then tags only seen in held-out
    data, which the model cannot predict: their codes are ignored by the loss and count as missed
    in the metrics). ``continuation`` maps a tag code to the code of its word's later subwords
    (``subword_labels: all``). ``scheme`` (the model's: ``IOB2``, ``IOE2``, ``IOBES``, ``BILOU``) chooses
    seqeval's reading of the predicted sequences (strict for IOBES and BILOU:
    :func:`justfit.tasks.tagging.metrics.strict_scheme`)."""

    label_dtype = torch.long
    # Entity-level micro precision/recall/F1 (seqeval) and token accuracy, over the words.
    metric_directions = {"loss": "min", "f1": "max", "precision": "max", "recall": "max", "accuracy": "max"}

    def __init__(self, tokenizer: Any, max_length: int, names: list[str], *, num_labels: int,
                 model_config: Any = None, subword_labels: str = "all", stride: int = 32, scheme: str = "IOB2",
                 continuation: dict[int, int] | None = None, label_smoothing: float = 0.0) -> None:

        if not getattr(tokenizer, "is_fast", False):
            raise ModelError("Token classification needs a fast tokenizer (one with word_ids, from the tokenizers "
                             "library): this model's tokenizer is a slow one. Choose a model with tokenizer.json.")
        self.tokenizer = tokenizer
        self.configured_max_length = int(max_length)
        self.max_length, self.max_length_reason = effective_max_length(max_length, tokenizer, model_config)
        self.names = names
        self.num_labels = int(num_labels)
        self.subword_labels = subword_labels
        self.scheme = scheme
        self.continuation = continuation or {}
        self.label_smoothing = float(label_smoothing)  # of the training loss only
        specials = tokenizer.num_special_tokens_to_add(pair=False)
        self.room = max(1, self.max_length - specials)  # subwords of a window, special tokens aside
        self.stride = max(0, min(int(stride), self.room // 2))

    # ------------------------------------------------------------------ encoding
    def _windows(self, counts: list[int]) -> list[tuple[int, int]]:
        """Word ranges ``[a, b)`` of the windows of a sentence whose words have ``counts`` subwords each."""
        n = len(counts)
        if sum(counts) <= self.room:
            return [(0, n)]
        out, a = [], 0
        while a < n:
            b, used = a, 0
            while b < n and (used + counts[b] <= self.room or b == a):
                used += counts[b]
                b += 1
            out.append((a, b))
            if b >= n:
                break
            # The next window starts so that about `stride` subwords of this one are seen again.
            back, c = 0, b
            while c - 1 > a and back + counts[c - 1] <= self.stride:
                c -= 1
                back += counts[c]
            a = c
        return out

    def encode(self, examples: Sequence[Any], labels: Sequence[Sequence[int]] | None = None,
               weights: Sequence[float] | None = None) -> TokenWindows:
        """Windows of the sentences ``examples`` (word lists, or strings split into words), with their
        subword labels when ``labels`` (word tag codes per sentence) are given."""
        sentences = [words_of(x) for x in examples]
        feats: list[dict[str, Any]] = []
        win_labels: list[list[int]] | None = [] if labels is not None else None
        win_weights: list[float] | None = [] if weights is not None else None
        sentence_of, word_ids_of, keep_of = [], [], []
        if not sentences:
            return TokenWindows([], win_labels, win_weights, [], [], [], [], None if labels is None else [])
        # Subword counts per word, all sentences in one call (words only, no special tokens).
        flat = [w if w else " " for s in sentences for w in s]
        counts_flat = [len(ids) for ids in self.tokenizer(flat, add_special_tokens=False)["input_ids"]] if flat else []
        pos = 0
        for s, words in enumerate(sentences):
            counts = counts_flat[pos:pos + len(words)]
            pos += len(words)
            ranges = self._windows(counts) if words else [(0, 0)]
            for k, (a, b) in enumerate(ranges):
                enc = self.tokenizer(words[a:b], is_split_into_words=True, truncation=True,
                                     max_length=self.max_length)
                ids = [None if w is None else w + a for w in enc.word_ids()]
                feats.append({key: enc[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in enc})
                sentence_of.append(s)
                word_ids_of.append(ids)
                # Logits of word j come from this window when it has the most context here: the windows
                # overlap, and a word near a window's cut edge sees only one side.
                lo = a if k == 0 else (a + ranges[k - 1][1]) // 2 + (a + ranges[k - 1][1]) % 2
                hi = b if k == len(ranges) - 1 else (ranges[k + 1][0] + b) // 2 + (ranges[k + 1][0] + b) % 2
                firsts: dict[int, int] = {}
                for p, w in enumerate(ids):
                    if w is not None and w not in firsts:
                        firsts[w] = p
                keep_of.append({w: p for w, p in firsts.items() if lo <= w < hi})
                if win_labels is not None:
                    win_labels.append(self._subword_labels(ids, labels[s]))  # type: ignore[index]
                if win_weights is not None:
                    win_weights.append(float(weights[s]))  # type: ignore[index]
        return TokenWindows(feats, win_labels, win_weights, sentence_of, word_ids_of, keep_of,
                            [len(w) for w in sentences], None if labels is None else [list(x) for x in labels])

    def _subword_labels(self, ids: list[int | None], codes: Sequence[int]) -> list[int]:
        out, prev = [], None
        for w in ids:
            if w is None:
                out.append(IGNORE)
            else:
                code = int(codes[w])
                code = code if 0 <= code < self.num_labels else IGNORE  # a tag the model has no output for
                if w == prev:
                    code = IGNORE if self.subword_labels == "first" or code == IGNORE else self.continuation.get(code, code)
                out.append(code)
            prev = w
        return out

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        items = [dict(it) for it in items]
        labels = [it.pop("labels") for it in items] if "labels" in items[0] else None
        weights = [it.pop("weights") for it in items] if "weights" in items[0] else None
        out = dict(self.tokenizer.pad(items, padding=True, return_tensors="pt"))
        width = out["input_ids"].shape[1]
        if labels is not None:
            lab = torch.full((len(labels), width), IGNORE, dtype=torch.long)
            for i, seq in enumerate(labels):
                if self.tokenizer.padding_side == "left":
                    lab[i, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
                else:
                    lab[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            out["labels"] = lab
        if weights is not None:
            out["weights"] = torch.tensor(weights, dtype=torch.float32)
        return out

    # ------------------------------------------------------------------ the loss
    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "weights")}
        return self.outputs(model(**inputs).logits, batch)

    def outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"logits"}`` of shape ``(batch, length, num_labels)``; with labels, ``"loss"`` (the mean
        cross-entropy over the labelled subwords, each weighted by its sentence's weight) and
        ``"loss_weight"`` (the number of labelled subwords it divided by)."""
        out = {"logits": logits}
        if "labels" in batch:
            labels = batch["labels"]
            losses = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=IGNORE, reduction="none",
                                     label_smoothing=self.label_smoothing)
            mask = (labels != IGNORE).float()
            if "weights" in batch:
                losses = losses * batch["weights"][:, None]
            n = mask.sum()
            out["loss"] = (losses * mask).sum() / n.clamp(min=1.0)
            out["loss_weight"] = n.detach()
        return out

    # ------------------------------------------------------------------ windows to words
    def unpad(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        """Each window's subword logits, ``(length_i, num_labels)``: the positions its attention mask keeps."""
        mask = batch["attention_mask"].bool().cpu()
        return [logits[j][mask[j]].numpy() for j in range(len(logits))]

    def join_items(self, dataset: TokenWindows, window_logits: np.ndarray) -> np.ndarray:
        """Word logits per sentence from the windows' logits (an object array of ``(length, num_labels)``
        arrays, one per window): an object array of shape ``(n_sentences,)`` whose items are
        ``(n_words, num_labels)`` float32 arrays (NaN for a word the tokenizer gave no subword)."""
        k = next((np.asarray(x).shape[-1] for x in window_logits), self.num_labels)
        out = np.empty(len(dataset.n_words), dtype=object)
        for s, n in enumerate(dataset.n_words):
            out[s] = np.full((n, k), np.nan, dtype=np.float32)
        for w, s in enumerate(dataset.sentence):
            if not dataset.keep[w]:
                continue
            words = np.fromiter(dataset.keep[w].keys(), dtype=np.int64)
            positions = np.fromiter(dataset.keep[w].values(), dtype=np.int64)
            out[s][words] = np.asarray(window_logits[w])[positions]
        return out

    def example_inputs(self) -> dict[str, torch.Tensor]:
        """A small batch of model inputs (two sentences of different lengths, padded), for tracing (ONNX export)."""
        ds = self.encode([["an", "example", "sentence", "for", "tracing"], ["short"]])
        return {k: v for k, v in self.collate([ds[i] for i in range(len(ds))]).items() if k not in ("labels", "weights")}

    @staticmethod
    def frozen_stage(prep: Any, cfg: Any, train_ds: Any, val_ds: Any, texts: Any = None, progress: bool = False) -> None:
        """No cached-feature stage: the head reads every position, so the frozen backbone runs in each batch."""
        prep.feature_cache.setdefault("reason", "token classification reads every position's hidden state")
        return None

    # ------------------------------------------------------------------ metrics
    @staticmethod
    def trivial(targets: Sequence[Any], record: dict[str, Any]) -> bool:
        """Has the model found no entity on validation yet (entity F1 0: every word tagged ``O``)?"""
        f1 = record.get("val_f1")
        return f1 is not None and float(f1) <= 0.0

    def epoch_metrics(self, targets: Sequence[Sequence[int]], logits: np.ndarray) -> dict[str, float]:
        """Validation metrics over words: ``loss`` (mean cross-entropy of the words the model has a tag
        for), entity micro ``precision``/``recall``/``f1`` (seqeval) and token ``accuracy``."""

        return sequence_metrics(targets, logits, self.names, self.num_labels, self.scheme, per_type=False)
