"""Efficient fine-tuning: cached frozen features, layer-wise rates, recipes, LoRA round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from justfit import Finetuner
from justfit.errors import ConfigError
from tests.conftest import planted_texts

FAST = {"training": {"batch_size": 16, "lr": 5e-3, "train_eval_samples": 24, "bf16": False}}


def _fit(tiny_model, data, val, tmp_path=None, **kw):
    cfg = {**FAST, "quality": {"cache_dir": str(tmp_path)} if tmp_path else {}}
    cfg = {k: dict(v) for k, v in cfg.items()}
    for dotted, value in kw.pop("cfg", {}).items():
        section, key = dotted.split(".")
        cfg.setdefault(section, {})[key] = value
    return Finetuner(tiny_model, config=cfg, **kw).fit(data, X_val=val)


@pytest.fixture
def split():
    data = planted_texts(96, seed=3)
    return data.iloc[:72].reset_index(drop=True), data.iloc[72:].reset_index(drop=True)


def test_cached_head_training_matches_the_full_forward(tiny_model, split, tmp_path):
    train, val = split
    common = {"freeze": "backbone", "epochs": 3, "early_stopping": False}
    cached = _fit(tiny_model, train, val, tmp_path, **common)
    full = _fit(tiny_model, train, val, tmp_path, cfg={"model.cache_features": False}, **common)
    assert cached.feature_cache_["equivalent"] and "train" in cached.feature_cache_
    assert "train" not in full.feature_cache_
    for a, b in zip(cached.history_.records, full.history_.records, strict=True):
        for key in ("train_loss", "val_loss", "val_accuracy", "train_eval_loss"):
            assert a[key] == pytest.approx(b[key], abs=1e-5), key
    texts = val["text"].tolist()
    np.testing.assert_allclose(cached.predict_proba(texts), full.predict_proba(texts), atol=1e-5)
    # The trained head is the model's own, and the backbone is the checkpoint's, untouched.
    from justfit.models import load_model

    start, _, _ = load_model(tiny_model, ["neg", "pos"])
    now = cached.model_.state_dict()
    assert all(torch.equal(now[k], v) for k, v in start.state_dict().items() if k.startswith("bert."))
    assert not torch.equal(now["classifier.weight"], start.state_dict()["classifier.weight"])


def test_rerun_with_other_head_settings_reads_the_cache(tiny_model, split, tmp_path):
    train, val = split
    first = _fit(tiny_model, train, val, tmp_path, freeze="backbone", epochs=1)
    again = _fit(tiny_model, train, val, tmp_path, freeze="backbone", epochs=2, lr=1e-2, dropout=0.3)
    assert not first.feature_cache_["train"]["cache_hit"]
    assert again.feature_cache_["train"]["cache_hit"] and again.feature_cache_["val"]["cache_hit"]
    assert again.feature_cache_["train"]["file"] == first.feature_cache_["train"]["file"]


def test_cache_command_shows_and_clears_unused_features(tiny_model, split, tmp_path, capsys):
    import os
    import time

    from justfit.cli.main import main

    train, val = split
    est = _fit(tiny_model, train, val, tmp_path, freeze="backbone", epochs=1)
    files = {str(tmp_path / est.feature_cache_[k]["file"]) for k in ("train", "val")}  # inside the cache folder
    assert main(["cache", "--cache-dir", str(tmp_path)]) == 0
    assert f"{len(files)} file(s)" in capsys.readouterr().out
    old = sorted(files)[0]
    os.utime(old, (time.time() - 10 * 86400,) * 2)
    assert main(["cache", "--clear", "--unused-days", "5", "--cache-dir", str(tmp_path)]) == 0
    assert "removed 1 file(s)" in capsys.readouterr().out
    assert not os.path.exists(old) and all(os.path.exists(f) for f in files - {old})
    # A hit marks the entry as used: it survives a later age-based clear.
    again = _fit(tiny_model, train, val, tmp_path, freeze="backbone", epochs=1)
    assert again.feature_cache_["train" if old == str(tmp_path / est.feature_cache_["val"]["file"]) else "val"][
        "cache_hit"]
    assert main(["cache", "--clear", "--cache-dir", str(tmp_path)]) == 0
    assert f"removed {len(files)} file(s)" in capsys.readouterr().out
    assert main(["cache", "--unused-days", "1", "--cache-dir", str(tmp_path)]) == 2
    assert "--unused-days" in capsys.readouterr().err


def test_label_audit_and_head_training_share_one_cache_entry(tiny_model, split, tmp_path):
    from justfit.data.label_audit import find_label_issues

    train, val = split
    report = find_label_issues(train, model=tiny_model, folds=3, max_length=256, bf16=False, cache_dir=tmp_path)
    assert not report.features["cache_hit"]
    est = _fit(tiny_model, train, val, tmp_path, freeze="backbone", epochs=1)
    assert est.feature_cache_["train"]["cache_hit"]
    assert est.feature_cache_["train"]["file"] == report.features["cache_file"]


def test_frozen_backbone_runs_in_eval_mode():
    from transformers import BertConfig, BertForSequenceClassification

    from justfit.models import apply_freeze
    from justfit.training.trainer import set_train_mode

    model = BertForSequenceClassification(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                     intermediate_size=8, vocab_size=50))
    apply_freeze(model, "backbone")
    set_train_mode(model)
    assert model.training and not model.bert.training and model.dropout.training
    apply_freeze(model, "bottom:1")
    set_train_mode(model)
    assert model.bert.training


def test_layer_wise_decay_gives_each_depth_its_rate(tiny_model):
    from justfit.config import TrainingConfig
    from justfit.models import load_model
    from justfit.training.optim import build_optimizer, layer_depths

    model, _, _ = load_model(tiny_model, ["a", "b"])
    depths = layer_depths(model)
    assert depths["classifier.weight"] == 0 and depths["bert.pooler.dense.weight"] == 0
    assert depths["bert.encoder.layer.1.attention.self.query.weight"] == 1
    assert depths["bert.encoder.layer.0.output.dense.weight"] == 2
    assert depths["bert.embeddings.word_embeddings.weight"] == 3
    opt = build_optimizer(model, TrainingConfig(lr=1e-3, layer_decay=0.5))
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier.weight"])] == pytest.approx(1e-3)
    assert lr_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == pytest.approx(2.5e-4)
    assert lr_of[id(named["bert.embeddings.LayerNorm.weight"])] == pytest.approx(1.25e-4)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)  # the head's group first: it is the reported lr
    # No decay: the usual two groups (decayed matrices, undecayed vectors).
    assert len(build_optimizer(model, TrainingConfig(lr=1e-3)).param_groups) == 2


def test_recipes_compose_stages(tiny_model, split, tmp_path):
    from justfit.config import JustfitConfig
    from justfit.models.recipes import list_recipes, plan

    assert {"standard", "gradual_unfreeze", "ulmfit"} <= set(list_recipes())
    cfg = JustfitConfig.from_dict({"training": {"recipe": "ulmfit", "epochs": 3, "head_epochs": 2}})
    stages = plan(cfg, 6)
    assert [s.freeze for s in stages] == ["backbone", "bottom:4", "bottom:2", "none"]
    assert stages[0].epochs == 2 and stages[-1].epochs == 3 and stages[-1].layer_decay == 0.8
    train, val = split
    est = _fit(tiny_model, train, val, tmp_path, epochs=2, cfg={"training.recipe": "gradual_unfreeze",
                                                                 "training.head_epochs": 1})
    assert [r["stage"] for r in est.history_.records] == ["head", "all", "all"][:len(est.history_)]
    assert [r["epoch"] for r in est.history_.records] == list(range(1, len(est.history_) + 1))
    assert est.feature_cache_["equivalent"]  # the head stage trained on cached features
    assert est.params_["trainable_params"] == est.params_["total_params"]  # the last stage trains everything


def test_bad_recipe_settings_are_one_line_errors(tiny_model, split):
    train, val = split
    with pytest.raises(ConfigError, match="Unknown recipe 'fastai'"):
        _fit(tiny_model, train, val, cfg={"training.recipe": "fastai"})
    with pytest.raises(ConfigError, match="leave model.freeze"):
        _fit(tiny_model, train, val, freeze="backbone", cfg={"training.recipe": "ulmfit"})
    with pytest.raises(ConfigError, match="does not apply with strategy 'lora'"):
        _fit(tiny_model, train, val, freeze="backbone", cfg={"model.strategy": "lora"})


@pytest.mark.parametrize("merge", [True, False])
def test_lora_trains_adapters_and_head_and_round_trips(tiny_model, split, tmp_path, merge):
    from justfit.models import load_model

    train, val = split
    est = _fit(tiny_model, train, val, epochs=2, lr=1e-2,
               cfg={"model.strategy": "lora", "model.lora_rank": 4, "model.lora_merge": merge})
    assert est.params_["trainable_params"] < est.params_["total_params"] / 2
    # The pretrained weights did not move (only the adapters and the head trained).
    base, _, _ = load_model(tiny_model, ["neg", "pos"])
    now = est.model_.state_dict() if merge else est.model_.get_base_model().state_dict()
    emb = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(now[emb if emb in now else "bert.embeddings.word_embeddings.base_layer.weight"],
                       base.state_dict()[emb])
    texts = val["text"].tolist()
    before = est.predict_proba(texts)
    est.save(tmp_path / "m")
    back = Finetuner.load(tmp_path / "m")
    np.testing.assert_allclose(back.predict_proba(texts), before, atol=1e-5)
    if merge:
        from transformers import pipeline

        clf = pipeline("text-classification", model=str(tmp_path / "m"), tokenizer=str(tmp_path / "m"))
        got = [r["label"] for r in clf(texts[:8], truncation=True)]
        assert got == [str(x) for x in est.predict(texts[:8])]
    else:
        assert (tmp_path / "m" / "adapter_config.json").exists()
        assert not (tmp_path / "m" / "model.safetensors").exists()


def test_lora_head_modules_include_every_head_layer():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    from justfit.models.lora import default_targets, head_modules

    m = DistilBertForSequenceClassification(DistilBertConfig(dim=16, n_layers=1, n_heads=2, hidden_dim=8,
                                                             vocab_size=50))
    assert set(head_modules(m)) == {"pre_classifier", "classifier"}
    assert set(default_targets(m)) >= {"q_lin", "v_lin"}


def test_lora_unknown_target_is_a_clear_error(tiny_model, split):
    train, val = split
    with pytest.raises(ConfigError, match="does not have"):
        _fit(tiny_model, train, val, cfg={"model.strategy": "lora", "model.lora_targets": "qkv_nope"})


def test_lr_find_command_writes_the_curve_and_says_what_it_found(tiny_model, planted_csv, tmp_path, capsys):
    import json

    from justfit.cli.main import main

    out = tmp_path / "lrf"
    rc = main(["lr-find", "--data", planted_csv, "--model", tiny_model, "--steps", "30", "--out", str(out), "-q",
               "--set", "training.bf16=false", "--set", "training.batch_size=16"])
    assert rc == 0
    result = json.loads((out / "lr_find.json").read_text())
    assert len(result["lrs"]) >= 8 and (result["suggestion"] is None) == bool(result["reason"])
    printed = capsys.readouterr().out
    assert ("suggested learning rate" in printed) or ("no suggestion" in printed)
    assert (out / "lr_find.svg").read_text().startswith("<?xml") or "<svg" in (out / "lr_find.svg").read_text()


def test_training_with_lr_find_uses_the_suggestion_and_reports_the_curve(tiny_model, planted_csv, tmp_path):
    import json

    from justfit import finetune

    cfg = {"data": {"path": planted_csv}, "model": {"name": tiny_model},
           "training": {**FAST["training"], "epochs": 1, "lr_find": True},
           "quality": {"label_noise": "off"}, "output": {"dir": str(tmp_path), "name": "lrf"}}
    result = finetune(cfg)
    found = json.loads((tmp_path / "lrf" / "lr_find.json").read_text())
    assert result.data["lr_find"]["suggestion"] == found["suggestion"]
    if found["suggestion"]:
        assert result.config["training"]["lr"] == pytest.approx(float(f"{found['suggestion']:.2g}"))
    else:
        assert result.config["training"]["lr"] == FAST["training"]["lr"]
    assert "Learning-rate finder" in (tmp_path / "lrf" / "report.html").read_text()


def _budget(monkeypatch, start, **kw):
    """A started TimeBudget on a fake clock: set ``now[0]`` to move time."""
    from justfit.training import budget as budget_mod

    now = [start]
    monkeypatch.setattr(budget_mod.time, "perf_counter", lambda: now[0])
    b = budget_mod.TimeBudget(batch_size=32, calibration=8, **kw)
    b.start()
    return b, now


def test_time_budget_plans_the_steps_that_fit(monkeypatch):
    b, now = _budget(monkeypatch, 100.0, deadline=160.0, planned_steps=1000, steps_per_epoch=100, eval_rows=96)
    assert b.after_step(7) is None
    now[0] = 110.0  # 8 steps later: 1.25 s per step
    total = b.after_step(8)
    # 50 s left, 5% of it in reserve; an evaluation costs 1.25 / 32 * 96 / 3 = 1.25 s, one per epoch started.
    assert total == 8 + int((50 * 0.95 - 1.25) // 1.25)
    assert not b.done(total - 1) and b.done(total)


def test_time_budget_replans_from_the_mean_step_time(monkeypatch):
    from justfit.training import budget as budget_mod

    b, now = _budget(monkeypatch, 100.0, deadline=300.0, planned_steps=400, steps_per_epoch=1000, eval_rows=64)
    now[0] = 108.0  # 1 s per step at calibration
    first = b.after_step(8, eval_row_seconds=0.01)  # evaluation: 0.64 s; reserve 5% of 192 s
    reserve = 192 * 0.05
    assert first == 8 + int((192 - reserve - 0.64) // 1.0) and b.cut
    assert b.every == max(8, -(-first // budget_mod.REPLANS))
    step = b.every * 2
    assert b.after_step(step - 1) is None  # only every few steps
    now[0] = 108.0 + 3.0 * (step - 8)  # the steps became slower: 3 s each since calibration
    slower = b.after_step(step)
    per_step = 3.0  # the slower of the mean so far (< 3 s) and the recent rate
    assert b.per_step == pytest.approx(per_step) and slower < first
    assert slower == step + int((300.0 - now[0] - reserve - 0.64) // per_step)
    # Between re-plans, training stops once one more step and the evaluation would eat into the reserve.
    assert not b.done(step + 1)
    now[0] = 300.0 - reserve / 2 - 0.64 - per_step + 0.01
    assert b.done(step + 2) and b.total == step + 2 and b.cut


def test_time_budget_plan_grows_back_but_not_past_the_configured_steps(monkeypatch):
    b, now = _budget(monkeypatch, 0.0, deadline=200.0, planned_steps=300, steps_per_epoch=1000, eval_rows=64)
    now[0] = 16.0  # 2 s per step: the plan is cut
    assert b.after_step(8, eval_row_seconds=0.01) < 300 and b.cut
    step = b.every * (b.total // b.every)  # the last re-plan before the cut plan ends
    now[0] = 16.0 + 0.1 * (step - 8)  # then much faster
    assert b.after_step(step) == 300 and not b.cut and not b.done(300)


def test_time_budget_cuts_training_and_completes_the_schedule(tiny_model, split, monkeypatch):
    """The budget's planner and callback read a fake clock that advances 5 ms a reading, so how far
    training gets does not depend on how busy the machine is."""
    import time
    import types

    from justfit.training import budget as budget_mod
    from justfit.training.callbacks import time_budget as callback_mod

    now = [time.perf_counter()]

    def tick() -> float:
        now[0] += 0.005
        return now[0]

    fake = types.SimpleNamespace(perf_counter=tick)
    monkeypatch.setattr(budget_mod, "time", fake)
    monkeypatch.setattr(callback_mod, "time", fake)
    train, val = split
    est = _fit(tiny_model, train, val, epochs=200, time_budget=1.0, early_stopping=False)
    assert len(est.history_) < 200
    assert "time budget" in est.stop_reason_
    assert est.history_[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the linear decay reached its end
    from justfit.diagnosis import diagnose

    found = [f for f in diagnose(est.history_.records, config=est.config_.model_dump()).findings
             if f.code == "time_budget"]
    assert found and found[0].evidence["epochs_seen"] == pytest.approx(
        sum(r.get("epoch_fraction", 1.0) for r in est.history_.records))


def test_a_first_epoch_cut_by_the_budget_probes_rows_already_trained_on(tiny_model, split, monkeypatch):
    from justfit.training import budget as budget_mod
    from justfit.training.trainer import Trainer

    train, val = split  # 72 rows: 9 batches of 8; the budget ends the epoch after 2
    monkeypatch.setattr(budget_mod.TimeBudget, "after_step", lambda self, step, rows=None: None)
    monkeypatch.setattr(budget_mod.TimeBudget, "done", lambda self, step: step >= 2)
    sizes = []
    real = Trainer.evaluate
    monkeypatch.setattr(Trainer, "evaluate", lambda self, ds: sizes.append(len(ds)) or real(self, ds))
    est = _fit(tiny_model, train, val, epochs=3, time_budget=1000.0, batch_size=8,
               cfg={"training.train_eval_samples": 50})
    assert est.history_[-1]["epoch_fraction"] == pytest.approx(2 / 9, abs=1e-3)
    assert sizes[-2:] == [len(val), 16]  # the probe: the 16 rows of the 2 batches trained on, not 50


def test_a_staged_run_is_diagnosed_and_reported(tiny_model, planted_csv, tmp_path, capsys):
    import json

    from justfit import finetune
    from justfit.cli.main import main

    assert main(["recipes"]) == 0
    assert "gradual_unfreeze" in capsys.readouterr().out
    cfg = {"data": {"path": planted_csv}, "model": {"name": tiny_model},
           "training": {**FAST["training"], "epochs": 2, "recipe": "gradual_unfreeze"},
           "quality": {"label_noise": "off"}, "output": {"dir": str(tmp_path), "name": "staged"}}
    result = finetune(cfg)
    run = tmp_path / "staged"
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert history[0]["stage"] == "head" and history[-1]["stage"] == "all"
    assert result.verdict and (run / "report.html").stat().st_size > 10_000
    assert result.data["feature_cache"]["equivalent"]


def test_remedies_respect_lora_and_staged_recipes():
    from justfit.diagnosis.remedies import remedies_for
    from justfit.diagnosis.rules import Finding

    finding = Finding(code="overfitting", severity="high", title="", evidence={}, explanation="")
    full = [r["set"] for r in remedies_for(finding, {"model": {"freeze": "none"}})]
    assert {"model.freeze": "bottom:2"} in full
    lora = [r["set"] for r in remedies_for(finding, {"model": {"strategy": "lora", "lora_rank": 8}})]
    assert {"model.lora_rank": 4} in lora and not any("model.freeze" in r for r in lora)
    staged = [r["set"] for r in remedies_for(finding, {"training": {"recipe": "ulmfit"}})]
    assert staged and not any("model.freeze" in r for r in staged)


def _fake_clock(monkeypatch, tick_seconds: float = 0.005):
    """The budget's planner and callback read a clock that advances ``tick_seconds`` a reading."""
    import time
    import types

    from justfit.training import budget as budget_mod
    from justfit.training.callbacks import time_budget as callback_mod

    now = [time.perf_counter()]

    def tick() -> float:
        now[0] += tick_seconds
        return now[0]

    fake = types.SimpleNamespace(perf_counter=tick)
    monkeypatch.setattr(budget_mod, "time", fake)
    monkeypatch.setattr(callback_mod, "time", fake)


