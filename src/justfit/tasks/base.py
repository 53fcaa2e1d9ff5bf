"""The Task protocol: the only code that knows a task kind. The loop, evaluation, diagnosis and
report call it and never branch on one.

A task has two layers:

* the **task** (``TASKS`` registry: ``classification``, ``regression``): targets (a label codec
  or a target scaling fitted on the training split), checks of the labels, the stratification key
  for splitting, building the model, test metrics, the per-row analysis table
  (``predictions.csv``), what the diagnosis compares against, the report's task section, and
  its part of ``model/justfit.json``;
* its **step** (``task.build`` returns it; ``tasks.text``): the batch-level part the training
  loop, the learning-rate finder and prediction use: ``encode`` (inputs to an
  :class:`EncodedDataset`), ``collate``, ``forward`` -> ``{"loss", "logits", "loss_weight"}``,
  ``epoch_metrics`` and ``metric_directions`` (early stopping's monitor is validated against them).

Adding a task is a new file in ``tasks/`` that registers itself in ``TASKS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from justfit._registry import Registry


class EncodedDataset(Dataset):
    """Pre-encoded examples (one dict of lists per example), their lengths, targets (class codes or
    standardised values) and optional per-example loss weights."""

    def __init__(self, features: list[dict[str, Any]], labels: Sequence[Any] | None = None,
                 weights: Sequence[float] | None = None, lengths: Sequence[int] | None = None) -> None:
        self.features = features
        # Class codes (int) or standardised targets (float); the task decides.
        self.labels = None if labels is None else [x.item() if hasattr(x, "item") else x for x in labels]
        self.weights = None if weights is None else [float(w) for w in weights]
        # Token counts: they drive length-grouped batching (given explicitly for non-token features).
        self.lengths = list(lengths) if lengths is not None else [len(next(iter(f.values()))) for f in features]

    def __len__(self) -> int:
        return len(self.features)

    def targets(self) -> list[Any] | None:
        """What the epoch metrics compare the predictions with: the labels (a dataset whose items are
        parts of examples, such as the windows of long sentences, gives its examples' targets)."""
        return self.labels

    def inputs(self, i: int) -> dict[str, Any]:
        """The model inputs of example ``i`` (a dataset that changes them on the fly overrides this)."""
        return dict(self.features[i])

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.inputs(i)
        if self.labels is not None:
            item["labels"] = self.labels[i]
        if self.weights is not None:
            item["weights"] = self.weights[i]
        return item

    def subset(self, idx: Sequence[int]) -> EncodedDataset:
        """The examples at ``idx`` (for evaluation: loss weights are not carried over)."""
        return EncodedDataset([self.features[i] for i in idx], None if self.labels is None else [self.labels[i] for i in idx],
                              lengths=[self.lengths[i] for i in idx])

    def shard(self, rank: int, world: int) -> tuple[list[int], EncodedDataset]:
        """One process's part of an evaluation over ``world`` processes: the examples ``rank, rank + world,
        ...`` (their positions among ``targets()``, and the subset holding them). The parts of all ranks
        hold every example exactly once, however unevenly ``world`` divides them."""
        idx = list(range(rank, len(self), world))
        return idx, self.subset(idx)


@runtime_checkable
class StepTask(Protocol):
    """The batch-level part of a task: what the training loop calls."""

    metric_directions: ClassVar[dict[str, str]]  # epoch metric -> "min" | "max"
    max_length: int

    def encode(self, examples: Sequence[Any], labels: Sequence[Any] | None = None,
               weights: Sequence[float] | None = None) -> EncodedDataset: ...

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]: ...

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def epoch_metrics(self, targets: Sequence[Any], logits: np.ndarray) -> dict[str, float]: ...


Task = StepTask  # the name the training loop has always used


@runtime_checkable
class TaskKind(Protocol):
    """A task: everything about targets, metrics, analysis and the report (see the module docstring)."""

    name: ClassVar[str]
    metric_directions: ClassVar[dict[str, str]]
    headline: ClassVar[tuple[str, ...]]  # test metrics shown first (RunResult.summary, the CLI table)
    uses_label_audit: ClassVar[bool]
    input_column: ClassVar[str]  # the frame column of the inputs: "text", "image", ...
    labels: list[Any]  # the model's output names (id2label)

    def check_targets(self, frame: pd.DataFrame, where: str = ...) -> None: ...

    def check_held_out(self, train: pd.DataFrame, other: pd.DataFrame, name: str) -> None: ...

    def stratify_key(self, labels: pd.Series) -> pd.Series: ...

    def fit(self, labels: Sequence[Any]) -> Any: ...

    def encode_targets(self, labels: Sequence[Any]) -> list[Any]: ...

    def build(self, cfg: Any, train_targets: Sequence[Any]) -> tuple[Any, Any, str, StepTask]: ...

    def step_from_meta(self, tokenizer: Any, max_length: int, model_config: Any) -> StepTask: ...

    def transform(self, logits: np.ndarray) -> np.ndarray: ...

    def predict(self, logits: np.ndarray) -> np.ndarray: ...

    def evaluate(self, targets: Sequence[Any], logits: np.ndarray,
                 train_targets: Sequence[Any] | None = None) -> dict[str, Any]: ...

    def analysis(self, frame: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame: ...

    def diagnosis_context(self, train_labels: pd.Series, val_labels: pd.Series) -> dict[str, Any]: ...

    def class_counts(self, labels: pd.Series) -> dict[str, Any]: ...

    def describe(self, labels: pd.Series) -> str: ...

    def read_analysis(self, path: Any) -> pd.DataFrame: ...

    def output_columns(self, logits: np.ndarray) -> dict[str, Any]: ...

    def report_sections(self, metrics: dict[str, Any], predictions: pd.DataFrame | None) -> list[str]: ...

    def report_assets(self, test: pd.DataFrame, table: pd.DataFrame, train: pd.DataFrame,
                      step: Any) -> dict[str, Any]: ...  # plain data kept for the report (report_assets.json)

    def report_gallery(self, assets: dict[str, Any]) -> list[str]: ...

    def meta(self) -> dict[str, Any]: ...


TASKS: Registry[type] = Registry("task")


def get_task(name: str) -> TaskKind:
    """A fresh task of the registered kind ``name`` (``ConfigError`` listing the valid names otherwise)."""
    import justfit.tasks  # noqa: F401  (registers the built-in tasks)

    return TASKS.get(name)()


def task_directions(name: str) -> dict[str, str]:
    """The epoch metrics the registered task ``name`` declares, each with its better direction
    (``{"loss": "min", "rmse": "min", "r2": "max"}``): the authority ``justfit.directions`` reads.
    Raises ``ConfigError`` for an unknown task."""
    import justfit.tasks  # noqa: F401  (registers the built-in tasks)

    return dict(TASKS.get(name).metric_directions)


def infer_task(labels: pd.Series, column: str = "label", inputs: str = "text") -> tuple[str, str]:
    """The task for a label column when ``task`` is unset: ``(name, message)``.

    ``inputs`` is the frame's input column. For texts, numbers with many distinct values (a quantity,
    by the same test that refuses them as classes) are a regression, and the message says so;
    anything else is a classification (message ""). Other inputs take the registered task that
    reads them (``image`` -> ``image-classification``).
    """
    from justfit.data.io import continuous_message

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
