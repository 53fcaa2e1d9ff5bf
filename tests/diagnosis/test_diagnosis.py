"""Diagnosis: planted scenarios with a known verdict, replayed from histories; other tools' history files."""

import json
import math

import pytest

from justfit.cli.main import main
from justfit.diagnosis import diagnose, diagnose_run, load_history
from justfit.diagnosis.remedies import as_flags
from justfit.errors import DataError


def hist(train_loss, val_loss, train_acc=None, val_acc=None, lr=5e-5):
    out = []
    for i, (t, v) in enumerate(zip(train_loss, val_loss, strict=True)):
        r = {"epoch": i + 1, "train_loss": t, "val_loss": v, "lr": lr}
        if train_acc:
            r["train_accuracy"] = train_acc[i]
        if val_acc:
            r["val_accuracy"] = val_acc[i]
        out.append(r)
    return out


BASE = {"majority_baseline_accuracy": 0.45}
CFG = {"training": {"lr": 5e-5, "weight_decay": 0.01, "epochs": 8, "batch_size": 32, "warmup_ratio": 0.1,
                    "max_grad_norm": 1.0},
       "model": {"dropout": None, "freeze": "none"}, "early_stopping": {"patience": 2}}

SCENARIOS = {
    "good fit": dict(history=hist([0.9, 0.6, 0.5, 0.45, 0.43], [0.8, 0.62, 0.55, 0.53, 0.53],
                                  [0.6, 0.75, 0.8, 0.82, 0.83], [0.62, 0.74, 0.78, 0.79, 0.79])),
    "overfitting": dict(history=hist([0.9, 0.5, 0.3, 0.15, 0.07, 0.03], [0.8, 0.6, 0.62, 0.75, 0.9, 1.1],
                                     [0.6, 0.8, 0.9, 0.95, 0.98, 0.99], [0.62, 0.75, 0.74, 0.73, 0.72, 0.71])),
    "underfitting": dict(history=hist([1.099, 1.098, 1.098, 1.097], [1.099, 1.099, 1.098, 1.098],
                                      [0.44, 0.45, 0.45, 0.45], [0.45, 0.45, 0.45, 0.45]), n_classes=3),
    "not converged": dict(history=hist([1.0, 0.8, 0.65], [0.95, 0.8, 0.7], [0.5, 0.62, 0.7], [0.52, 0.6, 0.66])),
    "unstable": dict(history=hist([0.9, 0.7, math.nan], [0.8, 0.7, math.nan])),
    "leaked test set": dict(history=hist([0.9, 0.6, 0.5, 0.45], [0.8, 0.62, 0.56, 0.55]),
                            data={"test_leaks": True, "leakage": "120 training rows copy 40 test rows "
                                  "(100 exact, 20 near); kept (leakage: report)"}),
    "noisy labels": dict(history=hist([1.0, 0.85, 0.8, 0.78], [0.95, 0.88, 0.86, 0.86]),
                         data={"label_issues": 900, "label_audit_accuracy": 0.86}, n_train=3000),
}


@pytest.mark.parametrize("verdict", list(SCENARIOS))
def test_replayed_scenarios_get_the_right_verdict(verdict):
    sc = dict(SCENARIOS[verdict])
    d = diagnose(sc.pop("history"), metrics=BASE, config=CFG, **sc)
    assert d.verdict == verdict, [(f.code, f.severity) for f in d.findings]
    if verdict != "good fit":
        top = d.findings[0]
        assert top.evidence and top.explanation and top.severity in ("high", "medium")
    else:
        assert not d.top


def test_overfitting_evidence_and_remedies():
    d = diagnose(SCENARIOS["overfitting"]["history"], metrics=BASE, config=CFG)
    f = next(f for f in d.findings if f.code == "overfitting")
    assert f.evidence["best_epoch"] == 2 and f.evidence["last_val_loss"] == 1.1
    assert "epoch 2" in f.explanation
    flags = [as_flags(r) for r in f.remedies]
    assert "--set training.weight_decay=0.05" in flags[0]
    assert any("model.dropout=0.2" in x for x in flags) and any("model.freeze=bottom:2" in x for x in flags)


