"""Can the chosen model read this data? The share of unknown tokens, measured with its tokenizer.

A text classifier learns nothing from texts its tokenizer maps to the unknown token (``[UNK]``):
a script the vocabulary does not cover (the packaged MiniLM turns ``这部电影非常好看`` into 7 of 8
unknown tokens), emoji, or texts of digits and punctuation only. Such data trains without an error
and ends as "underfitting" with a learning-rate remedy that cannot help; measured here, it gets
the right diagnosis ("the model cannot read this data") and the right remedy (another model).

Per split, on at most ``sample`` texts:

* ``unk_share``: unknown tokens / all tokens (special tokens excluded);
* ``short_share``: texts with no readable token: every token is unknown, or carries no letter
  (digits, punctuation, symbols), or there is no token at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from justfit.errors import ModelError
from justfit.models.factory import check_text_model, portable_model_name, quiet_transformers

THRESHOLD = 0.1  # warn, and diagnose, above this share of unknown tokens or unreadable texts
SAMPLE = 2000


def _readable(token: str) -> bool:
    return any(c.isalpha() for c in token)


def split_coverage(texts: Sequence[str], tokenizer: Any, *, sample: int = SAMPLE, seed: int = 0) -> dict[str, Any]:
    """``{"unk_share", "short_share", "rows"}`` of ``texts`` under ``tokenizer`` (shares in [0, 1])."""
    texts = [str(t) for t in texts]
    if len(texts) > sample:
        idx = np.random.default_rng(seed).choice(len(texts), sample, replace=False)
        texts = [texts[i] for i in sorted(idx)]
    if not texts:
        return {"unk_share": 0.0, "short_share": 0.0, "rows": 0}
    unk_id = getattr(tokenizer, "unk_token_id", None)
    ids = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    total = unk = unreadable = 0
    for row in ids:
        total += len(row)
        n_unk = sum(1 for i in row if i == unk_id) if unk_id is not None else 0
        unk += n_unk
        tokens = tokenizer.convert_ids_to_tokens([i for i in row if i != unk_id])
        if not any(_readable(t) for t in tokens):
            unreadable += 1
    return {"unk_share": unk / total if total else 0.0, "short_share": unreadable / len(texts), "rows": len(texts)}


def tokenizer_coverage(splits: Mapping[str, Sequence[str]], tokenizer: Any, model: str,
                       *, threshold: float = THRESHOLD) -> tuple[dict[str, Any], list[str]]:
    """Coverage of every split, plus warnings for those above ``threshold``.

    Returns ``({"train": {...}, "validation": {...}, ..., "model": model, "threshold": threshold},
    warnings)``.
    """
    out: dict[str, Any] = {name: split_coverage(texts, tokenizer) for name, texts in splits.items()}
    warnings = []
    for name, cov in out.items():
        if cov["unk_share"] > threshold or cov["short_share"] > threshold:
            warnings.append(
                f"the model cannot read much of the {name} data: {cov['unk_share']:.0%} of its tokens are unknown to "
                f"the tokenizer of '{model}' and {cov['short_share']:.0%} of its texts have no readable token. Use a "
                "model whose tokenizer covers this script or domain (e.g. a multilingual model), or fix the texts.")
    out.update(model=model, threshold=threshold)
    return out, warnings


def measure(cfg: Any, splits: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """Coverage of ``splits`` (train/validation/test frames) under the tokenizer of ``cfg.model.name``.

    ``(None, [])`` when the tokenizer cannot be loaded here: the model stage reports that itself.
    """
    from transformers import AutoTokenizer

    try:
        source = check_text_model(cfg.model.name)
        quiet_transformers()
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (ModelError, OSError, ValueError):
        return None, []
    texts = {name: getattr(splits, name)["text"].tolist() for name in ("train", "validation", "test")}
    # The model by its portable name: the data report is shared with the run (justfit._portable).
    return tokenizer_coverage(texts, tokenizer, portable_model_name(source),
                              threshold=getattr(cfg.quality, "unk_threshold", THRESHOLD))
