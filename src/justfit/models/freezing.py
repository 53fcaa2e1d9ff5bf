"""Freezing strategies: which pretrained parameters stay fixed during fine-tuning, and a frozen
module's behaviour in training mode.

A module is frozen when it has parameters and none of them trains (``requires_grad`` False),
decided per module, from its own parameters and those of its submodules (``is_frozen``). A frozen
module is frozen in every respect: in training mode it still runs in eval mode, so its
normalisation layers keep their running statistics (BatchNorm's ``running_mean``, ``running_var``
and ``num_batches_tracked`` stay the checkpoint's) and its dropout (and any other
parameter-free module inside it, such as stochastic depth) is off; its output is then the
same in every epoch, as cached features are. A frozen normalisation layer inside a block that
trains is frozen itself and keeps its statistics too. When a stage unfreezes a module, the next
``train()`` brings it back to training behaviour.

This is Keras' convention (a BatchNormalization layer with ``trainable = False`` runs in inference
mode) and what timm's ``freeze`` does with ``freeze_batch_norm_2d`` (frozen BatchNorm layers become
``FrozenBatchNorm2d``). fastai's default differs: ``Learner.freeze``/``freeze_to`` keep training
BatchNorm layers in the frozen groups (``train_bn=True``), weights and statistics, unless the
``BnFreeze`` callback is added.

``keep_frozen_fixed`` puts that behaviour on the model itself: every module's ``train`` is
replaced by one that, after the usual ``nn.Module.train``, puts each frozen module in eval mode.
So it holds after any later ``train()`` call, on the model, a submodule, a peft or DDP wrapper
around it, or a ``copy.deepcopy`` of it.
"""

from __future__ import annotations

import contextlib
import threading
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


def encoder_layers(backbone: nn.Module, config: Any = None) -> nn.ModuleList:
    """The stack of blocks: the ModuleList of ``config.num_hidden_layers`` blocks when the model's config
    declares that count (transformers' configs do, Whisper's through its attribute map), else the longest
    ModuleList in the backbone (a CNN's stages). Raises ``ConfigError`` when there is none."""
    config = config if config is not None else getattr(backbone, "config", None)
    declared = getattr(config, "num_hidden_layers", None) if config is not None else None
    lists = [m for _, m in backbone.named_modules() if isinstance(m, nn.ModuleList) and len(m)]
    if not lists:
        raise ConfigError("Cannot find the model's layer stack, so 'bottom:K' freezing is not possible; use 'backbone'.")
    exact = [m for m in lists if isinstance(declared, int) and len(m) == declared]
    return exact[-1] if exact else max(lists, key=len)


def apply_freeze(model: Any, strategy: str, example_inputs: Any = None) -> dict[str, int]:
    """Apply ``none`` | ``backbone`` | ``bottom:K`` in place; return parameter counts
    (``{"total_params", "trainable_params"}``).

    ``bottom:K`` fixes the first K blocks of the layer stack (``encoder_layers``) and every backbone
    parameter the first block's input depends on (``below_first_layer``: the embeddings, a CNN's stem,
    an audio encoder's feature extractor and positions), found from one forward pass of
    ``example_inputs`` (a small batch as the step collates it, or a function that makes one: the step's
    ``example_inputs``, called only for ``bottom:K``; the model's ``dummy_inputs`` when not given). Raises ``ConfigError`` for an unknown strategy or more layers than the model has."""
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
        if k > 0:
            for p in below_first_layer(model, backbone, layers, example_inputs):
                p.requires_grad = False
        for layer in layers[:k]:
            for p in layer.parameters():
                p.requires_grad = False
    elif strategy != "none":
        raise unknown_name("freeze strategy", strategy, ["none", "backbone", "bottom:K"])
    keep_frozen_fixed(model)
    return count_params(model)


class _ReachedFirstLayer(Exception):
    """Raised by a forward pre-hook to end a tracing pass at the first block of the layer stack."""


