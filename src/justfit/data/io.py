"""Loading labelled tables from files, Hugging Face dataset folders and packaged data sets.

Every loaded table is normalised to two columns, ``text`` and ``label``, indexed by the
row's original position in its source (0-based), so every later report can point back to
the user's own row.

Files are sniffed, decoded and parsed by :mod:`justfit.data.formats` and
:mod:`justfit.data.encoding`. Labels read from any source (file, folder, packaged set) are
the text of the label as the source holds it (``007`` stays ``007``; a JSON ``7`` becomes
``"7"``, a Parquet ``1.0`` ``"1.0"``), so the same content gives the same classes in every
format. Labels given through the Python API keep their type (integers stay integers).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.formats import SUFFIXES, expected_kind, read_file, sniff_magic
from justfit.data.media import media_column, media_frame
from justfit.data.messages import listing
from justfit.data.packaged import PACKAGED, name_hint
from justfit.errors import DataError, DataQualityWarning, did_you_mean
from justfit.tasks.tagging.data import token_frame, token_layout

__all__ = ["SUFFIXES", "ColumnSpec", "LoadedData", "detect_columns", "load_data", "load_table", "normalise",
           "read_any"]

TEXT_CANDIDATES = (
    "text", "sentence", "review", "content", "document", "tweet", "utterance", "body",
    "comment", "message", "question", "description", "title", "input", "sentence1",
)
LABEL_CANDIDATES = (
    "label", "labels", "sentiment", "class", "category", "target", "intent", "rating", "y", "tag", "output",
)
# Labels that parse as numbers are a quantity to regress, not classes, when they have this many
# distinct values: more than CONTINUOUS_SHARE of the rows, or (fractional) more than CONTINUOUS_MAX.
CONTINUOUS_MIN, CONTINUOUS_MAX, CONTINUOUS_SHARE = 10, 50, 0.2


@dataclass
class ColumnSpec:
    """Which source columns hold the text and the label."""

    text: str
    label: str | None


@dataclass
class LoadedData:
    """A normalised table (columns ``text``, ``label``) and where it came from.

    ``encoding`` is the text encoding the file was read with (detected, or ``data.encoding``);
    ``None`` for Parquet, dataset folders and packaged data sets.
    """

    frame: pd.DataFrame
    columns: ColumnSpec
    source: str
    extra_splits: dict[str, pd.DataFrame] = field(default_factory=dict)
    encoding: str | None = None

    def replace(self, **changes: Any) -> LoadedData:
        """A copy with some fields changed (the others, the encoding included, kept)."""
        return dataclasses.replace(self, **changes)


def read_any(path: str | Path, encoding: str | None = None) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Read a file or a ``save_to_disk`` folder into pandas. A DatasetDict gives one frame per split.

    The file's real format is sniffed from its first bytes (compressed CSV/JSON Lines, a
    Parquet file under another name, a semicolon CSV named ``.tsv`` ...); ``encoding``
    (``data.encoding``) overrides the detected text encoding. Raises ``DataError`` with one
    line saying what is wrong and what to do.
    """
    return _read(path, encoding)[0]


def _read(path: str | Path, encoding: str | None) -> tuple[pd.DataFrame | dict[str, pd.DataFrame], str | None]:

    p = Path(path)
    if not p.exists():
        if str(path) in PACKAGED:
            return PACKAGED.get(str(path))(), None
        raise DataError(
            f"Data file '{path}' does not exist. Pass a CSV/TSV/JSONL/Parquet file, a folder saved with "
            f"datasets' save_to_disk, or a packaged data set ({', '.join(PACKAGED.names())}).{name_hint(path)}"
        )
    if p.is_dir():
        from justfit.data.media import folder_kind, read_class_folders

        kind = folder_kind(p)
        if kind is not None:
            return read_class_folders(p, kind), None
        return _read_hf_folder(p), None
    kind, compression = expected_kind(p)
    try:
        if kind is None and compression is None:
            with open(p, "rb") as fh:
                magic = sniff_magic(fh.read(8))
            if magic is None:
                raise DataError(
                    f"Cannot tell the format of '{p.name}' from its extension '{p.suffix}'. "
                    f"Use one of {', '.join(sorted(SUFFIXES))} (optionally .gz/.bz2/.xz/.zip), or a save_to_disk folder."
                )
        table = read_file(p, encoding)
    except (OSError, MemoryError) as exc:
        raise DataError(f"Could not read '{p}' ({type(exc).__name__}: {exc}). Check the file.") from None
    return table.frame, table.encoding


