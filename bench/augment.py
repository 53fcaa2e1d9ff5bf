"""What augmentation buys: test scores with and without it, on small training sets of real texts and images.

The packaged tweets (38,158 rows, 3 classes) split 80/10/10, stratified, seed 0 (as
``time_to_accuracy.py``): the full validation (3,816 rows) and test (3,816 rows) splits are used
every time; only the training split is cut down to ``--sizes`` rows (a stratified sample drawn with
the run's seed). Each (size, seed, variant) is one ``Finetuner(...).fit(train, X_val=val)`` in its
own subprocess, justfit's defaults otherwise (the packaged MiniLM, full fine-tuning, batch 16, lr
1e-4, early stopping on the validation loss with the best epoch restored), ``--epochs`` at most,
label audit off (it does not depend on the variant). Variants:

* ``none``: no augmentation;
* ``eda``: ``augment.ops: [synonym, swap, delete, insert]``, p 0.5, strength 0.1 -- the four
  operations of EDA (Wei & Zou 2019, "EDA: Easy Data Augmentation Techniques for Boosting
  Performance on Text Classification Tasks", alpha 0.1), with justfit's synonym replacement by
  nearest neighbours in the model's own input embeddings instead of WordNet;
* ``typo``: ``augment.ops: [typo]``, p 0.5, strength 0.1 (character-level noise).

Each finished run is appended to ``--out`` (JSON lines), so an interrupted invocation keeps what it
measured and a rerun skips it. The table gives mean ± sd over the seeds and the mean difference.

Images (``--data mnist``, or ``animals``, ``digits``, ``shapes``): the packaged set split 80/10/10,
stratified, seed 0, the training split cut to ``--sizes`` images as above; ``--model`` (default
``efficientnet-lite0``, the ImageNet-pretrained EfficientNet-Lite0), full fine-tuning at ``--lr``
(default 5e-4 for images), batch 16, early stopping, label audit off.
Variants:

* ``none``: no augmentation;
* ``geometric``: ``augment.ops: [rotate, resized_crop, erase]``, p 0.5, strength 0.1 (up to 18
  degrees, crops of 90-100% of the area, one erased patch of 2-10%): the defaults for digits and
  silhouettes, which rule out flips (a mirrored 2 is no 2);
* ``mixup``: ``geometric`` plus ``mixup`` (the other image's weight drawn from [0, 0.1]).

Audio (``--data keywords``): split 80/10/10 by voice (test voices never heard in training), the
training split cut to ``--sizes`` clips; ``whisper-tiny-en`` fully fine-tuned at 1e-4. Variants:

* ``none``; ``waveform``: ``augment.ops: [gain, noise, shift, pitch]``, p 0.5, strength 0.3 (up to
  3.6 dB of gain, noise at 26-36 dB SNR, shifts of up to 30% of the clip, up to 3.6 semitones);
* ``specaugment``: ``[time_mask, freq_mask]`` (the model's own masking, probability 0.05 each).

For audio each run also scores the ten human digits of ``spokennumbers`` (``human_accuracy``).

The table gives test accuracy for images and audio, macro-F1 for texts.

    python bench/augment.py                                   # 250, 500, 1000 rows x 3 seeds x none/eda
    python bench/augment.py --sizes 250 --seeds 0 --variants none eda typo
    python bench/augment.py --data mnist --sizes 500 --variants none geometric --epochs 6
    python bench/augment.py --data keywords --sizes 1000 --variants none waveform --epochs 4
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

VARIANTS = {
    "none": {},
    "eda": {"ops": ["synonym", "swap", "delete", "insert"], "p": 0.5, "strength": 0.1},
    "typo": {"ops": ["typo"], "p": 0.5, "strength": 0.1},
    "geometric": {"ops": ["rotate", "resized_crop", "erase"], "p": 0.5, "strength": 0.1},
    "mixup": {"ops": ["rotate", "resized_crop", "erase", "mixup"], "p": 0.5, "strength": 0.1},
    "waveform": {"ops": ["gain", "noise", "shift", "pitch"], "p": 0.5, "strength": 0.3},
    "specaugment": {"ops": ["time_mask", "freq_mask"], "p": 1.0, "strength": 0.1},
}
VARIANTS_OF = {"text": {"none", "eda", "typo"}, "image": {"none", "geometric", "mixup"},
               "audio": {"none", "waveform", "specaugment"}}
DEFAULTS = {"text": ["none", "eda"], "image": ["none", "geometric"], "audio": ["none", "waveform"]}
MODELS = {"image": "efficientnet-lite0", "audio": "whisper-tiny-en"}


def kind_of(data: str) -> str:
    return "text" if data == "tweets" else "audio" if data in ("keywords", "spokennumbers") else "image"


def is_images(data: str) -> bool:
    return kind_of(data) != "text"


def splits(data: str, size: int, seed: int):
    from sklearn.model_selection import train_test_split

    from justfit.data.io import load_table
    from justfit.data.packaged import PACKAGED
    from justfit.data.splitting import split
    from justfit.tasks import get_task

    if kind_of(data) == "audio":  # split by voice (the set's own group column), as justfit does
        s = split(load_table(data).frame, val_size=0.1, test_size=0.1, seed=0, task=get_task("audio-classification"))
    elif is_images(data):
        s = split(PACKAGED.get(data)(), val_size=0.1, test_size=0.1, seed=0, task=get_task("image-classification"))
    else:
        s = split(load_table(data).frame, val_size=0.1, test_size=0.1, seed=0)
    train, _ = train_test_split(s.train, train_size=size, stratify=s.train["label"], random_state=seed)
    return train, s.validation, s.test


def worker(args) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    from justfit import Finetuner

    train, val, test = splits(args.data, args.size, args.seed)
    cfg = {"training": {"epochs": args.epochs, "seed": args.seed},
           "quality": {"label_noise": "off"},
           "augment": VARIANTS[args.variant]}
    if is_images(args.data):
        kind = kind_of(args.data)
        cfg["model"] = {"name": args.model or MODELS[kind]}
        cfg["training"].update(batch_size=16, lr=args.lr or (5e-4 if kind == "image" else 1e-4))
        column = kind
    else:
        if args.model:
            cfg["model"] = {"name": args.model}
        if args.lr:
            cfg["training"]["lr"] = args.lr
        column = "text"
    t0 = time.perf_counter()
    ft = Finetuner(config=cfg).fit(train, X_val=val)
    seconds = time.perf_counter() - t0
    pred = [str(p) for p in ft.predict(test[column].tolist())]
    truth = test["label"].astype(str).tolist()
    f1 = float(f1_score(truth, pred, average="macro"))
    accuracy = float(accuracy_score(truth, pred))
    extra = {}
    if kind_of(args.data) == "audio":  # one real voice (spokennumbers' digits): transfer from synthetic voices
        from justfit.data.io import load_table

        people = load_table("spokennumbers").frame
        extra["human_accuracy"] = float((ft.predict(people["audio"].tolist()) == people["label"]).mean())
    print("RESULT " + json.dumps({"data": args.data, "size": args.size, "seed": args.seed, "variant": args.variant,
                                  "f1": f1, "accuracy": accuracy, "seconds": seconds,
                                  "epochs": len(ft.history_.records), "best_epoch": ft.best_epoch_, **extra}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data", default="tweets", help="tweets, a packaged image set (mnist, animals, digits, shapes), "
                    "or keywords")
    ap.add_argument("--model", default=None, help="default: the packaged MiniLM for texts, efficientnet-lite0 for "
                    "images, whisper-tiny-en for keywords")
    ap.add_argument("--lr", type=float, default=None, help="default: justfit's 1e-4 for texts and audio, 5e-4 for images")
    ap.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=None,
                    help="default: none eda (texts), none geometric (images), none waveform (audio)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default="bench_augment.jsonl", help="JSON lines of finished runs (resumed)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    images = is_images(args.data)
    allowed = VARIANTS_OF[kind_of(args.data)]
    args.variants = args.variants or DEFAULTS[kind_of(args.data)]
    if not set(args.variants) <= allowed:
        ap.error(f"variants for {args.data}: {', '.join(sorted(allowed))}")
    from _common import run_job

    done = []
    if os.path.exists(args.out):
        with open(args.out) as f:
            done = [json.loads(line) for line in f if line.strip()]
    key = (args.data, args.model, args.lr, args.epochs)
    done = [r for r in done if (r.get("data", "tweets"), r.get("model"), r.get("lr"), r.get("max_epochs")) == key]
    have = {(r["size"], r["seed"], r["variant"]) for r in done}
    extra = [flag for name in ("model", "lr") if getattr(args, name) for flag in (f"--{name}", str(getattr(args, name)))]
    for size in args.sizes:
        for seed in args.seeds:
            for variant in args.variants:
                if (size, seed, variant) in have:
                    continue
                res = run_job([sys.executable, __file__, "--worker", "--data", args.data, "--size", str(size),
                               "--seed", str(seed), "--variant", variant, "--epochs", str(args.epochs), *extra],
                              f"{variant} {size} {seed}")
                res.update(max_epochs=args.epochs, model=args.model, lr=args.lr)
                print(json.dumps(res), file=sys.stderr)
                done.append(res)
                with open(args.out, "a") as f:
                    f.write(json.dumps(res) + "\n")

    import numpy as np

    rows = done
    metric = "accuracy" if images else "f1"
    print(f"\n{args.data}, full validation/test splits, at most {args.epochs} epochs, test {metric}\n")
    print(f"{'rows':>5s} " + " ".join(f"{v + ' ' + metric:>22s}" for v in args.variants)
          + "".join(f" {v + ' - none':>16s}" for v in args.variants if v != "none"))
    for size in args.sizes:
        cells, per = [], {}
        for v in args.variants:
            f1 = {r["seed"]: r[metric] for r in rows if r["size"] == size and r["variant"] == v}
            per[v] = f1
            a = np.array(list(f1.values()))
            cells.append(f"{a.mean():.4f} +- {a.std(ddof=1):.4f}" if len(a) > 1 else
                         (f"{a[0]:.4f}" if len(a) else "-"))
        diffs = []
        for v in args.variants:
            if v == "none":
                continue
            common = sorted(set(per[v]) & set(per.get("none", {})))
            d = np.array([per[v][s] - per["none"][s] for s in common])
            diffs.append(f"{d.mean():+.4f} +- {d.std(ddof=1):.4f}" if len(d) > 1 else "-")
        print(f"{size:5d} " + " ".join(f"{c:>22s}" for c in cells) + "".join(f" {d:>16s}" for d in diffs))


if __name__ == "__main__":
    main()
