"""Before and after a change that should not change results: every task's test metrics from two source trees.

Each registered task is fitted on a tiny random model and a small packaged set (the same seed, 2 epochs,
bf16 off), once from each tree, in a fresh process; every numeric test metric must agree within
``--tolerance`` (default 1e-6). A refactoring that moves code passes; one that changes a number fails
(exit 1) and the table names the metric.

    git worktree add /tmp/before <commit>
    python bench/same_metrics.py --before /tmp/before/src          # about 2.5 minutes on 2 cores

The keywords set needs espeak-ng (``make speech``); ``--tasks`` picks a subset.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CASES = {
    "classification": {"data": {"path": "tweets", "max_rows": 300}, "model": {"name": "tiny-bert-random"}},
    "regression": {"task": "regression", "data": {"path": "drugreview", "label_column": "usefulCount",
                                                  "max_rows": 300}, "model": {"name": "tiny-bert-random"}},
    "token-classification": {"data": {"path": "wnut", "max_rows": 300}, "model": {"name": "tiny-bert-random"}},
    "image-classification": {"data": {"path": "digits", "max_rows": 300}, "model": {"name": "tiny-vit-random"}},
    "audio-classification": {"data": {"path": "keywords", "max_rows": 200},
                             "model": {"name": "tiny-wav2vec2-random"}},
}

WORKER = """
import json, sys, tempfile, warnings
warnings.filterwarnings("ignore")
from justfit import finetune
cfg = json.loads(sys.argv[1])
with tempfile.TemporaryDirectory() as d:
    cfg = {**cfg, "training": {"epochs": 2, "bf16": False, "seed": 7}, "output": {"dir": d, "name": "r"},
           "quality": {"label_noise": "off"}}
    r = finetune(cfg)
    print(json.dumps({k: v for k, v in r.metrics.items() if isinstance(v, (int, float))}))
"""


def metrics_from(src: str, case: dict) -> dict[str, float]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=src)
    out = subprocess.run([sys.executable, "-c", WORKER, json.dumps(case)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the tree {src} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="the src folder of the older tree")
    ap.add_argument("--after", default=here, help="the src folder of the newer tree (default: this checkout's)")
    ap.add_argument("--tasks", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--tolerance", type=float, default=1e-6)
    args = ap.parse_args()
    failed = False
    print(f"{'task':22s} {'metric':26s} {'before':>14s} {'after':>14s}  same")
    for task in args.tasks:
        before, after = metrics_from(args.before, CASES[task]), metrics_from(args.after, CASES[task])
        for key in sorted(set(before) | set(after)):
            a, b = before.get(key), after.get(key)
            same = a is not None and b is not None and abs(a - b) <= args.tolerance
            failed |= not same
            print(f"{task:22s} {key:26s} {a!s:>14.14s} {b!s:>14.14s}  {'yes' if same else 'NO'}")
    print("every metric agrees" if not failed else "some metrics differ")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
