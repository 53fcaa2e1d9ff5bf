"""Near-duplicate images by perceptual hash (``imagehash.phash``: the DCT hash of Zauner 2010,
"Implementation and Benchmarking of Perceptual Image Hash Functions"), compared by Hamming distance.

A 64-bit pHash changes little under resizing, re-encoding, small crops and brightness shifts, so
two images whose hashes differ in at most ``max_distance`` bits (``quality.image_hash_distance``,
default 4) are near copies. Pairs are found by comparing packed ``uint64`` hashes in blocks with
numpy's popcount (``numpy.bitwise_count``): exact and quadratic in the number of images, about a
second per 10^8 pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from justfit.errors import DataError

BLOCK = 2048


def phashes(images: Sequence[Any]) -> np.ndarray:
    """The 64-bit perceptual hash of each ``PIL.Image``, shape ``(n,)``, dtype ``uint64``."""
    try:
        import imagehash
    except ImportError:
        raise DataError("Near-duplicate images need imagehash: pip install 'justfit[vision]'.") from None
    out = np.zeros(len(images), dtype=np.uint64)
    weights = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)
    for i, img in enumerate(images):
        bits = imagehash.phash(img).hash.reshape(-1).astype(np.uint64)
        out[i] = np.bitwise_or.reduce(bits * weights)
    return out


def near_pairs(a: np.ndarray, b: np.ndarray | None = None, max_distance: int = 4) -> list[tuple[int, int, int]]:
    """``(i, j, distance)`` for every pair with at most ``max_distance`` differing bits: ``i < j`` within
    ``a`` when ``b`` is None, else ``i`` indexing ``a`` and ``j`` indexing ``b``."""
    out: list[tuple[int, int, int]] = []
    other = a if b is None else b
    for s in range(0, len(a), BLOCK):
        block = a[s:s + BLOCK]
        dist = np.bitwise_count(block[:, None] ^ other[None, :])
        ii, jj = np.nonzero(dist <= max_distance)
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            i += s
            if b is None and j <= i:
                continue
            out.append((i, j, int(dist[i - s, j])))
    return out
