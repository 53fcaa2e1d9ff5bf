"""Read training histories as evaluation points: justfit run directories, and the files other tools write.

Supported: a justfit run directory (``history.jsonl`` plus ``result.json``, ``metrics.json``,
``config.yaml``); Keras ``CSVLogger`` CSVs (``epoch,accuracy,loss,val_accuracy,val_loss``) and
Keras ``history.history`` JSON dicts (``{"loss": [...], "val_loss": [...]}``); fastai's
``CSVLogger`` (``epoch,train_loss,valid_loss,accuracy,time``); Lightning's ``metrics.csv``
(``epoch,step,train_loss,val_loss``, training and validation values on alternating rows);
Hugging Face ``Trainer``'s ``trainer_state.json`` (``log_history``, evaluations every N steps
or every epoch); and a plain CSV, JSON or JSONL table. Every format comes out in justfit's
names: ``train_loss``, ``val_loss``, ``train_accuracy``, ``val_accuracy``, ``val_f1``, ``lr``.

Positions. Other tools' records are evaluation points, not epochs: each carries

- ``position``: a float, in epochs when the log gives epochs (fractional for evaluations in the
  middle of an epoch, as trainer_state.json writes them), else in optimiser steps; the result's
  ``position_unit`` says which ("epoch", "step" or "row");
- ``label``: the position as a person reads it: ``"epoch 3"``, ``"step 200 (epoch 0.4)"``, ``"step 200"``;
- ``epoch`` and ``step`` where the log has them. Epochs are counts of epochs done, from 1: Keras,
  fastai and Lightning write 0 for the first epoch and are shifted by one; trainer_state.json
  already writes 1.0 at the end of the first epoch. Steps are as the log writes them.

A record holds what was measured at its position: a validation point has ``val_*`` values, and
the training loss of the steps since the previous evaluation when the log records it on separate
rows (Lightning, trainer_state.json); a training row of an epoch without evaluation (Keras
``validation_freq=2``) stays a training-only record, never a fake evaluation point.

Irregular files: header lines repeated in the middle of a CSV (an appending logger) are skipped;
several runs appended to one file (the epoch or step counter going back to its first value) are
split and the LAST run is diagnosed, which the result's ``notes`` and ``source`` say; a counter
that goes back to a later value (training resumed from a checkpoint) replaces the earlier rows
from that position on. justfit's own ``history.jsonl`` (one record per epoch) is read as it is.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

from justfit._files import read_json
from justfit.data.textfile import read_text_file, sniff_delimiter
from justfit.errors import DataError
from justfit.history import History

# Other tools' column names -> justfit's.
ALIASES = {
    "loss": "train_loss", "training_loss": "train_loss", "train_loss": "train_loss", "train_loss_epoch": "train_loss",
    "accuracy": "train_accuracy", "acc": "train_accuracy", "train_acc": "train_accuracy",
    "train_accuracy": "train_accuracy", "train_acc_epoch": "train_accuracy", "train_accuracy_epoch": "train_accuracy",
    "val_acc": "val_accuracy", "val_accuracy": "val_accuracy", "val_acc_epoch": "val_accuracy",
    "val_loss": "val_loss", "validation_loss": "val_loss", "valid_loss": "val_loss", "val_loss_epoch": "val_loss",
    "eval_loss": "val_loss", "eval_accuracy": "val_accuracy", "eval_f1": "val_f1", "val_f1": "val_f1",
    "f1": "train_f1", "train_f1": "train_f1", "lr": "lr", "learning_rate": "lr", "epoch": "epoch", "step": "step",
}
# The tool that writes each format (remedies are said in its terms: diagnosis.tool_terms); None: unknown.
TOOL_OF_FORMAT = {"keras CSVLogger": "keras", "keras history dict": "keras", "fastai CSVLogger": "fastai",
                  "lightning metrics.csv": "lightning", "transformers trainer_state.json": "transformers"}
# fastai's metric columns are measured on the validation set.
FASTAI_METRICS = {"accuracy": "val_accuracy", "f1_score": "val_f1", "f1score": "val_f1", "error_rate": "val_error_rate"}
_MISSING = {"", "na", "n/a", "none", "null", "#na#", "-"}
_TRAIN_KEYS = ("train_loss", "train_accuracy", "train_f1", "train_eval_loss")
_NOT_VALUES = {"epoch", "step", "position", "label", "time", "seconds"}


def _cell(v: Any) -> Any:
    """A value from a file: a float where it reads as one (``nan``/``inf`` included), ``None`` when missing."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return float(v)
    s = str(v).strip()
    if s.lower() in _MISSING:
        return None
    try:
        return float(s)
    except ValueError:
        return s