@pytest.mark.parametrize(("n_train", "task", "augment", "offered"), [
    (400, "classification", [], True), (1000, "classification", [], True),
    (5000, "classification", [], False),           # not measured to help with this many rows
    (400, "image-classification", [], False),      # text augmentation is for texts
    (400, "regression", [], False),                # measured on classification only
    (400, "classification", ["typo"], False),      # augmentation already on
    (None, "classification", [], False),           # size unknown (a log from another tool)
    (400, None, [], False),                        # the task is not known (no facts recorded): none offered
])
def test_augmentation_is_offered_against_overfitting_only_where_measured_to_help(n_train, task, augment, offered):
    from justfit.tasks import get_task

    cfg = {**CFG, "task": task, "augment": {"ops": augment}}
    facts = get_task(task).diagnosis_facts() if task else None  # as the run records them
    d = diagnose(SCENARIOS["overfitting"]["history"], metrics=BASE, config=cfg, n_train=n_train, task_facts=facts)
    f = next(f for f in d.findings if f.code == "overfitting")
    flags = [as_flags(r) for r in f.remedies]
    assert any(x == "--set augment.ops=synonym,swap,delete,insert" for x in flags) == offered, flags
    if offered:  # after the regularisation remedies (the measured gain is small), before stopping sooner
        at = next(i for i, x in enumerate(flags) if x.startswith("--set augment.ops"))
        assert at > 0 and "early_stopping" in flags[at + 1]


def test_underfitting_remedies_raise_capacity():
    cfg = {**CFG, "model": {"freeze": "backbone", "dropout": None}}
    d = diagnose(SCENARIOS["underfitting"]["history"], metrics=BASE, config=cfg, n_classes=3)
    f = d.findings[0]
    assert f.code in ("underfitting", "lr_too_low")
    under = next(f for f in d.findings if f.code == "underfitting")
    # unfrozen at the rate measured for the whole model (MiniLM, a text encoder: 1e-4), not the head's
    assert as_flags(under.remedies[0]) == "--set model.freeze=none --set training.lr=0.0001"
    assert any("training.lr=0.00015" in as_flags(r) for r in under.remedies)  # 3x, within full fine-tuning's 3e-4


def test_keras_csv_logger(tmp_path):
    p = tmp_path / "training.log.csv"
    p.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n"
                 "0,0.6,0.9,0.62,0.8\n1,0.8,0.5,0.75,0.6\n2,0.9,0.3,0.74,0.62\n3,0.95,0.15,0.73,0.75\n"
                 "4,0.98,0.07,0.72,0.9\n5,0.99,0.03,0.71,1.1\n")
    loaded = load_history(p)
    assert loaded["format"] == "keras CSVLogger" and loaded["history"][0]["epoch"] == 1
    assert loaded["history"][0]["train_accuracy"] == 0.6 and loaded["history"][5]["val_loss"] == 1.1
    assert diagnose_run(p).verdict == "overfitting"


def test_hf_trainer_state(tmp_path):
    log = []
    for epoch, (tl, vl) in enumerate([(0.9, 0.8), (0.5, 0.6), (0.3, 0.65), (0.1, 0.8), (0.05, 1.0)], start=1):
        log += [{"epoch": epoch - 0.5, "loss": tl + 0.05, "learning_rate": 5e-5, "step": 10 * epoch - 5},
                {"epoch": float(epoch), "loss": tl - 0.05, "learning_rate": 4e-5, "step": 10 * epoch},
                {"epoch": float(epoch), "eval_loss": vl, "eval_accuracy": 0.7, "eval_runtime": 1.0, "step": 10 * epoch}]
    folder = tmp_path / "checkpoint-50"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": log, "global_step": 50}))
    loaded = load_history(folder)
    h = loaded["history"]
    assert [r["epoch"] for r in h] == [1, 2, 3, 4, 5] and h[0]["train_loss"] == pytest.approx(0.9)
    assert h[1]["val_loss"] == 0.6 and h[0]["val_accuracy"] == 0.7 and "val_runtime" not in h[0]
    assert diagnose_run(folder / "trainer_state.json").verdict == "overfitting"