def below_first_layer(model: nn.Module, backbone: nn.Module, layers: nn.ModuleList,
                      example_inputs: Any = None) -> list[nn.Parameter]:
    """The backbone's parameters outside ``layers`` that the first block's input depends on: what lies
    below the stack, decided by autograd from one forward pass, not by module names (a CNN's
    ``conv_stem``, wav2vec2's ``feature_extractor``/``feature_projection``/``pos_conv_embed``, Whisper's
    ``conv1``/``conv2`` and ``embed_positions``, BERT's ``embeddings``).

    The pass runs ``model(**example_inputs)`` in eval mode until the first block is called (a forward
    pre-hook ends it there), then asks ``torch.autograd.grad`` which parameters reach that block's
    tensor inputs. The model's modes and ``requires_grad`` flags are left as they were.

    Raises ``ConfigError`` when the pass never reaches the first block."""
    import torch

    inputs = example_inputs() if callable(example_inputs) else example_inputs
    if inputs is None:
        inputs = getattr(model, "dummy_inputs", None)
    if not inputs:
        raise ConfigError(f"freeze 'bottom:K' needs an example batch to find what lies below the first layer of "
                          f"{type(model).__name__}; use 'backbone' or 'none'.")
    in_stack = {id(p) for p in layers.parameters()}
    candidates = [p for p in backbone.parameters() if id(p) not in in_stack]
    if not candidates:
        return []
    flags = [p.requires_grad for p in candidates]
    modes = {m: m.training for m in model.modules()}
    captured: list[Any] = []
    reached: list[bool] = []

    def stop(_module: nn.Module, args: tuple, kwargs: dict) -> None:
        reached.append(True)
        captured.extend(t for t in (*args, *kwargs.values()) if torch.is_tensor(t) and t.requires_grad)
        raise _ReachedFirstLayer

    handle = layers[0].register_forward_pre_hook(stop, with_kwargs=True)
    try:
        for p in candidates:
            p.requires_grad_(True)
        nn.Module.train(model, False)
        with torch.enable_grad():
            with contextlib.suppress(_ReachedFirstLayer):
                model(**inputs)
            if not reached:
                raise ConfigError(f"A forward pass of {type(model).__name__} never reached the first block of its layer "
                                  "stack, so 'bottom:K' cannot tell what lies below it; use 'backbone' or 'none'.")
            grads = [None] * len(candidates) if not captured else torch.autograd.grad(
                sum(t.float().sum() for t in captured), candidates, allow_unused=True)
    finally:
        handle.remove()
        for p, flag in zip(candidates, flags, strict=True):
            p.requires_grad_(flag)
        for m, mode in modes.items():
            m.training = mode
    return [p for p, g in zip(candidates, grads, strict=True) if g is not None]


def count_params(model: Any) -> dict[str, int]:
    """All parameters, and those that train."""
    return {"total_params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def is_frozen(module: nn.Module) -> bool:
    """True when ``module`` has parameters (its own or its submodules') and none of them trains."""
    params = list(module.parameters())
    return bool(params) and not any(p.requires_grad for p in params)


def keep_frozen_fixed(model: nn.Module) -> nn.Module:
    """Make every ``train()`` of ``model`` (or of any of its modules) leave its frozen modules in eval
    mode (see the module docstring), and apply it now when ``model`` is in training mode; returns
    ``model``. Frozen-ness is read at each call, so a later ``apply_freeze`` that unfreezes a module
    brings it back to training behaviour at the next ``train()`` (``apply_freeze`` calls this
    itself). Call it again after adding modules (peft's adapters), so they carry it too."""
    for module in model.modules():
        if not isinstance(module.__dict__.get("train"), _TrainKeepingFrozen):
            module.train = _TrainKeepingFrozen(module)
    if model.training:
        model.train()
    return model


def set_train_mode(model: nn.Module) -> nn.Module:
    """Training mode for ``model``, its frozen modules in eval mode (``keep_frozen_fixed``); returns it."""
    return keep_frozen_fixed(model).train()


_CALL = threading.local()  # set while a train() call is under way: its modules' own train() leave the rest to it


class _TrainKeepingFrozen:
    """A module's ``train``: ``nn.Module.train`` (its class's own), then each frozen module it holds
    (itself included) goes back to eval mode. An instance attribute, not a closure, so that
    ``copy.deepcopy`` and pickling carry it to the copy's own module."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __call__(self, mode: bool = True) -> nn.Module:
        module = self.module
        if getattr(_CALL, "active", False):  # a submodule reached by an outer call, which settles frozen-ness once
            return type(module).train(module, mode)
        _CALL.active = True
        try:
            type(module).train(module, mode)
            if mode:
                _eval_frozen(module)
        finally:
            _CALL.active = False
        return module


def _eval_frozen(module: nn.Module) -> None:
    """Eval mode for the outermost frozen modules under (and including) ``module``."""
    if is_frozen(module):
        module.eval()
        return
    for child in module.children():
        _eval_frozen(child)
