"""Frozen-backbone text features, computed once and cached on disk.

The pretrained encoder (no head, no gradients, eval mode) runs once over the texts and two
views of its last hidden states are kept per text: the mean over the attention mask
(``mean``, what the label audit's probes use) and the first token (``first``, what
BERT-style classification heads read, through the pooler where the model has one). Both sit
in one ``float32`` ``.npy`` file of shape ``(n, 2, hidden)``, read back memory-mapped and
keyed by the model (its files, or its hub id), the precision, ``max_length`` and a hash of
the texts, so the label audit and head-only training share one computation, whichever
needs it first, and re-runs with other head settings read it back instead of recomputing.
The cache lives in ``$JUSTFIT_CACHE_DIR`` (default ``~/.cache/justfit``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from justfit._files import cache_root, model_fingerprint
from justfit._progress import progress_bar
from justfit.errors import ModelError
from justfit.models.factory import check_text_model, portable_model_name, quiet_transformers
from justfit.tasks.text.task import TextClassificationTask
from justfit.training.runtime import resolve_bf16

VIEWS = ("mean", "first")
CACHE_VERSION = "2"


def feature_info(path: Path | None, source: str, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Where features come from, to record in the data report: the cache file inside the cache folder
    (``features/<key>.npy``; ``None`` without the cache) and the model's portable name, never a path."""

    return {"cache_file": None if path is None else path.relative_to(cache_root(cache_dir)).as_posix(),
            "cache_hit": False, "model": portable_model_name(source)}


def texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:24]


def cache_key(source: str, texts: Sequence[str], max_length: int, bf16: bool) -> str:
    parts = [CACHE_VERSION, model_fingerprint(source), ",".join(VIEWS), "bf16" if bf16 else "fp32", str(max_length),
             texts_hash(texts)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def embed(texts: Sequence[str], model: str | None = None, **kwargs: Any) -> np.ndarray:
    """Mean-pooled features of the frozen pretrained encoder (``float32``, ``(len(texts), hidden)``)."""
    return embed_cached(texts, model, **kwargs)[0]


def embed_cached(texts: Sequence[str], model: str | None = None, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """``embed``, plus where the features came from: ``{"cache_file", "cache_hit", "model", "seconds"}``
    (:func:`feature_info`)."""
    feats, info = backbone_features(texts, model, **kwargs)
    return np.ascontiguousarray(feats[:, VIEWS.index("mean")]), info


def backbone_features(texts: Sequence[str], model: str | None = None, *, max_length: int = 256,
                      batch_size: int = 64, bf16: bool | str = "auto", cache: bool = True,
                      cache_dir: str | Path | None = None, progress: bool = False,
                      encoder: Any = None, tokenizer: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
    """All cached views, ``(len(texts), 2, hidden)`` (memory-mapped when read from the cache).

    ``encoder``/``tokenizer`` reuse an already loaded backbone of the same checkpoint
    (``model``); without them the checkpoint is loaded here.
    """
    import time

    t0 = time.perf_counter()

    texts = [str(t) for t in texts]
    source = check_text_model(model)
    use_bf16 = resolve_bf16(bf16)
    path = cache_root(cache_dir) / "features" / f"{cache_key(source, texts, max_length, use_bf16)}.npy"
    info = feature_info(path if cache else None, source, cache_dir)
    if cache and path.is_file():
        try:
            feats = np.load(path, mmap_mode="r")
            if feats.ndim == 3 and feats.shape[:2] == (len(texts), len(VIEWS)):
                with contextlib.suppress(OSError):
                    os.utime(path)  # last use, for clear_cache(unused_days=...)
                info.update(cache_hit=True, seconds=time.perf_counter() - t0)
                return feats, info
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    if encoder is None or tokenizer is None:
        encoder, tokenizer = load_encoder(source)
    feats = compute_features(texts, encoder, tokenizer, max_length, batch_size, use_bf16, progress)
    if cache:
        from justfit._files import atomic_write

        atomic_write(path, lambda tmp: np.save(tmp, feats))
    info["seconds"] = time.perf_counter() - t0
    return feats, info


def cache_info(cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Where the feature cache is, how many files it holds and their total size in bytes."""
    folder = cache_root(cache_dir) / "features"
    files = sorted(folder.glob("*.npy")) if folder.is_dir() else []
    return {"dir": str(folder), "files": len(files), "bytes": sum(f.stat().st_size for f in files)}


def clear_cache(cache_dir: str | Path | None = None, unused_days: float | None = None) -> dict[str, Any]:
    """Delete cached features (all, or those unused for ``unused_days``); returns files and bytes freed."""
    import time

    folder = cache_root(cache_dir) / "features"
    cutoff = None if unused_days is None else time.time() - unused_days * 86400
    freed = {"dir": str(folder), "files": 0, "bytes": 0}
    for f in sorted(folder.glob("*.npy")) if folder.is_dir() else []:
        st = f.stat()
        if cutoff is None or st.st_mtime < cutoff:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
                freed["files"] += 1
                freed["bytes"] += st.st_size
    return freed


def load_encoder(source: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

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


def compute_features(texts: list[str], encoder: Any, tokenizer: Any, max_length: int, batch_size: int = 64,
                     bf16: bool = False, progress: bool = False) -> np.ndarray:
    """Run the frozen ``encoder`` (eval mode, no gradients) over ``texts``: ``(n, 2, hidden)`` views."""
    import torch

    task = TextClassificationTask(tokenizer, max_length, model_config=encoder.config)
    hidden = encoder.config.hidden_size
    out = np.empty((len(texts), len(VIEWS), hidden), dtype=np.float32)
    if not texts:
        return out
    # Long texts first, in batches of similar length: little padding, and memory peaks early.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    was_training = encoder.training
    encoder.eval()
    try:
        with progress_bar("embedding texts", enabled=progress) as bar, torch.inference_mode(), autocast:
            for s in range(0, len(texts), batch_size):
                idx = order[s:s + batch_size]
                ds = task.encode([texts[i] for i in idx])
                batch = task.collate([ds[i] for i in range(len(ds))])
                last = encoder(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                out[idx, 0] = ((last * mask).sum(1) / mask.sum(1).clamp(min=1)).numpy()
                out[idx, 1] = last[:, 0].numpy()
                if bar:
                    bar(min(s + batch_size, len(texts)), len(texts))
    finally:
        encoder.train(was_training)
    return out
