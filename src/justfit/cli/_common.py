"""Small helpers shared by the subcommands: console output, tables, and the checks every command
runs on its arguments before any work starts (inputs exist and are the right kind, outputs can be
written and clobber nothing, numbers are in range)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from justfit.errors import ConfigError, DataError, RunDirError

console = Console()


def cli_config(config: Path | None, flags: dict[str, Any], set_: list[str] | None, base: Any = None) -> Any:
    """The YAML config (or ``base``, or the defaults), then the command's flags that were given, then ``--set``."""
    from justfit.config import JustfitConfig, parse_overrides  # pydantic: not imported for --help

    cfg = JustfitConfig.from_yaml(config) if config else base if base is not None else JustfitConfig()
    overrides = {k: v for k, v in flags.items() if v is not None}
    overrides.update(parse_overrides(set_))
    return cfg.updated(overrides)


def metrics_table(metrics: dict[str, Any], title: str = "test metrics") -> Table:
    """The headline metrics as a two-column table."""
    t = Table(title=title, show_header=True)
    t.add_column("metric")
    t.add_column("value", justify="right")
    known = ("n", "accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "log_loss",
             "majority_baseline_accuracy", "rmse", "mae", "r2", "spearman", "baseline_rmse", "baseline_mae")
    # The classification and regression headline first, then any other scalar a task reports.
    keys = [k for k in known if k in metrics] + [k for k, v in metrics.items() if k not in known and (
        isinstance(v, int | float) and not isinstance(v, bool)) and not k.startswith(("precision_", "recall_"))]
    for key in keys:
        if key in metrics:
            v = metrics[key]
            t.add_row(key, f"{v:.4f}" if isinstance(v, float) else "-" if v is None else str(v))
    return t


