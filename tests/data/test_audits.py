"""Leakage audit, label-noise audit, feature cache, class balance: planted problems, known answers."""

import random
import string

import numpy as np
import pandas as pd
import pytest
import torch

from justfit.data.label_audit import find_label_issues
from justfit.data.leakage import audit_leakage
from justfit.errors import ConfigError


def texts(n, seed):
    rng = random.Random(seed)
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(2000)]
    return [" ".join(rng.choices(vocab, k=rng.randint(8, 14))) for _ in range(n)], rng


def test_leakage_finds_exact_and_near_copies_and_removes_them_from_train():
    t, rng = texts(600, seed=5)
    train = pd.DataFrame({"text": t[:500], "label": ["a", "b"] * 250}, index=range(1000, 1500))
    test = pd.DataFrame({"text": t[500:550], "label": ["a", "b"] * 25}, index=range(50))
    val = pd.DataFrame({"text": t[550:600], "label": ["a", "b"] * 25}, index=range(50))
    # Plant: 5 exact copies (different case/spacing) and 5 near copies of test rows, 3 exact of validation.
    exact_rows, near_rows = [1000, 1001, 1002, 1003, 1004], [1010, 1011, 1012, 1013, 1014]
    for k, r in enumerate(exact_rows):
        train.at[r, "text"] = "  " + test.at[k, "text"].upper()
    for k, r in enumerate(near_rows):
        src = test.at[10 + k, "text"]
        train.at[r, "text"] = src[:-1] + ("x" if src[-1] != "x" else "y")
    for k, r in enumerate([1020, 1021, 1022]):
        train.at[r, "text"] = val.at[k, "text"]
    test_before = test.copy()

    rep = audit_leakage(train, {"validation": val, "test": test})
    assert rep.counts["test"] == {"exact": 5, "near": 5} and rep.counts["validation"] == {"exact": 3, "near": 0}
    assert rep.test_leaks and rep.removed == 13
    assert set(rep.leaked["row"]) == set(exact_rows + near_rows + [1020, 1021, 1022])
    leaked = rep.leaked.set_index("row")
    assert leaked.loc[1000, "duplicate_of"] == 0 and "exact copy of test row 0" in leaked.loc[1000, "detail"]
    assert "near copy" in leaked.loc[1010, "detail"] and leaked.loc[1010, "duplicate_of"] == 10
    assert len(rep.train) == 487 and not set(rep.leaked["row"]) & set(rep.train.index)
    pd.testing.assert_frame_equal(test, test_before)  # the user's test set is never changed
    assert "removed from train" in rep.summary()

    report_only = audit_leakage(train, {"test": test}, action="report")
    assert report_only.removed == 0 and len(report_only.train) == 500 and report_only.test_leaks
    assert report_only.to_dict()["counts"]["test"]["exact"] == 5
    with pytest.raises(ConfigError, match="remove, report"):
        audit_leakage(train, {"test": test}, action="delete")


def test_no_leakage_reported_as_such():
    t, _ = texts(200, seed=6)
    train = pd.DataFrame({"text": t[:150], "label": "a"})
    test = pd.DataFrame({"text": t[150:], "label": "a"})
    rep = audit_leakage(train, {"test": test})
    assert not rep.test_leaks and rep.removed == 0 and "no leakage" in rep.summary()


def blobs(n=1500, dims=16, classes=3, seed=0, flip=0.1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centers = rng.normal(0, 3, (classes, dims))
    X = centers[y] + rng.normal(0, 1, (n, dims))
    flipped = rng.choice(n, int(flip * n), replace=False)
    given = y.copy()
    given[flipped] = (y[flipped] + rng.integers(1, classes, len(flipped))) % classes
    names = np.array(["cat", "dog", "eel"])
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(n)], "label": names[given]}, index=np.arange(n) + 7)
    return frame, X.astype(np.float32), set(frame.index[flipped]), names[y]


def test_label_audit_finds_planted_flips_on_learnable_features():
    frame, X, flipped, truth = blobs()
    rep = find_label_issues(frame, features=X, folds=5)
    found = set(rep.issues["row"])
    tp = len(found & flipped)
    assert tp / len(found) >= 0.8 and tp / len(flipped) >= 0.8, (tp, len(found), len(flipped))
    top = rep.issues.iloc[0]
    assert top["row"] in flipped and top["suggested_label"] == truth[top["row"] - 7]
    assert top["given_label"] == frame.at[top["row"], "label"]
    assert rep.issues["label_quality"].is_monotonic_increasing or rep.issues["label_quality"].iloc[0] < 0.2
    d = rep.to_dict(top=3)
    assert d["issues"] == len(found) and len(d["top"]) == 3 and 0.8 < d["out_of_fold_accuracy"] < 0.95
    removed = rep.as_removed()
    assert (removed["rule"] == "label_noise").all() and removed["detail"].str.contains("suggested").all()


