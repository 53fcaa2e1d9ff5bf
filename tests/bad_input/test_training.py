"""Field faults in training and evaluation, each tested by kind with several members:
gradient accumulation (a step's loss is the mean over its examples however it is split),
the effective maximum length, per-class averages over present classes, and non-finite outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from justfit.config import TrainingConfig
from justfit.evaluation.metrics import classification_report, epoch_metrics
from justfit.tasks.text.task import TextClassificationTask, effective_max_length
from justfit.training.trainer import Trainer

# ---------------------------------------------------------------- gradient accumulation


def _tiny(path, seed=0):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from justfit.models.factory import build_tiny_random

    build_tiny_random(path, seed=seed)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3, hidden_dropout_prob=0.0,
                                                               attention_probs_dropout_prob=0.0)
    return model, AutoTokenizer.from_pretrained(path)


def _train(tmp_path, n, batch_size, accum, *, class_weights=None, weights=False, l1=0.0, epochs=2):
    model, tok = _tiny(tmp_path / "m")
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("abcdefgh xyz"), size=rng.integers(3, 30))) for _ in range(n)]
    labels = [i % 3 for i in range(n)]
    task = TextClassificationTask(tok, 32, class_weights=class_weights)
    w = (rng.uniform(0.1, 2.0, size=n).tolist() if weights else None)
    train = task.encode(texts, labels, w)
    val = task.encode(texts[:6], labels[:6])
    cfg = TrainingConfig(epochs=epochs, batch_size=batch_size, grad_accum_steps=accum, lr=1e-2, bf16=False,
                         group_by_length=False, train_eval_samples=0, l1=l1, max_grad_norm=None, seed=3)
    trainer = Trainer(task, cfg)
    trainer.fit(model, train, val)
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize(("n", "batch", "micro", "accum", "extra"), [
    (16, 8, 4, 2, {}),                                   # divides evenly
    (20, 8, 4, 2, {}),                                   # a one-micro-batch tail window
    (21, 6, 3, 2, {}),                                   # uneven last batch inside the tail window
    (22, 8, 2, 4, {}),                                   # four micro-batches, a partial tail
    (20, 8, 4, 2, {"class_weights": [1.0, 3.0, 0.5]}),   # weighted mean over the step
    (20, 8, 4, 2, {"weights": True}),                    # per-row sample weights
    (20, 8, 4, 2, {"l1": 1e-3}),                         # the L1 term once per step
])
def test_accumulation_matches_one_big_batch(tmp_path, n, batch, micro, accum, extra):
    big = _train(tmp_path, n, batch, 1, **extra)
    split = _train(tmp_path, n, micro, accum, **extra)
    worst = max(float((big[k] - split[k]).abs().max()) for k in big)
    assert worst < 1e-5, f"weights differ by {worst:.2e}"


# ---------------------------------------------------------------- maximum length


class _Cfg:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Tok:
    def __init__(self, model_max_length):
        self.model_max_length = model_max_length


@pytest.mark.parametrize(("configured", "tok_max", "cfg", "expected", "names"), [
    (256, int(1e30), _Cfg(model_type="bert", max_position_embeddings=128), 128, "max_position_embeddings"),
    (1024, 512, _Cfg(model_type="bert", max_position_embeddings=512), 512, "512"),
    (512, int(1e30), _Cfg(model_type="roberta", max_position_embeddings=514, pad_token_id=1), 512, ""),
    (1024, int(1e30), _Cfg(model_type="roberta", max_position_embeddings=514, pad_token_id=1), 512, "reserved"),
    (600, int(1e30), _Cfg(model_type="xlm-roberta", max_position_embeddings=514, pad_token_id=1), 512, "reserved"),
    (2048, int(1e30), _Cfg(model_type="gpt2", n_positions=1024), 1024, "n_positions"),
    (64, 512, _Cfg(model_type="bert", max_position_embeddings=512), 64, ""),
    (256, None, None, 256, ""),
])
def test_effective_max_length(configured, tok_max, cfg, expected, names):
    length, reason = effective_max_length(configured, _Tok(tok_max), cfg)
    assert length == expected
    assert names in reason


@pytest.mark.parametrize("max_length", [256, 1024])
def test_model_with_few_positions_and_no_tokenizer_limit(tmp_path, max_length):
    """A local BERT with 128 positions whose tokenizer sets no model_max_length trains and predicts long texts."""
    from transformers import BertConfig, BertModel, BertTokenizer

    from justfit import Finetuner
    from justfit.models.factory import build_tiny_random

    src = build_tiny_random(tmp_path / "src")
    tok = BertTokenizer.from_pretrained(src)
    tok.model_max_length = int(1e30)
    path = tmp_path / "bert128"
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=128)).save_pretrained(path)
    tok.save_pretrained(path)
    cfg = json.loads((path / "tokenizer_config.json").read_text())
    cfg.pop("model_max_length", None)
    (path / "tokenizer_config.json").write_text(json.dumps(cfg))
    texts = [("good " if i % 2 else "bad ") * 100 for i in range(24)]
    labels = ["pos" if i % 2 else "neg" for i in range(24)]
    ft = Finetuner(model=str(path), epochs=1, max_length=max_length, bf16=False,
                   config={"training": {"train_eval_samples": 8}}).fit(texts, labels)
    assert ft.step_.max_length == 128
    proba = ft.predict_proba(["x" * 100_000, "good " * 20_000])
    assert proba.shape == (2, 2) and np.isfinite(proba).all()


# ---------------------------------------------------------------- per-class averages


def _onehot(pred, k):
    p = np.full((len(pred), k), 0.01)
    p[np.arange(len(pred)), pred] = 1.0
    return p / p.sum(1, keepdims=True)


@pytest.mark.parametrize(("y", "pred", "k"), [
    ([0, 0, 1, 1], [0, 0, 1, 1], 3),        # perfect, class 2 absent
    ([0, 0, 0], [0, 0, 0], 2),              # one-class file, perfect
    ([1, 1, 2, 2], [1, 1, 2, 2], 4),        # two of four classes absent
])
def test_perfect_predictions_score_one_whatever_is_absent(y, pred, k):
    names = [f"c{i}" for i in range(k)]
    m = classification_report(y, _onehot(pred, k), names)
    assert m["f1_macro"] == pytest.approx(1.0) and m["precision_macro"] == pytest.approx(1.0)
    assert epoch_metrics(y, _onehot(pred, k))["f1"] == pytest.approx(1.0)
    absent = [n for i, n in enumerate(names) if i not in y]
    assert m["absent_classes"] == absent
    assert set(m["per_class"]) == set(names)  # every class listed
    for name in absent:
        row = m["per_class"][name]
        assert row["absent"] and row["support"] == 0 and row["recall"] is None and row["f1"] is None


def test_a_predicted_absent_class_counts_as_sklearn_does():
    from sklearn.metrics import f1_score

    y, pred = [0, 0, 1], [0, 2, 1]
    m = classification_report(y, _onehot(pred, 3), ["a", "b", "c"])
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["per_class"]["c"]["precision"] == 0.0 and m["per_class"]["c"]["absent"]


# ---------------------------------------------------------------- non-finite outputs


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rows", [[0], [0, 1, 2, 3]])
def test_non_finite_probabilities_give_no_metrics(bad, rows):
    proba = _onehot([0, 1, 0, 1], 2)
    proba[rows] = bad
    m = classification_report([0, 1, 0, 1], proba, ["a", "b"])
    for key in ("accuracy", "f1_macro", "f1_weighted", "log_loss", "precision_macro"):
        assert m[key] is None
    assert "non-finite" in m["invalid_reason"]
    json.dumps(m, allow_nan=False)  # plain JSON, no NaN
    e = epoch_metrics([0, 1, 0, 1], proba)
    assert all(np.isnan(v) for v in e.values())


def test_diverged_run_reports_null_metrics_and_unstable(tmp_path, tiny_model, planted_csv):
    from justfit import finetune

    r = finetune({"data": {"path": planted_csv}, "model": {"name": tiny_model},
                  "quality": {"label_noise": "off"},
                  "training": {"epochs": 2, "lr": 1e6, "bf16": False, "max_grad_norm": None, "optimizer": "sgd",
                               "train_eval_samples": 16},
                  "output": {"dir": str(tmp_path / "runs"), "name": "boom"}})
    metrics = json.loads((tmp_path / "runs" / "boom" / "metrics.json").read_text())
    if r.history[0].get("diverged") or metrics.get("invalid_reason"):
        assert metrics.get("accuracy") is None and metrics.get("f1_macro") is None
        assert r.verdict == "unstable"
        lrs = [rem["set"]["training.lr"] for f in r.diagnosis.findings for rem in f.remedies
               if "training.lr" in rem["set"]]
        assert all(lr < 1e6 for lr in lrs)
    else:  # the optimiser did not blow up: then the metrics must be real numbers
        assert isinstance(metrics["accuracy"], float)


def test_the_diagnosis_names_a_class_absent_from_the_test_data():
    from justfit.diagnosis import diagnose

    history = [{"epoch": e, "train_loss": 0.7 - 0.1 * e, "val_loss": 0.7 - 0.08 * e} for e in range(1, 4)]
    metrics = classification_report([0, 0, 1], _onehot([0, 0, 1], 3), ["a", "b", "c"])
    found = [f for f in diagnose(history, metrics=metrics).findings if f.code == "absent_class"]
    assert found and "'c'" in found[0].explanation and found[0].evidence["absent_classes"] == ["c"]
    assert not [f for f in diagnose(history, metrics=classification_report(
        [0, 1, 2], _onehot([0, 1, 2], 3), ["a", "b", "c"])).findings if f.code == "absent_class"]


def test_a_quiet_run_still_says_the_length_was_capped(tiny_model, planted):
    from justfit import Finetuner
    from justfit.errors import DataQualityWarning

    with pytest.warns(DataQualityWarning, match=r"max length: 512 tokens \(data.max_length 1024 is capped"):
        Finetuner(model=tiny_model, epochs=1, max_length=1024, bf16=False,
                  config={"training": {"train_eval_samples": 8}}).fit(planted)
