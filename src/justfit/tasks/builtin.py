"""The built-in tasks and augmentations, registered when this module is imported.

``registries.TASKS`` and ``data.augment.OPERATIONS`` import it the first time they are read, so every entry
point sees the built-ins while importing ``justfit.tasks.base`` (the protocol) loads no plug-in."""

from justfit.registries import TASKS
from justfit.tasks import augmentations as _augmentations  # noqa: F401  (registers each kind's operations)
from justfit.tasks import classification as _classification  # noqa: F401  (registers "classification")
from justfit.tasks import regression as _regression  # noqa: F401  (registers "regression")
from justfit.tasks.audio import task as _audio  # noqa: F401  (registers "audio-classification")
from justfit.tasks.image import task as _image  # noqa: F401  (registers "image-classification")
from justfit.tasks.tagging import task as _token  # noqa: F401  (registers "token-classification")


def list_tasks() -> dict[str, str]:
    """Names and one-line descriptions of the registered tasks."""
    return TASKS.describe()