def _read_hf_folder(p: Path) -> pd.DataFrame | dict[str, pd.DataFrame]:
    if not ((p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists() or (p / "state.json").exists()):
        raise DataError(
            f"'{p}' is a folder but neither a Hugging Face dataset saved with save_to_disk (no dataset_info.json or "
            "dataset_dict.json) nor a folder per class of images or audio clips. Pass a data file or such a folder."
        )
    from datasets import Dataset, DatasetDict, load_from_disk

    ds = load_from_disk(str(p))
    if isinstance(ds, DatasetDict):
        return {name: _hf_to_pandas(split) for name, split in ds.items()}
    if not isinstance(ds, Dataset):
        raise DataError(f"'{p}' holds a {type(ds).__name__}, not a Dataset or DatasetDict saved with save_to_disk.")
    return _hf_to_pandas(ds)


def _hf_to_pandas(ds) -> pd.DataFrame:
    df = ds.to_pandas()
    # Keep ClassLabel names, so labels stay readable; -1 is the datasets convention for "no label".
    for name, feat in ds.features.items():
        names = getattr(feat, "names", None)
        if names and name in df:
            df[name] = df[name].map(
                lambda i, names=names: None if i is None or i == -1 else names[i] if 0 <= int(i) < len(names) else i)
        inner = getattr(getattr(feat, "feature", None), "names", None)  # Sequence(ClassLabel): a tag per token
        if inner and name in df:
            df[name] = df[name].map(lambda seq, names=inner: None if seq is None else [
                names[int(i)] if 0 <= int(i) < len(names) else int(i) for i in seq])
    return df


# ----------------------------------------------------------------------------- columns
def _nested(col: pd.Series) -> tuple[str, Any] | None:
    """('lists', an example) when a column holds lists/arrays/dicts instead of scalars; else None."""
    if col.dtype != object:
        return None
    for v in col.iloc[:1000]:
        if isinstance(v, dict):
            return "objects (dicts)", v
        if isinstance(v, list | tuple | set | np.ndarray):
            return "lists", list(v) if isinstance(v, np.ndarray) else v
    return None


def _numeric(col: pd.Series) -> bool:
    """A column of numbers: numeric or boolean dtype, or strings that all parse as numbers."""
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return True
    values = col.dropna()
    if not len(values) or _nested(values) is not None:
        return False
    sample = values.iloc[:5000].astype(str).str.strip()
    return bool(pd.to_numeric(sample, errors="coerce").notna().all())


def _refuse_nested(col: pd.Series, column: str, role: str, where: str) -> None:
    found = _nested(col.dropna())
    if found is None:
        return
    what, example = found
    shown = repr(example)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    if role == "text":
        todo = "join them into one string per row, or choose another --text-column"
    else:
        todo = "justfit gives each row one class: keep one label per row, or choose another --label-column"
        if what == "lists":
            todo = "keep one label per row, or for a tag per word give the words as a list too ('tokens' column)"
    raise DataError(f"Column '{column}' of {where} holds {what} (e.g. {shown}), not one {role} per row: {todo}.")


def detect_columns(df: pd.DataFrame, text: str | None, label: str | None, *, need_label: bool = True,
                   where: str = "the data") -> ColumnSpec:
    """Pick the text and label columns: explicit names win, else well-known names, else the data's shape.

    A text column is never a column of numbers (or booleans) nor one holding lists/dicts.
    Raises ``DataError`` naming the missing role and the option that sets it
    (``--text-column``/``--label-column``).
    """
    cols = [str(c) for c in df.columns]
    df.columns = cols
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise DataError(f"{_cap(where)} has duplicate column names ({listing(dupes)}). Rename them.")
    if text is not None and text == label:
        raise DataError(f"The text and label columns are both '{text}'. Set --text-column and --label-column to "
                        "different columns.")
    for given, role in ((text, "text"), (label, "label")):
        if given is not None and given not in cols:
            raise DataError(
                f"No {role} column '{given}' in {where}. Columns: {listing(cols, quote=False)}."
                f"{did_you_mean(given, cols)} Set --{role}-column to one of them."
            )
    lower = {c.lower(): c for c in cols}
    if label is None and need_label:
        label = next((lower[c] for c in LABEL_CANDIDATES if c in lower and lower[c] != text), None)
    if text is None:
        text = next((lower[c] for c in TEXT_CANDIDATES if c in lower and lower[c] != label), None)
        if text is None:
            textual = [c for c in cols if c != label and _nested(df[c]) is None and not _numeric(df[c])]
            if not textual:
                nested = [c for c in cols if c != label and _nested(df[c]) is not None]
                why = (f"every column holds numbers or ids ({listing(cols, quote=False)})" if not nested else
                       f"no column holds plain text ({', '.join(nested[:3])} hold{'s' if len(nested) == 1 else ''} "
                       "lists or dicts; the rest numbers or ids)")
                raise DataError(f"No text column in {where}: {why}; set --text-column.")
            text = max(textual, key=lambda c: df[c].dropna().astype(str).str.len().mean())
    if label is None and need_label:
        rest = [c for c in cols if c != text and _nested(df[c]) is None
                and 1 < df[c].nunique(dropna=True) <= max(2, len(df) // 2)]
        if not rest:
            raise DataError(f"No label column in {where} (columns: {listing(cols, quote=False)}): no column has a "
                            "few repeated values to use as classes; set --label-column.")
        label = min(rest, key=lambda c: df[c].nunique(dropna=True))
    return ColumnSpec(text=text, label=label)


# ----------------------------------------------------------------------------- normalising
def normalise(df: pd.DataFrame, spec: ColumnSpec, *, where: str = "the data",
              allow_missing: bool = False, labels_as_text: bool = False) -> pd.DataFrame:
    """Return a ``text``/``label`` frame indexed by original row number.

    Missing texts or labels are refused, unless ``allow_missing`` (the cleaning stage then
    removes those rows and records why): missing texts become empty, missing labels ``None``.
    With ``labels_as_text`` (labels read from a file) every label is the string of its value;
    otherwise labels keep their Python type (whole-number floats become ints). Labels that
    differ only in surrounding spaces are merged, and labels that differ only in case are
    kept apart; both with a ``DataQualityWarning`` naming them. Raises ``DataError`` for
    list/dict-valued columns and for labels that look like a continuous number.
    """
    if len(df) == 0:
        raise DataError(f"{_cap(where)} has no rows. Give a file with labelled rows.")
    out = pd.DataFrame(index=pd.RangeIndex(len(df), name="row"))
    text = df[spec.text].reset_index(drop=True)
    _refuse_nested(text, spec.text, "text", where)
    missing_text = text.isna()
    if missing_text.any() and not allow_missing:
        rows = [int(i) for i in np.flatnonzero(missing_text.to_numpy())[:5]]
        raise DataError(
            f"{int(missing_text.sum())} row(s) of {where} have no text in column '{spec.text}' (rows {rows}, 0-based). "
            "Fill or remove them, or let the cleaning stage drop them (quality.rules: empty_text)."
        )
    out["text"] = text.fillna("").astype(str).to_numpy() if missing_text.any() else text.astype(str).to_numpy()
    if spec.label is not None:
        label = df[spec.label].reset_index(drop=True)
        _refuse_nested(label, spec.label, "label", where)
        missing = label.isna()
        if missing.any() and not allow_missing:
            raise_missing_labels(missing.to_numpy(), spec.label, where)
        present = label[~missing] if missing.any() else label
        present = present.rename(spec.label)
        if labels_as_text:
            values = _labels_as_text(present, spec.label, where)
        else:
            values = _normalise_labels(present.infer_objects() if missing.any() else present, spec.label, where)
        if missing.any():
            filled = pd.Series([None] * len(label), dtype=object)
            filled[~missing.to_numpy()] = values.astype(object).to_numpy()
            out["label"] = filled.to_numpy()
        else:
            out["label"] = values.to_numpy()
        out.attrs["label_column"] = str(spec.label)  # the user's name for it, for messages
    return out


def raise_missing_labels(missing: np.ndarray, column: str, where: str) -> None:
    """Raise the one-line ``DataError`` for rows without a label (first rows named)."""
    rows = [int(i) for i in np.flatnonzero(missing)[:5]]
    raise DataError(
        f"{int(missing.sum())} row(s) of {where} have no label in column '{column}' (rows {rows}, 0-based). "
        "Label or remove them, or let the cleaning stage drop them (quality.rules: missing_label)."
    )


def _label_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return str(float(v))
    return str(v)


def _labels_as_text(label: pd.Series, column: str, where: str) -> pd.Series:
    """File labels: the text of each value, spaces trimmed; refused when they look like a continuous number."""
    values = label.map(_label_text).astype(object) if label.dtype != object or not all(
        isinstance(v, str) for v in label.iloc[:1000]) else label
    return _strip_labels(values.astype(str), column, where)


def _normalise_labels(label: pd.Series, column: str, where: str) -> pd.Series:
    """Python-API labels: numbers stay numbers (whole floats become ints), the rest is compared as text."""
    if label.dtype == object and len(label):
        vals = label.tolist()
        if all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
               for v in vals):
            ints = {int(v) for v in vals if isinstance(v, int | np.integer)}
            floats = {float(v) for v in vals if isinstance(v, float | np.floating)}
            merged = sorted(f for f in floats if f.is_integer() and int(f) in ints)
            if merged:
                shown = ", ".join(f"{int(f)} and {f}" for f in merged[:3]) + (
                    f" (and {len(merged) - 3} more)" if len(merged) > 3 else "")
                warnings.warn(f"Labels of {where} mix integers and floats; {shown} are merged into one class each. "
                              "Give labels of one type if they are different classes.", DataQualityWarning,
                              stacklevel=4)
            label = pd.Series(vals, dtype=np.float64 if floats else np.int64, name=label.name)
        elif all(isinstance(v, bool | np.bool_) for v in vals):
            return label.astype(object)
    if pd.api.types.is_bool_dtype(label):
        return label.astype(object)
    if pd.api.types.is_float_dtype(label):
        frac = np.mod(label.to_numpy(), 1) != 0
        if not frac.any():
            return label.astype(np.int64)
        return label.astype(np.float64)  # a quantity: the task decides (regression, or refused as classes)
    if pd.api.types.is_integer_dtype(label):
        return label.astype(np.int64)
    # Mixed or object columns: classes are compared as strings.
    return _strip_labels(label.astype(str), column, where)


def _strip_labels(values: pd.Series, column: str, where: str) -> pd.Series:
    """Trim surrounding spaces (warning when that merges distinct values); warn about labels differing in case."""
    stripped = values.str.strip()
    distinct = pd.unique(values)
    if len(distinct) > 1:
        raw = pd.Series(distinct, dtype=object)
        trimmed = raw.str.strip()
        groups = raw.groupby(trimmed.to_numpy()).agg(list)
        merged = [g for g in groups if len(g) > 1]
        if merged:
            shown = "; ".join(" and ".join(repr(v) for v in g[:3]) for g in merged[:3])
            more = f" (and {len(merged) - 3} more groups)" if len(merged) > 3 else ""
            warnings.warn(f"Labels in column '{column}' of {where} differ only in surrounding spaces: {shown}{more}; "
                          "each group is merged into one class (the trimmed value).", DataQualityWarning, stacklevel=4)
        unique = pd.Series(pd.unique(trimmed), dtype=object)
        folded = unique.str.casefold()
        cases = [g for g in unique.groupby(folded.to_numpy()).agg(list) if len(g) > 1]
        if cases:
            shown = "; ".join(" and ".join(repr(v) for v in g[:3]) for g in cases[:3])
            more = f" (and {len(cases) - 3} more groups)" if len(cases) > 3 else ""
            warnings.warn(f"Labels in column '{column}' of {where} differ only in case: {shown}{more}; they are probably "
                          "one class each but are kept apart. Relabel them to one spelling if so.",
                          DataQualityWarning, stacklevel=4)
    return stripped


def continuous_message(values: pd.Series, column: str, where: str) -> str:
    """Why labels that parse as numbers with many distinct values look like a quantity, not classes
    (one line naming the fix), or ``""`` when they look like classes. Task inference and the
    classification task's label check both use it."""
    distinct = pd.unique(pd.Series(values, dtype=object).map(lambda v: v.strip() if isinstance(v, str) else v))
    k, n = len(distinct), len(values)
    if k < CONTINUOUS_MIN:
        return ""
    nums = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce")
    if nums.isna().any():
        return ""
    integral = bool((np.mod(nums.to_numpy(dtype=float), 1) == 0).all())
    many = k > CONTINUOUS_SHARE * n
    if (not integral and (many or k > CONTINUOUS_MAX)) or (integral and many and k > CONTINUOUS_MAX):
        return (f"Column '{column}' of {where} looks like a continuous number ({k:,} distinct values in {n:,} rows, "
                f"e.g. {', '.join(f'{x:.4g}' for x in nums.iloc[:3])}): a classifier needs classes; bin it into "
                "classes, or choose another --label-column.")
    return ""


def _cap(where: str) -> str:
    return where[0].upper() + where[1:]


# ----------------------------------------------------------------------------- loading
def table_spec(df: pd.DataFrame, text_column: str | None, label_column: str | None, *, need_label: bool = True,
               where: str) -> ColumnSpec:
    """The input and label columns of a table: a column of media (images or audio: paths with their
    suffixes, ``datasets`` cells, arrays) when it has one, else its text column (``detect_columns``)."""

    tokens = token_layout(df, text_column, label_column if need_label else None)
    if tokens is not None:  # words with a tag each, or texts with character spans
        return ColumnSpec(text=tokens[1], label=tokens[2] if need_label else None)
    if not need_label:
        from justfit.tasks.tagging.data import _lists

        cols = [str(c) for c in df.columns]
        named = text_column if text_column in cols else next((c for c in ("tokens", "words") if c in cols), None)
        if named is not None and _lists(df[named]):  # words to tag (predict)
            return ColumnSpec(text=named, label=None)
    media = media_column(df, text_column)
    return detect_columns(df, media[0] if media else text_column, label_column, need_label=need_label, where=where)


def table_frame(df: pd.DataFrame, spec: ColumnSpec, base: Path | None, where: str, *, allow_missing: bool = False,
                labels_as_text: bool = False, group_column: str | None = None) -> pd.DataFrame:
    """The normalised frame of a table: ``image``/``label`` or ``audio``/``label`` when ``spec.text``
    holds media (relative paths resolved against ``base``), else ``text``/``label``; with a ``group``
    column from ``group_column`` (or the one a packaged set names in ``df.attrs``) when there is one."""

    group = group_column or df.attrs.get("group_column")  # a packaged set names its own (keywords: voice)
    tokens = token_layout(df, spec.text, spec.label) if spec.label is not None else None
    if tokens is not None:  # a tag per word: tokens/label/text (justfit.tasks.tagging.data)
        out = token_frame(df, tokens, where, allow_missing=allow_missing)
        if group is not None:
            from justfit.data.media import group_of

            out["group"] = group_of(df, group, where, out.index)
        return out
    media = media_column(df, spec.text)
    if media is not None:  # a column of images or clips (paths, cells, arrays): kept as given
        return media_frame(df, spec.text, spec.label, base, where, media[1], allow_missing=allow_missing, group=group)
    out = normalise(df, spec, where=where, allow_missing=allow_missing, labels_as_text=labels_as_text)
    if group is not None:
        from justfit.data.media import group_of

        out["group"] = group_of(df, group, where, out.index)
    return out


def load_table(path: str | Path, text_column: str | None = None, label_column: str | None = None,
               *, need_label: bool = True, prefer: str = "train", allow_missing: bool = False,
               encoding: str | None = None, group_column: str | None = None) -> LoadedData:
    """Load one source into a normalised frame. A DatasetDict folder keeps its splits in ``extra_splits``.

    ``encoding`` (``data.encoding``) overrides the detected text encoding; the encoding used
    is kept in ``LoadedData.encoding``. Labels are the text of the source's values. Raises
    ``DataError`` for unreadable files, missing columns, missing values and unusable labels.
    """
    raw, used = _read(path, encoding)
    where = f"'{path}'"
    p = Path(str(path))
    base = p if p.is_dir() else p.parent if p.exists() else None  # image paths are relative to the table

    def spec_of(df: pd.DataFrame) -> ColumnSpec:
        return table_spec(df, text_column, label_column, need_label=need_label, where=where)

    def table(df: pd.DataFrame, spec: ColumnSpec, where: str) -> pd.DataFrame:
        return table_frame(df, spec, base, where, allow_missing=allow_missing, labels_as_text=True,
                           group_column=group_column)

    if isinstance(raw, dict):
        if not raw:
            raise DataError(f"Dataset folder '{path}' holds no splits.")
        first = prefer if prefer in raw else ("train" if "train" in raw else next(iter(raw)))
        spec = spec_of(raw[first])
        frame = table(raw[first], spec, f"{where} split '{first}'")
        extra = {name: table(df, spec, f"{where} split '{name}'") for name, df in raw.items() if name != first}
        return LoadedData(frame, spec, str(path), extra, encoding=used)
    spec = spec_of(raw)
    return LoadedData(table(raw, spec, where), spec, str(path), encoding=used)


def load_data(cfg, *, allow_missing: bool = False) -> dict[str, LoadedData]:
    """Load what ``DataConfig`` points at: ``{"all": ...}`` or ``{"train": ..., "validation": ..., "test": ...}``."""
    if cfg.path and (cfg.train or cfg.validation or cfg.test):
        raise DataError("Give either --data (one file, split by justfit) or --train with optional --validation/--test "
                        "(separate splits), not both.")
    if not cfg.path and not cfg.train:
        raise DataError("No data given. Pass --data FILE (or set data.path / data.train in the config).")
    encoding = getattr(cfg, "encoding", None)
    group = getattr(cfg, "group_column", None)
    if cfg.path:
        loaded = load_table(cfg.path, cfg.text_column, cfg.label_column, allow_missing=allow_missing,
                            encoding=encoding, group_column=group)
        if loaded.extra_splits:
            out = {"train": LoadedData(loaded.frame, loaded.columns, f"{cfg.path}:train", encoding=loaded.encoding)}
            for name, frame in loaded.extra_splits.items():
                key = {"valid": "validation", "val": "validation", "dev": "validation"}.get(name, name)
                if key in ("validation", "test"):
                    out[key] = LoadedData(frame, loaded.columns, f"{cfg.path}:{name}", encoding=loaded.encoding)
            return out
        return {"all": loaded}
    out = {"train": load_table(cfg.train, cfg.text_column, cfg.label_column, allow_missing=allow_missing,
                               encoding=encoding, group_column=group)}
    cols = out["train"].columns
    for key in ("validation", "test"):
        p = getattr(cfg, key)
        if p:
            out[key] = load_table(p, cfg.text_column or cols.text, cfg.label_column or cols.label,
                                  allow_missing=allow_missing, encoding=encoding, group_column=group)
    return out
