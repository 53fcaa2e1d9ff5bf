"""The data stage of a run: load, clean, split, audit leakage and labels, report class balance.

``prepare_data(cfg)`` returns the final splits and a ``DataReport``: plain findings that go
to ``data_report.json``, every removed row (``removed.csv``) and every row reported but kept
(``flagged.csv``). Nothing is dropped without a row in ``removed.csv`` saying which rule
dropped it and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit._files import atomic_write, atomic_write_text, write_csv, write_json
from justfit.checks import check_settings, check_unsupported, with_task
from justfit.data.cleaning import REMOVED_COLUMNS, CleaningReport, _jsonable
from justfit.data.inputs import PLAIN_INPUTS, as_frame, frame_inputs, media_kind, tag_lists, with_weights
from justfit.data.io import SUFFIXES, LoadedData, load_data, load_table, raise_missing_labels, read_any
from justfit.data.label_audit import find_label_issues
from justfit.data.splitting import Splits, check_labels, make_splits, split, unify_label_types
from justfit.errors import DataError, DataQualityWarning, RunDirError
from justfit.tasks.base import get_task
from justfit.tasks.infer import infer_task

# Rows of a user's validation/test file are only removed when they cannot be evaluated at all.
HELD_OUT_RULES = ("normalize", "empty_text", "missing_label")
TINY_CLASS_ROWS = 20


@dataclass
class DataReport:
    """Findings of the data stage, as plain data plus the removed/flagged row tables."""

    cleaning: dict[str, CleaningReport] = field(default_factory=dict)
    leakage: Any = None
    labels: Any = None
    balance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    removed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REMOVED_COLUMNS))
    flagged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REMOVED_COLUMNS))
    sample_weight: pd.Series | None = None
    coverage: dict[str, Any] | None = None  # tokenizer coverage per split (data.coverage)
    task: str | None = None  # the task the data was prepared for (config's, or inferred from the labels)
    enabled: bool = True
    encodings: dict[str, str] = field(default_factory=dict)  # text encoding each file was read with

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        return _jsonable({
            "enabled": self.enabled,
            "cleaning": {name: rep.to_dict() for name, rep in self.cleaning.items()},
            "leakage": self.leakage.to_dict() if self.leakage is not None else None,
            "label_noise": self.labels.to_dict(top) if self.labels is not None else None,
            "balance": self.balance,
            "warnings": self.warnings,
            "removed_rows": len(self.removed),
            "flagged_rows": len(self.flagged),
            "tokenizer_coverage": self.coverage,
            "task": self.task,
            "encodings": self.encodings,
        })

    def summary(self) -> dict[str, Any]:
        """The short version kept in ``result.json``."""
        counts = self.removed["rule"].value_counts().to_dict() if len(self.removed) else {}
        return _jsonable({
            "removed": counts, "flagged": self.flagged["rule"].value_counts().to_dict() if len(self.flagged) else {},
            "leakage": self.leakage.summary() if self.leakage is not None else None,
            "test_leaks": bool(self.leakage is not None and self.leakage.test_leaks),
            "label_issues": self.labels.n_issues if self.labels is not None else None,
            "label_audit_accuracy": self.labels.oof_accuracy if self.labels is not None else None,
            "label_audit_trusted": self.labels.trusted if self.labels is not None else None,
            "rows_in": sum(rep.rows_in for rep in self.cleaning.values()) or None,
            "imbalance_ratio": self.balance.get("imbalance_ratio"),
            "tokenizer_coverage": self.coverage,
            "task": self.task,
            "warnings": self.warnings,
            "encodings": self.encodings,
        })

    def table(self) -> list[tuple[str, int, int]]:
        """(step, rows removed, rows flagged) for the printed summary."""
        rows: dict[str, list[int]] = {}
        for rep in self.cleaning.values():
            for rule, n_removed, n_flagged in rep.summary_rows():
                acc = rows.setdefault(rule, [0, 0])
                acc[0] += n_removed
                acc[1] += n_flagged
        if self.leakage is not None:
            n = len(self.leakage.leaked)
            rows["leakage"] = [n, 0] if self.leakage.action == "remove" else [0, n]
        if self.labels is not None:
            dropped = int((self.removed["rule"] == "label_noise").sum())
            rows["label_noise"] = [dropped, self.labels.n_issues - dropped]
        return [(k, v[0], v[1]) for k, v in rows.items()]


def balance_report(splits: Splits) -> tuple[dict[str, Any], list[str]]:
    """Label distribution per split, the training imbalance ratio, and warnings for tiny classes."""
    train = splits.train["label"].value_counts()
    out: dict[str, Any] = {
        name: {str(k): int(v) for k, v in getattr(splits, name)["label"].value_counts().items()}
        for name in ("train", "validation", "test")
    }
    ratio = float(train.max() / max(train.min(), 1))
    out["imbalance_ratio"] = ratio
    warnings = []
    for label, n in train.items():
        if n < TINY_CLASS_ROWS or train.max() / n > 20:
            warnings.append(
                f"class '{label}' has only {int(n)} training rows (largest class: {int(train.max())}); its metrics "
                "will be noisy. Collect more examples, merge it with a related class, or set "
                "training.class_weights=auto / training.sampler=balanced."
            )
    if ratio >= 3 and not warnings:
        warnings.append(f"classes are imbalanced (largest/smallest = {ratio:.1f}); consider "
                        "training.class_weights=auto or training.sampler=balanced, and judge by f1_macro.")
    return out, warnings


def prepare_data(cfg: Any, *, progress: bool = False,
                 check_task: Callable[[Any], None] | None = None) -> tuple[Splits, DataReport, dict[str, LoadedData]]:
    """Load and split the data of ``cfg`` (a ``JustfitConfig``), running the data stage when enabled.

    ``check_task(task)`` runs as soon as the task is known (given, or inferred from the data), before
    any rule or audit. The stage runs in ``run_stage``'s order (the one ``clean_file`` uses too);
    then the tokenizer's coverage of each split is measured."""
    q = cfg.quality
    report = DataReport(enabled=q.enabled)
    loaded = _noting(report.warnings, load_data, cfg.data, allow_missing=q.enabled)
    task = resolve_task(cfg, loaded, report)
    if check_task is not None:
        check_task(task)
    report.encodings = {name: item.encoding for name, item in loaded.items() if item.encoding}
    if cfg.data.max_rows:
        # Sample first: max_rows bounds the cost of the whole run, the data stage included, and
        # removed.csv then lists only rows of the sample.
        from justfit.data.splitting import stratified_sample

        key = "all" if "all" in loaded else "train"
        item = loaded[key]
        loaded[key] = item.replace(frame=stratified_sample(item.frame, cfg.data.max_rows, cfg.data.seed))
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"max_rows": None})})
    splits = run_stage(cfg, loaded, report, task, make=lambda parts: make_splits(parts, cfg.data, task),
                       audit_split="train", progress=progress)
    if q.enabled and task.text_audits:
        from justfit.tasks.text.coverage import measure

        report.coverage, warns = measure(cfg, splits)
        report.warnings.extend(warns)
    if cfg.training.class_weights == "auto" and cfg.training.sampler == "balanced":
        report.warnings.append("training.class_weights=auto and training.sampler=balanced both correct the imbalance; "
                               "together they over-weight the small classes. Use one of them.")
    return splits, report, loaded


