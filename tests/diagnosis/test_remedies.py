"""Remedies are good advice: bounded per key and model, never a repeat of the run's setting, and said in the
language of the tool that wrote the history, with the justfit flag beside it."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re

import pytest

from justfit.cli.main import main
from justfit.diagnosis import diagnose, diagnose_run
from justfit.diagnosis.remedies import (
    LR_CEILING,
    REMEDIES,
    _get,
    _same,
    effective_config,
    lr_ceiling,
    remedies_for,
)
from justfit.diagnosis.rules import Finding
from justfit.diagnosis.tool_terms import TERMS, in_tool


def _finding(code: str, **evidence) -> Finding:
    return Finding(code=code, severity="high", title="", explanation="", evidence=evidence)


def _lr_steps(cfg: dict, code: str = "lr_too_low", model_type: str | None = None) -> list[float]:
    """The learning rates a run takes when it applies the learning-rate remedy again and again."""
    lrs = [cfg["training"]["lr"]]
    for _ in range(20):
        cfg = {**cfg, "training": {**cfg["training"], "lr": lrs[-1]}}
        # a change of what is trained (unfreezing) resets the rate to that mode's: not a step along the scale
        found = [r["set"]["training.lr"] for r in remedies_for(_finding(code), cfg, model_type=model_type)
                 if "training.lr" in r["set"] and "model.freeze" not in r["set"]]
        if not found:
            return lrs
        lrs.append(found[0])
    raise AssertionError(f"the learning rate never stops rising: {lrs}")


@pytest.mark.parametrize(("model", "start", "ceiling", "model_type"), [
    ({"freeze": "none"}, 1e-5, 3e-4, None),                       # the packaged MiniLM (a BERT): full fine-tuning
    ({"freeze": "bottom:2"}, 1e-5, 3e-4, None),                   # still every weight above layer 2
    ({"freeze": "backbone"}, 1e-4, 1e-2, None),                   # a new head on fixed features
    ({"strategy": "lora", "freeze": "none"}, 5e-5, 1e-3, None),   # adapters
    ({"freeze": "none"}, 1e-5, 1e-3, "resnet"),                   # a convolutional network
])
@pytest.mark.parametrize("code", ["lr_too_low", "underfitting", "not_converged"])
def test_learning_rate_steps_up_by_a_bounded_factor_and_stops_at_the_ceiling(model, start, ceiling, model_type, code):
    lrs = _lr_steps({"training": {"lr": start}, "model": model}, code, model_type)
    assert len(lrs) > 2, lrs
    factors = [b / a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert all(1 < f <= 3.06 for f in factors), lrs  # x2 or x3 (rounded to 2 digits), never x10
    assert max(lrs) == pytest.approx(ceiling) and lrs[-1] == pytest.approx(ceiling), lrs


def test_the_reported_token_classification_escalation_stops_at_full_fine_tunings_ceiling():
    # Reported: 1e-4 -> 1e-3 -> 1e-2 for full fine-tuning of a token classifier.
    cfg = {"task": "token-classification", "training": {"lr": 1e-4}, "model": {"freeze": "none"}}
    lrs = _lr_steps(cfg, "underfitting")
    assert lrs == [1e-4, 3e-4]
    assert max(lrs) <= LR_CEILING["full"] < 1e-3


def test_the_models_family_is_read_from_its_checkpoint(tmp_path):
    """The run reads ``model_type`` from the checkpoint's config.json (``checkpoint_model_type``) and records it;
    the ceiling follows the recorded family."""
    from justfit.models.factory import checkpoint_model_type

    def ceiling(model, task=None, **cfg):
        kind = checkpoint_model_type(model.get("name"), task)
        return lr_ceiling({"model": model, **({"task": task} if task else {}), **cfg}, model_type=kind)

    for kind, expected in (("resnet", 1e-3), ("vit", 3e-4), ("justfit-efficientnet-lite", 1e-3)):
        folder = tmp_path / kind
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": kind}))
        assert checkpoint_model_type(str(folder)) == kind
        assert ceiling({"name": str(folder), "freeze": "none"}) == expected, kind
    # SGD takes ten times Adam's steps; a head-only run on a CNN keeps the head's ceiling.
    assert ceiling({"name": str(tmp_path / "resnet")}, training={"optimizer": "sgd"}) == 1e-2
    assert ceiling({"name": str(tmp_path / "resnet"), "freeze": "backbone"}) == 1e-2
    # An unnamed model is the task's default: the packaged MiniLM (a BERT) for texts, MobileNetV2 for images.
    assert ceiling({"freeze": "none"}, "classification") == 3e-4
    assert ceiling({"freeze": "none"}, "image-classification") == 1e-3
    assert ceiling({"name": "tiny-vit-random", "freeze": "none"}) == 3e-4
    # An unreadable checkpoint: the family is unknown and a transformer's (lower) ceiling applies.
    assert checkpoint_model_type(str(tmp_path / "missing")) is None
    assert lr_ceiling({"model": {"name": str(tmp_path / "missing"), "freeze": "none"}}) == 3e-4
    # A log that says nothing of the model: only the global range.
    assert lr_ceiling({"training": {"lr": 1e-3}}) == LR_CEILING["unknown"]


def test_a_learning_rate_above_the_ceiling_is_not_raised_further():
    cfg = {"training": {"lr": 1e-3}, "model": {"freeze": "none"}}  # already above full fine-tuning's 3e-4
    for code in ("lr_too_low", "underfitting", "not_converged"):
        assert all("training.lr" not in r["set"] or r["set"]["training.lr"] < 1e-3
                   for r in remedies_for(_finding(code), cfg)), code


@pytest.mark.parametrize(("settings", "code", "never"), [
    ({"early_stopping": {"enabled": True, "patience": 1}}, "overfitting",
     {"early_stopping.enabled": True, "early_stopping.patience": 1}),
    ({"early_stopping": {"patience": 1}}, "early_best",       # on by justfit's default
     {"early_stopping.enabled": True, "early_stopping.patience": 1}),
    ({"early_stopping": {"patience": 0}}, "early_best", {"early_stopping.patience": 1}),  # 1 would stop later
    ({"model": {"dropout": 0.5, "freeze": "none"}}, "overfitting", {"model.dropout": 0.5}),
    ({"training": {"weight_decay": 0.1}}, "overfitting", {"training.weight_decay": 0.1}),
    ({"training": {"weight_decay": 5e-4, "optimizer": "sgd"}}, "growing_gap", {"training.weight_decay": 0.05}),
    ({"training": {"label_smoothing": 0.1}}, "overfitting", {"training.label_smoothing": 0.1}),
    ({"training": {"batch_size": 16, "grad_accum_steps": 4}}, "unstable", {"training.grad_accum_steps": 4}),
    ({"training": {"warmup_ratio": 0.1}}, "diverged", {"training.warmup_ratio": 0.1}),
    ({"model": {"freeze": "backbone"}}, "small_data", {"model.freeze": "backbone"}),
    ({"training": {"class_weights": "auto"}}, "class_imbalance", {"training.class_weights": "auto"}),
    ({"quality": {"leakage": "remove"}}, "test_leakage", {"quality.leakage": "remove"}),
])
def test_no_remedy_sets_what_the_run_already_has(settings, code, never):
    for key, value in never.items():
        for r in remedies_for(_finding(code, best_epoch=2), settings):
            assert r["set"].get(key, object()) != value, (key, r)
            assert r["set"], r


def test_stopping_sooner_with_early_stopping_already_on_keeps_only_what_is_new():
    cfg = {"training": {"epochs": 10}, "early_stopping": {"enabled": True, "patience": 1}}
    stop = next(r for r in remedies_for(_finding("early_best", best_epoch=2), cfg) if r["why"] == "stop sooner")
    assert stop["set"] == {"training.epochs": 5}
    # Already stopping at the first flat epoch, with few epochs: no stop-sooner remedy at all.
    cfg = {"training": {"epochs": 3}, "early_stopping": {"enabled": True, "patience": 1}}
    assert not any(r["why"] == "stop sooner" for r in remedies_for(_finding("early_best", best_epoch=2), cfg))


def test_no_finding_repeats_a_setting_across_many_configs():
    configs = [
        {},
        {"training": {"lr": 3e-4, "weight_decay": 0.1, "label_smoothing": 0.1, "epochs": 100, "warmup_ratio": 0.1},
         "model": {"dropout": 0.5, "freeze": "bottom:2"}, "early_stopping": {"patience": 1}},
        {"training": {"lr": 1e-2, "grad_accum_steps": 64, "batch_size": 1}, "model": {"freeze": "backbone"}},
        {"model": {"strategy": "lora", "lora_rank": 2}, "training": {"lr": 1e-3, "max_grad_norm": None}},
        {"training": {"optimizer": "sgd", "weight_decay": 5e-4, "time_budget": 60.0}, "task": "regression"},
    ]
    for config in configs:
        cfg = effective_config(config)
        for code in REMEDIES:
            evidence = {"best_epoch": 2, "score_at_best_loss": 0.8, "last_score": 0.8, "val_loss_at_its_best": True,
                        "epochs_seen": 0.3, "large": True, "model": "m"}
            for r in remedies_for(_finding(code, **evidence), config, n_train=300):
                assert r["set"], (code, r)
                for key, value in r["set"].items():
                    assert not _same(_get(cfg, key), value, key), (config, code, key, value)


def test_another_tools_run_is_not_given_justfits_defaults():
    # A Keras log does not say whether early stopping was on: justfit's default (on, patience 2) is not Keras'.
    log = [{"epoch": e, "train_loss": t, "val_loss": v} for e, t, v in
           [(1, 0.9, 0.8), (2, 0.5, 0.6), (3, 0.3, 0.62), (4, 0.15, 0.75), (5, 0.07, 0.9)]]
    d = diagnose(log, tool="keras")
    stop = next(r for f in d.findings for r in f.remedies if r["why"] == "stop sooner")
    assert stop["set"]["early_stopping.enabled"] is True and stop["set"]["early_stopping.patience"] == 1
    assert any("keras.callbacks.EarlyStopping(" in p for p in stop["in_tool"])


def _keras_log(tmp_path):
    p = tmp_path / "training.csv"  # keras.callbacks.CSVLogger's columns
    p.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.6,0.9,0.62,0.8\n1,0.8,0.5,0.75,0.6\n"
                 "2,0.9,0.3,0.74,0.62\n3,0.95,0.15,0.73,0.75\n4,0.98,0.07,0.72,0.9\n5,0.99,0.03,0.71,1.1\n")
    return p


def _trainer_state(folder, callbacks=None, config=None, adapter=None):
    folder.mkdir(parents=True)
    log = []
    for epoch, (tl, vl) in enumerate([(0.9, 0.8), (0.5, 0.6), (0.3, 0.65), (0.1, 0.8), (0.05, 1.0)], start=1):
        log += [{"epoch": float(epoch), "loss": tl, "learning_rate": 5e-5, "step": 10 * epoch},
                {"epoch": float(epoch), "eval_loss": vl, "eval_runtime": 1.0, "step": 10 * epoch}]
    state = {"log_history": log, "global_step": 50, "num_train_epochs": 5, "train_batch_size": 16}
    if callbacks is not None:
        state["stateful_callbacks"] = {"TrainerControl": {"args": {}, "attributes": {}}, **callbacks}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    if config:
        (folder / "config.json").write_text(json.dumps(config))
    if adapter:
        (folder / "adapter_config.json").write_text(json.dumps(adapter))
    return folder


def test_doctor_answers_a_keras_log_in_keras_arguments(tmp_path, capsys):
    p = _keras_log(tmp_path)
    assert main(["doctor", str(p)]) == 0
    out = capsys.readouterr().out
    assert "verdict: overfitting" in out
    assert ("try: keras.callbacks.EarlyStopping(monitor='val_loss', patience=1, restore_best_weights=True); "
            "model.fit(epochs=3)   [justfit: --set early_stopping.enabled=True --set early_stopping.patience=1 "
            "--set training.epochs=3]") in out
    assert "keras.optimizers.AdamW(weight_decay=0.05)   [justfit: --set training.weight_decay=0.05]" in out
    assert "keras.layers.Dropout(0.2)" in out and "TrainingArguments" not in out
    assert main(["doctor", str(p), "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert saved["tool"] == "keras"
    assert all(r["in_tool"] for f in saved["findings"] for r in f["remedies"])


def test_doctor_answers_a_trainer_state_in_training_arguments(tmp_path, capsys):
    # No EarlyStoppingCallback among the Trainer's callbacks: the remedy adds one, with what it needs.
    folder = _trainer_state(tmp_path / "out" / "checkpoint-50", callbacks={}, config={"model_type": "bert"})
    assert main(["doctor", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "verdict: overfitting" in out
    assert ("TrainingArguments(num_train_epochs=3, metric_for_best_model='eval_loss', load_best_model_at_end=True); "
            "EarlyStoppingCallback(early_stopping_patience=1)   [justfit: --set early_stopping.enabled=True "
            "--set early_stopping.patience=1 --set training.epochs=3]") in out
    assert "TrainingArguments(weight_decay=0.05)   [justfit: --set training.weight_decay=0.05]" in out
    assert "no TrainingArguments field" in out and "keras" not in out


def test_a_trainer_state_says_what_the_run_had(tmp_path):
    es = {"EarlyStoppingCallback": {"args": {"early_stopping_patience": 1, "early_stopping_threshold": 0.0},
                                    "attributes": {"early_stopping_patience_counter": 1}}}
    d = diagnose_run(_trainer_state(tmp_path / "es", callbacks=es, config={"model_type": "bert"}))
    remedies = [r for f in d.findings for r in f.remedies]
    assert d.tool == "transformers" and remedies
    assert not any(k.startswith("early_stopping.") for r in remedies for k in r["set"])  # on, patience 1 already
    # A LoRA checkpoint (PEFT's adapter_config.json): LoRA's ceiling, and its rank is halved, not a freeze offered.
    lora = _trainer_state(tmp_path / "lora", callbacks={}, config={"model_type": "bert"},
                          adapter={"peft_type": "LORA", "r": 8})
    d = diagnose_run(lora)
    sets = [r["set"] for f in d.findings for r in f.remedies]
    assert {"model.lora_rank": 4} in sets and not any("model.freeze" in s for s in sets)


def test_doctor_answers_a_justfit_run_in_justfit_flags(tmp_path, capsys):
    import yaml

    from justfit.config import JustfitConfig

    run = tmp_path / "run"
    run.mkdir()
    rows = [(0.9, 0.8), (0.5, 0.6), (0.3, 0.62), (0.15, 0.75), (0.07, 0.9)]
    (run / "history.jsonl").write_text("".join(json.dumps({"epoch": i + 1, "train_loss": t, "val_loss": v, "lr": 1e-4})
                                               + "\n" for i, (t, v) in enumerate(rows)))
    (run / "config.yaml").write_text(yaml.safe_dump(JustfitConfig().model_dump(mode="json")))
    assert main(["doctor", str(run)]) == 0
    out = capsys.readouterr().out
    assert "verdict: overfitting" in out and "try: --set training.weight_decay=0.05" in out
    assert "[justfit:" not in out and "keras" not in out and "TrainingArguments" not in out
    # Early stopping is on by default with patience 2: stopping sooner lowers the patience, never re-enables it.
    assert "early_stopping.enabled" not in out and "--set early_stopping.patience=1" in out


def test_lightning_and_fastai_terms():
    stop = {"why": "stop sooner", "set": {"early_stopping.enabled": True, "early_stopping.patience": 1,
                                          "training.epochs": 4}}
    assert in_tool(stop, "lightning") == [
        "lightning.pytorch.callbacks.EarlyStopping(monitor='val_loss', patience=1)", "Trainer(max_epochs=4)"]
    assert in_tool(stop, "fastai") == [
        "EarlyStoppingCallback(monitor='valid_loss', patience=1)", "learn.fit_one_cycle(n_epoch=4)"]
    f1 = {"why": "judge by macro-F1", "set": {"early_stopping.monitor": "val_f1"}, "monitor_mode": "max"}
    assert in_tool(f1, "transformers") == [
        "TrainingArguments(metric_for_best_model='eval_f1', load_best_model_at_end=True, greater_is_better=True)"]
    assert in_tool(f1, "keras") == ["keras.callbacks.EarlyStopping(monitor='val_f1_score', mode='max', "
                                    "restore_best_weights=True)"]
    budget = {"why": "", "set": {"training.time_budget": 600.0, "augment.ops": ["swap"]}}
    assert in_tool(budget, "keras") == ["a time budget: no Keras equivalent",
                                        "justfit's data augmentation: no Keras equivalent"]
    assert in_tool(budget, "lightning")[0] == "Trainer(max_time={'seconds': 600})"


def test_the_tool_argument_names_are_the_tools_own():
    """Every TrainingArguments field and callback argument named exists in the installed transformers and peft."""
    import peft
    from transformers import EarlyStoppingCallback, TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    named = set()
    for call, template in TERMS["transformers"].values():
        text = f"{call or ''}({template or ''})"
        for m in re.finditer(r"TrainingArguments\(([a-z_]+)=", text):
            named.add(m.group(1))
    named |= {"load_best_model_at_end", "metric_for_best_model", "greater_is_better"}
    assert named and named <= fields, named - fields
    assert "early_stopping_patience" in inspect.signature(EarlyStoppingCallback).parameters
    assert "r" in {f.name for f in dataclasses.fields(peft.LoraConfig)}
    assert "compute_loss_func" in inspect.signature(__import__("transformers").Trainer).parameters


@pytest.mark.parametrize(("lr", "proposed"), [(2e-6, 6e-6), (5e-5, 1.5e-4), (2e-4, 3e-4), (3e-4, None), (5e-4, None)])
def test_a_trainer_log_without_config_json_is_held_to_full_fine_tunings_ceiling(tmp_path, lr, proposed):
    """transformers' Trainer trains a transformers model: with no config.json beside the log, the learning
    rate is still bounded by a transformer's full fine-tuning (3e-4), not the global 1e-2."""
    folder = tmp_path / "flat"
    folder.mkdir()
    log = []
    for epoch in range(1, 5):
        log += [{"epoch": float(epoch), "loss": 1.0986 - 0.0005 * epoch, "learning_rate": lr, "step": 10 * epoch},
                {"epoch": float(epoch), "eval_loss": 1.0986 - 0.0004 * epoch, "eval_accuracy": 0.34, "step": 10 * epoch}]
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": log, "global_step": 40,
                                                           "num_train_epochs": 4, "train_batch_size": 16}))
    d = diagnose_run(folder)
    lrs = [r["set"]["training.lr"] for f in d.findings for r in f.remedies if "training.lr" in r["set"]]
    assert all(x <= 3e-4 + 1e-12 for x in lrs), lrs
    if proposed is None:
        assert not any(x > lr for x in lrs), lrs
    else:
        assert any(math.isclose(x, proposed, rel_tol=1e-6) for x in lrs), lrs


