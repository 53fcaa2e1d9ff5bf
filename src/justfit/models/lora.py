"""LoRA through ``peft``: low-rank adapters on the attention projections, a fully trained head.

The pretrained weights stay fixed, and the modules made of them alone behave as frozen in
training mode (``models.freezing``: BatchNorm statistics kept, dropout inside them off); the
adapters and every head module (the parts of the model outside its backbone: ``classifier``,
and ``pre_classifier`` for DistilBERT, ``score`` for decoder models) train and are saved.
peft's own sequence-classification default saves only modules named ``classifier`` or
``score``, which silently leaves other head layers at their random initialisation after a
reload; the head modules are listed explicitly here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from justfit.errors import ConfigError, ModelError
from justfit.models.factory import load_model
from justfit.models.freezing import keep_frozen_fixed

# Attention projections by their usual names, for architectures peft has no default for.
COMMON_TARGETS = ("query", "value", "q_lin", "v_lin", "q_proj", "v_proj", "query_proj", "value_proj", "c_attn",
                  "Wqkv", "qkv_proj")
ADAPTER_CONFIG = "adapter_config.json"


def head_modules(model: nn.Module) -> list[str]:
    """Names of the top-level children outside the backbone that hold parameters (the task head)."""
    prefix = model.base_model_prefix
    return [name for name, child in model.named_children()
            if name != prefix and any(True for _ in child.parameters())]


def default_targets(model: nn.Module) -> list[str]:
    """peft's per-architecture default, else the attention projections found by their usual names."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = getattr(model.config, "model_type", "")
    if model_type in DEFAULTS:
        return list(DEFAULTS[model_type])
    leaves = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if not list(m.children())}
    found = [t for t in COMMON_TARGETS if t in leaves]
    if not found:
        raise ConfigError(f"No default LoRA target modules for a '{model_type}' model. Set model.lora_targets to "
                          "the names of its attention projection layers (e.g. query,value).")
    return found


def apply_lora(model: nn.Module, mcfg: Any) -> Any:
    """Wrap ``model`` in a peft LoRA model per ``ModelConfig`` (rank, alpha, dropout, targets)."""
    from peft import LoraConfig, TaskType, get_peft_model

    targets = list(mcfg.lora_targets) if mcfg.lora_targets else default_targets(model)
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in leaves]
    if missing:
        raise ConfigError(f"model.lora_targets names {', '.join(missing)}, which this model does not have. "
                          f"Linear layers it has: {', '.join(sorted(_linear_names(model))[:12])}.")
    # A head per token (named entities) or per text: peft treats the two heads' inputs differently.
    kind = TaskType.TOKEN_CLS if "TokenClassification" in type(model).__name__ else TaskType.SEQ_CLS
    config = LoraConfig(task_type=kind, r=mcfg.lora_rank, lora_alpha=mcfg.lora_alpha,
                        lora_dropout=mcfg.lora_dropout, target_modules=targets,
                        modules_to_save=head_modules(model))
    # peft fixes every base weight, BatchNorm layers included (unless listed in modules_to_save): they keep
    # their statistics and the frozen blocks their dropout off in training mode (models.freezing).
    return keep_frozen_fixed(get_peft_model(model, config))


def _linear_names(model: nn.Module) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}


def is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def merge(model: Any) -> nn.Module:
    """The plain transformers model with the adapters folded into its weights and the trained head."""
    return model.merge_and_unload()


def is_adapter_folder(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def load_adapter_model(path: str | Path, base: str, labels: list[Any]) -> nn.Module:
    """Rebuild a saved adapter folder: the base checkpoint with a head for ``labels``, then the
    adapters and the trained head modules on top."""
    from peft import PeftModel

    try:
        model, _, _ = load_model(base, labels)
    except ModelError as exc:
        raise ModelError(f"The LoRA adapters in '{path}' need their base model '{base}', which cannot be loaded "
                         f"here ({exc}).") from None
    return PeftModel.from_pretrained(model, str(path))
