"""Diagnosis verdicts on planted scenarios whose right verdict is known: a confusion table.

Two sources per scenario:
  - end to end: a tiny random-weight BERT fine-tuned by ``finetune`` on a planted task, with
    the problem planted in the data or the config;
  - replay: a recorded-style history (the shapes real runs produce) passed to ``diagnose``.

    python bench/diagnosis.py            # prints the confusion table (rows: planted, columns: verdict)
"""

from __future__ import annotations

import os
import random
import string
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("JUSTFIT_CACHE_DIR", tempfile.mkdtemp(prefix="justfit-bench-"))

import pandas as pd  # noqa: E402

VERDICTS = ["good fit", "overfitting", "underfitting", "not converged", "unstable", "leaked test set", "noisy labels",
            "no better than a cheap baseline"]


def planted(n: int, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    words = {"pos": ["good", "great", "nice", "fine"], "neg": ["bad", "awful", "poor", "ugly"]}
    filler = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 8))) for _ in range(400)]
    rows = []
    for i in range(n):
        lab = ("pos", "neg")[i % 2]
        tokens = [rng.choice(words[lab]) for _ in range(rng.randint(2, 4))] + rng.sample(filler, 4)
        rng.shuffle(tokens)
        rows.append({"text": " ".join(tokens), "label": lab})
    return pd.DataFrame(rows)


def end_to_end(tmp: Path, model: str) -> list[tuple[str, str, str]]:
    from justfit import finetune

    # The cheap baseline is off but in its own scenario: on the planted words TF-IDF is perfect and the tiny
    # random model never beats it, so its verdict would come before every curve rule's.
    # The curves are planted on the validation loss (a good fit stops when it turns up; "not converged" ends
    # while it still falls), so early stopping watches it; classification's own monitor, macro-F1, sits at 1.0
    # on these words from epoch 2, and a run it stops is not "not converged" (rules.monitor_plateaued).
    base = {"model": {"name": model}, "quality": {"label_noise": "off"}, "baseline": {"enabled": False},
            "training": {"batch_size": 16, "bf16": False, "train_eval_samples": 64},
            "early_stopping": {"monitor": "val_loss"}}
    out = []

    def run(name: str, planted_verdict: str, frame: pd.DataFrame, **sections) -> None:
        path = tmp / f"{name}.csv"
        frame.to_csv(path, index=False)
        cfg = {**base, "data": {"path": str(path)}, "output": {"dir": str(tmp / "runs"), "name": name}}
        for key, value in sections.items():
            cfg[key] = {**cfg.get(key, {}), **value}
        try:
            verdict = finetune(cfg).verdict
        except Exception as exc:  # a scenario that crashes is reported, not hidden
            verdict = f"error: {type(exc).__name__}"
        out.append(("end to end", planted_verdict, verdict))
        print(f"  {name:<16} planted {planted_verdict:<16} verdict {verdict}", file=sys.stderr)

    data = planted(300)
    run("good_fit", "good fit", data, training={**base["training"], "lr": 3e-3, "epochs": 6},
        early_stopping={"patience": 2})
    # Labels that carry no signal: all the model can do is memorise the training rows.
    shuffled = planted(120, seed=1)
    shuffled["label"] = shuffled["label"].sample(frac=1, random_state=0).to_numpy()
    run("overfit", "overfitting", shuffled, training={**base["training"], "lr": 3e-3, "epochs": 25,
                                                      "weight_decay": 0.0},
        early_stopping={"enabled": False}, data={"val_size": 0.25, "test_size": 0.2})
    run("underfit", "underfitting", data, training={**base["training"], "lr": 1e-8, "epochs": 3})
    run("cheap_wins", "no better than a cheap baseline", data, training={**base["training"], "lr": 1e-8, "epochs": 3},
        baseline={"enabled": True})
    run("not_converged", "not converged", data, training={**base["training"], "lr": 3e-3, "epochs": 4})
    run("diverging", "unstable", data, training={**base["training"], "lr": 50.0, "epochs": 3, "optimizer": "sgd",
                                                 "max_grad_norm": None})
    leaky = pd.concat([data, data.sample(120, random_state=0)], ignore_index=True)
    run("leaked", "leaked test set", leaky, training={**base["training"], "lr": 3e-3, "epochs": 4},
        quality={"leakage": "report", "rules": ["normalize", "empty_text", "missing_label"]})
    noisy = planted(400, seed=3)
    flip = noisy.sample(80, random_state=0).index
    noisy.loc[flip, "label"] = noisy.loc[flip, "label"].map({"pos": "neg", "neg": "pos"})
    run("noisy_labels", "noisy labels", noisy, training={**base["training"], "lr": 3e-3, "epochs": 6},
        quality={"label_noise": "report"})
    return out


def replay() -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_diagnosis import BASE, CFG, SCENARIOS

    from justfit.diagnosis import diagnose

    out = []
    for verdict, sc in SCENARIOS.items():
        sc = dict(sc)
        d = diagnose(sc.pop("history"), metrics=BASE, config=CFG, **sc)
        out.append(("replay", verdict, d.verdict))
    return out


def main() -> None:
    from justfit.models.factory import build_tiny_random

    tmp = Path(tempfile.mkdtemp(prefix="justfit-diag-"))
    model = str(build_tiny_random(tmp / "tiny"))
    results = end_to_end(tmp, model) + replay()
    counts = Counter((p, v) for _, p, v in results)
    cols = VERDICTS + sorted({v for _, _, v in results} - set(VERDICTS))
    print("| planted \\ verdict | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for p in VERDICTS:
        print(f"| {p} | " + " | ".join(str(counts.get((p, c), "")) for c in cols) + " |")
    right = sum(1 for _, p, v in results if p == v)
    print(f"\n{right} of {len(results)} scenarios get the right verdict")
    for source, p, v in results:
        if p != v:
            print(f"  wrong ({source}): planted {p}, verdict {v}")


if __name__ == "__main__":
    main()
