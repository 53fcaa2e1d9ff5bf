"""Crash-safe runs: checkpoints, ``--resume`` after a SIGKILL with bit-identical results, the run lock,
and the refusals that keep stored work safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from justfit import finetune
from justfit.errors import ConfigError, DataError, RunDirError
from justfit.training.callbacks.checkpoint import checkpoints_in, latest_checkpoint, read_checkpoint_state

# ---------------------------------------------------------------- the trainer alone


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from justfit.models.factory import build_tiny_random

    path = tmp_path_factory.mktemp("tiny") / "m"
    build_tiny_random(path, seed=0)
    return path


def _trainer_fit(path, folder, resume=None, n=40, **kw):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from justfit.config import TrainingConfig
    from justfit.tasks.text.task import TextClassificationTask
    from justfit.training.callbacks import EarlyStopping
    from justfit.training.callbacks.checkpoint import Checkpointer
    from justfit.training.trainer import Trainer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
    task = TextClassificationTask(AutoTokenizer.from_pretrained(path), 32)
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("abcdefgh xyz"), size=rng.integers(3, 30))) for _ in range(n)]
    labels = [i % 3 for i in range(n)]
    cfg = TrainingConfig(**{"epochs": 3, "batch_size": 4, "grad_accum_steps": 2, "lr": 1e-2, "bf16": False,
                            "seed": 3, "train_eval_samples": 4, "label_smoothing": 0.1, **kw})
    trainer = Trainer(task, cfg, [EarlyStopping("val_loss", patience=5), Checkpointer(folder, every_steps=2, keep=100)])
    trainer.fit(model, task.encode(texts, labels), task.encode(texts[:6], labels[:6]), resume=resume)
    return trainer


def _without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_a_fit_resumed_from_any_checkpoint_ends_bit_identical(tiny_path, tmp_path):
    whole = _trainer_fit(tiny_path, tmp_path / "whole")
    saved = checkpoints_in(tmp_path / "whole")
    states = [read_checkpoint_state(c) for c in saved]
    # 10 micro-batches an epoch in steps of 2: a checkpoint every 2 steps inside the epoch, and one at its end.
    assert [(s["epoch"], s["batch_in_epoch"], s["epoch_complete"]) for s in states[:3]] == \
        [(1, 4, False), (1, 8, False), (1, 10, True)]
    for i in (0, 1, 2, 4, len(saved) - 1):  # mid-epoch, at an epoch's end, in a later epoch, at the very end
        again = _trainer_fit(tiny_path, tmp_path / f"again{i}", resume=saved[i])
        for k, v in whole.model.state_dict().items():
            assert torch.equal(v, again.model.state_dict()[k]), (i, k)
        assert _without_seconds(again.history.records) == _without_seconds(whole.history.records)
        assert again.callbacks[0].best_epoch == whole.callbacks[0].best_epoch


def test_checkpoints_keep_the_newest_and_an_unfinished_write_is_ignored(tiny_path, tmp_path):
    _trainer_fit(tiny_path, tmp_path / "c", epochs=1)
    kept = checkpoints_in(tmp_path / "c")
    newest = kept[-1]
    # A process killed while writing leaves a temporary folder, or a numbered one without its state file.
    (tmp_path / "c" / ".tmp-checkpoint-000099").mkdir()
    (tmp_path / "c" / "checkpoint-000100").mkdir()
    (tmp_path / "c" / "checkpoint-000100" / "model.safetensors").write_bytes(b"half")
    assert latest_checkpoint(tmp_path / "c") == newest


# ---------------------------------------------------------------- whole runs, killed and resumed


def _popen_train(args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "justfit", "train", *args, "-q"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_after_first_checkpoint(proc, checkpoints: Path) -> dict:
    """SIGKILL ``proc`` as soon as its first checkpoint is complete; return the newest checkpoint's state."""
    deadline = time.time() + 600
    while not checkpoints_in(checkpoints):
        if proc.poll() is not None:
            pytest.fail(f"training ended before its first checkpoint: {proc.stderr.read().decode()[-2000:]}")
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return read_checkpoint_state(latest_checkpoint(checkpoints))


def _same_run(a: Path, b: Path) -> None:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model" / "model.safetensors")), load_file(str(b / "model" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    ha = [json.loads(line) for line in (a / "history.jsonl").read_text().splitlines()]
    hb = [json.loads(line) for line in (b / "history.jsonl").read_text().splitlines()]
    assert _without_seconds(ha) == _without_seconds(hb)


