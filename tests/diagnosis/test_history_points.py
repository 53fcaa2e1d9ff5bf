"""Histories that are not one clean row per epoch, diverged runs, bounded and consistent remedies, data the model
cannot read. Every log file is written in ``tmp_path`` the way the tool that writes it does."""

import json
import math
import random

import pytest

from justfit.cli.main import main
from justfit.diagnosis import diagnose, diagnose_run, load_history
from justfit.diagnosis.diagnose import VERDICT_ORDER
from justfit.diagnosis.remedies import bounds, direction
from justfit.errors import DataError

# An overfitting run: best validation loss at epoch 2 of 5, training loss falling throughout.
TRAIN = [0.9, 0.5, 0.3, 0.15, 0.07]
VAL = [0.8, 0.6, 0.62, 0.75, 0.9]


def _csv(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def repeated_header_csvlogger(tmp_path):
    """Keras CSVLogger(append=True) after a restart from a checkpoint: the header again, mid-file."""
    p = tmp_path / "training.log.csv"
    header = "epoch,accuracy,loss,val_accuracy,val_loss"
    rows = [f"{e},0.{6 + e},{t},0.7,{v}" for e, (t, v) in enumerate(zip(TRAIN, VAL, strict=True))]
    p.write_text(header + "\n" + "\n".join(rows[:2]) + "\n" + header + "\n" + "\n".join(rows[2:]) + "\n")
    return p


def appended_runs(tmp_path):
    """Two runs appended to one CSV: the epoch counter restarts at 0; the last run is diagnosed."""
    first = [(0, 1.1, 1.0), (1, 1.0, 0.99), (2, 0.98, 0.98)]
    return _csv(tmp_path / "log.csv", "epoch,loss,val_loss",
                first + [(e, t, v) for e, (t, v) in enumerate(zip(TRAIN, VAL, strict=True))])


def trainer_state_every_50_steps(tmp_path):
    """One epoch of 500 steps, training loss logged every 10 steps, evaluation every 50 steps."""
    val = [0.62, 0.52, 0.45, 0.41, 0.44, 0.5, 0.55, 0.6, 0.65, 0.69]
    log = []
    for step in range(10, 501, 10):
        log.append({"epoch": step / 500, "step": step, "loss": 0.7 - 0.6 * step / 500, "learning_rate": 5e-5,
                    "grad_norm": 1.0})
        if step % 50 == 0:
            log.append({"epoch": step / 500, "step": step, "eval_loss": val[step // 50 - 1], "eval_accuracy": 0.8,
                        "eval_runtime": 1.0, "eval_samples_per_second": 100.0})
    log.append({"epoch": 1.0, "step": 500, "train_loss": 0.4, "train_runtime": 100.0, "total_flos": 1.0})
    folder = tmp_path / "checkpoint-500"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps(
        {"log_history": log, "best_model_checkpoint": "out/checkpoint-200", "best_metric": 0.41, "global_step": 500,
         "eval_steps": 50, "logging_steps": 10}))
    return folder / "trainer_state.json"


def eval_every_2_epochs(tmp_path):
    """Keras fit(validation_freq=2): training rows without validation values in between."""
    return _csv(tmp_path / "every2.csv", "epoch,loss,val_loss",
                [(0, 0.9, ""), (1, 0.7, 0.6), (2, 0.5, ""), (3, 0.3, 0.7), (4, 0.2, ""), (5, 0.1, 0.9)])


def lightning_metrics_csv(tmp_path):
    """Lightning's CSVLogger: the validation row and the training row of an epoch apart, in either order."""
    rows = []
    for e, (t, v) in enumerate(zip(TRAIN, VAL, strict=True)):
        val_row, train_row = (e, 50 * e + 49, "", v, 0.7), (e, 50 * e + 49, t, "", "")
        rows += [val_row, train_row] if e % 2 else [train_row, val_row]
    return _csv(tmp_path / "metrics.csv", "epoch,step,train_loss,val_loss,val_acc", rows)


def fastai_csv(tmp_path):
    """fastai's CSVLogger: the metrics (accuracy) are validation metrics; time is text."""
    return _csv(tmp_path / "history.csv", "epoch,train_loss,valid_loss,accuracy,time",
                [(e, t, v, 0.7 - 0.01 * e, "00:03") for e, (t, v) in enumerate(zip(TRAIN, VAL, strict=True))])


def keras_history_dict(tmp_path):
    """json.dump(model.fit(...).history): one list per metric."""
    p = tmp_path / "history.json"
    p.write_text(json.dumps({"loss": TRAIN, "val_loss": VAL, "accuracy": [0.6, 0.8, 0.9, 0.95, 0.98],
                             "val_accuracy": [0.62, 0.75, 0.74, 0.73, 0.72]}))
    return p


def keras_history_dict_every_2(tmp_path):
    """model.fit(validation_freq=2).history: the validation lists are half as long as the training lists."""
    p = tmp_path / "history.json"
    p.write_text(json.dumps({"loss": [0.9, 0.7, 0.5, 0.3, 0.2, 0.1], "val_loss": [0.6, 0.7, 0.9]}))
    return p


# (writer, the label of the best point as the explanation must name it, how many evaluation points)
IRREGULAR = {
    "repeated header CSVLogger": (repeated_header_csvlogger, "epoch 1", 5),  # the log counts epochs from 0
    "appended runs": (appended_runs, "epoch 1", 5),  # the log counts epochs from 0
    "trainer_state, eval every 50 steps": (trainer_state_every_50_steps, "step 200 (epoch 0.4)", 10),
    "eval every 2 epochs": (eval_every_2_epochs, "epoch 1", 3),  # the log counts epochs from 0
    "Lightning metrics.csv": (lightning_metrics_csv, "epoch 1", 5),  # the log counts epochs from 0
    "fastai CSV": (fastai_csv, "epoch 1", 5),  # the log counts epochs from 0
    "Keras history dict": (keras_history_dict, "epoch 2", 5),
    "Keras history dict, validation_freq=2": (keras_history_dict_every_2, "epoch 2", 3),
}


@pytest.mark.parametrize("name", list(IRREGULAR))
def test_irregular_logs_are_read_as_evaluation_points(name, tmp_path, capsys):
    write, best_label, n_evals = IRREGULAR[name]
    path = write(tmp_path)
    loaded = load_history(path)
    h = loaded["history"]
    evals = [r for r in h if r.get("val_loss") is not None]
    assert len(evals) == n_evals, h
    positions = [r["position"] for r in h]
    assert positions == sorted(positions) and all(isinstance(r["label"], str) for r in h)
    # Every evaluation point has a training loss, measured at or before it (never from a later row).
    assert all(r.get("train_loss") is not None for r in evals)

    d = diagnose_run(path)
    assert d.verdict == "overfitting", [(f.code, f.severity, f.explanation) for f in d.findings]
    over = next(f for f in d.findings if f.code == "overfitting")
    assert f"lowest at {best_label}" in over.explanation and over.evidence["best_at"] == best_label
    # No remedy stops before the best point: at least its epoch, rounded up, plus the patience it sets.
    best_epoch = over.evidence["best_epoch"]
    for f in d.findings:
        for r in f.remedies:
            if "training.epochs" in r["set"] and r["set"].get("early_stopping.patience") == 1:
                assert r["set"]["training.epochs"] >= math.ceil(best_epoch) + 1, (f.code, r)
    assert main(["doctor", str(path)]) == 0
    out = capsys.readouterr().out
    assert "verdict: overfitting" in out and best_label in out.replace("\n", " ")


def test_irregular_logs_say_how_they_were_read(tmp_path):
    d = diagnose_run(repeated_header_csvlogger(tmp_path))
    assert any(f.code == "history_log" and "repeated header" in f.explanation for f in d.findings)
    d = diagnose_run(appended_runs(tmp_path))
    assert "last of 2 runs" in d.source
    info = next(f for f in d.findings if f.code == "history_log")
    assert "2 runs appended" in info.explanation and "last one" in info.explanation
    path = trainer_state_every_50_steps(tmp_path)
    d = diagnose_run(path.parent)  # the checkpoint folder
    over = next(f for f in d.findings if f.code == "overfitting")
    assert over.severity == "high" and over.evidence["best_model_checkpoint"] == "checkpoint-200"
    assert over.evidence["best_step"] == 200 and over.evidence["best_epoch"] == 0.4
    assert "checkpoint-200" in over.explanation and "step 500 (epoch 1)" in over.explanation
    assert any("every 50 steps" in f.explanation for f in d.findings if f.code == "history_log")
    # The Trainer output folder itself: its latest checkpoint is read.
    assert diagnose_run(tmp_path).verdict == "overfitting"
    fast = load_history(fastai_csv(tmp_path))["history"]
    assert fast[0]["val_accuracy"] == 0.7 and "train_accuracy" not in fast[0] and "time" not in fast[0]


def test_a_resumed_run_replaces_the_rows_it_trained_again(tmp_path):
    p = _csv(tmp_path / "resumed.csv", "epoch,loss,val_loss",
             [(0, 0.9, 0.8), (1, 0.6, 0.7), (2, 0.5, 0.9), (2, 0.45, 0.6), (3, 0.4, 0.55)])
    loaded = load_history(p)
    assert [r["epoch"] for r in loaded["history"]] == [1, 2, 3, 4]
    assert [r["val_loss"] for r in loaded["history"]] == [0.8, 0.7, 0.6, 0.55]
    assert any("resumed" in n for n in loaded["notes"])


def test_justfit_histories_keep_their_epochs():
    """A justfit history (one record per epoch, no position/label) reads exactly as before."""
    h = [{"epoch": i + 1, "train_loss": t, "val_loss": v, "lr": 5e-5} for i, (t, v) in enumerate(zip(TRAIN, VAL,
                                                                                                    strict=True))]
    d = diagnose(h, config={"training": {"epochs": 5, "lr": 5e-5}})
    over = next(f for f in d.findings if f.code == "overfitting")
    assert over.evidence["best_epoch"] == 2 and isinstance(over.evidence["best_epoch"], int)
    assert "epoch 2" in over.explanation and "epoch 5" in over.explanation


@pytest.mark.parametrize("best,of,epochs", [(4, 5, 5), (2, 10, 10), (7, 8, 20), (3, 12, 12)])
def test_stop_sooner_keeps_the_best_epoch_plus_patience(best, of, epochs):
    val = [1.0 - 0.1 * i for i in range(best)] + [1.0 - 0.1 * best + 0.08 * (i + 1) for i in range(of - best)]
    h = [{"epoch": i + 1, "train_loss": 1.0 - 0.08 * i, "val_loss": v} for i, v in enumerate(val)]
    d = diagnose(h, config={"training": {"epochs": epochs, "lr": 5e-5}, "early_stopping": {"patience": 2}})
    proposed = [r["set"]["training.epochs"] for f in d.findings for r in f.remedies
                if "training.epochs" in r["set"] and r["why"] == "stop sooner"]
    assert all(e >= best + 1 for e in proposed), proposed


def test_logs_in_steps_only_and_without_training_loss(tmp_path):
    """A step-only table (no epochs): positions are steps and no remedy cuts epochs it cannot place. A
    trainer_state.json whose training loss was never logged: the validation curve alone shows the rise."""
    p = _csv(tmp_path / "steps.csv", "step,train_loss,val_loss",
             [(100 * (i + 1), t, v) for i, (t, v) in enumerate(zip(TRAIN, VAL, strict=True))])
    d = diagnose_run(p)
    over = next(f for f in d.findings if f.code == "overfitting")
    assert over.evidence["best_at"] == "step 200" and over.evidence["best_epoch"] is None
    assert not [r for f in d.findings for r in f.remedies if "training.epochs" in r["set"]
                and r["why"] == "stop sooner"]
    log = [{"epoch": s / 500, "step": s, "eval_loss": v} for s, v in zip(range(100, 501, 100), VAL, strict=True)]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": log}))
    d = diagnose_run(tmp_path / "trainer_state.json")
    assert d.verdict == "overfitting" and "step 200 (epoch 0.4)" in d.findings[0].explanation


def _write_empty(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("")
    return p


def _write_empty_json(tmp_path):
    p = tmp_path / "history.json"
    p.write_text("")
    return p


def _write_header_only(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n")
    return p


def _write_no_loss(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("epoch,accuracy,val_accuracy\n0,0.5,0.5\n1,0.6,0.55\n")
    return p


def _write_empty_trainer_state(tmp_path):
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps({"log_history": [], "global_step": 0}))
    return p


def _write_empty_run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.jsonl").write_text("")
    return run


def _write_dir_without_history(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("hello")
    return run


def _write_empty_list(tmp_path):
    p = tmp_path / "h.json"
    p.write_text("[]")
    return p


BAD = {"0-byte CSV": (_write_empty, "empty"), "0-byte JSON": (_write_empty_json, "empty"),
       "header only": (_write_header_only, "no rows"), "no loss column": (_write_no_loss, "no loss column"),
       "empty trainer_state": (_write_empty_trainer_state, "no training or evaluation"),
       "0-byte history.jsonl": (_write_empty_run_dir, "empty"),
       "folder without history": (_write_dir_without_history, "holds no history"),
       "empty JSON list": (_write_empty_list, "empty list")}


@pytest.mark.parametrize("name", list(BAD))
def test_unusable_history_files_are_one_line_data_errors(name, tmp_path, capsys):
    write, words = BAD[name]
    path = write(tmp_path)
    with pytest.raises(DataError, match=words) as exc:
        load_history(path)
    assert "\n" not in str(exc.value)
    assert main(["doctor", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "EmptyDataError" not in err


# ---- diverged runs ----------------------------------------------------------------------------------------------

CFG = {"training": {"lr": 5e-5, "weight_decay": 0.01, "epochs": 8, "batch_size": 32, "warmup_ratio": 0.1,
                    "max_grad_norm": 1.0},
       "model": {"dropout": None, "freeze": "none"}, "early_stopping": {"patience": 2}}
FLAT = [1.099, 1.098, 1.098, 1.097]  # looks like underfitting among 3 classes


def _h(train, val, **extra):
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v, "lr": 5e-5, **extra}
            for i, (t, v) in enumerate(zip(train, val, strict=True))]


DIVERGED = {
    # The reported case: NaN in epoch 1, and a learning rate that made "much larger steps" absurd.
    "NaN loss in epoch 1": dict(history=_h([math.nan, math.nan, math.nan], [math.nan, math.nan, math.nan]),
                                config={**CFG, "training": {**CFG["training"], "lr": 33000.0}}),
    "inf validation loss, flat otherwise": dict(history=_h(FLAT, [1.099, 1.099, math.inf, 1.098]), config=CFG),
    "NaN validation accuracy": dict(history=[{**r, "val_accuracy": math.nan if i == 2 else 0.45, "train_accuracy": 0.45}
                                             for i, r in enumerate(_h(FLAT, FLAT))], config=CFG),
    "test metrics invalid": dict(history=_h(FLAT, FLAT), config=CFG,
                                 metrics={"accuracy": None, "f1_macro": None, "log_loss": None,
                                          "majority_baseline_accuracy": None,
                                          "invalid_reason": "the model's probabilities are NaN for 40 of 40 rows"}),
    "flagged diverged": dict(history=[{**r, "diverged": i == 3} for i, r in enumerate(_h(FLAT, FLAT))], config=CFG),
    "no config, nan in another tool's log": dict(history=[{"epoch": 1, "train_loss": 0.9, "val_loss": 0.8, "lr": 3e5},
                                                          {"epoch": 2, "train_loss": math.nan, "val_loss": math.nan,
                                                           "lr": 3e5}], config=None),
}


@pytest.mark.parametrize("name", list(DIVERGED))
def test_a_diverged_run_is_unstable_and_its_remedies_stay_sane(name):
    sc = dict(DIVERGED[name])
    metrics = sc.pop("metrics", {"majority_baseline_accuracy": 0.45})
    d = diagnose(sc["history"], metrics=metrics, config=sc["config"], n_classes=3)
    assert d.verdict == "unstable", [(f.code, f.severity) for f in d.findings]
    assert d.findings[0].code == "diverged" and d.findings[0].severity == "high"
    codes = {f.code for f in d.findings}
    assert not codes & {"underfitting", "lr_too_low", "not_converged"}, codes
    configured = (sc["config"] or {}).get("training", {}).get("lr") or 3e5
    for f in d.findings:
        for r in f.remedies:
            lr = r["set"].get("training.lr")
            if lr is not None:
                assert f.code in ("diverged", "unstable", "lr_too_high") and 1e-7 <= lr <= min(1e-2, configured)
            assert all(math.isfinite(v) for v in r["set"].values() if isinstance(v, float))


def test_invalid_test_metrics_name_the_reason():
    sc = DIVERGED["test metrics invalid"]
    d = diagnose(sc["history"], metrics=sc["metrics"], config=CFG)
    assert "probabilities are NaN" in d.findings[0].explanation


# ---- every remedy bounded, none contradicting another -----------------------------------------------------------


def _random_case(rng: random.Random):
    n = rng.randint(1, 12)
    t, v = rng.uniform(0.05, 3.0), rng.uniform(0.05, 3.0)
    history = []
    for i in range(n):
        t *= rng.uniform(0.5, 1.3)
        v *= rng.uniform(0.6, 1.5)
        r = {"epoch": i + 1, "train_loss": t, "val_loss": v, "lr": 10 ** rng.uniform(-9, 3)}
        if rng.random() < 0.5:
            r["train_accuracy"], r["val_accuracy"] = rng.random(), rng.random()
        if rng.random() < 0.04:
            r[rng.choice(["train_loss", "val_loss"])] = rng.choice([math.nan, math.inf])
        if rng.random() < 0.15:
            del r["val_loss"]
        history.append(r)
    freeze = rng.choice(["none", "backbone", "bottom:2", "bottom:4"])
    config = {"training": {"lr": 10 ** rng.uniform(-9, 3), "epochs": rng.randint(1, 300),
                           "weight_decay": rng.choice([0.0, 0.01, 0.2, 0.9]), "batch_size": rng.choice([1, 8, 32, 256]),
                           "warmup_ratio": rng.choice([0.0, 0.1]), "max_grad_norm": rng.choice([None, 1.0]),
                           "time_budget": rng.choice([None, 60.0, 3600.0])},
              "model": {"dropout": rng.choice([None, 0.0, 0.3, 0.8]), "freeze": freeze,
                        "strategy": rng.choice(["full", "full", "lora"]), "lora_rank": rng.choice([2, 8, 64])},
              "early_stopping": {"patience": rng.randint(1, 5), "enabled": rng.random() < 0.5}}
    if rng.random() < 0.3:
        config = None  # another tool's log
    if rng.random() < 0.2:
        history[-1]["epoch_fraction"] = rng.uniform(0.05, 0.95)
    data = {}
    if rng.random() < 0.3:
        data["tokenizer_coverage"] = {"train": {"unk_share": rng.random(), "short_share": rng.random() * 0.5},
                                      "model": "m", "threshold": 0.1}
    if rng.random() < 0.2:
        data.update(imbalance_ratio=rng.uniform(1, 20), label_issues=rng.randint(0, 500))
    metrics = {"majority_baseline_accuracy": rng.choice([None, 0.5, 0.9])}
    if rng.random() < 0.1:
        metrics.update(accuracy=None, invalid_reason="non-finite probabilities")
    return history, config, data, metrics, rng.choice([None, 2, 3, 10]), rng.choice([None, 100, 5000])


def test_remedies_are_bounded_and_never_pull_a_key_both_ways():
    rng = random.Random(20240607)
    for case in range(400):
        history, config, data, metrics, k, n_train = _random_case(rng)
        d = diagnose(history, config=config, data=data, metrics=metrics, n_classes=k, n_train=n_train,
                     n_params=5_000_000)
        cfg = config or {"training": {"lr": max(r["lr"] for r in history)}}
        diverged = any(f.code == "diverged" for f in d.findings)
        moves: dict[str, set[str]] = {}
        for f in d.findings:
            for r in f.remedies:
                for key, value in r["set"].items():
                    where = (case, f.code, r["why"], key, value)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        assert math.isfinite(value), where
                        b = bounds(key, cfg, r["set"], diverged=diverged)
                        if b is not None:
                            assert b[0] <= value <= b[1] or (value == b[1] and b[1] < b[0]), (where, b)
                    if key == "training.lr" and diverged:
                        assert value <= cfg["training"]["lr"] and f.code in ("diverged", "unstable", "lr_too_high")
                    if key == "training.lr" and any(g.code == "unreadable_data" for g in d.findings):
                        assert diverged and f.code in ("diverged", "unstable", "lr_too_high"), where
                    way = direction(key, value, config or {})
                    if way in ("up", "down"):
                        moves.setdefault(key, set()).add(way)
        both = {k: w for k, w in moves.items() if len(w) > 1}
        assert not both, (case, both, [(f.code, [r["set"] for r in f.remedies]) for f in d.findings])


def test_the_more_serious_finding_keeps_its_remedy_when_two_conflict():
    # Underfitting (high) asks for larger steps; a rising early training loss (lr_too_high, medium) for smaller.
    h = _h([1.09, 1.15, 1.08, 1.07], [1.1, 1.1, 1.09, 1.09])
    d = diagnose(h, config=CFG, n_classes=3, metrics={"majority_baseline_accuracy": 0.45})
    assert d.verdict == "underfitting"
    lrs = [r["set"]["training.lr"] for f in d.findings for r in f.remedies if "training.lr" in r["set"]]
    assert lrs and all(lr > CFG["training"]["lr"] for lr in lrs)
    assert all(not f.remedies or f.code != "lr_too_high" or all("training.lr" not in r["set"] for r in f.remedies)
               for f in d.findings)


@pytest.mark.parametrize("cfg,most", [
    ({"training": {"lr": 2e-4}, "model": {"freeze": "none"}}, 3e-4),  # remedies.LR_CEILING, by what is trained
    ({"training": {"lr": 5e-3}, "model": {"freeze": "backbone"}}, 1e-2),
    ({"training": {"lr": 5e-4}, "model": {"strategy": "lora"}}, 1e-3),
])
def test_learning_rate_bounds_depend_on_what_is_trained(cfg, most):
    flat = _h([1.10, 1.09, 1.09], [1.10, 1.10, 1.09])
    d = diagnose(flat, config=cfg)
    lrs = [r["set"]["training.lr"] for f in d.findings for r in f.remedies if "training.lr" in r["set"]]
    assert lrs and max(lrs) == most


# ---- data the model cannot read ------------------------------------------------------------------------------


def _coverage(unk, short, model="sentence-transformers/all-MiniLM-L6-v2"):
    split = {"unk_share": unk, "short_share": short, "rows": 120}
    return {"tokenizer_coverage": {"train": split, "validation": split, "test": split, "model": model,
                                   "threshold": 0.1}}


UNREADABLE = {
    "unknown tokens, flat loss at chance": dict(history=_h(FLAT, FLAT), data=_coverage(0.87, 0.40)),
    "near-empty texts only, slow loss": dict(history=_h([1.0, 0.99, 0.98, 0.975], [1.0, 0.995, 0.99, 0.985]),
                                             data=_coverage(0.02, 0.60)),
    "unknown tokens, still falling": dict(history=_h([1.09, 1.0, 0.9], [1.09, 1.0, 0.92]), data=_coverage(0.5, 0.05)),
    "unknown tokens, head-only run": dict(history=_h(FLAT, FLAT), data=_coverage(0.95, 0.9),
                                          config={**CFG, "model": {"freeze": "backbone"}}),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_unreadable_data_comes_before_learning_rate_and_underfitting_advice(name):
    sc = dict(UNREADABLE[name])
    d = diagnose(sc["history"], data=sc["data"], config=sc.get("config", CFG), n_classes=3,
                 metrics={"majority_baseline_accuracy": 0.45})
    assert d.verdict == "model cannot read data", [(f.code, f.severity) for f in d.findings]
    top = d.findings[0]
    assert top.code == "unreadable_data" and top.severity == "high"
    assert "all-MiniLM-L6-v2" in top.explanation and "%" in top.explanation
    names = [r["set"]["model.name"] for r in top.remedies]
    assert "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2" in names
    assert "bert-base-multilingual-cased" in names
    assert all("covers this script" in r["why"] for r in top.remedies)
    assert not [r for f in d.findings for r in f.remedies if "training.lr" in r["set"]]


def test_readable_data_is_not_flagged_and_the_verdict_order_is_kept():
    d = diagnose(_h(FLAT, FLAT), data=_coverage(0.01, 0.02), config=CFG, n_classes=3,
                 metrics={"majority_baseline_accuracy": 0.45})
    assert d.verdict == "underfitting" and all(f.code != "unreadable_data" for f in d.findings)
    assert VERDICT_ORDER[:2] == ["unstable", "model cannot read data"]
    # A diverged run that also cannot read its data: unstable first (nothing else can be judged).
    d = diagnose(_h([0.9, math.nan], [0.8, math.nan]), data=_coverage(0.9, 0.9), config=CFG)
    assert d.verdict == "unstable"


def test_doctor_reads_tokenizer_coverage_from_a_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _h(FLAT, FLAT)))
    (run / "result.json").write_text(json.dumps({"data": {"quality": _coverage(0.87, 0.4), "sizes": {"train": 120}},
                                                 "labels": ["a", "b", "c"]}))
    (run / "metrics.json").write_text(json.dumps({"majority_baseline_accuracy": 0.45}))
    assert main(["doctor", str(run)]) == 0
    out = capsys.readouterr().out
    assert "verdict: model cannot read data" in out and "model.name=" in out
