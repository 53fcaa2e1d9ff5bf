"""Edge cases of user input: each is refused with a clear message or handled, never a traceback."""

import math

import pandas as pd
import pytest

from justfit import Finetuner, finetune
from justfit.config import DataConfig, JustfitConfig
from justfit.data.io import load_data, load_table
from justfit.data.splitting import make_splits, stratified_sample
from justfit.errors import DataError, RunDirError
from justfit.resume import run_dir_for
from justfit.training import EarlyStopping
from tests.conftest import FAST
from tests.training.test_early_stopping import replay


@pytest.mark.parametrize("name", [".", "..", "a/b", "x.partial"])
def test_run_name_must_be_plain(name, tmp_path):
    cfg = JustfitConfig().updated({"output.dir": str(tmp_path), "output.name": name, "output.overwrite": True})
    with pytest.raises(RunDirError, match="plain folder name"):
        run_dir_for(cfg)


def test_overwrite_only_replaces_runs(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    cfg = JustfitConfig().updated({"output.dir": str(tmp_path), "output.name": "mine", "output.overwrite": True})
    with pytest.raises(RunDirError, match="not a justfit run directory"):
        run_dir_for(cfg)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(RunDirError, match="is a file"):
        run_dir_for(cfg.updated({"output.dir": str(f)}))


def test_explicit_text_column_through_the_whole_run(tiny_model, planted, tmp_path):
    p = tmp_path / "d.csv"
    planted.rename(columns={"text": "review", "label": "y"}).to_csv(p, index=False)
    r = finetune({"data": {"path": str(p), "text_column": "review", "label_column": "y"},
                  "model": {"name": tiny_model}, "training": {**FAST["training"], "epochs": 1},
                  "output": {"dir": str(tmp_path / "runs"), "name": "r"}})
    assert r.data["columns"] == {"text": "review", "label": "y"}


def test_text_column_detected_by_content(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"blurb": ["a long text here", "another long one"], "stars": [1, 2]}).to_csv(p, index=False)
    lt = load_table(p)
    assert (lt.columns.text, lt.columns.label) == ("blurb", "stars")


def test_same_text_and_label_column(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b"], "label": [1, 2]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="both 'label'"):
        load_table(p, text_column="label", label_column="label")


def test_path_with_separate_test_is_refused():
    with pytest.raises(DataError, match="not both"):
        load_data(DataConfig(path="a.csv", test="b.csv"))


def test_hf_folder_prefers_requested_split(tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}),
                 "test": Dataset.from_dict({"text": ["d"], "label": [1]})}).save_to_disk(tmp_path / "dd")
    assert len(load_table(tmp_path / "dd", prefer="test").frame) == 1


def test_mixed_label_types_across_files(tmp_path):
    from justfit.data.io import ColumnSpec, LoadedData

    spec = ColumnSpec("text", "label")
    tr = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": [1, 2] * 10})
    va = pd.DataFrame({"text": ["x", "y"], "label": ["1", "2"]})
    s = make_splits({"train": LoadedData(tr, spec, "tr"), "validation": LoadedData(va, spec, "va")},
                    DataConfig(train="tr", validation="va"))
    assert set(s.train["label"]) == {"1", "2"} == set(s.validation["label"])


def test_sample_with_many_small_classes_does_not_crash():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": [i % 5 for i in range(20)]})
    assert len(stratified_sample(df, 18, 0)) == 18


def test_early_stopping_reason_when_metric_is_never_a_number():
    cb = EarlyStopping("val_loss", patience=0)
    replay(cb, [math.nan, math.nan])
    assert "never a number" in cb.reason


def test_fit_api_edge_cases(tiny_model, planted):
    ft = Finetuner(model=tiny_model, config={"training": {**FAST["training"], "epochs": 1}})
    with pytest.raises(DataError, match="missing"):
        ft.fit([None, "a", "b"], ["x", "y", "x"])
    with pytest.raises(DataError, match="brings its own labels"):
        ft.fit("data.csv", ["x"])
    with pytest.raises(DataError, match="duplicate column names"):
        ft.fit(pd.DataFrame([["a", "b", "x"]], columns=["text", "text", "label"]))
    df = pd.DataFrame({"text": planted["text"], 5: planted["label"]})
    assert ft.fit(df, None).classes_ == ["neg", "pos"]


