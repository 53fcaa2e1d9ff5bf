"""Seed spread: one configuration trained with several seeds, and what the spread says.

A fine-tuning run's result depends on its seed (the new head's initialisation, the shuffle, dropout)
about as much as on many settings: Dodge et al. 2020 ("Fine-Tuning Pretrained Language Models:
Weight Initializations, Data Orders, and Early Stopping") measured BERT's validation scores across
seeds spreading by several points on small GLUE sets. ``--seeds N`` trains the configuration with the
seeds ``training.seed, training.seed + 1, ...``, keeps the model of the median seed (by the
validation score early stopping monitors), and reports every scalar test metric as mean ± sample
standard deviation (``ddof=1``) with the per-seed values. A difference between two configurations
smaller than that standard deviation is noise (``is_noise``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def seeds_for(base: int, n: int) -> list[int]:
    """The ``n`` training seeds of a spread that starts at ``base``."""
    return [int(base) + i for i in range(int(n))]


def median_index(scores: Sequence[float]) -> int:
    """The position of the median score (higher is better; for an even count the lower of the two
    middle ones, so the kept model is never the luckier half's); ties keep the earlier seed."""
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    return order[(len(order) - 1) // 2]


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "min", "max", "values"}`` of finite ``values`` (``std``: sample standard
    deviation, 0 for one value)."""
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "values": [float(x) for x in v]}


def spread(per_seed: Sequence[dict[str, Any]], seeds: Sequence[int], kept: int,
           val_scores: Sequence[float] | None = None, monitor: str | None = None) -> dict[str, Any]:
    """The seed spread of a run: ``seeds``, the ``kept_seed`` (whose model was kept), ``metrics`` (each
    scalar test metric every seed has, summarised) and, when given, the validation ``monitor``'s best
    values (``val_scores``, oriented as recorded)."""
    names = [k for k, v in per_seed[0].items() if _scalar(v) and all(_scalar(m.get(k)) for m in per_seed)]
    out: dict[str, Any] = {"seeds": [int(s) for s in seeds], "kept_seed": int(kept),
                           "metrics": {k: summarise([m[k] for m in per_seed]) for k in names if k != "n"}}
    if val_scores is not None and monitor:
        out["validation"] = {"monitor": monitor, **summarise(val_scores)}
    return out


def is_noise(difference: float, std: float) -> bool:
    """Is a difference between two configurations within the seed spread (``|difference| <= std``)?"""
    return math.isfinite(difference) and abs(difference) <= std


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
