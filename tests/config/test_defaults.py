"""Training defaults by model family, each with its source; set-ness survives config updates and resumes."""

import pytest

from justfit.config import JustfitConfig
from justfit.defaults import (
    GLOBAL,
    TABLE,
    apply_defaults,
    epochs_for_steps,
    explicit_keys,
    family_of,
    reresolve,
)


def test_the_family_comes_from_the_checkpoints_model_type():
    assert family_of("bert") == family_of("roberta") == family_of("deberta-v2") == "text-encoder"
    assert family_of("justfit-efficientnet-lite") == family_of("mobilenet_v2") == family_of("resnet") == "conv-net"
    assert family_of("vit") == "vit-like" and family_of("whisper") == "whisper" and family_of("hubert") == "wav2vec2-like"
    assert family_of("gpt2") is None and family_of(None) is None


def test_updated_keeps_which_keys_were_given():
    cfg = JustfitConfig.from_dict({"training": {"lr": 1e-3}}).updated({"model.freeze": "backbone"})
    given = explicit_keys(cfg)
    assert {"training.lr", "model.freeze"} <= given and "training.epochs" not in given
    assert "training.lr" not in explicit_keys(JustfitConfig())


def test_an_unset_key_takes_its_familys_measured_value_and_says_where_it_came_from():
    cfg, prov = apply_defaults(JustfitConfig.from_dict({"training": {"epochs": 2}}), "justfit-efficientnet-lite")
    assert cfg.training.lr == 5e-4 and cfg.training.epochs == 2
    keys = prov["keys"]
    assert prov["family"] == "conv-net" and keys["training.epochs"]["source"] == "as given"
    assert keys["training.lr"]["source"].startswith("measured for conv-net (EfficientNet-Lite0): bench/README.md, image.py")
    assert keys["training.warmup_ratio"] == {"value": 0.1, "source": GLOBAL}
    # Applying twice changes nothing; a value the user gives is never replaced.
    again, _ = apply_defaults(cfg, "justfit-efficientnet-lite")
    assert again.training.lr == 5e-4
    mine, prov = apply_defaults(JustfitConfig.from_dict({"training": {"lr": 1e-4}}), "justfit-efficientnet-lite")
    assert mine.training.lr == 1e-4 and prov["keys"]["training.lr"]["source"] == "as given"


def test_a_head_on_a_frozen_backbone_and_an_unknown_family():
    cfg, prov = apply_defaults(JustfitConfig.from_dict({"model": {"freeze": "backbone"}}), "bert")
    assert (cfg.training.lr, cfg.training.epochs) == (1e-3, 10)
    assert "a head on a frozen backbone" in prov["keys"]["training.lr"]["source"]
    cfg, prov = apply_defaults(JustfitConfig(), "gpt2")
    assert cfg.training.lr == JustfitConfig().training.lr and prov["family"] == "unknown"
    assert all(v["source"] == GLOBAL for v in prov["keys"].values())


def test_a_run_records_its_defaults_and_a_resume_resolves_them_the_same(fast_config, planted_csv, tmp_path):
    from justfit import finetune
    from justfit._files import read_json
    from justfit.resume import CHECKPOINTS, REQUEST

    cfg = {**fast_config, "data": {"path": planted_csv}, "training": {"epochs": 1, "bf16": False, "lr": 1e-3}}
    result = finetune(cfg, keep_checkpoints=True)
    d = result.data["defaults"]
    assert d["family"] == "text-encoder" and d["model_type"] == "bert"
    assert d["keys"]["training.lr"] == {"value": 1e-3, "source": "as given"}
    assert d["keys"]["training.batch_size"]["source"].startswith("measured for text-encoder (all-MiniLM-L6-v2)")
    # The saved request holds only what was given, so a resumed run resolves the family's values again.
    request = read_json(tmp_path / "runs" / "r" / CHECKPOINTS / REQUEST)["config"]
    assert "batch_size" not in request.get("training", {}) and request["training"]["lr"] == 1e-3


@pytest.mark.parametrize("name", ["training.lr", "training.batch_size", "training.epochs"])
def test_the_keys_are_real_config_keys(name):
    section, key = name.split(".")
    assert key in getattr(JustfitConfig(), section).model_fields


