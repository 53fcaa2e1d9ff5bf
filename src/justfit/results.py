"""RunResult and the run directory's files: plain, JSON-serialisable, written atomically."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from justfit._files import read_json
from justfit.errors import RunDirError
from justfit.history import History

# The run directory contract (see README): every file a finished run has.
RUN_FILES = ("config.yaml", "history.jsonl", "metrics.json", "result.json", "splits.json",
             "predictions.csv", "data_report.json", "removed.csv", "flagged.csv", "diagnosis.json", "report.html", "model")


@dataclass
class RunResult:
    """Everything a finished run produced, as plain data. ``justfit`` commands read it back from disk."""

    run_dir: str
    labels: list[Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    best_epoch: int | None
    stop_reason: str
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    verdict: str = ""  # the diagnosis' verdict; the findings are in diagnosis.json

    @property
    def model_dir(self) -> Path:
        return Path(self.run_dir) / "model"

    def summary(self) -> dict[str, Any]:
        """The task's headline test metrics (classification: accuracy, F1, log loss, majority baseline;
        regression: RMSE, MAE, R², Spearman, the training-mean baseline)."""
        from justfit.tasks.base import get_task

        keys = get_task(self.data.get("task") or "classification").headline
        return {k: self.metrics.get(k) for k in keys if k in self.metrics}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("history")
        d.pop("config")
        return d

    @classmethod
    def load(cls, run_dir: str | Path) -> RunResult:
        """Read a finished run directory back (no model is loaded)."""
        import yaml

        run_dir = Path(run_dir)
        if not (run_dir / "result.json").is_file():
            hint = " It looks unfinished (a .partial folder)." if run_dir.name.endswith(".partial") else ""
            raise RunDirError(f"'{run_dir}' is not a finished justfit run directory (no result.json).{hint} "
                              "Pass the folder that 'justfit train' printed.")
        d = read_json(run_dir / "result.json")
        d["run_dir"] = str(run_dir)
        d["history"] = History.from_jsonl(run_dir / "history.jsonl").records
        cfg = run_dir / "config.yaml"
        d["config"] = yaml.safe_load(cfg.read_text()) if cfg.exists() else {}
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})
