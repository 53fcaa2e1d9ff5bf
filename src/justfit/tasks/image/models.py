"""Image classification models: any ``AutoModelForImageClassification`` checkpoint with its
``AutoImageProcessor``, a new head for the user's labels.

Presets: ``mobilenet-v2`` (torchvision's ImageNet MobileNetV2 as transformers' own MobileNetV2,
``models.mobilenet_v2``; the default when no model is named: its runs load in plain transformers),
``efficientnet-lite0`` (``models.efficientnet_lite``; its runs need justfit to register the
architecture) and ``tiny-vit-random`` (a 2-layer, 32-wide random ViT on 32 x 32 images, for tests
and smoke runs; built locally like any checkpoint, so tests use the users' loading path).
A name resolves as for text models: a preset, an existing folder, then a hub id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from justfit.models.heads import check_model_kind, load_saved, load_with_new_head

EXAMPLES = "ViT, DeiT, ConvNeXt, ResNet, EfficientNet, MobileNetV2, ..."
# The image preset used when no model is named (bench/README.md, "image_presets.py": it fits as well as
# efficientnet-lite0 and its runs load in plain transformers).
DEFAULT_PRESET = "mobilenet-v2"
# Architectures whose transformers code passes TensorFlow's BatchNorm decay (0.99, 0.997, 0.9997) as
# PyTorch's momentum, which weighs the newest batch instead (torch.nn.BatchNorm2d: running = (1 - momentum)
# * running + momentum * batch): left so, a fine-tuned model predicts with its last training batch's
# statistics. torch_batchnorm_momentum gives them PyTorch's default.
TF_DECAY_BATCHNORM = frozenset({"mobilenet_v1", "mobilenet_v2", "efficientnet"})


def vit_processor(size: int, mean: float = 0.5, std: float = 0.5) -> Any:
    """A transformers ViT image processor: resize to ``size`` x ``size`` (bilinear), scale to [0, 1],
    normalise by ``mean``/``std`` per channel. The Pillow backend (torchvision is not needed)."""
    try:
        from transformers import ViTImageProcessorPil as Processor
    except ImportError:  # transformers < 5 has one backend
        from transformers import ViTImageProcessor as Processor
    return Processor(size={"height": size, "width": size}, image_mean=[mean] * 3, image_std=[std] * 3, resample=2)


def _register_architectures() -> None:
    """Architectures justfit adds to transformers' Auto classes (EfficientNet-Lite), when installed."""
    import importlib.util

    if importlib.util.find_spec("efficientnet_lite_pytorch") is not None:
        from justfit.tasks.image.efficientnet_lite import register

        register()


def load_image_model(name: str | None, labels: list[Any], *, dropout: float | None = None) -> tuple[Any, Any, str]:
    """Return ``(model, image_processor, source)``: ``name`` (a preset, folder or hub id; unset: the
    ``mobilenet-v2`` preset) as an ``AutoModelForImageClassification`` with a fresh head of
    ``len(labels)`` outputs named by ``labels`` (``id2label``), and its ``AutoImageProcessor``.
    BatchNorm momentum given in TensorFlow's convention is turned into PyTorch's
    (``torch_batchnorm_momentum``) for training.

    Raises ``ModelError`` (one line) when the model cannot be loaded or has no image processor."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    model, processor, source = load_with_new_head(
        DEFAULT_PRESET if name is None else name, labels, model_cls=AutoModelForImageClassification,
        processor_cls=AutoImageProcessor, noun="image", examples=EXAMPLES, dropout=dropout,
        before=_register_architectures)
    torch_batchnorm_momentum(model)
    return model, processor, source


def torch_batchnorm_momentum(model: Any) -> int:
    """For an architecture in ``TF_DECAY_BATCHNORM``, give each BatchNorm that holds TensorFlow's
    decay (a momentum above 0.5) PyTorch's default momentum (``torch.nn.BatchNorm2d``'s, 0.1: what
    torchvision trained the mobilenet-v2 preset's weights with). Returns the number of modules
    changed. Only training reads the momentum; nothing saved changes.

    Why not ``1 - decay`` (0.003 for MobileNetV2): fine-tuning moves the weights in a few hundred
    steps, and running statistics that move 0.3% a step stay ImageNet's. Measured on 1,000 mnist
    images, one epoch, mobilenet-v2 fully fine-tuned: test accuracy 0.972 at 0.1, 0.964 at 0.997
    (the last batch's statistics), 0.818 at 0.003 (bench/README.md, "image_presets.py")."""
    import inspect

    from torch import nn

    if getattr(model.config, "model_type", None) not in TF_DECAY_BATCHNORM:
        return 0
    default = inspect.signature(nn.BatchNorm2d).parameters["momentum"].default
    changed = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.momentum is not None and module.momentum > 0.5:
            module.momentum = default
            changed += 1
    return changed


def check_image_model(name: str | None) -> str:
    """Resolve ``name`` (unset: the ``mobilenet-v2`` preset) and check, from its config alone, that it
    can classify images; returns the source.

    Raises ``ModelError`` (one line) for a model that cannot be read, or an architecture with no
    image-classification head in transformers (a text or audio checkpoint)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    from justfit.tasks.image.efficientnet_lite import MODEL_TYPE

    return check_model_kind(DEFAULT_PRESET if name is None else name, kinds={*MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES, MODEL_TYPE}, noun="image",
                            inputs="images",
                            examples=EXAMPLES + ", or the mobilenet-v2 or efficientnet-lite0 preset", before=_register_architectures)


def load_saved_image_model(path: str | Path) -> tuple[Any, Any]:
    """A saved image model folder: ``(AutoModelForImageClassification, AutoImageProcessor)``."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    return load_saved(path, model_cls=AutoModelForImageClassification, processor_cls=AutoImageProcessor,
                      noun="image", before=_register_architectures)


def num_channels(model_config: Any) -> int:
    """The number of input channels the model expects (3 unless its config says otherwise)."""
    return int(getattr(model_config, "num_channels", 3) or 3)
