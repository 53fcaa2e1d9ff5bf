"""Time to accuracy: test macro-F1 reached within one wall-clock budget, three ways.

On the packaged tweet corpus (all of it; split 80/10/10, stratified, seed 0):

* ``justfit``: ``Finetuner(time_budget=B)`` with every other setting at its default (the
  packaged MiniLM, full fine-tuning, early stopping on the validation split). After a few
  steps it plans the steps that fit in ``B`` seconds and fits its schedule to them.
* ``hf``: Hugging Face ``Trainer`` with its defaults (batch 8, lr 5e-5, 3 epochs, linear
  decay, its default optimiser) on the same model, stopped by a callback when ``B`` seconds
  have passed.
* ``tfidf``: scikit-learn ``TfidfVectorizer()`` + ``LogisticRegression(max_iter=1000)``,
  defaults otherwise (it finishes well within the budget).

The budget runs from the texts in memory to a fitted model (loading and tokenising
included); scoring the test split comes after and is not timed. Each contestant runs in its
own subprocess, one after the other.

    python bench/time_to_accuracy.py                  # B = 300 s
    python bench/time_to_accuracy.py --budget 600
    python bench/time_to_accuracy.py --seeds 42 1 2   # three training seeds each: mean and spread

The data split is the same for every seed; the seed sets the training seed (initialisation of
the head, shuffling, dropout) of both fine-tuning contestants.
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


def splits(seed: int = 0):
    from justfit.data.io import load_table
    from justfit.data.splitting import split

    s = split(load_table("tweets").frame, val_size=0.1, test_size=0.1, seed=seed)
    return s.train, s.validation, s.test


def macro_f1(y_true, y_pred) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(map(str, y_true)), list(map(str, y_pred)), average="macro"))


def run_justfit(args) -> dict:
    import yaml

    from justfit import Finetuner

    train, val, test = splits()
    t0 = time.perf_counter()
    overrides: dict = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        overrides.setdefault(section, {})[name] = yaml.safe_load(value)
    overrides.setdefault("training", {}).setdefault("seed", args.seed)
    ft = Finetuner(time_budget=args.budget, config=overrides).fit(train, X_val=val)
    seconds = time.perf_counter() - t0
    pred = ft.predict(test["text"].tolist())
    seen = sum(r.get("epoch_fraction", 1.0) for r in ft.history_.records)
    return {"seconds": seconds, "f1": macro_f1(test["label"], pred), "epochs": round(seen, 2),
            "note": "; ".join(ft.stop_reason_.split("; ")[:2]), "seed": ft.config_.training.seed}


def run_hf(args) -> dict:
    import tempfile

    import numpy as np
    import torch
    import transformers
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from justfit.models.factory import default_model_path

    transformers.logging.set_verbosity_error()
    train, val, test = splits()
    labels = sorted(set(train["label"]))
    t0 = time.perf_counter()
    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))

    def encode(frame):
        ds = Dataset.from_dict({"text": frame["text"].tolist(), "label": [labels.index(x) for x in frame["label"]]})
        return ds.map(lambda b: tok(b["text"], truncation=True), batched=True, remove_columns=["text"])

    class Budget(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            if time.perf_counter() - t0 >= args.budget:
                control.should_training_stop = True
            return control

    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, use_cpu=True, save_strategy="no", report_to="none",
                                  disable_tqdm=True, logging_strategy="no", seed=args.seed)
        trainer = Trainer(model=model, args=targs, train_dataset=encode(train), data_collator=DataCollatorWithPadding(tok),
                          callbacks=[Budget()])
        trainer.train()
        seconds = time.perf_counter() - t0
        epochs = trainer.state.epoch or 0.0
        model.eval()
        enc = encode(test)
        preds = []
        collate = DataCollatorWithPadding(tok)
        with torch.inference_mode():
            for i in range(0, len(enc), 64):
                batch = collate([enc[j] for j in range(i, min(i + 64, len(enc)))])
                batch.pop("labels", None)
                preds.append(model(**batch).logits.argmax(-1).numpy())
    pred = [labels[k] for k in np.concatenate(preds)]
    return {"seconds": seconds, "f1": macro_f1(test["label"], pred), "epochs": round(float(epochs), 2),
            "note": f"stopped at {trainer.state.global_step} of {trainer.state.max_steps} steps"}


def run_tfidf(args) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train, val, test = splits()
    t0 = time.perf_counter()
    clf = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(train["text"], train["label"])
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "f1": macro_f1(test["label"], clf.predict(test["text"])), "epochs": None,
            "note": "fits to convergence"}


def worker(args) -> None:
    import torch

    torch.manual_seed(0)
    res = {"justfit": run_justfit, "hf": run_hf, "tfidf": run_tfidf}[args.worker](args)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300.0, help="seconds per contestant")
    ap.add_argument("--only", nargs="*", choices=["tfidf", "hf", "justfit"], default=["tfidf", "hf", "justfit"])
    ap.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="a justfit config override, e.g. --set training.lr=1e-4 (repeatable)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42],
                    help="training seeds of the two fine-tuning contestants (42: both tools' default); "
                         "the table gives the mean and spread")
    ap.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=["justfit", "hf", "tfidf"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    from justfit.training.runtime import resolve_bf16

    runs: dict[str, list[dict]] = {}
    for who in args.only:
        for seed in args.seeds if who != "tfidf" else args.seeds[:1]:  # TF-IDF + LR is deterministic
            sets = [f"--set={x}" for x in args.set or []]
            out = subprocess.run([sys.executable, __file__, "--worker", who, "--budget", str(args.budget),
                                  "--seed", str(seed), *sets], capture_output=True, text=True)
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{who} failed:\n{out.stderr[-3000:]}")
            runs.setdefault(who, []).append({"seed": seed, **json.loads(line[7:])})
            print(f"{who} seed {seed}: {runs[who][-1]}", file=sys.stderr)

    import numpy as np

    train, val, test = splits()
    print(f"\nTweets: {len(train)} train / {len(val)} validation / {len(test)} test rows, budget {args.budget:.0f} s, "
          f"{os.cpu_count()} cores, justfit precision {'bf16' if resolve_bf16('auto') else 'fp32'} (auto), "
          f"seeds {' '.join(map(str, args.seeds))}\n")
    print(f"{'contestant':28s} {'test macro-F1':>15s} {'per seed':>22s} {'seconds':>8s} {'epochs':>7s} {'peak RSS MB':>11s}")
    names = {"justfit": "justfit defaults + budget", "hf": "HF Trainer defaults", "tfidf": "TF-IDF + LogisticRegression"}
    mean = {}
    for who, rs in runs.items():
        f1 = np.array([r["f1"] for r in rs])
        mean[who] = float(f1.mean())
        spread = f"{f1.mean():.4f} +- {f1.std(ddof=1):.4f}" if len(f1) > 1 else f"{f1[0]:.4f}"
        ep = "-" if rs[0]["epochs"] is None else f"{np.mean([r['epochs'] for r in rs]):.2f}"
        print(f"{names[who]:28s} {spread:>15s} {' '.join(f'{x:.4f}' for x in f1):>22s} "
              f"{np.mean([r['seconds'] for r in rs]):8.1f} {ep:>7s} {max(r['peak_rss_mb'] for r in rs):11.0f}")
        for r in rs:
            print(f"    seed {r['seed']}: {r['note']}")
    best = max(mean, key=mean.get)
    print(f"\nbest within the budget (mean over seeds): {names[best]}")


if __name__ == "__main__":
    main()
