"""Head-only training on cached backbone features (``freeze: backbone``).

With the whole backbone frozen, its output for a text never changes, so recomputing it in
every batch of every epoch is wasted work. ``FrozenFeatureTask`` trains the model's own head
on features computed once (``tasks.frozen``): for each batch the backbone module
is swapped, for the duration of one forward call, for a stand-in that returns the cached
first-token hidden states (and the model's own frozen pooler applied to them). The head
code of the architecture runs unchanged, so the trained head is the model's head and the
saved model is a plain ``transformers`` checkpoint.

Whether an architecture's head reads only what the stand-in provides is checked, not
assumed: ``check_equivalent`` compares the head's logits on cached features with the full
model's logits on the same texts; architectures whose head reads more (e.g. the last
non-padding token of decoder models) fall back to the full forward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from justfit.tasks.base import BaseStep, EncodedDataset
from justfit.tasks.text.frozen import backbone_features, compute_features
from justfit.tasks.text.task import TextClassificationTask

FIRST = 1  # index of the first-token view in the cached (n, views, hidden) array


class _CachedBackbone(nn.Module):
    """Stands in for the frozen backbone: returns the hidden states it is handed."""

    def __init__(self, pooler: nn.Module | None) -> None:
        super().__init__()
        # Not registered as a submodule: it belongs to (and is saved with) the real backbone.
        self.__dict__["pooler"] = pooler
        self.hidden: torch.Tensor | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        hidden = self.hidden
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)


@contextlib.contextmanager
def cached_backbone(model: nn.Module, hidden: torch.Tensor) -> Iterator[None]:
    """Within the block, ``model``'s backbone returns ``hidden`` (``(batch, 1, hidden_size)``)."""
    prefix = model.base_model_prefix
    real = getattr(model, prefix)
    stand_in = _CachedBackbone(getattr(real, "pooler", None))
    stand_in.hidden = hidden
    model._modules[prefix] = stand_in
    try:
        yield
    finally:
        model._modules[prefix] = real


class FeatureRows:
    """Row-wise access to one or more ``(n, views, hidden)`` arrays as if concatenated, without
    copying them (memory-mapped cache files stay on disk; only the rows of a batch are read)."""

    def __init__(self, *parts: np.ndarray) -> None:
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def take(self, rows: np.ndarray, view: int) -> np.ndarray:
        out = np.empty((len(rows), self.parts[0].shape[-1]), dtype=np.float32)
        for part, lo, hi in zip(self.parts, self.offsets[:-1], self.offsets[1:], strict=True):
            inside = (rows >= lo) & (rows < hi)
            if inside.any():
                out[inside] = part[rows[inside] - lo, view]
        return out


class FrozenFeatureTask(BaseStep):
    """A task over row indices into cached features; the loss is the text task's."""

    on_cached_features = True

    def __init__(self, text_task: TextClassificationTask, features: FeatureRows | np.ndarray) -> None:
        self.text_task = text_task
        self.features = features if isinstance(features, FeatureRows) else FeatureRows(features)
        # The loss and the metrics are the text task's (classification or regression).
        self.metric_directions = text_task.metric_directions
        self.trivial = text_task.trivial
        self.max_length = text_task.max_length

    def epoch_metrics(self, targets: Sequence[Any], logits: np.ndarray) -> dict[str, float]:
        return self.text_task.epoch_metrics(targets, logits)

    def encode(self, rows: Sequence[int], labels: Sequence[int] | None = None,
               weights: Sequence[float] | None = None, lengths: Sequence[int] | None = None) -> EncodedDataset:
        return EncodedDataset([{"row": int(r)} for r in rows], labels, weights,
                              lengths=lengths if lengths is not None else [1] * len(rows))

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows = np.fromiter((it["row"] for it in items), dtype=np.int64, count=len(items))
        out = {"hidden": torch.from_numpy(self.features.take(rows, FIRST))[:, None, :]}
        if "labels" in items[0]:
            out["labels"] = torch.tensor([it["labels"] for it in items], dtype=self.text_task.label_dtype)
        if "weights" in items[0]:
            out["weights"] = torch.tensor([it["weights"] for it in items], dtype=torch.float32)
        return out

    def forward(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = batch["hidden"]
        with cached_backbone(model, hidden):
            # The head never sees the ids; a dummy keeps the model's input checks satisfied.
            logits = model(input_ids=torch.zeros(hidden.shape[:2], dtype=torch.long, device=hidden.device)).logits
        return self.text_task.outputs(logits, batch)


def check_equivalent(model: nn.Module, text_task: TextClassificationTask, texts: Sequence[str],
                     atol: float = 1e-4) -> tuple[bool, str]:
    """Do the head on cached features and the full model give the same logits (fp32, eval mode)?"""

    texts = list(texts)[:8]
    if not texts:
        return True, ""
    was_training = model.training
    model.eval()
    try:
        feats = compute_features(texts, model.base_model, text_task.tokenizer, text_task.max_length, bf16=False)
        ds = text_task.encode(texts)
        with torch.inference_mode():
            full = text_task.forward(model, text_task.collate([ds[i] for i in range(len(ds))]))["logits"]
            task = FrozenFeatureTask(text_task, feats)
            cached = task.forward(model, task.collate([{"row": i} for i in range(len(texts))]))["logits"]
        gap = float((full - cached).abs().max())
    except Exception as exc:  # an architecture whose head needs more than the backbone's hidden states
        return False, f"{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        model.train(was_training)
    scale = max(float(full.abs().max()), 1.0)
    if gap > atol * scale:
        return False, f"the head on cached features differs from the full model by {gap:.2g}"
    return True, ""


def frozen_stage(prep: Any, cfg: Any, train_ds: EncodedDataset, val_ds: EncodedDataset, texts: dict[str, list[str]],
                 progress: bool = False) -> tuple[Any, EncodedDataset, EncodedDataset] | None:
    """The step and datasets of a head-only stage on cached text features (``tasks.frozen``, on disk),
    or ``None`` when this architecture's head reads more than the cache holds (recorded, with the
    reason, in ``prep.feature_cache``)."""

    cache = prep.feature_cache
    if "equivalent" not in cache:
        ok, why = check_equivalent(prep.model, prep.step, texts["train"])
        cache.update(equivalent=ok, reason=why)
    if not cache["equivalent"]:
        return None
    opts = {"max_length": cfg.data.max_length, "bf16": cfg.training.bf16, "cache_dir": cfg.quality.cache_dir,
            "encoder": prep.model.base_model, "tokenizer": prep.tokenizer, "progress": progress}
    feats = {}
    for split in ("train", "val"):
        feats[split], info = backbone_features(texts[split], prep.source, **opts)
        cache[split] = {"cache_hit": info["cache_hit"], "seconds": round(info["seconds"], 3),
                        "file": info["cache_file"]}
    n = len(texts["train"])
    step = FrozenFeatureTask(prep.step, FeatureRows(feats["train"], feats["val"]))
    tr = step.encode(range(n), train_ds.labels, train_ds.weights, lengths=train_ds.lengths)
    va = step.encode(range(n, n + len(val_ds)), val_ds.labels, lengths=val_ds.lengths)
    return step, tr, va
