"""The Task protocol: the only place that knows a modality. The training loop never branches on one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch.utils.data import Dataset


class EncodedDataset(Dataset):
    """Pre-encoded examples (one dict of lists per example), their lengths, integer labels and
    optional per-example loss weights."""

    def __init__(self, features: list[dict[str, Any]], labels: Sequence[int] | None = None,
                 weights: Sequence[float] | None = None, lengths: Sequence[int] | None = None) -> None:
        self.features = features
        self.labels = None if labels is None else [int(x) for x in labels]
        self.weights = None if weights is None else [float(w) for w in weights]
        # Token counts: they drive length-grouped batching (given explicitly for non-token features).
        self.lengths = list(lengths) if lengths is not None else [len(next(iter(f.values()))) for f in features]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.features[i])
        if self.labels is not None:
            item["labels"] = self.labels[i]
        if self.weights is not None:
            item["weights"] = self.weights[i]
        return item

    def subset(self, idx: Sequence[int]) -> EncodedDataset:
        """The examples at ``idx`` (for evaluation: loss weights are not carried over)."""
        return EncodedDataset([self.features[i] for i in idx], None if self.labels is None else [self.labels[i] for i in idx],
                              lengths=[self.lengths[i] for i in idx])


class Task(Protocol):
    """What the trainer needs from a modality."""

    def encode(self, examples: Sequence[Any], labels: Sequence[int] | None = None) -> EncodedDataset: ...

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]: ...

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...