def run_stage(cfg: Any, loaded: dict[str, LoadedData], report: DataReport, task: Any, *,
              make: Callable[[dict[str, LoadedData]], Splits], audit_split: str, progress: bool = False) -> Splits:
    """The data stage, in its one order: clean each loaded part (held-out parts, ``validation`` and
    ``test``, only of what makes a row unusable), ``make`` the splits, remove (or report) training
    rows that copy held-out rows, audit the training labels, report the class balance.

    ``report`` is filled in (cleaning, leakage, labels, balance, warnings, removed and flagged rows);
    the label audit's rows are marked with split ``audit_split``. Raises ``DataError`` when a step
    leaves no usable training data (naming the step and the setting that keeps the rows)."""
    q = cfg.quality
    removed: list[pd.DataFrame] = []
    flagged: list[pd.DataFrame] = []
    if q.enabled:
        from justfit.data.cleaning import check_result

        for name, item in loaded.items():
            held_out = name in ("validation", "test")
            rules = [r for r in q.rules if r in HELD_OUT_RULES] if held_out else q.rules
            rep = task.clean(item.frame, rules, report_only=q.report_only, split="" if name == "all" else name,
                             quality=q)
            what = (f"'{cfg.data.path}'" if cfg.data.path else "the data") if name == "all" else f"the {name} data"
            if len(rep.data) and rep.data["label"].isna().any():
                raise_missing_labels(rep.data["label"].isna().to_numpy(), item.columns.label, what)
            if not held_out:
                check_result(item.frame, rep.data, rep, "" if name == "all" else f" in the {name} data")
            elif len(rep.data) == 0:
                raise DataError(f"Cleaning removed every row of the {name} data. Fix that file.")
            loaded[name] = item.replace(frame=rep.data)
            report.cleaning[name] = rep
            removed.append(rep.removed)
            flagged.append(rep.flagged)
    splits = make(loaded)

    held = {name: frame for name, frame in (("validation", splits.validation), ("test", splits.test)) if len(frame)}
    if q.enabled and q.leakage != "off" and held:
        lk = task.audit_leakage(splits.train, held, q)
        report.leakage = lk
        (removed if q.leakage == "remove" else flagged).append(lk.leaked)
        if q.leakage == "remove" and len(lk.leaked):
            _check_after(splits.train, lk.train, "the leakage audit removed copies of held-out rows from train", task)
            splits.train = lk.train
        if lk.test_leaks:
            tail = "" if q.leakage == "remove" else " Test metrics on this data will be optimistic."
            report.warnings.append(f"TEST SET LEAKAGE: {lk.summary()}.{tail}")

    if q.enabled and q.label_noise != "off" and task.uses_label_audit:
        splits.train = _label_audit(cfg, task, splits.train, report, removed, flagged, progress, split=audit_split,
                                    check=lambda before, after: _check_after(
                                        before, after, "the label audit dropped likely mislabelled rows", task))
    # A task's own balance (entity types per split), else the class balance where the targets are classes.
    own = task.balance_report(splits)
    if own is not None or task.classes is not None:
        report.balance, warns = own if own is not None else balance_report(splits)
        report.warnings.extend(warns)
    report.removed = _concat(removed)
    report.flagged = _concat(flagged)
    return splits


