"""Multi-process training throughput: ``torchrun --nproc_per_node N -m justfit train`` against one
process, same data, model and global batch, on this machine.

The packaged MiniLM on a stratified sample of the packaged tweets (``--rows`` training rows, 300
validation, 300 test), one epoch, fp32 or bf16 as ``bf16: auto`` decides, the label and leakage
audits off (the job times training). One process trains with batch ``--batch`` and torch's default threads; N
processes (DDP over gloo) with batch ``--batch / N`` each and ``OMP_NUM_THREADS = cores / N``, so
both take the same optimisation steps over the same rows. Throughput = training rows / the epoch's
seconds (its training steps and its evaluations, from ``history.jsonl``); the wall time of the
whole command (start-up, loading) is printed beside it.

    python bench/processes.py                    # 2 processes vs 1, 2000 rows
    python bench/processes.py --processes 4 --rows 4000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def write_data(folder: Path, rows: int) -> list[str]:
    from justfit.data.io import load_table
    from justfit.data.splitting import split, stratified_sample

    s = split(load_table("tweets").frame, val_size=0.1, test_size=0.1, seed=0)
    frames = {"train": stratified_sample(s.train, rows, 0), "validation": stratified_sample(s.validation, 300, 0),
              "test": stratified_sample(s.test, 300, 0)}
    args = []
    for name, frame in frames.items():
        frame[["text", "label"]].to_csv(folder / f"{name}.csv", index=False, quoting=csv.QUOTE_ALL)  # a bare \r in a tweet stays in its field
        args += [f"--{name}", str(folder / f"{name}.csv")]
    return args


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--batch", type=int, default=32, help="the global batch (per process: batch / processes)")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    exe = Path(sys.executable)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = write_data(folder, args.rows)
        common = [*data, "--epochs", "1", "--set", "quality.label_noise=off", "--set", "quality.leakage=off",
                  "--set", "early_stopping.enabled=false", "--set", "training.train_eval_samples=0",
                  "-o", str(folder / "runs"), "-q"]
        env = {**os.environ}
        env.pop("OMP_NUM_THREADS", None)
        one = [str(exe), "-m", "justfit", "train", *common, "--batch-size", str(args.batch), "--name", "one"]
        wall_one = run(one, env, folder)
        n = args.processes
        env_n = {**env, "OMP_NUM_THREADS": str(max(1, cores // n))}
        many = [str(exe.with_name("torchrun")), "--nproc_per_node", str(n), "-m", "justfit", "train", *common,
                "--batch-size", str(args.batch // n), "--name", "many"]
        wall_many = run(many, env_n, folder)
        out = {}
        for name, wall in (("one", wall_one), ("many", wall_many)):
            run_dir = folder / "runs" / name
            (record,) = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
            metrics = json.loads((run_dir / "metrics.json").read_text())
            bf16 = json.loads((run_dir / "result.json").read_text())["data"]["bf16"]
            out[name] = {"rows_per_s": args.rows / record["seconds"], "epoch_seconds": record["seconds"], "wall": wall,
                         "val_loss": record["val_loss"], "test_accuracy": metrics["accuracy"], "bf16": bf16}
    one, many = out["one"], out["many"]
    print(f"machine: {cores} cores; bf16 {one['bf16']}; {args.rows} training rows, global batch {args.batch}")
    print(f"1 process:   {one['rows_per_s']:.1f} rows/s (epoch {one['epoch_seconds']:.1f} s, command {one['wall']:.1f} s), "
          f"val loss {one['val_loss']:.4f}, test accuracy {one['test_accuracy']:.4f}")
    print(f"{n} processes: {many['rows_per_s']:.1f} rows/s (epoch {many['epoch_seconds']:.1f} s, command "
          f"{many['wall']:.1f} s), val loss {many['val_loss']:.4f}, test accuracy {many['test_accuracy']:.4f}")
    print(f"ratio {n} processes / 1: {many['rows_per_s'] / one['rows_per_s']:.2f}x")
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
