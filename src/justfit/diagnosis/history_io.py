"""Read per-epoch histories: justfit run directories, and the files other tools write.

Supported: a justfit run directory (``history.jsonl`` plus ``result.json``, ``metrics.json``,
``config.yaml``); Keras ``CSVLogger`` CSVs (``epoch,accuracy,loss,val_accuracy,val_loss``);
Hugging Face ``Trainer``'s ``trainer_state.json`` (``log_history``); and a plain CSV, JSON
or JSONL table of per-epoch values. Every format comes out in justfit's names:
``train_loss``, ``val_loss``, ``train_accuracy``, ``val_accuracy``, ``val_f1``, ``lr``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from justfit.errors import DataError

# Other tools' column names -> justfit's.
ALIASES = {
    "loss": "train_loss", "training_loss": "train_loss", "train_loss": "train_loss",
    "accuracy": "train_accuracy", "acc": "train_accuracy", "train_acc": "train_accuracy",
    "train_accuracy": "train_accuracy", "val_acc": "val_accuracy", "val_accuracy": "val_accuracy",
    "val_loss": "val_loss", "validation_loss": "val_loss", "valid_loss": "val_loss",
    "eval_loss": "val_loss", "eval_accuracy": "val_accuracy", "eval_f1": "val_f1", "val_f1": "val_f1",
    "f1": "train_f1", "train_f1": "train_f1", "lr": "lr", "learning_rate": "lr", "epoch": "epoch",
}


def _num(v: Any) -> Any:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return f


def _rename(record: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in record.items():
        key = ALIASES.get(str(k).strip().lower(), str(k).strip())
        out[key] = _num(v)
    return out


def load_history(path: str | Path) -> dict[str, Any]:
    """``{"history": [...], "format": ..., and where known "data", "metrics", "config", "n_train", ...}``."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"'{p}' does not exist. Pass a justfit run directory, a Keras CSVLogger CSV, a "
                        "trainer_state.json, or a CSV/JSON of per-epoch values.")
    if p.is_dir():
        if (p / "history.jsonl").is_file():
            return _justfit_run(p)
        if (p / "trainer_state.json").is_file():
            return _trainer_state(p / "trainer_state.json")
        raise DataError(f"'{p}' holds no history.jsonl or trainer_state.json. Pass a run directory or a history file.")
    if p.name.endswith(".jsonl") or p.suffix == ".json":
        text = p.read_text(encoding="utf-8")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            obj = [json.loads(line) for line in text.splitlines() if line.strip()]
        if isinstance(obj, dict) and "log_history" in obj:
            return _trainer_state(p, obj)
        if isinstance(obj, dict):  # {"loss": [...], "val_loss": [...]} as Keras' history.history
            n = max((len(v) for v in obj.values() if isinstance(v, list)), default=0)
            obj = [{k: v[i] for k, v in obj.items() if isinstance(v, list) and i < len(v)} for i in range(n)]
        if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
            raise DataError(f"'{p}' is not a per-epoch history: expected a list of objects such as "
                            '{"epoch": 1, "train_loss": 0.7, "val_loss": 0.8}, or trainer_state.json.')
        return _finish([_rename(r) for r in obj], "json table", p)
    if p.suffix.lower() in (".csv", ".tsv"):
        import pandas as pd

        # Empty or NA cells are epochs without that value (e.g. validation every other epoch), not NaN losses;
        # only a literal nan/inf in a loss column means the loss blew up.
        frame = pd.read_csv(p, sep="\t" if p.suffix.lower() == ".tsv" else ",", keep_default_na=False,
                            na_values=[])
        cols = {c.strip().lower() for c in frame.columns}
        fmt = "keras CSVLogger" if {"epoch", "loss"} <= cols and ("val_loss" in cols or "accuracy" in cols) else "csv table"
        records = [_rename(r) for r in frame.to_dict("records")]
        if fmt == "keras CSVLogger":
            for r in records:  # Keras counts epochs from 0
                r["epoch"] = int(r["epoch"]) + 1
        return _finish(records, fmt, p)
    raise DataError(f"Cannot read a history from '{p.name}'. Use a run directory, .csv, .json or .jsonl.")


def _finish(records: list[dict[str, Any]], fmt: str, p: Path, **extra: Any) -> dict[str, Any]:
    if not records:
        raise DataError(f"'{p}' holds no epochs.")
    if not any("train_loss" in r or "val_loss" in r for r in records):
        raise DataError(f"'{p}' has no loss column (looked for loss/train_loss/val_loss). Columns: "
                        f"{', '.join(records[0])}.")
    for i, r in enumerate(records, start=1):
        r.setdefault("epoch", i)
        for k, v in list(r.items()):
            if isinstance(v, str) and v.strip().lower() in ("", "na", "n/a", "none", "null"):
                del r[k]  # an empty cell: no value this epoch
            elif isinstance(v, float) and math.isnan(v) and k not in ("train_loss", "val_loss"):
                del r[k]
    return {"history": records, "format": fmt, **extra}


def _justfit_run(p: Path) -> dict[str, Any]:
    from justfit.results import read_json
    from justfit.training.history import History

    out: dict[str, Any] = {"history": History.from_jsonl(p / "history.jsonl").records, "format": "justfit run"}
    if (p / "result.json").is_file():
        res = read_json(p / "result.json")
        data = res.get("data", {})
        out["data"] = data.get("quality", {})
        out["n_train"] = data.get("sizes", {}).get("train")
        out["n_params"] = data.get("params", {}).get("trainable_params")
        out["n_classes"] = len(res.get("labels") or []) or None
    if (p / "metrics.json").is_file():
        out["metrics"] = read_json(p / "metrics.json")
    if (p / "config.yaml").is_file():
        import yaml

        out["config"] = yaml.safe_load((p / "config.yaml").read_text())
    return out


def _trainer_state(p: Path, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Hugging Face ``Trainer``: training-loss logs every few steps, eval logs per evaluation; grouped by epoch."""
    state = state if state is not None else json.loads(p.read_text(encoding="utf-8"))
    by_epoch: dict[int, dict[str, Any]] = {}
    train_losses: dict[int, list[float]] = {}
    for entry in state.get("log_history", []):
        epoch = math.ceil(float(entry.get("epoch", 0)) - 1e-9) or 1
        if "loss" in entry:
            train_losses.setdefault(epoch, []).append(float(entry["loss"]))
            if "learning_rate" in entry:
                by_epoch.setdefault(epoch, {})["lr"] = float(entry["learning_rate"])
        if any(k.startswith("eval_") for k in entry):
            rec = by_epoch.setdefault(epoch, {})
            for k, v in entry.items():
                if k.startswith("eval_") and k not in ("eval_runtime", "eval_samples_per_second",
                                                       "eval_steps_per_second"):
                    rec[ALIASES.get(k, "val_" + k[5:])] = float(v)
    for epoch, losses in train_losses.items():
        by_epoch.setdefault(epoch, {})["train_loss"] = sum(losses) / len(losses)
    records = [{"epoch": e, **by_epoch[e]} for e in sorted(by_epoch)]
    return _finish(records, "transformers trainer_state.json", p)
