"""Text classification: tokenize once, pad per batch, cross-entropy on the logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from justfit.tasks.base import EncodedDataset


class TextClassificationTask:
    def __init__(self, tokenizer: Any, max_length: int = 256) -> None:
        self.tokenizer = tokenizer
        # Never exceed what the model's position embeddings can take.
        model_max = getattr(tokenizer, "model_max_length", None) or max_length
        self.max_length = min(max_length, model_max) if model_max < 1_000_000 else max_length

    def encode(self, examples: Sequence[str], labels: Sequence[int] | None = None) -> EncodedDataset:
        texts = [str(t) for t in examples]
        if not texts:
            return EncodedDataset([], labels)
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        keys = [k for k in enc if k in ("input_ids", "attention_mask", "token_type_ids")]
        features = [{k: enc[k][i] for k in keys} for i in range(len(texts))]
        return EncodedDataset(features, labels)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        labels = [it.pop("labels") for it in items] if "labels" in items[0] else None
        batch = self.tokenizer.pad(items, padding=True, return_tensors="pt")
        out = dict(batch)
        if labels is not None:
            out["labels"] = torch.tensor(labels, dtype=torch.long)
        return out

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = model(**inputs).logits
        out = {"logits": logits}
        if "labels" in batch:
            # The loss in fp32 even under bf16 autocast: it is a reduction, and cheap.
            out["loss"] = F.cross_entropy(logits.float(), batch["labels"], weight=class_weights)
        return out
