"""The evidence behind ``justfit.defaults.TABLE``: candidate settings per model family, across training sizes.

For one packaged set (its family's model), each candidate setting is trained with every seed at every size,
the rest of the configuration left at justfit's defaults (so each row changes one thing); the table gives the
test metric's mean ± std over the seeds, the seconds per candidate (all seeds) and the epochs trained. The
rows are split by ``bench/quality.py``'s ``splits`` (justfit's splitter with seed 0, training sampled
stratified to the size, validation to ``--val-rows``, the whole test split), so the numbers read beside
that suite's.

Families and their sets: ``text-encoder`` (tweets, the packaged all-MiniLM-L6-v2, test macro-F1),
``conv-net`` (mnist, EfficientNet-Lite0, test accuracy), ``whisper`` (keywords, Whisper tiny.en's encoder,
test accuracy).

A candidate is ``key=value[,key=value]`` over config keys (``training.lr=2e-4``, ``model.freeze=backbone``);
``default`` is justfit's own defaults for the family.

    python bench/defaults.py --family text-encoder --sizes 250 2000 \\
        --candidates default training.lr=5e-5 training.lr=2e-4
    python bench/defaults.py --family whisper --sizes 250 --candidates default training.lr=3e-4
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
sys.path.insert(0, os.path.dirname(__file__))

# family -> (quality.py's task, the model, test metric)
FAMILIES = {"text-encoder": ("tweets", None, "f1_macro"), "conv-net": ("mnist", "efficientnet-lite0", "accuracy"),
            "whisper": ("keywords", "whisper-tiny-en", "accuracy")}


def parse_candidate(text: str) -> dict[str, object]:
    """``"training.lr=2e-4,model.freeze=backbone"`` -> ``{"training.lr": 2e-4, "model.freeze": "backbone"}``;
    ``"default"`` -> ``{}``."""
    if text == "default":
        return {}
    out: dict[str, object] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if "." not in key or not value:
            raise SystemExit(f"candidate {text!r}: give key=value pairs such as training.lr=2e-4")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run_worker(args) -> dict:
    """Train one candidate at one size with every seed; the test scores, epochs and seconds."""
    from quality import write_files

    from justfit import finetune

    task, model, metric = FAMILIES[args.family]
    changes = parse_candidate(args.candidate)
    ns = argparse.Namespace(task=task, train_rows=args.size, val_rows=args.val_rows)
    scores, epochs, facts = [], [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        paths = write_files(ns, out)
        from quality import TASKS

        for seed in args.seeds:
            cfg: dict = {"task": TASKS[task][0], "data": paths, "quality": {"label_noise": "off"},
                         "training": {"seed": seed}, "output": {"dir": os.path.join(out, "runs"), "name": str(seed)}}
            if model:
                cfg["model"] = {"name": model}
            for key, value in changes.items():
                section, name = key.split(".", 1)
                cfg.setdefault(section, {})[name] = value
            result = finetune(cfg)
            scores.append(float(result.metrics[metric]))
            epochs.append(len(result.history))
            facts.append({"bf16": result.data.get("bf16"), "rows": result.data.get("sizes"),
                          "best_epoch": result.best_epoch, "verdict": result.verdict,
                          "defaults": {k: v["value"] for k, v in (result.data.get("defaults") or {}).get("keys", {}).items()}})
    return {"scores": scores, "epochs": epochs, "seconds": time.perf_counter() - t0, "facts": facts}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--family", required=True, choices=list(FAMILIES))
    p.add_argument("--sizes", type=int, nargs="+", default=[250, 2000], help="training rows sampled")
    p.add_argument("--candidates", nargs="+", default=["default"])
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    p.add_argument("--val-rows", type=int, default=250)
    p.add_argument("--out", default=None, help="write the results as JSON here (after every row)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--candidate", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    for c in args.candidates:
        parse_candidate(c)  # a malformed candidate fails before anything trains
    if args.worker:
        from _common import report

        return report(run_worker(args))
    from _common import machine, run_job
    from quality import summary

    rows = []
    for size in args.sizes:
        for candidate in args.candidates:
            r = run_job([sys.executable, __file__, "--family", args.family, "--worker", "--size", str(size),
                         "--candidate", candidate, "--val-rows", str(args.val_rows), "--seeds", *map(str, args.seeds)],
                        f"{candidate} at {size}")
            rows.append({"size": size, "candidate": candidate, **r, "test": summary(r["scores"])})
            t = rows[-1]["test"]
            print(f"{args.family} {size:5d} rows  {candidate:28s} {t['mean']:.4f} ± {t['std']:.4f}  "
                  f"({', '.join(f'{v:.4f}' for v in t['values'])})  epochs {r['epochs']}  {r['seconds']:.0f} s  "
                  f"{'bf16' if r['facts'][0]['bf16'] else 'fp32'}  load {r['load']:.1f}", flush=True)
            if args.out:
                with open(args.out, "w") as f:
                    json.dump({"args": vars(args), "machine": machine(), "rows": rows}, f, indent=2)
    print(machine())


if __name__ == "__main__":
    main()
