"""Rich progress bars for training epochs, and one line of metrics per epoch."""

from __future__ import annotations

from typing import Any

from justfit.training.callbacks.base import Callback


class ProgressBar(Callback):
    """A bar over each epoch's micro-batches, then one line of metrics; it has no state to save."""

    def __init__(self, console: Any = None) -> None:
        self.console = console
        self._progress = None
        self._task = None

    def on_fit_begin(self, trainer: Any) -> None:
        from rich.console import Console

        self.console = self.console or Console(stderr=True)

    def on_epoch_begin(self, trainer: Any, epoch: int, steps: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), console=self.console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task("train", total=steps, epoch=f"{epoch}/{trainer.epochs}")

    def on_batch_end(self, trainer: Any, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        shown = ["train_loss", "val_loss", "val_accuracy", "val_f1", "train_accuracy"]
        parts = [f"{k} {record[k]:.4f}" for k in shown if isinstance(record.get(k), float)]
        self.console.print(f"epoch {record['epoch']}: " + "  ".join(parts) + f"  ({record['seconds']:.1f}s)")

    def on_fit_end(self, trainer: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
