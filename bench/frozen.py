"""Head-only fine-tuning: the seed's recipe (frozen backbone recomputed every batch) vs justfit's cached path.

The seed tutorial freezes BERT and trains only a new classification head, but runs the
frozen backbone again on every batch of every epoch. The peer is that loop written plainly in
PyTorch: ``AutoModelForSequenceClassification`` (the packaged all-MiniLM-L6-v2) with every
``model.base_model`` parameter frozen, AdamW (lr 1e-3, weight decay 0.01) on the head only,
batch 32, a shuffled ``DataLoader`` with ``DataCollatorWithPadding``, ``model.train()`` each
epoch (dropout on) and a validation-accuracy pass after every epoch, as a user would.

justfit runs ``Finetuner(config={"model": {"freeze": "backbone"}, ...}).fit(train, X_val=val)``
with the same epochs, lr, batch size and precision (early stopping off, justfit's defaults
otherwise: linear schedule with 10% warmup, clipping 1.0, best weights by validation loss
restored). With the whole backbone frozen it computes the backbone's features once (an
on-disk cache) and trains the head on them. The timed justfit run starts from a fresh, empty
cache folder, so computing the features is part of its time; a second run reading the same
cache back ("warm cache") is reported as an extra row.

Each job runs in its own subprocess (so peak RSS is that job's alone). Timed span, the same
for all: texts in memory -> trained model (model loading and tokenising included). After the
clock stops, the trained model is scored on the validation split and on a held-out test split
(accuracy and macro-F1). Precision is justfit's ``bf16: auto`` decision for this machine
(fp32 where bf16 is not fast), used by both.

    python bench/frozen.py                     # 2000 training rows, 500 validation, 500 test, 10 epochs
    python bench/frozen.py --rows 1000 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LR, BATCH, EVAL_BATCH, WEIGHT_DECAY, MAX_LENGTH = 1e-3, 32, 64, 0.01, 128


def data(rows: int, seed: int = 0):
    """Stratified sample of the packaged tweets: ``rows`` training rows and rows/4 each for validation and test."""
    from justfit.data.io import load_table
    from justfit.data.splitting import split, stratified_sample

    frame = stratified_sample(load_table("tweets").frame, int(rows * 1.5) + 1, seed)
    s = split(frame, val_size=1 / 6, test_size=1 / 6, seed=seed)
    return s.train, s.validation, s.test


def scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(y_true, y_pred)), "macro_f1": float(f1_score(y_true, y_pred, average="macro"))}


def run_justfit(args) -> dict:
    from justfit import Finetuner

    train, val, test = data(args.rows)
    ft = Finetuner(config={
        "data": {"max_length": MAX_LENGTH},
        "model": {"freeze": "backbone"},
        "training": {"epochs": args.epochs, "lr": LR, "batch_size": BATCH, "eval_batch_size": EVAL_BATCH,
                     "weight_decay": WEIGHT_DECAY, "bf16": args.bf16, "train_eval_samples": 0, "seed": 0},
        "early_stopping": {"enabled": False},
        "quality": {"cache_dir": args.cache_dir},
    })
    t0 = time.perf_counter()
    ft.fit(train, X_val=val)
    seconds = time.perf_counter() - t0
    cache = ft.feature_cache_
    return {"seconds": seconds, "train_rows": len(train), "bf16": bool(ft.bf16_),
            "cache_hit": bool(cache.get("train", {}).get("cache_hit")),
            "feature_seconds": sum(cache.get(k, {}).get("seconds", 0.0) for k in ("train", "val")),
            "best_epoch": ft.best_epoch_, "last_epoch_val_accuracy": ft.history_[-1]["val_accuracy"],
            "val": scores(val["label"].tolist(), ft.predict(val["text"].tolist()).tolist()),
            "test": scores(test["label"].tolist(), ft.predict(test["text"].tolist()).tolist())}


def run_peer(args) -> dict:
    import contextlib

    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    from justfit.models.factory import default_model_path

    transformers.logging.set_verbosity_error()
    train, val, test = data(args.rows)
    labels = sorted(set(train["label"]))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

    t0 = time.perf_counter()
    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    for p in model.base_model.parameters():
        p.requires_grad = False
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR,
                                  weight_decay=WEIGHT_DECAY)
    collator = DataCollatorWithPadding(tok)

    def encode(frame):
        enc = tok(frame["text"].tolist(), truncation=True, max_length=MAX_LENGTH)
        return [{**{k: v[i] for k, v in enc.items()}, "labels": labels.index(y)} for i, y in enumerate(frame["label"])]

    def predict(rows):
        model.eval()
        preds = []
        with torch.no_grad(), autocast:
            for batch in torch.utils.data.DataLoader(rows, batch_size=EVAL_BATCH, collate_fn=collator):
                batch.pop("labels")
                preds += model(**batch).logits.argmax(-1).tolist()
        return preds

    train_rows, val_rows = encode(train), encode(val)
    loader = torch.utils.data.DataLoader(train_rows, batch_size=BATCH, shuffle=True, collate_fn=collator,
                                         generator=torch.Generator().manual_seed(0))
    val_codes = [r["labels"] for r in val_rows]
    history = []
    for _ in range(args.epochs):
        model.train()
        for batch in loader:
            with autocast:
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        pred = predict(val_rows)
        history.append(sum(int(a == b) for a, b in zip(pred, val_codes, strict=True)) / len(val_codes))
    seconds = time.perf_counter() - t0

    test_pred = [labels[i] for i in predict(encode(test))]
    return {"seconds": seconds, "train_rows": len(train), "bf16": args.bf16, "best_epoch": None,
            "last_epoch_val_accuracy": history[-1],
            "val": scores(val["label"].tolist(), [labels[i] for i in predict(val_rows)]),
            "test": scores(test["label"].tolist(), test_pred)}


def worker(args) -> None:
    import torch

    torch.manual_seed(0)
    res = (run_justfit if args.worker == "justfit" else run_peer)(args)
    res["threads"] = torch.get_num_threads()
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(res))


def job(who: str, args, bf16: bool, cache_dir: str = "") -> dict:
    cmd = [sys.executable, __file__, "--worker", who, "--rows", str(args.rows), "--epochs", str(args.epochs),
           "--cache-dir", cache_dir] + (["--bf16"] if bf16 else [])
    from _common import run_job  # bench/ is on sys.path when a benchmark runs as a script

    return run_job(cmd, who)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000, help="training rows (validation and test get rows/4 each)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--worker", choices=["justfit", "peer"], help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    from justfit.training.runtime import resolve_bf16

    bf16 = resolve_bf16("auto")
    print(f"precision: {'bf16' if bf16 else 'fp32'} (justfit's bf16: auto on this machine: "
          f"{'fast bf16 found' if bf16 else 'no AMX / AVX512-BF16 / bf16 GPU, so bf16 would be emulated'})",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="justfit-frozen-bench-") as cache:
        peer = job("peer", args, bf16)
        cold = job("justfit", args, bf16, cache)  # fresh, empty cache: features computed inside the timed span
        warm = job("justfit", args, bf16, cache)  # same cache, read back
    if cold["cache_hit"] or not warm["cache_hit"]:
        sys.exit(f"unexpected cache state: cold hit={cold['cache_hit']}, warm hit={warm['cache_hit']}")

    print(f"\nMiniLM-L6, frozen backbone, head only: {peer['train_rows']} training rows x {args.epochs} epochs, "
          f"batch {BATCH}, lr {LR:g}, {'bf16' if bf16 else 'fp32'}, torch threads {peer['threads']}\n")
    print(f"{'run':24s} {'seconds':>8s} {'ratio':>6s} {'peak RSS MB':>11s}  {'val acc':>7s}  {'test acc':>8s}  "
          f"{'test macro-F1':>13s}  {'load':>4s}")
    for name, r in (("peer (seed's recipe)", peer), ("justfit (fresh cache)", cold), ("justfit (warm cache)", warm)):
        print(f"{name:24s} {r['seconds']:8.1f} {peer['seconds'] / r['seconds']:6.2f} {r['peak_rss_mb']:11.0f}  "
              f"{r['val']['accuracy']:7.3f}  {r['test']['accuracy']:8.3f}  {r['test']['macro_f1']:13.3f}  "
              f"{r['load']:4.1f}")
    print(f"\nratio = peer seconds / run seconds; load = mean 1-minute load average of the machine during the job "
          f"({os.cpu_count()} cores). justfit computed the backbone features in "
          f"{cold['feature_seconds']:.1f} s (fresh cache) and read them back in {warm['feature_seconds']:.2f} s (warm).")
    print(f"val acc = the returned model on the validation split (justfit restores its best epoch by validation "
          f"loss: epoch {cold['best_epoch']}; its last epoch "
          f"scored {cold['last_epoch_val_accuracy']:.3f}; the peer keeps its last epoch).")


if __name__ == "__main__":
    main()
