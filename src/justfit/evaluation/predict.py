"""Batched inference: length-sorted batches (little padding), results back in input order."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch


def predict_logits(model: torch.nn.Module, task: Any, dataset: Any, *, batch_size: int = 64,
                   bf16: bool = False, device: torch.device | None = None, progress: Any = None,
                   num_workers: int = 0, join: bool = True) -> np.ndarray:
    """Logits for every example of ``dataset`` (``float32``, shape ``(n, num_labels)``); ``num_workers``
    DataLoader processes read and preprocess the examples.

    A step whose logits are per position says so through ``unpad(logits, batch)``: its items' own outputs
    (``(length_i, num_labels)`` arrays, padding removed). The result is then an object array of them, one per
    item; with ``join``, the step's ``join_items(dataset, those)`` turns items (windows) into examples
    (sentences)."""
    from torch.utils.data import DataLoader

    n = len(dataset)
    if n == 0:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    device = device or next(model.parameters()).device
    order = np.argsort(dataset.lengths, kind="stable")[::-1].copy()
    batches = [order[i:i + batch_size].tolist() for i in range(0, n, batch_size)]
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=task.collate, num_workers=num_workers)
    was_training = model.training
    model.eval()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    chunks = []
    items = None
    with torch.inference_mode(), autocast:
        for i, batch in enumerate(loader):
            batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            logits = task.forward(model, batch)["logits"].float().cpu()
            own = task.unpad(logits, batch)  # per position: each item's own positions
            if own is not None:
                items = np.empty(n, dtype=object) if items is None else items
                for j, idx in enumerate(batches[i]):
                    items[idx] = own[j]
            else:
                chunks.append(logits)
            if progress is not None:
                progress(i + 1, len(batches))
    model.train(was_training)
    if items is not None:
        return task.join_items(dataset, items) if join else items
    out = np.empty((n, chunks[0].shape[1]), dtype=np.float32)
    out[order] = torch.cat(chunks).numpy()
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
