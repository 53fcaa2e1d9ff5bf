"""Keyword spotting on held-out voices: justfit vs a plain PyTorch loop vs logistic regression on MFCC means.

Data: the packaged ``keywords`` set (20 words x 792 espeak-ng voices, 16 kHz), split 80/10/10 by
voice timbre with justfit's own split (seed 42: test voices are never heard in training), the
same rows for every contestant; ``--train-rows`` cuts the training split to a stratified sample.
Each contestant runs in its own subprocess; the timed span is file paths to a trained model
(model loading included); the test split is then scored, and so are the ten human digits of
``spokennumbers`` (one real speaker: out-of-distribution transfer from synthetic voices).

* ``justfit``: ``Finetuner(model="whisper-tiny-en")`` -- the packaged Whisper tiny.en encoder
  (converted from its CTranslate2 weights), a new head, full fine-tuning at ``--lr``, batch 16,
  clips cut to ``data.max_seconds`` (the encoder shortened to match), justfit's defaults otherwise;
* ``justfit-head``: the same encoder frozen (``freeze: backbone``), its outputs computed once and the
  head trained on them for ``--head-epochs`` at lr 1e-3;
* ``peer``: what a user writes by hand on the same converted encoder, shortened the same way: a
  ``Dataset`` reading each WAV with soundfile and featurising with the ``WhisperFeatureExtractor``, a
  shuffled ``DataLoader`` of 16, AdamW at ``--lr``, the same epochs and precision, no schedule, a
  validation pass per epoch;
* ``mfcc``: scikit-learn ``LogisticRegression`` on the mean and standard deviation over time of 20
  MFCCs (librosa) per clip: the floor.

    python bench/audio.py                                   # all four, 1 epoch of full fine-tuning
    python bench/audio.py --only mfcc justfit-head --train-rows 3000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))


def splits(train_rows: int | None = None):
    from justfit.data.io import load_table
    from justfit.data.splitting import split, stratified_sample
    from justfit.tasks import get_task

    s = split(load_table("keywords").frame, val_size=0.1, test_size=0.1, seed=42,
              task=get_task("audio-classification"))
    train = stratified_sample(s.train, train_rows, 0) if train_rows else s.train
    return train, s.validation, s.test


def human():
    from justfit.data.io import load_table

    return load_table("spokennumbers").frame


def run_justfit(args, head: bool) -> dict:
    from justfit import Finetuner

    train, val, test = splits(args.train_rows)
    cfg = {"model": {"name": "whisper-tiny-en", **({"freeze": "backbone"} if head else {})},
           "data": {"max_seconds": args.max_seconds},
           "training": {"epochs": args.head_epochs if head else args.epochs, "batch_size": 16,
                        "lr": 1e-3 if head else args.lr}}
    t0 = time.perf_counter()
    ft = Finetuner(config=cfg).fit(train[["audio", "label"]], X_val=val[["audio", "label"]])
    seconds = time.perf_counter() - t0
    epochs = len(ft.history_.records)
    people = human()
    return {"seconds": seconds, "test_accuracy": float((ft.predict(test["audio"].tolist()) == test["label"]).mean()),
            "human_accuracy": float((ft.predict(people["audio"].tolist()) == people["label"]).mean()),
            "clips_per_s": len(train) * epochs / seconds, "epochs": epochs, "bf16": bool(ft.bf16_)}


def run_peer(args) -> dict:
    return peer_loop(*splits(args.train_rows), epochs=args.epochs, lr=args.lr, max_seconds=args.max_seconds,
                     people=human())


def peer_loop(train, val, test, epochs: int, lr: float, max_seconds: float, seed: int = 0, people=None) -> dict:
    """The hand-written loop on frames of clip paths (``audio``, ``label``): test accuracy (and the human
    digits' when ``people`` is given) and timings."""
    import numpy as np
    import soundfile as sf
    import soxr
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    from justfit.models.factory import resolve_model_name
    from justfit.tasks.audio.models import shorten_whisper
    from justfit.training.runtime import resolve_bf16

    classes = sorted(train["label"].unique())
    index = {c: i for i, c in enumerate(classes)}
    bf16 = resolve_bf16("auto")
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    folder = resolve_model_name("whisper-tiny-en")
    model = WhisperForAudioClassification.from_pretrained(folder, num_labels=len(classes), ignore_mismatched_sizes=True)
    extractor = WhisperFeatureExtractor.from_pretrained(folder)
    model, extractor = shorten_whisper(model, extractor, max_seconds)

    class Clips(torch.utils.data.Dataset):
        def __init__(self, frame):
            self.paths, self.labels = list(frame["audio"]), [index.get(v, -1) for v in frame["label"]]

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            wave, rate = sf.read(self.paths[i], dtype="float32", always_2d=True)
            wave = wave.mean(axis=1)
            if rate != 16_000:
                wave = soxr.resample(wave, rate, 16_000)
            feats = extractor(wave[: int(max_seconds * 16_000)], sampling_rate=16_000, return_tensors="np")
            return torch.from_numpy(np.asarray(feats["input_features"][0], dtype=np.float32)), self.labels[i]

    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(Clips(train), batch_size=16, shuffle=True)

    def accuracy(frame):
        model.eval()
        right = 0
        with torch.inference_mode():
            for x, y in torch.utils.data.DataLoader(Clips(frame), batch_size=64):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # the model only: the extractor
                    logits = model(input_features=x).logits                       # computes in fp32 torch
                right += int((logits.argmax(1) == y).sum())
        model.train()
        return right / len(frame)

    for _ in range(epochs):
        model.train()
        for x, y in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(model(input_features=x).logits.float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        accuracy(val)  # a validation pass per epoch, as justfit makes
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "test_accuracy": accuracy(test),
            "human_accuracy": None if people is None else accuracy(people),
            "clips_per_s": len(train) * epochs / seconds, "epochs": epochs, "bf16": bf16}


def _mfcc(paths):
    import librosa
    import numpy as np

    from justfit.tasks.audio.sources import decode_audio

    out = []
    for p in paths:
        m = librosa.feature.mfcc(y=decode_audio(p, 16_000), sr=16_000, n_mfcc=20)
        out.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    return np.stack(out)


def run_mfcc(args) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, _, test = splits(args.train_rows)
    t0 = time.perf_counter()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(_mfcc(train["audio"]), train["label"])
    seconds = time.perf_counter() - t0
    people = human()
    return {"seconds": seconds, "test_accuracy": float((clf.predict(_mfcc(test["audio"])) == test["label"]).mean()),
            "human_accuracy": float((clf.predict(_mfcc(people["audio"])) == people["label"]).mean()),
            "clips_per_s": None, "epochs": None}


def worker(args) -> None:
    run = {"justfit": lambda a: run_justfit(a, False), "justfit-head": lambda a: run_justfit(a, True),
           "peer": run_peer, "mfcc": run_mfcc}[args.worker]
    from _common import report

    report(run(args))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1, help="epochs of full fine-tuning (justfit and the peer)")
    ap.add_argument("--head-epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-4, help="the full fine-tuning rate (justfit and the peer)")
    ap.add_argument("--max-seconds", type=float, default=2.0, help="clip length the encoder sees (data.max_seconds)")
    ap.add_argument("--train-rows", type=int, default=None, help="a stratified sample of the training split")
    ap.add_argument("--only", nargs="+", default=["mfcc", "justfit-head", "justfit", "peer"],
                    choices=["mfcc", "justfit-head", "justfit", "peer"])
    ap.add_argument("--out", default=None, help="append the results (JSON lines) to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    from _common import run_job

    results = {}
    common = ["--epochs", str(args.epochs), "--head-epochs", str(args.head_epochs), "--lr", str(args.lr),
              "--max-seconds", str(args.max_seconds)] + (["--train-rows", str(args.train_rows)] if args.train_rows else [])
    for who in args.only:
        results[who] = run_job([sys.executable, __file__, "--worker", who, *common], who)
        print(who, results[who], file=sys.stderr, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps({"contestant": who, **results[who], "args": common}) + "\n")
    train, val, test = splits(args.train_rows)
    print(f"\nkeywords: {len(train)} train / {len(val)} validation / {len(test)} test clips (held-out voices), "
          f"{os.cpu_count()} cores\n")
    print(f"{'contestant':14s} {'test acc':>8s} {'human acc':>9s} {'seconds':>8s} {'clips/s':>8s} {'epochs':>6s} "
          f"{'peak RSS MB':>11s} {'load':>5s}")
    for who, r in results.items():
        cps = "-" if r["clips_per_s"] is None else f"{r['clips_per_s']:.1f}"
        print(f"{who:14s} {r['test_accuracy']:8.4f} {r['human_accuracy']:9.2f} {r['seconds']:8.1f} {cps:>8s} "
              f"{str(r['epochs'] or '-'):>6s} {r['peak_rss_mb']:11.0f} {r['load']:5.1f}")


if __name__ == "__main__":
    main()
