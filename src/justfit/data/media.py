"""Media data sources (images, audio): a folder per class, a table with a media column.

* **A folder per class**: ``root/<label>/*.<suffix>`` (the kind's suffixes, case ignored);
  ``root/train/<label>/...`` with ``val``/``validation``/``valid``/``dev`` and ``test`` beside it
  are given splits.
* **A table** (CSV, TSV, JSON Lines, Parquet, a ``save_to_disk`` folder) with a column of paths
  (relative to the table's folder), of ``datasets`` ``Image``/``Audio`` cells (``{"bytes",
  "path"}``) or of arrays.

Every source becomes a frame with a column named after its kind (``image``, ``audio``: paths
made absolute, or the cells as given), a ``label`` column (the label's text) and, when the table
has one (``data.group_column``, or a column named ``group``), a ``group`` column that the split
keeps together. Nothing is decoded here (decoding is lazy, in the loader); the data stage checks
that each item can be read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from justfit.data.messages import listing
from justfit.errors import DataError

SPLIT_FOLDERS = {"train": "train", "val": "validation", "validation": "validation", "valid": "validation",
                 "dev": "validation", "test": "test"}


@dataclass(frozen=True)
class MediaKind:
    """One kind of media input: the frame ``column`` it lives in, the file ``suffixes`` read as it,
    the column names looked at first, and ``is_cell`` (whether a value is one item, not a path)."""

    column: str
    suffixes: tuple[str, ...]
    column_names: tuple[str, ...]
    is_cell: Callable[[Any], bool]
    plural: str

    @property
    def noun(self) -> str:
        return self.column


def _audio_bytes(raw: Any) -> bool:
    """Whether encoded bytes start like an audio file (WAV/RIFF, FLAC, OGG, AIFF, MP3)."""
    if not isinstance(raw, bytes | bytearray) or len(raw) < 4:
        return False
    head = bytes(raw[:4])
    return head in (b"RIFF", b"fLaC", b"OggS", b"FORM") or head[:3] == b"ID3" or \
        (head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _is_audio_dict(v: dict) -> bool:
    """A ``datasets`` ``Audio`` cell (its path has an audio suffix, or its bytes are audio) or a decoded one."""
    if "array" in v:
        return True
    return ("bytes" in v or "path" in v) and (str(v.get("path") or "").lower().endswith(AUDIO.suffixes)
                                             or _audio_bytes(v.get("bytes")))


def _is_image_cell(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return v.ndim in (2, 3)
    if isinstance(v, dict):
        return ("bytes" in v or "path" in v) and not _is_audio_dict(v)
    return type(v).__module__.startswith("PIL.")


def _is_audio_cell(v: Any) -> bool:
    return isinstance(v, dict) and _is_audio_dict(v)


IMAGE = MediaKind("image", (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"),
                  ("image", "img", "image_path", "path", "file", "filename", "filepath", "file_path", "picture"),
                  _is_image_cell, "images")
AUDIO = MediaKind("audio", (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au"),
                  ("audio", "clip", "wav", "audio_path", "path", "file", "filename", "filepath", "file_path"),
                  _is_audio_cell, "audio clips")
KINDS = (IMAGE, AUDIO)


def encoded(source: Any, name: str, noun: str) -> Any:
    """What a decoder opens for an encoded ``source``: its bytes as a file object (raw bytes, or a
    ``datasets`` cell's ``bytes``), else its path (a cell's ``path``, or the source itself). ``name``
    and ``noun`` ("Image", "Audio") name it in messages. Raises ``DataError`` for a path that does not
    exist or an empty file."""
    import io

    if isinstance(source, dict):
        raw = source.get("bytes")
        if raw:
            return io.BytesIO(raw)
        if not source.get("path"):
            keys = ", ".join(map(repr, source)) or "none"
            raise DataError(f"{noun} '{name}' is a dict with neither 'bytes' nor 'path' (its keys: {keys}). Give a "
                            f"file path, the file's bytes, or a datasets {noun} cell.")
        source = source["path"]
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source)
    p = Path(str(source))
    if not p.exists():
        raise DataError(f"{noun} file '{name}' does not exist.")
    if p.is_file() and p.stat().st_size == 0:
        raise DataError(f"{noun} file '{name}' is empty (0 bytes).")
    return str(p)


def _class_folders(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def folder_kind(root: Path) -> MediaKind | None:
    """The kind of a folder per class (or of split folders of them): the one whose files it holds
    most of; None when it holds neither."""
    if not root.is_dir():
        return None
    counts = dict.fromkeys(KINDS, 0)
    for sub in _class_folders(root):
        inner = sub.rglob("*") if sub.name.lower() in SPLIT_FOLDERS else sub.iterdir()
        for p in inner:
            for kind in KINDS:
                counts[kind] += p.suffix.lower() in kind.suffixes and p.is_file()
    best = max(KINDS, key=lambda k: counts[k])
    return best if counts[best] else None


def read_class_folders(root: Path, kind: MediaKind = IMAGE) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """The ``<kind>``/``label`` frame of a folder per class, or one frame per split folder.

    Raises ``DataError`` for a folder without such files, a class folder with none (named), or
    other files mixed in (named; they are not read)."""
    splits = {SPLIT_FOLDERS[d.name.lower()]: d for d in _class_folders(root) if d.name.lower() in SPLIT_FOLDERS}
    if splits:
        if "train" not in splits:
            raise DataError(f"'{root}' has split folders ({', '.join(sorted(d.name for d in splits.values()))}) but no "
                            f"train/ folder. Add train/<label>/ {kind.plural}, or pass the class folders' parent alone.")
        return {name: _one_root(folder, kind) for name, folder in splits.items()}
    return _one_root(root, kind)


def _one_root(root: Path, kind: MediaKind) -> pd.DataFrame:
    rows: list[tuple[str, str]] = []
    empty, others = [], []
    for folder in _class_folders(root):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        found = [p for p in files if p.suffix.lower() in kind.suffixes]
        others += [p for p in files if p.suffix.lower() not in kind.suffixes]
        if not found:
            empty.append(folder.name)
        rows += [(str(p.resolve()), folder.name) for p in found]
    if not rows:
        raise DataError(f"No {kind.plural} in '{root}': expected a folder per class holding {kind.noun} files "
                        f"({', '.join(kind.suffixes)}).")
    if empty:
        raise DataError(f"Class folder(s) {', '.join(repr(e) for e in empty)} in '{root}' hold no {kind.plural}. "
                        f"Add {kind.plural} or remove the folder(s).")
    frame = pd.DataFrame(rows, columns=[kind.column, "label"])
    if others:
        import warnings

        from justfit.errors import DataQualityWarning

        shown = ", ".join(p.name for p in others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        warnings.warn(f"{len(others)} file(s) in '{root}' are not {kind.plural} and were not read ({shown}).",
                      DataQualityWarning, stacklevel=3)
    frame.attrs["label_column"] = "folder"
    return frame


def media_column(df: pd.DataFrame, given: str | None = None) -> tuple[str, MediaKind] | None:
    """The column of ``df`` holding media and its kind: ``given`` if it does, else one of cells or
    arrays, else one whose values are mostly paths with the kind's suffixes; None when there is none."""
    def holds(col: pd.Series, kind: MediaKind) -> bool:
        values = col.dropna()
        if not len(values):
            return False
        head = values.iloc[:200]
        if all(kind.is_cell(v) for v in head):
            return True
        strings = head[head.map(lambda v: isinstance(v, str))]
        return len(strings) == len(head) and strings.str.lower().str.endswith(kind.suffixes).mean() >= 0.9

    def first(columns: list[Any]) -> tuple[str, MediaKind] | None:
        for kind in KINDS:
            names = sorted(columns, key=lambda c: (str(c).lower() not in kind.column_names, str(c)))
            hit = next((str(c) for c in names if holds(df[c], kind)), None)
            if hit is not None:
                return hit, kind
        return None

    if df.columns.duplicated().any():
        return None  # the column detection names the duplicates
    if given is not None:
        return first([given]) if given in df.columns else None
    return first(list(df.columns))


