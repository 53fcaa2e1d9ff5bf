"""Optimisers and schedulers, by name, from registries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from justfit._registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
SCHEDULERS: Registry[str] = Registry("scheduler")


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: biases and LayerNorm weights (all 1-D tensors) are not decayed."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _foreach() -> dict[str, bool]:
    # Multi-tensor (foreach) kernels: one launch per group instead of one per tensor.
    return {"foreach": True}


@OPTIMIZERS.register("adamw")
def adamw(groups: list[dict[str, Any]], cfg: Any) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay)"""
    return torch.optim.AdamW(groups, lr=cfg.lr, **_foreach())


@OPTIMIZERS.register("adam")
def adam(groups: list[dict[str, Any]], cfg: Any) -> torch.optim.Optimizer:
    """Adam (weight decay added to the gradient, i.e. classic L2)"""
    return torch.optim.Adam(groups, lr=cfg.lr, **_foreach())


@OPTIMIZERS.register("sgd")
def sgd(groups: list[dict[str, Any]], cfg: Any) -> torch.optim.Optimizer:
    """SGD with momentum and optional Nesterov"""
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                           **_foreach())


SCHEDULERS.register("linear", "linear", help="linear warmup, then linear decay to 0")
SCHEDULERS.register("cosine", "cosine", help="linear warmup, then cosine decay to 0")
SCHEDULERS.register("constant", "constant_with_warmup", help="linear warmup, then constant")


def build_optimizer(model: torch.nn.Module, cfg: Any) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay)
    if not groups:
        from justfit.errors import ConfigError

        raise ConfigError("No parameter is trainable (everything is frozen). Use freeze 'none', 'backbone' or 'bottom:K'.")
    return OPTIMIZERS.get(cfg.optimizer)(groups, cfg)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Any, total_steps: int) -> Any:
    from transformers import get_scheduler

    warmup = int(round(cfg.warmup_ratio * total_steps))
    return get_scheduler(SCHEDULERS.get(cfg.scheduler), optimizer, num_warmup_steps=warmup,
                         num_training_steps=max(total_steps, 1))


def l1_penalty(model: torch.nn.Module) -> torch.Tensor:
    """Sum of absolute values of the trainable weight matrices (biases and norms excluded, as for L2)."""
    terms = [p.abs().sum() for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    return torch.stack(terms).sum()
