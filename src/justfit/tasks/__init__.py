"""Tasks: the seam between the data and the loop (see ``tasks.base``), and the task plug-ins.

Importing the package imports none of its modules: each name below loads its module on first use (PEP 562).
The built-in tasks register themselves when the task registry is first read (``tasks.builtin``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "TASKS": "justfit.tasks.base", "EncodedDataset": "justfit.tasks.base", "StepTask": "justfit.tasks.base",
    "Task": "justfit.tasks.base", "TaskKind": "justfit.tasks.base", "get_task": "justfit.tasks.base",
    "infer_task": "justfit.tasks.infer", "list_tasks": "justfit.tasks.builtin",
    "TextClassificationTask": "justfit.tasks.text.task", "TextRegressionTask": "justfit.tasks.text.task",
}

__all__ = ["TASKS", "EncodedDataset", "StepTask", "Task", "TaskKind", "TextClassificationTask", "TextRegressionTask",
           "get_task", "infer_task", "list_tasks"]

if TYPE_CHECKING:
    from justfit.tasks.base import TASKS, EncodedDataset, StepTask, Task, TaskKind, get_task
    from justfit.tasks.builtin import list_tasks
    from justfit.tasks.infer import infer_task
    from justfit.tasks.text.task import TextClassificationTask, TextRegressionTask


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'justfit.tasks' has no attribute '{name}'")
