"""Duplicate cleaning at scale: rows/s, memory, recall of ``clean()``; MinHash LSH vs exact all-pairs Jaccard.

Requirement under test: exact + near-duplicate detection over 1,000,000 short texts finishes
and stays within a few GB of memory (2-core, 24 GB machine).

Data: generated tweet-like texts (8-25 words drawn from a Zipf-weighted vocabulary of 20,000
generated words, ~90 characters on average, with occasional @mentions, #hashtags and end
punctuation; seeded numpy RNG).
About 5% of rows are planted exact copies of a random earlier original row (some with case or
whitespace changes), and about 5% are planted near copies (1-3 character substitutions,
insertions or deletions, or one swap of adjacent words). Copies keep the source's label, and
the generator keeps which row each copy copies.

1. Scale (``--sizes``, default 10k, 100k, 1M rows), each size in its own subprocess:
   ``clean(frame, rules=["normalize", "exact_duplicate", "near_duplicate"], check=False)``
   is timed from the DataFrame in memory to the report. Peak memory is the process's
   ``ru_maxrss``; the increase is measured from the resident size after imports and data
   generation (the kernel's peak-RSS mark is reset just before the call, where Linux allows it).
   Recall: planted exact copies removed by ``exact_duplicate``; planted near copies whose
   true Jaccard with their source (character 5-gram shingles, after normalisation) is at least
   the threshold, removed by either rule. Original rows removed are counted as false removals.
2. Peer (``--sample``, default 5,000 rows): the true set of pairs with Jaccard >= 0.8 from exact
   all-pairs Jaccard (the O(n^2) peer: a sparse shingle-incidence matrix, intersections
   ``A @ A.T``, in row blocks; and, unless ``--no-python-peer``, plain Python set intersections
   over all n(n-1)/2 pairs), against ``find_near_duplicates`` (MinHash LSH + exact verification)
   on the same normalised texts: recall, precision, time and speed ratio.

    python bench/cleaning.py                                # 10k, 100k, 1M rows and the 5k peer comparison
    python bench/cleaning.py --sizes 10000,100000 --sample 2000 --json out.json
    python bench/cleaning.py --sizes 0 --stages 100000      # where the time goes, stage by stage
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time

RULES = ["normalize", "exact_duplicate", "near_duplicate"]
LABELS = ["negative", "neutral", "positive"]
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
# English letter frequencies (%), so generated words have realistic shingle statistics.
_FREQ = [8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.77, 4.0, 2.4, 6.7, 7.5, 1.9, 0.1, 6.0, 6.3,
         9.1, 2.8, 0.98, 2.4, 0.15, 2.0, 0.07]


# ----------------------------------------------------------------------------- data
def vocabulary(rng, size: int = 20_000) -> list[str]:
    import numpy as np

    p = np.array(_FREQ) / sum(_FREQ)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        m = size * 2
        lengths = np.minimum(rng.poisson(3.2, m) + 2, 14)
        letters = rng.choice(26, size=(m, 14), p=p)
        for w, k in zip(letters.tolist(), lengths.tolist(), strict=True):
            s = "".join(_LETTERS[c] for c in w[:k])
            if s not in seen:
                seen.add(s)
                words.append(s)
                if len(words) == size:
                    break
    words[:100] = sorted(words[:100], key=len)  # the most frequent words are short, as in real text
    return words


def generate(n: int, seed: int = 0, exact_rate: float = 0.05, near_rate: float = 0.05):
    """Texts, labels, kind per row (0 original, 1 exact copy, 2 near copy), source row (-1 for originals)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    cdf = np.cumsum(weights / weights.sum())
    lengths = rng.integers(8, 26, n)
    ends = np.cumsum(lengths)
    ids = np.minimum(np.searchsorted(cdf, rng.random(int(ends[-1]))), len(vocab) - 1)
    words = np.array(vocab, dtype=object)[ids].tolist()
    del ids
    mention = (rng.random(n) < 0.08).tolist()
    hashtag = (rng.random(n) < 0.10).tolist()
    capital = (rng.random(n) < 0.5).tolist()
    punct = rng.choice(["", "", "", ".", "!", "?", "!!", " :)", "..."], n).tolist()
    user = rng.integers(0, 100_000, n).tolist()
    tag = rng.integers(0, 2000, n).tolist()
    starts = (ends - lengths).tolist()
    texts: list[str] = []
    for i, (s, e) in enumerate(zip(starts, ends.tolist(), strict=True)):
        t = " ".join(words[s:e])
        if capital[i]:
            t = t[0].upper() + t[1:]
        t += punct[i]
        if mention[i]:
            t = f"@user{user[i]} " + t
        if hashtag[i]:
            t += " #" + vocab[tag[i]]
        texts.append(t)
    del words

    u = rng.random(n)
    kind = np.where(u < exact_rate, 1, np.where(u < exact_rate + near_rate, 2, 0))
    kind[: min(n, 20)] = 0
    is_orig = kind == 0
    orig_pos = np.flatnonzero(is_orig)
    before = np.cumsum(is_orig) - is_orig  # originals strictly before each row
    source = np.full(n, -1, dtype=np.int64)
    copies = np.flatnonzero(~is_orig)
    source[copies] = orig_pos[(rng.random(len(copies)) * before[copies]).astype(np.int64)]
    label_ids = rng.choice(3, n, p=[0.4, 0.35, 0.25])
    label_ids[copies] = label_ids[source[copies]]
    labels = np.array(LABELS, dtype=object)[label_ids]

    for i in copies.tolist():
        src = texts[source[i]]
        texts[i] = _exact_variant(src, rng) if kind[i] == 1 else _near_variant(src, rng)
    return texts, labels, kind, source


