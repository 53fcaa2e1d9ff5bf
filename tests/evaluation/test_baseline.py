"""The cheap baseline every run fits beside the fine-tuned model, its comparison, and the diagnosis on it."""

import json

import numpy as np
import pandas as pd
import pytest

from justfit.config import JustfitConfig
from justfit.diagnosis import diagnose
from justfit.errors import ConfigError
from justfit.evaluation.baseline import compare, fit_baseline
from justfit.tasks import get_task
from tests.conftest import FAST, ner_sentences, planted_texts
from tests.tasks.test_audio import SR, _tones
from tests.tasks.test_image import _blobs


class _Splits:
    def __init__(self, frame: pd.DataFrame, col: str):
        n = len(frame)
        a, b = int(n * 0.6), int(n * 0.8)
        self.train, self.validation, self.test = frame.iloc[:a], frame.iloc[a:b], frame.iloc[b:]


def _fitted(name, frame, col, cfg=None):
    task = get_task(name).fit(frame["label"].iloc[: int(len(frame) * 0.6)].tolist())
    splits = _Splits(frame, col)
    return task, splits, fit_baseline(task, splits, JustfitConfig.from_dict(cfg or {}))


def _accuracy(task, splits, logits):
    codes = task.encode_targets(splits.test["label"])
    return float(np.mean(np.argmax(logits, 1) == np.asarray(codes)))


def test_text_classification_baseline_is_tfidf_logistic_regression_and_learns_the_planted_words():
    task, splits, base = _fitted("classification", planted_texts(200), "text")
    assert base.name == "TF-IDF + logistic regression" and base.rows == 120 and "C=" in base.choice
    assert base.val_logits.shape == (40, 2) and np.allclose(np.exp(base.val_logits).sum(1), 1)
    assert _accuracy(task, splits, base.test_logits) > 0.9


def test_baseline_samples_at_most_max_rows_and_says_so():
    _, _, base = _fitted("classification", planted_texts(300), "text", {"baseline": {"max_rows": 100}})
    assert base.rows == 100 and "100 of the 180" in base.notes[0]
    with pytest.raises(ConfigError, match="max_rows"):  # too few rows to hold every class
        JustfitConfig.from_dict({"baseline": {"max_rows": 1}})


def test_regression_baseline_is_ridge_on_tfidf_in_the_models_scale():
    rng = np.random.default_rng(0)
    words = ["one", "two", "three", "four", "five"]
    rows = []
    for _ in range(200):
        k = int(rng.integers(0, 5))
        rows.append({"text": f"{words[k]} " + " ".join(rng.choice(list("abcdefgh"), 3)), "label": k + rng.normal(0, .1)})
    frame = pd.DataFrame(rows)
    task, splits, base = _fitted("regression", frame, "text")
    assert base.name == "TF-IDF + ridge regression" and base.test_logits.shape == (40,)
    pred = task.transform(base.test_logits)
    rmse = float(np.sqrt(np.mean((pred - splits.test["label"].to_numpy()) ** 2)))
    assert rmse < 0.5 * splits.test["label"].std()  # far better than the mean


def test_image_baseline_reads_pixels():
    X, y = _blobs(n=60)
    frame = pd.DataFrame({"image": list(X), "label": y})
    task, splits, base = _fitted("image-classification", frame, "image")
    assert base.name == "16 x 16 pixels + logistic regression"
    assert _accuracy(task, splits, base.test_logits) > 0.9


def test_audio_baseline_reads_mfcc_statistics():
    X, y = _tones(n=60)
    frame = pd.DataFrame({"audio": [{"array": x, "sampling_rate": SR} for x in X], "label": y})
    task, splits, base = _fitted("audio-classification", frame, "audio", {"data": {"max_seconds": 1.0}})
    assert base.name == "MFCC statistics + logistic regression"
    assert _accuracy(task, splits, base.test_logits) > 0.9


def test_token_baseline_tags_each_word_as_it_was_tagged_in_training():
    sents = ner_sentences(200)
    frame = pd.DataFrame({"tokens": [w for w, _ in sents], "label": [t for _, t in sents]})
    task = get_task("token-classification").fit(frame["label"].iloc[:120].tolist())
    splits = _Splits(frame, "tokens")
    base = fit_baseline(task, splits, JustfitConfig.from_dict({}))
    assert base.name == "most frequent tag per word"
    assert all(v.shape == (len(w), len(task.tags)) for v, w in zip(base.test_logits, splits.test["tokens"], strict=True))
    m = task.evaluate(task.encode_targets(splits.test["label"]), base.test_logits)
    assert m["f1"] > 0.5  # the planted names and cities recur


def _metrics(y, logits):
    pred = np.argmax(np.asarray(logits), 1)
    return {"accuracy": float(np.mean(pred == np.asarray(y)))}


def test_compare_is_a_paired_bootstrap_with_the_tasks_direction():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    perfect = np.eye(2)[y]
    coin = np.eye(2)[rng.integers(0, 2, 300)]
    out = compare(_metrics, y, perfect, coin, "accuracy", "max")
    assert out["beats"] and not out["worse"] and out["difference"] > 0.4 and 0 < out["se"] < 0.05
    assert out["needed"] == pytest.approx(2 * out["se"])
    same = compare(_metrics, y, coin, coin, "accuracy", "max")
    assert same["difference"] == 0 and not same["beats"] and not same["worse"]
    # For a lower-is-better score the difference is oriented: positive means the model is better.
    flip = compare(lambda t, z: {"err": 1 - _metrics(t, z)["accuracy"]}, y, perfect, coin, "err", "min")
    assert flip["beats"] and flip["difference"] > 0.4
    worse = compare(_metrics, y, coin, perfect, "accuracy", "max")
    assert worse["worse"] and not worse["beats"]


