"""justfit tune: the search space, pruning, the run it writes, shared studies on a real database
(SQLite here; PostgreSQL when JUSTFIT_TEST_POSTGRES names one), killed workers, bad input."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from justfit.config import JustfitConfig
from justfit.errors import ConfigError

optuna = pytest.importorskip("optuna")

CHROMIUM = next((shutil.which(n) for n in ("chromium-headless-shell", "chromium", "chromium-browser")
                 if shutil.which(n)), None)
SPACE = {"training.lr": {"low": 1e-4, "high": 1e-2, "log": True}, "model.dropout": {"low": 0.0, "high": 0.3}}


def _cfg(fast_config, planted_csv, **tune):
    return {**fast_config, "data": {"path": planted_csv},
            "training": {**fast_config["training"], "epochs": 3, "batch_size": 16},
            "tune": {"trials": 5, "seeds": 2, "space": SPACE, **tune}}


def test_a_search_writes_a_run_with_its_trials_best_config_and_plots(fast_config, planted_csv, tmp_path):
    from justfit.tuning.tune import tune

    result = tune(_cfg(fast_config, planted_csv))
    run = Path(result.run_dir)
    found = json.loads((run / "tune" / "tune.json").read_text())
    assert found == json.loads(json.dumps(result.data["tune"]))
    gain = found["gain_over_baseline"]
    assert not (gain == 0 and math.copysign(1.0, gain) < 0), "no -0.0 when the best is the config as given"
    trials = found["trials"]
    assert trials["complete"] + trials["pruned"] == 5 and trials["fail"] == 0
    # The study on disk is the one summarised: its best is the best of its completed trials.
    study = optuna.load_study(study_name="r", storage=f"sqlite:///{run / 'tune' / 'study.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert study.best_value == min(t.value for t in done) == found["best"]["value"]
    # Trial 0 is the configuration as given (lr 1e-3 is inside the range and kept).
    assert found["baseline"]["number"] == 0 and found["baseline"]["params"]["training.lr"] == 1e-3
    # ... exactly as given: the dropout it left to the model is not drawn for it.
    assert "model.dropout" not in found["baseline"]["params"]
    assert study.trials[0].user_attrs["as_given"] == ["training.lr"]
    # Like a training run, it is diagnosed against its cheap baseline.
    assert result.data["baseline"]["name"] == "TF-IDF + logistic regression" and result.verdict
    import pandas as pd

    table = pd.read_csv(run / "tune" / "trials.csv")
    assert len(table) == 5 and "params_training.lr" in table.columns
    best = JustfitConfig.from_yaml(run / "tune" / "best_config.yaml")
    assert best.training.lr == pytest.approx(found["best"]["params"]["training.lr"])
    assert best.output.name is None  # a new run, not this one's name
    # Retrained with 2 seeds; the test split evaluated on the kept one, with the spread.
    assert result.data["seed_spread"]["seeds"] == [42, 43]
    assert len(found["final"]["validation"]["values"]) == 2
    assert found["plots"] == ["optimization_history.svg", "param_importances.svg", "parallel_coordinate.svg"]
    html = (run / "report.html").read_text()
    assert "Hyperparameter search" in html and html.count("<svg") >= 3 + 3 and "Seed spread" in html
    assert not (run / "checkpoints").exists()


def test_refit_on_train_and_validation_saves_a_model_trained_on_both(fast_config, planted_csv, tmp_path):
    from justfit.estimator import Finetuner
    from justfit.tuning.tune import tune

    result = tune(_cfg(fast_config, planted_csv, trials=2, seeds=1, refit="train+validation"))
    run = Path(result.run_dir)
    refit = json.loads((run / "tune" / "tune.json").read_text())["refit"]
    sizes = result.data["sizes"]
    assert refit["rows"] == sizes["train"] + sizes["validation"] and refit["on"] == "train+validation"
    assert refit["epochs"] == math.ceil(result.best_epoch) and refit["early_stopping"] is False
    saved = json.loads((run / "model" / "justfit.json").read_text())
    assert saved["config"]["training"]["epochs"] == refit["epochs"]
    assert saved["config"]["early_stopping"]["enabled"] is False
    assert saved["config"]["early_stopping"]["restore_best"] is False and "restored" not in refit["stop_reason"]
    from justfit.report.render import tested_model

    assert tested_model(result.data["tune"]).startswith("the best configuration refitted on train+validation (")
    html = (run / "report.html").read_text()
    assert "refitted on train+validation" in html and "fine-tuned, refitted on train+validation" in html
    # The curves and the diagnosis are the train-only retraining's, with early stopping on validation.
    assert result.config["early_stopping"]["enabled"] is True and result.history
    # The test metrics are the saved model's.
    import pandas as pd

    test = pd.read_csv(planted_csv).loc[json.loads((run / "splits.json").read_text())["test"]["rows"]]
    est = Finetuner.load(run)
    accuracy = float((est.predict(test["text"].tolist()) == test["label"].to_numpy()).mean())
    assert accuracy == pytest.approx(result.metrics["accuracy"], abs=1e-9)


def test_refit_refuses_a_recipe_of_stages(fast_config, planted_csv):
    from justfit.errors import ConfigError
    from justfit.tuning.tune import tune

    cfg = _cfg(fast_config, planted_csv, trials=1, seeds=1, refit="train+validation")
    cfg["training"] = {**cfg["training"], "recipe": "gradual_unfreeze"}
    with pytest.raises(ConfigError, match="recipe of stages"):
        tune(cfg)


def test_trials_on_a_frozen_backbone_reuse_its_cached_features(fast_config, planted_csv, tmp_path):
    from justfit.tuning.tune import tune

    cfg = _cfg(fast_config, planted_csv, trials=3, seeds=1, pruner="none",
               space={"training.lr": {"low": 1e-3, "high": 1e-1, "log": True}})
    cfg["model"] = {**cfg["model"], "freeze": "backbone"}
    cfg["quality"] = {"cache_dir": str(tmp_path / "cache"), "label_noise": "off"}
    result = tune(cfg)
    import pandas as pd

    table = pd.read_csv(Path(result.run_dir) / "tune" / "trials.csv").sort_values("number")
    assert table["user_attrs_feature_cache_hit"].tolist() == [False, True, True]


def test_the_pruner_stops_a_trial_from_its_epoch_scores():
    from justfit.tuning.search import PruneCallback

    class Trial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((value, step))

        def should_prune(self):
            return len(self.reports) == 2

    class Loop:
        stopped = False

        def request_stop(self):
            self.stopped = True

    trial, loop = Trial(), Loop()
    cb = PruneCallback(trial, "val_loss")
    cb.on_epoch_end(loop, {"val_loss": 0.5})
    cb.on_epoch_end(loop, {"val_loss": float("nan")})  # not a number: not reported
    assert not loop.stopped
    cb.on_epoch_end(loop, {"val_loss": 0.4})
    assert trial.reports == [(0.5, 1), (0.4, 3)] and loop.stopped and cb.pruned


def test_the_pruner_compares_trials_at_the_same_share_of_their_schedules_and_waits_for_the_warmup():
    from types import SimpleNamespace

    from justfit.tuning.search import PruneCallback

    class Trial:
        def __init__(self):
            self.reports, self.asked = [], 0

        def report(self, value, step):
            self.reports.append((value, step))

        def should_prune(self):
            self.asked += 1
            return False

    class Loop:
        def __init__(self, total, warmup):
            self.schedule_total, self.global_step, self.cfg = total, 0, SimpleNamespace(warmup_ratio=warmup)

        def request_stop(self):
            raise AssertionError("not pruned")

    trial = Trial()
    cb = PruneCallback(trial, "val_f1")
    loop = Loop(total=300, warmup=0.5)  # 3 epochs of 100 steps, warmup until step 150
    for epoch in (1, 2, 3):
        loop.global_step = 100 * epoch
        cb.on_epoch_end(loop, {"val_f1": 0.1 * epoch})
    # Steps are hundredths of the schedule (a 1-epoch trial reports once, at 100); epoch 1 was inside the warmup.
    assert [s for _, s in trial.reports] == [33, 67, 100] and trial.asked == 2
    stage2 = Loop(total=50, warmup=0.0)  # a recipe's next stage: its own schedule, after the first
    stage2.global_step = 50
    cb.on_epoch_end(stage2, {"val_f1": 0.5})
    assert trial.reports[-1] == (0.5, 200)


@pytest.mark.parametrize("space, message", [
    ({"training.lr": {"low": 1e-3, "high": 1e-5}}, "the range is inverted"),
    ({"training.lr": {"low": 1e-3, "high": 1e-3}}, "the range is empty"),
    ({"training.lrate": {"low": 1e-5, "high": 1e-3}}, "unknown parameter 'training.lrate'.*did you mean 'training.lr'"),
    ({"training.warmup_ratio": {"low": 0.0, "high": 1.5}}, "warmup_ratio cannot take 1.5"),
    ({"model.lora_rank": {"low": 2, "high": 16}}, "only applies with model.strategy=lora"),
    ({"augment.strength": {"low": 0.05, "high": 0.3}}, "augment.ops is empty"),
    ({"training.lr": {"low": -1.0, "high": 1e-3, "log": True}}, "log-scale range must be above 0"),
    ({"model.freeze": {"low": 0, "high": 2}}, "takes choices"),
])
def test_a_bad_search_space_is_one_line_before_any_data_is_read(fast_config, planted_csv, tmp_path, space, message):
    from justfit.cli.main import main
    from justfit.tuning.tune import tune

    cfg = _cfg(fast_config, planted_csv)
    cfg["tune"]["space"] = space
    with pytest.raises(ConfigError, match=message):
        tune(cfg)
    assert not Path(fast_config["output"]["dir"]).exists()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["tune", str(tmp_path / "c.yaml"), "-q"]) == 2


def test_a_setting_the_task_refuses_cannot_be_searched(fast_config, tmp_path):
    import numpy as np
    import pandas as pd

    from justfit.tuning.tune import tune

    rng = np.random.default_rng(0)
    pd.DataFrame({"text": [f"item {i} {'up' if i % 2 else 'down'} {rng.integers(1e6)}" for i in range(80)],
                  "score": rng.normal(size=80)}).to_csv(tmp_path / "r.csv", index=False)
    cfg = {**fast_config, "task": "regression", "data": {"path": str(tmp_path / "r.csv"), "label_column": "score"},
           "tune": {"trials": 2, "space": {"training.label_smoothing": {"low": 0.0, "high": 0.2}}}}
    with pytest.raises(ConfigError, match="label_smoothing, which does not apply to regression"):
        tune(cfg)


def test_an_unreachable_database_is_a_one_line_error_within_seconds(fast_config, planted_csv):
    from justfit.tuning.tune import tune

    for url, message in [("postgresql://justfit@127.0.0.1:9/nowhere", "Cannot open the study storage"),
                         ("notaurl", "Cannot open the study storage"),
                         ("postgresql://justfit:secret@10.255.255.1:5432/db", "Cannot open the study storage")]:
        t0 = time.perf_counter()
        with pytest.raises(ConfigError, match=message) as err:
            tune(_cfg(fast_config, planted_csv, storage=url))
        assert time.perf_counter() - t0 < 30
        assert "secret" not in str(err.value) and "\n" not in str(err.value)
    assert not Path(fast_config["output"]["dir"]).exists()  # nothing was left behind


# ---------------------------------------------------------------- shared studies: several workers


def _worker(storage, study, planted_csv, tiny_model, trials, cwd, heartbeat=30):
    args = [sys.executable, "-m", "justfit", "tune", "--data", planted_csv, "--model", tiny_model,
            "--trials", str(trials), "--storage", storage, "--study-name", study, "--search-only", "-q",
            "--set", "training.epochs=3", "--set", "training.bf16=false", "--set", "training.batch_size=16",
            "--set", f"tune.heartbeat={heartbeat}", "--set", "tune.pruner=none"]
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _two_workers_share_one_study(storage, planted_csv, tiny_model, tmp_path):
    workers = [_worker(storage, "shared", planted_csv, tiny_model, 6, tmp_path) for _ in range(2)]
    outs = [w.communicate(timeout=900) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outs]
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) >= 6 and len(trials) == len(finished)  # none lost, none left running or failed
    assert len({t.number for t in trials}) == len(trials)  # no trial recorded twice
    ran = sum(int(o[0].split("ran ")[1].split(" trials")[0]) for o in outs)
    assert ran == len(trials)  # every trial was run by exactly one worker
    assert len(finished) <= 7  # the budget is the study's: at most one trial over it, started as it filled
    assert study.best_value == min(t.value for t in trials if t.state.name == "COMPLETE")


def test_two_workers_share_one_sqlite_study(planted_csv, tiny_model, tmp_path):
    _two_workers_share_one_study(f"sqlite:///{tmp_path / 'study.db'}", planted_csv, tiny_model, tmp_path)


POSTGRES = os.environ.get("JUSTFIT_TEST_POSTGRES")


def test_two_workers_share_one_postgresql_study(planted_csv, tiny_model, tmp_path):
    if not POSTGRES:
        if os.environ.get("JUSTFIT_REQUIRE_POSTGRES") == "1":
            pytest.fail("JUSTFIT_REQUIRE_POSTGRES=1 but no server: tests/postgres.sh could not start PostgreSQL")
        pytest.skip("needs a PostgreSQL server: make test starts one (tests/postgres.sh), or set JUSTFIT_TEST_POSTGRES")
    if "shared" in optuna.get_all_study_names(POSTGRES):  # left by an earlier run of the suite
        optuna.delete_study(study_name="shared", storage=POSTGRES)
    _two_workers_share_one_study(POSTGRES, planted_csv, tiny_model, tmp_path)


def test_a_worker_killed_mid_trial_leaves_a_trial_another_marks_failed_and_retries(planted_csv, tiny_model, tmp_path):
    storage = POSTGRES or f"sqlite:///{tmp_path / 'killed.db'}"
    name = f"killed-{os.getpid()}"
    first = _worker(storage, name, planted_csv, tiny_model, 4, tmp_path, heartbeat=1)
    deadline = time.time() + 300
    while True:  # wait until the worker is inside a trial
        assert time.time() < deadline and first.poll() is None, first.stderr.read()[-2000:] if first.poll() else ""
        try:
            running = [t for t in optuna.load_study(study_name=name, storage=storage).trials
                       if t.state.name == "RUNNING"]
        except Exception:  # noqa: BLE001 - the study or its tables are not there yet
            running = []
        if running:
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = running[0]
    time.sleep(5)  # longer than the grace period (4 heartbeats of 1 s): the trial is stale
    second = _worker(storage, name, planted_csv, tiny_model, 4, tmp_path, heartbeat=1)
    out, err = second.communicate(timeout=900)
    assert second.returncode == 0, err[-2000:]
    trials = optuna.load_study(study_name=name, storage=storage).trials
    failed = trials[killed.number]
    assert failed.state.name == "FAIL"
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    # The retry takes every value the killed trial had drawn (a kill between two draws leaves the rest to it).
    assert len(retry) == 1 and failed.params.items() <= retry[0].params.items()
    assert retry[0].state.name in ("COMPLETE", "PRUNED")
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials) == 4


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (make setup installs chromium-headless-shell)")
def test_the_dashboard_serves_the_study_in_a_real_browser(fast_config, planted_csv, tmp_path):
    import socket

    from justfit.tuning.search import open_storage
    from justfit.tuning.tune import _start_dashboard

    storage_url = f"sqlite:///{tmp_path / 'dash.db'}"
    study = optuna.create_study(study_name="dash-study", storage=storage_url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    said = []
    _start_dashboard(open_storage(storage_url, 30, 1), port, said.append)
    assert said == [f"dashboard: http://127.0.0.1:{port}/"]
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--virtual-time-budget=15000", "--dump-dom", f"http://127.0.0.1:{port}/dashboard"],
                          capture_output=True, text=True, timeout=120)
    assert "dash-study" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_a_killed_tune_run_resumes_its_study_and_retries_the_killed_trial(planted_csv, tiny_model, tmp_path):
    from justfit.tuning.tune import tune

    args = [sys.executable, "-m", "justfit", "tune", "--data", planted_csv, "--model", tiny_model, "--trials", "4",
            "--seeds", "1", "-o", str(tmp_path / "runs"), "--name", "t", "-q", "--set", "training.epochs=3",
            "--set", "training.bf16=false", "--set", "tune.pruner=none"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    db = tmp_path / "runs" / "t.partial" / "tune" / "study.db"
    deadline = time.time() + 300
    running = []
    while not running:  # kill it inside its second trial
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read()[-2000:] if proc.poll() else ""
        if db.is_file():
            try:
                running = [t for t in optuna.load_study(study_name="t", storage=f"sqlite:///{db}").trials
                           if t.state.name == "RUNNING" and t.number >= 1]
            except Exception:  # noqa: BLE001 - the study or its tables are not there yet
                running = []
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = tune(resume=tmp_path / "runs" / "t.partial")
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{Path(result.run_dir) / 'tune' / 'study.db'}")
    killed = study.trials[running[0].number]
    assert killed.state.name == "FAIL"
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == killed.number]
    assert len(retry) == 1 and killed.params.items() <= retry[0].params.items() and retry[0].state.name == "COMPLETE"
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 4


@pytest.mark.parametrize(("optimizer", "high"), [("adamw", 0.1), ("adam", 5e-4), ("sgd", 5e-4)])
def test_the_default_space_holds_coupled_weight_decay_to_l2s_range(optimizer, high):
    """AdamW's decoupled 0.1 would swamp the gradient as L2 (Adam, SGD): the default space stops at 5e-4 there."""
    from justfit.tuning.search import search_space

    space = search_space(JustfitConfig.from_dict({"training": {"optimizer": optimizer}}), None)
    assert space["training.weight_decay"].low == 0.0 and space["training.weight_decay"].high == pytest.approx(high)
