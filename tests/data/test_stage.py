"""The data stage inside a run and on its own (`justfit clean`)."""

import json

import pandas as pd
import pytest

from justfit import finetune
from justfit.cli.main import main
from justfit.data.stage import prepare_data
from justfit.errors import DataError
from tests.conftest import planted_texts


def dirty(n=160, seed=0):
    """Planted data with known problems appended at known row numbers."""
    df = planted_texts(n, seed=seed)
    extra = pd.DataFrame([
        {"text": df.at[0, "text"], "label": df.at[0, "label"]},                 # n: exact duplicate of 0
        {"text": df.at[1, "text"].upper() + "  ", "label": df.at[1, "label"]},  # n+1: duplicate after normalisation
        {"text": df.at[2, "text"] + "x", "label": df.at[2, "label"]},           # n+2: near duplicate of 2
        {"text": "http://example.com/a", "label": "pos"},                       # n+3: not text
        {"text": "   ", "label": "neg"},                                        # n+4: empty
        {"text": "some words here fine", "label": None},                        # n+5: no label
    ])
    return pd.concat([df, extra], ignore_index=True)


def run_cfg(fast_config, path, **quality):
    cfg = dict(fast_config)
    cfg["data"] = {"path": path}
    cfg["quality"] = {"label_noise_folds": 3, **quality}
    return cfg


def test_train_cleans_first_and_keeps_every_removed_row(fast_config, tmp_path):
    p = tmp_path / "dirty.csv"
    df = dirty()
    df.to_csv(p, index=False)
    n = 160
    result = finetune(run_cfg(fast_config, str(p)))
    run = result.model_dir.parent
    removed = pd.read_csv(run / "removed.csv")
    by_row = removed.set_index("row")
    assert by_row.loc[n, "rule"] == "exact_duplicate" and by_row.loc[n, "duplicate_of"] == 0
    assert by_row.loc[n + 1, "rule"] == "exact_duplicate" and by_row.loc[n + 1, "duplicate_of"] == 1
    assert by_row.loc[n + 2, "rule"] == "near_duplicate" and by_row.loc[n + 2, "duplicate_of"] == 2
    assert by_row.loc[n + 3, "rule"] == "non_text"
    assert by_row.loc[n + 4, "rule"] == "empty_text" and by_row.loc[n + 5, "rule"] == "missing_label"
    assert by_row.loc[n + 1, "text"] == df.at[n + 1, "text"]  # as the user wrote it
    report = json.loads((run / "data_report.json").read_text())
    assert report["cleaning"]["all"]["removed"]["exact_duplicate"] == 2
    assert report["balance"]["train"] and report["label_noise"]["rows"] == result.data["sizes"]["train"]
    assert report["leakage"]["removed_from_train"] == 0
    # Every row is accounted for: kept in a split, or in removed.csv.
    splits = json.loads((run / "splits.json").read_text())
    kept = sum(len(s["rows"]) for s in splits.values())
    assert kept + len(removed) == len(df)
    assert (run / "flagged.csv").is_file()
    assert result.data["quality"]["removed"]["exact_duplicate"] == 2


def test_data_stage_can_be_switched_off(fast_config, tmp_path):
    p = tmp_path / "d.csv"
    df = planted_texts(80)
    pd.concat([df, df.head(5)]).to_csv(p, index=False)
    cfg = run_cfg(fast_config, str(p), enabled=False)
    result = finetune(cfg)
    assert sum(result.data["sizes"].values()) == 85
    assert pd.read_csv(result.model_dir.parent / "removed.csv").empty
    df.loc[3, "label"] = None
    df.to_csv(p, index=False)
    cfg["output"]["overwrite"] = True
    with pytest.raises(DataError, match="no label.*missing_label"):
        finetune(cfg)


def test_test_set_leakage_is_removed_from_train_and_reported(fast_config, tmp_path):
    train = planted_texts(120, seed=1)
    test = planted_texts(40, seed=2)
    train.loc[:4, "text"] = test.loc[:4, "text"].to_numpy()   # 5 training rows copy test rows
    train.loc[:4, "label"] = test.loc[:4, "label"].to_numpy()
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    planted_texts(30, seed=3).to_csv(tmp_path / "val.csv", index=False)
    cfg = dict(fast_config)
    cfg["data"] = {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv"),
                   "validation": str(tmp_path / "val.csv")}
    cfg["quality"] = {"label_noise": "off"}
    from justfit.config import JustfitConfig

    splits, report, _ = prepare_data(JustfitConfig.from_dict(cfg))
    assert report.leakage.counts["test"]["exact"] == 5 and report.leakage.test_leaks
    assert not set(range(5)) & set(splits.train.index) and len(splits.test) == 40
    assert any(w.startswith("TEST SET LEAKAGE") for w in report.warnings)
    removed = report.removed
    assert (removed[removed["rule"] == "leakage"]["split"] == "train").all()

    cfg["quality"]["leakage"] = "report"
    splits, report, _ = prepare_data(JustfitConfig.from_dict(cfg))
    assert set(range(5)) <= set(splits.train.index)
    assert (report.flagged["rule"] == "leakage").sum() >= 1


