"""Image classification models: any ``AutoModelForImageClassification`` checkpoint with its
``AutoImageProcessor``, a new head for the user's labels.

Presets: ``tiny-vit-random`` (a 2-layer, 32-wide random ViT on 32 x 32 images, for tests and
smoke runs; built locally like any checkpoint, so tests use the users' loading path).
A name resolves as for text models: a preset, an existing folder, then a hub id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from justfit.errors import ModelError
from justfit.models.factory import PRESETS, quiet_transformers, resolve_model_name, set_dropout, weights_error


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
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification

    if name is None:
        raise ModelError("Image tasks need a model: pass --model (an image classification checkpoint: a folder or a "
                         "hub id) or a preset (justfit presets).")
    source = resolve_model_name(name)
    id2label = {i: str(lab) for i, lab in enumerate(labels)}
    quiet_transformers()
    _register_architectures()
    try:
        config = AutoConfig.from_pretrained(source, num_labels=len(labels), id2label=id2label,
                                            label2id={v: k for k, v in id2label.items()})
        processor = AutoImageProcessor.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"Could not load image model '{source}' ({first[:200]}). Pass a folder with config.json, "
                         "weights and preprocessor_config.json, a reachable hub id, or a preset.") from None
    config.problem_type = "single_label_classification"
    if dropout is not None:
        set_dropout(config, dropout)
    try:
        model = AutoModelForImageClassification.from_pretrained(source, config=config, ignore_mismatched_sizes=True)
    except ValueError as exc:
        raise ModelError(f"'{source}' is not an image classification model ({str(exc).splitlines()[0][:160]}). "
                         "Pass an AutoModelForImageClassification checkpoint (ViT, ConvNeXt, ResNet, ...).") from None
    except Exception as exc:  # damaged or missing weights: one line
        raise weights_error(exc, source) from None
    return model, processor, source


def check_image_model(name: str | None) -> str:
    """Resolve ``name`` and check, from its config alone, that it can classify images; returns the source.

    Raises ``ModelError`` (one line) for no model, one that cannot be read, or an architecture with
    no image-classification head in transformers (a text or audio checkpoint)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    if name is None:
        raise ModelError("Image tasks need a model: pass --model (an image classification checkpoint: a folder or a "
                         "hub id) or a preset such as efficientnet-lite0 (justfit presets).")
    source = resolve_model_name(name)
    quiet_transformers()
    _register_architectures()
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Could not load the config of model '{source}' ({str(exc).splitlines()[0][:160]}). Pass a "
                         "folder with config.json, a reachable hub id, or a preset.") from None
    kind = getattr(config, "model_type", "?")
    from justfit.models.efficientnet_lite import MODEL_TYPE

    if kind not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES and kind != MODEL_TYPE:
        raise ModelError(f"Model '{source}' (a '{kind}' model) cannot classify images. Choose an image classification "
                         "checkpoint (ViT, DeiT, ConvNeXt, ResNet, EfficientNet, ...) or the efficientnet-lite0 preset.")
    return source


def load_saved_image_model(path: str | Path) -> tuple[Any, Any]:
    """A saved image model folder: ``(AutoModelForImageClassification, AutoImageProcessor)``."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    quiet_transformers()
    _register_architectures()
    try:
        model = AutoModelForImageClassification.from_pretrained(path)
    except Exception as exc:
        raise weights_error(exc, str(path)) from None
    try:
        processor = AutoImageProcessor.from_pretrained(path)
    except (OSError, ValueError) as exc:
        from justfit.errors import RunDirError

        raise RunDirError(f"'{path}' holds an image model but no usable image processor "
                          f"({str(exc).splitlines()[0][:150]}). Save it beside the model "
                          "(processor.save_pretrained).") from None
    return model, processor


def num_channels(model_config: Any) -> int:
    """The number of input channels the model expects (3 unless its config says otherwise)."""
    return int(getattr(model_config, "num_channels", 3) or 3)
