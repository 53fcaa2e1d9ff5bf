"""Time to quality across tasks: justfit's defaults, ``--auto`` and ``tune`` against the peer a user would run.

One invocation per task, every arm trained with each of ``--seeds`` on the same rows; the table gives the test
metric's mean ± std over the seeds, the wall-clock seconds per arm (all seeds), the precision each arm trained
in, the rows used after justfit's data stage and the machine.

Tasks (packaged data, split 80/10/10 by justfit's splitter with seed 0; the training split cut to a sample of
``--train-rows`` rows and validation to ``--val-rows``, the whole test split kept):

* ``tweets`` (text classification, test macro-F1) and ``drugreview`` (text regression of ``usefulCount``, test RMSE):
  the peer is Hugging Face ``Trainer`` with its defaults (AdamW at 5e-5, batch 8, 3 epochs, linear decay, fp32
  on a CPU), as ``run_glue.py`` runs it, on the same packaged MiniLM.
* ``wnut`` (named entities, test entity micro-F1, seqeval): the peer is ``bench/entities.py``'s ``Trainer``
  with ``run_ner.py``'s defaults (5e-5, batch 8, 3 epochs).
* ``mnist`` and ``animals`` (image classification, test accuracy; 28 x 28 digits, animal silhouettes): PNG
  files listed in a CSV; justfit fine-tunes the packaged
  EfficientNet-Lite0 with its defaults otherwise, and the peer is ``bench/image.py``'s hand-written PyTorch loop
  on the same backbone and weights (AdamW at 1e-4, batch 16, 2 epochs, the same bf16 autocast). Use
  ``--train-rows 1000 --val-rows 250`` on 2 cores.
* ``keywords`` (audio classification, test accuracy on held-out voices): a CSV of the packaged clips' paths;
  justfit fine-tunes the packaged Whisper tiny.en encoder with its defaults otherwise, and the peer is
  ``bench/audio.py``'s hand-written loop on the same encoder (AdamW at 1e-4, batch 16, 1 epoch, clips cut to
  justfit's default 2 s, the same bf16 autocast).

Arms: ``defaults`` (``finetune`` with every default), ``auto`` (``finetune(auto=True, rounds=--rounds)``),
``recipe-auto`` (the founding document's recipe, a head on a frozen body trained with Adam at 2e-5, under
``--auto`` within ``--auto-budget`` seconds per seed: set it to the peer's seconds per seed for equal time),
``tune`` (``justfit tune`` with ``tune.time_budget = --budget`` seconds of search, its best configuration
retrained once per seed), ``peer``, and ``baseline``: the cheap model every justfit run fits beside its
model (TF-IDF + logistic or ridge regression; a most-frequent-tag tagger for entities), read from the
defaults arm's runs.

    python bench/quality.py --task tweets                        # 3 seeds, 2,000 training rows
    python bench/quality.py --task drugreview --arms defaults peer --seeds 42
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

# task name -> (justfit task, test metric, lower is better?)
TASKS = {"tweets": ("classification", "f1_macro", False), "drugreview": ("regression", "rmse", True),
         "wnut": ("token-classification", "f1", False), "mnist": ("image-classification", "accuracy", False),
         "animals": ("image-classification", "accuracy", False), "keywords": ("audio-classification", "accuracy", False)}
IMAGES = ("mnist", "animals")  # packaged image sets (justfit.data.packaged), 28 x 28 grey arrays
# The model each media task trains (the peer's: bench/image.py, bench/audio.py), and the peer's epochs:
# their hand-written loops (AdamW at 1e-4; 2 epochs for images, 1 for audio, at which audio.py measured it).
MEDIA_MODEL = {"mnist": "efficientnet-lite0", "animals": "efficientnet-lite0", "keywords": "whisper-tiny-en"}
PEER_EPOCHS = {"mnist": 2, "animals": 2, "keywords": 1}


def splits(args):
    """The task's train (sampled), validation (sampled) and test frames."""
    from justfit.data.io import load_table
    from justfit.data.splitting import split, stratified_sample
    from justfit.tasks import get_task

    task = TASKS[args.task][0]
    if args.task in IMAGES:
        from justfit.data.packaged import PACKAGED

        frame = PACKAGED.get(args.task)()
    elif args.task == "keywords":  # clip paths in the package's folder
        frame = load_table("keywords").frame[["audio", "label"]]
    else:  # drugreview's number is usefulCount (its "rating" column holds 3 classes: bench/regression.py).
        frame = load_table("drugreview", "review", "usefulCount").frame if args.task == "drugreview" else \
            load_table(args.task).frame
    s = split(frame, val_size=0.1, test_size=0.1, seed=0, task=get_task(task))
    if task in ("classification", "image-classification", "audio-classification"):
        return stratified_sample(s.train, args.train_rows, 0), stratified_sample(s.validation, args.val_rows, 0), s.test
    return (s.train.sample(min(args.train_rows, len(s.train)), random_state=0),
            s.validation.sample(min(args.val_rows, len(s.validation)), random_state=0), s.test)


