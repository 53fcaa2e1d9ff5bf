"""Near-duplicate images: perceptual-hash candidates (``imagehash.phash``, the DCT hash of Zauner 2010,
"Implementation and Benchmarking of Perceptual Image Hash Functions"), verified on pixels.

A 64-bit pHash changes little under resizing, re-encoding, small crops and brightness shifts, so
two images whose hashes differ in at most ``max_distance`` bits (``quality.image_hash_distance``,
default 4) are candidates. On small or simple images (digits, silhouettes, drawn shapes) different
images often share a hash, so a candidate pair counts only when the images also agree pixel by
pixel: the Pearson correlation of their 32 x 32 grey thumbnails is at least
``NEAR_PIXEL_CORRELATION`` (``verified``; brightness and contrast shifts do not change it, another
shape or stroke does) — as the text rule verifies MinHash candidates by exact Jaccard. Hashes are compared in blocks with numpy's popcount
(``numpy.bitwise_count``): exact and quadratic in the number of images, about a second per 10^8 pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from justfit.errors import DataError

BLOCK = 2048
NEAR_PIXEL_CORRELATION = 0.97  # re-encoded, resized or brightened copies stay above it; other shapes fall below


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


def thumbs(images: Sequence[Any]) -> np.ndarray:
    """32 x 32 grey thumbnails of ``PIL.Image`` s, standardised (mean 0, norm 1; a flat image stays 0),
    flattened: shape ``(n, 1024)``, float32."""
    if not len(images):
        return np.zeros((0, 1024), np.float32)
    out = np.stack([np.asarray(img.convert("L").resize((32, 32)), dtype=np.float32).ravel() for img in images])
    out -= out.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norm, out=np.zeros_like(out), where=norm > 1e-6)


def verified(pairs: list[tuple[int, int, int]], a: np.ndarray, b: np.ndarray | None = None,
             min_correlation: float = NEAR_PIXEL_CORRELATION) -> list[tuple[int, int, int]]:
    """The candidate ``pairs`` whose thumbnails (``thumbs``; ``b`` for the second index when given)
    correlate at least ``min_correlation`` (two flat images of the same shade count as equal)."""
    other = a if b is None else b

    def corr(i: int, j: int) -> float:
        x, y = a[i], other[j]
        return 1.0 if not x.any() and not y.any() else float(x @ y)

    return [(i, j, d) for i, j, d in pairs if corr(i, j) >= min_correlation]
