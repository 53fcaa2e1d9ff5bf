"""The per-word label audit against planted tag flips in the real WNUT-16 data (known answers).

Data: the packaged ``wnut`` set after justfit's cleaning rules (duplicates and conflicting copies
removed, tag sequences repaired), every split pooled. Features are the frozen MiniLM's
first-subword states of every word (``justfit.tasks.tagging.audit.word_features``), computed once:
flipping tags does not change the words.

A share ``--rates`` of the sentences that hold an entity gets one planted error, half of each kind:

* **type swapped**: one entity gets another entity type (``B-person I-person`` -> ``B-company I-company``);
* **boundary shifted**: one entity grows by a word on one side (when that word is ``O``) or loses
  its first or last word.

The audit (``find_token_issues``: 5 folds by sentence, logistic regression on each word with its
neighbours, ``cleanlab.token_classification``) flags sentences. Two protocols, because WNUT has
label noise of its own (at 0% planted the audit already flags many sentences, and those natural
suspects look like planted errors to any evaluation):

1. full corpus: precision = planted sentences among the flagged ones (every natural suspect counts
   as a false positive: pessimistic), recall = planted sentences flagged, per kind too;
   precision@k takes the first k flagged sentences by cleanlab's sentence label quality, k = the
   number planted;
2. audited core: the audit runs once at 0%, the sentences it flags are dropped, and the errors are
   planted in the rest (optimistic: the core is what this probe already agrees with).

Each rate is averaged over ``--seeds`` (the planting seed).

    python bench/token_audit.py                 # rates 0.05 0.1, 3 seeds
    python bench/token_audit.py --rates 0.05 --seeds 0
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def corpus() -> pd.DataFrame:
    """wnut after the cleaning rules, every split pooled: ``tokens``/``label``."""
    from justfit.config import JustfitConfig
    from justfit.data.stage import prepare_data

    cfg = JustfitConfig.from_dict({"data": {"path": "wnut"}, "quality": {"label_noise": "off", "leakage": "off"}})
    splits, _, _ = prepare_data(cfg)
    return pd.concat([splits.train, splits.validation, splits.test]).sort_index()[["tokens", "label"]]


def plant(frame: pd.DataFrame, rate: float, seed: int) -> tuple[pd.DataFrame, dict[int, str]]:
    """A copy of ``frame`` with one planted error in ``rate`` of its sentences that hold an entity."""
    from justfit.tasks.tagging.tags import Entity, entities, to_scheme

    rng = random.Random(seed)
    seqs = {row: lab.split() for row, lab in frame["label"].items()}
    types = sorted({e.type for s in seqs.values() for e in entities(s)})
    candidates = [row for row, s in seqs.items() if entities(s)]
    chosen = rng.sample(candidates, min(len(candidates), round(rate * len(frame))))
    out = frame.copy()
    kinds: dict[int, str] = {}
    for k, row in enumerate(chosen):
        tags = seqs[row]
        ents = entities(tags)
        e = rng.choice(ents)
        rest = [x for x in ents if x != e]
        options = []
        if k % 2:  # boundary
            n = len(tags)
            if e.end < n and tags[e.end] == "O":
                options.append(Entity(e.type, e.start, e.end + 1))
            if e.start > 0 and tags[e.start - 1] == "O":
                options.append(Entity(e.type, e.start - 1, e.end))
            if e.end - e.start > 1:
                options += [Entity(e.type, e.start, e.end - 1), Entity(e.type, e.start + 1, e.end)]
        if options:
            new, kinds[row] = rng.choice(options), "boundary"
        else:
            new, kinds[row] = Entity(rng.choice([t for t in types if t != e.type]), e.start, e.end), "type"
        out.at[row, "label"] = " ".join(to_scheme(sorted([*rest, new], key=lambda x: x.start), len(tags)))
    return out, kinds


def score(frame: pd.DataFrame, kinds: dict[int, str], feats: np.ndarray) -> dict:
    from justfit.tasks.tagging.audit import find_token_issues

    t0 = time.perf_counter()
    report = find_token_issues(frame, features=feats)
    seconds = time.perf_counter() - t0
    flagged = set(report.issues["row"])
    planted = set(kinds)
    hit = flagged & planted
    k = len(planted)
    top = list(report.issues["row"][:k])  # the flagged sentences, lowest sentence label quality first
    out = {"sentences": len(frame), "planted": k, "flagged": len(flagged), "flagged_share": len(flagged) / len(frame),
           "precision": len(hit) / max(len(flagged), 1), "recall": len(hit) / max(k, 1),
           "precision_at_k": len(set(top) & planted) / max(k, 1), "seconds": seconds,
           "probe_sentence_accuracy": report.oof_accuracy}
    for kind in ("type", "boundary"):
        rows = [r for r, v in kinds.items() if v == kind]
        out[f"recall_{kind}"] = sum(r in flagged for r in rows) / max(len(rows), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    from justfit.tasks.tagging.audit import find_token_issues, word_features

    frame = corpus()
    t0 = time.perf_counter()
    feats, info = word_features([list(t) for t in frame["tokens"]], None)
    print(f"wnut: {len(frame)} sentences, {len(feats)} words; features in {time.perf_counter() - t0:.1f} s "
          f"(cache hit: {info['cache_hit']}); {os.cpu_count()} cores", file=sys.stderr)
    base = find_token_issues(frame, features=feats)
    suspects = set(base.issues["row"])
    bounds = np.concatenate([[0], np.cumsum([len(t) for t in frame["tokens"]])])
    keep = [i for i, row in enumerate(frame.index) if row not in suspects]
    core = frame.iloc[keep]
    core_feats = np.concatenate([feats[bounds[i]:bounds[i + 1]] for i in keep])
    print(f"at 0% planted the audit flags {len(suspects)} of {len(frame)} sentences ({len(suspects) / len(frame):.0%})"
          f"; the audited core keeps {len(core)}", file=sys.stderr)
    cols = ["precision", "recall", "recall_type", "recall_boundary", "precision_at_k", "flagged_share", "seconds"]
    print(f"\n| protocol | planted | {' | '.join(cols)} |\n|" + "---|" * (len(cols) + 2))
    for protocol, data, fts in (("full corpus", frame, feats), ("audited core", core, core_feats)):
        for rate in args.rates:
            runs = [score(*plant(data, rate, seed), fts) for seed in args.seeds]
            cells = [f"{np.mean([r[c] for r in runs]):.3f} ± {np.std([r[c] for r in runs]):.3f}" for c in cols]
            print(f"| {protocol} | {rate:.0%} ({runs[0]['planted']}) | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
