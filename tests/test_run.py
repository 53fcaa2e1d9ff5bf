"""The whole run: config in, finished run directory out; nothing half-written on bad input."""

import json

import pandas as pd
import pytest

from justfit import RunResult, finetune
from justfit.errors import DataError, RunDirError
from justfit.results import RUN_FILES


def test_run_directory_contract(fast_config, planted_csv, tmp_path):
    cfg = {**fast_config, "data": {"path": planted_csv}}
    result = finetune(cfg)
    run = tmp_path / "runs" / "r"
    assert result.run_dir == str(run)
    for name in RUN_FILES:
        assert (run / name).exists(), name
    assert not (tmp_path / "runs" / "r.partial").exists()
    history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert len(history) == len(result.history) and "val_loss" in history[0]
    splits = json.loads((run / "splits.json").read_text())
    ids = [set(splits[k]["rows"]) for k in ("train", "validation", "test")]
    assert sum(map(len, ids)) == 120 and not (ids[0] & ids[2])
    preds = pd.read_csv(run / "predictions.csv")
    assert len(preds) == len(ids[2]) and {"row", "label", "predicted", "confidence", "loss"} <= set(preds.columns)
    assert set(preds["row"]) == ids[2]
    cfg_text = (run / "config.yaml").read_text()
    assert "text_column: text" in cfg_text and "epochs: 2" in cfg_text
    back = RunResult.load(run)
    assert back.metrics["accuracy"] == result.metrics["accuracy"] and back.labels == ["neg", "pos"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == len(preds)


def test_existing_run_is_not_overwritten(fast_config, planted_csv, tmp_path):
    (tmp_path / "runs" / "r").mkdir(parents=True)
    with pytest.raises(RunDirError, match="already exists.*--overwrite"):
        finetune({**fast_config, "data": {"path": planted_csv}})


def test_bad_data_leaves_no_run_directory(fast_config, tmp_path):
    p = tmp_path / "one.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x"] * 4}).to_csv(p, index=False)
    with pytest.raises(DataError, match="only one class"):
        finetune({**fast_config, "data": {"path": str(p)}})
    assert not (tmp_path / "runs").exists()


def test_separate_test_file_with_unseen_label(fast_config, planted, tmp_path):
    planted.to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"text": ["hello"], "label": ["other"]}).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(DataError, match="'other'.*never occur in training"):
        finetune({**fast_config, "data": {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}})
    assert not (tmp_path / "runs").exists()


def test_each_settings_check_runs_once_per_run(fast_config, planted_csv, monkeypatch):
    # The sequencer checks before the data stage; the estimator it calls finds the same settings checked.
    import justfit.checks as checks

    calls = []
    real = checks.check_recipe
    monkeypatch.setattr(checks, "check_recipe", lambda cfg: (calls.append(cfg.training.recipe), real(cfg))[1])
    monkeypatch.setattr(checks, "_PASSED", type(checks._PASSED)())
    finetune({**fast_config, "task": "classification", "data": {"path": planted_csv}})
    assert calls == ["standard"]


def test_checked_settings_are_remembered_by_content_not_by_object(monkeypatch):
    import justfit.checks as checks
    from justfit.config import JustfitConfig
    from justfit.errors import ConfigError

    monkeypatch.setattr(checks, "_PASSED", type(checks._PASSED)())
    cfg = JustfitConfig.from_dict({"task": "classification"})
    checks.check_settings(cfg)
    with pytest.raises(ConfigError, match="val_rmse"):  # a changed copy is checked again
        checks.check_settings(cfg.updated({"early_stopping.monitor": "val_rmse"}))
    checks.check_settings(cfg.updated({"early_stopping.monitor": "val_rmse", "task": "regression"}))


def test_fit_takes_the_data_stages_splits_as_they_are(fast_config, planted_csv):
    from justfit import Finetuner
    from justfit.config import JustfitConfig
    from justfit.data.stage import prepare_data

    cfg = JustfitConfig.from_dict({**fast_config, "data": {"path": planted_csv}})
    splits, _, _ = prepare_data(cfg)
    est = Finetuner(config=cfg).fit(splits)
    assert est.n_train_ == len(splits.train) and est.n_val_ == len(splits.validation)
    with pytest.raises(DataError, match="Splits object brings its own"):
        Finetuner(config=cfg).fit(splits, X_val=splits.validation)


def test_clean_and_train_share_one_data_stage(tmp_path, monkeypatch):
    # clean_file and prepare_data both run run_stage; clean still cleans when the config turned the stage off.
    from justfit.config import JustfitConfig
    from justfit.data import stage

    seen = []
    real = stage.run_stage
    monkeypatch.setattr(stage, "run_stage", lambda *a, **k: (seen.append(k["audit_split"]), real(*a, **k))[1])
    rows = [{"text": f"text number {i} " + "word " * (i % 5), "label": "ab"[i % 2]} for i in range(40)]
    rows += [dict(rows[0]), {"text": "  ", "label": "a"}]
    p = tmp_path / "d.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    cfg = JustfitConfig.from_dict({"data": {"path": str(p)}, "quality": {"enabled": False, "label_noise": "off"}})
    report = stage.clean_file(cfg, tmp_path / "out" / "clean.csv")
    assert seen == [""] and set(report.removed["rule"]) == {"exact_duplicate", "empty_text"}
    assert len(pd.read_csv(tmp_path / "out" / "clean.csv")) == 40
    stage.prepare_data(cfg.updated({"quality.enabled": True}))
    assert seen == ["", "train"]
