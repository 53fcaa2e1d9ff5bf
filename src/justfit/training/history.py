"""History: one plain dict per epoch, as in skorch. Everything that explains a run reads this."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from justfit._files import atomic_write_text

EVAL_METRICS = ("loss", "accuracy", "precision", "recall", "f1", "f1_weighted")


def available_metrics(train_eval: bool = True) -> list[str]:
    """Names an epoch record will hold, known before training starts (for early-stopping checks)."""
    names = ["train_loss"] + [f"val_{m}" for m in EVAL_METRICS]
    if train_eval:
        names += [f"train_{m}" for m in EVAL_METRICS if m != "loss"] + ["train_eval_loss"]
    return names + ["lr"]


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
