"""Loading labelled tables from files, Hugging Face dataset folders and packaged data sets.

Every loaded table is normalised to two columns, ``text`` and ``label``, indexed by the
row's original position in its source (0-based), so every later report can point back to
the user's own row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from justfit.errors import DataError, did_you_mean

TEXT_CANDIDATES = (
    "text", "sentence", "review", "content", "document", "tweet", "utterance", "body",
    "comment", "message", "question", "description", "title", "input", "sentence1",
)
LABEL_CANDIDATES = (
    "label", "labels", "sentiment", "class", "category", "target", "intent", "rating", "y", "tag", "output",
)
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class ColumnSpec:
    """Which source columns hold the text and the label."""

    text: str
    label: str | None


@dataclass
class LoadedData:
    """A normalised table (columns ``text``, ``label``) and where it came from."""

    frame: pd.DataFrame
    columns: ColumnSpec
    source: str
    extra_splits: dict[str, pd.DataFrame] = field(default_factory=dict)


def read_any(path: str | Path) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Read a file or a ``save_to_disk`` folder into pandas. A DatasetDict gives one frame per split."""
    from justfit.data.packaged import PACKAGED

    p = Path(path)
    if not p.exists():
        if str(path) in PACKAGED:
            return PACKAGED.get(str(path))()
        raise DataError(
            f"Data file '{path}' does not exist. Pass a CSV/TSV/JSONL/Parquet file, a folder saved with "
            f"datasets' save_to_disk, or a packaged data set ({', '.join(PACKAGED.names())})."
        )
    if p.is_dir():
        return _read_hf_folder(p)
    kind = SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise DataError(
            f"Cannot tell the format of '{p.name}' from its extension '{p.suffix}'. "
            f"Use one of {', '.join(sorted(SUFFIXES))}, or a save_to_disk folder."
        )
    try:
        if kind == "csv":
            return pd.read_csv(p)
        if kind == "tsv":
            return pd.read_csv(p, sep="\t")
        if kind == "jsonl":
            return pd.read_json(p, lines=True)
        if kind == "json":
            try:
                return pd.read_json(p)
            except ValueError:
                return pd.read_json(p, lines=True)
        return pd.read_parquet(p)
    except pd.errors.EmptyDataError:
        raise DataError(f"Data file '{p}' is empty. Give a file with a header and at least a few labelled rows.") from None
    except UnicodeDecodeError:
        if kind in ("csv", "tsv"):
            # Much real-world text data is Latin-1; fall back rather than refuse.
            return pd.read_csv(p, sep="\t" if kind == "tsv" else ",", encoding="latin-1")
        raise DataError(f"Data file '{p}' is not valid UTF-8 text. Re-save it as UTF-8.") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"Could not read '{p}' as {kind} ({first}). Check the file's format and extension.") from None


