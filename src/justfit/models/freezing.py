"""Freezing strategies: which pretrained parameters stay fixed during fine-tuning."""

from __future__ import annotations

from typing import Any

from torch import nn

from justfit.errors import ConfigError, unknown_name


def backbone_name(model: nn.Module) -> str:
    """The attribute holding ``model``'s pretrained backbone: ``base_model_prefix`` (``bert``, ``vit``,
    ``wav2vec2``), or ``encoder`` (Whisper's audio classifier keeps its encoder there)."""
    prefix = getattr(model, "base_model_prefix", "")
    if prefix in model._modules:
        return prefix
    if "encoder" in model._modules:
        return "encoder"
    raise KeyError(f"no backbone module '{prefix}' in {type(model).__name__}")


def backbone_of(model: Any) -> nn.Module:
    """``model``'s pretrained backbone (``backbone_name``; ``model.base_model`` when it has no such
    attribute): what ``freeze: backbone`` fixes and the head does not include."""
    try:
        return model._modules[backbone_name(model)]
    except KeyError:
        return model.base_model


def encoder_layers(backbone: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks: the longest ModuleList in the backbone."""
    best: nn.ModuleList | None = None
    for _, module in backbone.named_modules():
        if isinstance(module, nn.ModuleList) and (best is None or len(module) > len(best)):
            best = module
    if best is None:
        raise ConfigError("Cannot find the model's layer stack, so 'bottom:K' freezing is not possible; use 'backbone'.")
    return best


def apply_freeze(model: Any, strategy: str) -> dict[str, int]:
    """Apply ``none`` | ``backbone`` | ``bottom:K`` in place; return parameter counts."""
    backbone = backbone_of(model)
    for p in model.parameters():
        p.requires_grad = True
    if strategy == "backbone":
        for p in backbone.parameters():
            p.requires_grad = False
    elif strategy.startswith("bottom:"):
        k = int(strategy.split(":", 1)[1])
        layers = encoder_layers(backbone)
        if k > len(layers):
            raise ConfigError(
                f"freeze 'bottom:{k}' asks for more layers than the model has ({len(layers)}). "
                f"Use K <= {len(layers)}, or 'backbone' to freeze all of it."
            )
        for name, child in backbone.named_children():
            if "embed" in name.lower():
                for p in child.parameters():
                    p.requires_grad = False
        try:
            embeddings = backbone.get_input_embeddings()
        except (NotImplementedError, AttributeError):  # audio encoders: their feature layers are named above
            embeddings = None
        for p in (embeddings.parameters() if embeddings is not None else []):
            p.requires_grad = False
        for layer in layers[:k]:
            for p in layer.parameters():
                p.requires_grad = False
    elif strategy != "none":
        raise unknown_name("freeze strategy", strategy, ["none", "backbone", "bottom:K"])
    return count_params(model)


def count_params(model: Any) -> dict[str, int]:
    """All parameters, and those that train."""
    return {"total_params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}