def _rename(record: dict[str, Any], aliases: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in record.items():
        name = str(k).strip()
        key = (aliases or {}).get(name.lower()) or ALIASES.get(name.lower(), name)
        if out.get(key) is not None:
            continue  # e.g. train_loss_epoch and train_loss both present: the first wins
        out[key] = _cell(v)
    return {k: v for k, v in out.items() if v is not None}


def check_history_path(path: str | Path) -> Path:
    """The file or run directory that ``path`` names, checked before any work; a one-line ``DataError`` if unusable."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"'{p}' does not exist. Pass a justfit run directory, a Keras/fastai/Lightning CSV log, a "
                        "trainer_state.json, or a CSV/JSON of per-epoch values.")
    if p.is_dir():
        for name in ("history.jsonl", "trainer_state.json"):
            if (p / name).is_file():
                return _nonempty(p / name).parent
        ckpt = _latest_checkpoint(p)
        if ckpt is not None:
            return ckpt.parent
        raise DataError(f"'{p}' holds no history.jsonl or trainer_state.json. Pass a run directory or a history file.")
    return _nonempty(p)


def _nonempty(p: Path) -> Path:
    if p.stat().st_size == 0:
        raise DataError(f"'{p}' is empty (0 bytes): the run wrote no history. Pass the log of a run that "
                        "finished at least one epoch or evaluation.")
    return p


def _latest_checkpoint(p: Path) -> Path | None:
    """``checkpoint-N/trainer_state.json`` with the largest N in a Trainer output folder."""
    found = [(int(m.group(1)), c / "trainer_state.json") for c in p.glob("checkpoint-*")
             if (m := re.fullmatch(r"checkpoint-(\d+)", c.name)) and (c / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def load_history(path: str | Path) -> dict[str, Any]:
    """Read a history. Returns ``{"history": [records], "format", "source", "notes": [str], "runs": int,
    "position_unit", "best": {...}}`` and, for a justfit run, ``"data", "metrics", "config", "n_train", ...``.

    See the module docstring for positions and units. Every unreadable input is a one-line ``DataError``.
    """
    p = check_history_path(path)
    if p.is_dir():
        if (p / "history.jsonl").is_file():
            return _justfit_run(p)
        state = p / "trainer_state.json"
        if state.is_file():
            return _trainer_state(state)
        ckpt = _latest_checkpoint(p)
        if ckpt is None:  # check_history_path found one; the folder changed since
            raise DataError(f"'{p}' holds no history.jsonl, trainer_state.json or checkpoint-*/trainer_state.json.")
        out = _trainer_state(_nonempty(ckpt))
        out["notes"].insert(0, f"read the latest checkpoint, {ckpt.parent.name}")
        return out
    if p.name.endswith(".jsonl") or p.suffix.lower() == ".json":
        return _json_file(p)
    if p.suffix.lower() in (".csv", ".tsv", ".log", ".txt"):
        return _csv_file(p)
    raise DataError(f"Cannot read a history from '{p.name}'. Use a run directory, .csv, .tsv, .json or .jsonl.")


# ---- CSV ---------------------------------------------------------------------------------------------------


def _is_header(cells: list[str]) -> bool:
    known = set(ALIASES) | set(FASTAI_METRICS) | {"time", "valid_loss"}
    return all(isinstance(_cell(c), str) or _cell(c) is None for c in cells) and \
        any(c.strip().lower() in known for c in cells)


def _text(p: Path) -> str:
    """A log file's text, whatever its encoding (UTF-16 from PowerShell, cp1252, ...); one-line ``DataError``
    for a file that is not text."""

    try:
        return read_text_file(p)
    except DataError as exc:
        raise DataError(f"Cannot read '{p}' as a training log: {str(exc)[0].lower() + str(exc)[1:]}") from None


def _csv_file(p: Path) -> dict[str, Any]:
    text = _text(p)
    if not text.strip():
        raise DataError(f"'{p}' holds only blank lines: the run wrote no history. Pass the log of a run that "
                        "finished at least one epoch.")

    sep = sniff_delimiter(text, "\t" if p.suffix.lower() == ".tsv" else ",")
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    repeated = 0
    for cells in csv.reader(io.StringIO(text), delimiter=sep):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if header is None:
            header = cells
            continue
        if _is_header(cells):  # an appending logger writes its header again
            repeated += 1
            header = cells
            continue
        rows.append(dict(zip(header, cells, strict=False)))
    if header is None:
        raise DataError(f"'{p}' has no header row: expected column names such as epoch,train_loss,val_loss.")
    if not rows:
        raise DataError(f"'{p}' has a header ({', '.join(header)}) but no rows: the run logged no epoch. Pass the "
                        "log of a run that finished at least one epoch.")
    cols = {c.lower() for r in rows for c in r}
    notes = [f"skipped {repeated} repeated header line{'s' if repeated > 1 else ''}"] if repeated else []
    if {"epoch", "train_loss", "valid_loss"} <= cols:
        fmt, aliases, shift = "fastai CSVLogger", FASTAI_METRICS, 1
    elif {"epoch", "step"} <= cols and any(c.startswith("val") for c in cols):
        fmt, aliases, shift = "lightning metrics.csv", {}, 1
    elif {"epoch", "loss"} <= cols and ("val_loss" in cols or "accuracy" in cols):
        fmt, aliases, shift = "keras CSVLogger", {}, 1
    else:
        fmt, aliases, shift = "csv table", {}, 0
    records = [_rename(r, aliases) for r in rows]
    return _points(records, fmt, p, notes, epoch_shift=shift)


# ---- JSON ----------------------------------------------------------------------------------------------------


def _json_file(p: Path) -> dict[str, Any]:
    text = _text(p)
    if not text.strip():
        raise DataError(f"'{p}' holds only blank lines: the run wrote no history.")
    try:
        obj: Any = json.loads(text)
    except json.JSONDecodeError:
        obj = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"'{p}' line {n} is not JSON ({exc.msg}): expected one JSON object per line, "
                                "or one JSON document.") from None
    if isinstance(obj, dict) and "log_history" in obj:
        return _trainer_state(p, obj)
    if isinstance(obj, dict) and isinstance(obj.get("history"), dict):  # a pickled/saved keras History object
        return _keras_dict(p, obj["history"], obj.get("epoch"))
    if isinstance(obj, dict) and any(isinstance(v, list) for v in obj.values()):
        return _keras_dict(p, obj, None)
    if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
        raise DataError(f"'{p}' is not a training history: expected a list of objects such as "
                        '{"epoch": 1, "train_loss": 0.7, "val_loss": 0.8}, a Keras history dict, or trainer_state.json.')
    if not obj:
        raise DataError(f"'{p}' holds an empty list: the run logged no epoch.")
    return _points([_rename(r) for r in obj], "json table", p, [])


def _keras_dict(p: Path, hist: dict[str, Any], epochs: Any) -> dict[str, Any]:
    """Keras ``history.history``: one list per metric. Lists shorter than the longest are validation values
    of ``validation_freq=k`` (taken at epochs k, 2k, ...), placed at those epochs, not paired by index."""
    lists = {ALIASES.get(str(k).strip().lower(), str(k).strip()): v for k, v in hist.items() if isinstance(v, list)}
    n = max((len(v) for v in lists.values()), default=0)
    if n == 0:
        raise DataError(f"'{p}' holds a history dict with no values: the run logged no epoch.")
    if isinstance(epochs, list) and len(epochs) == n:
        numbers = [float(e) + 1 for e in epochs]  # Keras counts epochs from 0
    else:
        numbers = [float(i + 1) for i in range(n)]
    rows: list[dict[str, Any]] = [{"epoch": e} for e in numbers]
    notes = []
    for key, values in lists.items():
        m = len(values)
        if m == 0:
            continue
        freq = max(1, n // m)
        idx = list(range(n)) if m == n else [freq * (j + 1) - 1 for j in range(m)]
        if m != n:
            notes.append(f"{key} has {m} values for {n} epochs: placed every {freq} epochs, as Keras' "
                         "validation_freq does")
        for j, i in enumerate(idx):
            if i < n:
                v = _cell(values[j])
                if v is not None:
                    rows[i][key] = v
    return _points(rows, "keras history dict", p, notes, epoch_shift=0)


# ---- Hugging Face trainer_state.json -----------------------------------------------------------------------


def _trainer_state(p: Path, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Hugging Face ``Trainer``: training-loss logs every ``logging_steps``, eval logs every ``eval_steps`` or
    epoch. Every evaluation is kept as a point at its step and (fractional) epoch; the training losses logged
    since the previous evaluation are averaged into it. Without any evaluation, training logs are grouped
    by epoch."""
    if state is None:
        try:
            state = json.loads(_text(p))
        except json.JSONDecodeError as exc:
            raise DataError(f"'{p}' is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise DataError(f"'{p}' has no log_history list: not a Trainer state file.")
    rows = []
    skip = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}
    for entry in state["log_history"]:
        if not isinstance(entry, dict) or "train_runtime" in entry:  # the end-of-training summary
            continue
        base = {k: float(entry[k]) for k in ("epoch", "step") if isinstance(entry.get(k), int | float)}
        row: dict[str, Any] = dict(base)
        if "loss" in entry:
            row["train_loss"] = _cell(entry["loss"])
            if "learning_rate" in entry:
                row["lr"] = _cell(entry["learning_rate"])
        for k, v in entry.items():
            if k.startswith("eval_") and k not in skip:
                row[ALIASES.get(k, "val_" + k[5:])] = _cell(v)
        row = {k: v for k, v in row.items() if v is not None}
        if len(row) > len(base):
            rows.append(row)
    if not rows:
        raise DataError(f"'{p}' has no training or evaluation logs in log_history: the run logged nothing yet.")
    notes: list[str] = []
    if not any(any(k.startswith("val_") for k in r) for r in rows):
        by_epoch: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            by_epoch.setdefault(math.ceil(float(r.get("epoch", 0)) - 1e-9) or 1, []).append(r)
        rows = []
        for e in sorted(by_epoch):
            group = by_epoch[e]
            rec: dict[str, Any] = {"epoch": float(e), "step": group[-1].get("step")}
            losses = [float(r["train_loss"]) for r in group if "train_loss" in r]
            if losses:
                rec["train_loss"] = sum(losses) / len(losses)
            lrs = [r["lr"] for r in group if "lr" in r]
            if lrs:
                rec["lr"] = lrs[-1]
            rows.append({k: v for k, v in rec.items() if v is not None})
        notes.append("the log holds no evaluation: training losses grouped by epoch")
    best: dict[str, Any] = {}
    if state.get("best_model_checkpoint"):
        best["checkpoint"] = Path(str(state["best_model_checkpoint"])).name
        m = re.search(r"checkpoint-(\d+)$", str(state["best_model_checkpoint"]).rstrip("/"))
        if m:
            best["step"] = float(m.group(1))
    if isinstance(state.get("best_global_step"), int | float):
        best["step"] = float(state["best_global_step"])
    if isinstance(state.get("best_metric"), int | float):
        best["metric"] = float(state["best_metric"])
    out = _points(rows, "transformers trainer_state.json", p, notes, epoch_shift=0)
    out["config"], out["model_type"] = _trainer_settings(p, state)
    if best:
        at = next((r for r in out["history"] if r.get("step") == best.get("step")), None)
        if at is not None:
            best["label"] = at["label"]
            if out["position_unit"] == "epoch":
                best["epoch"] = at["position"]
        out["best"] = best
    return out


def _trainer_settings(p: Path, state: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """What a Trainer's files state about its run, in justfit's keys (only what they state: nothing is taken
    from justfit's defaults), and the model's ``model_type``. ``trainer_state.json``: ``num_train_epochs``,
    ``train_batch_size`` and, from transformers 4.41, ``stateful_callbacks`` (an ``EarlyStoppingCallback``
    with its ``early_stopping_patience``, or none); beside it, the checkpoint's ``config.json`` and a PEFT
    ``adapter_config.json`` (LoRA, its rank ``r``)."""
    cfg: dict[str, dict[str, Any]] = {"training": {}}
    if isinstance(state.get("num_train_epochs"), int | float) and state["num_train_epochs"] > 0:
        cfg["training"]["epochs"] = int(math.ceil(state["num_train_epochs"]))
    if isinstance(state.get("train_batch_size"), int) and state["train_batch_size"] > 0:
        cfg["training"]["batch_size"] = state["train_batch_size"]
    callbacks = state.get("stateful_callbacks")
    if isinstance(callbacks, dict):
        es = callbacks.get("EarlyStoppingCallback")
        es = es[-1] if isinstance(es, list) and es else es
        if isinstance(es, dict):
            patience = (es.get("args") or {}).get("early_stopping_patience")
            cfg["early_stopping"] = {"enabled": True, **({"patience": int(patience)}
                                                         if isinstance(patience, int | float) else {})}
        else:
            cfg["early_stopping"] = {"enabled": False}
    model_type = None
    for folder in (p.parent, p.parent.parent):
        try:
            if model_type is None and (folder / "config.json").is_file():
                model_type = json.loads((folder / "config.json").read_text()).get("model_type")
            if "model" not in cfg and (folder / "adapter_config.json").is_file():
                adapter = json.loads((folder / "adapter_config.json").read_text())
                if str(adapter.get("peft_type", "")).upper() == "LORA":
                    cfg["model"] = {"strategy": "lora", **({"lora_rank": int(adapter["r"])}
                                                           if isinstance(adapter.get("r"), int) else {})}
        except (OSError, ValueError, AttributeError):  # an unreadable neighbour: nothing stated
            continue
    return {k: v for k, v in cfg.items() if v}, (str(model_type) if model_type else None)


# ---- From rows to evaluation points ----------------------------------------------------------------------------


def _counter(r: dict[str, Any], by: str | None) -> float | None:
    v = r.get(by) if by else None
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _split_runs(rows: list[dict[str, Any]], notes: list[str]) -> tuple[list[dict[str, Any]], int]:
    """The last run of a file that may hold several appended ones. A counter (step, else epoch) that falls back
    to the file's first value starts a new run; one that falls back to a later value is a resumed run, whose
    rows replace the earlier ones from that value on."""
    by = "step" if all("step" in r for r in rows) else "epoch" if all("epoch" in r for r in rows) else None
    if by is None:
        return rows, 1
    first = _counter(rows[0], by)
    runs: list[list[dict[str, Any]]] = [[]]
    resumed = 0
    prev: float | None = None
    for r in rows:
        c = _counter(r, by)
        # (Steps repeat between a training row and a validation row; an epoch number never repeats in one run.)
        if prev is not None and c is not None and (c < prev or (by == "epoch" and c == prev)):
            if first is not None and c <= first:
                runs.append([])
            else:
                cur = runs[-1]
                runs[-1] = [x for x in cur if (_counter(x, by) or -math.inf) < c]
                resumed += 1
        runs[-1].append(r)
        if c is not None:
            prev = c
    if resumed:
        notes.append(f"training was resumed {resumed} time{'s' if resumed > 1 else ''} (the {by} counter went back): "
                     "the later rows replace the earlier ones from there")
    if len(runs) > 1:
        notes.append(f"the file holds {len(runs)} runs appended one after another (the {by} counter restarts); "
                     f"diagnosed the last one ({len(runs[-1])} of {len(rows)} rows)")
    return runs[-1], len(runs)


def _fmt(x: float) -> str:
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:.2f}".rstrip("0").rstrip(".")


def _is_eval(r: dict[str, Any]) -> bool:
    return any(k.startswith("val_") and isinstance(v, int | float) for k, v in r.items())


def _points(rows: list[dict[str, Any]], fmt: str, p: Path, notes: list[str], *, epoch_shift: int = 0
            ) -> dict[str, Any]:
    if not rows:
        raise DataError(f"'{p}' holds no epochs or evaluations.")
    if not any("train_loss" in r or "val_loss" in r for r in rows):
        cols = sorted({k for r in rows for k in r})
        raise DataError(f"'{p}' has no loss column (looked for loss/train_loss/val_loss/valid_loss/eval_loss). "
                        f"Columns: {', '.join(cols)}.")
    for r in rows:
        for k in ("epoch", "step"):
            if k in r and not isinstance(r[k], int | float):
                del r[k]
        if "epoch" in r:
            r["epoch"] = float(r["epoch"]) + epoch_shift
        for k, v in list(r.items()):  # text cells in value columns (fastai's time "00:03") are not values
            if isinstance(v, str):
                del r[k]
    rows, runs = _split_runs(rows, notes)
    evals = [r for r in rows if _is_eval(r)]
    # The unit of positions: epochs when the evaluations have distinct epochs, else steps, else the row order.
    ev_epochs = [r.get("epoch") for r in evals or rows]
    if all(e is not None for e in ev_epochs) and len(set(ev_epochs)) == len(ev_epochs):
        unit = "epoch"
    elif all("step" in r for r in rows):
        unit = "step"
    else:
        unit = "row"
    order = "step" if all("step" in r for r in rows) else unit
    for i, r in enumerate(rows):
        r["_order"] = float(r[order]) if order in ("step", "epoch") and order in r else float(i)
    # Training values logged on their own rows go to the next evaluation that lacks them (the mean of the
    # training losses since the previous evaluation); an evaluation row with its own training loss keeps it.
    out: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    prev_eval = -math.inf
    # (At one position, training rows before the evaluation: Lightning writes them in either order.)
    for r in sorted(rows, key=lambda r: (r["_order"], _is_eval(r))):
        if _is_eval(r):
            rec = dict(r)
            inside = [x for x in pending if prev_eval < x["_order"] <= r["_order"]]
            if "train_loss" not in rec and inside:
                for key in _TRAIN_KEYS:
                    vals = [float(x[key]) for x in inside if isinstance(x.get(key), int | float)]
                    if vals:
                        rec[key] = sum(vals) / len(vals)
                lrs = [x["lr"] for x in inside if isinstance(x.get("lr"), int | float)]
                if lrs and "lr" not in rec:
                    rec["lr"] = lrs[-1]
                pending = [x for x in pending if x not in inside]
            out.extend(pending)  # training rows of epochs whose evaluation has its own training loss
            pending = []
            out.append(rec)
            prev_eval = r["_order"]
        else:
            pending.append(r)
    out.extend(pending)
    out.sort(key=lambda r: r["_order"])
    # Merge rows at the same position that measured different things (a validation row and a training row).
    merged: list[dict[str, Any]] = []
    for r in out:
        if merged and merged[-1]["_order"] == r["_order"] and not (set(merged[-1]) & set(r)) - {
                "_order", "epoch", "step"}:
            merged[-1].update(r)
        else:
            merged.append(r)
    fractional = any(r.get("epoch", 0) % 1 > 1e-9 for r in merged if _is_eval(r))
    for i, r in enumerate(merged):
        del r["_order"]
        if unit == "epoch":
            r["position"] = float(r["epoch"])
        elif unit == "step":
            r["position"] = float(r["step"])
        else:
            r["position"] = float(i + 1)
        # Labels number epochs as the log does (Keras, fastai and Lightning count from 0); positions count
        # from 1, as epochs trained, for the remedies that name a number of epochs.
        if "step" in r and (fractional or unit == "step"):
            r["label"] = f"step {_fmt(r['step'])}" + (f" (epoch {_fmt(r['epoch'] - epoch_shift)})" if "epoch" in r
                                                     else "")
        elif "epoch" in r:
            r["label"] = f"epoch {_fmt(r['epoch'] - epoch_shift)}"
        else:
            r["label"] = f"row {i + 1}"
        if "epoch" in r and r["epoch"] % 1 == 0:
            r["epoch"] = int(r["epoch"])
        if "step" in r and r["step"] % 1 == 0:
            r["step"] = int(r["step"])
    if not any("train_loss" in r or "val_loss" in r for r in merged):
        raise DataError(f"'{p}' has no loss values in its last run.")
    notes.extend(_spacing_note(merged, unit))
    source = fmt + (f", last of {runs} runs in the file" if runs > 1 else "")
    return {"history": merged, "format": fmt, "source": source, "notes": notes, "runs": runs,
            "position_unit": unit, "best": {}, "tool": TOOL_OF_FORMAT.get(fmt)}


def _spacing_note(records: list[dict[str, Any]], unit: str) -> list[str]:
    """"evaluated every 50 steps" / "every 2 epochs" when the evaluations are not one per epoch."""
    evals = [r for r in records if _is_eval(r)]
    if len(evals) < 2:
        return []
    for key in ("step", "epoch"):
        xs = [r.get(key) for r in evals]
        if any(x is None for x in xs):
            continue
        gaps = {round(float(b) - float(a), 6) for a, b in zip(xs, xs[1:], strict=False)}
        fractional = any(float(r["epoch"]) % 1 for r in evals if "epoch" in r)
        if key == "step" and (fractional or unit == "step"):
            every = f"every {_fmt(gaps.pop())} steps" if len(gaps) == 1 else "at irregular steps"
            return [f"{len(evals)} evaluations, {every}"]
        if key == "epoch" and unit == "epoch" and gaps != {1.0}:
            every = f"every {_fmt(gaps.pop())} epochs" if len(gaps) == 1 else "at irregular epochs"
            return [f"{len(evals)} evaluations, {every}"]
    return []


def _justfit_run(p: Path) -> dict[str, Any]:

    try:
        records = History.from_jsonl(_nonempty(p / "history.jsonl")).records
    except json.JSONDecodeError as exc:
        raise DataError(f"'{p / 'history.jsonl'}' line {exc.lineno} is not JSON ({exc.msg}): the file is damaged; "
                        "re-run training or remove the broken line.") from None
    if not records:
        raise DataError(f"'{p / 'history.jsonl'}' holds no epochs: the run finished none.")
    out: dict[str, Any] = {"history": records, "format": "justfit run", "source": "justfit run", "notes": [],
                           "runs": 1, "position_unit": "epoch", "best": {}, "tool": "justfit"}
    if (p / "result.json").is_file():
        res = read_json(p / "result.json")
        data = res.get("data", {})
        out["data"] = data.get("quality", {})
        out["n_train"] = data.get("sizes", {}).get("train")
        out["n_params"] = data.get("params", {}).get("trainable_params")
        out["n_classes"] = len(res.get("labels") or []) or None
        out["n_val"] = data.get("validation_units") or data.get("sizes", {}).get("validation")
        out["directions"] = dict(data.get("metric_directions") or {})  # as the run's task declared them
        out["task_facts"] = dict(data.get("task_facts") or {})  # what the diagnosis may know of the task
        out["model_type"] = (data.get("defaults") or {}).get("model_type")  # as the run read it from config.json
        if isinstance(data.get("baseline"), dict):
            out["baseline"] = data["baseline"]
    if (p / "metrics.json").is_file():
        out["metrics"] = read_json(p / "metrics.json")
    if (p / "config.yaml").is_file():
        import yaml

        out["config"] = yaml.safe_load((p / "config.yaml").read_text())
    return out