def _kill_resume_compare(tmp_path, args):
    from justfit.cli.main import main

    runs = tmp_path / "runs"
    assert main(["train", *args, "-o", str(runs), "--name", "whole", "-q"]) == 0
    proc = _popen_train([*args, "-o", str(runs), "--name", "killed"], tmp_path)
    state = _kill_after_first_checkpoint(proc, runs / "killed.partial" / "checkpoints")
    assert not state["epoch_complete"] and state["epoch"] == 1  # killed mid-epoch
    assert not (runs / "killed").exists()
    assert main(["train", "--resume", str(runs / "killed.partial"), "-q"]) == 0
    _same_run(runs / "whole", runs / "killed")
    assert not (runs / "killed.partial").exists()
    assert not (runs / "killed" / "checkpoints").exists()  # deleted once the run completed
    assert not (runs / "killed" / "run.lock").exists()


def test_text_classification_killed_mid_epoch_and_resumed_is_bit_identical(tiny_model, tmp_path):
    from tests.conftest import planted_texts

    planted_texts(240).to_csv(tmp_path / "data.csv", index=False)
    _kill_resume_compare(tmp_path, ["--data", str(tmp_path / "data.csv"), "--model", tiny_model, "--epochs", "3",
                                    "--batch-size", "8", "--lr", "1e-3", "--set", "training.bf16=false",
                                    "--set", "training.checkpoint_every=3"])


def test_augmented_image_classification_killed_mid_epoch_and_resumed_is_bit_identical(tmp_path):
    from PIL import Image

    from justfit.catalogue.presets import build_tiny_vit

    rng = np.random.default_rng(0)
    for i in range(96):
        lab = ["bright", "dark"][i % 2]
        x = np.clip((200 if lab == "bright" else 40) + rng.integers(-30, 30, (12, 12, 3)), 0, 255).astype(np.uint8)
        (tmp_path / "imgs" / lab).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x).save(tmp_path / "imgs" / lab / f"{i}.png")
    vit = build_tiny_vit(tmp_path / "vit")
    # The augmenter's draws (flips, mixup) are state a mid-epoch checkpoint must carry.
    _kill_resume_compare(tmp_path, ["--data", str(tmp_path / "imgs"), "--model", str(vit), "--epochs", "3",
                                    "--batch-size", "4", "--lr", "1e-3", "--set", "training.bf16=false",
                                    "--set", "augment.ops=hflip,mixup", "--set", "augment.p=0.7",
                                    "--set", "training.checkpoint_every=2"])


# ---------------------------------------------------------------- refusals that keep stored work safe


@pytest.fixture
def killed_run(fast_config, planted_csv, tmp_path):
    """A run folder as a SIGKILL leaves it: checkpoints of a few steps, no finished run."""
    cfg = {**fast_config, "data": {"path": planted_csv},
           "training": {**fast_config["training"], "checkpoint_every": 2, "checkpoint_keep": 100, "epochs": 2}}
    result = finetune(cfg, keep_checkpoints=True)
    run = Path(result.run_dir)
    kept = checkpoints_in(run / "checkpoints")
    assert len(kept) == 6 and (run / "checkpoints" / "run.json").is_file() and (run / "report.html").is_file()
    partial = run.with_name(run.name + ".partial")
    run.rename(partial)  # a finished run with its checkpoints, put back as it was before completing
    for name in os.listdir(partial):
        if name not in ("checkpoints",):
            p = partial / name
            if p.is_dir():
                import shutil

                shutil.rmtree(p)
            else:
                p.unlink()
    # Keep only an early, mid-epoch checkpoint (the newest ones are gone, as if never written).
    for c in checkpoints_in(partial / "checkpoints")[1:]:
        import shutil

        shutil.rmtree(c)
    return cfg, partial


def test_keep_checkpoints_leaves_them_in_the_finished_run(killed_run):
    cfg, partial = killed_run  # the fixture's run kept all six (every 2 of 6 steps an epoch, and each epoch's end)
    state = read_checkpoint_state(latest_checkpoint(partial / "checkpoints"))
    assert state["global_step"] == 2 and not state["epoch_complete"]