def write_files(args, folder: str) -> dict[str, str]:
    """The three splits as files justfit reads (CSV, or CoNLL for entities)."""
    paths = {}
    for name, frame in zip(("train", "validation", "test"), splits(args), strict=True):
        if args.task in IMAGES:  # PNG files and a CSV of their paths, as a user's images arrive
            from PIL import Image

            os.makedirs(os.path.join(folder, name), exist_ok=True)
            files = []
            for i, image in enumerate(frame["image"]):
                files.append(f"{name}/{i}.png")
                Image.fromarray(image).save(os.path.join(folder, files[-1]))
            paths[name] = os.path.join(folder, f"{name}.csv")
            frame.assign(image=files)[["image", "label"]].to_csv(paths[name], index=False)
        elif args.task == "keywords":
            paths[name] = os.path.join(folder, f"{name}.csv")
            frame[["audio", "label"]].to_csv(paths[name], index=False)
        elif args.task == "wnut":
            lines = []
            for words, tags in zip(frame["tokens"], frame["label"], strict=True):
                tags = tags.split() if isinstance(tags, str) else list(tags)
                lines += [f"{w}\t{t}" for w, t in zip(words, tags, strict=True)] + [""]
            paths[name] = os.path.join(folder, f"{name}.conll")
            with open(paths[name], "w") as f:
                f.write("\n".join(lines))
        else:
            paths[name] = os.path.join(folder, f"{name}.csv")
            frame[["text", "label"]].to_csv(paths[name], index=False, quoting=csv.QUOTE_ALL)  # a bare \r in a tweet stays in its field
    return paths


def _config(args, paths: dict[str, str], out: str, seed: int, name: str) -> dict:
    return {"task": TASKS[args.task][0], "data": paths, "quality": {"label_noise": "off"},
            "training": {"seed": seed}, "output": {"dir": out, "name": name}}


def _facts(result) -> dict:
    data = result.data
    return {"bf16": data.get("bf16"), "rows": data.get("sizes"),
            "baseline": (data.get("baseline") or {}).get("test", {}), "baseline_name": (data.get("baseline") or {}).get("name"),
            "baseline_seconds": (data.get("baseline") or {}).get("seconds"), "verdict": result.verdict,
            "rounds": [{k: r[k] for k in ("changes", "score", "best_epoch", "verdict", "seconds")}
                       for r in (data.get("autofit") or {}).get("rounds", [])]}


def run_justfit(args) -> dict:
    from justfit import finetune
    from justfit.tuning.tune import tune

    metric = TASKS[args.task][1]
    scores, facts = [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        paths = write_files(args, out)
        for seed in args.seeds:
            cfg = _config(args, paths, os.path.join(out, "runs"), seed, f"{args.worker}-{seed}")
            if args.task in MEDIA_MODEL:  # the peer's model; justfit's defaults otherwise
                cfg["model"] = {"name": MEDIA_MODEL[args.task]}
            if args.worker == "defaults":
                result = finetune(cfg)
            elif args.worker == "auto":
                result = finetune(cfg, auto=True, rounds=args.rounds)
            elif args.worker == "recipe-auto":
                cfg["model"] = {**cfg.get("model", {}), "freeze": "backbone"}
                cfg["training"].update(optimizer="adam", lr=2e-5)
                result = finetune(cfg, auto=True, rounds=args.rounds, time_budget=args.auto_budget)
            else:  # tune: one search per seed, its best configuration trained with that seed
                cfg["tune"] = {"time_budget": args.budget, "trials": 1000, "seeds": 1}
                result = tune(cfg)
            scores.append(float(result.metrics[metric]))
            facts.append(_facts(result))
    return {"scores": scores, "seconds": time.perf_counter() - t0, "facts": facts}


def run_peer(args) -> dict:
    t0 = time.perf_counter()
    if args.task in MEDIA_MODEL:
        train, val, test = splits(args)
        if args.task in IMAGES:
            from image import peer_loop

            runs = [peer_loop(train, val, test, PEER_EPOCHS[args.task], seed) for seed in args.seeds]
        else:
            from audio import peer_loop as clips_loop

            from justfit.config import DataConfig

            seconds = DataConfig.model_fields["max_seconds"].default  # justfit's, so both see the same clips
            runs = [clips_loop(train, val, test, PEER_EPOCHS["keywords"], 1e-4, seconds, seed) for seed in args.seeds]
        scores = [float(r["test_accuracy"]) for r in runs]
        return {"scores": scores, "seconds": time.perf_counter() - t0,
                "facts": [{"bf16": _bf16_auto(), "rows": {"train": len(train), "validation": len(val), "test": len(test)}}]}
    if args.task == "wnut":
        from entities import run_peer as entities_peer

        scores = []
        with tempfile.TemporaryDirectory() as out:
            paths = write_files(args, out)
            for seed in args.seeds:
                ns = argparse.Namespace(seed=seed, bf16=False, **paths)
                scores.append(float(entities_peer(ns)["test_f1"]))
        return {"scores": scores, "seconds": time.perf_counter() - t0, "facts": [{"bf16": False}]}
    return {"scores": [_hf_sequence(args, seed) for seed in args.seeds], "seconds": time.perf_counter() - t0,
            "facts": [{"bf16": False}]}


def _hf_sequence(args, seed: int) -> float:
    """Hugging Face ``Trainer`` with its defaults on the same rows: test macro-F1 or RMSE."""
    import numpy as np
    import torch
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
    train, _, test = splits(args)
    regression = args.task == "drugreview"
    labels = sorted(set(train["label"])) if not regression else None
    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path)

    def target(frame):
        return [float(x) for x in frame["label"]] if regression else [labels.index(x) for x in frame["label"]]

    def encode(frame):
        ds = Dataset.from_dict({"text": frame["text"].tolist(), "label": target(frame)})
        return ds.map(lambda b: tok(b["text"], truncation=True), batched=True, remove_columns=["text"])

    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1 if regression else len(labels), **({"problem_type": "regression"} if regression else {}))
    collate = DataCollatorWithPadding(tok)
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, use_cpu=True, save_strategy="no", report_to="none",
                                  disable_tqdm=True, logging_strategy="no", seed=seed)
        Trainer(model=model, args=targs, train_dataset=encode(train), data_collator=collate).train()
    model.eval()
    enc, outs = encode(test), []
    with torch.inference_mode():
        for i in range(0, len(enc), 64):
            batch = collate([enc[j] for j in range(i, min(i + 64, len(enc)))])
            batch.pop("labels", None)
            outs.append(model(**batch).logits.float().numpy())
    logits = np.concatenate(outs)
    if regression:
        y = test["label"].astype(float).to_numpy()
        return float(np.sqrt(np.mean((logits[:, 0] - y) ** 2)))
    from sklearn.metrics import f1_score

    pred = [labels[k] for k in logits.argmax(-1)]
    return float(f1_score(list(map(str, test["label"])), list(map(str, pred)), average="macro"))


