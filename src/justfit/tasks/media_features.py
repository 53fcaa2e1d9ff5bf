"""Head-only training of image and audio models on backbone outputs computed once (``freeze: backbone``).

With the backbone frozen its output for an image never changes, so it is computed once per fit
(eval mode, no gradients) and the model's own head is trained on it: for each batch the backbone
module is swapped, for one forward call, for a stand-in that returns the cached output. What is
kept is what classification heads read: the first token of ``last_hidden_state`` (ViT, DeiT), the
``pooler_output`` (ConvNeXt, ResNet, EfficientNet), the tensor a plain backbone returns
(justfit's EfficientNet-Lite), or, for steps that say ``keep_sequence`` (audio heads pool over
time: Whisper, wav2vec2), the whole ``last_hidden_state``. The step names its model inputs
(``input_keys``: ``pixel_values``; ``input_features``; ``input_values`` and ``attention_mask``). Whether an architecture's head reads only that is checked, not
assumed: ``check_equivalent`` compares the head on cached outputs with the full model on the same
images, and a head that reads more falls back to running the backbone in every batch. Features
live in memory for the fit (media features have no disk cache yet).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from justfit.models.freezing import backbone_name
from justfit.tasks.base import BaseStep, EncodedDataset
from justfit.training.runtime import resolve_bf16


class _Cached(nn.Module):
    """Stands in for the frozen backbone: returns the output it is handed."""

    def __init__(self, output: Any) -> None:
        super().__init__()
        self.output = output

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.output


@contextlib.contextmanager
def cached_backbone(model: nn.Module, output: Any) -> Iterator[None]:
    """Within the block, ``model``'s backbone (``backbone_name``) returns ``output``."""
    name = backbone_name(model)
    real = model._modules[name]
    model._modules[name] = _Cached(output)
    try:
        yield
    finally:
        model._modules[name] = real


def _inputs(step: Any) -> tuple[str, ...]:
    return tuple(getattr(step, "input_keys", ("pixel_values",)))


