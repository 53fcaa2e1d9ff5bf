"""Fine-tuning throughput: justfit vs Hugging Face ``Trainer``, same model, data and settings.

Both fine-tune the packaged all-MiniLM-L6-v2 on the same rows of the packaged tweet corpus,
with the same batch size, epochs, learning rate, schedule, weight decay, clipping and
precision, and both evaluate the validation split once per epoch. Each measurement runs in
its own subprocess (so peak memory is that job's alone); the timed span is the same for
both: from texts in memory to a trained model (tokenising and model loading included).

    python bench/throughput.py                 # fp32 and bf16, 2000 training rows, 1 epoch
    python bench/throughput.py --rows 4000 --epochs 2 --precision bf16
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def data(rows: int, seed: int = 0):
    from justfit.data.io import load_table
    from justfit.data.splitting import split, stratified_sample

    frame = stratified_sample(load_table("tweets").frame, int(rows / 0.8) + 1, seed)
    s = split(frame, val_size=0.2, test_size=0.05, seed=seed, need=("validation",))
    return s.train, s.validation


def run_justfit(args) -> dict:
    from justfit import Finetuner

    train, val = data(args.rows)
    ft = Finetuner(config={
        "data": {"max_length": args.max_length},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "eval_batch_size": 64, "lr": args.lr,
                     "bf16": args.precision == "bf16", "train_eval_samples": 0, "warmup_ratio": 0.1,
                     "weight_decay": 0.01, "max_grad_norm": 1.0, "seed": 0},
        "early_stopping": {"enabled": False},
    })
    t0 = time.perf_counter()
    ft.fit(train, X_val=val)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "val_accuracy": ft.history_[-1]["val_accuracy"], "train_rows": len(train)}


def run_hf(args) -> dict:
    import tempfile

    import numpy as np
    import transformers
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from justfit.models.factory import default_model_path

    transformers.logging.set_verbosity_error()
    train, val = data(args.rows)
    labels = sorted(set(train["label"]))
    t0 = time.perf_counter()
    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))

    def encode(frame):
        ds = Dataset.from_dict({"text": frame["text"].tolist(), "label": [labels.index(x) for x in frame["label"]]})
        return ds.map(lambda b: tok(b["text"], truncation=True, max_length=args.max_length), batched=True,
                      remove_columns=["text"])

    def accuracy(p):
        return {"accuracy": float((np.argmax(p.predictions, 1) == p.label_ids).mean())}

    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
            num_train_epochs=args.epochs, learning_rate=args.lr, warmup_steps=0.1, weight_decay=0.01,
            max_grad_norm=1.0, lr_scheduler_type="linear", bf16=args.precision == "bf16", use_cpu=True,
            eval_strategy="epoch", save_strategy="no", logging_strategy="no", report_to="none", seed=0,
            disable_tqdm=True, dataloader_num_workers=0)
        trainer = Trainer(model=model, args=targs, train_dataset=encode(train), eval_dataset=encode(val),
                          data_collator=DataCollatorWithPadding(tok), compute_metrics=accuracy)
        trainer.train()
        seconds = time.perf_counter() - t0
        acc = trainer.evaluate()["eval_accuracy"]
    return {"seconds": seconds, "val_accuracy": acc, "train_rows": len(train)}


def worker(args) -> None:
    import torch

    torch.manual_seed(0)
    res = (run_justfit if args.worker == "justfit" else run_hf)(args)
    res["samples_per_s"] = res["train_rows"] * args.epochs / res["seconds"]
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000, help="training rows")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--precision", choices=["fp32", "bf16", "both"], default="both")
    ap.add_argument("--worker", choices=["justfit", "hf"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.precision = args.precision if args.precision != "both" else "fp32"
        return worker(args)

    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    rows = []
    for prec in precisions:
        res = {}
        for who in ("hf", "justfit"):
            cmd = [sys.executable, __file__, "--worker", who, "--precision", prec, "--rows", str(args.rows),
                   "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
                   "--max-length", str(args.max_length)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{who} {prec} failed:\n{out.stderr[-3000:]}")
            res[who] = json.loads(line[7:])
        rows.append((prec, res))

    print(f"\nMiniLM-L6 fine-tuning, {args.rows} training rows x {args.epochs} epoch(s), batch {args.batch_size}, "
          f"max_length {args.max_length}, lr {args.lr}, torch threads {os.cpu_count()} cores\n")
    head = f"{'precision':9s} {'peer':>22s} {'justfit':>22s} {'ratio':>6s}  {'peak RSS MB (HF / justfit)':>26s}  val acc (HF / justfit)"
    print(head)
    for prec, r in rows:
        hf, jf = r["hf"], r["justfit"]
        ratio = jf["samples_per_s"] / hf["samples_per_s"]
        print(f"{prec:9s} {hf['samples_per_s']:12.1f} samples/s {jf['samples_per_s']:12.1f} samples/s {ratio:6.2f}  "
              f"{hf['peak_rss_mb']:12.0f} / {jf['peak_rss_mb']:<12.0f}  {hf['val_accuracy']:.3f} / {jf['val_accuracy']:.3f}")
    print("\npeer = Hugging Face transformers.Trainer (defaults: no length grouping), ratio = justfit / peer")


if __name__ == "__main__":
    main()
