"""Batch samplers: shuffled, optionally grouped by length so batches carry little padding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class BatchSampler:
    """Yields lists of indices. With ``group_by_length``, indices are shuffled, cut into
    mega-batches of ``50 * batch_size``, sorted by length inside each, cut into batches, and
    the batch order is shuffled again: random, but each batch holds texts of similar length.

    With ``balance_labels`` (one class code per example), each epoch draws ``n`` examples with
    replacement, each class with equal total probability: every class is seen about equally
    often, whatever its share of the data.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True,
                 group_by_length: bool = True, seed: int = 0, drop_last: bool = False,
                 balance_labels: Sequence[int] | None = None) -> None:
        self.lengths = np.asarray(lengths)
        self.probs = None
        if balance_labels is not None:
            codes = np.asarray(balance_labels)
            counts = np.bincount(codes)
            p = 1.0 / counts[codes]
            self.probs = p / p.sum()
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        n = len(self.lengths)
        if self.probs is not None:
            idx = rng.choice(n, size=n, replace=True, p=self.probs)
        else:
            idx = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.group_by_length:
            mega = self.batch_size * 50
            groups = [idx[i:i + mega] for i in range(0, n, mega)]
            idx = np.concatenate([g[np.argsort(-self.lengths[g], kind="stable")] for g in groups])
        batches = [idx[i:i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle and self.group_by_length:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        yield from batches

    def rows_of_first(self, n_batches: int) -> np.ndarray:
        """The distinct rows of this epoch's first ``n_batches`` batches (the order is fixed by seed and
        epoch, so this replays what the loader handed out)."""
        rows = [b for _, b in zip(range(n_batches), iter(self), strict=False)]
        return np.unique(np.concatenate(rows)) if rows else np.zeros(0, dtype=int)
