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

Every optional hook has a default in ``BaseTask`` and ``BaseStep`` (as Lightning's ``ModelHooks``), and every
task and step derives from them: the rest of the code calls a hook and never probes a task with
``getattr``/``hasattr`` (``tests/contract/test_seam.py`` fails on a probe). ``TaskKind`` and ``StepTask`` list the
whole interface for type checking.

Adding a task is a new file in ``tasks/`` that registers itself in ``TASKS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias, runtime_checkable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from justfit.registries import TASKS

if TYPE_CHECKING:  # the seam's types, named without importing their layers at run time
    from transformers import FeatureExtractionMixin, PretrainedConfig, PreTrainedTokenizerBase, ProcessorMixin

    from justfit.config import JustfitConfig
    from justfit.data.label_audit import LabelReport
    from justfit.data.splitting import Splits
    from justfit.estimator import Finetuner

# What turns a model's raw inputs into tensors: a tokenizer, a feature extractor or image processor, a processor.
Processor: TypeAlias = "PreTrainedTokenizerBase | FeatureExtractionMixin | ProcessorMixin"
# What ``predict`` and ``fit`` take as inputs: texts, file paths, arrays, a DataFrame column, ...
Inputs: TypeAlias = object


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


class BaseStep:
    """Every optional hook of a step, defaulted (as Lightning's ``ModelHooks``): the loop calls these on any
    step and never probes one with ``getattr``/``hasattr``. A step overrides what its task needs."""

    # Epoch metric -> "min" | "max": the one source of a metric's direction (early stopping's monitor, the
    # diagnosis, the search's objective).
    metric_directions: ClassVar[dict[str, str]] = {"loss": "min"}
    max_length: int = 0  # tokens per input (0: the inputs have no token length)
    on_cached_features: ClassVar[bool] = False  # trains a head on the frozen backbone's cached features

    @staticmethod
    def trivial(targets: Sequence[Any], record: dict[str, Any]) -> bool:
        """Is the model still no better than the trivial predictor on validation (``targets``, the epoch
        ``record``)? Early stopping does not end training there and the time budget may add epochs.
        Default: ``False`` (the step cannot tell)."""
        return False

    def unpad(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray] | None:
        """Each item's own outputs from a batch's ``logits`` when they are per position (``(batch, length,
        num_labels)`` -> ``(length_i, num_labels)`` arrays, padding removed); ``None`` (the default): one row
        of logits per item, ``(batch, num_labels)``."""
        return None

    def join_items(self, dataset: EncodedDataset, items: np.ndarray) -> np.ndarray:
        """Per-example outputs from the per-item logits of ``dataset`` (an object array of ``(length,
        num_labels)`` arrays, padding removed), for a step whose items are parts of examples (windows of
        long sentences). Default: the items are the examples."""
        return items

    def state_dict(self) -> dict[str, Any]:
        """What the step must carry through a checkpoint to resume (plain data). Default: nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take up a state saved by ``state_dict``. Default: nothing to take up."""
        return None


class BaseTask:
    """Every optional hook of a task, defaulted: code outside ``tasks/`` calls these on any task and never
    probes one with ``getattr``/``hasattr``. A hook whose default returns ``None`` means "the task has no own
    way": the caller takes the generic one (the label audit on embedded inputs, the generic predictions
    table, the model loader of text models)."""

    # The class values (``id2label`` order) when the targets are classes; ``None`` for a task whose targets
    # are not (a regression, a tagger). Class balance, ``predict_proba`` and ``classes_`` follow it.
    classes: list[Any] | None = None
    # Settings the task refuses: dotted config key -> why (``checks.check_unsupported``).
    unsupported_settings: ClassVar[dict[str, str]] = {}
    # The epoch metric early stopping watches for ``monitor: auto`` (declared in the step's directions).
    default_monitor: ClassVar[str] = "val_loss"

    def diagnosis_facts(self) -> dict[str, Any]:
        """What the diagnosis may know of the task, as plain data: the run records it (``result.data
        ["task_facts"]``) and the diagnosis reads the record, never the task. ``refuses``: the settings no
        remedy may set (``unsupported_settings``); ``augment_remedy``: an augmentation measured to help this
        task, ``{"ops": [names], "up_to_rows": int, "why": str}`` (offered against overfitting up to that
        many training rows), or ``None``."""
        return {"refuses": sorted(self.unsupported_settings), "augment_remedy": None}

    def balance_report(self, splits: Splits) -> tuple[dict[str, Any], list[str]] | None:
        """The task's own balance across the splits and its warnings; ``None``: the class balance when the
        targets are classes, none otherwise."""
        return None

    def find_label_issues(self, train: pd.DataFrame, cfg: JustfitConfig,
                          progress: bool = False) -> LabelReport | None:
        """The task's own label audit (a ``LabelReport``); ``None``: the generic audit on embedded inputs."""
        return None

    def predict_columns(self, estimator: Finetuner, X: Inputs) -> dict[str, Any] | None:
        """The task's own prediction columns for the inputs ``X`` (as ``Finetuner.predict`` takes them);
        ``None``: ``output_columns`` of the logits."""
        return None

    def report_examples(self, predictions: pd.DataFrame, top: int = 15) -> str | None:
        """The task's own HTML for the report's worst examples; ``None``: the generic table."""
        return None

    @staticmethod
    def load_pretrained(path: str | Path) -> tuple[torch.nn.Module, Processor] | None:
        """``(model, processor)`` for a saved model of this task; ``None``: the text-model loader."""
        return None


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

    # Defaulted in ``BaseStep``.
    def trivial(self, targets: Sequence[Any], record: dict[str, Any]) -> bool: ...

    def unpad(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray] | None: ...

    def join_items(self, dataset: EncodedDataset, items: np.ndarray) -> np.ndarray: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


Task = StepTask  # the name the training loop has always used


@runtime_checkable
class TaskKind(Protocol):
    """A task: everything about targets, metrics, analysis and the report (see the module docstring)."""

    name: ClassVar[str]
    metric_directions: ClassVar[dict[str, str]]
    headline: ClassVar[tuple[str, ...]]  # test metrics shown first (RunResult.summary, the CLI table)
    uses_label_audit: ClassVar[bool]
    input_column: ClassVar[str]  # the frame column of the inputs: "text", "image", ...
    modality: ClassVar[str]  # what the inputs are (augment.ops' registries): "text", "image", "audio"
    labels: list[Any]  # the model's output names (id2label)

    def check_targets(self, frame: pd.DataFrame, where: str = ...) -> None: ...

    def check_held_out(self, train: pd.DataFrame, other: pd.DataFrame, name: str) -> None: ...

    def stratify_key(self, labels: pd.Series) -> pd.Series: ...

    def fit(self, labels: Sequence[Any]) -> TaskKind: ...

    def encode_targets(self, labels: Sequence[Any]) -> list[int] | list[float] | list[list[int]]: ...

    def build(self, cfg: JustfitConfig, train_targets: Sequence[Any]
              ) -> tuple[torch.nn.Module, Processor, str, StepTask]: ...  # model, processor, its source, step

    def step_from_meta(self, tokenizer: Processor, max_length: int, model_config: PretrainedConfig) -> StepTask: ...

    def transform(self, logits: np.ndarray) -> np.ndarray: ...

    def predict(self, logits: np.ndarray) -> np.ndarray: ...

    def evaluate(self, targets: Sequence[Any], logits: np.ndarray,
                 train_targets: Sequence[Any] | None = None) -> dict[str, Any]: ...

    def analysis(self, frame: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame: ...

    def diagnosis_context(self, train_labels: pd.Series, val_labels: pd.Series) -> dict[str, Any]: ...

    def diagnosis_facts(self) -> dict[str, Any]: ...

    def class_counts(self, labels: pd.Series) -> dict[str, Any]: ...

    def describe(self, labels: pd.Series) -> str: ...

    def read_analysis(self, path: str | Path) -> pd.DataFrame: ...

    def output_columns(self, logits: np.ndarray) -> dict[str, Any]: ...

    def report_sections(self, metrics: dict[str, Any], predictions: pd.DataFrame | None) -> list[str]: ...

    def report_assets(self, test: pd.DataFrame, table: pd.DataFrame, train: pd.DataFrame,
                      step: StepTask) -> dict[str, Any]: ...  # plain data kept for the report (report_assets.json)

    def report_gallery(self, assets: dict[str, Any]) -> list[str]: ...

    def meta(self) -> dict[str, Any]: ...

    def inputs(self, X: Inputs, cfg: JustfitConfig, sampling_rate: int | None = None) -> list[object]: ...

    # Defaulted in ``BaseTask``.
    classes: list[Any] | None
    unsupported_settings: ClassVar[dict[str, str]]
    default_monitor: ClassVar[str]

    def balance_report(self, splits: Splits) -> tuple[dict[str, Any], list[str]] | None: ...

    def find_label_issues(self, train: pd.DataFrame, cfg: JustfitConfig,
                          progress: bool = False) -> LabelReport | None: ...

    def predict_columns(self, estimator: Finetuner, X: Inputs) -> dict[str, Any] | None: ...

    def report_examples(self, predictions: pd.DataFrame, top: int = 15) -> str | None: ...

    def load_pretrained(self, path: str | Path) -> tuple[torch.nn.Module, Processor] | None: ...




def get_task(name: str) -> TaskKind:
    """A fresh task of the registered kind ``name`` (``ConfigError`` listing the valid names otherwise)."""
    return TASKS.get(name)()


def task_directions(name: str) -> dict[str, str]:
    """The epoch metrics the registered task ``name`` declares, each with its better direction
    (``{"loss": "min", "rmse": "min", "r2": "max"}``): the authority ``justfit.directions`` reads.
    Raises ``ConfigError`` for an unknown task."""
    return dict(TASKS.get(name).metric_directions)
