"""The bad-input catalogue: what a user can get wrong, and the one line justfit answers with.

Each case writes its input files into ``tmp_path``, runs the real CLI in-process, and checks the
exit code and that the message names the problem. Every case also checks what every failure
owes the user: no traceback, one line on stderr, and nothing written (``tmp_path`` is the same
after the command as before it, and holds no ``*.partial`` folder).

Most cases fail before any model loads; those that train use the tiny random-weight preset.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from justfit.cli.main import main
from tests.conftest import ner_sentences, planted_texts, write_conll

Setup = Callable[[Path], None]

# Fast training flags: anything that reaches training trains one epoch of a tiny model on 60 rows.
FAST = ["--model", "tiny-bert-random", "--epochs", "1", "--max-rows", "60", "--set", "quality.label_noise=off",
        "--set", "training.bf16=false", "-o", "{tmp}/runs", "--name", "r", "-q"]


def pending(fault: str) -> pytest.MarkDecorator:
    """A case whose expected behaviour is a fix another change is bringing."""
    return pytest.mark.xfail(reason=f"pending: {fault}", strict=False)


@dataclass
class Case:
    name: str
    setup: Setup
    argv: list[str]
    code: int = 2
    message: str = ""  # a regex the error line (or, for code 0, stdout) must match
    check: Callable[[Path], None] | None = None  # extra checks after a successful command
    patch: tuple[str, Callable] | None = None  # (dotted target, replacement) for interruption cases
    marks: list = field(default_factory=list)


# --- setup helpers ---------------------------------------------------------------------------------------------------

def nothing(tmp: Path) -> None:
    """No input files."""


def chain(*setups: Setup) -> Setup:
    def run(tmp: Path) -> None:
        for s in setups:
            s(tmp)
    return run


def raw(name: str, content: bytes | str, encoding: str = "utf-8") -> Setup:
    def run(tmp: Path) -> None:
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return run


def table(name: str, frame: Callable[[], pd.DataFrame] | dict, **to_csv) -> Setup:
    def run(tmp: Path) -> None:
        df = frame() if callable(frame) else pd.DataFrame(frame)
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".jsonl"):
            df.to_json(p, orient="records", lines=True)
        else:
            df.to_csv(p, index=False, **to_csv)
    return run


def folder(name: str, files: dict[str, str] | None = None) -> Setup:
    def run(tmp: Path) -> None:
        (tmp / name).mkdir(parents=True, exist_ok=True)
        for fname, text in (files or {}).items():
            (tmp / name / fname).write_text(text)
    return run


def good(name: str = "data.csv") -> Setup:
    return table(name, planted_texts)


def texts(n: int = 60, seed: int = 0) -> list[str]:
    return planted_texts(n, seed)["text"].tolist()


def fake_run(name: str, *, model: bool = True) -> Setup:
    """A folder laid out like a finished run (no real model: for cases that fail before loading one)."""
    files = {"history.jsonl": '{"epoch": 1, "train_loss": 0.6, "val_loss": 0.7}\n', "result.json": "{}"}

    def run(tmp: Path) -> None:
        folder(name, files)(tmp)
        if model:
            folder(f"{name}/model", {"config.json": "{}"})(tmp)
    return run


def vit_model(name: str) -> Setup:
    """A tiny random ViT (an image model) saved with save_pretrained."""
    def run(tmp: Path) -> None:
        from transformers import ViTConfig, ViTModel

        cfg = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                        image_size=8, patch_size=4)
        ViTModel(cfg).save_pretrained(tmp / name)
    return run


def encoded(name: str, encoding: str, rows: list[tuple[str, str]], bom: bytes = b"") -> Setup:
    body = "text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows)
    return raw(name, bom + body.encode(encoding))


# Texts with characters whose bytes differ between encodings.
ACCENTED = [(f"café {w} naïve {i}", lab) for i, (w, lab) in enumerate(
    [("good", "pos"), ("great", "pos"), ("bad", "neg"), ("awful", "neg")] * 10)]
CP1252 = [(f"“{w}” costs 5€ {i}", lab) for i, (w, lab) in enumerate(
    [("good", "pos"), ("great", "pos"), ("bad", "neg"), ("awful", "neg")] * 10)]


def cleaned_has(*needles: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        df = pd.read_csv(tmp / "cleaned.csv")
        assert list(df.columns)[:2] == ["text", "label"], list(df.columns)
        joined = " ".join(df["text"].astype(str))
        for n in needles:
            assert n in joined, (n, joined[:200])
    return check


def removed_rows(rule: str, rows: list[int]) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        removed = pd.read_csv(tmp / "removed.csv")
        assert sorted(removed.loc[removed["rule"] == rule, "row"].astype(int)) == rows, removed
    return check


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


CLEAN = ["--set", "quality.label_noise=off", "-o", "{tmp}/cleaned.csv", "-q"]


# --- images ----------------------------------------------------------------------------------------------------------

IMAGE_FAST = ["--model", "tiny-vit-random", "--epochs", "1", "--set", "training.bf16=false",
              "--set", "training.train_eval_samples=0", "-o", "{tmp}/runs", "--name", "r", "-q"]


def images(name: str = "imgs", per_class: int = 12, classes: tuple[str, ...] = ("a", "b"), modes: tuple[str, ...] = ("RGB",),
           extra: dict[str, bytes] | None = None) -> Setup:
    """A folder per class of small PNGs (modes cycled), plus ``extra`` files (relative path -> bytes)."""
    def run(tmp: Path) -> None:
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        for k, c in enumerate(classes):
            (tmp / name / c).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                px = np.clip(60 + 120 * k + rng.integers(-40, 40, (12, 12, 3)), 0, 255).astype("uint8")
                Image.fromarray(px).convert(modes[i % len(modes)]).save(tmp / name / c / f"{i}.png")
        for rel, content in (extra or {}).items():
            (tmp / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name / rel).write_bytes(content)
    return run


def huge_png(rel: str) -> Setup:
    """A 20,000 x 20,000 one-bit PNG (a few kB on disk, 400 megapixels decoded)."""
    def run(tmp: Path) -> None:
        from PIL import Image

        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("1", (20_000, 20_000)).save(tmp / rel)
    return run


def removed_rule(rule: str, n: int = 1) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        rows = pd.read_csv(tmp / "runs" / "r" / "removed.csv")
        assert (rows["rule"] == rule).sum() == n, rows
    return check


def image_csv(paths: list[str]) -> Setup:
    def run(tmp: Path) -> None:
        pd.DataFrame({"file": paths, "label": ["a", "b"] * (len(paths) // 2) + ["a"] * (len(paths) % 2)}).to_csv(
            tmp / "imgs.csv", index=False)
    return run


# --- audio -----------------------------------------------------------------------------------------------------------

AUDIO_FAST = ["--model", "tiny-whisper-random", "--epochs", "1", "--set", "training.bf16=false",
              "--set", "training.train_eval_samples=0", "--set", "data.max_seconds=1", "--set",
              "quality.label_noise=off", "-o", "{tmp}/runs", "--name", "r", "-q"]


def clips(name: str = "clips", per_class: int = 12, classes: tuple[str, ...] = ("low", "high"),
          rates: tuple[int, ...] = (16_000,), subtypes: tuple[str, ...] = ("PCM_16",), seconds: float = 0.4,
          extra: dict[str, bytes] | None = None, writes: dict[str, tuple[float, int, str]] | None = None) -> Setup:
    """A folder per class of short tones (rates and WAV subtypes cycled), plus ``extra`` files (relative
    path -> bytes) and ``writes`` (relative path -> (seconds, rate, subtype) of a quiet tone)."""
    def tone(freq: float, secs: float, rate: int, rng) -> Any:
        import numpy as np

        t = np.arange(int(secs * rate)) / rate
        return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(len(t))).astype("float32")

    def run(tmp: Path) -> None:
        import numpy as np
        import soundfile as sf

        rng = np.random.default_rng(0)
        for k, c in enumerate(classes):
            (tmp / name / c).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                rate, subtype = rates[i % len(rates)], subtypes[i % len(subtypes)]
                sf.write(str(tmp / name / c / f"{i}.wav"), tone((300 + 1200 * k) * (1 + 0.05 * rng.standard_normal()),
                                                                  seconds, rate, rng), rate, subtype=subtype)
        for rel, content in (extra or {}).items():
            (tmp / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name / rel).write_bytes(content)
        for rel, (secs, rate, subtype) in (writes or {}).items():
            (tmp / name / rel).parent.mkdir(parents=True, exist_ok=True)
            with sf.SoundFile(str(tmp / name / rel), "w", samplerate=rate, channels=1, subtype=subtype) as f:
                block = 0.1 * tone(440, min(secs, 60.0), rate, rng)
                for _ in range(max(1, int(secs // 60))):  # long files written a minute at a time
                    f.write(block)
    return run


def flagged_rule(rule: str, n: int = 1) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        rows = pd.read_csv(tmp / "runs" / "r" / "flagged.csv")
        assert (rows["rule"] == rule).sum() == n, rows
    return check


def conll(name: str = "ner.conll", n: int = 80, extra: list[tuple[list[str], list[str]]] | None = None,
          sep: str = "\t", seed: int = 0) -> Setup:
    """A CoNLL file of planted named entities (``extra`` sentences appended)."""
    def setup(tmp: Path) -> None:
        write_conll(tmp / name, ner_sentences(n, seed=seed) + (extra or []), sep=sep)
    return setup


def conll_text(name: str, text: str) -> Setup:
    return raw(name, text)


def metrics_has(key: str, value: Any) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        import json

        metrics = json.loads((tmp / "runs" / "r" / "metrics.json").read_text())
        assert metrics.get(key) == value, metrics.get(key)
    return check


def killed_run(name: str = "r", **config: Any) -> Setup:
    """A run folder as a SIGKILL before its first complete checkpoint leaves it: the saved request, the lock
    file, and (``half_written``) a checkpoint the process was writing when it died."""
    def run(tmp: Path) -> None:
        import json

        from justfit.config import JustfitConfig

        good()(tmp)
        cfg = {"data": {"path": str(tmp / "data.csv"), "max_rows": 60}, "model": {"name": "tiny-bert-random"},
               "training": {"epochs": 1, "bf16": False}, "quality": {"label_noise": "off"},
               "output": {"dir": str(tmp / "runs"), "name": name}, **config.get("cfg", {})}
        partial = tmp / "runs" / f"{name}.partial"
        (partial / "checkpoints").mkdir(parents=True)
        (partial / "checkpoints" / "run.json").write_text(json.dumps(
            {"config": JustfitConfig.from_dict(cfg).model_dump(mode="json"),
             "options": {"command": config.get("command", "train")}}))
        (partial / "run.lock").write_text("")
        if config.get("half_written"):
            (partial / "checkpoints" / ".tmp-checkpoint-000001").mkdir()
            (partial / "checkpoints" / ".tmp-checkpoint-000001" / "model.safetensors").write_bytes(b"half")
    return run


def finished_without_checkpoints(tmp: Path) -> None:
    runs = list((tmp / "runs").iterdir())
    assert [p.name for p in runs] == ["r"], runs
    assert (runs[0] / "report.html").is_file() and not (runs[0] / "checkpoints").exists()


TUNE_FAST = ["--model", "tiny-bert-random", "--trials", "2", "--max-rows", "60", "--set", "quality.label_noise=off",
             "--set", "training.bf16=false", "--set", "training.epochs=1", "-o", "{tmp}/runs", "--name", "r", "-q"]


def tune_space(space: str) -> Setup:
    return chain(good(), raw("tune.yaml", f"tune:\n  space:\n{space}"))


CASES: list[Case] = [
    # --- files --------------------------------------------------------------------------------------------------------
    Case("file_missing", nothing, ["train", "--data", "{tmp}/missing.csv", *FAST], message=r"missing\.csv.*does not exist"),
    Case("file_folder_not_a_dataset", folder("notes", {"a.txt": "hello"}), ["train", "--data", "{tmp}/notes", *FAST],
         message=r"notes.*(save_to_disk|not a Hugging Face dataset)"),
    Case("file_zero_bytes", raw("d.csv", b""), ["train", "--data", "{tmp}/d.csv", *FAST], message=r"d\.csv.*empty"),
    Case("file_header_only", raw("d.csv", "text,label\n"), ["train", "--data", "{tmp}/d.csv", *FAST],
         message=r"d\.csv.*(no rows|no data rows|only a header|empty)"),
    Case("file_binary_garbage", raw("d.csv", bytes(range(256)) * 40), ["train", "--data", "{tmp}/d.csv", *FAST],
         message=r"d\.csv.*(binary|not a text|could not read|cannot read|not valid)"),
    Case("file_wrong_extension", raw("d.docx", "text,label\na,b\n"), ["train", "--data", "{tmp}/d.docx", *FAST],
         message=r"d\.docx.*extension"),
    Case("file_parquet_that_is_garbage", raw("d.parquet", b"PAR1" + bytes(range(200)) * 5),
         ["train", "--data", "{tmp}/d.parquet", *FAST], message=r"d\.parquet"),
    Case("file_malformed_jsonl", raw("d.jsonl", '{"text": "a", "label": "x"}\n{"text": \n'),
         ["train", "--data", "{tmp}/d.jsonl", *FAST], message=r"d\.jsonl"),
    Case("file_train_missing", good(), ["train", "--train", "{tmp}/nope.csv", *FAST], message=r"--train.*nope\.csv.*does not exist"),
    Case("file_test_missing", good(), ["train", "--train", "{tmp}/data.csv", "--test", "{tmp}/nope.csv", *FAST],
         message=r"--test.*nope\.csv.*does not exist"),
    Case("file_validation_without_train", good(), ["train", "--validation", "{tmp}/data.csv", *FAST],
         message=r"--validation/--test need --train"),
    Case("file_config_missing", nothing, ["train", "{tmp}/c.yaml", *FAST], message=r"Config file.*c\.yaml.*does not exist"),
    Case("file_config_is_folder", folder("cfg"), ["train", "{tmp}/cfg", *FAST], message=r"cfg.*is a folder"),

    # --- encodings (read successfully: clean writes the decoded text) ----------------------------------------------
    Case("encoding_latin1", encoded("d.csv", "latin-1", ACCENTED), ["clean", "{tmp}/d.csv", *CLEAN], code=0,
         check=cleaned_has("café", "naïve")),
    Case("encoding_cp1252", encoded("d.csv", "cp1252", CP1252), ["clean", "{tmp}/d.csv", *CLEAN], code=0,
         check=cleaned_has("“good”", "5€")),
    Case("encoding_utf16_bom", encoded("d.csv", "utf-16", ACCENTED), ["clean", "{tmp}/d.csv", *CLEAN], code=0,
         check=cleaned_has("café")),
    Case("encoding_utf8_bom", encoded("d.csv", "utf-8", ACCENTED, bom=b"\xef\xbb\xbf"), ["clean", "{tmp}/d.csv", *CLEAN],
         code=0, check=cleaned_has("café")),

    # --- columns ------------------------------------------------------------------------------------------------------
    Case("column_no_text", table("d.csv", {"n": list(range(40)), "label": ["a", "b"] * 20}),
         ["train", "--data", "{tmp}/d.csv", *FAST], message=r"(?i)text column"),
    Case("column_no_label", table("d.csv", lambda: planted_texts(40)[["text"]]),
         ["train", "--data", "{tmp}/d.csv", *FAST], message=r"(?i)label column"),
    Case("column_text_option_unknown", good(), ["train", "--data", "{tmp}/data.csv", "--text-column", "txet", *FAST],
         message=r"txet.*Did you mean 'text'"),
    Case("column_label_option_unknown", good(), ["train", "--data", "{tmp}/data.csv", "--label-column", "lable", *FAST],
         message=r"lable.*Did you mean 'label'"),
    Case("column_same_for_both", good(), ["train", "--data", "{tmp}/data.csv", "--text-column", "text",
                                          "--label-column", "text", *FAST], message=r"both 'text'|same column"),
    Case("column_duplicate_names", raw("d.csv", "text,text,label\n" + "".join(f"a{i},b{i},{'xy'[i % 2]}\n" for i in range(40))),
         ["train", "--data", "{tmp}/d.csv", *FAST], message=r"(?i)duplicate column.*'text'"),
    Case("column_predict_input_missing_text", table("in.csv", {"body_text": ["a", "b"]}),
         ["predict", "{run}", "--input", "{tmp}/in.csv", "--output", "{tmp}/out.csv", "--text-column", "tetx", "-q"],
         message=r"tetx"),

    # --- labels -------------------------------------------------------------------------------------------------------
    Case("label_one_class", table("d.csv", lambda: planted_texts(40).assign(label="x")),
         ["train", "--data", "{tmp}/d.csv", *FAST], message=r"only one class"),
    Case("label_class_with_one_row", table("d.csv", lambda: pd.concat(
        [planted_texts(60), pd.DataFrame({"text": ["a lonely row"], "label": ["rare"]})])),
         ["train", "--data", "{tmp}/d.csv", *FAST], message=r"'rare'.*\b1 row"),
    # Rows without a label: the data stage removes them (rule missing_label) and says which...
    Case("label_missing_values_removed", table("d.csv", lambda: planted_texts(60).assign(
        label=lambda d: d["label"].where(d.index % 7 != 3))), ["clean", "{tmp}/d.csv", *CLEAN], code=0,
         check=removed_rows("missing_label", [3, 10, 17, 24, 31, 38, 45, 52, 59])),
    # ... and without the data stage they are refused, naming the rows.
    Case("label_missing_values_no_stage", table("d.csv", lambda: planted_texts(60).assign(
        label=lambda d: d["label"].where(d.index % 7 != 3))),
         ["train", "--data", "{tmp}/d.csv", *FAST, "--set", "quality.enabled=false"],
         message=r"9 row\(s\).*no label in column 'label'.*rows \[3, 10"),
    Case("label_continuous_numbers_as_classes", table("d.csv", lambda: planted_texts(60).assign(
        label=[0.137 * i + 0.01 for i in range(60)])),
         ["train", "--data", "{tmp}/d.csv", "--set", "task=classification", *FAST],
         message=r"(?i)continuous.*task=regression"),
    Case("label_continuous_numbers_infer_regression", table("d.csv", lambda: planted_texts(60).assign(
        label=[0.137 * i + 0.01 for i in range(60)])), ["train", "--data", "{tmp}/d.csv", *FAST], code=0,
         message=r"training a\s+regression"),
    Case("label_text_for_regression", good(), ["train", "--data", "{tmp}/data.csv", "--set", "task=regression", *FAST],
         message=r"task=regression needs a number"),
    Case("config_unknown_task", good(), ["train", "--data", "{tmp}/data.csv", "--set", "task=ner", *FAST],
         message=r"unknown task 'ner'"),
    Case("label_differ_by_case", table("d.csv", lambda: planted_texts(60).assign(
        label=lambda d: [("Pos" if i % 4 == 0 else lab) for i, lab in enumerate(d["label"])])),
         ["clean", "{tmp}/d.csv", *CLEAN], code=0, message=r"(?s)differ only in case.*'Pos'.*'pos'|'pos'.*'Pos'"),

    # --- config ---------------------------------------------------------------------------------------------------------
    Case("config_unknown_section", raw("c.yaml", "trainer:\n  epochs: 1\n"), ["train", "{tmp}/c.yaml", *FAST],
         message=r"trainer.*Did you mean 'training'"),
    Case("config_unknown_key", raw("c.yaml", "training:\n  epoch: 1\n"), ["train", "{tmp}/c.yaml", *FAST],
         message=r"epoch.*Did you mean 'epochs'"),
    Case("config_wrong_type", raw("c.yaml", "training:\n  epochs: many\n"), ["train", "{tmp}/c.yaml", *FAST],
         message=r"epochs"),
    Case("config_out_of_range", raw("c.yaml", "training:\n  lr: -1\n"), ["train", "{tmp}/c.yaml", *FAST],
         message=r"lr"),
    Case("config_invalid_yaml", raw("c.yaml", "training: [epochs: 1\n"), ["train", "{tmp}/c.yaml", *FAST],
         message=r"not valid YAML"),
    Case("config_yaml_is_a_list", raw("c.yaml", "- training\n- data\n"), ["train", "{tmp}/c.yaml", *FAST],
         message=r"(?i)mapping|list"),
    Case("config_set_without_equals", good(), ["train", "--data", "{tmp}/data.csv", "--set", "training.lr", *FAST],
         message=r"section\.key=value"),
    Case("config_set_unknown_key", good(), ["train", "--data", "{tmp}/data.csv", "--set", "training.lrr=1", *FAST],
         message=r"Did you mean 'lr'"),
    Case("config_set_wrong_type", good(), ["train", "--data", "{tmp}/data.csv", "--set", "training.epochs=abc", *FAST],
         message=r"epochs"),
    Case("config_data_and_train", good(), ["train", "--data", "{tmp}/data.csv", "--train", "{tmp}/data.csv", *FAST],
         message=r"either --data.*not both"),
    Case("config_negative_max_rows", good(), ["train", "--data", "{tmp}/data.csv", *FAST, "--max-rows", "-5"],
         message=r"max_rows"),
    Case("config_zero_epochs", good(), ["train", "--data", "{tmp}/data.csv", *FAST, "--epochs", "0"], message=r"epochs"),
    Case("config_zero_lr", good(), ["train", "--data", "{tmp}/data.csv", "--lr", "0", *FAST], message=r"lr"),
    Case("config_dropout_above_one", good(), ["train", "--data", "{tmp}/data.csv", "--dropout", "1.5", *FAST],
         message=r"dropout"),
    Case("config_bad_freeze", good(), ["train", "--data", "{tmp}/data.csv", "--freeze", "everything", *FAST],
         message=r"freeze"),
    Case("config_rounds_without_auto", good(), ["train", "--data", "{tmp}/data.csv", "--rounds", "2", *FAST],
         message=r"--rounds only applies with --auto"),
    Case("config_lr_and_lr_find", good(), ["train", "--data", "{tmp}/data.csv", "--lr", "1e-3", "--lr-find", *FAST],
         message=r"--lr and --lr-find"),
    Case("config_negative_time_budget", good(), ["train", "--data", "{tmp}/data.csv", "--auto", "--time-budget", "-1",
                                                 *FAST], message=r"--time-budget"),
    Case("config_unknown_recipe", good(), ["train", "--data", "{tmp}/data.csv", "--recipe", "bogus", *FAST],
         message=r"recipe 'bogus'.*standard"),
    Case("config_unknown_optimizer", good(), ["train", "--data", "{tmp}/data.csv", "--set", "training.optimizer=foo",
                                              *FAST], message=r"optimizer 'foo'.*adamw"),
    Case("config_unknown_monitor", good(), ["train", "--data", "{tmp}/data.csv", "--set", "early_stopping.monitor=bogus",
                                            *FAST], message=r"'bogus'.*val_loss"),
    Case("config_zero_batch_size", good(), ["train", "--data", "{tmp}/data.csv", "--batch-size", "0", *FAST],
         message=r"batch_size"),
    Case("config_splits_leave_no_training", good(), ["train", "--data", "{tmp}/data.csv", "--set", "data.val_size=0.5",
                                                     "--set", "data.test_size=0.5", *FAST], message=r"val_size \+ test_size"),
    Case("config_unknown_option", good(), ["train", "--data", "{tmp}/data.csv", "--epoch", "1", *FAST],
         message=r"No such option: --epoch"),

    # --- models ---------------------------------------------------------------------------------------------------------
    Case("model_missing_relative_path", good(), ["train", "--data", "{tmp}/data.csv", *FAST, "--model", "models/my-bert"],
         message=r"models/my-bert"),
    Case("model_folder_without_config", chain(good(), folder("mymodel", {"vocab.txt": "a"})),
         ["train", "--data", "{tmp}/data.csv", *FAST, "--model", "{tmp}/mymodel"], message=r"config\.json"),
    Case("model_not_for_text", chain(good(), vit_model("vit")),
         ["train", "--data", "{tmp}/data.csv", *FAST, "--model", "{tmp}/vit"],
         message=r"cannot be used for sequence classification"),

    # --- run directories ------------------------------------------------------------------------------------------------
    Case("rundir_exists_without_overwrite", chain(good(), fake_run("runs/r")), ["train", "--data", "{tmp}/data.csv", *FAST],
         message=r"already exists.*--overwrite"),
    Case("rundir_overwrite_non_run_folder", chain(good(), folder("runs/r", {"notes.txt": "mine"})),
         ["train", "--data", "{tmp}/data.csv", *FAST, "--overwrite"], message=r"not a justfit run directory"),
    Case("rundir_name_with_slash", good(), ["train", "--data", "{tmp}/data.csv", *FAST, "--name", "a/b"],
         message=r"plain folder name"),
    Case("rundir_name_partial", good(), ["train", "--data", "{tmp}/data.csv", *FAST, "--name", "x.partial"],
         message=r"plain folder name"),
    Case("rundir_output_dir_is_file", chain(good(), raw("runs", "a file")), ["train", "--data", "{tmp}/data.csv", *FAST],
         message=r"runs.*is a file"),
    Case("rundir_report_not_a_run", folder("stuff", {"a.txt": "x"}), ["report", "{tmp}/stuff"],
         message=r"not a finished justfit run"),
    Case("rundir_report_partial", fake_run("r.partial"), ["report", "{tmp}/r.partial"], message=r"\.partial"),
    Case("rundir_report_on_file", raw("r.txt", "x"), ["report", "{tmp}/r.txt"], message=r"is a file"),
    Case("rundir_report_output_exists", chain(fake_run("r"), raw("mine.html", "<p>mine</p>")),
         ["report", "{tmp}/r", "--output", "{tmp}/mine.html"], message=r"mine\.html.*already exists.*--force"),
    Case("rundir_evaluate_not_a_run", chain(good(), folder("stuff")), ["evaluate", "{tmp}/stuff", "--data",
                                                                       "{tmp}/data.csv", "-q"],
         message=r"holds no saved model"),
    Case("rundir_predict_not_a_run", folder("stuff"), ["predict", "{tmp}/stuff", "--text", "hi", "-q"],
         message=r"holds no saved model"),
    Case("rundir_predict_partial", fake_run("r.partial"), ["predict", "{tmp}/r.partial", "--text", "hi", "-q"],
         message=r"\.partial"),
    Case("rundir_evaluate_partial_model", chain(good(), fake_run("r.partial")),
         ["evaluate", "{tmp}/r.partial/model", "--data", "{tmp}/data.csv", "-q"], message=r"\.partial"),

    # --- lr-find --------------------------------------------------------------------------------------------------------
    Case("lrfind_steps_zero", good(), ["lr-find", "--data", "{tmp}/data.csv", "--steps", "0", "-o", "{tmp}/lr"],
         message=r"--steps"),
    Case("lrfind_steps_one", good(), ["lr-find", "--data", "{tmp}/data.csv", "--steps", "1", "-o", "{tmp}/lr"],
         message=r"--steps"),
    Case("lrfind_swapped", good(), ["lr-find", "--data", "{tmp}/data.csv", "--start-lr", "1", "--end-lr", "1e-5",
                                    "-o", "{tmp}/lr"], message=r"swapped"),
    Case("lrfind_start_zero", good(), ["lr-find", "--data", "{tmp}/data.csv", "--start-lr", "0", "-o", "{tmp}/lr"],
         message=r"--start-lr"),
    Case("lrfind_out_is_file", chain(good(), raw("lr", "my notes")),
         ["lr-find", "--data", "{tmp}/data.csv", "-o", "{tmp}/lr", "--model", "tiny-bert-random"],
         message=r"lr.*is a file"),
    Case("lrfind_missing_data", nothing, ["lr-find", "--data", "{tmp}/d.csv", "-o", "{tmp}/lr"],
         message=r"d\.csv.*does not exist"),
    Case("lrfind_zero_max_rows", good(), ["lr-find", "--data", "{tmp}/data.csv", "--max-rows", "0", "-o", "{tmp}/lr"],
         message=r"max_rows"),

    # --- doctor ---------------------------------------------------------------------------------------------------------
    Case("doctor_zero_byte_history", raw("h.csv", b""), ["doctor", "{tmp}/h.csv"], message=r"h\.csv.*empty"),
    Case("doctor_zero_byte_jsonl", raw("h.jsonl", b""), ["doctor", "{tmp}/h.jsonl"], message=r"h\.jsonl.*empty"),
    Case("doctor_missing", nothing, ["doctor", "{tmp}/h.csv"], message=r"does not exist"),
    Case("doctor_folder_without_history", folder("f", {"a.txt": "x"}), ["doctor", "{tmp}/f"],
         message=r"no history\.jsonl|holds no"),
    Case("doctor_header_only", raw("h.csv", "epoch,train_loss,val_loss\n"), ["doctor", "{tmp}/h.csv"],
         message=r"(?i)no rows|no epoch|header"),
    Case("doctor_not_json", raw("h.json", "{not json"), ["doctor", "{tmp}/h.json"], message=r"h\.json"),
    Case("doctor_unknown_format", raw("h.txt", "epoch loss\n1 0.5\n"), ["doctor", "{tmp}/h.txt"], message=r"h\.txt"),

    # --- predict --------------------------------------------------------------------------------------------------------
    Case("predict_empty_input", raw("in.csv", b""), ["predict", "{run}", "--input", "{tmp}/in.csv", "--output",
                                                     "{tmp}/out.csv", "-q"], message=r"in\.csv.*empty"),
    Case("predict_header_only_input", raw("in.csv", "text\n"), ["predict", "{run}", "--input", "{tmp}/in.csv",
                                                                "--output", "{tmp}/out.csv", "-q"],
         message=r"in\.csv.*(no rows|empty)"),
    Case("predict_no_text_column", table("in.csv", {"n": [1, 2, 3]}),
         ["predict", "{run}", "--input", "{tmp}/in.csv", "--output", "{tmp}/out.csv", "-q"], message=r"(?i)text column"),
    Case("predict_output_exists", chain(table("in.csv", {"text": ["a", "b"]}), raw("out.csv", "mine\n")),
         ["predict", "{run}", "--input", "{tmp}/in.csv", "--output", "{tmp}/out.csv", "-q"],
         message=r"out\.csv.*already exists.*--force"),
    Case("predict_output_bad_extension", table("in.csv", {"text": ["a", "b"]}),
         ["predict", "{run}", "--input", "{tmp}/in.csv", "--output", "{tmp}/out.xlsx", "-q"], message=r"\.xlsx"),
    Case("predict_input_without_output", table("in.csv", {"text": ["a"]}),
         ["predict", "{run}", "--input", "{tmp}/in.csv", "-q"], message=r"--input needs --output"),
    Case("predict_text_and_input", table("in.csv", {"text": ["a"]}),
         ["predict", "{run}", "--text", "x", "--input", "{tmp}/in.csv", "--output", "{tmp}/o.csv", "-q"],
         message=r"--text and --input"),
    Case("predict_output_is_input", table("in.csv", {"text": ["a"]}),
         ["predict", "{run}", "--input", "{tmp}/in.csv", "--output", "{tmp}/in.csv", "--force", "-q"],
         message=r"--output must differ from --input"),
    Case("predict_input_missing", nothing, ["predict", "{run}", "--input", "{tmp}/in.csv", "--output", "{tmp}/o.csv", "-q"],
         message=r"in\.csv.*does not exist"),
    Case("predict_input_has_prediction_columns", table("in.csv", {"text": ["a", "b"], "predicted": ["x", "y"]}),
         ["predict", "{run}", "--input", "{tmp}/in.csv", "--output", "{tmp}/o.csv", "-q"],
         message=r"already has column\(s\) predicted"),
    Case("predict_output_without_input", nothing, ["predict", "{run}", "--text", "x", "--output", "{tmp}/o.csv", "-q"],
         message=r"--output only applies with --input"),

    # --- evaluate -------------------------------------------------------------------------------------------------------
    Case("evaluate_data_missing", nothing, ["evaluate", "{run}", "--data", "{tmp}/nope.csv", "-q"],
         message=r"nope\.csv.*does not exist"),
    Case("evaluate_output_is_folder", chain(good(), folder("m")), ["evaluate", "{run}", "--data", "{tmp}/data.csv",
                                                                   "--output", "{tmp}/m", "-q"], message=r"is a folder"),
    Case("evaluate_output_exists", chain(good(), raw("m.json", "{}")),
         ["evaluate", "{run}", "--data", "{tmp}/data.csv", "--output", "{tmp}/m.json", "-q"],
         message=r"m\.json.*already exists.*--force"),
    Case("evaluate_no_label_column", table("d.csv", lambda: planted_texts(20)[["text"]]),
         ["evaluate", "{run}", "--data", "{tmp}/d.csv", "-q"], message=r"(?i)label column"),
    Case("evaluate_unseen_labels", table("d.csv", lambda: planted_texts(20).assign(label="other")),
         ["evaluate", "{run}", "--data", "{tmp}/d.csv", "-q"], message=r"'other'"),
    Case("evaluate_empty_data", raw("d.csv", b""), ["evaluate", "{run}", "--data", "{tmp}/d.csv", "-q"],
         message=r"d\.csv.*empty"),

    # --- clean, check, cache --------------------------------------------------------------------------------------------
    Case("clean_output_exists", chain(good(), raw("cleaned.csv", "mine\n")), ["clean", "{tmp}/data.csv", *CLEAN],
         message=r"already exist.*--force"),
    Case("clean_output_bad_extension", good(), ["clean", "{tmp}/data.csv", "-o", "{tmp}/out.xlsx"],
         message=r"out\.xlsx"),
    Case("clean_output_is_folder", chain(good(), folder("out.csv")), ["clean", "{tmp}/data.csv", "-o", "{tmp}/out.csv"],
         message=r"is a folder"),
    Case("clean_missing_data", nothing, ["clean", "{tmp}/d.csv", *CLEAN], message=r"d\.csv.*does not exist"),
    Case("check_zero_steps", good(), ["check", "--data", "{tmp}/data.csv", "--steps", "0"], message=r"--steps"),
    Case("check_missing_data", nothing, ["check", "--data", "{tmp}/d.csv"], message=r"d\.csv.*does not exist"),
    Case("clean_output_parent_is_file", chain(good(), raw("f", "x")), ["clean", "{tmp}/data.csv", "-o", "{tmp}/f/c.csv"],
         message=r"is a file"),
    Case("cache_unused_days_without_clear", nothing, ["cache", "--unused-days", "3"], message=r"only applies with --clear"),
    Case("cache_dir_is_file", raw("c", "x"), ["cache", "--cache-dir", "{tmp}/c"], message=r"is a file"),

    # --- images ------------------------------------------------------------------------------------------------------
    Case("image_class_folder_empty", chain(images(), folder("imgs/c", {"notes.txt": "x"})),
         ["train", "--data", "{tmp}/imgs", *IMAGE_FAST], message=r"'c'.*hold no images"),
    Case("image_folder_without_images", chain(folder("imgs/a", {"x.txt": "x"}), folder("imgs/b", {"y.txt": "y"})),
         ["train", "--data", "{tmp}/imgs", *IMAGE_FAST], message=r"imgs.*folder per class"),
    # Paths that do not exist: each removed with its reason by the data stage; all named at once without it.
    Case("image_csv_paths_missing", chain(images(), image_csv([f"imgs/{c}/{i}.png" for i in range(12) for c in "ab"]
                                                              + ["nope1.png", "nope2.png", "nope3.png"])),
         ["train", "--data", "{tmp}/imgs.csv", *IMAGE_FAST], code=0, check=removed_rule("unreadable_image", 3)),
    Case("image_csv_paths_missing_no_stage", chain(images(), image_csv(["imgs/a/0.png", "imgs/b/0.png", "nope1.png",
                                                                        "nope2.png", "nope3.png"])),
         ["train", "--data", "{tmp}/imgs.csv", *IMAGE_FAST, "--set", "quality.enabled=false"],
         message=r"3 image path\(s\).*nope1.*nope2.*nope3"),
    Case("image_mixed_with_text_files", images(extra={"a/readme.txt": b"notes", "b/labels.json": b"{}"}),
         ["train", "--data", "{tmp}/imgs", *IMAGE_FAST], code=0, check=lambda tmp: None),
    Case("image_corrupt_jpeg_midway", images(extra={"a/5b.jpg": b"\xff\xd8\xff\xe0 truncated"}),
         ["train", "--data", "{tmp}/imgs", *IMAGE_FAST], code=0, check=removed_rule("unreadable_image")),
    Case("image_20000_pixels_square", chain(images(), huge_png("imgs/b/huge.png")),
         ["train", "--data", "{tmp}/imgs", *IMAGE_FAST], code=0, check=removed_rule("unreadable_image")),
    Case("image_grey_and_rgba_mixed", images(modes=("RGB", "L", "RGBA", "P")),
         ["train", "--data", "{tmp}/imgs", *IMAGE_FAST], code=0, check=removed_rule("unreadable_image", 0)),

    # --- audio -------------------------------------------------------------------------------------------------------
    Case("audio_empty_file", clips(extra={"low/empty.wav": b""}), ["train", "--data", "{tmp}/clips", *AUDIO_FAST],
         code=0, check=removed_rule("unreadable_audio")),
    Case("audio_text_file_named_wav", clips(extra={"high/notes.wav": b"this is text, not audio\n" * 40}),
         ["train", "--data", "{tmp}/clips", *AUDIO_FAST], code=0, check=removed_rule("unreadable_audio")),
    Case("audio_24_bit_and_float_wav", clips(subtypes=("PCM_16", "PCM_24", "FLOAT")),
         ["train", "--data", "{tmp}/clips", *AUDIO_FAST], code=0, check=removed_rule("unreadable_audio", 0)),
    Case("audio_8k_and_48k_in_one_set", clips(rates=(8_000, 48_000, 16_000)),
         ["train", "--data", "{tmp}/clips", *AUDIO_FAST], code=0, check=removed_rule("unreadable_audio", 0)),
    Case("audio_one_hour_file", clips(writes={"low/hour.wav": (3600.0, 8_000, "PCM_16")}),
         ["train", "--data", "{tmp}/clips", *AUDIO_FAST], code=0, check=flagged_rule("length_outlier")),
    Case("audio_shorter_than_the_model_input", clips(writes={"high/blip.wav": (0.005, 16_000, "PCM_16")}),
         ["train", "--data", "{tmp}/clips", *AUDIO_FAST], code=0, check=removed_rule("unreadable_audio", 0)),
    Case("audio_class_folder_empty", chain(clips(), folder("clips/mid", {"notes.txt": "x"})),
         ["train", "--data", "{tmp}/clips", *AUDIO_FAST], message=r"'mid'.*hold no audio clips"),
    Case("audio_augmentation_for_images", images(), ["train", "--data", "{tmp}/imgs", *IMAGE_FAST, "--set",
                                                     "augment.ops=pitch"], message=r"audio augmentation"),

    # --- token classification ------------------------------------------------------------------------------------------
    Case("token_sentence_of_only_o", conll(extra=[(["nothing", "at", "all"], ["O", "O", "O"])]),
         ["train", "--data", "{tmp}/ner.conll", *FAST], code=0, check=lambda tmp: None),
    Case("token_line_missing_its_tag", conll_text("ner.conll", "Ann\tB-PER\nsaw\tO\nOslo\n\nHi\tO\n"),
         ["train", "--data", "{tmp}/ner.conll", *FAST], message=r"Line 3 of .* 1 field.*missing tag"),
    Case("token_tabs_and_spaces_mixed", chain(conll(), lambda tmp: (tmp / "ner.conll").write_text(
        "\n".join(line.replace("\t", " ") if i % 3 == 0 else line
                  for i, line in enumerate((tmp / "ner.conll").read_text().splitlines())))),
         ["train", "--data", "{tmp}/ner.conll", *FAST], code=0, check=lambda tmp: None),
    Case("token_unknown_tag_in_test", chain(conll("train.conll", 80), conll(
        "test.conll", 20, extra=[(["Acme", "Corp", "hired", "Ann"], ["B-ORG", "I-ORG", "O", "B-PER"])], seed=4)),
         ["train", "--train", "{tmp}/train.conll", "--test", "{tmp}/test.conll", *FAST], code=0,
         check=metrics_has("unseen_tags", ["B-ORG", "I-ORG"])),
    Case("token_1000_word_sentence", conll(extra=[(sum((w for w, _ in ner_sentences(80, seed=5)), [])[:1000], sum((t for _, t in ner_sentences(80, seed=5)), [])[:1000])]),
         ["train", "--data", "{tmp}/ner.conll", *FAST, "--set", "data.max_length=64"], code=0, check=lambda tmp: None),
    Case("token_tags_given_to_text_classification", conll(), ["train", "--data", "{tmp}/ner.conll", *FAST, "--set",
                                                              "task=classification"],
         message=r"tag per word.*task=classification gives each row one label"),
    Case("token_task_given_one_label_per_row", good(), ["train", "--data", "{tmp}/data.csv", *FAST, "--set",
                                                        "task=token-classification"],
         message=r"Token classification needs a tag per word"),
    Case("token_every_word_o", conll_text("o.conll", "\n\n".join(f"nothing\tO\nhere{i}\tO" for i in range(60))),
         ["train", "--data", "{tmp}/o.conll", *FAST], message=r"Every word .* tagged O"),
    Case("token_words_and_tags_differ_in_number", raw("t.jsonl", '{"tokens": ["a", "b"], "tags": ["O"]}\n'),
         ["train", "--data", "{tmp}/t.jsonl", *FAST], message=r"2 words but 1 tags"),
    Case("token_text_augmentation", conll(), ["train", "--data", "{tmp}/ner.conll", *FAST, "--set",
                                              "augment.ops=synonym"], message=r"augment.ops=synonym does not apply to token-classification"),
    Case("token_class_weights", conll(), ["train", "--data", "{tmp}/ner.conll", *FAST, "--set",
                                          "training.class_weights=auto"], message=r"class_weights=auto"),

    Case("export_missing_model", nothing, ["export", "{tmp}/nope"], message=r"nope.*does not exist"),
    Case("export_unknown_format", folder("m"), ["export", "{tmp}/m", "--format", "tflite"],
         message=r"Unknown export format 'tflite'"),
    Case("export_folder_without_model", folder("m"), ["export", "{tmp}/m"], message=r"holds no saved model"),

    # --- crash-safe runs and the search -----------------------------------------------------------------------------
    Case("resume_finished_run", fake_run("done"), ["train", "--resume", "{tmp}/done", "-q"],
         message=r"'.*done' is a finished run: there is nothing to resume"),
    Case("resume_folder_not_a_run", folder("notes", {"a.txt": "x"}), ["train", "--resume", "{tmp}/notes", "-q"],
         message=r"is not a justfit run"),
    Case("resume_missing_folder", nothing, ["train", "--resume", "{tmp}/runs/nope.partial", "-q"],
         message=r"does not exist"),
    Case("resume_different_config", killed_run(), ["train", "--resume", "{tmp}/runs/r.partial", "--epochs", "9",
                                                   "--lr", "0.5", "-q"],
         message=r"started with another configuration.*training\.epochs: 1 -> 9; training\.lr: 0\.0001 -> 0\.5"),
    Case("resume_a_tune_run_with_train", killed_run(command="tune"), ["train", "--resume", "{tmp}/runs/r.partial",
                                                                        "-q"],
         message=r"unfinished 'justfit tune' run: continue it with 'justfit tune --resume"),
    Case("new_run_over_an_unfinished_one", killed_run(), ["train", "--data", "{tmp}/data.csv", *FAST],
         message=r"holds an unfinished run of this name. Continue it with 'justfit train --resume"),
    Case("killed_while_writing_its_first_checkpoint", killed_run(half_written=True),
         ["train", "--resume", "{tmp}/runs/r.partial", "-q"], code=0, check=finished_without_checkpoints),
    Case("seeds_zero", good(), ["train", "--data", "{tmp}/data.csv", *FAST, "--seeds", "0"],
         message=r"--seeds must be at least 1, got 0: give 1 or more, or leave --seeds out"),
    Case("auto_time_budget_zero", good(), ["train", "--data", "{tmp}/data.csv", *FAST, "--auto", "--time-budget", "0"],
         message=r"--time-budget must be greater than 0, got 0: give a number above 0, or leave --time-budget out"),
    Case("tune_unreachable_database", good(), ["tune", "--data", "{tmp}/data.csv", *TUNE_FAST, "--storage",
                                               "postgresql://justfit:hunter2@127.0.0.1:9/studies"],
         message=r"Cannot open the study storage postgresql://justfit:\*\*\*@127\.0\.0\.1:9/studies"),
    Case("tune_malformed_storage_url", good(), ["tune", "--data", "{tmp}/data.csv", *TUNE_FAST, "--storage", "nope"],
         message=r"Cannot open the study storage nope"),
    Case("tune_empty_range", tune_space("    training.lr: {low: 0.001, high: 0.001}\n"),
         ["tune", "{tmp}/tune.yaml", "--data", "{tmp}/data.csv", *TUNE_FAST], message=r"the range is empty"),
    Case("tune_inverted_range", tune_space("    training.lr: {low: 0.01, high: 0.0001}\n"),
         ["tune", "{tmp}/tune.yaml", "--data", "{tmp}/data.csv", *TUNE_FAST], message=r"the range is inverted"),
    Case("tune_unknown_parameter", tune_space("    training.learning_rate: {low: 0.0001, high: 0.01}\n"),
         ["tune", "{tmp}/tune.yaml", "--data", "{tmp}/data.csv", *TUNE_FAST],
         message=r"unknown parameter 'training.learning_rate'"),
    Case("tune_value_its_key_cannot_take", tune_space("    model.dropout: {low: 0.1, high: 1.5}\n"),
         ["tune", "{tmp}/tune.yaml", "--data", "{tmp}/data.csv", *TUNE_FAST], message=r"model\.dropout cannot take 1\.5"),
    Case("tune_search_only_without_storage", good(), ["tune", "--data", "{tmp}/data.csv", *TUNE_FAST, "--search-only"],
         message=r"search-only worker joins a shared study"),
    Case("tune_dashboard_bad_port", good(), ["tune", "--data", "{tmp}/data.csv", *TUNE_FAST, "--dashboard", "70000"],
         message=r"--dashboard takes a port from 1 to 65535"),

    # --- interruption (the real Ctrl-C is test_ctrl_c_during_training below) ----------------------------------------------
    Case("interrupt_during_train", good(), ["train", "--data", "{tmp}/data.csv", *FAST], code=130,
         message=r"^interrupted$", patch=("justfit.run.finetune", _interrupt)),
    Case("interrupt_during_clean", good(), ["clean", "{tmp}/data.csv", *CLEAN], code=130, message=r"^interrupted$",
         patch=("justfit.data.stage.clean_file", _interrupt)),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (-1, 0)
            for p in root.rglob("*")}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> str:
    """One real (tiny) run for the predict and evaluate cases."""
    root = tmp_path_factory.mktemp("catalogue-run")
    data = root / "data.csv"
    planted_texts(80).to_csv(data, index=False)
    rc = main(["train", "--data", str(data), "--model", "tiny-bert-random", "--epochs", "1", "--set",
               "quality.label_noise=off", "--set", "training.bf16=false", "--set", "training.train_eval_samples=8",
               "-o", str(root / "runs"), "--name", "run", "-q"])
    assert rc == 0
    return str(root / "runs" / "run")


def test_catalogue_is_big_enough():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
    assert all(re.fullmatch(r"[a-z0-9_]+", c.name) for c in CASES), "case names are test ids: plain words"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch, capfd, request):
    monkeypatch.chdir(tmp_path)  # a default output ('runs', 'cleaned.csv') would land here and be noticed
    monkeypatch.delenv("JUSTFIT_DEBUG", raising=False)
    logs = tmp_path.parent / f"{tmp_path.name}-logs"
    monkeypatch.setenv("JUSTFIT_LOG_DIR", str(logs))
    case.setup(tmp_path)
    ctx = {"tmp": str(tmp_path)}
    if any("{run}" in a for a in case.argv):
        ctx["run"] = request.getfixturevalue("trained_run")
    argv = [a.format(**ctx) for a in case.argv]
    if case.patch:
        monkeypatch.setattr(*case.patch)
    capfd.readouterr()
    before = _snapshot(tmp_path)
    partials = set(tmp_path.rglob("*.partial"))  # a killed run's folder the case starts from

    rc = main(argv)
    out, err = capfd.readouterr()

    assert "Traceback" not in out + err, err
    assert not list(logs.glob("justfit-traceback-*")), f"internal error: {err}"
    assert set(tmp_path.rglob("*.partial")) <= partials or any(".partial" in a for a in case.argv)
    assert rc == case.code, f"exit {rc}, expected {case.code}; stderr: {err}"
    if case.code == 0:
        if case.message:
            assert re.search(case.message, out), out
        if case.check:
            case.check(tmp_path)
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"stderr is not one line: {err!r}"
    line = lines[0]
    if case.code == 2:
        assert line.startswith("error: "), line
    assert re.search(case.message, line), f"{line!r} does not match {case.message!r}"
    assert _snapshot(tmp_path) == before, "a failed command wrote or changed files"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads every file")
def test_unreadable_data_file(tmp_path, capsys):
    p = tmp_path / "d.csv"
    planted_texts(40).to_csv(p, index=False)
    p.chmod(0)
    try:
        rc = main(["train", "--data", str(p), *[a.format(tmp=tmp_path) for a in FAST]])
    finally:
        p.chmod(0o644)
    err = capsys.readouterr().err
    assert rc == 2 and "d.csv" in err and "permission" in err.lower() and len(err.strip().splitlines()) == 1


def test_ctrl_c_during_training(tmp_path):
    """A real SIGINT to a real ``justfit train``: one line, exit 130, and no folder named like a finished run."""
    data = tmp_path / "data.csv"
    planted_texts(600).to_csv(data, index=False)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONFAULTHANDLER": "1"}
    env.pop("JUSTFIT_DEBUG", None)
    # Far more epochs than can finish before the signal: it arrives while training.
    cmd = [sys.executable, "-m", "justfit.cli.main", "train", "--data", str(data), "--model", "tiny-bert-random",
           "--epochs", "1000", "--batch-size", "4", "--set", "quality.label_noise=off", "--set", "training.bf16=false",
           "--set", "early_stopping.enabled=false", "-o", str(tmp_path / "runs"), "--name", "r"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    err_chunks: list[bytes] = []
    import threading

    def drain(stream, sink):
        for chunk in iter(lambda: stream.read1(4096), b""):
            sink.append(chunk)

    threads = [threading.Thread(target=drain, args=(proc.stderr, err_chunks), daemon=True),
               threading.Thread(target=drain, args=(proc.stdout, []), daemon=True)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    started = False
    while time.monotonic() < deadline and proc.poll() is None:
        text = b"".join(err_chunks).decode("utf-8", "replace")
        if re.search(r"^epoch 1:", text, re.M):  # the first epoch's line: training is under way
            started = True
            break
        time.sleep(0.1)
    assert started, f"training never started: {b''.join(err_chunks).decode('utf-8', 'replace')[-2000:]}"
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        # Still running: SIGABRT makes faulthandler print every thread's stack, which names the hang.
        proc.send_signal(signal.SIGABRT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for t in threads:
            t.join(timeout=5)
        pytest.fail("no exit 60 s after SIGINT:\n" + b"".join(err_chunks).decode("utf-8", "replace")[-6000:])
    finally:
        if proc.poll() is None:
            proc.kill()
    for t in threads:
        t.join(timeout=5)
    err = b"".join(err_chunks).decode("utf-8", "replace")
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.rstrip().splitlines()[-1].strip().endswith("interrupted"), err[-500:]
    assert not (tmp_path / "runs" / "r").exists()
    leftovers = [p.name for p in (tmp_path / "runs").iterdir()] if (tmp_path / "runs").exists() else []
    assert all(name.endswith(".partial") for name in leftovers), leftovers