def resolve_task(cfg: Any, loaded: dict[str, LoadedData], report: DataReport) -> Any:
    """The task of this run: ``cfg.task``, or inferred from the training labels (``tasks.infer_task``),
    with the inference said in ``report.warnings``. Recorded in ``report.task``."""

    name = cfg.task
    first = loaded.get("all") or loaded["train"]
    tagged = "tokens" in first.frame.columns  # a tag per word (justfit.tasks.tagging.data)
    if name is None:
        name, note = infer_task(first.frame["label"], first.columns.label or "label", frame_inputs(first.frame))
        if note:
            report.warnings.append(note)
    report.task = name
    task = get_task(name)
    if tagged and task.input_column != "tokens":
        raise DataError(f"The data has a tag per word (columns '{first.columns.text}' and '{first.columns.label}'), "
                        f"but task={name} gives each row one label. Use task=token-classification, or give one "
                        "label per row.")
    if not tagged and task.input_column == "tokens":
        from justfit.tasks.tagging.data import refuse_untagged

        refuse_untagged(first.frame, first.columns.label or "label", f"'{cfg.data.path or cfg.data.train}'")
    inputs = frame_inputs(first.frame)
    if task.input_column != inputs:
        # A task given for inputs the data does not hold (an image task on texts, a text task on clips).
        fits, _ = infer_task(first.frame["label"], first.columns.label or "label", inputs)
        raise DataError(f"task={name} reads '{task.input_column}' inputs, but the data's inputs are '{inputs}'. "
                        f"Leave task unset to infer it from the data, or set task={fits}.")
    return task


