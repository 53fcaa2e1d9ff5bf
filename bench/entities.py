"""Named entities on WNUT-16: justfit's default vs transformers' Trainer with the standard recipe.

Data: the packaged ``wnut`` set (2,394 tweets, 10 entity types, BIO), split 80/10/10 once with
justfit's own splitter (seed 42, stratified by each sentence's rarest entity type) and written to
CoNLL files; every contestant reads the same three files. Model: the packaged all-MiniLM-L6-v2.
Each contestant runs in its own subprocess, one after the other; the timed span is files to a
trained model (model loading and, for justfit, the data stage included).

* ``peer``: the recipe of transformers' ``run_ner.py`` and its token-classification guide:
  ``AutoModelForTokenClassification``, words tokenised with ``is_split_into_words``, the first
  subword labelled and the rest -100, ``DataCollatorForTokenClassification``, ``Trainer`` with its
  defaults (AdamW, lr 5e-5, linear decay, no warmup, batch 8) for 3 epochs, evaluated (seqeval
  entity F1) on the validation file after each epoch; the final model is kept;
* ``justfit``: ``justfit train --train ... --validation ... --test ...`` with every default (the data
  stage, lr 1e-4, batch 16, 5 epochs at most, early stopping on the validation entity F1 with the
  best weights restored, subword_labels all), under ``training.time_budget`` = the peer's training
  seconds of the same seed (the same time budget);
* ``justfit-first``: the same with ``data.subword_labels=first`` (the peer's labelling).

Test entity F1 is seqeval's micro F1 (conlleval reading) of every contestant's word tags on the
same test file. "Time to the peer's F1": the seconds into justfit's training at which its
validation entity F1 first reached the peer's final validation entity F1 (from ``history.jsonl``),
or none. Repeated over ``--seeds`` (training seeds; the split is fixed).

    python bench/entities.py                      # 3 seeds, all three contestants
    python bench/entities.py --seeds 0 --only peer justfit
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(__file__))


def write_splits(folder: Path) -> dict[str, str]:
    """Split wnut once (justfit's splitter, seed 42) into CoNLL files; return their paths."""
    from justfit.data.io import load_table
    from justfit.data.splitting import split
    from justfit.tasks import get_task

    s = split(load_table("wnut").frame, val_size=0.1, test_size=0.1, seed=42, task=get_task("token-classification"))
    paths = {}
    for name in ("train", "validation", "test"):
        frame = getattr(s, name)
        lines = []
        for words, tags in zip(frame["tokens"], frame["label"], strict=True):
            lines += [f"{w}\t{t}" for w, t in zip(words, tags.split(), strict=True)] + [""]
        paths[name] = str(folder / f"{name}.conll")
        Path(paths[name]).write_text("\n".join(lines))
    return paths


def read_conll(path: str) -> tuple[list[list[str]], list[list[str]]]:
    from justfit.data.textfile import read_text_file
    from justfit.tasks.tagging.data import read_conll_text

    f = read_conll_text(read_text_file(Path(path)), path)
    return f["tokens"].tolist(), f["tags"].tolist()


def f1(gold: list[list[str]], pred: list[list[str]]) -> float:
    from seqeval.metrics import f1_score

    return float(f1_score(gold, pred))


def run_peer(args) -> dict:
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    from justfit.models.factory import default_model_path

    torch.manual_seed(args.seed)
    words, tags = read_conll(args.train)
    vwords, vtags = read_conll(args.validation)
    twords, ttags = read_conll(args.test)
    names = sorted({t for s in tags for t in s}, key=lambda t: (t != "O", t[2:], t[:1]))
    index = {t: i for i, t in enumerate(names)}
    source = default_model_path()
    tok = AutoTokenizer.from_pretrained(source)

    def encode(ws, ts):
        enc = tok(ws, is_split_into_words=True, truncation=True, max_length=256)
        labels = []
        for i, seq in enumerate(ts):
            prev, row = None, []
            for w in enc.word_ids(i):
                row.append(-100 if w is None or w == prev else index.get(seq[w], -100))
                prev = w
            labels.append(row)
        enc["labels"] = labels
        return Dataset.from_dict(dict(enc))

    t0 = time.perf_counter()
    model = AutoModelForTokenClassification.from_pretrained(
        source, num_labels=len(names), id2label=dict(enumerate(names)), label2id=index)
    train_ds, val_ds = encode(words, tags), encode(vwords, vtags)

    def tags_of(ws, logits, enc_ids):
        out = []
        for i, seq in enumerate(ws):
            pred, prev = ["O"] * len(seq), None
            for p, w in enumerate(enc_ids(i)):
                if w is not None and w != prev:
                    pred[w] = names[int(logits[i][p].argmax())]
                prev = w
            out.append(pred)
        return out

    vals = []

    def metrics(ev):
        logits = ev.predictions
        enc = tok(vwords, is_split_into_words=True, truncation=True, max_length=256)
        vals.append(f1(vtags, tags_of(vwords, logits, enc.word_ids)))
        return {"f1": vals[-1]}

    out_dir = tempfile.mkdtemp(prefix="peer-")
    targs = TrainingArguments(output_dir=out_dir, num_train_epochs=3, learning_rate=5e-5, per_device_train_batch_size=8,
                              per_device_eval_batch_size=64, eval_strategy="epoch", save_strategy="no", logging_strategy="no",
                              report_to=[], seed=args.seed, use_cpu=True, disable_tqdm=True,
                              bf16=args.bf16)
    trainer = Trainer(model=model, args=targs, train_dataset=train_ds, eval_dataset=val_ds,
                      data_collator=DataCollatorForTokenClassification(tok), compute_metrics=metrics)
    trainer.train()
    seconds = time.perf_counter() - t0
    val_f1 = vals[-1] if vals else None
    trainer.compute_metrics = None  # the test pass below is scored here, not as validation
    test_ds = encode(twords, ttags)
    logits = trainer.predict(test_ds).predictions
    enc = tok(twords, is_split_into_words=True, truncation=True, max_length=256)
    test_f1 = f1(ttags, tags_of(twords, np.asarray(logits), enc.word_ids))
    return {"seconds": seconds, "test_f1": test_f1, "val_f1": val_f1, "val_f1_by_epoch": vals}


def run_justfit(args, first: bool) -> dict:
    from justfit import finetune

    out = tempfile.mkdtemp(prefix="jf-")
    cfg = {"data": {"train": args.train, "validation": args.validation, "test": args.test,
                    **({"subword_labels": "first"} if first else {})},
           "training": {"seed": args.seed, **({"time_budget": args.budget} if args.budget else {})},
           "output": {"dir": out, "name": "run"}}
    t0 = time.perf_counter()
    result = finetune(cfg)
    seconds = time.perf_counter() - t0
    run = Path(result.run_dir)
    import pandas as pd

    pred = pd.read_csv(run / "predictions.csv", keep_default_na=False)
    twords, ttags = read_conll(args.test)
    by_text = {" ".join(w): t for w, t in zip(twords, ttags, strict=True)}
    gold = [by_text.get(t, lab.split()) for t, lab in zip(pred["text"], pred["label"], strict=True)]
    # The run's own test rows (its data stage may drop unusable ones): scored against the file's tags.
    test_f1 = f1(gold, [p.split() for p in pred["predicted"]])
    history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    import numpy as np

    elapsed = np.cumsum([h["seconds"] for h in history]).tolist()  # each record's seconds are its epoch's
    reach = None
    if args.peer_val_f1 is not None:
        reach = next((t for t, h in zip(elapsed, history, strict=True) if h.get("val_f1", 0) >= args.peer_val_f1), None)
    return {"seconds": seconds, "train_seconds": elapsed[-1] if elapsed else None, "test_f1": test_f1,
            "val_f1": max(h.get("val_f1", 0) for h in history), "epochs": len(history),
            "best_epoch": result.best_epoch, "stop": result.stop_reason, "seconds_to_peer_f1": reach,
            "test_rows": len(pred), "metrics_f1": result.metrics.get("f1")}


def worker(args) -> None:
    from _common import report

    run = {"peer": run_peer, "justfit": lambda a: run_justfit(a, False),
           "justfit-first": lambda a: run_justfit(a, True)}[args.worker]
    report(run(args))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--only", nargs="+", default=["peer", "justfit", "justfit-first"],
                    choices=["peer", "justfit", "justfit-first"])
    ap.add_argument("--out", default=None, help="append the results (JSON lines) to this file")
    ap.add_argument("--bf16", action="store_true", help="the peer in bf16 (justfit decides with bf16: auto)")
    for name in ("train", "validation", "test", "worker"):
        ap.add_argument(f"--{name}", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--peer-val-f1", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    import numpy as np
    from _common import run_job

    folder = Path(tempfile.mkdtemp(prefix="wnut-"))
    paths = write_splits(folder)
    files = ["--train", paths["train"], "--validation", paths["validation"], "--test", paths["test"]]
    rows = []
    for seed in args.seeds:
        peer = None
        for who in args.only:
            extra = ["--seed", str(seed)] + (["--bf16"] if args.bf16 else [])
            if who != "peer" and peer is not None:
                extra += ["--budget", f"{peer['seconds']:.1f}", "--peer-val-f1", f"{peer['val_f1']:.6f}"]
            res = run_job([sys.executable, __file__, "--worker", who, *files, *extra], who)
            if who == "peer":
                peer = res
            rows.append({"contestant": who, "seed": seed, **res})
            print(who, seed, res, file=sys.stderr, flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(rows[-1]) + "\n")
    n_train = len(read_conll(paths["train"])[0])
    print(f"\nwnut: {n_train} train sentences, "
          f"{os.cpu_count()} cores, seeds {args.seeds}\n")
    print(f"{'contestant':14s} {'test F1 mean ± std':>20s} {'val F1':>7s} {'seconds':>8s} {'to peer F1 (s)':>15s} "
          f"{'peak RSS MB':>11s}")
    for who in args.only:
        rs = [r for r in rows if r["contestant"] == who]
        f1s = np.array([r["test_f1"] for r in rs])
        reach = [r.get("seconds_to_peer_f1") for r in rs]
        shown = ", ".join("-" if x is None else f"{x:.0f}" for x in reach) if who != "peer" else ""
        print(f"{who:14s} {f1s.mean():11.4f} ± {f1s.std(ddof=1) if len(f1s) > 1 else 0:.4f} "
              f"{np.mean([r['val_f1'] for r in rs]):7.4f} {np.mean([r['seconds'] for r in rs]):8.1f} {shown:>15s} "
              f"{np.mean([r['peak_rss_mb'] for r in rs]):11.0f}")


if __name__ == "__main__":
    main()
