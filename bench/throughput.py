"""Fine-tuning throughput: justfit vs Hugging Face ``Trainer``, same model, data and settings.

Both fine-tune the packaged all-MiniLM-L6-v2 on the same rows of the packaged tweet corpus,
with the same batch size, epochs, learning rate, schedule, weight decay, clipping and
precision, and both evaluate the validation split once per epoch. Each measurement runs in
its own subprocess (so peak memory is that job's alone); the timed span is the same for
both: from texts in memory to a trained model (tokenising and model loading included).

Strategies: ``full`` fine-tunes every weight; ``lora`` trains rank-8 adapters (alpha 16,
dropout 0.1, on ``query`` and ``value``) and the head at ``--lora-lr``: justfit with
``{"model": {"strategy": "lora"}}`` (peft's defaults for BERT), the peer is ``Trainer`` on
``peft.get_peft_model(model, LoraConfig(task_type=SEQ_CLS, r=8, lora_alpha=16,
lora_dropout=0.1, target_modules=["query", "value"]))``.

Precision ``auto`` (the default) is justfit's ``bf16: auto`` decision for this machine:
bf16 where it is fast (AMX / AVX512-BF16 CPUs, bf16 GPUs), fp32 elsewhere (bf16 is emulated
there and far slower, which would measure the emulation, not the loop).

MFU (model FLOP utilisation) = achieved FLOP/s / peak FLOP/s. The peak is measured in the
same invocation, in its own subprocess with torch's default thread count (as the jobs):
the best of a few square matmuls (2048 and 3072) in the job's precision. Achieved FLOP/s =
training FLOPs / the job's timed seconds (the same span as samples/s, so loading, tokenising
and evaluation count as time but not as FLOPs: an end-to-end figure, a lower bound for
the training loop alone). Training FLOPs, counted over the real (unpadded) tokens of the
tokenised training set x epochs, the same for both jobs:

    full:  FLOPs = T x (6 N + 12 L h s)
    lora:  FLOPs = T x (4 N + 12 L h s)

T = training tokens x epochs, N = parameters of the transformer blocks (embeddings, pooler
and head excluded: lookups, or one token per text), L = layers, h = hidden size, s = mean
tokens per text (attention: QK^T and AV, 4 L h s per token forward, x3 with the backward).
With LoRA the frozen matrices get no weight gradient, so their backward is one matmul per
forward one (4 N, not 6 N); the adapters' own FLOPs (< 1%) are left out. Padding is not
counted, so a loop that pads less does the same counted work in less time.

    python bench/throughput.py                 # auto precision, full and LoRA, 2000 training rows, 1 epoch
    python bench/throughput.py --rows 4000 --epochs 2 --precision bf16 --strategy full
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
        "model": {"strategy": args.strategy},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "eval_batch_size": 64, "lr": lr(args),
                     "bf16": args.precision == "bf16", "train_eval_samples": 0, "warmup_ratio": 0.1,
                     "weight_decay": 0.01, "max_grad_norm": 1.0, "seed": 0},
        "early_stopping": {"enabled": False},
    })
    t0 = time.perf_counter()
    ft.fit(train, X_val=val)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "val_accuracy": ft.history_[-1]["val_accuracy"], "train_rows": len(train),
            "trainable_params": ft.params_["trainable_params"]}


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
    if args.strategy == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.1,
                                                 target_modules=["query", "value"]))

    def encode(frame):
        ds = Dataset.from_dict({"text": frame["text"].tolist(), "label": [labels.index(x) for x in frame["label"]]})
        return ds.map(lambda b: tok(b["text"], truncation=True, max_length=args.max_length), batched=True,
                      remove_columns=["text"])

    def accuracy(p):
        return {"accuracy": float((np.argmax(p.predictions, 1) == p.label_ids).mean())}

    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
            num_train_epochs=args.epochs, learning_rate=lr(args), warmup_steps=0.1, weight_decay=0.01,
            max_grad_norm=1.0, lr_scheduler_type="linear", bf16=args.precision == "bf16", use_cpu=True,
            eval_strategy="epoch", save_strategy="no", logging_strategy="no", report_to="none", seed=0,
            disable_tqdm=True, dataloader_num_workers=0)
        trainer = Trainer(model=model, args=targs, train_dataset=encode(train), eval_dataset=encode(val),
                          data_collator=DataCollatorWithPadding(tok), compute_metrics=accuracy)
        trainer.train()
        seconds = time.perf_counter() - t0
        acc = trainer.evaluate()["eval_accuracy"]
    return {"seconds": seconds, "val_accuracy": acc, "train_rows": len(train),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def lr(args) -> float:
    return args.lora_lr if args.strategy == "lora" else args.lr


def run_peak(args) -> dict:
    """Best matmul FLOP/s in the job's precision, and the training FLOPs of the job (same for both jobs)."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from justfit.models.factory import default_model_path

    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    best = 0.0
    for n in (2048, 3072):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # warm-up
        for _ in range(4):
            t0 = time.perf_counter()
            a @ b
            best = max(best, 2 * n ** 3 / (time.perf_counter() - t0))

    path = default_model_path()
    train, _ = data(args.rows)
    tok = AutoTokenizer.from_pretrained(path)
    lengths = [len(x) for x in tok(train["text"].tolist(), truncation=True, max_length=args.max_length)["input_ids"]]
    cfg = AutoConfig.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path).encoder  # the transformer blocks
    n_block = sum(p.numel() for p in encoder.parameters())
    layers, hidden, mean_len = cfg.num_hidden_layers, cfg.hidden_size, sum(lengths) / len(lengths)
    tokens = sum(lengths) * args.epochs
    attention = 12 * layers * hidden * mean_len
    return {"peak_flops": best, "threads": torch.get_num_threads(), "tokens": tokens, "mean_len": mean_len,
            "block_params": n_block,
            "flops": {"full": tokens * (6 * n_block + attention), "lora": tokens * (4 * n_block + attention)}}