def test_label_noise_drop_and_downweight(fast_config, tmp_path, monkeypatch):
    import numpy as np

    from justfit.config import JustfitConfig
    from justfit.data import label_audit

    df = planted_texts(150)
    truth = df["label"].copy()
    flipped = [5, 17, 33, 48, 71, 90, 111, 130]
    df.loc[flipped, "label"] = df.loc[flipped, "label"].map({"pos": "neg", "neg": "pos"})
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    # Features that know the true class (the backbone's job), so the planted flips are the answer.
    rng = np.random.default_rng(0)
    by_text = {t: (1.0 if lab == "pos" else -1.0) for t, lab in zip(df["text"], truth, strict=True)}

    def fake_embed(texts, model=None, **kw):
        x = np.array([[by_text[t]] * 4 for t in texts]) + rng.normal(0, 0.3, (len(texts), 4))
        return x.astype(np.float32), {"cache_hit": False}

    monkeypatch.setattr(label_audit, "embed_cached", fake_embed)  # where the label audit calls it
    cfg = run_cfg(fast_config, str(p), label_noise="drop")
    splits, report, _ = prepare_data(JustfitConfig.from_dict(cfg))
    issues = set(report.labels.issues["row"])
    in_train = set(flipped) & (issues | set(splits.train.index))
    assert in_train and in_train <= issues  # every flipped training row was caught
    assert not issues & set(splits.train.index)
    assert set(report.removed[report.removed["rule"] == "label_noise"]["row"]) == issues
    cfg["quality"]["label_noise"] = "downweight"
    splits, report, _ = prepare_data(JustfitConfig.from_dict(cfg))
    w = report.sample_weight
    assert set(w[w < 1].index) == set(report.labels.issues["row"]) and (w[w < 1] == 0.2).all()
    assert set(w.index) == set(splits.train.index)
    cfg["output"]["name"] = "weighted"
    result = finetune(JustfitConfig.from_dict(cfg))  # the weights reach the loss without error
    assert result.data["quality"]["label_issues"] == len(issues)


def test_cleaning_that_empties_a_class_stops_before_training(fast_config, tmp_path):
    p = tmp_path / "d.csv"
    df = planted_texts(60)
    df.loc[df["label"] == "neg", "text"] = "   "
    df.to_csv(p, index=False)
    with pytest.raises(DataError, match=r"single class.*empty_text \(30 rows\)"):
        finetune(run_cfg(fast_config, str(p)))
    assert not (tmp_path / "runs" / "r").exists()


def test_cli_clean_writes_outputs_and_refuses_to_overwrite(tmp_path, tiny_model, capsys):
    p = tmp_path / "dirty.csv"
    df = dirty().rename(columns={"text": "review", "label": "stars"})
    df["extra"] = range(len(df))
    df.to_csv(p, index=False)
    out = tmp_path / "out" / "clean.csv"
    args = ["clean", str(p), "-o", str(out), "--model", tiny_model, "--quiet", "--set", "quality.label_noise_folds=3"]
    assert main(args) == 0
    cleaned = pd.read_csv(out)
    assert list(cleaned.columns) == ["review", "stars", "extra"]  # the source's columns, in order
    assert len(cleaned) == 160 and cleaned["extra"].tolist() == list(range(160))
    removed = pd.read_csv(out.parent / "removed.csv")
    assert len(removed) == 6
    report = json.loads((out.parent / "data_report.json").read_text())
    assert report["rows_in"] == 166 and report["rows_out"] == 160 and report["label_noise"]["rows"] == 160
    printed = capsys.readouterr().out
    assert "exact_duplicate" in printed and "160 rows kept" in printed

    before = out.read_bytes()
    assert main(args) == 2
    assert "already exist" in capsys.readouterr().err and out.read_bytes() == before
    assert main(args + ["--force", "--rules", "normalize,empty_text,missing_label", "--label-noise", "off"]) == 0
    assert len(pd.read_csv(out)) == 164  # only the empty text and the missing label go


def test_cli_clean_bad_input(tmp_path, capsys):
    assert main(["clean", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "c.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    p = tmp_path / "d.csv"
    planted_texts(20).to_csv(p, index=False)
    assert main(["clean", str(p), "--rules", "normalize,exact_dup", "-o", str(tmp_path / "c.csv")]) == 2
    assert "exact_duplicate" in capsys.readouterr().err
    assert main(["clean", str(p), "-o", str(tmp_path / "c.json")]) == 2
    assert ".csv" in capsys.readouterr().err
    assert main(["clean", "--list-rules"]) == 0
    assert "near_duplicate" in capsys.readouterr().out


def test_max_rows_samples_before_cleaning(fast_config, tmp_path):
    from justfit.config import JustfitConfig

    p = tmp_path / "dirty.csv"
    dirty(300).to_csv(p, index=False)
    cfg = run_cfg(fast_config, str(p), label_noise="off")
    cfg["data"]["max_rows"] = 100
    splits, report, _ = prepare_data(JustfitConfig.from_dict(cfg))
    kept = sum(splits.sizes().values())
    assert kept + len(report.removed) == 100  # the sample, and only the sample, is accounted for
