"""Tasks: the seam between the data and the loop (see ``tasks.base``). Importing this package
registers the built-in tasks in ``TASKS`` and their augmentations in ``data.augment.OPERATIONS``."""

from justfit.tasks import augmentations as _augmentations  # noqa: F401  (registers each kind's operations)
from justfit.tasks import classification as _classification  # noqa: F401  (registers "classification")
from justfit.tasks import regression as _regression  # noqa: F401  (registers "regression")
from justfit.tasks.audio import task as _audio  # noqa: F401  (registers "audio-classification")
from justfit.tasks.base import TASKS, EncodedDataset, StepTask, Task, TaskKind, get_task
from justfit.tasks.image import task as _image  # noqa: F401  (registers "image-classification")
from justfit.tasks.infer import infer_task
from justfit.tasks.tagging import task as _token  # noqa: F401  (registers "token-classification")
from justfit.tasks.text.task import TextClassificationTask, TextRegressionTask


def list_tasks() -> dict[str, str]:
    """Names and one-line descriptions of the registered tasks."""
    return TASKS.describe()


__all__ = ["TASKS", "list_tasks", "EncodedDataset", "StepTask", "Task", "TaskKind", "TextClassificationTask",
           "TextRegressionTask", "get_task", "infer_task"]
