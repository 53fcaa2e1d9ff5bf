"""Callbacks extend the loop through five hooks; the loop itself has no optional branches."""

from __future__ import annotations

from typing import Any


class Callback:
    """Override any hook. ``trainer`` exposes ``model``, ``history``, ``epoch``, ``should_stop``."""

    def check(self, metric_names: list[str]) -> None:
        """Called before anything is loaded or trained: raise on a bad setting."""

    def on_train_begin(self, trainer: Any) -> None: ...

    def on_epoch_begin(self, trainer: Any, epoch: int, steps: int) -> None: ...

    def on_batch_end(self, trainer: Any, step: int) -> None: ...

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None: ...

    def on_train_end(self, trainer: Any) -> None: ...