@pytest.mark.parametrize(("model_type", "rate"), [(None, 1e-4), ("resnet", 5e-4), ("whisper", 1e-4)])
@pytest.mark.parametrize("code", ["underfitting", "cheap_baseline"])
def test_unfreezing_a_head_takes_the_rate_measured_for_the_whole_model(model_type, rate, code):
    """A head's rate (1e-3, or the founding recipe's 2e-5) is not one for the whole model: unfreezing from a
    frozen backbone sets the family's measured rate (text encoders 1e-4, conv nets 5e-4), the global default
    (Whisper: 1e-4, measured) or the global default; from bottom:K, most of the body trains already and the rate stays."""

    for lr in (2e-5, 1e-3):
        cfg = {"task": "classification", "training": {"lr": lr}, "model": {"freeze": "backbone"}}
        unfreeze = [r for r in remedies_for(_finding(code), cfg, model_type=model_type)
                    if r["set"].get("model.freeze") == "none"]
        assert unfreeze and unfreeze[0]["set"]["training.lr"] == pytest.approx(rate), unfreeze
    cfg = {"task": "classification", "training": {"lr": 3e-4}, "model": {"freeze": "bottom:2"}}
    unfreeze = [r for r in remedies_for(_finding(code), cfg) if r["set"].get("model.freeze") == "none"]
    assert unfreeze and "training.lr" not in unfreeze[0]["set"]
    # and the way back: a head on the frozen body at a head's rate
    cfg = {"task": "classification", "training": {"lr": 1e-4}, "model": {"freeze": "none"}}
    head = [r for r in remedies_for(_finding("small_data"), cfg) if r["set"].get("model.freeze") == "backbone"]
    assert head and head[0]["set"]["training.lr"] == pytest.approx(1e-3)


@pytest.mark.parametrize("code", ["small_data", "cheap_baseline"])
def test_a_head_on_the_frozen_body_is_not_offered_where_it_was_measured_to_lose(code):
    """Whisper: a head alone lost to full fine-tuning on 246 clips (bench/README.md, "defaults.py"), so from that
    many rows on it is not offered; below them, and for a family not measured, it is."""
    import justfit.diagnosis.remedies as remedies

    cfg = {"task": "audio-classification", "training": {"lr": 1e-4}, "model": {"freeze": "none"}}
    rows = remedies.HEAD_ONLY_LOSES_FROM["whisper"][0]

    def head_only(model_type, n_train):
        return [r for r in remedies_for(_finding(code), cfg, n_train=n_train, model_type=model_type)
                if r["set"].get("model.freeze") == "backbone"]

    assert head_only("whisper", rows) == [] and head_only("whisper", 5000) == []
    assert head_only("whisper", rows - 1) and head_only("whisper", None)
    assert head_only("wav2vec2", 5000)  # not measured: still offered
    text = remedies.HEAD_ONLY_LOSES_FROM["text-encoder"][0]
    assert head_only("bert", text) == [] and head_only("bert", text - 1)