def per_class_table(metrics: dict[str, Any]) -> Table:
    """Precision, recall, F1 and support of every class."""
    t = Table(title="per class", show_header=True)
    for col in ("class", "precision", "recall", "f1", "support"):
        t.add_column(col, justify="left" if col == "class" else "right")
    def cell(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    for name, m in metrics.get("per_class", {}).items():
        t.add_row(name + (" (absent)" if m.get("absent") else ""), cell(m["precision"]), cell(m["recall"]),
                  cell(m["f1"]), str(m["support"]))
    absent = metrics.get("absent_classes") or []
    if absent:
        t.caption = (f"absent from the evaluated data: {', '.join(absent[:5])}{' ...' if len(absent) > 5 else ''} "
                     "(no recall; in the macro averages only where the model predicted them: F1 0)")
    if metrics.get("invalid_reason"):
        t.caption = f"no metrics: {metrics['invalid_reason']}"
    return t


def data_source(value: str | None, option: str) -> None:
    """A data file/folder option: an existing path or a packaged data set name (``None`` is fine)."""
    from justfit.data.packaged import PACKAGED, name_hint

    if value is None or value == "" or Path(value).exists() or str(value) in PACKAGED:
        return
    raise DataError(f"{option} '{value}' does not exist. Pass a CSV/TSV/JSONL/Parquet file, a folder saved with "
                    f"datasets' save_to_disk, or a packaged data set ({', '.join(PACKAGED.names())})."
                    + name_hint(value))


def data_options(cfg: Any) -> None:
    """Check the data paths of a resolved config: each exists (or is packaged); --data and --train exclude each other."""

    d = cfg.data
    if d.path and (d.train or d.validation or d.test):
        raise DataError("Give either --data (one file, split by justfit) or --train with optional --validation/--test "
                        "(separate splits), not both.")
    if (d.validation or d.test) and not d.path and not d.train:
        raise DataError("--validation/--test need --train (the training file) as well.")
    for option, value in (("--data", d.path), ("--train", d.train), ("--validation", d.validation),
                          ("--test", d.test)):
        data_source(value, option)


def input_file(path: str | Path | None, option: str, *, what: str = "file") -> Path | None:
    """An input that must be an existing, readable, non-empty file."""

    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise DataError(f"{option} '{p}' does not exist. Pass an existing {what}.")
    if p.is_dir():
        raise DataError(f"{option} '{p}' is a folder; pass a {what}.")
    if not os.access(p, os.R_OK):
        raise DataError(f"{option} '{p}' cannot be read (permission denied). Check the file's permissions.")
    if p.stat().st_size == 0:
        raise DataError(f"{option} '{p}' is empty (0 bytes). Pass a {what} with content.")
    return p


def input_dir(path: str | Path, option: str, *, what: str = "justfit run directory") -> Path:
    """An input that must be an existing folder (not a file, not an unfinished ``.partial`` run)."""

    p = Path(path)
    if not p.exists():
        raise RunDirError(f"{option} '{p}' does not exist. Pass a {what}.")
    if not p.is_dir():
        raise RunDirError(f"{option} '{p}' is a file, not a folder. Pass a {what}.")
    for part in (p.resolve(), p.resolve().parent):  # the run, or its model/ folder
        if part.name.endswith(".partial"):
            raise RunDirError(f"'{p}' is an unfinished run ('.partial': training was interrupted or failed before "
                              "the run was complete). Train again, or pass a finished run directory.")
    return p


def run_dir(path: str | Path, option: str = "RUN") -> Path:
    """A finished run directory, or a saved model folder (both hold the model's config.json)."""

    p = input_dir(path, option)
    if not any((folder / name).is_file() for folder in (p, p / "model")
               for name in ("config.json", "adapter_config.json")):
        raise RunDirError(f"'{p}' holds no saved model (no config.json). Pass a run directory or its model/ folder.")
    return p


def trained_config(run: Path) -> Any:
    """The config a saved model was trained with (from its justfit.json), or ``None``; loads no model."""
    import json

    from justfit.config import JustfitConfig

    for meta in (run / "model" / "justfit.json", run / "justfit.json"):
        if meta.is_file():
            try:
                return JustfitConfig.from_dict(json.loads(meta.read_text(encoding="utf-8")).get("config", {}))
            except Exception:  # an unreadable meta file: Finetuner.load reports it
                return None
    return None


def read_frame(path: str, option: str, encoding: str | None = None) -> Any:
    """Read a data file for a command that only needs its table (its first split for a DatasetDict)."""
    from justfit.data.io import read_any

    frame = read_any(path, encoding)
    if isinstance(frame, dict):
        frame = frame.get("test", next(iter(frame.values())))
    return frame


def _writable_parent(p: Path, option: str) -> None:

    parent = p.parent if str(p.parent) else Path(".")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"{option} '{p}': '{parent}' is a file, not a folder. Choose another {option}.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(f"{option} '{p}': cannot write into '{parent}' (permission denied). Choose another {option}.")


def output_file(path: str | Path | None, option: str, *, force: bool = False,
                suffixes: tuple[str, ...] | None = None, force_flag: str = "--force") -> Path | None:
    """An output file: not a folder, in a folder that can be written, not an existing file unless ``force``."""

    if path is None:
        return None
    p = Path(path)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} '{p}' has extension '{p.suffix}'; use one of {', '.join(suffixes)}.")
    if p.is_dir():
        raise RunDirError(f"{option} '{p}' is a folder; give a file name.")
    if p.exists() and not force:
        raise RunDirError(f"{option} '{p}' already exists. Pass {force_flag} to overwrite it, or choose another name.")
    _writable_parent(p, option)
    return p


def output_dir(path: str | Path, option: str) -> Path:
    """An output folder: not a file, creatable (or already a folder) and writable."""

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise RunDirError(f"{option} '{p}' is a file, not a folder. Choose a folder for the outputs.")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise RunDirError(f"{option} '{p}': cannot write into it (permission denied).")
        return p
    _writable_parent(p, option)
    return p


def number(value: float | None, option: str, *, minimum: float | None = None, above: float | None = None) -> None:
    """A numeric option in range: ``>= minimum`` and/or ``> above`` (``None`` means not given)."""
    import math

    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{option} must be a finite number, got {value}: give a number, or leave {option} out.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{option} must be at least {minimum:g}, got {value:g}: give {minimum:g} or more, "
                          f"or leave {option} out.")
    if above is not None and value <= above:
        raise ConfigError(f"{option} must be greater than {above:g}, got {value:g}: give a number above {above:g}, "
                          f"or leave {option} out.")
