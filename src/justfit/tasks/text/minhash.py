"""Near-duplicate detection: datasketch MinHash signatures, LSH banding, verified pairs.

Signatures are datasketch ``MinHash`` hash values over character n-grams of the normalised,
lower-cased text, stored in one ``uint32`` matrix (``n x num_perm``) rather than one Python
object per row. The band/row split comes from datasketch's own optimiser for the threshold.
Bucketing the bands is done with numpy sorts instead of ``MinHashLSH``'s dict-of-sets index,
which costs a Python dict entry and set per row per band (several GB at a million rows);
the sort keeps the whole step within a few hundred MB. The split weighs a missed duplicate
19 times a false candidate (about 95% of pairs at the threshold become candidates), because
every candidate is then verified with the exact Jaccard similarity of its shingle sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_SEED = 1


@lru_cache(maxsize=8)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's ``MinHashLSH`` would choose for ``threshold``."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.05, 0.95)


def _shingles(text: str, n: int) -> list[bytes]:
    t = text.lower()
    if len(t) <= n:
        return [t.encode("utf-8")]
    return [t[i:i + n].encode("utf-8") for i in range(len(t) - n + 1)]


def signatures(texts: Iterable[str], *, num_perm: int = 128, ngram: int = 5, n: int | None = None) -> np.ndarray:
    """MinHash signatures (``uint32``, one row per text) of character ``ngram``-shingles."""
    from datasketch import MinHash

    texts = texts if n is not None else list(texts)
    size = n if n is not None else len(texts)  # type: ignore[arg-type]
    proto = MinHash(num_perm=num_perm, seed=_SEED)
    perms = proto.permutations
    out = np.empty((size, num_perm), dtype=np.uint32)
    for i, text in enumerate(texts):
        m = MinHash(num_perm=num_perm, seed=_SEED, permutations=perms, scheme=proto.scheme)
        m.update_batch(_shingles(text, ngram))
        out[i] = m.hashvalues
    return out


def _band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per row and band (``n x bands``): equal band slices give equal keys."""
    rng = np.random.default_rng(12345)
    mult = rng.integers(1, 2**63 - 1, size=rows, dtype=np.uint64) | np.uint64(1)
    keys = np.empty((len(sig), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            block = sig[:, b * rows:(b + 1) * rows].astype(np.uint64)
            h = (block * mult).sum(axis=1, dtype=np.uint64)
            h ^= h >> np.uint64(31)
            keys[:, b] = h * np.uint64(0x9E3779B97F4A7C15)
    return keys


# Candidates whose signature estimate is this far below the threshold are not checked exactly
# (the estimate's standard error at 128 permutations is about 0.035).
SLACK = 0.15


def candidate_pairs(sig: np.ndarray, threshold: float, *, max_bucket: int = 64,
                    split_at: int | None = None) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, sharing at least one LSH band bucket (unverified).

    Buckets up to ``max_bucket`` rows give all their pairs. Larger ones (a template repeated
    thousands of times) are swept with representatives: each member is paired with the first
    representative whose signature estimate is within ``SLACK`` of the threshold, which keeps
    the count near-linear and links every close member. With ``split_at``, only pairs with
    ``i < split_at <= j`` are made (rows of two sets compared with each other, not within).
    """
    bands, rows = lsh_params(threshold, sig.shape[1])
    keys = _band_keys(sig, bands, rows)
    pairs = []
    for b in range(bands):
        k = keys[:, b]
        order = np.argsort(k, kind="stable")
        sk = k[order]
        starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
        sizes = np.diff(np.r_[starts, len(sk)])
        two = starts[sizes == 2]
        if len(two):
            pairs.append(np.stack([order[two], order[two + 1]], axis=1))
        for st, size in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist(), strict=True):
            members = np.sort(order[st:st + size])
            if split_at is not None:
                pairs.extend(_cross_bucket_pairs(members, sig, threshold, split_at))
            elif size <= max_bucket:
                i, j = np.triu_indices(size, 1)
                pairs.append(np.stack([members[i], members[j]], axis=1))
            else:
                pairs.extend(_swept_bucket_pairs(members, sig, threshold))
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    allp = np.concatenate(pairs).astype(np.int64)
    allp.sort(axis=1)
    allp = np.unique(allp, axis=0)
    if split_at is not None:
        allp = allp[(allp[:, 0] < split_at) & (allp[:, 1] >= split_at)]
    return allp


def _swept_bucket_pairs(members: np.ndarray, sig: np.ndarray, threshold: float) -> list[np.ndarray]:
    out = []
    remaining = members
    while len(remaining) > 1:
        rep, rest = remaining[0], remaining[1:]
        close = (sig[rest] == sig[rep]).mean(axis=1) >= threshold - SLACK
        if close.any():
            out.append(np.stack([np.full(int(close.sum()), rep), rest[close]], axis=1))
        remaining = rest[~close]
    return out


def _cross_bucket_pairs(members: np.ndarray, sig: np.ndarray, threshold: float, split_at: int) -> list[np.ndarray]:
    left, right = members[members < split_at], members[members >= split_at]
    out = []
    for r in right.tolist():
        close = left[(sig[left] == sig[r]).mean(axis=1) >= threshold - SLACK] if len(left) else left
        if len(close):
            out.append(np.stack([close, np.full(len(close), r)], axis=1))
    return out


def verify(texts: Sequence[str], sig: np.ndarray, pairs: np.ndarray, threshold: float,
           ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the pairs whose exact shingle Jaccard reaches ``threshold`` (signature estimate first)."""
    if not len(pairs):
        return pairs.reshape(0, 2), np.empty(0, dtype=np.float32)
    pairs = pairs[jaccard_estimate(sig, pairs) >= threshold - SLACK]
    sim = np.array([exact_jaccard(texts[i], texts[j], ngram) for i, j in pairs.tolist()], dtype=np.float32)
    keep = sim >= threshold
    return pairs[keep], sim[keep]


def jaccard_estimate(sig: np.ndarray, pairs: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Jaccard similarity estimated from the signatures (fraction of equal hash values)."""
    out = np.empty(len(pairs), dtype=np.float32)
    for s in range(0, len(pairs), chunk):
        p = pairs[s:s + chunk]
        out[s:s + chunk] = (sig[p[:, 0]] == sig[p[:, 1]]).mean(axis=1)
    return out


@dataclass
class NearDuplicates:
    """Verified near-duplicate pairs ``(i, j)`` (positions, ``i < j``), their exact Jaccard, and
    the signatures they were found with.

    The pairs link every cluster of near duplicates, but inside a large cluster (an LSH bucket
    of more than 64 rows, e.g. a repeated template) they are pairs to representatives, not
    every pair: count clusters with ``clusters()``, not pairs.
    """

    pairs: np.ndarray
    similarity: np.ndarray
    sig: np.ndarray | None = None

    def clusters(self, n: int) -> np.ndarray:
        """Connected components: for each position, the smallest position of its cluster."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        if not len(self.pairs):
            return np.arange(n)
        g = coo_matrix((np.ones(len(self.pairs)), (self.pairs[:, 0], self.pairs[:, 1])), shape=(n, n))
        _, comp = connected_components(g, directed=False)
        first = np.full(comp.max() + 1, n, dtype=np.int64)
        np.minimum.at(first, comp, np.arange(n))
        return first[comp]


def find_near_duplicates(texts: Sequence[str], *, threshold: float = 0.8, num_perm: int = 128,
                         ngram: int = 5, sig: np.ndarray | None = None) -> NearDuplicates:
    """Near-duplicate pairs among ``texts``: LSH candidates verified by exact shingle Jaccard."""
    if sig is None:
        sig = signatures(texts, num_perm=num_perm, ngram=ngram)
    pairs, sim = verify(texts, sig, candidate_pairs(sig, threshold), threshold, ngram)
    return NearDuplicates(pairs, sim, sig)


def exact_jaccard(a: str, b: str, ngram: int = 5) -> float:
    """Jaccard similarity of the two texts' shingle sets (the quantity MinHash estimates)."""
    sa, sb = set(_shingles(a, ngram)), set(_shingles(b, ngram))
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def cross_near_duplicates(a: Sequence[str], b: Sequence[str], *, threshold: float = 0.8, num_perm: int = 128,
                          ngram: int = 5) -> NearDuplicates:
    """Near-duplicate pairs ``(i, j)`` with ``a[i]`` similar to ``b[j]`` (pairs inside ``a`` or ``b`` are skipped)."""
    texts = list(a) + list(b)
    sig = signatures(texts, num_perm=num_perm, ngram=ngram)
    pairs, sim = verify(texts, sig, candidate_pairs(sig, threshold, split_at=len(a)), threshold, ngram)
    if len(pairs):
        pairs = np.stack([pairs[:, 0], pairs[:, 1] - len(a)], axis=1)
    return NearDuplicates(pairs, sim)
