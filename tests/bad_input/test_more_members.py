"""More members of the field-fault kinds: mixed encodings, JSON shapes, logs that are not UTF-8 or
not text, damaged weights, remedies held to a range, outputs that would overwrite the input, and a
diverged model asked to predict."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from justfit.cli.main import main
from justfit.data.io import load_table
from justfit.errors import DataError, ModelError
from tests.conftest import planted_texts


@pytest.mark.parametrize(("bad_lines", "expect_utf8"), [((60,), True), ((3, 40, 90), True), (tuple(range(1, 120, 2)), False)])
def test_utf8_file_with_a_few_cp1252_lines(tmp_path, bad_lines, expect_utf8):
    df = pd.DataFrame({"text": [f"Café “ok” tweet {i}" for i in range(120)], "label": ["a", "b", "c"] * 40})
    lines = df.to_csv(index=False).splitlines(True)
    p = tmp_path / "mix.csv"
    p.write_bytes(b"".join(li.encode("cp1252") if i in bad_lines else li.encode() for i, li in enumerate(lines)))
    if not expect_utf8:  # half the file in each encoding: no one encoding reads it, and the message says why
        with pytest.raises(DataError, match="mixes UTF-8 with another encoding.*Re-save"):
            load_table(p)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_table(p)
    assert t.encoding.startswith("utf-8")
    assert all(tx.startswith("Café “ok”") for tx in t.frame["text"])
    assert any("not valid UTF-8" in str(w.message) and str(bad_lines[0] + 1) in str(w.message) for w in caught)


@pytest.mark.parametrize("shape", ["index", "nested", "columns", "records"])
def test_json_shapes(tmp_path, shape):
    df = planted_texts(30)
    p = tmp_path / "d.json"
    if shape == "nested":
        p.write_text(json.dumps({"meta": {"n": 30}, "results": {"items": df.to_dict("records")}}))
    else:
        p.write_text(df.to_json(orient=shape))
    t = load_table(p)
    assert len(t.frame) == 30 and t.frame["text"].tolist() == df["text"].tolist()


def _keras_log(tmp_path):
    text = "epoch,loss,val_loss\n0,0.9,0.8\n1,0.7,0.75\n2,0.6,0.8\n3,0.5,0.9\n"
    return text


@pytest.mark.parametrize(("make", "code"), [
    (lambda p, t: p.write_bytes(t.encode("utf-16")), 0),                       # PowerShell redirect
    (lambda p, t: p.write_bytes(t.replace(",", ";").encode()), 0),             # semicolons
    (lambda p, t: p.write_bytes(t.encode("cp1252")), 0),
    (lambda p, t: p.write_bytes(bytes(range(256)) * 4), 2),                    # binary
    (lambda p, t: p.write_bytes(b"%PDF-1.4 rest"), 2),                         # a PDF named .csv
    (lambda p, t: p.write_bytes(b"PK\x03\x04junk"), 2),                         # an archive
])
def test_doctor_reads_logs_whatever_their_encoding(tmp_path, capsys, make, code):
    p = tmp_path / "log.csv"
    make(p, _keras_log(tmp_path))
    rc = main(["doctor", str(p)])
    out, err = capsys.readouterr()
    assert rc == code, err
    assert "Traceback" not in out + err and "internal error" not in err
    if code == 0:
        assert "verdict" in out
    else:
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_damaged_weights_are_one_line(tmp_path, tiny_model, damage):
    import shutil

    from justfit.models.factory import load_model

    m = tmp_path / "m"
    shutil.copytree(tiny_model, m)
    w = m / "model.safetensors"
    if damage == "garbage":
        w.write_bytes(b"\x00" * 10 + b"junk" * 100)
    elif damage == "truncated":
        w.write_bytes(w.read_bytes()[:500])
    else:
        w.unlink()
    with pytest.raises(ModelError, match="weights of model .* missing or damaged"):
        load_model(str(m), ["a", "b"])


def test_a_remedy_held_to_its_range_is_dropped_not_reversed():
    from justfit.diagnosis import diagnose

    # A head-only run at lr 5 that ends near chance: "much larger steps" would be capped below 5.
    history = [{"epoch": e, "train_loss": 1.1, "val_loss": 1.1, "train_accuracy": 0.34, "val_accuracy": 0.33}
               for e in range(1, 4)]
    d = diagnose(history, config={"training": {"lr": 5.0}, "model": {"freeze": "backbone"}},
                 metrics={"majority_baseline_accuracy": 0.34}, n_classes=3)
    for f in d.findings:
        for r in f.remedies:
            lr = r["set"].get("training.lr")
            if lr is not None and "larger" in r["why"]:
                assert lr > 5.0, r


def test_clean_never_writes_over_its_input(tmp_path, capsys):
    p = tmp_path / "d.csv"
    planted_texts(40).to_csv(p, index=False)
    before = p.read_bytes()
    rc = main(["clean", str(p), "-o", str(p), "--force", "--set", "quality.label_noise=off", "-q"])
    assert rc == 2 and "does not overwrite your data" in capsys.readouterr().err
    assert p.read_bytes() == before


def test_unknown_optimizer_fails_before_the_data_stage(tmp_path, tiny_model, planted_csv):
    from justfit import finetune
    from justfit.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown optimizer 'lion'"):
        finetune({"data": {"path": planted_csv}, "model": {"name": tiny_model},
                  "training": {"optimizer": "lion"}, "output": {"dir": str(tmp_path / "runs"), "name": "r"}})


def test_predict_refuses_a_diverged_model(tmp_path, tiny_model, planted_csv, capsys):
    import torch

    from justfit import Finetuner

    ft = Finetuner(model=tiny_model, epochs=1, bf16=False, config={"training": {"train_eval_samples": 8}})
    ft.fit(pd.read_csv(planted_csv))
    with torch.no_grad():
        for p in ft.model_.classifier.parameters():
            p.fill_(float("nan"))
    ft.save(tmp_path / "m")
    rc = main(["predict", str(tmp_path / "m"), "--text", "hello", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "not finite" in err and "diverged" in err


@pytest.mark.parametrize("history", [
    [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.4}],           # no validation at all
    [{"epoch": 1, "train_loss": 1.0986, "val_loss": 1.0986, "val_accuracy": 0.33}],  # one point, at chance
])
def test_too_few_evaluations_are_not_a_good_fit(history):
    from justfit.diagnosis import diagnose

    d = diagnose(history)
    assert d.verdict == "not enough evidence"
    assert any(f.code == "few_evaluations" for f in d.findings)