@pytest.mark.parametrize(("task", "bad", "message"), [
    ("classification", None, "got None"),
    ("classification", {"text": "hi"}, "got a dict"),
    ("classification", "IMAGES", "numeric array of shape \\(2, 8, 8\\)"),
    ("classification", [1, 2], "Input 0 to predict is a int, not a text"),
    ("classification", ["a", None], "Input 1 to predict is missing"),
    ("classification", "WAVES", "Input 0 to predict is a ndarray, not a text"),
    ("classification", "FRAME_NAN", "Input 1 to predict is missing"),
    ("regression", "SERIES_NAN", "Input 1 to predict is missing"),
    ("token-classification", "IMAGES", "sentences \\(strings, or lists of words\\); got a numeric array"),
])
def test_predict_never_turns_what_is_not_a_text_into_one(task, bad, message):
    """A text model's predict refuses numbers, missing values, arrays and dicts instead of classifying their
    str() (which gave confident predictions for ``{"text": "hi"}``'s key or an image's repr)."""
    import numpy as np
    import pandas as pd

    from justfit.config import JustfitConfig
    from justfit.errors import DataError
    from justfit.tasks import get_task

    bad = {"IMAGES": np.zeros((2, 8, 8), np.uint8), "WAVES": [np.zeros(160)],
           "FRAME_NAN": pd.DataFrame({"text": ["a", None]}), "SERIES_NAN": pd.Series(["a", float("nan")])}.get(
        bad, bad) if isinstance(bad, str) else bad
    with pytest.raises(DataError, match=message):
        get_task(task).inputs(bad, JustfitConfig())
    ok = get_task(task).inputs(np.array(["a b", "c"]), JustfitConfig())
    assert ok == ["a b", "c"]


@pytest.mark.parametrize("decode", ["image", "audio"])
def test_a_media_dict_without_bytes_or_path_is_refused_in_one_line(decode):
    from justfit.errors import DataError

    if decode == "image":
        from justfit.tasks.image.task import decode_image as read
    else:
        from justfit.tasks.audio.sources import decode_audio

        def read(source):
            return decode_audio(source, 16000)
    with pytest.raises(DataError, match="neither 'bytes' nor 'path' \\(its keys: 'a'\\)"):
        read({"a": 1})


@pytest.mark.parametrize(("task", "data", "fits"), [
    ("image-classification", "tweets", "classification"), ("audio-classification", "tweets", "classification"),
    ("classification", "digits", "image-classification"), ("regression", "digits", "image-classification"),
    ("audio-classification", "digits", "image-classification")])
def test_a_task_given_for_other_inputs_than_the_data_holds_is_one_line(task, data, fits, tmp_path):
    """Reported: task=image-classification on the tweets ended in `KeyError: 'image'` from the cleaning stage.
    Any task whose inputs the data does not hold is refused before the data stage's work, naming the task
    that fits, and no run folder is left."""
    cfg = {**FAST, "task": task, "data": {"path": data, "max_rows": 200},
           "output": {"dir": str(tmp_path / "runs"), "name": "x"}}
    with pytest.raises(DataError, match=rf"task={task} reads .* inputs, but the data's inputs are .*task={fits}\."):
        finetune(cfg)
    assert not any((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True


def test_the_estimator_refuses_inputs_its_task_does_not_read():
    """Image arrays fitted with task=classification used to train a text model on the arrays' str(); texts
    with an image task were read as file names."""
    import numpy as np

    labels = ["a", "b"] * 10
    with pytest.raises(DataError, match=r"task=classification reads 'text' inputs, but the data's inputs are "
                                        r"'image'.*task=image-classification"):
        Finetuner(config={"task": "classification"}).fit(np.zeros((20, 8, 8), dtype=np.uint8), labels)
    with pytest.raises(DataError, match=r"task=image-classification reads 'image' inputs, but the data's inputs "
                                        r"are 'text'.*task=classification"):
        Finetuner(config={"task": "image-classification"}).fit(["a text", "another"] * 10, labels)