def _keep(output: Any, sequence: bool = False) -> dict[str, torch.Tensor]:
    """What a head reads of a backbone output: the first token (all tokens with ``sequence``), the
    pooled output, or the tensor itself."""
    if isinstance(output, torch.Tensor):
        return {"tensor": output.float()}
    kept = {}
    last = getattr(output, "last_hidden_state", None)
    if isinstance(last, torch.Tensor) and last.dim() == 3:
        kept["sequence" if sequence else "first"] = (last if sequence else last[:, :1]).float()
    pooled = getattr(output, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        kept["pooled"] = pooled.float()
    return kept


def _rebuild(parts: dict[str, torch.Tensor]) -> Any:
    if "tensor" in parts:
        return parts["tensor"]
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    return BaseModelOutputWithPooling(last_hidden_state=parts.get("sequence", parts.get("first")),
                                      pooler_output=parts.get("pooled"))


def backbone_outputs(model: nn.Module, step: Any, dataset: EncodedDataset, batch_size: int = 64,
                     bf16: bool = False) -> dict[str, np.ndarray]:
    """The frozen backbone's kept outputs for every example of ``dataset`` (fp32 arrays, first axis n)."""
    backbone = model._modules[backbone_name(model)]
    was_training = backbone.training
    backbone.eval()
    chunks: dict[str, list[np.ndarray]] = {}
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    keys, sequence = _inputs(step), bool(getattr(step, "keep_sequence", False))
    try:
        with torch.inference_mode(), autocast:
            for s in range(0, len(dataset), batch_size):
                batch = step.collate([dataset[i] for i in range(s, min(s + batch_size, len(dataset)))])
                kept = _keep(backbone(*[batch[k] for k in keys if k in batch]), sequence)
                if "attention_mask" in batch:  # the head pools over the clip's own frames
                    kept["mask"] = batch["attention_mask"]
                for k, v in kept.items():
                    chunks.setdefault(k, []).append(v.numpy() if k == "mask" else v.float().numpy())
    finally:
        backbone.train(was_training)
    return {k: np.concatenate(v) for k, v in chunks.items()}


class ImageFeatureStep(BaseStep):
    """A step over row indices into cached backbone outputs; loss and metrics are the image step's."""

    on_cached_features = True

    def __init__(self, image_step: Any, outputs: dict[str, np.ndarray]) -> None:
        self.image_step = image_step
        self.outputs = outputs
        self.metric_directions = image_step.metric_directions
        self.trivial = image_step.trivial
        self.max_length = 0

    def epoch_metrics(self, targets: Sequence[Any], logits: np.ndarray) -> dict[str, float]:
        return self.image_step.epoch_metrics(targets, logits)

    def encode(self, rows: Sequence[int], labels: Sequence[int] | None = None,
               weights: Sequence[float] | None = None) -> EncodedDataset:
        return EncodedDataset([{"row": int(r)} for r in rows], labels, weights, lengths=[1] * len(rows))

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows = np.fromiter((it["row"] for it in items), dtype=np.int64, count=len(items))
        out = {f"cached_{k}": torch.from_numpy(v[rows]) for k, v in self.outputs.items()}
        if "labels" in items[0]:
            out["labels"] = torch.tensor([it["labels"] for it in items], dtype=torch.long)
        if "weights" in items[0]:
            out["weights"] = torch.tensor([it["weights"] for it in items], dtype=torch.float32)
        return out

    def forward(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        parts = {k[len("cached_"):]: v for k, v in batch.items() if k.startswith("cached_")}
        mask = parts.pop("mask", None)
        first = next(iter(parts.values()))
        key = _inputs(self.image_step)[0]
        # The head never sees the inputs; a dummy keeps the model's input checks satisfied.
        dummy = torch.zeros((first.shape[0], 1, 1, 1) if key == "pixel_values" else (first.shape[0], 1),
                            device=first.device)
        with cached_backbone(model, _rebuild(parts)):
            logits = model(**{key: dummy}, **({"attention_mask": mask} if mask is not None else {})).logits
        return self.image_step.outputs(logits, batch)


def check_equivalent(model: nn.Module, step: Any, dataset: EncodedDataset, atol: float = 1e-4) -> tuple[bool, str]:
    """Do the head on cached outputs and the full model give the same logits (fp32, eval mode)?"""
    sample = dataset.subset(range(min(8, len(dataset))))
    if not len(sample):
        return True, ""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            batch = step.collate([sample[i] for i in range(len(sample))])
            full = step.outputs(model(**{k: batch[k] for k in _inputs(step) if k in batch}).logits, {})["logits"]
            cached_step = ImageFeatureStep(step, backbone_outputs(model, step, sample))
            cached = cached_step.forward(model, cached_step.collate([{"row": i} for i in range(len(sample))]))["logits"]
        gap = float((full - cached).abs().max())
    except Exception as exc:  # a head that needs more than the kept outputs
        return False, f"{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        model.train(was_training)
    if gap > atol * max(float(full.abs().max()), 1.0):
        return False, f"the head on cached outputs differs from the full model by {gap:.2g}"
    return True, ""


def frozen_stage(prep: Any, cfg: Any, train_ds: EncodedDataset, val_ds: EncodedDataset,
                 progress: bool = False) -> tuple[Any, EncodedDataset, EncodedDataset] | None:
    """The step and datasets of a head-only stage on cached backbone outputs, or ``None`` when this
    architecture's head reads more than they hold (``prep.feature_cache`` records which, and why)."""

    cache = prep.feature_cache
    if "equivalent" not in cache:
        ok, why = check_equivalent(prep.model, prep.step, train_ds)
        cache.update(equivalent=ok, reason=why)
    if not cache["equivalent"]:
        return None
    bf16 = resolve_bf16(cfg.training.bf16)
    outputs = {}
    for split, ds in (("train", train_ds), ("val", val_ds)):
        t0 = time.perf_counter()
        outputs[split] = backbone_outputs(prep.model, prep.step, ds, cfg.training.eval_batch_size, bf16) if len(ds) \
            else {}
        cache[split] = {"cache_hit": False, "seconds": round(time.perf_counter() - t0, 3), "file": None}
    merged = {k: np.concatenate([outputs["train"][k], outputs["val"][k]]) if outputs["val"] else outputs["train"][k]
              for k in outputs["train"]}
    step = ImageFeatureStep(prep.step, merged)
    n = len(train_ds)
    return step, step.encode(range(n), train_ds.labels, train_ds.weights), \
        step.encode(range(n, n + len(val_ds)), val_ds.labels)
