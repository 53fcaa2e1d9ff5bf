"""The Task seam: every registered task conforms to the protocol, and text regression (the proof
that a new task is an addition) runs end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from justfit.tasks import TASKS, StepTask, TaskKind, get_task, infer_task


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_conforms_to_the_protocol(name, tiny_model):
    from transformers import AutoTokenizer

    task = get_task(name)
    assert isinstance(task, TaskKind)
    assert task.name == name
    assert set(task.metric_directions.values()) <= {"min", "max"} and "loss" in task.metric_directions
    labels = pd.Series(["1", "2", "3", "2", "1", "3", "2.5", "1.5"] * 3)
    if task.input_column == "tokens":  # a tag per word: sentences of 1 to 4 words
        labels = pd.Series(["B-PER I-PER O", "O", "B-LOC O O O", "O B-PER"] * 6)
    task.fit(labels)
    targets = task.encode_targets(labels)
    assert len(targets) == len(labels)
    key = task.stratify_key(labels)
    assert len(key) == len(labels)
    # The inputs and preprocessor of the task's modality.
    if task.input_column == "text":
        tok = AutoTokenizer.from_pretrained(tiny_model)
        examples = ["a b c", "d e"] * 12
    elif task.input_column == "tokens":
        tok = AutoTokenizer.from_pretrained(tiny_model)
        examples = [("Ann", "Lee", "said"), ("hi",), ("Paris", "is", "so", "big"), ("ask", "Bob")] * 6
    elif task.input_column == "image":
        from justfit.tasks.image.models import vit_processor

        tok = vit_processor(16)
        examples = [np.zeros((8, 8, 3), np.uint8), np.full((5, 7), 200, np.uint8)] * 12
    else:
        from transformers import WhisperFeatureExtractor

        tok = WhisperFeatureExtractor(feature_size=80, chunk_length=1)
        examples = [{"array": np.zeros(8000, np.float32), "sampling_rate": 16000},
                    {"array": np.full(3000, 0.1, np.float32), "sampling_rate": 8000}] * 12

    class Cfg:
        id2label = {0: "a"}
        num_labels = 1
        max_position_embeddings = 512
        model_type = "bert"

    step = task.step_from_meta(tok, 32, Cfg())
    assert isinstance(step, StepTask)
    assert step.metric_directions == task.metric_directions
    ds = step.encode(examples, targets)
    batch = step.collate([ds[i] for i in range(4)])
    k = len(task.labels)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(len(labels), k)).astype(np.float32)
    if task.input_column == "tokens":  # per sentence: one row of logits per word
        logits = np.empty(len(labels), dtype=object)
        logits[:] = [rng.normal(size=(len(x), k)).astype(np.float32) for x in examples]
    metrics = step.epoch_metrics(targets, logits)
    assert set(metrics) == set(task.metric_directions)
    frame = pd.DataFrame({task.input_column: examples[:len(labels)], "label": labels})
    table = task.analysis(frame, logits)
    assert {"row", task.input_column, "label", "predicted", "loss"} <= set(table.columns) and len(table) == len(labels)
    report = task.evaluate(targets, logits, targets)
    json.dumps(report)
    assert all(k in report for k in task.headline)
    assert isinstance(task.report_sections(report, table), list)
    assert json.dumps(task.meta())
    assert "labels" in batch


@pytest.mark.parametrize(("labels", "expected"), [
    ([str(round(0.37 * i, 3)) for i in range(200)], "regression"),
    ([str(i % 3) for i in range(200)], "classification"),
    (["pos", "neg"] * 100, "classification"),
    ([str(i % 10 + 1) for i in range(200)], "classification"),  # a 1-10 rating: classes unless task=regression
])
def test_task_is_inferred_from_the_labels(labels, expected):
    name, note = infer_task(pd.Series(labels))
    assert name == expected
    assert ("regression" in note) == (expected == "regression")


def _numbers_csv(tmp_path, n=120):
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(n):
        k = int(rng.integers(0, 6))
        filler = " ".join("".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 6)) for _ in range(4))
        rows.append({"text": " ".join(["good"] * k + ["meh"] * (5 - k)) + " " + filler,
                     "score": round(k + rng.normal(0, .1), 3)})
    p = tmp_path / "scores.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    return str(p)


def test_text_regression_end_to_end(tmp_path, tiny_model):
    from transformers import AutoModelForSequenceClassification

    from justfit import Finetuner, finetune

    path = _numbers_csv(tmp_path)
    with pytest.warns(UserWarning, match="training a regression"):
        r = finetune({"data": {"path": path, "label_column": "score"}, "model": {"name": tiny_model},
                      "training": {"epochs": 3, "lr": 1e-3, "bf16": False, "train_eval_samples": 16},
                      "output": {"dir": str(tmp_path / "runs"), "name": "reg"}})
    run = tmp_path / "runs" / "reg"
    assert r.config["task"] == "regression" and r.data["task"] == "regression"
    m = json.loads((run / "metrics.json").read_text())
    assert {"rmse", "mae", "r2", "spearman", "baseline_rmse"} <= set(m)
    assert "val_rmse" in r.history[0] and "val_accuracy" not in r.history[0]
    # val_rmse and val_mae are in the targets' units, as the test metrics (the loss stays standardised)
    std = json.loads((run / "model" / "justfit.json").read_text())["target_std"]
    assert std > 1 and all(math.isclose(h["val_rmse"], math.sqrt(h["val_loss"]) * std, rel_tol=1e-4) for h in r.history)
    pred = pd.read_csv(run / "predictions.csv")
    assert {"label", "predicted", "residual"} <= set(pred.columns)
    html = (run / "report.html").read_text()
    assert "predicted vs true" in html and "confusion matrix" not in html
    # Plain transformers loads it as a one-output regression model.
    model = AutoModelForSequenceClassification.from_pretrained(run / "model")
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    back = Finetuner.load(run)
    values = back.predict(["good good good good good 1", "meh meh meh meh meh 2"])
    assert values.shape == (2,) and np.isfinite(values).all()
    with pytest.raises(Exception, match="predict_proba is for classification"):
        back.predict_proba(["x"])
    meta = json.loads((run / "model" / "justfit.json").read_text())
    assert meta["task"] == "regression" and "target_mean" in meta
    assert r.verdict  # diagnosed on the loss-based rules


def test_regression_needs_numbers(tmp_path, tiny_model):
    from justfit.errors import DataError
    from justfit.run import finetune

    p = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t {i}" for i in range(40)], "label": ["a", "b"] * 20}).to_csv(p, index=False)
    with pytest.raises(DataError, match="task=regression needs a number"):
        finetune({"task": "regression", "data": {"path": str(p)}, "model": {"name": tiny_model},
                  "output": {"dir": str(tmp_path / "runs"), "name": "r"}})


def test_regression_monitor_is_checked_against_its_metrics(tmp_path, tiny_model):
    from justfit.errors import ConfigError
    from justfit.run import finetune

    with pytest.raises(ConfigError, match="val_accuracy"):
        finetune({"task": "regression", "early_stopping": {"monitor": "val_accuracy"},
                  "data": {"path": _numbers_csv(tmp_path)}, "model": {"name": tiny_model},
                  "output": {"dir": str(tmp_path / "runs"), "name": "r"}})
