"""Image augmentation for the training split, on batches, through kornia.

Operations (``augment.ops``), each applied per image with probability ``p`` (``augment.op_p``
overrides it) and scaled by ``strength`` in (0, 1] (``augment.op_strength``):

========================  ==========================================================================
``hflip``, ``vflip``      mirror left-right / top-bottom (``kornia.augmentation.RandomHorizontalFlip``,
                          ``RandomVerticalFlip``); strength unused. No ``vflip`` for digits or text
                          in images: a flipped 6 is a 9.
``rotate``                rotate by up to ``180 * strength`` degrees either way (``RandomRotation``;
                          0.1: 18 degrees)
``resized_crop``          crop ``1 - strength`` to all of the image's area, aspect 3:4 to 4:3, resized
                          back (``RandomResizedCrop``; 0.1: 90-100%)
``color_jitter``          brightness, contrast and saturation by up to ``strength``, hue by up to
                          ``strength / 2`` (``ColorJitter``)
``erase``                 blank a rectangle of 2% to ``max(2%, strength)`` of the image
                          (``RandomErasing``, Zhong et al. 2017, "Random Erasing Data Augmentation")
``mixup``                 mix each image with another of the batch, weight drawn from [0, strength]
                          for the other (``RandomMixUpV2``; Zhang et al. 2018, "mixup: Beyond Empirical
                          Risk Minimization"); the loss mixes the two labels the same way
``cutmix``                paste a patch of another image of the batch, its share of the area
                          the other label's weight (``RandomCutMixV2``; Yun et al. 2019, "CutMix")
========================  ==========================================================================

Geometric and colour operations run in the order listed in ``augment.ops``, then ``mixup`` and
``cutmix`` (whichever is listed; they change the labels, so they come last). Images are
augmented in [0, 1] pixel space: the caller passes the model's normalised ``pixel_values`` with
the processor's mean and standard deviation, and gets them back normalised.

Determinism: the draws of a batch depend only on ``(seed, calls so far)``: each call runs under
``torch.random.fork_rng`` seeded from ``numpy.random.SeedSequence([seed, call])``, so the loop's own
random state (dropout, shuffling) is untouched and a rerun sees the same augmented batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from justfit._registry import Registry
from justfit.data.augment import check_ops
from justfit.errors import ConfigError

LABEL_MIXING = ("mixup", "cutmix")


def _kornia():
    try:
        import kornia.augmentation as K
    except ImportError:
        raise ConfigError("Image augmentation needs kornia: pip install 'justfit[vision]'.") from None
    return K


# name -> factory(p, strength, size) returning a kornia augmentation module
IMAGE_AUGMENTATIONS: Registry[Callable[[float, float, tuple[int, int]], Any]] = Registry("image augmentation")
IMAGE_AUGMENTATIONS.register("hflip", lambda p, s, size: _kornia().RandomHorizontalFlip(p=p),
                             help="mirror left-right")
IMAGE_AUGMENTATIONS.register("vflip", lambda p, s, size: _kornia().RandomVerticalFlip(p=p),
                             help="mirror top-bottom (not for digits or text)")
IMAGE_AUGMENTATIONS.register("rotate", lambda p, s, size: _kornia().RandomRotation(degrees=180.0 * s, p=p),
                             help="rotate by up to 180*strength degrees")
IMAGE_AUGMENTATIONS.register("resized_crop", lambda p, s, size: _kornia().RandomResizedCrop(
    size, scale=(max(0.05, 1.0 - s), 1.0), p=p), help="crop (1-strength) to all of the area, resized back")
IMAGE_AUGMENTATIONS.register("color_jitter", lambda p, s, size: _kornia().ColorJitter(
    brightness=s, contrast=s, saturation=s, hue=min(0.5, s / 2), p=p), help="brightness/contrast/saturation/hue")
IMAGE_AUGMENTATIONS.register("erase", lambda p, s, size: _kornia().RandomErasing(
    scale=(0.02, max(0.021, s)), p=p), help="blank a random rectangle")
IMAGE_AUGMENTATIONS.register("mixup", lambda p, s, size: _kornia().RandomMixUpV2(
    lambda_val=(0.0, s), p=p, data_keys=["input", "class"]), help="mix two images and their labels")
IMAGE_AUGMENTATIONS.register("cutmix", lambda p, s, size: _kornia().RandomCutMixV2(
    p=p, data_keys=["input", "class"], use_correct_lambda=True), help="paste a patch of another image")


@dataclass
class _Op:
    name: str
    p: float
    strength: float
    module: Any = None  # built on the first batch, for its image size


class ImageAugmenter:
    """Augment a batch: ``augmenter(pixel_values, labels)`` with ``pixel_values`` of shape
    ``(batch, channels, height, width)`` (normalised as the model expects) and integer ``labels``
    of shape ``(batch,)``; returns the augmented ``pixel_values`` and the soft targets, shape
    ``(batch, num_labels)`` (one-hot unless ``mixup``/``cutmix`` mixed them)."""

    def __init__(self, ops: Sequence[_Op], mean: Sequence[float], std: Sequence[float], num_labels: int,
                 seed: int) -> None:
        self.ops = [o for o in ops if o.name not in LABEL_MIXING] + [o for o in ops if o.name in LABEL_MIXING]
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
        self.num_labels = num_labels
        self.seed = int(seed)
        self.calls = 0

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.ops]

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = int(state["calls"])

    def __call__(self, pixel_values: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seed = int(np.random.SeedSequence([self.seed % 2**63, self.calls]).generate_state(1)[0])
        self.calls += 1
        mean, std = self.mean.to(pixel_values.device), self.std.to(pixel_values.device)
        x = (pixel_values.float() * std + mean).clamp(0, 1)
        soft = torch.nn.functional.one_hot(labels.long(), self.num_labels).float()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for op in self.ops:
                if op.module is None:
                    op.module = IMAGE_AUGMENTATIONS.get(op.name)(op.p, op.strength, tuple(x.shape[-2:]))
                if op.name in LABEL_MIXING:
                    x, mixed = op.module(x, labels)
                    soft = _mixed_targets(mixed, self.num_labels)
                else:
                    x = op.module(x)
        return ((x - mean) / std).to(pixel_values.dtype), soft


def _mixed_targets(mixed: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Soft targets from kornia's mixed labels: rows ``[label, other label, weight of the other]``,
    shape ``(batch, 3)`` (mixup) or ``(mixes, batch, 3)`` (cutmix, applied in turn)."""
    rows = mixed if mixed.dim() == 3 else mixed.unsqueeze(0)
    base = rows[0, :, 0].long()
    soft = torch.nn.functional.one_hot(base, num_labels).float()
    for mix in rows:
        other = torch.nn.functional.one_hot(mix[:, 1].long(), num_labels).float()
        lam = mix[:, 2:3].float()
        soft = soft * (1 - lam) + other * lam
    return soft


def build_image_augmenter(cfg: Any, *, mean: Sequence[float], std: Sequence[float], num_labels: int,
                          seed: int) -> ImageAugmenter | None:
    """The augmenter ``cfg`` (an ``AugmentConfig``) describes, for inputs normalised by ``mean``/``std``
    per channel, or ``None`` when no operation is on. Raises ``ConfigError`` naming a text operation."""
    _kornia()
    if not cfg.ops:
        return None

    check_ops(cfg.ops, "image")
    ops = [_Op(n, cfg.op_p.get(n, cfg.p), cfg.op_strength.get(n, cfg.strength)) for n in cfg.ops
           if cfg.op_p.get(n, cfg.p) > 0]
    return ImageAugmenter(ops, mean, std, num_labels, seed) if ops else None
