"""Data the model cannot read: the share of unknown tokens and of texts with no readable token,
measured per split with the chosen model's tokenizer, warned about, and diagnosed ahead of
learning-rate advice."""

from __future__ import annotations

import pandas as pd
import pytest

from justfit.tasks.text.coverage import split_coverage


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.mark.parametrize(("texts", "unk_min", "unk_max", "short_min", "short_max"), [
    (["a good film", "bad acting"], 0.0, 0.0, 0.0, 0.0),                # readable English
    (["这部电影非常好看", "我不喜欢这个"], 0.9, 1.0, 1.0, 1.0),             # a script outside the vocabulary
    (["😀😀", "🔥👍"], 0.9, 1.0, 1.0, 1.0),                               # emoji only
    (["12345", "3.14 -- 42", "!!!"], 0.0, 0.0, 1.0, 1.0),              # digits and punctuation only
    (["good 这部电影", "fine"], 0.0, 0.9, 0.0, 0.0),                     # partly readable
])
def test_split_coverage(tiny_tokenizer, texts, unk_min, unk_max, short_min, short_max):
    cov = split_coverage(texts, tiny_tokenizer)
    assert unk_min <= cov["unk_share"] <= unk_max
    assert short_min <= cov["short_share"] <= short_max
    assert cov["rows"] == len(texts)


def test_packaged_minilm_cannot_read_chinese():
    from transformers import AutoTokenizer

    from justfit.models.factory import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    cov = split_coverage(["这部电影非常好看"], tok)
    assert cov["unk_share"] > 0.8


def _unreadable_csv(tmp_path, n=80):
    rng = ["这部电影非常好看", "我不喜欢这个电影", "很好很好", "太差了真的", "演员很棒", "剧情无聊"]
    rows = [{"text": f"{rng[i % 6]}{'的' * (i % 7)}{'了' * (i % 5)}", "label": ["好", "坏"][i % 2]} for i in range(n)]
    p = tmp_path / "zh.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    return str(p)


def test_data_stage_warns_and_records_coverage(tmp_path, tiny_model):
    from justfit.config import JustfitConfig
    from justfit.data.stage import prepare_data

    cfg = JustfitConfig().updated({"data.path": _unreadable_csv(tmp_path), "model.name": tiny_model,
                                   "quality.label_noise": "off", "quality.rules": "empty_text,missing_label"})
    splits, report, _ = prepare_data(cfg)
    cov = report.summary()["tokenizer_coverage"]
    assert cov["train"]["unk_share"] > 0.9 and cov["threshold"] == 0.1
    assert any("cannot read" in w and "multilingual" in w for w in report.warnings)
    # Below the threshold: no warning.
    cfg = cfg.updated({"quality.unk_threshold": 1.0})
    _, report, _ = prepare_data(cfg)
    assert not any("cannot read" in w for w in report.warnings)


def test_unreadable_data_is_the_verdict_not_learning_rate_advice(tmp_path, tiny_model):
    from justfit import finetune

    r = finetune({"data": {"path": _unreadable_csv(tmp_path)}, "model": {"name": tiny_model},
                  "quality": {"label_noise": "off", "rules": ["empty_text", "missing_label"]},
                  "training": {"epochs": 3, "bf16": False, "train_eval_samples": 16},
                  "output": {"dir": str(tmp_path / "runs"), "name": "zh"}})
    assert r.verdict == "model cannot read data"
    top = r.diagnosis.findings[0]
    assert top.code == "unreadable_data"
    sets = [k for f in r.diagnosis.findings for rem in f.remedies for k in rem["set"]]
    assert "training.lr" not in sets
    assert any(k == "model.name" for k in sets)
