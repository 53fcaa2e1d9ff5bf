"""Text augmentation inside training: applied on the fly to the training split only, new variants
each epoch, deterministic under the seed, labels never changed."""

from __future__ import annotations

import pandas as pd
import torch

from justfit import Finetuner
from tests.conftest import planted_texts


def _fit(tiny_model, train, val, seed=3, ops="swap,delete,typo"):
    return Finetuner(model=tiny_model, epochs=2, bf16=False, seed=seed,
                     config={"augment": {"ops": ops, "p": 1.0, "strength": 0.3},
                             "training": {"train_eval_samples": 16, "lr": 1e-3}}).fit(train, X_val=val)


def test_only_training_texts_are_augmented_and_labels_stay(tiny_model, monkeypatch):
    from justfit.tasks.text.augment import TextAugmenter

    data = planted_texts(60)
    train, val = data.iloc[:48], data.iloc[48:]
    seen = []
    real = TextAugmenter.__call__

    def spy(self, text, *, seed, epoch, index):
        seen.append((text, epoch, index))
        return real(self, text, seed=seed, epoch=epoch, index=index)

    monkeypatch.setattr(TextAugmenter, "__call__", spy)
    ft = _fit(tiny_model, train, val)
    texts = set(train["text"])
    assert seen and {t for t, _, _ in seen} <= texts  # never a validation text
    assert len({e for _, e, _ in seen}) == 2           # a new draw each of the 2 epochs
    assert len(seen) == 2 * len(train)                 # each training row once per epoch; no probe, no validation
    ds_labels = [lab for lab in ft.train_codes_]
    assert sorted(ds_labels) == sorted(ft.task_.encode_targets(train["label"]))


def test_augmented_dataset_is_deterministic_and_varies_by_epoch(tiny_model):
    from transformers import AutoTokenizer

    from justfit.config import AugmentConfig
    from justfit.tasks.text.augment import build_text_augmenter
    from justfit.tasks.text.task import AugmentedTexts, TextClassificationTask

    tok = AutoTokenizer.from_pretrained(tiny_model)
    step = TextClassificationTask(tok, 64)
    texts = planted_texts(20)["text"].tolist()
    aug = build_text_augmenter(AugmentConfig(ops=["swap", "typo"], p=1.0, strength=0.3))
    a = AugmentedTexts(step, texts, [0, 1] * 10, None, aug, seed=7)
    b = AugmentedTexts(step, texts, [0, 1] * 10, None, aug, seed=7)
    a.set_epoch(1)
    b.set_epoch(1)
    assert [a[i]["input_ids"] for i in range(20)] == [b[i]["input_ids"] for i in range(20)]
    first = [a[i]["input_ids"] for i in range(20)]
    a.set_epoch(2)
    assert [a[i]["input_ids"] for i in range(20)] != first
    assert [a[i]["labels"] for i in range(20)] == [0, 1] * 10
    plain = step.encode(texts, [0, 1] * 10)
    assert a.subset([0, 1])[0]["input_ids"] == plain[0]["input_ids"]  # the probe sees the original texts


def test_same_seed_same_weights_with_augmentation(tiny_model):
    data = planted_texts(60)
    train, val = data.iloc[:48], data.iloc[48:]
    w1 = _fit(tiny_model, train, val).model_.state_dict()
    w2 = _fit(tiny_model, train, val).model_.state_dict()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    w3 = _fit(tiny_model, train, val, ops="").model_.state_dict()
    assert not all(torch.equal(w1[k], w3[k]) for k in w1)


def test_augmentation_skips_the_feature_cache(tiny_model):
    data = planted_texts(60)
    ft = Finetuner(model=tiny_model, epochs=1, bf16=False, freeze="backbone",
                   config={"augment": {"ops": "swap", "p": 1.0}, "training": {"train_eval_samples": 8}}).fit(
        data.iloc[:48], X_val=data.iloc[48:])
    assert "equivalent" not in ft.feature_cache_  # the backbone ran on the augmented texts
    assert isinstance(pd.DataFrame(ft.history_.records), pd.DataFrame)
