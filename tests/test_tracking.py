"""Tracking through accelerate's trackers: TensorBoard and MLflow, off by default; the resolved config,
every epoch and the test metrics; one child run per tune trial."""

from __future__ import annotations

from pathlib import Path

import pytest

from justfit import finetune
from justfit.errors import ConfigError

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")


def _runs(uri: str):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=["justfit"], output_format="list")


def _scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def test_a_run_logs_its_config_epochs_and_test_metrics_to_both_trackers(fast_config, planted_csv, tmp_path):
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    cfg = {**fast_config, "data": {"path": planted_csv},
           "output": {**fast_config["output"], "track": ["tensorboard", "mlflow"], "tracking_uri": uri}}
    result = finetune(cfg)
    (run,) = _runs(uri)
    assert run.info.run_name == "r" and run.info.status == "FINISHED"
    assert float(run.data.params["training.lr"]) == cfg["training"]["lr"]
    client = mlflow.tracking.MlflowClient(uri)
    val = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "val_loss")]
    assert val == [(r["epoch"], pytest.approx(r["val_loss"])) for r in result.history]
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.metrics["accuracy"])
    events = Path(result.run_dir) / "tensorboard" / "r"
    assert [s for s, _ in _scalars(events, "val_loss")] == [1, 2]


def test_tracking_is_off_by_default(fast_config, planted_csv, tmp_path):
    result = finetune({**fast_config, "data": {"path": planted_csv}})
    assert not (Path(result.run_dir) / "tensorboard").exists()
    assert not (Path(fast_config["output"]["dir"]) / "mlflow.db").exists()


def test_each_tune_trial_is_a_child_run(fast_config, planted_csv, tmp_path):
    from justfit.tuning.tune import tune

    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    cfg = {**fast_config, "data": {"path": planted_csv}, "training": {**fast_config["training"], "epochs": 2},
           "tune": {"trials": 3, "seeds": 1, "pruner": "none",
                    "space": {"training.lr": {"low": 1e-4, "high": 1e-2, "log": True}}},
           "output": {**fast_config["output"], "track": ["mlflow"], "tracking_uri": uri}}
    result = tune(cfg)
    runs = _runs(uri)
    parent = next(r for r in runs if r.info.run_name == "r")
    children = sorted((r for r in runs if r.info.run_name.startswith("trial-")), key=lambda r: r.info.run_name)
    assert [r.info.run_name for r in children] == ["trial-0", "trial-1", "trial-2"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)
    study_best = result.data["tune"]["best"]
    best_child = children[study_best["number"]]
    assert best_child.data.metrics["trial_value"] == pytest.approx(study_best["value"])
    assert float(best_child.data.params["trial.training.lr"]) == pytest.approx(study_best["params"]["training.lr"])
    assert parent.data.metrics["test_accuracy"] == pytest.approx(result.metrics["accuracy"])


def test_an_unknown_tracker_is_refused(fast_config, planted_csv):
    with pytest.raises(ConfigError, match="unknown tracker 'wandb'"):
        finetune({**fast_config, "data": {"path": planted_csv}, "output": {**fast_config["output"], "track": ["wandb"]}})