HISTORY = [{"epoch": e, "train_loss": 0.7 - 0.1 * e, "val_loss": 0.69 - 0.01 * e, "val_f1": 0.5 + 0.01 * e}
           for e in range(1, 5)]


def _baseline(beats, worse=False):
    return {"name": "TF-IDF + logistic regression", "seconds": 1.5, "rows": 800, "test": {"f1_macro": 0.8},
            "validation": {"score": "f1", "direction": "max", "model": 0.54, "baseline": 0.80, "difference": -0.26,
                           "se": 0.02, "needed": 0.04, "beats": beats, "worse": worse, "n": 200,
                           "threshold": "2 paired-bootstrap standard errors"}}


def test_diagnosis_says_first_when_the_model_does_not_beat_the_cheap_baseline():
    cfg = JustfitConfig.from_dict({}).model_dump(mode="json")
    d = diagnose(HISTORY, config=cfg, n_val=200, n_classes=2, baseline=_baseline(False, worse=True))
    assert d.verdict == "no better than a cheap baseline"
    top = d.findings[0]
    assert top.code == "cheap_baseline" and top.title.startswith("Worse than a cheap baseline (TF-IDF")
    assert "0.8000" in top.explanation and "keep the cheap model" in top.explanation
    assert top.evidence["needed"] == 0.04 and top.evidence["seen"] == -0.26
    sets = [r["set"] for r in top.remedies]
    assert sets[0]["training.epochs"] == 10  # more steps first
    assert any("training.lr" in s for s in sets) and {"model.freeze": "backbone", "training.lr": 1e-3} in sets
    # A model that beats it beyond the noise: no such finding.
    d2 = diagnose(HISTORY, config=cfg, n_val=200, n_classes=2, baseline=_baseline(True))
    assert all(f.code != "cheap_baseline" for f in d2.findings)


def test_a_run_reports_its_cheap_baseline_and_doctor_reads_it(fast_config, planted_csv, tmp_path):
    from justfit import finetune
    from justfit.diagnosis.diagnose import diagnose_run

    result = finetune({**fast_config, "data": {"path": planted_csv},
                       "training": {**FAST["training"], "epochs": 1, "lr": 1e-5}})
    base = result.data["baseline"]
    assert base["name"] == "TF-IDF + logistic regression" and base["rows"] == result.data["sizes"]["train"]
    assert set(base["test"]) >= {"accuracy", "f1_macro"} and base["validation"]["score"] == "f1"
    # The planted words are easy for word counts; a random tiny model after one slow epoch is not close.
    assert not base["validation"]["beats"]
    assert result.verdict == "no better than a cheap baseline"
    assert result.diagnosis.findings[0].code == "cheap_baseline"
    saved = json.loads((tmp_path / "runs" / "r" / "result.json").read_text())
    assert saved["data"]["baseline"]["name"] == base["name"]
    assert diagnose_run(tmp_path / "runs" / "r").verdict == "no better than a cheap baseline"
    off = finetune({**fast_config, "data": {"path": planted_csv}, "baseline": {"enabled": False},
                    "output": {**fast_config["output"], "name": "off"}})
    assert "baseline" not in off.data and off.verdict != "no better than a cheap baseline"


def test_auto_fit_acts_on_the_cheap_baseline(fast_config, planted_csv):
    from justfit import finetune

    result = finetune({**fast_config, "data": {"path": planted_csv},
                       "training": {**FAST["training"], "epochs": 1, "lr": 1e-5}}, auto=True, rounds=2)
    rounds = result.data["autofit"]["rounds"]
    assert rounds[0]["verdict"] == "no better than a cheap baseline"
    assert rounds[1]["finding"] == "cheap_baseline" and rounds[1]["changes"] == {"training.epochs": 2}


def test_a_frozen_body_that_does_not_beat_the_baseline_is_unfrozen_first():
    cfg = JustfitConfig.from_dict({"model": {"freeze": "backbone"}, "training": {"lr": 2e-5}}).model_dump(mode="json")
    d = diagnose(HISTORY, config=cfg, n_val=200, n_classes=2, baseline=_baseline(False))
    sets = [r["set"] for r in d.findings[0].remedies]
    # at the packaged MiniLM's measured rate for the whole model, not the recipe's 2e-5 for a head
    assert sets[0] == {"model.freeze": "none", "training.lr": 1e-4} and all(s.get("model.freeze") != "backbone" for s in sets)


def test_no_noise_measured_is_no_evidence_and_a_flat_loss_asks_for_larger_steps_first():
    cfg = JustfitConfig.from_dict({}).model_dump(mode="json")
    same = _baseline(False)
    same["validation"].update(model=0.4, baseline=0.4, difference=0.0, se=0.0, needed=0.0)
    d = diagnose(HISTORY, config=cfg, n_val=6, n_classes=2, baseline=same)
    assert all(f.code != "cheap_baseline" for f in d.findings)  # identical predictions say nothing
    flat = [{"epoch": e, "train_loss": 1.0986, "val_loss": 1.0986, "val_f1": 0.2} for e in (1, 2, 3)]
    d = diagnose(flat, config=cfg, n_val=200, n_classes=3, baseline=_baseline(False))
    top = next(f for f in d.findings if f.code == "cheap_baseline")
    assert top.evidence["train_loss_fell"] is False and "training.lr" in top.remedies[0]["set"]


def test_tfidf_reads_one_character_words_and_falls_back_to_characters():
    from justfit.evaluation.baseline import tfidf_features

    x, (y,) = tfidf_features(list("abcdefghij"), [["a", "b"]])
    assert x.shape[1] == 10 and y.nnz == 2
    x, _ = tfidf_features(["!!", "??", "!?"], [["!"]])  # no word at all: character n-grams
    assert x.shape[1] > 0