def _exact_variant(t: str, rng) -> str:
    """The same text after normalisation: identical, or a case / whitespace change."""
    v = int(rng.integers(0, 6))
    if v == 1:
        return t.upper()
    if v == 2:
        return t.lower()
    if v == 3:
        return "  " + t + " \n"
    if v == 4:
        k = int(rng.integers(1, len(t)))
        return t[:k].replace(" ", "  \t", 1) + t[k:] if " " in t[:k] else t.replace(" ", "   ", 1)
    return t


def _near_variant(t: str, rng) -> str:
    """1-3 character edits (substitute, insert, delete), or one swap of adjacent words."""
    if rng.random() < 0.25:
        w = t.split(" ")
        k = int(rng.integers(0, len(w) - 1))
        w[k], w[k + 1] = w[k + 1], w[k]
        return " ".join(w)
    chars = list(t)
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(0, 3))
        k = int(rng.integers(0, len(chars)))
        if op == 0:
            old = chars[k].lower()
            shift = int(rng.integers(1, 26))
            chars[k] = _LETTERS[(_LETTERS.index(old) + shift) % 26] if old in _LETTERS else "x"
        elif op == 1:
            chars.insert(k, _LETTERS[int(rng.integers(0, 26))])
        elif len(chars) > 10:
            del chars[k]
    return "".join(chars)


def true_similarity(texts, kind, source, ngram: int = 5):
    """Exact shingle Jaccard of each planted near copy with its source, after normalisation (else NaN)."""
    import numpy as np

    from justfit.data.cleaning import normalize_text
    from justfit.tasks.text.minhash import exact_jaccard

    sim = np.full(len(texts), np.nan)
    for i in np.flatnonzero(kind == 2).tolist():
        sim[i] = exact_jaccard(normalize_text(texts[i]), normalize_text(texts[source[i]]), ngram)
    return sim


