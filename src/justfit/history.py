"""History: one plain dict per epoch, as in skorch. Everything that explains a run reads this."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from justfit._files import atomic_write_text
from justfit.directions import recorded_directions

# The classification task's epoch metrics: what a Trainer without a task records.
EVAL_METRICS = {"loss": "min", "accuracy": "max", "precision": "max", "recall": "max", "f1": "max",
                "f1_weighted": "max"}


def available_metrics(train_eval: bool = True, directions: dict[str, str] | None = None) -> dict[str, str]:
    """The rankable names an epoch record will hold, known before training starts, each with ``"min"`` or
    ``"max"`` (which way is better): ``justfit.directions.recorded_directions`` of the task's epoch metrics
    (``task.metric_directions``; the classification metrics for a trainer without a task). ``lr`` is
    recorded too but has no better direction, so it is not among them."""

    return recorded_directions(dict(directions or EVAL_METRICS), train_eval)


class History:
    def __init__(self, records: Iterable[dict[str, Any]] = ()) -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in records]

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(dict(record))

    def column(self, key: str) -> list[Any]:
        return [r.get(key) for r in self.records]

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.records[i]

    def __iter__(self):
        return iter(self.records)

    def to_jsonl(self, path: str | Path) -> None:
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in self.records))

    @classmethod
    def from_jsonl(cls, path: str | Path) -> History:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls(json.loads(line) for line in lines if line.strip())