def image_column(df: pd.DataFrame, given: str | None = None) -> str | None:
    """The column of ``df`` holding images (``media_column`` of kind ``IMAGE``), or None."""
    hit = media_column(df, given)
    return hit[0] if hit is not None and hit[1] is IMAGE else None


def media_frame(df: pd.DataFrame, column: str, label: str | None, base: Path | None, where: str,
                kind: MediaKind = IMAGE, allow_missing: bool = False, group: str | None = None) -> pd.DataFrame:
    """The ``<kind>``/``label`` frame of a table: ``column`` holds the items (relative paths are
    resolved against ``base``), ``label`` the labels (their text), ``group`` (when given) the
    groups the split keeps together. Raises ``DataError`` listing every path that does not exist."""
    from justfit.data.io import ColumnSpec, normalise

    items = df[column].reset_index(drop=True)
    missing_cells = items.isna()
    if missing_cells.any() and not allow_missing:
        rows = [int(i) for i in np.flatnonzero(missing_cells.to_numpy())[:5]]
        raise DataError(f"{int(missing_cells.sum())} row(s) of {where} have no {kind.noun} in column '{column}' "
                        f"(rows {rows}, 0-based). Fill or remove them.")
    if kind is IMAGE:  # the column's arrays read under one value range, before any split
        from justfit.tasks.image.sources import image_inputs

        items = pd.Series(image_inputs(items.tolist(), f"column '{column}' of {where}"), dtype=object)
    if items.map(lambda v: isinstance(v, str)).any():
        def absolute(v: Any) -> Any:
            if not isinstance(v, str):
                return v
            p = Path(v).expanduser()
            return str((base / p).resolve() if base is not None and not p.is_absolute() else p)

        items = items.map(absolute)
        gone = [v for v in items if isinstance(v, str) and not Path(v).exists()]
        if gone and not allow_missing:
            shown = ", ".join(gone[:10]) + (f" and {len(gone) - 10} more" if len(gone) > 10 else "")
            raise DataError(f"{len(gone)} {kind.noun} path(s) in column '{column}' of {where} do not exist (paths "
                            f"are relative to the table's folder): {shown}.")
    spec = ColumnSpec(text=column, label=label)
    labels = df.assign(**{column: ""}) if label is not None else df
    out = normalise(labels, spec, where=where, allow_missing=allow_missing, labels_as_text=True)
    out = out.drop(columns="text")
    out.insert(0, kind.column, pd.Series(items.to_numpy(), index=out.index, dtype=object))
    if group is not None:
        out["group"] = group_of(df, group, where, out.index)
    return out


def group_of(df: pd.DataFrame, column: str, where: str, index: pd.Index) -> pd.Series:
    """The ``group`` column (text) from ``df[column]`` on ``index``. Raises ``DataError`` when the
    column is missing or has empty cells."""

    if column not in df.columns:
        raise DataError(f"No group column '{column}' in {where} (columns: {listing(df.columns)}). "
                        "Set data.group_column to one of them, or unset it.")
    values = df[column].reset_index(drop=True)
    if values.isna().any():
        raise DataError(f"{int(values.isna().sum())} row(s) of {where} have no group in column '{column}'. "
                        "Fill them (each row needs a group for a group-disjoint split).")
    return pd.Series(values.astype(str).to_numpy(), index=index)
