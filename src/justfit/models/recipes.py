"""Training recipes: short, named compositions of stages.

A stage says which part of the model trains (a freeze strategy), for how many epochs, at
which peak learning rate, with which layer-wise decay, and whether early stopping may end
it. Each stage gets a fresh optimiser and learning-rate schedule (warmup, then decay); the
weights carry over from one stage to the next, and the histories are joined.

Add one with ``RECIPES.register(name, fn, help=...)`` where ``fn(config, n_layers)``
returns the list of stages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from justfit._registry import Registry
from justfit.errors import ConfigError


@dataclass(frozen=True)
class Stage:
    name: str
    freeze: str
    epochs: int
    lr: float
    layer_decay: float | None = None
    early_stopping: bool = True

    def training_overrides(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "lr": self.lr, "layer_decay": self.layer_decay}


RECIPES: Registry[Callable[[Any, int], list[Stage]]] = Registry("recipe")

# Layer-wise decay of the unfrozen stages when training.layer_decay is unset.
DEFAULT_UNFREEZE_DECAY = 0.8


def _head(cfg: Any) -> Stage:
    t = cfg.training
    return Stage("head", "backbone", t.head_epochs, t.head_lr, None, early_stopping=False)


def standard(cfg: Any, n_layers: int) -> list[Stage]:
    t = cfg.training
    return [Stage("train", cfg.model.freeze, t.epochs, t.lr, t.layer_decay)]


def gradual_unfreeze(cfg: Any, n_layers: int) -> list[Stage]:
    t = cfg.training
    return [_head(cfg), Stage("all", "none", t.epochs, t.lr, t.layer_decay or DEFAULT_UNFREEZE_DECAY)]


def ulmfit(cfg: Any, n_layers: int) -> list[Stage]:
    t = cfg.training
    decay = t.layer_decay or DEFAULT_UNFREEZE_DECAY
    stages = [_head(cfg)]
    # Unfreeze the top third of the layers, then the top two thirds, one epoch each, then everything.
    for frozen in sorted({n_layers * 2 // 3, n_layers // 3} - {0, n_layers}, reverse=True):
        stages.append(Stage(f"top{n_layers - frozen}", f"bottom:{frozen}", 1, t.lr, decay, early_stopping=False))
    stages.append(Stage("all", "none", t.epochs, t.lr, decay))
    return stages


RECIPES.register("standard", standard, help="one stage: train what model.freeze leaves trainable, for training.epochs")
RECIPES.register("gradual_unfreeze", gradual_unfreeze,
                 help="fastai fine_tune: the head alone for head_epochs at head_lr (backbone frozen, on cached "
                      "features), then everything for epochs at lr with layer-wise decay")
RECIPES.register("ulmfit", ulmfit,
                 help="head alone, then the top third of the layers, then the top two thirds (one epoch each), "
                      "then everything; layer-wise decay throughout")


def check_recipe(cfg: Any) -> None:
    """Raise on an unknown recipe or one that does not combine with the model settings."""

    RECIPES.get(cfg.training.recipe)
    if cfg.training.recipe != "standard":
        if cfg.model.strategy == "lora":
            raise ConfigError(f"Recipe '{cfg.training.recipe}' unfreezes the backbone in stages, which does not "
                              "apply with model.strategy 'lora'. Use recipe 'standard' with LoRA.")
        if cfg.model.freeze != "none":
            raise ConfigError(f"Recipe '{cfg.training.recipe}' sets the freezing of each stage itself; leave "
                              f"model.freeze at 'none' (got '{cfg.model.freeze}').")


def plan(cfg: Any, n_layers: int) -> list[Stage]:
    """The stages of ``cfg.training.recipe`` for a model with ``n_layers`` blocks (the settings were
    checked by ``justfit.checks.check_settings``, which calls ``check_recipe``)."""
    return RECIPES.get(cfg.training.recipe)(cfg, n_layers)


def list_recipes() -> dict[str, str]:
    """Names and one-line descriptions of the training recipes."""
    return RECIPES.describe()