def _bf16_auto() -> bool:
    from justfit.training.runtime import resolve_bf16

    return bool(resolve_bf16("auto"))


def summary(values: list[float]) -> dict:
    import numpy as np

    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "values": v.tolist()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, choices=list(TASKS))
    p.add_argument("--arms", nargs="+", default=["defaults", "auto", "tune", "peer"],
                   choices=["defaults", "auto", "recipe-auto", "tune", "peer"])
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    p.add_argument("--train-rows", type=int, default=2000)
    p.add_argument("--val-rows", type=int, default=500)
    p.add_argument("--budget", type=float, default=300.0, help="tune: seconds of search per seed")
    p.add_argument("--rounds", type=int, default=3, help="auto: rounds")
    p.add_argument("--auto-budget", type=float, default=None,
                   help="recipe-auto: seconds per seed; no round starts that the last would not finish in time")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        from _common import report

        return report(run_peer(args) if args.worker == "peer" else run_justfit(args))
    from _common import machine, run_job

    metric, lower = TASKS[args.task][1], TASKS[args.task][2]
    results: dict = {}
    base = [sys.executable, __file__, "--task", args.task, "--seeds", *map(str, args.seeds), "--train-rows",
            str(args.train_rows), "--val-rows", str(args.val_rows), "--budget", str(args.budget), "--rounds",
            str(args.rounds), *(["--auto-budget", str(args.auto_budget)] if args.auto_budget else [])]
    for arm in args.arms:
        r = run_job([*base, "--worker", arm], arm)
        results[arm] = {**r, "test": summary(r["scores"])}
        if arm == "defaults" and r["facts"] and r["facts"][0].get("baseline"):
            b = [f["baseline"].get(metric) for f in r["facts"]]
            results["baseline"] = {"test": summary(b), "seconds": sum(f["baseline_seconds"] or 0 for f in r["facts"]),
                                   "name": r["facts"][0]["baseline_name"], "facts": [{"bf16": False}]}
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"args": vars(args), "machine": machine(), "results": results}, f, indent=2)
    print(f"\n{args.task}: test {metric} ({'lower' if lower else 'higher'} is better), seeds {args.seeds}, "
          f"{machine()}")
    for arm, r in results.items():
        t = r["test"]
        facts = r.get("facts") or [{}]
        prec = "bf16" if facts[0].get("bf16") else "fp32"
        rows = facts[0].get("rows") or {}
        print(f"{arm:11s} {t['mean']:.4f} ± {t['std']:.4f}  ({', '.join(f'{v:.4f}' for v in t['values'])})  "
              f"{r['seconds']:.0f} s  {prec}  rows {rows or '-'}  load {r.get('load', 0):.1f}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "machine": machine(), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
