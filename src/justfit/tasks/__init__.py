"""Tasks turn raw examples into batches and batches into ``{"loss", "logits"}``."""

from justfit.tasks.base import EncodedDataset, Task
from justfit.tasks.text import TextClassificationTask

__all__ = ["EncodedDataset", "Task", "TextClassificationTask"]
