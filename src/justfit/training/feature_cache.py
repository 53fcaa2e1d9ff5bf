"""Frozen-backbone text features, computed once and cached on disk.

``embed`` runs the pretrained encoder (no head, no gradients) over the texts and mean-pools
the last hidden states over the attention mask. The result is cached as a ``.npy`` file
keyed by the model (its files, or its hub id), the pooling, the precision, ``max_length``
and a hash of the texts, so a later run on the same data and model reads it back instead of
recomputing it. The cache lives in ``$JUSTFIT_CACHE_DIR`` (default ``~/.cache/justfit``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

CACHE_VERSION = "1"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir)
    env = os.environ.get("JUSTFIT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "justfit"


def model_fingerprint(source: str) -> str:
    """Identify a model by its files (local folder) or its id (hub), so a changed model misses the cache."""
    p = Path(source)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(p.iterdir()):
            if f.is_file() and (f.suffix in (".json", ".safetensors", ".bin", ".txt", ".model")):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
                if f.suffix in (".json", ".txt") and st.st_size < 2_000_000:
                    h.update(f.read_bytes())
        h.update(str(p.resolve()).encode())
    else:
        h.update(source.encode())
    return h.hexdigest()[:16]


def texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:24]


def cache_key(source: str, texts: Sequence[str], max_length: int, bf16: bool) -> str:
    parts = [CACHE_VERSION, model_fingerprint(source), "mean", "bf16" if bf16 else "fp32", str(max_length),
             texts_hash(texts)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def embed(texts: Sequence[str], model: str | None = None, **kwargs: Any) -> np.ndarray:
    """Mean-pooled features of the frozen pretrained encoder (``float32``, ``(len(texts), hidden)``)."""
    return embed_cached(texts, model, **kwargs)[0]


def embed_cached(texts: Sequence[str], model: str | None = None, *, max_length: int = 256, batch_size: int = 64,
                 bf16: bool | str = "auto", cache: bool = True, cache_dir: str | Path | None = None,
                 progress: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """``embed``, plus where the features came from: ``{"cache_file", "cache_hit", "model", "seconds"}``."""
    import time

    t0 = time.perf_counter()
    from justfit.config import resolve_bf16
    from justfit.models.factory import resolve_model_name

    texts = [str(t) for t in texts]
    source = resolve_model_name(model)
    use_bf16 = resolve_bf16(bf16)
    path = cache_root(cache_dir) / "features" / f"{cache_key(source, texts, max_length, use_bf16)}.npy"
    info: dict[str, Any] = {"cache_file": str(path) if cache else None, "cache_hit": False, "model": source}
    if cache and path.is_file():
        try:
            feats = np.load(path)
            if feats.shape[0] == len(texts):
                info.update(cache_hit=True, seconds=time.perf_counter() - t0)
                return feats, info
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    feats = _compute(texts, source, max_length, batch_size, use_bf16, progress)
    if cache:
        from justfit.results import atomic_write

        atomic_write(path, lambda tmp: np.save(tmp, feats))
    info["seconds"] = time.perf_counter() - t0
    return feats, info


def load_encoder(source: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    from justfit.errors import ModelError
    from justfit.models.factory import quiet_transformers

    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        encoder = AutoModel.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"Could not load model '{source}' to embed the texts ({first[:200]}). Pass a local folder "
                         "with config.json and tokenizer files, or a reachable hub id.") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return encoder.eval(), tokenizer


def _compute(texts: list[str], source: str, max_length: int, batch_size: int, bf16: bool,
             progress: bool) -> np.ndarray:
    import torch

    from justfit.tasks.text import TextClassificationTask

    encoder, tokenizer = load_encoder(source)
    task = TextClassificationTask(tokenizer, max_length)
    hidden = encoder.config.hidden_size
    if not texts:
        return np.zeros((0, hidden), dtype=np.float32)
    out = np.empty((len(texts), hidden), dtype=np.float32)
    # Long texts first, in batches of similar length: little padding, and memory peaks early.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    from justfit._progress import progress_bar

    with progress_bar("embedding texts", enabled=progress) as bar, torch.inference_mode(), autocast:
        for s in range(0, len(texts), batch_size):
            idx = order[s:s + batch_size]
            ds = task.encode([texts[i] for i in idx])
            batch = task.collate([ds[i] for i in range(len(ds))])
            last = encoder(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out[idx] = ((last * mask).sum(1) / mask.sum(1).clamp(min=1)).numpy()
            if bar:
                bar(min(s + batch_size, len(texts)), len(texts))
    return out