# ----------------------------------------------------------------------------- memory
def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so ru_maxrss covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- workers
def run_scale(args) -> dict:
    import numpy as np
    import pandas as pd

    from justfit.data.cleaning import clean

    n = args.worker_size
    t0 = time.perf_counter()
    texts, labels, kind, source = generate(n, args.seed)
    sim = true_similarity(texts, kind, source)
    frame = pd.DataFrame({"text": texts, "label": labels})
    del texts, labels
    gen_s = time.perf_counter() - t0
    gc.collect()
    peak_before = _maxrss_mb()
    reset = _reset_peak()
    base = _rss_mb() if reset else _maxrss_mb()

    t0 = time.perf_counter()
    rep = clean(frame, rules=RULES, check=False, near_threshold=args.threshold)
    seconds = time.perf_counter() - t0
    peak = _maxrss_mb()

    removed = rep.removed
    rule_of = np.zeros(n, dtype=np.int8)  # 0 kept, 1 exact rule, 2 near rule
    rows = removed["row"].to_numpy(dtype=np.int64)
    rule_of[rows] = np.where(removed["rule"].to_numpy() == "exact_duplicate", 1, 2)
    exact, near = kind == 1, (kind == 2) & (sim >= args.threshold)
    return {
        "rows": n, "seconds": seconds, "rows_per_s": n / seconds, "generate_s": gen_s,
        "baseline_rss_mb": base, "peak_rss_mb": max(peak, peak_before), "clean_peak_rss_mb": peak,
        "increase_mb": peak - base, "peak_reset": reset,
        "removed_exact": int(rep.counts.get("exact_duplicate", 0)),
        "removed_near": int(rep.counts.get("near_duplicate", 0)),
        "planted_exact": int(exact.sum()), "planted_near": int((kind == 2).sum()),
        "planted_near_above": int(near.sum()),
        "exact_recall": float((rule_of[exact] == 1).mean()) if exact.any() else float("nan"),
        "near_recall": float((rule_of[near] > 0).mean()) if near.any() else float("nan"),
        "near_below_removed": int((rule_of[(kind == 2) & (sim < args.threshold)] > 0).sum()),
        "false_removed": int((rule_of[kind == 0] > 0).sum()),
    }


