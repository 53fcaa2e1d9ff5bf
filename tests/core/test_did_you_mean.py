"""A misspelt name gets one line with the valid names and the closest one, from every registry and
every fixed set of choices, and through the command line for --data and --model."""

import importlib
import re
from pathlib import Path

import pytest

import justfit
from justfit._registry import Registry
from justfit.cli.main import main
from justfit.errors import ConfigError, DataError, JustfitError

SRC = Path(justfit.__file__).parent


def _registries() -> list[tuple[str, Registry]]:
    """Every registry defined in justfit's source (found by reading it, so a new one is tested too)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        names = re.findall(r"^(\w+)\s*:\s*Registry\[.*?\]\s*=\s*Registry\(", text, re.M)
        if names:
            parts = path.relative_to(SRC).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts  # a package is its own module, not __init__
            module = importlib.import_module(".".join(("justfit", *parts)))
            found += [(f"{module.__name__}.{n}", getattr(module, n)) for n in names]
    return found


REGISTRIES = _registries()


def _misspelt(name: str) -> str:
    """``name`` without its middle character (``tweets`` -> ``tweds``... ``adamw`` -> ``admw``)."""
    return name[:len(name) // 2] + name[len(name) // 2 + 1:]


def test_every_registry_in_the_source_is_found():
    assert len(REGISTRIES) >= 11
    kinds = {r.kind for _, r in REGISTRIES}
    assert {"packaged data set", "model preset", "optimizer", "scheduler", "task", "recipe", "cleaning rule",
            "augmentation", "image augmentation", "audio augmentation", "diagnosis rule"} <= kinds


@pytest.mark.parametrize("where,registry", REGISTRIES, ids=[w for w, _ in REGISTRIES])
def test_misspelt_name_in_any_registry_gets_the_closest(where, registry):
    name = max(registry.names(), key=len)  # a long name: dropping one letter leaves it unambiguous
    wrong = _misspelt(name)
    assert wrong not in registry
    with pytest.raises(ConfigError) as got:
        registry.get(wrong)
    message = str(got.value)
    assert message.startswith(f"Unknown {registry.kind} '{wrong}'.")
    assert all(n in message for n in registry.names())
    assert message.endswith(f"Did you mean '{name}'?") and "\n" not in message
    assert registry.suggest(wrong) == f" Did you mean '{name}'?"
    assert registry.suggest("zzzzzzzzzzzz") == ""


def _leakage(action):
    import pandas as pd

    from justfit.data.leakage import audit_leakage

    frame = pd.DataFrame({"text": ["a b c"], "label": ["x"]})
    audit_leakage(frame, {"test": frame}, action=action)


def _freeze(strategy):
    from transformers import BertConfig, BertForSequenceClassification

    from justfit.models.freezing import apply_freeze

    config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    apply_freeze(BertForSequenceClassification(config), strategy)


def _regression_loss(loss):
    from justfit.tasks.text.task import TextRegressionTask

    TextRegressionTask(tokenizer=None, loss=loss)


def _keyword(word):
    from justfit.catalogue.speech_sets import build_keywords

    build_keywords(Path("/nonexistent-justfit-keywords"), words=[word])


def _tracker(name):
    from justfit.tracking import check_trackers

    check_trackers([name])


@pytest.mark.parametrize("call,wrong,right,kind", [
    (_tracker, "tensorbord", "tensorboard", ConfigError),
    (_leakage, "remve", "remove", ConfigError),
    (_freeze, "backbon", "backbone", ConfigError),
    (_regression_loss, "hubr", "huber", ConfigError),
    (_keyword, "yess", "yes", DataError),
], ids=["tracker", "leakage action", "freeze strategy", "regression loss", "keyword"])
def test_fixed_choices_get_the_closest(call, wrong, right, kind):
    with pytest.raises(kind, match=rf"^Unknown .*'{wrong}'\. Valid choices: .*Did you mean '{right}'\?$"):
        call(wrong)


@pytest.mark.parametrize("args,needle", [
    (["train", "--data", "tweet"], "Did you mean 'tweets'?"),
    (["check", "--data", "drugreviews"], "Did you mean 'drugreview'?"),
    (["train", "--data", "tweets", "--model", "minlm"], "Did you mean 'minilm'?"),
    (["train", "--data", "tweets", "--model", "tiny-bert-randon"], "Did you mean 'tiny-bert-random'?"),
    (["train", "--data", "tweets", "--set", "training.optimizer=admw"], "Did you mean 'adamw'?"),
    (["train", "--data", "tweets", "--set", "training.scheduler=cosin"], "Did you mean 'cosine'?"),
    (["train", "--data", "tweets", "--set", "task=regresion"], "Did you mean 'regression'?"),
    (["train", "--data", "tweets", "--track", "mlfow"], "Did you mean 'mlflow'?"),
])
def test_cli_names_a_misspelt_name_in_one_line(args, needle, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a name that is no preset is tried as a hub id: never wait on one
    rc = main(args)
    err = capsys.readouterr().err
    assert rc != 0 and needle in err, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err


def test_a_missing_file_is_not_taken_for_a_misspelt_set(capsys):
    assert main(["train", "--data", "tweets.csv"]) != 0
    err = capsys.readouterr().err
    assert "does not exist" in err and "Did you mean" not in err


def test_hub_id_of_a_misspelt_preset_gets_the_preset_when_the_hub_is_offline(monkeypatch):
    from justfit.models.factory import resolve_model_name

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(JustfitError, match=r"Did you mean 'minilm'\?$"):
        resolve_model_name("minlm")


@pytest.mark.parametrize(("given", "hint"), [("bottm:2", "did you mean 'bottom:2'?"),
                                             ("backbon", "did you mean 'backbone'?"),
                                             ("bottom:x", "did you mean 'bottom:K'?")])
def test_a_misspelt_freeze_strategy_is_suggested_once(given, hint):
    from justfit.config import JustfitConfig
    from justfit.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        JustfitConfig.from_dict({"model": {"freeze": given}})
    message = str(info.value)
    assert hint in message and message.count("instead") == 1 and "\n" not in message
