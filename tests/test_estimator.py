import numpy as np
import pytest

from justfit import Finetuner
from justfit.errors import ConfigError, DataError
from tests.conftest import FAST


def make(tiny_model, **kw):
    params = dict(model=tiny_model, config={"training": FAST["training"]}, seed=0)
    params.update(kw)
    return Finetuner(**params)


def test_init_only_stores_and_params_round_trip():
    ft = Finetuner(lr=1e-4, epochs=2)
    assert ft.get_params()["lr"] == 1e-4 and not hasattr(ft, "model_")
    ft.set_params(epochs=3)
    assert ft.epochs == 3
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        ft.set_params(epoch=3)
    assert ft.resolved_config().training.epochs == 3


def test_fit_returns_self_and_learns_attributes(tiny_model, planted):
    ft = make(tiny_model)
    assert ft.fit(planted["text"], planted["label"]) is ft
    assert ft.classes_ == ["neg", "pos"]
    assert len(ft.history_) == 2
    rec = ft.history_[0]
    for key in ("train_loss", "val_loss", "val_accuracy", "val_f1", "train_accuracy", "train_f1", "lr", "seconds"):
        assert key in rec, key
    assert ft.best_epoch_ in (1, 2) and ft.stop_reason_


def test_learns_a_planted_task(tiny_model, planted):
    ft = make(tiny_model, epochs=8, early_stopping=False)
    ft.fit(planted["text"], planted["label"])
    losses = ft.history_.column("train_loss")
    assert losses[-1] < losses[0]
    assert (ft.predict(["good great nice", "bad awful poor"]) == ["pos", "neg"]).all()


def test_predict_proba_and_predict_agree(tiny_model, planted):
    ft = make(tiny_model).fit(planted)
    proba = ft.predict_proba(["good", "bad bad", "nice"])
    assert proba.shape == (3, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert list(ft.predict(["good", "bad bad", "nice"])) == [ft.classes_[i] for i in proba.argmax(1)]


def test_integer_labels_round_trip(tiny_model, planted, tmp_path):
    y = (planted["label"] == "pos").astype(int) * 7
    ft = make(tiny_model).fit(planted["text"].tolist(), y.tolist())
    assert ft.classes_ == [0, 7]
    ft.save(tmp_path / "m")
    back = Finetuner.load(tmp_path / "m")
    assert back.classes_ == [0, 7] and set(back.predict(["good"])) <= {0, 7}


def test_save_load_predict_and_plain_transformers_pipeline(tiny_model, planted, tmp_path):
    from transformers import pipeline

    ft = make(tiny_model).fit(planted)
    texts = ["good nice day", "ugly poor", "great"]
    path = ft.save(tmp_path / "model")
    back = Finetuner.load(path)
    assert np.allclose(back.predict_proba(texts), ft.predict_proba(texts), atol=1e-6)
    pipe = pipeline("text-classification", model=str(path), top_k=None)
    out = pipe(texts)
    proba = ft.predict_proba(texts)
    for row, p in zip(out, proba, strict=True):
        scores = {d["label"]: d["score"] for d in row}
        assert max(scores, key=scores.get) == str(ft.classes_[int(p.argmax())])
        for i, c in enumerate(ft.classes_):
            assert abs(scores[str(c)] - p[i]) < 1e-4


def test_evaluate_reports_everything(tiny_model, planted):
    ft = make(tiny_model).fit(planted)
    m = ft.evaluate(planted["text"], planted["label"])
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "log_loss",
                "confusion_matrix", "per_class", "majority_baseline_accuracy"):
        assert key in m
    assert sum(map(sum, m["confusion_matrix"]["matrix"])) == len(planted)
    with pytest.raises(DataError, match="not seen in training"):
        ft.evaluate(["x"], ["unknown"])


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Finetuner().predict(["x"])


def test_bad_monitor_fails_before_loading_anything(planted):
    with pytest.raises(ConfigError, match="val_f1"):
        Finetuner(model="/does/not/exist", monitor="val_f11").fit(planted)


def test_single_class_and_length_mismatch(tiny_model):
    with pytest.raises(DataError, match="only one class"):
        make(tiny_model).fit(["a", "b", "c"], ["x", "x", "x"])
    with pytest.raises(DataError, match="3 texts but 2 labels"):
        make(tiny_model).fit(["a", "b", "c"], ["x", "y"])


def test_missing_model_is_a_clear_error(planted):
    from justfit.errors import ModelError

    with pytest.raises(ModelError, match="does not exist"):
        Finetuner(model="/no/such/folder", epochs=1).fit(planted)


def test_frozen_backbone_keeps_backbone_weights(tiny_model, planted):
    import torch

    from justfit.models import load_model

    before, _, _ = load_model(tiny_model, ["neg", "pos"])
    ft = make(tiny_model, freeze="backbone").fit(planted)
    b0 = dict(before.base_model.named_parameters())
    for name, p in ft.model_.base_model.named_parameters():
        assert torch.equal(p.detach(), b0[name].detach()), name


def test_l1_and_sgd_and_accumulation_run(tiny_model, planted):
    ft = make(tiny_model, optimizer="sgd", l1=1e-4, lr=0.05,
              config={"training": {**FAST["training"], "grad_accum_steps": 2, "bf16": True}})
    ft.fit(planted)
    assert np.isfinite(ft.history_.column("train_loss")).all()


def test_training_is_seeded(tiny_model, planted):
    a = make(tiny_model).fit(planted).history_.column("val_loss")
    b = make(tiny_model).fit(planted).history_.column("val_loss")
    assert a == b
