"""Text classification: tokenize once, pad per batch, cross-entropy on the logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from justfit.tasks.base import EncodedDataset


class TextClassificationTask:
    def __init__(self, tokenizer: Any, max_length: int = 256, class_weights: Sequence[float] | None = None) -> None:
        self.tokenizer = tokenizer
        # Training-loss weights per class; evaluation losses stay unweighted, so they compare across runs.
        self.class_weights = None if class_weights is None else torch.tensor(list(class_weights), dtype=torch.float32)
        # Never exceed what the model's position embeddings can take.
        model_max = getattr(tokenizer, "model_max_length", None) or max_length
        self.max_length = min(max_length, model_max) if model_max < 1_000_000 else max_length

    def encode(self, examples: Sequence[str], labels: Sequence[int] | None = None,
               weights: Sequence[float] | None = None) -> EncodedDataset:
        texts = [str(t) for t in examples]
        if not texts:
            return EncodedDataset([], labels)
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        keys = [k for k in enc if k in ("input_ids", "attention_mask", "token_type_ids")]
        features = [{k: enc[k][i] for k in keys} for i in range(len(texts))]
        return EncodedDataset(features, labels, weights)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        items = [dict(it) for it in items]
        labels = [it.pop("labels") for it in items] if "labels" in items[0] else None
        weights = [it.pop("weights") for it in items] if "weights" in items[0] else None
        batch = self.tokenizer.pad(items, padding=True, return_tensors="pt")
        out = dict(batch)
        if labels is not None:
            out["labels"] = torch.tensor(labels, dtype=torch.long)
        if weights is not None:
            out["weights"] = torch.tensor(weights, dtype=torch.float32)
        return out

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "weights")}
        return self.outputs(model(**inputs).logits, batch, class_weights)

    def outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor],
                class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"logits"}``, plus the training ``"loss"`` when the batch has labels."""
        out = {"logits": logits}
        if "labels" in batch:
            if class_weights is None and self.class_weights is not None:
                class_weights = self.class_weights.to(logits.device)
            # The loss in fp32 even under bf16 autocast: it is a reduction, and cheap.
            # Class weights: a weighted mean, as F.cross_entropy(weight=...) computes it. Row weights are
            # absolute (a row of weight 0.2 counts 0.2 of a row wherever it lands), so they are not
            # renormalised per batch.
            losses = F.cross_entropy(logits.float(), batch["labels"], reduction="none")
            cw = class_weights[batch["labels"]] if class_weights is not None else torch.ones_like(losses)
            if "weights" in batch:
                losses = losses * batch["weights"]
            out["loss"] = (losses * cw).sum() / cw.sum().clamp(min=1e-12)
        return out
