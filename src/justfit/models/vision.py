"""Image classification models: any ``AutoModelForImageClassification`` checkpoint with its
``AutoImageProcessor``, a new head for the user's labels.

Presets: ``tiny-vit-random`` (a 2-layer, 32-wide random ViT on 32 x 32 images, for tests and
smoke runs; built locally like any checkpoint, so tests use the users' loading path).
A name resolves as for text models: a preset, an existing folder, then a hub id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from justfit.models.factory import PRESETS
from justfit.models.heads import check_model_kind, load_saved, load_with_new_head

EXAMPLES = "ViT, DeiT, ConvNeXt, ResNet, EfficientNet, ..."


def vit_processor(size: int, mean: float = 0.5, std: float = 0.5) -> Any:
    """A transformers ViT image processor: resize to ``size`` x ``size`` (bilinear), scale to [0, 1],
    normalise by ``mean``/``std`` per channel. The Pillow backend (torchvision is not needed)."""
    try:
        from transformers import ViTImageProcessorPil as Processor
    except ImportError:  # transformers < 5 has one backend
        from transformers import ViTImageProcessor as Processor
    return Processor(size={"height": size, "width": size}, image_mean=[mean] * 3, image_std=[std] * 3, resample=2)


def build_tiny_vit(path: str | Path, *, image_size: int = 32, hidden_size: int = 32, layers: int = 2,
                   seed: int = 0) -> Path:
    """Save a random-weight ViT (``image_size`` pixels square, patches of 8) and its image processor
    (resize to ``image_size``, scale to [0, 1], normalise by mean 0.5 / std 0.5) into ``path``."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    path = Path(path)
    torch.manual_seed(seed)
    config = ViTConfig(image_size=image_size, patch_size=8, num_channels=3, hidden_size=hidden_size,
                       num_hidden_layers=layers, num_attention_heads=2, intermediate_size=37)
    ViTForImageClassification(config).save_pretrained(path)
    vit_processor(image_size).save_pretrained(path)
    return path


def _tiny_vit_preset() -> str:
    import tempfile

    root = Path(tempfile.gettempdir()) / "justfit-presets" / "tiny-vit-random"
    if not (root / "preprocessor_config.json").exists():
        build_tiny_vit(root)
    return str(root)


PRESETS.register("tiny-vit-random", _tiny_vit_preset,
                 help="a 2-layer random-weight ViT on 32x32 images, for tests and smoke runs")


def _efficientnet_lite0_preset() -> str:
    import tempfile

    from justfit.models.efficientnet_lite import build_pretrained_folder

    root = Path(tempfile.gettempdir()) / "justfit-presets" / "efficientnet-lite0"
    if not (root / "preprocessor_config.json").exists():
        build_pretrained_folder(root)
    return str(root)


PRESETS.register("efficientnet-lite0", _efficientnet_lite0_preset,
                 help="EfficientNet-Lite0, ImageNet-pretrained (4.65M params), packaged with pip: images, offline")


def _register_architectures() -> None:
    """Architectures justfit adds to transformers' Auto classes (EfficientNet-Lite), when installed."""
    import importlib.util

    if importlib.util.find_spec("efficientnet_lite_pytorch") is not None:
        from justfit.models.efficientnet_lite import register

        register()


def load_image_model(name: str | None, labels: list[Any], *, dropout: float | None = None) -> tuple[Any, Any, str]:
    """Return ``(model, image_processor, source)``: ``name`` (a preset, folder or hub id) as an
    ``AutoModelForImageClassification`` with a fresh head of ``len(labels)`` outputs named by
    ``labels`` (``id2label``), and its ``AutoImageProcessor``.

    Raises ``ModelError`` (one line) when no model is named, or it cannot be loaded, or it has no
    image processor."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    return load_with_new_head(name, labels, model_cls=AutoModelForImageClassification,
                              processor_cls=AutoImageProcessor, noun="image", examples=EXAMPLES, dropout=dropout,
                              before=_register_architectures)


def check_image_model(name: str | None) -> str:
    """Resolve ``name`` and check, from its config alone, that it can classify images; returns the source.

    Raises ``ModelError`` (one line) for no model, one that cannot be read, or an architecture with
    no image-classification head in transformers (a text or audio checkpoint)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    from justfit.models.efficientnet_lite import MODEL_TYPE

    return check_model_kind(name, kinds={*MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES, MODEL_TYPE}, noun="image",
                            inputs="images",
                            examples=EXAMPLES + ", or the efficientnet-lite0 preset", before=_register_architectures)


def load_saved_image_model(path: str | Path) -> tuple[Any, Any]:
    """A saved image model folder: ``(AutoModelForImageClassification, AutoImageProcessor)``."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    return load_saved(path, model_cls=AutoModelForImageClassification, processor_cls=AutoImageProcessor,
                      noun="image", before=_register_architectures)


def num_channels(model_config: Any) -> int:
    """The number of input channels the model expects (3 unless its config says otherwise)."""
    return int(getattr(model_config, "num_channels", 3) or 3)