def run_stages(args) -> dict:
    """The near-duplicate rule's stages one by one on exact-deduplicated texts, each with its peak memory."""
    import numpy as np
    import pandas as pd

    from justfit.data.cleaning import normalize_text
    from justfit.tasks.text.minhash import NearDuplicates, candidate_pairs, exact_jaccard, signatures

    n = args.worker_size
    texts, labels, _, _ = generate(n, args.seed)
    out: dict = {"rows": n}
    t0 = time.perf_counter()
    texts = [normalize_text(t) for t in texts]
    out["normalize_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    key = pd.Series(texts).str.lower() + "\x00" + pd.Series(labels).astype(str)
    _, first = np.unique(pd.factorize(key)[0], return_index=True)
    texts = [texts[i] for i in np.sort(first).tolist()]
    out["exact_s"] = time.perf_counter() - t0
    out["after_exact"] = len(texts)
    del key, labels
    gc.collect()

    def stage(name, fn):
        _reset_peak()
        base = _rss_mb()
        t = time.perf_counter()
        res = fn()
        out[name + "_s"] = time.perf_counter() - t
        out[name + "_mb"] = _maxrss_mb() - base
        return res

    sig = stage("signatures", lambda: signatures(texts))
    pairs = stage("candidates", lambda: candidate_pairs(sig, args.threshold))
    sim = stage("verify", lambda: np.array([exact_jaccard(texts[i], texts[j]) for i, j in pairs.tolist()],
                                            dtype=np.float32))
    keep = sim >= args.threshold
    stage("clusters", lambda: NearDuplicates(pairs[keep], sim[keep]).clusters(len(texts)))
    out["candidates"], out["verified"] = len(pairs), int(keep.sum())
    out["signature_mb"] = sig.nbytes / 2**20
    return out


def _shingle_sets(texts: list[str], ngram: int) -> list[set[str]]:
    """Character n-gram sets of the lower-cased text (the text itself when shorter), as in exact_jaccard."""
    out = []
    for text in texts:
        t = text.lower()
        out.append({t} if len(t) <= ngram else {t[i:i + ngram] for i in range(len(t) - ngram + 1)})
    return out


def peer_sparse(texts: list[str], threshold: float, ngram: int = 5, block: int = 500):
    """Pairs with Jaccard >= threshold: sparse shingle incidence A, intersections A @ A.T in row blocks."""
    import numpy as np
    from scipy.sparse import csr_matrix

    sets = _shingle_sets(texts, ngram)
    ids: dict[str, int] = {}
    indices = [ids.setdefault(s, len(ids)) for row in sets for s in row]
    indptr = np.r_[0, np.cumsum([len(s) for s in sets])]
    a = csr_matrix((np.ones(len(indices), dtype=np.int32), np.array(indices), indptr),
                   shape=(len(sets), len(ids)))
    size = np.diff(indptr).astype(np.float64)
    at = a.T.tocsc()
    found = []
    for s in range(0, len(sets), block):
        e = min(s + block, len(sets))
        inter = (a[s:e] @ at).toarray().astype(np.float64)
        jac = inter / (size[s:e, None] + size[None, :] - inter)
        i, j = np.nonzero(jac >= threshold)
        i = i + s
        upper = j > i
        found.append(np.stack([i[upper], j[upper], (jac[i[upper] - s, j[upper]])], axis=1))
    allp = np.concatenate(found)
    return allp[:, :2].astype(np.int64), allp[:, 2]


def peer_python(texts: list[str], threshold: float, ngram: int = 5) -> set[tuple[int, int]]:
    """All pairs with Jaccard >= threshold by Python set intersection over every pair."""
    sets = _shingle_sets(texts, ngram)
    sizes = [len(s) for s in sets]
    out = set()
    for i in range(len(sets)):
        si, ni = sets[i], sizes[i]
        for j in range(i + 1, len(sets)):
            k = len(si & sets[j])
            if k and k / (ni + sizes[j] - k) >= threshold:
                out.add((i, j))
    return out


def run_peer(args) -> dict:
    import numpy as np

    from justfit.data.cleaning import normalize_text
    from justfit.tasks.text.minhash import candidate_pairs, find_near_duplicates, signatures

    n, thr = args.worker_sample, args.threshold
    texts, _, _, _ = generate(n, args.seed + 1)
    texts = [normalize_text(t) for t in texts]

    t0 = time.perf_counter()
    nd = find_near_duplicates(texts, threshold=thr)
    lsh_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    true_pairs, true_sim = peer_sparse(texts, thr)
    sparse_s = time.perf_counter() - t0
    truth = set(map(tuple, true_pairs.tolist()))
    res: dict = {"rows": n, "lsh_s": lsh_s, "sparse_s": sparse_s, "true_pairs": len(truth)}
    if not args.no_python_peer:
        t0 = time.perf_counter()
        py = peer_python(texts, thr)
        res["python_s"] = time.perf_counter() - t0
        res["python_agrees"] = py == truth
    found = set(map(tuple, nd.pairs.tolist()))
    hit = np.array([tuple(p) in found for p in true_pairs.tolist()], dtype=bool)
    res["lsh_pairs"] = len(found)
    res["candidates"] = len(candidate_pairs(signatures(texts), thr))
    res["recall"] = float(hit.mean()) if len(hit) else float("nan")
    res["precision"] = len(found & truth) / len(found) if found else float("nan")
    buckets = {}
    for lo, hi, name in [(thr, 0.85, f"[{thr:.2f},0.85)"), (0.85, 0.9, "[0.85,0.90)"),
                         (0.9, 1.0, "[0.90,1.00)"), (1.0, 1.01, "1.00")]:
        m = (true_sim >= lo) & (true_sim < hi)
        buckets[name] = [int(hit[m].sum()), int(m.sum())]
    res["recall_by_jaccard"] = buckets
    return res


def _warm_up() -> None:
    """Import datasketch and fill the LSH parameter cache, so the first timed call pays no import."""
    from justfit.tasks.text.minhash import find_near_duplicates

    find_near_duplicates(["a warm-up text for the imports", "a warm-up text for the import"])


def worker(args) -> None:
    _warm_up()
    if args.worker_size and args.worker_stages:
        res = run_stages(args)
    elif args.worker_size:
        res = run_scale(args)
    else:
        res = run_peer(args)
    print("RESULT " + json.dumps(res))


# ----------------------------------------------------------------------------- driver
def _child(args, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--seed", str(args.seed), "--threshold", str(args.threshold), *extra]
    if args.no_python_peer:
        cmd.append("--no-python-peer")
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:.0f} s (--timeout)"}
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        why = "killed (out of memory?)" if out.returncode in (-9, 137) else f"exit {out.returncode}"
        return {"error": f"{why} after {time.perf_counter() - t0:.0f} s: {out.stderr.strip()[-600:]}"}
    return json.loads(line[7:])


def _sizes(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip() and float(x) > 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated row counts (0: none)")
    ap.add_argument("--sample", type=int, default=5000, help="rows for the all-pairs peer (0: skip)")
    ap.add_argument("--stages", default="", help="row counts for a stage-by-stage breakdown of the near rule")
    ap.add_argument("--threshold", type=float, default=0.8, help="near-duplicate Jaccard threshold")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=2400, help="seconds per size before timing out")
    ap.add_argument("--no-python-peer", action="store_true", help="skip the plain-Python all-pairs peer")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--worker-size", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker-sample", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker-stages", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker_size or args.worker_sample:
        return worker(args)

    results: dict = {"rules": RULES, "threshold": args.threshold, "cpus": os.cpu_count(), "scale": [],
                     "stages": [], "peer": None}
    print(f"\nclean(rules={RULES}), near_threshold {args.threshold}, {os.cpu_count()} CPUs, "
          "generated tweet-like texts with ~5% exact and ~5% near copies planted\n")
    sizes = _sizes(args.sizes)
    if sizes:
        print(f"{'rows':>9s} {'seconds':>8s} {'rows/s':>9s} {'peak RSS MB':>11s} {'increase MB':>11s} "
              f"{'exact rm':>8s} {'near rm':>8s} {'exact recall':>12s} {'near recall':>14s} {'false rm':>8s}")
    for n in sizes:
        r = _child(args, ["--worker-size", str(n)])
        results["scale"].append({"rows": n, **r})
        if "error" in r:
            print(f"{n:9d}  FAILED: {r['error']}")
            continue
        print(f"{n:9d} {r['seconds']:8.1f} {r['rows_per_s']:9.0f} {r['peak_rss_mb']:11.0f} "
              f"{r['increase_mb']:11.0f} "
              f"{r['removed_exact']:8d} {r['removed_near']:8d} {r['exact_recall']:12.4f} "
              f"{r['near_recall']:7.4f} ({r['planted_near_above']}) {r['false_removed']:8d}", flush=True)
    if sizes:
        print("\nincrease = peak RSS during clean() minus RSS after imports and data generation; near "
              "recall over planted\nnear copies with true Jaccard >= threshold (their count in brackets); "
              "false rm = original rows removed")

    for n in _sizes(args.stages):
        r = _child(args, ["--worker-size", str(n), "--worker-stages"])
        results["stages"].append({"rows": n, **r})
        if "error" in r:
            print(f"\nstages at {n} rows FAILED: {r['error']}")
            continue
        print(f"\nstages at {n} rows ({r['after_exact']} after exact dedup): "
              f"normalize {r['normalize_s']:.1f} s, exact {r['exact_s']:.1f} s")
        for name, extra in [("signatures", f"{r['signature_mb']:.0f} MB matrix"),
                            ("candidates", f"{r['candidates']} pairs"), ("verify", f"{r['verified']} kept"),
                            ("clusters", "")]:
            print(f"  {name:11s} {r[name + '_s']:8.2f} s  +{r[name + '_mb']:7.0f} MB  {extra}")

    if args.sample:
        r = _child(args, ["--worker-sample", str(args.sample)])
        results["peer"] = r
        if "error" in r:
            print(f"\npeer comparison FAILED: {r['error']}")
        else:
            n = r["rows"]
            pairs = n * (n - 1) // 2
            print(f"\nnear duplicates among {n} rows (Jaccard >= {args.threshold}), {pairs} pairs:")
            print(f"  exact all-pairs, sparse A @ A.T  {r['sparse_s']:8.2f} s  {r['true_pairs']} true pairs")
            if "python_s" in r:
                print(f"  exact all-pairs, Python sets     {r['python_s']:8.2f} s  "
                      f"(agrees with sparse: {r['python_agrees']})")
            print(f"  find_near_duplicates (LSH)       {r['lsh_s']:8.2f} s  {r['lsh_pairs']} pairs from "
                  f"{r['candidates']} candidates")
            vs_py = f", vs Python sets {r['python_s'] / r['lsh_s']:.1f}x" if "python_s" in r else ""
            print(f"  recall {r['recall']:.4f}, precision {r['precision']:.4f}, speed-up vs sparse "
                  f"{r['sparse_s'] / r['lsh_s']:.2f}x{vs_py}")
            print("  recall by true Jaccard: " + ", ".join(f"{k} {h}/{m}" for k, (h, m) in
                                                           r["recall_by_jaccard"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
