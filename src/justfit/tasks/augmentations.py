"""Registers each input kind's augmentation operations in ``data.augment.OPERATIONS``."""

from justfit.data.augment import OPERATIONS
from justfit.tasks.audio.augment import AUDIO_AUGMENTATIONS
from justfit.tasks.image.augment import IMAGE_AUGMENTATIONS
from justfit.tasks.text.augment import AUGMENTATIONS

OPERATIONS.register("text", AUGMENTATIONS)
OPERATIONS.register("image", IMAGE_AUGMENTATIONS)
OPERATIONS.register("audio", AUDIO_AUGMENTATIONS)