def worker(args) -> None:
    import torch

    torch.manual_seed(0)
    if args.worker == "peak":
        print("RESULT " + json.dumps(run_peak(args)))
        return
    res = (run_justfit if args.worker == "justfit" else run_hf)(args)
    res["samples_per_s"] = res["train_rows"] * args.epochs / res["seconds"]
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(res))


def job(who: str, args, prec: str, strategy: str) -> dict:
    """Run one measurement in its own subprocess; also samples the machine's 1-minute load average."""
    cmd = [sys.executable, __file__, "--worker", who, "--precision", prec, "--strategy", strategy,
           "--rows", str(args.rows), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           "--lr", str(args.lr), "--lora-lr", str(args.lora_lr), "--max-length", str(args.max_length)]
    from _common import run_job  # bench/ is on sys.path when a benchmark runs as a script

    return run_job(cmd, f"{who} {prec} {strategy}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000, help="training rows")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5, help="learning rate of full fine-tuning")
    ap.add_argument("--lora-lr", type=float, default=5e-4, help="learning rate of LoRA")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--precision", choices=["fp32", "bf16", "both", "auto"], default="auto",
                    help="auto: bf16 where justfit's bf16: auto turns it on (fast bf16 hardware), else fp32")
    ap.add_argument("--strategy", choices=["full", "lora", "both"], default="both")
    ap.add_argument("--worker", choices=["justfit", "hf", "peak"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.precision = args.precision if args.precision in ("fp32", "bf16") else "fp32"
        args.strategy = args.strategy if args.strategy != "both" else "full"
        return worker(args)

    if args.precision == "auto":
        from justfit.training.runtime import resolve_bf16

        fast = resolve_bf16("auto")
        precisions = ["bf16"] if fast else ["fp32"]
        why = "fast bf16 found (AMX / AVX512-BF16 CPU or bf16 GPU)" if fast else \
            "no AMX / AVX512-BF16 / bf16 GPU here: bf16 would be emulated, so it is not measured"
        print(f"precision: {precisions[0]} (auto: {why})", flush=True)
    else:
        precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
        print(f"precision: {', '.join(precisions)} (as asked)", flush=True)
    strategies = ["full", "lora"] if args.strategy == "both" else [args.strategy]
    rows = []
    peaks = {}
    for prec in precisions:
        peaks[prec] = job("peak", args, prec, "full")
        for strategy in strategies:
            res = {who: job(who, args, prec, strategy) for who in ("hf", "justfit")}
            rows.append((prec, strategy, res))

    calib = peaks[precisions[0]]
    print(f"\nMiniLM-L6 fine-tuning, {args.rows} training rows x {args.epochs} epoch(s), batch {args.batch_size}, "
          f"max_length {args.max_length}, lr {args.lr} (full) / {args.lora_lr} (LoRA), "
          f"torch threads {calib['threads']} ({os.cpu_count()} cores)")
    print("matmul peak: " + ", ".join(f"{p} {peaks[p]['peak_flops'] / 1e9:.0f} GFLOP/s" for p in precisions)
          + f"; training tokens {calib['tokens']:,} (mean {calib['mean_len']:.1f} per text), "
          f"block parameters N = {calib['block_params']:,}\n")
    head = (f"{'precision':9s} {'strategy':8s} {'peer':>22s} {'MFU':>6s} {'justfit':>22s} {'MFU':>6s} {'ratio':>6s}  "
            f"{'peak RSS MB (HF / justfit)':>26s}  val acc (HF / justfit)")
    print(head)
    for prec, strategy, r in rows:
        hf, jf = r["hf"], r["justfit"]
        ratio = jf["samples_per_s"] / hf["samples_per_s"]
        flops, peak = peaks[prec]["flops"][strategy], peaks[prec]["peak_flops"]
        mfu = {who: flops / x["seconds"] / peak for who, x in r.items()}
        print(f"{prec:9s} {strategy:8s} {hf['samples_per_s']:12.1f} samples/s {mfu['hf']:6.1%} "
              f"{jf['samples_per_s']:12.1f} samples/s {mfu['justfit']:6.1%} {ratio:6.2f}  "
              f"{hf['peak_rss_mb']:12.0f} / {jf['peak_rss_mb']:<12.0f}  {hf['val_accuracy']:.3f} / {jf['val_accuracy']:.3f}")
    print("\npeer = Hugging Face transformers.Trainer (defaults: no length grouping), ratio = justfit / peer")
    print("MFU = training FLOPs (6N, LoRA 4N, + 12 L h s per token; real tokens) / timed seconds / matmul peak")
    print("trainable parameters (HF / justfit): " + "; ".join(
        f"{s} {r['hf']['trainable_params']:,} / {r['justfit']['trainable_params']:,}" for _, s, r in rows))
    print("mean 1-min load average during each job (HF / justfit): " + "; ".join(
        f"{p} {s} {r['hf']['load']:.1f} / {r['justfit']['load']:.1f}" for p, s, r in rows))


if __name__ == "__main__":
    main()
