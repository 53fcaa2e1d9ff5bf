"""The task a table asks for when ``task`` is unset."""

from __future__ import annotations

import pandas as pd

from justfit.data.io import continuous_message
from justfit.registries import TASKS
from justfit.tasks.base import get_task


def infer_task(labels: pd.Series, column: str = "label", inputs: str = "text") -> tuple[str, str]:
    """The task for a label column when ``task`` is unset: ``(name, message)``.

    ``inputs`` is the frame's input column. For texts, numbers with many distinct values (a quantity,
    by the same test that refuses them as classes) are a regression, and the message says so;
    anything else is a classification (message ""). Other inputs take the registered task that
    reads them (``image`` -> ``image-classification``).
    """
    if inputs != "text":
        for name in TASKS.names():
            if get_task(name).input_column == inputs:
                return name, ""

    present = labels.dropna()
    if continuous_message(present, column, "the data"):
        k = present.nunique()
        return "regression", (f"label column '{column}' holds numbers with {k:,} distinct values: training a "
                              "regression (set task=classification to treat them as classes)")
    return "classification", ""