def _noting(notes: list[str], read: Any, *args: Any, **kwargs: Any) -> Any:
    """``read(*args, **kwargs)``, with the DataQualityWarnings it raises (labels differing only in case,
    merged spellings) appended to ``notes``: they belong to the data report, which every command shows."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        out = read(*args, **kwargs)
    for w in caught:
        if issubclass(w.category, DataQualityWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _label_audit(cfg: Any, task: Any, train: pd.DataFrame, report: DataReport, removed: list[pd.DataFrame],
                 flagged: list[pd.DataFrame], progress: bool, split: str, check: Any) -> pd.DataFrame:
    """Run the label audit on ``train``; record it in ``report``; return train without dropped rows."""

    q = cfg.quality
    lr = task.find_label_issues(train, cfg, progress=progress)  # a task's own audit (per word for tags)
    if lr is None:
        rows, features = task.audit_inputs(train, cfg, progress=progress)
        lr = find_label_issues(rows, model=cfg.model.name, features=features, folds=q.label_noise_folds,
                               seed=cfg.data.seed, max_length=cfg.data.max_length, bf16=cfg.training.bf16,
                               cache_dir=q.cache_dir, progress=progress)
    report.labels = lr
    if lr.note:
        report.warnings.append(lr.note)
    if lr.skipped:
        report.warnings.append(lr.skipped)
        return train
    if not lr.n_issues:
        return train
    rows = lr.as_removed()
    rows["split"] = split
    rate = lr.n_issues / max(lr.n_rows, 1)
    if rate > 0.1:
        hedge = (f" The audit's probe on frozen features reaches {lr.oof_accuracy:.2f} out-of-fold accuracy, so many "
                 "of them may be hard "
                 "rather than wrong." if lr.oof_accuracy < 0.85 and lr.trusted is None else "")
        done = {"drop": "they were dropped (quality.label_noise=drop)",
                "downweight": "they were down-weighted (quality.label_noise=downweight)"}.get(q.label_noise)
        report.warnings.append(
            f"the label audit flags {lr.n_issues} training rows ({rate:.0%}) as likely mislabelled.{hedge} Review the "
            "top suspects in data_report.json (flagged.csv has all of them); "
            + (f"{done}." if done else "relabel them, or set quality.label_noise=drop or downweight."))
    if q.label_noise == "drop":
        kept = train.drop(index=lr.issues["row"].tolist())
        check(train, kept)
        removed.append(rows)
        return kept
    flagged.append(rows)
    if q.label_noise == "downweight":
        w = pd.Series(1.0, index=train.index)
        w.loc[lr.issues["row"].to_numpy()] = q.label_noise_weight
        report.sample_weight = w
    return train


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=REMOVED_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["duplicate_of"] = out["duplicate_of"].astype("Int64")
    return out


def _check_after(before: pd.DataFrame, after: pd.DataFrame, what: str, task: Any = None) -> None:
    """Refuse a training set that an audit emptied or stripped of a class, naming the audit and its remedy.
    For a task without classes (regression) the targets left must still be usable (``task.check_targets``).
    (Held-out classes are a subset of the training classes before the audit, so a held-out class left
    without training rows is one of the classes lost.)"""
    remedy = ("Set quality.leakage=report to keep them" if "leakage" in what
              else "Set quality.label_noise=report (or downweight) to keep them")
    if len(after) == 0:
        raise DataError(f"No training rows are left: {what} ({len(before)} rows). {remedy}, or fix the data.")
    if task is not None and task.classes is None:
        task.check_targets(after, f"the training data after the data stage ({what})")
        return
    lost = set(before["label"]) - set(after["label"])
    if lost or after["label"].nunique() < 2:
        from justfit.data.messages import examples

        gone = examples(sorted(lost, key=str))
        raise DataError(f"{what[0].upper() + what[1:]} and left {'class(es) ' + gone + ' without' if gone else 'too few'}"
                        f" training rows. {remedy}, or fix the data.")
    check_labels(after, f"the training data after the data stage ({what})")


def sample_weights_for(report: DataReport, train: pd.DataFrame) -> np.ndarray | None:
    if report.sample_weight is None:
        return None
    return report.sample_weight.reindex(train.index).fillna(1.0).to_numpy(dtype=np.float32)


CLEAN_OUTPUTS = ("removed.csv", "flagged.csv", "data_report.json")


def clean_outputs(output: str | Any) -> list[Any]:
    """The files ``clean_file`` writes: the cleaned data and, beside it, removed.csv, flagged.csv, data_report.json."""
    from pathlib import Path

    out = Path(output)
    return [out] + [out.parent / name for name in CLEAN_OUTPUTS]


def clean_file(cfg: Any, output: str | Any, *, test: str | None = None, force: bool = False,
               progress: bool = False) -> DataReport:
    """Run the data stage alone on ``cfg.data.path`` and write the cleaned data to ``output``.

    The cleaned file keeps the source's columns (the text normalised), in its original row
    order; ``removed.csv``, ``flagged.csv`` and ``data_report.json`` go beside it. With
    ``test``, training rows that copy rows of that file are audited too (``quality.leakage``).
    Every output is checked before anything is written; existing files need ``force``.
    """
    from pathlib import Path

    q = cfg.quality
    out = Path(output)
    kind = SUFFIXES.get(out.suffix.lower())
    if kind is None or kind == "json" or (kind == "conll" and out.suffix.lower() == ".txt"):
        raise DataError(f"Cannot write '{out.name}': name the output .csv, .tsv, .jsonl, .parquet (or .conll for "
                        "token data).")
    paths = clean_outputs(out)
    existing = [str(p) for p in paths if p.exists()]
    source = Path(str(cfg.data.path)) if cfg.data.path else None
    if source is not None and source.exists() and any(p.resolve() == source.resolve() for p in paths if p.exists()):
        raise RunDirError(f"--output '{out}' would overwrite the data being cleaned ('{cfg.data.path}'); justfit does not "
                          "overwrite your data. Choose another --output.")
    if existing and not force:
        raise RunDirError(f"{', '.join(existing)} already exist(s). Pass --force to overwrite, or choose another --output.")
    if not cfg.data.path:
        raise DataError("No data given. Pass the data file to clean.")
    if out.parent.exists() and not out.parent.is_dir():
        raise RunDirError(f"'{out.parent}' is a file, not a folder. Choose another --output.")

    if not cfg.quality.enabled:  # cleaning is what this command is for
        cfg = cfg.updated({"quality.enabled": True})
    raw = read_any(cfg.data.path, cfg.data.encoding)
    report = DataReport()
    if isinstance(raw, dict):
        first = "train" if "train" in raw else next(iter(raw))
        if len(raw) > 1:
            report.warnings.append(f"'{cfg.data.path}' holds splits {', '.join(raw)}; only '{first}' was cleaned. "
                                   "Export the others and clean them separately, or let 'justfit train' run the data "
                                   "stage on them.")
        raw = raw[first]
    loaded = {"all": _noting(report.warnings, load_table, cfg.data.path, cfg.data.text_column, cfg.data.label_column,
                             allow_missing=True, encoding=cfg.data.encoding)}
    cols = loaded["all"].columns
    if loaded["all"].encoding:
        report.encodings = {"data": loaded["all"].encoding}
    task = resolve_task(cfg, loaded, report)
    if kind == "conll" and task.input_column != "tokens":
        raise DataError(f"Cannot write '{out.name}': CoNLL holds a tag per word, and this data has one label per row. "
                        "Name the output .csv, .tsv, .jsonl or .parquet.")
    if test:  # audited for copies only; its own rows are cleaned of what makes them unusable, not written
        loaded["test"] = load_table(test, cols.text, cols.label, allow_missing=True, encoding=cfg.data.encoding)

    def keep_order(parts: dict[str, LoadedData]) -> Splits:
        none = parts["all"].frame.iloc[0:0]
        return Splits(train=parts["all"].frame, validation=none, test=parts["test"].frame if test else none)

    kept = run_stage(cfg, loaded, report, task, make=keep_order, audit_split="", progress=progress).train
    if "all" in report.cleaning:
        report.cleaning = {"data": report.cleaning.pop("all"), **report.cleaning}

    cleaned = raw.iloc[kept.index.to_numpy()].copy()
    if task.input_column == "tokens":  # words as normalised, tags as repaired (lists, as read)
        cleaned[cols.text] = pd.Series([list(t) for t in kept["tokens"]], index=cleaned.index, dtype=object)
        cleaned[cols.label] = pd.Series([str(t).split() for t in kept["label"]], index=cleaned.index, dtype=object)
    elif "text" in kept.columns:  # texts as the cleaning normalised them; images and clips stay as given
        cleaned[cols.text] = kept["text"].to_numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_table(cleaned, out, kind, cols)
    write_csv(report.removed, paths[1])
    write_csv(report.flagged, paths[2])
    payload = report.to_dict(q.label_noise_top)
    payload.update(source=str(cfg.data.path), output=str(out), rows_in=len(raw), rows_out=len(cleaned))
    write_json(paths[3], payload)
    return report


def _write_table(frame: pd.DataFrame, path: Any, kind: str, columns: Any = None) -> None:

    if kind == "conll":
        from justfit.tasks.tagging.data import write_conll

        atomic_write_text(path, write_conll(frame, columns.text, columns.label) + "\n")
        return
    if kind in ("csv", "tsv"):
        write_csv(lists_as_json(frame), path, sep="\t" if kind == "tsv" else ",")
        return
    writers = {
        "jsonl": lambda p: frame.to_json(p, orient="records", lines=True, force_ascii=False),
        "parquet": lambda p: frame.to_parquet(p, index=False),
    }
    atomic_write(path, writers[kind])


def lists_as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with list cells (token and tag lists) written as JSON text, which a CSV reads back as lists."""
    import json

    out = frame
    for col in frame.columns:
        if frame[col].dtype == object and frame[col].map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
            out = out.copy() if out is frame else out
            out[col] = frame[col].map(lambda v: json.dumps(list(v), ensure_ascii=False)
                                      if isinstance(v, list | tuple | np.ndarray) else v)
    return out