def test_plain_tables(tmp_path):
    rows = [{"epoch": i + 1, "train_loss": t, "val_loss": v} for i, (t, v) in enumerate([(1.0, 0.95), (0.8, 0.8),
                                                                                          (0.65, 0.7)])]
    (tmp_path / "h.json").write_text(json.dumps(rows))
    (tmp_path / "h.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "h.csv").write_text("epoch,train_loss,val_loss\n1,1.0,0.95\n2,0.8,0.8\n3,0.65,0.7\n")
    keras_dict = {"loss": [1.0, 0.8, 0.65], "val_loss": [0.95, 0.8, 0.7]}
    (tmp_path / "k.json").write_text(json.dumps(keras_dict))
    for name in ("h.json", "h.jsonl", "h.csv", "k.json"):
        assert diagnose_run(tmp_path / name).verdict == "not converged", name
    (tmp_path / "bad.csv").write_text("epoch,foo\n1,2\n")
    with pytest.raises(DataError, match="no loss column"):
        load_history(tmp_path / "bad.csv")
    with pytest.raises(DataError, match="does not exist"):
        load_history(tmp_path / "nope.csv")


def test_doctor_cli(tmp_path, capsys):
    p = tmp_path / "log.csv"
    p.write_text("epoch,loss,val_loss\n0,0.9,0.8\n1,0.5,0.6\n2,0.3,0.62\n3,0.15,0.75\n4,0.07,0.9\n")
    assert main(["doctor", str(p)]) == 0
    out = capsys.readouterr().out
    assert "verdict: overfitting" in out and "--set training.weight_decay" in out
    assert main(["doctor", str(p), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "overfitting"
    assert main(["doctor", str(tmp_path / "missing")]) == 2


def test_runs_are_diagnosed_and_doctor_reads_them_back(fast_config, planted_csv, capsys):
    from justfit import RunResult, finetune

    cfg = dict(fast_config)
    cfg["data"] = {"path": planted_csv}
    cfg["training"] = {**cfg["training"], "lr": 1e-9, "epochs": 3}  # far too low: nothing is learned
    cfg["quality"] = {"label_noise": "off"}
    cfg["baseline"] = {"enabled": False}  # the curve rules are under test (see _auto_cfg)
    result = finetune(cfg)
    run = result.model_dir.parent
    saved = json.loads((run / "diagnosis.json").read_text())
    assert saved["verdict"] == result.verdict == "underfitting"
    assert RunResult.load(run).verdict == "underfitting"
    assert main(["doctor", str(run)]) == 0
    assert "verdict: underfitting" in capsys.readouterr().out


def test_sanity_probe_passes_a_working_pipeline_and_catches_broken_ones(tiny_model, planted_csv, tmp_path, capsys):
    from justfit.config import JustfitConfig
    from justfit.training.probe import sanity_check

    base = {"data": {"path": planted_csv}, "model": {"name": tiny_model}, "training": {"lr": 3e-3, "bf16": False}}
    ok = sanity_check(JustfitConfig.from_dict(base))
    assert ok.passed and ok.last_loss < 0.5 * ok.first_loss and ok.trainable_params > 0
    low = sanity_check(JustfitConfig.from_dict({**base, "training": {"lr": 1e-9, "bf16": False}}))
    assert not low.passed and "training.lr" in low.reason
    head_only = JustfitConfig.from_dict({**base, "model": {"name": tiny_model, "freeze": "backbone"},
                                         "training": {"lr": 1e-9, "bf16": False}})
    assert not sanity_check(head_only).passed
    assert main(["check", "--data", planted_csv, "--model", tiny_model, "--lr", "1e-9", "--set",
                 "training.bf16=false"]) == 1
    assert "sanity check failed" in capsys.readouterr().out
    args = ["train", "--data", planted_csv, "--model", tiny_model, "--lr", "1e-9", "--check", "-o", str(tmp_path),
            "--name", "x", "-q"]
    assert main(args) == 2
    assert "Sanity check failed" in capsys.readouterr().err and not (tmp_path / "x").exists()


def _auto_cfg(fast_config, data, **training):
    cfg = dict(fast_config)
    cfg["data"] = {"path": data}
    cfg["training"] = {**cfg["training"], **training}
    cfg["quality"] = {"label_noise": "off"}
    # The curve rules are under test: the tiny random model never beats TF-IDF on the planted words, and the
    # cheap-baseline verdict (tests/evaluation/test_baseline.py) would come first.
    cfg["baseline"] = {"enabled": False}
    return cfg


def _better(a: float, b: float, direction: str) -> bool:
    """``a`` is a better score than ``b`` for a monitor of ``direction`` ("min" or "max")."""
    assert direction in ("min", "max")
    return a < b if direction == "min" else a > b


def test_autofit_fixes_a_learning_rate_far_too_low(fast_config, tmp_path):
    from justfit import finetune
    from tests.conftest import planted_texts

    data = tmp_path / "planted200.csv"
    planted_texts(200).to_csv(data, index=False)
    # At batch 4 the tiny model learns this task at lr 2.7e-4 in 8 epochs; 3e-5 leaves it at chance. Auto-fit
    # raises the rate 3x a round (3e-5, 9e-5, 2.7e-4), within full fine-tuning's ceiling of 3e-4.
    result = finetune(_auto_cfg(fast_config, str(data), lr=3e-5, epochs=8, batch_size=4), auto=True, rounds=3)
    af = result.data["autofit"]
    first, chosen = af["rounds"][0], af["rounds"][af["chosen_round"] - 1]
    assert len(af["rounds"]) >= 2 and af["chosen_round"] > 1
    assert _better(chosen["score"], first["score"], af["direction"])  # a better validation score than round 1
    assert af["rounds"][1]["changes"] and af["rounds"][1]["why"]
    assert result.config["training"]["lr"] > 3e-5  # the saved config is the chosen round's
    assert chosen["verdict"] != "underfitting" and first["verdict"] == "underfitting"
    assert (result.model_dir.parent / "autofit.json").is_file()
    assert result.metrics["n"] == result.data["sizes"]["test"]  # the test split evaluated once, at the end
    # one seed per round: the gain is stated, and so is that its spread was not measured
    assert af["outcome"].startswith(f"round {af['chosen_round']} improved validation") and "not measured" in af["outcome"]
    assert "not measured" in (result.model_dir.parent / "report.html").read_text()


def test_finetuner_auto_takes_the_best_round(tiny_model):
    from justfit import Finetuner
    from tests.conftest import planted_texts

    df = planted_texts(200)
    ft = Finetuner(tiny_model, epochs=8, lr=3e-5, batch_size=4, bf16=False, auto=True, rounds=3,
                   config={"training": {"train_eval_samples": 32}}).fit(df)
    rounds = ft.autofit_["rounds"]
    # The monitor is the classification task's own (val_f1, macro-F1, higher is better), on its own scale.
    assert ft.autofit_["monitor"] == "val_f1" and ft.autofit_["direction"] == "max"
    assert ft.autofit_["chosen_round"] > 1
    assert rounds[ft.autofit_["chosen_round"] - 1]["score"] > rounds[0]["score"]
    assert ft.config_.training.lr > 3e-5 and ft.get_params()["auto"] is True
    assert (ft.predict(df["text"].head(20)) == df["label"].head(20)).mean() > 0.7


def test_empty_validation_cells_are_not_a_diverged_loss(tmp_path, capsys):
    p = tmp_path / "every_other.csv"  # Keras with validation_freq=2
    p.write_text("epoch,accuracy,loss,learning_rate,val_accuracy,val_loss\n0,0.6,0.9,0.001,0.62,0.8\n"
                 "1,0.7,0.7,0.001,,\n2,0.8,0.5,0.001,0.74,0.6\n3,0.85,0.4,0.001,NA,NA\n4,0.9,0.3,0.001,0.76,0.55\n")
    d = diagnose_run(p)
    assert all(f.code not in ("diverged", "unstable") for f in d.findings), [f.code for f in d.findings]
    assert main(["doctor", str(p)]) == 0
    assert "[" in capsys.readouterr().out  # severities are printed, not eaten as markup


def test_removed_leaks_are_reported_but_do_not_make_the_verdict():
    h = SCENARIOS["good fit"]["history"]
    removed = {"test_leaks": True, "leakage": "3 training rows copy 3 test rows (3 exact, 0 near); removed from train"}
    d = diagnose(h, metrics=BASE, config=CFG, data=removed)
    assert d.verdict == "good fit" and any(f.code == "test_leakage" and f.severity == "low" for f in d.findings)


def test_remedies_for_other_tools_start_from_their_learning_rate(tmp_path):
    p = tmp_path / "flat.csv"
    p.write_text("epoch,loss,val_loss,lr\n0,1.10,1.10,0.001\n1,1.09,1.10,0.001\n2,1.09,1.09,0.001\n")
    d = diagnose_run(p)
    low = next(f for f in d.findings if f.code == "lr_too_low")
    assert low.remedies[0]["set"]["training.lr"] == 0.003  # 3x the log's rate (a bounded step, not 10x)


def test_autofit_improves_a_planted_overfitting_case(fast_config, tmp_path):
    """A tiny training set with noisy labels, no regularisation and many epochs overfits; auto-fit must end
    with a better validation score than round 1."""
    import numpy as np

    from justfit import finetune
    from tests.conftest import planted_texts

    df = planted_texts(120, seed=2)
    flip = np.random.default_rng(0).choice(len(df), 30, replace=False)
    df.loc[flip, "label"] = df.loc[flip, "label"].map({"pos": "neg", "neg": "pos"})
    data = tmp_path / "overfit.csv"
    df.to_csv(data, index=False)
    cfg = _auto_cfg(fast_config, str(data), lr=3e-3, epochs=20, weight_decay=0.0, train_eval_samples=64)
    cfg["data"].update(val_size=0.25, test_size=0.2)
    cfg["early_stopping"] = {"enabled": False}
    result = finetune(cfg, auto=True, rounds=3)
    af = result.data["autofit"]
    first, chosen = af["rounds"][0], af["rounds"][af["chosen_round"] - 1]
    assert first["verdict"] == "overfitting"
    assert _better(chosen["score"], first["score"], af["direction"]), af["rounds"]
    # A kind of remedy is tried again only after it helped (a stronger L2 penalty after a stronger one
    # improved); one that did not help gives the next kind its turn.
    rounds = af["rounds"]
    for before, r, after in zip(rounds, rounds[1:], rounds[2:], strict=False):
        if after["why"] == r["why"]:
            assert _better(r["score"], before["score"], af["direction"]), rounds


def test_a_time_budget_that_cut_training_short_asks_for_more_time():
    cfg = {**CFG, "training": {**CFG["training"], "time_budget": 300.0}}
    cut = [{"epoch": 1, "train_loss": 0.7, "val_loss": 0.6, "lr": 0.0, "epoch_fraction": 0.24}]
    d = diagnose(cut, metrics=BASE, config=cfg)
    assert d.verdict == "not converged"
    f = d.findings[0]
    assert f.code == "time_budget" and f.severity == "medium" and f.evidence["epochs_seen"] == 0.24
    assert "24% of one epoch" in f.explanation and "never seen" in f.explanation
    assert as_flags(f.remedies[0]) == "--set training.time_budget=1200.0"  # 1/0.24 epochs, at most 4x a round
    # Cut after two whole epochs and part of a third, with the validation loss past its best: no verdict.
    late = hist([0.9, 0.6, 0.5], [0.7, 0.5, 0.51])
    late[-1]["epoch_fraction"] = 0.5
    d = diagnose(late, metrics=BASE, config=cfg)
    f = next(f for f in d.findings if f.code == "time_budget")
    assert f.severity == "info" and not f.remedies and f.evidence["epochs_seen"] == 2.5
    assert d.verdict == "good fit"
    # No cut: no finding; "train longer" raises the budget together with the epochs.
    d = diagnose(SCENARIOS["not converged"]["history"], metrics=BASE, config=cfg)
    assert all(f.code != "time_budget" for f in d.findings)
    nc = next(f for f in d.findings if f.code == "not_converged")
    assert as_flags(nc.remedies[0]) == "--set training.epochs=16 --set training.time_budget=600.0"


def test_a_monitored_score_at_a_plateau_is_not_called_not_converged():
    """Macro-F1 at 1.0 three evaluations running while the validation loss still falls: early stopping on the
    F1 ends the run, and more epochs cannot raise it. Watched on the loss, the same curves are not converged."""
    h = [{"epoch": 1, "train_loss": 0.69, "val_loss": 0.69, "val_f1": 0.40},
         {"epoch": 2, "train_loss": 0.60, "val_loss": 0.29, "val_f1": 1.0},
         {"epoch": 3, "train_loss": 0.16, "val_loss": 0.035, "val_f1": 1.0},
         {"epoch": 4, "train_loss": 0.05, "val_loss": 0.013, "val_f1": 1.0}]
    directions = {"val_loss": "min", "val_f1": "max"}
    on_f1 = diagnose(h, metrics=BASE, config=CFG, monitor="val_f1", directions=directions)
    assert all(f.code != "not_converged" for f in on_f1.findings) and on_f1.verdict != "not converged"
    on_loss = diagnose(h, metrics=BASE, config=CFG, monitor="val_loss", directions=directions)
    assert on_loss.verdict == "not converged"
    rising = [{**r, "val_f1": f} for r, f in zip(h, (0.40, 0.80, 0.90, 0.95), strict=True)]
    assert diagnose(rising, metrics=BASE, config=CFG, monitor="val_f1", directions=directions).verdict == \
        "not converged"
