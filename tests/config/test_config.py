import pytest

from justfit.config import JustfitConfig, parse_overrides, read_yaml
from justfit.errors import ConfigError


def test_defaults_are_valid_and_resolved():
    cfg = JustfitConfig()
    assert cfg.training.optimizer == "adamw"
    assert cfg.early_stopping.monitor == "auto"
    assert "training:" in cfg.to_yaml()


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError, match=r"Unknown config key 'training.lrate'.*Did you mean 'lr'"):
        JustfitConfig.from_dict({"training": {"lrate": 1e-4}})


def test_unknown_section_is_rejected():
    with pytest.raises(ConfigError, match="Did you mean 'training'"):
        JustfitConfig.from_dict({"trainig": {}})


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"training.epochs.*'many'"):
        JustfitConfig.from_dict({"training": {"epochs": "many"}})


def test_negative_lr_rejected():
    with pytest.raises(ConfigError, match="training.lr"):
        JustfitConfig.from_dict({"training": {"lr": -1}})


@pytest.mark.parametrize("bad", ["all", "bottom:x", "top:2"])
def test_freeze_strategy_validated(bad):
    with pytest.raises(ConfigError, match="model.freeze"):
        JustfitConfig.from_dict({"model": {"freeze": bad}})


def test_split_fractions_must_leave_training_data():
    with pytest.raises(ConfigError, match="val_size"):
        JustfitConfig.from_dict({"data": {"val_size": 0.5, "test_size": 0.45}})


def test_overrides_parse_scalars_and_apply():
    ov = parse_overrides(["training.lr=1e-4", "early_stopping.enabled=false", "model.freeze=bottom:2",
                          "output.name=001", "model.dropout=null", "training.max_grad_norm=null"])
    cfg = JustfitConfig().updated(ov)
    assert cfg.training.lr == 1e-4 and cfg.early_stopping.enabled is False and cfg.model.freeze == "bottom:2"
    assert cfg.output.name == "001" and cfg.model.dropout is None and cfg.training.max_grad_norm is None


def test_numeric_names_in_yaml_are_strings():
    cfg = JustfitConfig.from_dict({"output": {"name": 2024}, "data": {"label_column": 5}})
    assert cfg.output.name == "2024" and cfg.data.label_column == "5"


def test_override_unknown_key_suggests():
    with pytest.raises(ConfigError, match="Did you mean 'patience'"):
        JustfitConfig().updated({"early_stopping.patiance": 3})


def test_override_without_equals():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_overrides(["training.lr"])


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_yaml(lst)


def test_yaml_round_trip(tmp_path):
    cfg = JustfitConfig().updated({"training.lr": 3e-5, "data.max_rows": 100})
    p = tmp_path / "c.yaml"
    p.write_text(cfg.to_yaml())
    assert JustfitConfig.from_yaml(p) == cfg


def test_a_value_error_quotes_the_value_once_and_names_every_unknown_rule():
    """Reported: "Did you mean 'regression'?. Got 'regresion' instead." said the value twice with doubled
    punctuation, and `--rules normalise,empty` named only the first unknown rule."""
    with pytest.raises(ConfigError) as task:
        JustfitConfig.from_dict({"task": "regresion"})
    assert str(task.value).endswith("Did you mean 'regression'?") and "?." not in str(task.value)
    assert "Got" not in str(task.value)
    with pytest.raises(ConfigError) as rules:
        JustfitConfig.from_dict({"quality": {"rules": ["normalise", "empty", "exact_duplicate"]}})
    text = str(rules.value)
    assert "unknown cleaning rules 'normalise', 'empty'" in text
    assert "Did you mean 'normalize'?" in text and "Did you mean 'empty_text'?" in text
    with pytest.raises(ConfigError, match=r"Input should be a valid integer.*\. Got 'x' instead\.$"):
        JustfitConfig.from_dict({"training": {"epochs": "x"}})