def training_frames(cfg: Any, X: Any, y: Any, X_val: Any, y_val: Any,
                    sample_weight: Any) -> tuple[Any, Any, pd.DataFrame, pd.DataFrame]:
    """The config (its ``task`` set, inferred from the labels when unset), the task, and the checked
    training and validation frames of a fit. The settings are checked (``justfit.checks``) before
    anything heavier; without ``X_val`` a stratified validation split is cut from ``X``."""

    given = isinstance(X, Splits)
    if given and (y is not None or X_val is not None or y_val is not None):
        raise DataError("A Splits object brings its own labels and validation split; pass it alone.")
    kind = None if given else media_kind(X, cfg.data.text_column, cfg.data.sampling_rate)
    if kind is None and not given and (tag_lists(y) or tag_lists(X)):  # tags per word, or sentences as words
        kind = "tokens"
    if cfg.task is None and kind is not None:
        cfg = cfg.updated({"task": infer_task(pd.Series([], dtype=object), inputs=kind)[0]})
    column = get_task(cfg.task).input_column if cfg.task else "text"
    if cfg.task is not None and not given and not isinstance(X, str | Path):
        _refuse_other_inputs(cfg.task, column, kind or PLAIN_INPUTS, y)  # arrays, lists, frames: before reading them
    train = X.train if given else as_frame(X, y, cfg, "the training data", column)
    if cfg.task is not None and isinstance(X, str | Path):
        _refuse_other_inputs(cfg.task, column, frame_inputs(train), train["label"])  # a data file, once read
    if cfg.task is None:
        name, note = infer_task(train["label"], inputs=frame_inputs(train))
        cfg = cfg.updated({"task": name})
        if note:
            import warnings

            from justfit.errors import DataQualityWarning

            warnings.warn(note[0].upper() + note[1:] + ".", DataQualityWarning, stacklevel=4)

    cfg = with_task(cfg, cfg.task)
    task = get_task(cfg.task)
    check_settings(cfg)
    check_unsupported(cfg, task)
    if given:  # made by the data stage, which checked the targets and the held-out labels
        return cfg, task, with_weights(X.train, sample_weight), X.validation
    task.check_targets(train)
    train = with_weights(train, sample_weight)
    if X_val is None:
        s = split(train, val_size=cfg.data.val_size, test_size=cfg.data.test_size, seed=cfg.data.seed,
                  need=("validation",), task=task)
        return cfg, task, s.train, s.validation
    val = as_frame(X_val, y_val, cfg, "the validation data", task.input_column)
    train, val = train.copy(), val.copy()
    unify_label_types(train, val)
    task.check_held_out(train, val, "validation")
    return cfg, task, train, val


def _refuse_other_inputs(task: str, column: str, inputs: str, labels: Any) -> None:
    """Raise ``DataError`` when the task given reads another kind of inputs (``column``) than the data holds
    (``inputs``, as ``data.inputs.media_kind`` or ``frame_inputs`` found them), naming the task that fits."""
    if column == inputs:
        return
    known = pd.Series(list(labels), dtype=object) if labels is not None and not isinstance(labels, str) else \
        pd.Series([], dtype=object)
    fits = infer_task(known, inputs=inputs)[0]
    raise DataError(f"task={task} reads '{column}' inputs, but the data's inputs are '{inputs}'. Leave task unset "
                    f"to infer it from the data, or set task={fits}.")
