"""Seed spread: one config trained with several seeds, the median seed kept, the spread reported and used."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from justfit import Finetuner
from justfit.errors import ConfigError
from justfit.seeds import is_noise, median_index, spread, summarise
from tests.conftest import FAST


def test_the_median_seed_and_the_summary():
    assert median_index([0.7, 0.9, 0.8]) == 2
    assert median_index([0.7, 0.9, 0.8, 0.6]) == 0  # even count: the lower of the two middle ones
    assert median_index([0.5, 0.5, 0.5]) == 1
    s = summarise([0.8, 0.82, 0.78])
    assert s["mean"] == pytest.approx(0.8) and s["std"] == pytest.approx(0.02) and s["values"] == [0.8, 0.82, 0.78]
    assert summarise([0.5])["std"] == 0.0
    sp = spread([{"accuracy": 0.8, "n": 10, "per_class": {}}, {"accuracy": 0.9, "n": 10, "per_class": {}}],
                [1, 2], 2, [0.4, 0.3], "val_loss")
    assert set(sp["metrics"]) == {"accuracy"} and sp["kept_seed"] == 2 and sp["validation"]["monitor"] == "val_loss"
    assert is_noise(0.01, 0.02) and not is_noise(0.03, 0.02) and not is_noise(float("inf"), 1.0)


def test_finetuner_seeds_keep_the_median_seed_and_evaluate_reports_the_spread(tiny_model, planted):
    cfg = {"model": {"name": tiny_model}, "training": {**FAST["training"], "seed": 7}}
    ft = Finetuner(config=cfg, seeds=3).fit(planted["text"], planted["label"])
    assert ft.seeds_ == [7, 8, 9] and len(ft.estimators_) == 3
    # The kept seed is the median by the monitored validation score (val_loss: lower is better).
    order = np.argsort([-v for v in ft.seed_val_scores_], kind="stable")
    assert ft.kept_seed_ == ft.seeds_[order[1]]
    kept = ft.estimators_[ft.seeds_.index(ft.kept_seed_)]
    assert ft.model_ is kept.model_ and ft.config_.training.seed == ft.kept_seed_
    # A seed is a seed: the first sub-fit is the plain fit with that seed.
    alone = Finetuner(config={**cfg, "training": {**cfg["training"], "seed": 7}}).fit(planted["text"], planted["label"])
    for k, v in alone.model_.state_dict().items():
        assert torch.equal(v, ft.estimators_[0].model_.state_dict()[k]), k
    m = ft.evaluate(planted["text"][:40], planted["label"][:40])
    per = [e.evaluate(planted["text"][:40], planted["label"][:40])["accuracy"] for e in ft.estimators_]
    acc = m["seed_spread"]["metrics"]["accuracy"]
    assert acc["values"] == pytest.approx(per) and acc["mean"] == pytest.approx(np.mean(per))
    assert acc["std"] == pytest.approx(np.std(per, ddof=1))
    assert m["accuracy"] == pytest.approx(per[ft.seeds_.index(ft.kept_seed_)])


@pytest.mark.parametrize("bad", [0, -2, 101, 2.5, "3", True])
def test_seeds_must_be_a_whole_number_from_1_to_100(tiny_model, planted, bad):
    with pytest.raises(ConfigError, match="seeds must be a whole number from 1 to 100"):
        Finetuner(model=tiny_model, seeds=bad).fit(planted["text"], planted["label"])


def test_a_run_with_seeds_reports_the_spread_everywhere(fast_config, planted_csv, capsys):
    from justfit.cli.main import main

    args = ["train", "--data", planted_csv, "--model", fast_config["model"]["name"], "--epochs", "2",
            "--set", "training.bf16=false", "-o", fast_config["output"]["dir"], "--name", "s", "--seeds", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 seeds; kept: seed" in out and "mean ± std" in out
    run = Path(fast_config["output"]["dir"]) / "s"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["seed_spread"]["seeds"] == [42, 43]
    result = json.loads((run / "result.json").read_text())
    assert result["data"]["seed_spread"] == metrics["seed_spread"]
    diagnosis = json.loads((run / "diagnosis.json").read_text())
    finding = next(f for f in diagnosis["findings"] if f["code"] == "seed_spread")
    assert "is noise" in finding["explanation"] and finding["evidence"]["seeds"] == 2
    assert "Seed spread" in (run / "report.html").read_text()
    assert not (run / "checkpoints").exists()
    assert main([*args[:-2], "--seeds", "0", "--name", "t"]) == 2


def test_a_large_spread_is_a_finding_with_remedies_and_a_small_one_only_informs():
    from justfit.diagnosis import diagnose

    history = [{"epoch": e, "train_loss": 0.7 - 0.1 * e, "val_loss": 0.7 - 0.08 * e} for e in range(1, 4)]

    def with_std(std):
        values = [0.8 - std, 0.8, 0.8 + std]
        return {"accuracy": 0.8, "f1_macro": 0.8,
                "seed_spread": spread([{"f1_macro": v} for v in values], [1, 2, 3], 2)}

    small = next(f for f in diagnose(history, metrics=with_std(0.005)).findings if f.code == "seed_spread")
    assert small.severity == "info" and not small.remedies
    large = next(f for f in diagnose(history, metrics=with_std(0.05)).findings if f.code == "seed_spread")
    assert large.severity == "medium" and large.remedies and "judge changes by their mean" in large.explanation


def test_auto_fit_calls_a_gain_within_the_seed_spread_noise():
    from types import SimpleNamespace

    from justfit.config import JustfitConfig
    from justfit.tuning.autofit import auto_fit

    def history(best):  # overfitting: validation loss rises after epoch 2
        return [{"epoch": 1, "train_loss": 0.6, "val_loss": 0.5}, {"epoch": 2, "train_loss": 0.4, "val_loss": best},
                {"epoch": 3, "train_loss": 0.2, "val_loss": best + 0.2}, {"epoch": 4, "train_loss": 0.1, "val_loss": 0.9}]

    scores = iter([0.40, 0.39, 0.38])  # each round a little better than the one before, within the spread
    logs: list[str] = []

    def fit_round(cfg):
        best = next(scores)
        fitted = SimpleNamespace(best_epoch_=2, seed_val_scores_=[-(best - 0.03), -best, -(best + 0.03)])
        return fitted, history(best), {"n_classes": 2}

    cfg = JustfitConfig.from_dict({"task": "classification", "early_stopping": {"monitor": "val_loss"}})
    _, _, result = auto_fit(fit_round, cfg, rounds=3, log=logs.append)
    assert [round(r.seed_std, 3) for r in result.rounds] == [0.03] * 3
    assert "noise" in logs[1] and "noise" in logs[2]
    # The remedy of round 2 did not help beyond noise: round 3 tries another kind.
    assert result.rounds[1].why != result.rounds[2].why
