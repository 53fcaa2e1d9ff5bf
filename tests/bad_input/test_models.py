"""Model loading faults, by kind: a missing folder or an unreachable hub fails at once with one line,
a cached hub model loads with no network, and a checkpoint of the wrong kind is refused once, before
any stage (the label audit included) uses it."""

from __future__ import annotations

import time

import pytest

from justfit.errors import ModelError
from justfit.models import factory
from justfit.models.factory import check_text_model, resolve_model_name


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["./my-bert", "../nowhere/bert", "a/b/c", "/no/such/model", "~/no-such-model-x",
                                  "models/my-bert/", "weird name with spaces"])
def test_a_path_that_does_not_exist_is_a_missing_folder_at_once(in_tmp, name):
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="does not exist") as e:
        resolve_model_name(name)
    assert time.perf_counter() - t0 < 1.0
    assert "\n" not in str(e.value)


def test_relative_folder_under_an_existing_parent(in_tmp):
    (in_tmp / "models").mkdir()
    with pytest.raises(ModelError, match="Model folder 'models/my-bert' does not exist"):
        resolve_model_name("models/my-bert")


@pytest.mark.parametrize("name", ["models/my-bert", "bert-base-uncased", "org/some-model"])
def test_hub_id_offline_and_not_cached_fails_at_once(in_tmp, monkeypatch, name):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="not in the local Hugging Face cache, and HF_HUB_OFFLINE is set"):
        resolve_model_name(name)
    assert time.perf_counter() - t0 < 2.0


def test_unreachable_hub_says_so_without_retrying(in_tmp, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(factory, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelError, match="cannot be reached"):
        resolve_model_name("bert-base-uncased")


def test_cached_hub_model_resolves_to_its_snapshot_offline(tmp_path, monkeypatch, tiny_model):
    import shutil

    from huggingface_hub import constants

    cache = tmp_path / "hub"
    repo = cache / "models--org--tiny"
    snap = repo / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_model, snap)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = resolve_model_name("org/tiny")
    assert source == str(snap)
    assert check_text_model("org/tiny") == str(snap)


@pytest.mark.parametrize("setup", ["file", "no_config"])
def test_a_local_path_that_is_not_a_model_folder(tmp_path, setup):
    if setup == "file":
        target = tmp_path / "model.bin"
        target.write_bytes(b"x")
        match = "is a file"
    else:
        target = tmp_path / "empty-model"
        target.mkdir()
        match = "holds no config.json"
    with pytest.raises(ModelError, match=match):
        resolve_model_name(str(target))


def _tiny_vit(path):
    from transformers import ViTConfig, ViTModel

    ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                       image_size=16, patch_size=8)).save_pretrained(path)
    return str(path)


def _tiny_text_without_tokenizer(path, tiny_model):
    import shutil

    shutil.copytree(tiny_model, path)
    for f in path.iterdir():
        if "token" in f.name or f.name == "vocab.txt":
            f.unlink()
    return str(path)


@pytest.mark.parametrize("kind", ["vit", "no_tokenizer"])
def test_wrong_kind_of_checkpoint_is_refused_before_any_stage(tmp_path, tiny_model, planted_csv, kind):
    from justfit import finetune
    from justfit.data.label_audit import find_label_issues

    model = _tiny_vit(tmp_path / "vit") if kind == "vit" else _tiny_text_without_tokenizer(tmp_path / "nt", tiny_model)
    match = "cannot be used for sequence classification" if kind == "vit" else "no tokenizer files"
    with pytest.raises(ModelError, match=match):
        check_text_model(model)
    # The label audit (the first stage to use the model) and the whole run give the same error.
    with pytest.raises(ModelError, match=match):
        find_label_issues(["a b", "c d"] * 10, ["x", "y"] * 10, model=model)
    with pytest.raises(ModelError, match=match):
        finetune({"data": {"path": planted_csv}, "model": {"name": model},
                  "output": {"dir": str(tmp_path / "runs"), "name": "r"}})
    assert not (tmp_path / "runs").exists()