def test_resume_continues_a_killed_run_to_the_same_result(killed_run, tmp_path):
    cfg, partial = killed_run
    whole = finetune({**cfg, "output": {**cfg["output"], "name": "whole"}})
    resumed = finetune(resume=partial)
    assert Path(resumed.run_dir).name == partial.name.removesuffix(".partial")
    _same_run(Path(whole.run_dir), Path(resumed.run_dir))


def test_resume_with_a_different_config_lists_the_keys_and_keeps_the_run(killed_run):
    cfg, partial = killed_run
    other = {**cfg, "training": {**cfg["training"], "lr": 0.05, "epochs": 7}}
    with pytest.raises(ConfigError, match=r"training\.epochs: 2 -> 7; training\.lr: 0\.001 -> 0\.05"):
        finetune(other, resume=partial)
    assert latest_checkpoint(partial / "checkpoints") is not None


def test_resume_refuses_a_finished_run_and_a_folder_that_is_not_a_run(fast_config, planted_csv, tmp_path):
    done = finetune({**fast_config, "data": {"path": planted_csv}})
    before = sorted(p.name for p in Path(done.run_dir).iterdir())
    with pytest.raises(RunDirError, match="is a finished run"):
        finetune(resume=done.run_dir)
    assert sorted(p.name for p in Path(done.run_dir).iterdir()) == before
    (tmp_path / "junk").mkdir()
    with pytest.raises(RunDirError, match="is not a justfit run"):
        finetune(resume=tmp_path / "junk")
    with pytest.raises(RunDirError, match="does not exist"):
        finetune(resume=tmp_path / "nowhere")


def test_a_new_run_never_discards_an_unfinished_one_of_the_same_name(killed_run):
    cfg, partial = killed_run
    with pytest.raises(RunDirError, match="holds an unfinished run.*--resume"):
        finetune(cfg)
    assert latest_checkpoint(partial / "checkpoints") is not None


