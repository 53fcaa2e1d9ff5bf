"""Crash-safe checkpoints: at every epoch end and every ``every_steps`` optimisation steps.

A checkpoint is written into a hidden temporary folder beside the others and renamed to
``checkpoint-NNNNNN`` only once complete (``trainer_state.json`` is its last file), so a process
killed while writing leaves the previous checkpoint intact and an unfinished ``.tmp-*`` folder that
``latest_checkpoint`` ignores and the next save removes. The newest ``keep`` checkpoints are kept.
Numbers continue across the trainers of one run (a recipe's stages), so the highest is the newest.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from justfit._files import read_json
from justfit.training.callbacks.base import Callback
from justfit.training.trainer import TRAINER_STATE

PREFIX = "checkpoint-"


def checkpoints_in(folder: str | Path) -> list[Path]:
    """The complete checkpoints in ``folder``, oldest first (an unfinished write is not one)."""

    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
             and p.name[len(PREFIX):].isdigit() and (p / TRAINER_STATE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest complete checkpoint in ``folder``, or None."""
    found = checkpoints_in(folder)
    return found[-1] if found else None


def read_checkpoint_state(checkpoint: str | Path) -> dict[str, Any]:
    """The loop's saved state (``Trainer.state_dict`` plus the caller's ``extra``) of one checkpoint."""

    return read_json(Path(checkpoint) / TRAINER_STATE)


class Checkpointer(Callback):
    """Save the fit into ``folder`` at every epoch end and, with ``every_steps``, every that many
    optimisation steps inside an epoch; keep the newest ``keep``. ``extra`` (called at each save)
    returns plain data the caller needs to resume beyond the trainer's own state (a recipe's stage,
    the records of earlier stages)."""

    def __init__(self, folder: str | Path, every_steps: int | None = None, keep: int = 2,
                 extra: Callable[[], dict[str, Any]] | None = None) -> None:
        self.folder = Path(folder)
        self.every_steps = every_steps
        self.keep = max(int(keep), 1)
        self.extra = extra
        self.saved: list[Path] = []

    def on_step_end(self, trainer: Any, global_step: int) -> None:
        # A step that ends the epoch, or one after which training stops, is saved at the epoch's end.
        if not self.every_steps or global_step % self.every_steps or trainer.should_stop \
                or trainer.batch_in_epoch >= trainer.batches_per_epoch:
            return
        self.save(trainer)

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        self.save(trainer)

    def save(self, trainer: Any) -> Path:
        """Write one checkpoint now (between optimisation steps) and prune the old ones."""
        main = trainer.accelerator.is_main_process
        existing = checkpoints_in(self.folder)
        number = int(existing[-1].name[len(PREFIX):]) + 1 if existing else 1
        final = self.folder / f"{PREFIX}{number:06d}"
        tmp = self.folder / f".tmp-{PREFIX}{number:06d}"
        if main:
            self.folder.mkdir(parents=True, exist_ok=True)
            for old in self.folder.glob(f".tmp-{PREFIX}*"):  # left by a process killed while writing
                shutil.rmtree(old, ignore_errors=True)
        trainer.accelerator.wait_for_everyone()
        trainer.save_checkpoint(tmp, self.extra() if self.extra else None)
        if main:
            tmp.rename(final)
            for old in checkpoints_in(self.folder)[:-self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        trainer.accelerator.wait_for_everyone()
        self.saved.append(final)
        return final
