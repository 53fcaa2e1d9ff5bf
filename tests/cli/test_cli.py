"""The command line: real subcommands in-process, plus one real subprocess for the entry point."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from justfit.cli.main import main


@pytest.fixture
def trained_run(tiny_model, planted_csv, tmp_path):
    rc = main(["train", "--data", planted_csv, "--model", tiny_model, "--epochs", "2", "--lr", "1e-3",
               "-o", str(tmp_path / "runs"), "--name", "cli", "--set", "training.train_eval_samples=16",
               "--set", "training.bf16=false", "--quiet"])
    assert rc == 0
    return tmp_path / "runs" / "cli"


def test_train_writes_run_and_prints_summary(trained_run, capsys):
    assert (trained_run / "metrics.json").exists()
    assert (trained_run / "model" / "justfit.json").exists()


def test_config_file_and_set_override(tiny_model, planted_csv, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  path: {planted_csv}\nmodel:\n  name: {tiny_model}\ntraining:\n  epochs: 3\n"
                   "  bf16: false\n  train_eval_samples: 8\n")
    rc = main(["train", str(cfg), "--set", "training.epochs=1", "-o", str(tmp_path / "r"), "--name", "x", "-q"])
    assert rc == 0
    assert "epochs: 1" in (tmp_path / "r" / "x" / "config.yaml").read_text()


def test_predict_texts_and_file(trained_run, tmp_path, capsys):
    assert main(["predict", str(trained_run), "--text", "good nice", "--text", "bad", "-q"]) == 0
    out = capsys.readouterr().out
    assert "good nice" in out
    src = tmp_path / "in.jsonl"
    pd.DataFrame({"text": ["good", "bad bad", "nice day"], "id": [1, 2, 3]}).to_json(src, orient="records", lines=True)
    dst = tmp_path / "out.csv"
    assert main(["predict", str(trained_run), "--input", str(src), "--output", str(dst), "-q"]) == 0
    pred = pd.read_csv(dst)
    assert len(pred) == 3 and {"id", "predicted", "confidence", "p_neg", "p_pos"} <= set(pred.columns)


def test_evaluate(trained_run, planted_csv, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["evaluate", str(trained_run), "--data", planted_csv, "--output", str(out), "-q"]) == 0
    m = json.loads(out.read_text())
    assert m["n"] == 120 and "per_class" in m


@pytest.mark.parametrize("args,needle", [
    (["train", "--data", "/no/file.csv"], "does not exist"),
    (["train", "--data", "tweets", "--set", "training.lrr=1"], "Did you mean 'lr'"),
    (["train", "--data", "tweets", "--set", "nokey"], "section.key=value"),
    (["train", "--data", "tweets", "--freeze", "everything"], "model.freeze"),
    (["train", "/no/config.yaml"], "Config file"),
    (["predict", "/no/run", "--text", "x"], "does not exist"),
    (["predict", "/no/run"], "Give either --text"),
    (["train", "--data", "tweets", "--bogus"], "No such option: --bogus"),
    (["cache", "--unused-days", "3"], "only applies with --clear"),
])
def test_bad_input_is_one_line_nonzero(args, needle, capsys):
    rc = main(args)
    err = capsys.readouterr().err
    assert rc != 0
    assert needle in err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err


def test_unknown_column_and_one_class(tmp_path, tiny_model, capsys):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x"] * 4}).to_csv(p, index=False)
    assert main(["train", "--data", str(p), "--model", tiny_model, "--label-column", "lable"]) == 2
    assert "Did you mean 'label'" in capsys.readouterr().err
    assert main(["train", "--data", str(p), "--model", tiny_model, "-o", str(tmp_path / "runs")]) == 2
    assert "only one class" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "justfit.cli.main", "train", "--data", "/nope.csv"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "justfit.cli.main", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout and "predict" in r.stdout