def test_a_second_resume_while_one_runs_is_refused_and_a_dead_holder_does_not_block(killed_run):
    from justfit.resume import RunLock

    cfg, partial = killed_run
    # Another process holds the lock: a child that takes it and waits.
    code = ("import sys, time; from justfit.resume import RunLock; lock = RunLock(sys.argv[1]).acquire(); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(partial)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(RunDirError, match="in use by another justfit process"):
            finetune(resume=partial)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not RunLock(partial).held_elsewhere  # the system released the dead process's lock
    assert finetune(resume=partial).run_dir


def test_changed_data_is_refused_on_resume(killed_run):
    import pandas as pd

    cfg, partial = killed_run
    path = Path(cfg["data"]["path"])
    frame = pd.read_csv(path)
    frame.iloc[:-5].to_csv(path, index=False)
    with pytest.raises(DataError, match="changed since it started"):
        finetune(resume=partial)
    assert latest_checkpoint(partial / "checkpoints") is not None


# ---------------------------------------------------------------- label smoothing


def test_label_smoothing_is_torchs_on_the_training_loss_only(tiny_path):
    from transformers import AutoTokenizer

    from justfit.tasks.text.task import TextClassificationTask

    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    labels = torch.tensor([0, 2])
    step = TextClassificationTask(AutoTokenizer.from_pretrained(tiny_path), 8, label_smoothing=0.2)
    got = step.outputs(logits, {"labels": labels})["loss"]
    assert torch.allclose(got, torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.2))
    # The epoch metrics' loss (validation, the training probe) stays the plain log loss.
    metrics = step.epoch_metrics(labels.tolist(), logits.numpy())
    assert metrics["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-5)


def test_label_smoothing_is_refused_for_regression_and_offered_against_overconfidence():
    from justfit.checks import check_unsupported
    from justfit.config import JustfitConfig
    from justfit.diagnosis.remedies import _more_regularisation
    from justfit.tasks import get_task

    with pytest.raises(ConfigError, match="label_smoothing=0.1 does not apply to regression"):
        check_unsupported(JustfitConfig.from_dict({"training": {"label_smoothing": 0.1}}), get_task("regression"))
    held = _more_regularisation({"task": "classification"}, {"score_at_best_loss": 0.8, "last_score": 0.81})
    assert held[0]["set"] == {"training.label_smoothing": 0.1} and "overconfident" in held[0]["why"]
    fell = _more_regularisation({"task": "classification"}, {"score_at_best_loss": 0.8, "last_score": 0.7})
    assert [r["set"] for r in fell].index({"training.label_smoothing": 0.1}) == 2  # after L2 and dropout
    assert not any("training.label_smoothing" in r["set"] for r in
                   _more_regularisation({"task": "classification", "training": {"label_smoothing": 0.1}}, {}))
    # The diagnosis knows the task from the facts the run recorded: a regression refuses label smoothing.
    from justfit.diagnosis.remedies import remedies_for
    from justfit.diagnosis.rules import Finding

    overfit = Finding("overfitting", "high", "Overfitting", "", {"score_at_best_loss": 0.8, "last_score": 0.81})
    assert any("training.label_smoothing" in r["set"] for r in
               remedies_for(overfit, {}, task_facts=get_task("classification").diagnosis_facts()))
    assert not any("training.label_smoothing" in r["set"] for r in
                   remedies_for(overfit, {}, task_facts=get_task("regression").diagnosis_facts()))


def test_an_auto_fit_killed_in_its_second_round_resumes_to_the_same_rounds(tiny_model, tmp_path):
    """Each round checkpoints into its own folder: the resumed auto-fit replays round 1 from its last
    checkpoint (no training), takes the same decision, and continues round 2 where it was killed."""
    from justfit.cli.main import main
    from tests.conftest import planted_texts

    planted_texts(240).to_csv(tmp_path / "data.csv", index=False)
    # Far too low a learning rate: round 2 raises it (the diagnosis' remedy).
    args = ["--data", str(tmp_path / "data.csv"), "--model", tiny_model, "--epochs", "3", "--batch-size", "8",
            "--lr", "1e-6", "--set", "training.bf16=false", "--set", "training.checkpoint_every=3", "--auto",
            "--rounds", "2"]
    runs = tmp_path / "runs"
    assert main(["train", *args, "-o", str(runs), "--name", "whole", "-q"]) == 0
    proc = _popen_train([*args, "-o", str(runs), "--name", "killed"], tmp_path)
    state = _kill_after_first_checkpoint(proc, runs / "killed.partial" / "checkpoints" / "round-2")
    assert not state["epoch_complete"]
    assert main(["train", "--resume", str(runs / "killed.partial"), "-q"]) == 0
    _same_run(runs / "whole", runs / "killed")
    strip = [{k: v for k, v in r.items() if k != "seconds"}
             for r in json.loads((runs / "whole" / "autofit.json").read_text())["rounds"]]
    again = [{k: v for k, v in r.items() if k != "seconds"}
             for r in json.loads((runs / "killed" / "autofit.json").read_text())["rounds"]]
    assert strip == again and len(strip) == 2


def test_a_kill_while_a_checkpoint_is_written_keeps_the_previous_one(tiny_model, tmp_path):
    """SIGKILL in the middle of writing the third checkpoint (its tensors on disk, not yet its state file nor
    its name): the second survives, the half-written one is ignored, and the resumed run ends as an
    uninterrupted one."""
    from tests.conftest import planted_texts

    planted_texts(240).to_csv(tmp_path / "data.csv", index=False)
    runs = tmp_path / "runs"
    cfg = {"data": {"path": str(tmp_path / "data.csv")}, "model": {"name": tiny_model},
           "training": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "bf16": False, "checkpoint_every": 3,
                        "checkpoint_keep": 10}, "output": {"dir": str(runs)}}
    script = tmp_path / "die_while_saving.py"
    script.write_text(f"""
import os, signal
from justfit.training import trainer as t
original, calls = t.Trainer.save_checkpoint, []
def dying(self, folder, extra=None):
    calls.append(folder)
    if len(calls) == 3:
        self.accelerator.save_state(str(folder), safe_serialization=True)  # the tensors are written ...
        os.kill(os.getpid(), signal.SIGKILL)                                 # ... and the process dies
    return original(self, folder, extra)
t.Trainer.save_checkpoint = dying
from justfit import finetune
cfg = {cfg!r}
cfg["output"]["name"] = "killed"
finetune(cfg)
""")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    folder = runs / "killed.partial" / "checkpoints"
    assert [c.name for c in checkpoints_in(folder)] == ["checkpoint-000001", "checkpoint-000002"]
    assert (folder / ".tmp-checkpoint-000003" / "model.safetensors").is_file()  # the half-written one
    resumed = finetune(resume=runs / "killed.partial")
    whole = finetune({**cfg, "output": {"dir": str(runs), "name": "whole"}})
    _same_run(Path(whole.run_dir), Path(resumed.run_dir))