def test_the_time_budget_trains_on_while_the_model_is_still_trivial(tiny_model, split, monkeypatch):
    """At a rate far too low the model stays at the majority class: with budget left after the configured
    epochs, training goes on (at most as many epochs again at a time), the schedule rebuilt (a warm restart),
    until the time is spent."""
    _fake_clock(monkeypatch)
    train, val = split
    est = _fit(tiny_model, train, val, epochs=2, lr=1e-9, time_budget=2.0, cfg={"training.warmup_ratio": 0.0})
    records = est.history_.records
    assert len(records) > 2, est.stop_reason_
    assert "after the 2 configured epochs the model was no better than the trivial predictor" in est.stop_reason_
    assert f"gave it {len(records) - 2} more" in est.stop_reason_
    assert records[1]["lr"] == 0.0 and records[2]["lr"] > 0.0  # the rebuilt schedule restarts, then decays


def test_the_time_budget_adds_no_epoch_to_a_model_that_learnt_or_without_a_budget(tiny_model, split, monkeypatch):
    _fake_clock(monkeypatch)
    train, val = split
    learnt = _fit(tiny_model, train, val, epochs=8, batch_size=8, time_budget=5.0, early_stopping=False)
    assert learnt.history_.records[-1]["val_accuracy"] > 0.8, learnt.history_.records[-1]
    assert len(learnt.history_.records) == 8 and "trivial" not in learnt.stop_reason_
    unbudgeted = _fit(tiny_model, train, val, epochs=2, lr=1e-9)
    assert len(unbudgeted.history_.records) == 2 and "trivial" not in unbudgeted.stop_reason_
    # an auto-fit round: its own remedies act on a trivial model, so the budget is not spent on more epochs
    # (a head on cached features ran 831 epochs of a 120 s budget, and no remedy was tried)
    est = Finetuner(tiny_model, config={**{k: dict(v) for k, v in FAST.items()},
                                        "training": {**FAST["training"], "epochs": 2, "lr": 1e-9, "time_budget": 2.0}})
    est.fit(train, X_val=val, extend_while_trivial=False)
    assert len(est.history_.records) == 2 and "trivial" not in est.stop_reason_
