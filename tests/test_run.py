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