def test_a_remedy_that_unfreezes_the_body_takes_full_fine_tunings_defaults():
    """The founding recipe (a head on a frozen body, Adam at 2e-5): the 10 epochs defaulted for a head do not
    follow the body into full fine-tuning; the rate the user gave and a value the remedy set are kept."""
    from justfit.defaults import TABLE, reresolve

    given = JustfitConfig.from_dict({"model": {"freeze": "backbone"}, "training": {"lr": 2e-5, "optimizer": "adam"}})
    first, prov = apply_defaults(given, "bert")
    assert first.training.epochs == 10
    unfrozen = reresolve(first.updated({"model.freeze": "none"}), first, prov)
    full, _ = apply_defaults(JustfitConfig.from_dict({"training": {"lr": 2e-5}}), "bert")
    assert unfrozen.training.epochs == full.training.epochs != 10
    assert unfrozen.training.lr == 2e-5 and unfrozen.training.optimizer == "adam"
    assert unfrozen.training.batch_size == TABLE["text-encoder"].settings.get("training.batch_size", 16)
    longer = reresolve(first.updated({"model.freeze": "none", "training.epochs": 12}), first, prov)
    assert longer.training.epochs == 12  # the remedy's own value
    assert reresolve(first, first, prov) == first  # nothing changed: nothing resolved again


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_an_optimizer_with_coupled_l2_takes_torchs_weight_decay_of_0(optimizer):
    """justfit's 0.01 is a decoupled (AdamW) value: with Adam or SGD it would be L2 on the gradient. Unset, the
    weight decay is torch's own default, 0, and says so; given, it is kept; AdamW keeps 0.01."""
    from justfit.defaults import COUPLED_SOURCE, describe

    cfg, prov = apply_defaults(JustfitConfig.from_dict({"training": {"optimizer": optimizer}}), "bert")
    assert cfg.training.weight_decay == 0.0 and prov["keys"]["training.weight_decay"]["source"] == COUPLED_SOURCE
    assert "weight_decay 0 (torch's)" in describe(prov)
    mine, _ = apply_defaults(JustfitConfig.from_dict({"training": {"optimizer": optimizer, "weight_decay": 1e-4}}), "bert")
    assert mine.training.weight_decay == 1e-4
    assert apply_defaults(JustfitConfig(), "bert")[0].training.weight_decay == 0.01


def test_epochs_grow_to_the_familys_fewest_steps_on_a_small_set():
    assert epochs_for_steps(5, 240, 16, 1, 150) == 10  # 15 steps an epoch
    assert epochs_for_steps(5, 2000, 16, 1, 150) == 5  # 125 steps an epoch: already more than 150 in 5
    assert epochs_for_steps(5, 240, 16, 2, 150) == 19 and epochs_for_steps(5, 1, 16, 1, 150) == 150
    steps = TABLE["text-encoder"].min_steps
    cfg, prov = apply_defaults(JustfitConfig(), "bert", n_train=250)
    assert cfg.training.epochs == epochs_for_steps(5, 250, 16, 1, steps) > 5
    source = prov["keys"]["training.epochs"]["source"]
    assert f"at least {steps} optimisation steps on 250 training rows at batch 16" in source and prov["n_train"] == 250
    # A large set, an unknown n_train, a given epoch count, a head on a frozen body, a family not measured:
    big_cfg, prov = apply_defaults(JustfitConfig(), "bert", n_train=5000)
    assert big_cfg.training.epochs == 5  # 5 epochs already give the steps; the source says the rule decided it
    assert "at least" in prov["keys"]["training.epochs"]["source"] and "training.epochs" not in explicit_keys(big_cfg)
    assert apply_defaults(JustfitConfig(), "bert")[0].training.epochs == 5
    mine, prov = apply_defaults(JustfitConfig.from_dict({"training": {"epochs": 3}}), "bert", n_train=250)
    assert mine.training.epochs == 3 and prov["keys"]["training.epochs"]["source"] == "as given"
    frozen = JustfitConfig.from_dict({"model": {"freeze": "backbone"}})
    assert apply_defaults(frozen, "bert", n_train=250)[0].training.epochs == 10
    assert apply_defaults(JustfitConfig(), "whisper", n_train=250)[0].training.epochs == 5  # no steps rule measured
    # Batch size and accumulation count: the steps are optimisation steps.
    big = JustfitConfig.from_dict({"training": {"batch_size": 32, "grad_accum_steps": 2}})
    assert apply_defaults(big, "bert", n_train=250)[0].training.epochs == epochs_for_steps(5, 250, 32, 2, steps)
    # Applying twice changes nothing; a remedy that unfreezes a frozen body resolves the epochs for the data again.
    again, _ = apply_defaults(cfg, "bert", n_train=250)
    assert again.training.epochs == cfg.training.epochs
    first, prov = apply_defaults(frozen, "bert", n_train=250)
    unfrozen = reresolve(first.updated({"model.freeze": "none"}), first, prov)
    assert unfrozen.training.epochs == epochs_for_steps(5, 250, 16, 1, steps)
