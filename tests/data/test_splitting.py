import pandas as pd
import pytest

from justfit.config import DataConfig
from justfit.data.io import ColumnSpec, LoadedData
from justfit.data.splitting import check_unseen, make_splits, split
from justfit.errors import DataError


def frame(counts: dict) -> pd.DataFrame:
    labels = [k for k, v in counts.items() for _ in range(v)]
    return pd.DataFrame({"text": [f"t{i}" for i in range(len(labels))], "label": labels})


def test_stratified_and_disjoint():
    df = frame({"a": 600, "b": 300, "c": 100})
    s = split(df, 0.1, 0.2, seed=0)
    assert s.sizes() == {"train": 700, "validation": 100, "test": 200}
    ids = [set(x.index) for x in (s.train, s.validation, s.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set().union(*ids) == set(df.index)
    for part in (s.train, s.validation, s.test):
        share = part["label"].value_counts(normalize=True)
        assert abs(share["c"] - 0.1) < 0.02


def test_seeded_reproducible_and_saved(tmp_path):
    df = frame({"a": 50, "b": 50})
    s1, s2, s3 = split(df, seed=1), split(df, seed=1), split(df, seed=2)
    assert s1.test.index.tolist() == s2.test.index.tolist() != s3.test.index.tolist()
    s1.to_json(tmp_path / "splits.json")
    import json

    saved = json.loads((tmp_path / "splits.json").read_text())
    assert saved["test"]["rows"] == s1.test.index.tolist()


def test_tiny_class_gets_clear_message():
    with pytest.raises(DataError, match=r"'rare' \(2 rows\).*at least 3"):
        split(frame({"a": 50, "rare": 2}))


def test_single_class_refused():
    with pytest.raises(DataError, match="only one class"):
        split(frame({"a": 50}))


def test_unseen_test_labels_refused():
    with pytest.raises(DataError, match="'z'.*never occur in training"):
        check_unseen(frame({"a": 5, "b": 5}), frame({"a": 1, "z": 2}), "test")


def test_separate_test_file_only_validation_is_cut():
    loaded = {"train": LoadedData(frame({"a": 40, "b": 40}), ColumnSpec("text", "label"), "tr.csv"),
              "test": LoadedData(frame({"a": 5, "b": 5}), ColumnSpec("text", "label"), "te.csv")}
    s = make_splits(loaded, DataConfig(train="tr.csv", test="te.csv"))
    assert len(s.test) == 10 and len(s.validation) == 8 and len(s.train) == 72
    assert s.sources["test"] == "te.csv"


def test_max_rows_sample_is_stratified():
    loaded = {"all": LoadedData(frame({"a": 900, "b": 100}), ColumnSpec("text", "label"), "x")}
    s = make_splits(loaded, DataConfig(path="x", max_rows=200))
    total = sum(s.sizes().values())
    assert total == 200
    b = sum((p["label"] == "b").sum() for p in (s.train, s.validation, s.test))
    assert b == 20


def test_a_group_column_keeps_each_group_in_one_split():
    """Rows sharing a group (a speaker, a voice) never straddle train and a held-out split."""
    import numpy as np

    from justfit.data.splitting import split

    rng = np.random.default_rng(0)
    groups = [f"v{i}" for i in range(40) for _ in range(6)]
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(len(groups))],
                          "label": [str(x) for x in rng.integers(0, 3, len(groups))], "group": groups})
    s = split(frame, val_size=0.1, test_size=0.2, seed=3)
    train, val, test = (set(f["group"]) for f in (s.train, s.validation, s.test))
    assert not train & val and not train & test and not val & test
    assert 0.15 <= len(s.test) / len(frame) <= 0.25 and len(s.validation) > 0
    assert sorted(s.train.index.tolist() + s.validation.index.tolist() + s.test.index.tolist()) == list(range(240))


def test_too_few_groups_for_a_split_is_a_one_line_error():
    from justfit.data.splitting import split

    frame = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": ["a", "b"] * 10,
                          "group": ["g1"] * 10 + ["g2"] * 10})
    with pytest.raises(DataError, match="Too few groups"):
        split(frame, val_size=0.1, test_size=0.1, seed=0)
