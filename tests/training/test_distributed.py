"""Multi-process training with 2 CPU processes (DDP over gloo, launched by torchrun and accelerate launch):
the same run as one process, sharded evaluation that counts every row once, one writer, no hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from justfit.training.trainer import in_order

TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
ACCELERATE = shutil.which("accelerate") or str(Path(sys.executable).with_name("accelerate"))
# Same rows per optimisation step in both runs: 2 processes x 8 rows against 1 process x 16 rows (in the
# same order: no length grouping), and no dropout (each process draws its own masks).
SAME_STEPS = ["--set", "training.group_by_length=false", "--dropout", "0", "--set", "training.bf16=false",
              "--epochs", "2", "--lr", "1e-3", "--set", "quality.label_noise=off", "-q"]
# How far the 2-process run may be from the 1-process one: the gradient is the mean over the same 16
# rows either way; only the order of floating-point sums differs.
TOLERANCE = 1e-3


def _env():
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return env


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_processes_train_the_run_one_process_trains(launcher, tiny_model, tmp_path):
    from justfit.cli.main import main
    from tests.conftest import planted_texts

    planted_texts(200).to_csv(tmp_path / "data.csv", index=False)
    common = ["--data", str(tmp_path / "data.csv"), "--model", tiny_model, *SAME_STEPS, "-o", str(tmp_path / "runs")]
    assert main(["train", *common, "--batch-size", "16", "--name", "one"]) == 0
    launch = [TORCHRUN, "--nproc_per_node", "2"] if launcher == "torchrun" else \
        [ACCELERATE, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no"]
    proc = subprocess.run([*launch, "-m", "justfit", "train", *common, "--batch-size", "8", "--name", "two"],
                          capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = tmp_path / "runs" / "one", tmp_path / "runs" / "two"
    h1, h2 = _history(one), _history(two)
    assert len(h1) == len(h2) == 2
    for a, b in zip(h1, h2, strict=True):
        for key in ("train_loss", "val_loss", "train_eval_loss"):
            assert abs(a[key] - b[key]) < TOLERANCE, (key, a[key], b[key])
        assert a["val_accuracy"] == b["val_accuracy"]
    m1, m2 = (json.loads((r / "metrics.json").read_text()) for r in (one, two))
    assert abs(m1["log_loss"] - m2["log_loss"]) < TOLERANCE and m1["accuracy"] == m2["accuracy"]
    # One writer: one finished run, no leftover folder, the result printed once.
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["one", "two"]
    assert proc.stdout.count("run directory:") == 1
    assert (two / "report.html").is_file() and not (two / "checkpoints").exists()


def test_sharded_evaluation_holds_every_example_once_with_uneven_shards():
    from justfit.tasks.base import EncodedDataset

    ds = EncodedDataset([{"input_ids": [i]} for i in range(11)], list(range(11)))
    shards = [ds.shard(r, 3) for r in range(3)]
    assert sorted(i for idx, _ in shards for i in idx) == list(range(11))
    assert [len(part) for _, part in shards] == [4, 4, 3]
    pieces = [(idx, np.array([[float(i), -float(i)] for i in idx])) for idx, _ in shards]
    assert in_order(pieces, 11).tolist() == [[float(i), -float(i)] for i in range(11)]
    ragged = [(idx, np.array([np.full(i % 3 + 1, i) for i in idx] + [None], dtype=object)[:-1]) for idx, _ in shards]
    got = in_order(ragged + [([], None)], 11)
    assert got.dtype == object and [x.tolist() for x in got] == [[i] * (i % 3 + 1) for i in range(11)]


def test_token_windows_shard_by_whole_sentences(tiny_model):
    from transformers import AutoTokenizer

    from justfit.tasks.tagging.step import TokenClassificationStep

    tok = AutoTokenizer.from_pretrained(tiny_model)
    step = TokenClassificationStep(tok, 16, ["PER"], num_labels=3, stride=2)
    sentences = [[f"w{i}{j}" for j in range(3 + 10 * (i % 2))] for i in range(5)]  # long ones have several windows
    ds = step.encode(sentences, [[0] * len(s) for s in sentences])
    assert len(ds) > 5
    idx0, part0 = ds.shard(0, 2)
    idx1, part1 = ds.shard(1, 2)
    assert idx0 == [0, 2, 4] and idx1 == [1, 3]
    assert len(part0.targets()) == 3 and len(part1.targets()) == 2 and len(part0) + len(part1) == len(ds)


def test_one_process_raising_does_not_hang_the_other(tiny_model, tmp_path):
    """A callback that raises on rank 1 mid-epoch: the launcher stops rank 0 (waiting in a collective) and
    exits non-zero, within seconds, instead of hanging."""
    script = tmp_path / "fail_on_rank_1.py"
    script.write_text(textwrap.dedent(f"""
        import os
        import numpy as np
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from justfit.config import TrainingConfig
        from justfit.tasks.text.task import TextClassificationTask
        from justfit.training.callbacks import Callback
        from justfit.training.trainer import Trainer

        class FailOnRankOne(Callback):
            def on_step_end(self, trainer, step):
                if step == 2 and trainer.accelerator.process_index == 1:
                    raise RuntimeError("rank 1 fails")

        tok = AutoTokenizer.from_pretrained({tiny_model!r})
        task = TextClassificationTask(tok, 32)
        texts = [f"text {{i}} " + "ab" * (i % 5) for i in range(64)]
        labels = [i % 2 for i in range(64)]
        model = AutoModelForSequenceClassification.from_pretrained({tiny_model!r}, num_labels=2)
        cfg = TrainingConfig(epochs=50, batch_size=4, bf16=False, train_eval_samples=0)
        Trainer(task, cfg, [FailOnRankOne()]).fit(model, task.encode(texts, labels), task.encode(texts[:8], labels[:8]))
    """))
    t0 = time.perf_counter()
    proc = subprocess.run([TORCHRUN, "--nproc_per_node", "2", str(script)], capture_output=True, text=True,
                          env=_env(), cwd=tmp_path, timeout=300)
    assert proc.returncode != 0 and "rank 1 fails" in proc.stderr
    assert time.perf_counter() - t0 < 120


def test_a_two_process_run_killed_mid_epoch_resumes_bit_identical(tiny_model, tmp_path):
    """SIGKILL the whole torchrun launch after its second checkpoint, resume it with torchrun: the weights
    equal those of an uninterrupted 2-process run."""
    import signal

    import torch
    from safetensors.torch import load_file

    from justfit.training.callbacks.checkpoint import checkpoints_in
    from tests.conftest import planted_texts

    planted_texts(400).to_csv(tmp_path / "data.csv", index=False)
    common = ["-m", "justfit", "train", "--data", str(tmp_path / "data.csv"), "--model", tiny_model, *SAME_STEPS,
              "--epochs", "4", "--batch-size", "8", "--set", "training.checkpoint_every=3", "-o", str(tmp_path / "runs")]
    launch = [TORCHRUN, "--nproc_per_node", "2"]
    whole = subprocess.run([*launch, *common, "--name", "whole"], capture_output=True, text=True, env=_env(),
                           cwd=tmp_path, timeout=600)
    assert whole.returncode == 0, whole.stderr[-3000:]
    proc = subprocess.Popen([*launch, *common, "--name", "killed"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env(), cwd=tmp_path, start_new_session=True)
    folder = tmp_path / "runs" / "killed.partial" / "checkpoints"
    deadline = time.time() + 300
    while len(checkpoints_in(folder)) < 1:
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.02)
    # The launcher and both of its workers (torchrun starts them in sessions of their own).
    marker = f"{tmp_path}/runs\0--name\0killed".encode()
    for pid in [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]:
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()
    assert folder.is_dir() and not (tmp_path / "runs" / "killed").exists()  # killed before it finished
    resumed = subprocess.run([*launch, "-m", "justfit", "train", "--resume", str(tmp_path / "runs" / "killed.partial"),
                              "-q"], capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = load_file(str(tmp_path / "runs" / "whole" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "runs" / "killed" / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _history(tmp_path / "runs" / "whole")[-1]["val_loss"] == _history(tmp_path / "runs" / "killed")[-1]["val_loss"]
