"""torch.compile on the fine-tuning step: eager vs compiled, same model, data and batches.

The packaged all-MiniLM-L6-v2 takes full fine-tuning steps (forward, backward, clipping, fused
AdamW) on length-grouped batches of the packaged tweets with dynamic padding, as justfit's loop
does, so batch shapes vary from step to step. The compiled job wraps the model in
``torch.compile`` (inductor; ``--dynamic`` as torch's ``dynamic`` argument: unset lets torch
recompile with dynamic shapes once it has seen a second shape). Each job runs in its own
subprocess; the batches are the same for both. The compiled job gets an empty inductor cache
(``TORCHINDUCTOR_CACHE_DIR`` in a temporary folder) unless ``--warm-cache``: a first compile is
what a user's first run pays, later runs of the same shapes reuse the cache. Reported: the seconds of the first steps (the
compiled job compiles in them), the median seconds per step after them, the total, and the
ratio of the medians (eager / compiled: above 1 means compiling speeds the step up).

    python bench/compile.py                      # 60 batches of 32, fp32
    python bench/compile.py --steps 120 --batch-size 16 --dynamic true
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WARM = 10  # steps left out of the median (compilation, first-shape costs)


def worker(args) -> None:
    import random

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from justfit.data.io import load_table
    from justfit.models.factory import default_model_path

    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    frame = load_table("tweets").frame.iloc[: args.steps * args.batch_size]
    texts, labels = frame["text"].tolist(), frame["label"].astype("category").cat.codes.tolist()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    random.Random(0).shuffle(batches)
    encoded = [(tok([texts[i] for i in b], padding=True, truncation=True, max_length=128, return_tensors="pt"),
                torch.tensor([labels[i] for i in b])) for b in batches]
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    dynamic = {"true": True, "false": False, "auto": None}[args.dynamic]
    fwd = torch.compile(model, dynamic=dynamic) if args.worker == "compiled" else model
    times = []
    t_all = time.perf_counter()
    for enc, y in encoded:
        t = time.perf_counter()
        fwd(**enc, labels=y).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    steady = sorted(times[WARM:])
    print("RESULT " + json.dumps({"total": time.perf_counter() - t_all, "first": sum(times[:WARM]),
                                  "median": steady[len(steady) // 2], "steps": len(times)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="training steps per job")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--dynamic", choices=["auto", "true", "false"], default="auto",
                    help="torch.compile's dynamic argument (auto: unset)")
    ap.add_argument("--warm-cache", action="store_true",
                    help="keep torch's inductor cache (compiled kernels of earlier runs are reused)")
    ap.add_argument("--worker", choices=["eager", "compiled"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    import torch
    from _common import run_job  # bench/ is on sys.path when a benchmark runs as a script

    res = {}
    cache = tempfile.TemporaryDirectory()
    for job in ("eager", "compiled"):
        if job == "compiled" and not args.warm_cache:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name
        res[job] = run_job([sys.executable, __file__, "--worker", job, "--steps", str(args.steps),
                            "--batch-size", str(args.batch_size), "--dynamic", args.dynamic], job)
    print(f"\n{args.steps} steps of {args.batch_size} tweets, fp32, torch {torch.__version__}, "
          f"{os.cpu_count()} cores, dynamic={args.dynamic}, {'warm' if args.warm_cache else 'empty'} "
          "inductor cache\n")
    print(f"{'job':10s} {f'first {WARM} steps s':>17s} {'median step s':>14s} {'total s':>8s} {'load':>5s}")
    for job, r in res.items():
        print(f"{job:10s} {r['first']:17.1f} {r['median']:14.3f} {r['total']:8.1f} {r['load']:5.2f}")
    print(f"\nsteady-state ratio eager / compiled: {res['eager']['median'] / res['compiled']['median']:.2f} "
          f"(above 1: compiling helps); compiling cost {res['compiled']['first'] - res['eager']['first']:.0f} s "
          "more in the first steps")
    cache.cleanup()


if __name__ == "__main__":
    main()
