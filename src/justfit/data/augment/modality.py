"""Which augmentations a task's inputs take: one check for texts, images and audio."""

from __future__ import annotations

from collections.abc import Sequence

from justfit.errors import ConfigError


def check_ops(ops: Sequence[str], takes: str) -> None:
    """Raise ``ConfigError`` (one line) naming the operations of ``ops`` that belong to another
    modality than ``takes`` (``"text"``, ``"image"``, ``"audio"``), and what ``takes`` accepts."""
    from justfit.data.augment.audio import AUDIO_AUGMENTATIONS
    from justfit.data.augment.image import IMAGE_AUGMENTATIONS
    from justfit.data.augment.text import AUGMENTATIONS

    registries = {"text": AUGMENTATIONS, "image": IMAGE_AUGMENTATIONS, "audio": AUDIO_AUGMENTATIONS}
    own = registries[takes]
    found = [f"{names} are {kind} augmentations" for kind, reg in registries.items() if kind != takes
             for names in [[n for n in ops if n not in own and n in reg]] if names]
    if found:
        subject = {"text": "texts take", "image": "images take", "audio": "audio takes"}[takes]
        raise ConfigError(f"augment.ops {' and '.join(found)}; {subject} {', '.join(own.names())}.")
