"""Data augmentation, applied on the fly to the training split only (see :mod:`justfit.data.augment.text`)."""

from justfit.data.augment.text import (
    AUGMENTATIONS,
    AugmentOp,
    NeighbourIndex,
    TextAugmenter,
    build_text_augmenter,
    neighbour_index,
)

__all__ = ["AUGMENTATIONS", "AugmentOp", "NeighbourIndex", "TextAugmenter", "build_text_augmenter",
           "neighbour_index"]