def test_label_audit_leaves_out_classes_too_small_for_folds():
    frame = pd.DataFrame({"text": ["a", "b", "c", "d", "e"], "label": ["x", "x", "x", "x", "y"]})
    rep = find_label_issues(frame, features=np.eye(5, dtype=np.float32))
    assert rep.skipped and "'y'" in rep.skipped and rep.n_issues == 0
    big, X, flipped, _ = blobs(600)
    tiny = pd.DataFrame({"text": ["r1", "r2", "r3"], "label": ["rare"] * 3}, index=[9001, 9002, 9003])
    rep = find_label_issues(pd.concat([big, tiny]), features=np.vstack([X, np.zeros((3, X.shape[1]))]), folds=5)
    assert rep.folds == 5 and "'rare'" in rep.note and not rep.skipped
    assert rep.n_rows == 600 and not set(rep.issues["row"]) & {9001, 9002, 9003}
    assert len(set(rep.issues["row"]) & flipped) / len(flipped) >= 0.8


def test_feature_cache_embeds_once_and_reuses(tiny_model, tmp_path):
    from justfit.tasks.text.frozen import embed_cached

    t, _ = texts(40, seed=2)
    a, info = embed_cached(t, tiny_model, cache_dir=tmp_path, bf16=False, batch_size=8)
    assert a.shape == (40, 32) and not info["cache_hit"] and np.isfinite(a).all()
    b, info2 = embed_cached(t, tiny_model, cache_dir=tmp_path, bf16=False)
    assert info2["cache_hit"] and np.array_equal(a, b)
    c, info3 = embed_cached(t[:-1] + ["changed"], tiny_model, cache_dir=tmp_path, bf16=False)
    assert not info3["cache_hit"] and np.allclose(a[:-1], c[:-1], atol=1e-5)  # batch order does not matter
    # Features are the mean of the encoder's last hidden states over real tokens.
    from transformers import AutoModel, AutoTokenizer

    tok, enc = AutoTokenizer.from_pretrained(tiny_model), AutoModel.from_pretrained(tiny_model).eval()
    with torch.no_grad():
        ids = tok(t[0], return_tensors="pt")
        ref = enc(**ids).last_hidden_state[0].mean(0).numpy()
    assert np.allclose(a[0], ref, atol=1e-4)


def test_label_audit_end_to_end_through_the_backbone(tiny_model, tmp_path):
    t, _ = texts(60, seed=3)
    frame = pd.DataFrame({"text": t, "label": ["a", "b", "c"] * 20})
    rep = find_label_issues(frame, model=tiny_model, folds=3, cache_dir=str(tmp_path))
    assert rep.folds == 3 and rep.n_rows == 60 and not rep.features["cache_hit"]
    assert set(rep.issues["row"]) <= set(frame.index)
    again = find_label_issues(frame, model=tiny_model, folds=3, cache_dir=str(tmp_path))
    assert again.features["cache_hit"] and again.issues["row"].tolist() == rep.issues["row"].tolist()


def test_balanced_sampler_evens_out_classes():
    from justfit.training.sampling import BatchSampler

    labels = [0] * 900 + [1] * 100
    s = BatchSampler([5] * 1000, 50, seed=0, balance_labels=labels)
    idx = [i for b in s for i in b]
    assert len(idx) == 1000
    share = np.mean(np.asarray(labels)[idx])
    assert 0.4 < share < 0.6


def test_weighted_loss_matches_manual_computation(tiny_model):
    from justfit.models import load_model
    from justfit.tasks import TextClassificationTask

    model, tok, _ = load_model(tiny_model, ["a", "b"])
    task = TextClassificationTask(tok, 32, class_weights=[1.0, 3.0])
    ds = task.encode(["good day", "bad day", "fine", "ugly thing"], [0, 1, 1, 0], weights=[1.0, 0.5, 1.0, 0.0])
    batch = task.collate([ds[i] for i in range(4)])
    model.eval()
    out = task.forward(model, batch)
    losses = torch.nn.functional.cross_entropy(out["logits"].float(), batch["labels"], reduction="none")
    cw, rw = torch.tensor([1.0, 3.0, 3.0, 1.0]), torch.tensor([1.0, 0.5, 1.0, 0.0])
    assert torch.allclose(out["loss"], (losses * rw * cw).sum() / cw.sum(), atol=1e-6)
    plain = TextClassificationTask(tok, 32).forward(model, task.collate([ds[i] for i in range(4)]))
    assert torch.allclose(plain["loss"], (losses * rw).mean(), atol=1e-6)  # row weights are not renormalised


def test_balance_report_warns_about_tiny_classes():
    from justfit.data.splitting import Splits
    from justfit.data.stage import balance_report

    train = pd.DataFrame({"text": ["x"] * 530, "label": ["big"] * 500 + ["small"] * 30})
    bal, warns = balance_report(Splits(train, train.iloc[:0], train.iloc[:0]))
    assert bal["train"] == {"big": 500, "small": 30} and bal["imbalance_ratio"] == pytest.approx(500 / 30)
    assert len(warns) == 1 and "class_weights=auto" in warns[0]
    tiny = pd.DataFrame({"text": ["x"] * 105, "label": ["big"] * 100 + ["tiny"] * 5})
    _, warns = balance_report(Splits(tiny, tiny.iloc[:0], tiny.iloc[:0]))
    assert "class 'tiny' has only 5 training rows" in warns[0]