def _read_hf_folder(p: Path) -> pd.DataFrame | dict[str, pd.DataFrame]:
    if not ((p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists() or (p / "state.json").exists()):
        raise DataError(
            f"'{p}' is a folder but not a Hugging Face dataset saved with save_to_disk "
            "(no dataset_info.json or dataset_dict.json). Pass a data file or such a folder."
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
    # Keep ClassLabel names, so labels stay readable.
    for name, feat in ds.features.items():
        names = getattr(feat, "names", None)
        if names and name in df:
            df[name] = df[name].map(lambda i, names=names: names[i] if 0 <= int(i) < len(names) else i)
    return df


def detect_columns(df: pd.DataFrame, text: str | None, label: str | None, *, need_label: bool = True,
                   where: str = "the data") -> ColumnSpec:
    """Pick the text and label columns: explicit names win, else well-known names, else the data's shape."""
    cols = [str(c) for c in df.columns]
    df.columns = cols
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise DataError(f"{where[0].upper() + where[1:]} has duplicate column names ({', '.join(dupes)}). Rename them.")
    if text is not None and text == label:
        raise DataError(f"The text and label columns are both '{text}'. Set --text-column and --label-column to different columns.")
    for given, role in ((text, "text"), (label, "label")):
        if given is not None and given not in cols:
            raise DataError(
                f"No {role} column '{given}' in {where}. Columns: {', '.join(cols)}.{did_you_mean(given, cols)}"
                f" Set --{role}-column to one of them."
            )
    lower = {c.lower(): c for c in cols}
    if text is None:
        text = next((lower[c] for c in TEXT_CANDIDATES if c in lower and lower[c] != label), None)
        if text is None:
            obj = [c for c in cols if c != label and (df[c].dtype == object or pd.api.types.is_string_dtype(df[c]))]
            if not obj:
                raise DataError(f"No text column found in {where} (columns: {', '.join(cols)}). Set --text-column.")
            text = max(obj, key=lambda c: df[c].astype(str).str.len().mean())
    if label is None and need_label:
        label = next((lower[c] for c in LABEL_CANDIDATES if c in lower and lower[c] != text), None)
        if label is None:
            rest = [c for c in cols if c != text and 1 < df[c].nunique(dropna=True) <= max(2, len(df) // 2)]
            if not rest:
                raise DataError(
                    f"No label column found in {where} (columns: {', '.join(cols)}). Set --label-column."
                )
            label = min(rest, key=lambda c: df[c].nunique(dropna=True))
    return ColumnSpec(text=text, label=label)


def normalise(df: pd.DataFrame, spec: ColumnSpec, *, where: str = "the data",
              allow_missing: bool = False) -> pd.DataFrame:
    """Return a ``text``/``label`` frame indexed by original row number.

    Missing texts or labels are refused, unless ``allow_missing`` (the cleaning stage then
    removes those rows and records why): missing texts become empty, missing labels ``None``.
    """
    if len(df) == 0:
        raise DataError(f"{where[0].upper() + where[1:]} has no rows. Give a file with labelled rows.")
    out = pd.DataFrame(index=pd.RangeIndex(len(df), name="row"))
    text = df[spec.text].reset_index(drop=True)
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
        missing = label.isna()
        if missing.any() and not allow_missing:
            raise_missing_labels(missing.to_numpy(), spec.label, where)
        if missing.any():
            values = pd.Series([None] * len(label), dtype=object)
            present = _normalise_labels(label[~missing].infer_objects())
            values[~missing.to_numpy()] = present.astype(object).to_numpy()
            out["label"] = values.to_numpy()
        else:
            out["label"] = _normalise_labels(label).to_numpy()
    return out


def raise_missing_labels(missing: np.ndarray, column: str, where: str) -> None:
    rows = [int(i) for i in np.flatnonzero(missing)[:5]]
    raise DataError(
        f"{int(missing.sum())} row(s) of {where} have no label in column '{column}' (rows {rows}, 0-based). "
        "Label or remove them, or let the cleaning stage drop them (quality.rules: missing_label)."
    )


def _normalise_labels(label: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(label):
        return label.astype(object)
    if pd.api.types.is_float_dtype(label):
        frac = np.mod(label.to_numpy(), 1) != 0
        if not frac.any():
            return label.astype(np.int64)
        raise DataError(
            f"Labels in column '{label.name}' are non-integer numbers (e.g. {label[frac].iloc[0]}); justfit classifies, "
            "so labels must be classes. Bin them into classes first."
        )
    if pd.api.types.is_integer_dtype(label):
        return label.astype(np.int64)
    # Mixed or object columns: classes are compared as strings.
    return label.astype(str).str.strip()


def load_table(path: str | Path, text_column: str | None = None, label_column: str | None = None,
               *, need_label: bool = True, prefer: str = "train", allow_missing: bool = False) -> LoadedData:
    """Load one source into a normalised frame. A DatasetDict folder keeps its splits in ``extra_splits``."""
    raw = read_any(path)
    where = f"'{path}'"
    if isinstance(raw, dict):
        if not raw:
            raise DataError(f"Dataset folder '{path}' holds no splits.")
        first = prefer if prefer in raw else ("train" if "train" in raw else next(iter(raw)))
        spec = detect_columns(raw[first], text_column, label_column, need_label=need_label, where=where)
        frame = normalise(raw[first], spec, where=f"{where} split '{first}'", allow_missing=allow_missing)
        extra = {
            name: normalise(df, spec, where=f"{where} split '{name}'", allow_missing=allow_missing)
            for name, df in raw.items() if name != first
        }
        return LoadedData(frame, spec, str(path), extra)
    spec = detect_columns(raw, text_column, label_column, need_label=need_label, where=where)
    return LoadedData(normalise(raw, spec, where=where, allow_missing=allow_missing), spec, str(path))


def load_data(cfg, *, allow_missing: bool = False) -> dict[str, LoadedData]:
    """Load what ``DataConfig`` points at: ``{"all": ...}`` or ``{"train": ..., "validation": ..., "test": ...}``."""
    if cfg.path and (cfg.train or cfg.validation or cfg.test):
        raise DataError("Give either --data (one file, split by justfit) or --train with optional --validation/--test "
                        "(separate splits), not both.")
    if not cfg.path and not cfg.train:
        raise DataError("No data given. Pass --data FILE (or set data.path / data.train in the config).")
    if cfg.path:
        loaded = load_table(cfg.path, cfg.text_column, cfg.label_column, allow_missing=allow_missing)
        if loaded.extra_splits:
            out = {"train": LoadedData(loaded.frame, loaded.columns, f"{cfg.path}:train")}
            for name, frame in loaded.extra_splits.items():
                key = {"valid": "validation", "val": "validation", "dev": "validation"}.get(name, name)
                if key in ("validation", "test"):
                    out[key] = LoadedData(frame, loaded.columns, f"{cfg.path}:{name}")
            return out
        return {"all": loaded}
    out = {"train": load_table(cfg.train, cfg.text_column, cfg.label_column, allow_missing=allow_missing)}
    cols = out["train"].columns
    for key in ("validation", "test"):
        p = getattr(cfg, key)
        if p:
            out[key] = load_table(p, cfg.text_column or cols.text, cfg.label_column or cols.label,
                                  allow_missing=allow_missing)
    return out
